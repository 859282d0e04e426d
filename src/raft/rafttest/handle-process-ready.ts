/**
 * `process-ready <id>...`: takes a Ready from each node and handles it as an application would
 * (etcd-io/raft rafttest/interaction_env_handler_process_ready.go). With synchronous storage the
 * Ready is persisted, applied, its messages queued and the node advanced; with asynchronous
 * storage writes the local storage messages go to the node's append and apply work queues.
 */

import { AssertionError } from '../assert.js'
import { MessageType } from '../raftpb/types.js'
import { nodeIdxs } from './args.js'
import type { CmdArg } from './deps.js'
import { isLocalMsgTarget, type InteractionEnv } from './interaction-env.js'
import { processAppend } from './handle-process-append-thread.js'
import { processApply } from './handle-process-apply-thread.js'

export function handleProcessReady(env: InteractionEnv, args: CmdArg[]): void {
  const idxs = nodeIdxs(args)
  for (const idx of idxs) {
    if (idxs.length > 1) {
      env.output.write(`> ${idx + 1} handling Ready\n`)
      env.withIndent(() => processReady(env, idx))
    } else {
      processReady(env, idx)
    }
  }
}

/** Go ProcessReady: one Ready cycle on the node at index idx. */
export function processReady(env: InteractionEnv, idx: number): void {
  const node = env.node(idx)
  const sync = !node.config.asyncStorageWrites
  const rd = node.rawNode.ready()
  env.output.write(env.deps.describeReady(rd))
  if (sync) {
    processAppend(node, rd.hardState, rd.entries, rd.snapshot)
    processApply(env, node, rd.committedEntries)
  }
  for (const m of rd.messages) {
    if (!isLocalMsgTarget(m.to)) {
      env.messages.push(m)
      continue
    }
    if (sync) throw new AssertionError('unexpected local msg target')
    if (m.type === MessageType.MsgStorageAppend) node.appendWork.push(m)
    else if (m.type === MessageType.MsgStorageApply) node.applyWork.push(m)
    else throw new AssertionError(`unexpected message type ${MessageType[m.type]}`)
  }
  if (sync) node.rawNode.advance()
}
