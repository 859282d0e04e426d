/**
 * `stabilize [<id>...] [log-level=<level>]`: handles Readys, delivers messages and runs the
 * storage threads of the given nodes (default: all) until none has anything left to do
 * (etcd-io/raft rafttest/interaction_env_handler_stabilize.go).
 */

import { nodeIdxs, scanString } from './args.js'
import type { CmdArg } from './deps.js'
import { deliverMsgs, splitMsgs } from './handle-deliver-msgs.js'
import { setLogLevel } from './handle-log-level.js'
import { processAppendThread } from './handle-process-append-thread.js'
import { processApplyThread } from './handle-process-apply-thread.js'
import { processReady } from './handle-process-ready.js'
import {
  HarnessFatal,
  isReportable,
  type InteractionEnv,
  type InteractionNode,
} from './interaction-env.js'

/**
 * Go loops until a fixed point without a bound. The testdata settles within a few dozen rounds;
 * a raft bug that never settles fails here instead of hanging the test run.
 */
const roundsMax = 10_000

export function handleStabilize(env: InteractionEnv, args: CmdArg[]): void {
  const idxs = nodeIdxs(args)
  // The level applies to this directive only.
  const level = env.output.level
  try {
    for (const arg of args) {
      if (arg.key !== 'log-level') continue
      for (let i = 0; i < arg.vals.length; i++) setLogLevel(env, scanString(arg, i))
    }
    stabilize(env, idxs)
  } finally {
    env.output.level = level
  }
}

export function stabilize(env: InteractionEnv, idxs: number[]): void {
  const nodes = idxs.length > 0 ? idxs.map((idx) => env.node(idx)) : [...env.nodes]
  for (let round = 0; round < roundsMax; round++) {
    // Each phase runs for every node before the next phase starts, as in Go.
    let busy = false
    for (const node of nodes) busy = handleReady(env, node) || busy
    for (const node of nodes) busy = receiveMessages(env, node) || busy
    for (const node of nodes) busy = runAppendThread(env, node) || busy
    for (const node of nodes) busy = runApplyThread(env, node) || busy
    if (!busy) return
  }
  throw new HarnessFatal(`stabilize: no fixed point after ${roundsMax} rounds`)
}

function handleReady(env: InteractionEnv, node: InteractionNode): boolean {
  if (!node.rawNode.hasReady()) return false
  const id = node.config.id
  env.output.write(`> ${id} handling Ready\n`)
  env.withIndent(() => processReady(env, Number(id) - 1))
  return true
}

function receiveMessages(env: InteractionEnv, node: InteractionNode): boolean {
  const id = node.config.id
  if (splitMsgs(env.messages, id, -1, false).selected.length === 0) return false
  env.output.write(`> ${id} receiving messages\n`)
  env.withIndent(() => deliverMsgs(env, -1, [{ id, drop: false }]))
  return true
}

function runAppendThread(env: InteractionEnv, node: InteractionNode): boolean {
  if (node.appendWork.length === 0) return false
  const id = node.config.id
  env.output.write(`> ${id} processing append thread\n`)
  while (node.appendWork.length > 0) {
    env.withIndent(() => processAppendThread(env, Number(id) - 1))
  }
  return true
}

function runApplyThread(env: InteractionEnv, node: InteractionNode): boolean {
  if (node.applyWork.length === 0) return false
  const id = node.config.id
  env.output.write(`> ${id} processing apply thread\n`)
  while (node.applyWork.length > 0) {
    // Go ignores apply errors here (unlike append errors, which end the directive).
    env.withIndent(() => ignoreReportable(() => processApplyThread(env, Number(id) - 1)))
  }
  return true
}

function ignoreReportable(f: () => void): void {
  try {
    f()
  } catch (err) {
    if (!isReportable(err)) throw err
  }
}
