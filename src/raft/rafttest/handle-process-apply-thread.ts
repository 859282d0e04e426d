/**
 * `process-apply-thread <id>...`: with asynchronous storage writes, applies one queued
 * MsgStorageApply per node and releases its responses into the network
 * (etcd-io/raft rafttest/interaction_env_handler_process_apply_thread.go).
 */

import { assertNever } from '../assert.js'
import { EntryType, type ConfState, type Entry } from '../raftpb/types.js'
import { nodeIdxs } from './args.js'
import type { CmdArg } from './deps.js'
import { cloneConfState, type InteractionEnv, type InteractionNode } from './interaction-env.js'

export function handleProcessApplyThread(env: InteractionEnv, args: CmdArg[]): void {
  const idxs = nodeIdxs(args)
  for (const idx of idxs) {
    if (idxs.length > 1) {
      env.output.write(`> ${idx + 1} processing apply thread\n`)
      env.withIndent(() => processApplyThread(env, idx))
    } else {
      processApplyThread(env, idx)
    }
  }
}

/** Go ProcessApplyThread: the oldest apply work item of the node at index idx. */
export function processApplyThread(env: InteractionEnv, idx: number): void {
  const node = env.node(idx)
  const m = node.applyWork.shift()
  if (m === undefined) {
    env.output.write('no apply work to perform')
    return
  }
  env.output.write('Processing:\n')
  env.output.write(env.deps.describeMessage({ ...m, responses: [] }) + '\n')
  processApply(env, node, m.entries)
  env.output.write('Responses:\n')
  for (const r of m.responses) env.output.write(env.deps.describeMessage(r) + '\n')
  env.messages.push(...m.responses)
}

/**
 * Applies committed entries to the node's "appender" state machine: each entry's payload (a conf
 * change's context) is appended to the previous state, and the result recorded in the History
 * with the entry's index and term, so Storage.snapshot() can hand it out.
 */
export function processApply(env: InteractionEnv, node: InteractionNode, entries: Entry[]): void {
  for (const entry of entries) {
    const { update, confState } = applyEntry(env, node, entry)
    const last = node.storage.snapshot()
    node.history.push({
      data: concatBytes(last.data, update),
      metadata: {
        index: entry.index,
        term: entry.term,
        confState: cloneConfState(confState ?? last.metadata.confState),
      },
    })
  }
}

function applyEntry(
  env: InteractionEnv,
  node: InteractionNode,
  entry: Entry,
): { update: Uint8Array; confState: ConfState | null } {
  switch (entry.type) {
    case EntryType.EntryNormal:
      return { update: entry.data, confState: null }
    case EntryType.EntryConfChange: {
      const cc = env.deps.decodeConfChange(entry.data)
      return { update: cc.context, confState: node.rawNode.applyConfChange(cc) }
    }
    case EntryType.EntryConfChangeV2: {
      const cc = env.deps.decodeConfChangeV2(entry.data)
      return { update: cc.context, confState: node.rawNode.applyConfChange(cc) }
    }
    default:
      return assertNever(entry.type, 'entry type')
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
