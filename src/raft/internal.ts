/**
 * The Raft instance behind a RawNode, for src/raft's own tests and the rafttest harness, which
 * drive the state machine directly (etcd-io/raft's tests read `rn.raft` from inside the
 * package). index.ts does not export this module and nothing outside src/raft imports it:
 * observers read `rn.view` (RaftView) instead.
 */

import { assert } from './assert.js'
import type { Raft } from './raft.js'
import type { RawNode } from './raw-node.js'

let raftOfRawNode: ((rn: RawNode) => Raft) | null = null

/** Called once, from RawNode's static block: only RawNode's own code can read its Raft. */
export function registerRaftAccess(get: (rn: RawNode) => Raft): void {
  assert(raftOfRawNode === null, 'registerRaftAccess called twice')
  raftOfRawNode = get
}

export function raftOf(rn: RawNode): Raft {
  // raw-node.js registered when it loaded, and a RawNode exists only once it has.
  assert(raftOfRawNode !== null, 'raftOf before raw-node.js loaded')
  return raftOfRawNode(rn)
}
