/**
 * Shared vocabulary of the quorum package: log indexes acknowledged by voters and the outcome of
 * an election (etcd-io/raft quorum/quorum.go).
 */

import type { NodeId } from '../raftpb/types.js'

/**
 * A log index as a quorum sees it. `Infinity` stands for Go's MaxUint64: the committed index of
 * an empty majority, so that a joint config with one empty half behaves like the other half.
 */
export type Index = number

/** Looks up the highest log index a voter has acknowledged; undefined when none is known. */
export interface AckedIndexer {
  ackedIndex(id: NodeId): Index | undefined
}

/** An AckedIndexer over a plain map (the data-driven harness and tests use it). */
export class MapAckIndexer implements AckedIndexer {
  constructor(readonly indexes: ReadonlyMap<NodeId, Index>) {}

  ackedIndex(id: NodeId): Index | undefined {
    return this.indexes.get(id)
  }
}

/** Prints an index the way etcd does: MaxUint64 becomes `∞`. */
export function indexString(index: Index): string {
  return index === Infinity ? '∞' : String(index)
}

/** The numeric values match etcd's so that logs and comparisons line up. */
export enum VoteResult {
  /** Neither a quorum of yes nor a quorum of no votes has been reached yet. */
  VotePending = 1,
  /** A quorum of no votes has been reached. */
  VoteLost = 2,
  /** A quorum of yes votes has been reached. */
  VoteWon = 3,
}

export function voteResultName(result: VoteResult): string {
  return VoteResult[result]
}

/** Sorts node ids ascending (bigints have no default numeric sort). */
export function compareIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The sorted ids of a set, the order in which etcd prints and iterates configurations. */
export function sortedIds(ids: Iterable<NodeId>): NodeId[] {
  return Array.from(ids).sort(compareIds)
}

/** `(1 2 3)`: sorted, space separated, decimal (Go's fmt.Fprint of uint64). */
export function formatIdSet(ids: Iterable<NodeId>): string {
  return `(${sortedIds(ids).join(' ')})`
}
