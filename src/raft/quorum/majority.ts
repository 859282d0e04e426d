/**
 * A majority configuration: a set of voters that decides by simple majority
 * (etcd-io/raft quorum/majority.go).
 */

import { assert } from '../assert.js'
import type { NodeId } from '../raftpb/types.js'
import { compareIds, formatIdSet, VoteResult } from './types.js'
import type { AckedIndexer, Index } from './types.js'

/**
 * Scratch space for committedIndex, reused across calls: the leader computes the committed index
 * on every append acknowledgement, and etcd keeps this path allocation-free for up to seven voters
 * with a stack array. One shared buffer does the same for any size. The computation is
 * synchronous and the AckedIndexer never re-enters it, so sharing is safe.
 */
let scratch = new Float64Array(16)

/** Beyond this many voters a typed-array sort beats insertion sort. */
const insertionSortMax = 32

export class MajorityConfig implements Iterable<NodeId> {
  private readonly members: Set<NodeId>
  /** The members in ascending order, rebuilt lazily after a mutation. */
  private sortedCache: NodeId[] | null = null

  constructor(ids: Iterable<NodeId> = []) {
    this.members = new Set(ids)
  }

  get size(): number {
    return this.members.size
  }

  has(id: NodeId): boolean {
    return this.members.has(id)
  }

  add(id: NodeId): void {
    if (this.members.has(id)) return
    this.members.add(id)
    this.sortedCache = null
  }

  delete(id: NodeId): void {
    if (this.members.delete(id)) this.sortedCache = null
  }

  /** The members in ascending order. The array is shared: do not mutate it. */
  sorted(): readonly NodeId[] {
    if (this.sortedCache === null) this.sortedCache = Array.from(this.members).sort(compareIds)
    return this.sortedCache
  }

  /** A fresh sorted array of the members (Go's Slice). */
  slice(): NodeId[] {
    return this.sorted().slice()
  }

  [Symbol.iterator](): Iterator<NodeId> {
    return this.sorted()[Symbol.iterator]()
  }

  clone(): MajorityConfig {
    return new MajorityConfig(this.members)
  }

  toString(): string {
    return formatIdSet(this.sorted())
  }

  /**
   * A multi-line picture of the acknowledged indexes: one row per voter (sorted by id) with a bar
   * whose length ranks the voter's index, `?` for a voter with no known index.
   */
  describe(l: AckedIndexer): string {
    const n = this.members.size
    if (n === 0) return '<empty majority quorum>'
    const rows = this.sorted().map((id) => {
      const idx = l.ackedIndex(id)
      return { id, idx: idx ?? 0, ok: idx !== undefined, bar: 0 }
    })
    // The i-th smallest index gets a bar of length i; equal indexes get equal bars.
    const byIndex = rows.slice().sort((a, b) => a.idx - b.idx || compareIds(a.id, b.id))
    byIndex.forEach((row, i) => {
      const prev = byIndex[i - 1]
      if (prev !== undefined) row.bar = prev.idx < row.idx ? i : prev.bar
    })
    let out = ' '.repeat(n) + '    idx\n'
    for (const row of rows) {
      out += row.ok ? 'x'.repeat(row.bar) + '>' + ' '.repeat(n - row.bar) : '?' + ' '.repeat(n)
      out += ` ${String(row.idx).padStart(5)}    (id=${row.id})\n`
    }
    return out
  }

  /**
   * The highest index acknowledged by a majority: sort the acknowledged indexes (unknown ones
   * count as 0) and take the one a majority has reached, counting from the top.
   */
  committedIndex(l: AckedIndexer): Index {
    const ids = this.sorted()
    const n = ids.length
    // An empty half of a joint config must not hold the other half back.
    if (n === 0) return Infinity
    if (scratch.length < n) scratch = new Float64Array(n * 2)
    const srt = scratch
    // Fill from the right: the zeroes of voters without an index end up on the left anyway.
    let i = n - 1
    for (let k = 0; k < n; k++) {
      const idx = l.ackedIndex(ids[k] as NodeId)
      if (idx !== undefined) srt[i--] = idx
    }
    for (; i >= 0; i--) srt[i] = 0
    return quorumIndex(srt, n)
  }

  /**
   * Won once a majority voted yes, lost once a majority can no longer vote yes, else pending.
   * Votes of non-members are ignored.
   */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const ids = this.sorted()
    // An empty config wins, so a half-populated joint config behaves like a majority config.
    if (ids.length === 0) return VoteResult.VoteWon
    let granted = 0
    let missing = 0
    for (const id of ids) {
      const v = votes.get(id)
      if (v === undefined) missing++
      else if (v) granted++
    }
    const q = Math.floor(ids.length / 2) + 1
    if (granted >= q) return VoteResult.VoteWon
    if (granted + missing >= q) return VoteResult.VotePending
    return VoteResult.VoteLost
  }
}

/**
 * committedIndex for voters whose acknowledged indexes are all known: `voters[i].match`, in any
 * order. The leader's hot path (ProgressTracker.committed) passes its voters' Progress records
 * directly, which saves a lookup by bigint id per voter.
 */
export function committedIndexOfMatches(voters: readonly { match: number }[]): Index {
  const n = voters.length
  if (n === 0) return Infinity // as committedIndex: an empty configuration holds nothing back
  if (scratch.length < n) scratch = new Float64Array(n * 2)
  const srt = scratch
  for (let k = 0; k < n; k++) srt[k] = (voters[k] as { match: number }).match
  return quorumIndex(srt, n)
}

/** The index a majority of the n indexes in a[0..n) has reached; sorts a[0..n). */
function quorumIndex(a: Float64Array, n: number): Index {
  sortPrefix(a, n)
  const committed = a[n - (Math.floor(n / 2) + 1)] as number
  assert(committed >= 0)
  return committed
}

/** Sorts a[0..n) ascending in place without allocating for small n. */
function sortPrefix(a: Float64Array, n: number): void {
  if (n > insertionSortMax) {
    a.subarray(0, n).sort()
    return
  }
  for (let i = 1; i < n; i++) {
    const v = a[i] as number
    let j = i - 1
    while (j >= 0 && (a[j] as number) > v) {
      a[j + 1] = a[j] as number
      j--
    }
    a[j + 1] = v
  }
}
