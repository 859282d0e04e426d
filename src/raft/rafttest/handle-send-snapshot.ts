/**
 * `send-snapshot <from> <to>`: queues a MsgSnap carrying <from>'s latest appender snapshot,
 * without delivering it (etcd-io/raft rafttest/interaction_env_handler_send_snapshot.go).
 */

import { message, MessageType } from '../raftpb/types.js'
import { nodeIdxs } from './args.js'
import type { CmdArg } from './deps.js'
import { HarnessFatal, type InteractionEnv } from './interaction-env.js'

export function handleSendSnapshot(env: InteractionEnv, args: CmdArg[]): void {
  const idxs = nodeIdxs(args)
  const [fromIdx, toIdx] = idxs
  if (idxs.length !== 2 || fromIdx === undefined || toIdx === undefined) {
    throw new HarnessFatal('send-snapshot: expected two nodes')
  }
  sendSnapshot(env, fromIdx, toIdx)
}

export function sendSnapshot(env: InteractionEnv, fromIdx: number, toIdx: number): void {
  const from = env.node(fromIdx)
  const m = message({
    type: MessageType.MsgSnap,
    term: from.rawNode.basicStatus().hardState.term,
    from: BigInt(fromIdx + 1),
    to: BigInt(toIdx + 1),
    snapshot: from.storage.snapshot(),
  })
  env.messages.push(m)
  // Go prints this one without a trailing newline; the runner adds it.
  env.output.write(env.deps.describeMessage(m))
}
