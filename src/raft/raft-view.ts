/**
 * RaftView: what an observer outside the core may read of one node's Raft state, read-only (the
 * simulator's checkers, the conformance tools, a server's status page). The Raft instance itself
 * stays private to src/raft: an observer that could reach it could also change it, and every
 * field it read would become an interface the core can never change.
 *
 * A RawNode creates its view once (`rn.view`); each read goes to the live state, so a view taken
 * before a step sees the state after it, and reading allocates nothing.
 */

import type { Raft } from './raft.js'
import type { StateType } from './ready.js'
import type { NodeId } from './raftpb/types.js'

export interface RaftView {
  readonly id: NodeId
  /** The node's role: follower, candidate, leader or pre-candidate. */
  readonly state: StateType
  readonly term: number
  /** The node voted for in `term`, or None (0n). */
  readonly vote: NodeId
  /** The leader this node knows of in `term`, or None (0n). */
  readonly lead: NodeId
  /** The highest index known to be stored on a quorum. */
  readonly committed: number
  /** The highest index the application reported applied. Invariant: applied <= committed. */
  readonly applied: number
  /** The first index of the log that is not in a snapshot (durable or not). */
  firstIndex(): number
  /** The last index of the log, unstable entries included. */
  lastIndex(): number
  /**
   * The term of the entry at `index`, or 0 when the log does not hold it (compacted, or beyond
   * the last index), as etcd-io/raft's `zeroTermOnOutOfBounds(l.term(i))`. The entry just before
   * firstIndex() keeps its term (the snapshot's).
   */
  termAt(index: number): number
}

/** The RawNode's view; constructed by RawNode only (index.ts exports the interface alone). */
export class RawNodeView implements RaftView {
  readonly #raft: Raft

  constructor(raft: Raft) {
    this.#raft = raft
  }

  get id(): NodeId {
    return this.#raft.id
  }
  get state(): StateType {
    return this.#raft.state
  }
  get term(): number {
    return this.#raft.term
  }
  get vote(): NodeId {
    return this.#raft.vote
  }
  get lead(): NodeId {
    return this.#raft.lead
  }
  get committed(): number {
    return this.#raft.raftLog.committed
  }
  get applied(): number {
    return this.#raft.raftLog.applied
  }
  firstIndex(): number {
    return this.#raft.raftLog.firstIndex()
  }
  lastIndex(): number {
    return this.#raft.raftLog.lastIndex()
  }
  termAt(index: number): number {
    return this.#raft.raftLog.zeroTermOnOutOfBounds(index)
  }
}
