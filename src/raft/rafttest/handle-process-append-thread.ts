/**
 * `process-append-thread <id>...`: with asynchronous storage writes, performs one queued
 * MsgStorageAppend per node and releases its responses into the network
 * (etcd-io/raft rafttest/interaction_env_handler_process_append_thread.go).
 */

import {
  emptySnapshot,
  isEmptyHardState,
  isEmptySnap,
  type Entry,
  type HardState,
  type Snapshot,
} from '../raftpb/types.js'
import { nodeIdxs } from './args.js'
import type { CmdArg } from './deps.js'
import {
  cloneSnapshot,
  HarnessError,
  type InteractionEnv,
  type InteractionNode,
} from './interaction-env.js'

export function handleProcessAppendThread(env: InteractionEnv, args: CmdArg[]): void {
  const idxs = nodeIdxs(args)
  for (const idx of idxs) {
    if (idxs.length > 1) {
      env.output.write(`> ${idx + 1} processing append thread\n`)
      env.withIndent(() => processAppendThread(env, idx))
    } else {
      processAppendThread(env, idx)
    }
  }
}

/** Go ProcessAppendThread: the oldest append work item of the node at index idx. */
export function processAppendThread(env: InteractionEnv, idx: number): void {
  const node = env.node(idx)
  const m = node.appendWork.shift()
  if (m === undefined) {
    env.output.write('no append work to perform')
    return
  }
  env.output.write('Processing:\n')
  env.output.write(env.deps.describeMessage({ ...m, responses: [] }) + '\n')
  const hardState: HardState = { term: m.term, vote: m.vote, commit: m.commit }
  const snap = m.snapshot === null ? emptySnapshot() : cloneSnapshot(m.snapshot)
  processAppend(node, hardState, m.entries, snap)
  env.output.write('Responses:\n')
  for (const r of m.responses) env.output.write(env.deps.describeMessage(r) + '\n')
  env.messages.push(...m.responses)
}

/** Persists a HardState and then either a snapshot or entries (never both). */
export function processAppend(
  node: InteractionNode,
  hardState: HardState | null,
  entries: Entry[],
  snap: Snapshot | null,
): void {
  // Etcd's harness notes that this order is not crash-safe (etcd PR 10861); it needs no crashes.
  if (hardState !== null && !isEmptyHardState(hardState)) node.storage.setHardState(hardState)
  if (snap !== null && !isEmptySnap(snap)) {
    if (entries.length > 0) {
      throw new HarnessError("can't apply snapshot and entries at the same time")
    }
    node.storage.applySnapshot(snap)
    return
  }
  node.storage.append(entries)
}
