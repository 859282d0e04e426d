/**
 * The directives that print state: `raft-log <id>`, `compact <id> <newFirstIndex>` (which then
 * prints the log), `raft-state` and `status <id>` (etcd-io/raft rafttest/
 * interaction_env_handler_{raft_log,compact,raftstate,status}.go).
 */

import { assert } from '../assert.js'
import { firstAsNodeIdx, parseUint64OrError } from './args.js'
import { stateTypeNames, type CmdArg, type StatusLike } from './deps.js'
import { HarnessFatal, type InteractionEnv } from './interaction-env.js'

export function handleRaftLog(env: InteractionEnv, args: CmdArg[]): void {
  raftLog(env, firstAsNodeIdx(args))
}

/** Prints the node's stored log (not the unstable part raft still holds). */
export function raftLog(env: InteractionEnv, idx: number): void {
  const storage = env.node(idx).storage
  const firstIndex = storage.firstIndex()
  const lastIndex = storage.lastIndex()
  if (lastIndex < firstIndex) {
    env.output.write(`log is empty: first index=${firstIndex}, last index=${lastIndex}`)
    return
  }
  const entries = storage.entries(firstIndex, lastIndex + 1, Infinity)
  env.output.write(env.deps.describeEntries(entries))
}

export function handleCompact(env: InteractionEnv, args: CmdArg[]): void {
  const idx = firstAsNodeIdx(args)
  const arg = args[1]
  if (arg === undefined) throw new HarnessFatal('compact: expected a new first index')
  const newFirstIndex = Number(parseUint64OrError(arg.key))
  env.node(idx).storage.compact(newFirstIndex)
  raftLog(env, idx)
}

/** Every node's role, membership, term and leader, each as the node itself sees them. */
export function handleRaftState(env: InteractionEnv): void {
  for (const node of env.nodes) {
    const st = node.rawNode.status()
    const voter = isVoter(st) ? '(Voter)' : '(Non-Voter)'
    const state = stateTypeNames[st.softState.raftState]
    assert(state !== undefined, `unknown raft state ${st.softState.raftState}`)
    const { term } = st.hardState
    env.output.write(`${st.id}: ${state} ${voter} Term:${term} Lead:${st.softState.lead}\n`)
  }
}

function isVoter(st: StatusLike): boolean {
  for (const id of st.config.voters.ids()) if (id === st.id) return true
  return false
}

/** The node's progress map, which only a leader has; a follower prints nothing. */
export function handleStatus(env: InteractionEnv, args: CmdArg[]): void {
  const st = env.node(firstAsNodeIdx(args)).rawNode.status()
  env.output.write(env.deps.describeProgressMap(st.progress ?? new Map()))
}
