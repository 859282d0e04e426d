/**
 * `propose-conf-change <id> [v1=<bool>] [transition=auto|implicit|explicit]` with the changes
 * (`v2 l3 r4 u5`) as input; no changes proposes leaving a joint configuration
 * (etcd-io/raft rafttest/interaction_env_handler_propose_conf_change.go).
 */

import {
  ConfChangeTransition,
  EMPTY_BYTES,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
} from '../raftpb/types.js'
import { firstAsNodeIdx, parseBoolOrError } from './args.js'
import type { Directive } from './deps.js'
import { HarnessError, HarnessFatal, type InteractionEnv } from './interaction-env.js'

interface Options {
  v1: boolean
  transition: ConfChangeTransition
}

export function handleProposeConfChange(env: InteractionEnv, d: Directive): void {
  const idx = firstAsNodeIdx(d.args)
  const opts: Options = { v1: false, transition: ConfChangeTransition.ConfChangeTransitionAuto }
  for (const arg of d.args.slice(1)) {
    for (const val of arg.vals) scanOption(opts, arg.key, val)
  }
  const changes = env.deps.confChangesFromString(d.input)
  const cc = opts.v1 ? confChangeV1(changes, opts.transition) : confChangeV2(changes, opts)
  env.node(idx).rawNode.proposeConfChange(cc)
}

function scanOption(opts: Options, key: string, val: string): void {
  if (key === 'v1') opts.v1 = parseBoolOrError(val)
  else if (key === 'transition') opts.transition = transition(val)
  else throw new HarnessError(`unknown command ${key}`)
}

function transition(name: string): ConfChangeTransition {
  if (name === 'auto') return ConfChangeTransition.ConfChangeTransitionAuto
  if (name === 'implicit') return ConfChangeTransition.ConfChangeTransitionJointImplicit
  if (name === 'explicit') return ConfChangeTransition.ConfChangeTransitionJointExplicit
  throw new HarnessError(`unknown transition ${name}`)
}

function confChangeV1(changes: ConfChangeSingle[], transition: ConfChangeTransition): ConfChange {
  if (changes.length > 1 || transition !== ConfChangeTransition.ConfChangeTransitionAuto) {
    throw new HarnessError('v1 conf change can only have one operation and no transition')
  }
  const change = changes[0]
  if (change === undefined) throw new HarnessFatal('v1 conf change needs one operation')
  return { id: 0n, type: change.type, nodeId: change.nodeId, context: EMPTY_BYTES }
}

function confChangeV2(changes: ConfChangeSingle[], opts: Options): ConfChangeV2 {
  return { transition: opts.transition, changes, context: EMPTY_BYTES }
}
