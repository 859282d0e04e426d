/**
 * The leader's view of one follower (etcd-io/raft tracker/progress.go). Progress is a small state
 * machine, but most of its transitions are driven from raft.ts, as in etcd; this file holds the
 * transitions that only touch the Progress itself.
 */

import { assert, assertNever } from '../assert.js'
import type { NodeId } from '../raftpb/types.js'
import { compareIds } from '../quorum/types.js'
import type { Inflights } from './inflights.js'
import { StateType, stateTypeName } from './state.js'

export interface ProgressInit {
  match?: number
  next: number
  state?: StateType
  pendingSnapshot?: number
  recentActive?: boolean
  msgAppFlowPaused?: boolean
  inflights: Inflights
  isLearner?: boolean
}

export class Progress {
  /** The index up to which the follower's log is known to match the leader's. Never regresses. */
  match: number
  /**
   * The index of the next entry to send; entries in (match, next) are in flight.
   * Invariant: match < next. In StateSnapshot, next === pendingSnapshot + 1.
   */
  next: number
  /**
   * The highest commit index sent to the follower (Go's unexported `sentCommit`). Usually
   * monotonic, but lowered with `next` when the follower is probed again or rejects an append.
   * In StateSnapshot it equals pendingSnapshot.
   */
  sentCommitIndex = 0
  /**
   * Probe: at most one append per heartbeat interval. Replicate: stream appends optimistically.
   * Snapshot: no appends until the snapshot lands.
   */
  state: StateType
  /**
   * In StateSnapshot, the leader's last index when it decided a snapshot was needed (the index of
   * the MsgSnap). Any snapshot that reconnects the follower's log ends the state, even one at a
   * different index, since the snapshot may come from elsewhere.
   */
  pendingSnapshot: number
  /**
   * True if the follower was heard from recently; the leader clears it every election timeout
   * for CheckQuorum. Always true for the leader itself.
   */
  recentActive: boolean
  /**
   * Set when the append flow is throttled: in StateProbe after an append, in StateReplicate when
   * Inflights is full. Cleared by a heartbeat response or an acknowledgement, so that appends
   * keep trickling out and the flow can never stall for good.
   */
  msgAppFlowPaused: boolean
  /** The appends in flight; full() stops further appends in StateReplicate. */
  inflights: Inflights
  isLearner: boolean

  constructor(init: ProgressInit) {
    this.match = init.match ?? 0
    this.next = init.next
    this.state = init.state ?? StateType.StateProbe
    this.pendingSnapshot = init.pendingSnapshot ?? 0
    this.recentActive = init.recentActive ?? false
    this.msgAppFlowPaused = init.msgAppFlowPaused ?? false
    this.inflights = init.inflights
    this.isLearner = init.isLearner ?? false
  }

  /** A copy that shares no memory with this one (its Inflights are cloned too). */
  clone(): Progress {
    const pr = new Progress({ ...this, inflights: this.inflights.clone() })
    pr.sentCommitIndex = this.sentCommitIndex
    return pr
  }

  /** Enters `state`, clearing the pause flag, the pending snapshot and the in-flight window. */
  resetState(state: StateType): void {
    this.msgAppFlowPaused = false
    this.pendingSnapshot = 0
    this.state = state
    this.inflights.reset()
  }

  /**
   * Enters StateProbe at match + 1 or, when leaving StateSnapshot, after the pending snapshot if
   * that is further along (the snapshot was delivered, so probe from there).
   */
  becomeProbe(): void {
    if (this.state === StateType.StateSnapshot) {
      const pendingSnapshot = this.pendingSnapshot
      this.resetState(StateType.StateProbe)
      this.next = Math.max(this.match + 1, pendingSnapshot + 1)
    } else {
      this.resetState(StateType.StateProbe)
      this.next = this.match + 1
    }
    this.sentCommitIndex = Math.min(this.sentCommitIndex, this.next - 1)
    assert(this.match < this.next)
  }

  becomeReplicate(): void {
    this.resetState(StateType.StateReplicate)
    this.next = this.match + 1
  }

  /** Enters StateSnapshot waiting for the snapshot at `snapshotIndex`. */
  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(StateType.StateSnapshot)
    this.pendingSnapshot = snapshotIndex
    this.next = snapshotIndex + 1
    this.sentCommitIndex = snapshotIndex
  }

  /**
   * Records an append of `entries` entries (`bytes` of payload) starting at `next`. In
   * StateReplicate it advances `next` and the window, pausing when the window fills; in
   * StateProbe a non-empty append pauses the flow until the follower answers.
   */
  sentEntries(entries: number, bytes: number): void {
    assert(entries >= 0)
    switch (this.state) {
      case StateType.StateReplicate:
        if (entries > 0) {
          this.next += entries
          this.inflights.add(this.next - 1, bytes)
        }
        // An append that fills the window (or one sent into a full window) counts as a probe.
        this.msgAppFlowPaused = this.inflights.full()
        break
      case StateType.StateProbe:
        // etcd pauses only after a non-empty append here; kept for identical behaviour.
        if (entries > 0) this.msgAppFlowPaused = true
        break
      default:
        assert(false, `sending append in unhandled state ${stateTypeName(this.state)}`)
    }
  }

  /**
   * True if sending commit index `index` may advance the follower's commit: it is newer than what
   * was sent, and what was sent does not already cover everything up to next - 1 (a follower
   * never commits past its last entry).
   */
  canBumpCommit(index: number): boolean {
    return index > this.sentCommitIndex && this.sentCommitIndex < this.next - 1
  }

  /** Records that commit index `commit` was sent to the follower. */
  sentCommit(commit: number): void {
    this.sentCommitIndex = commit
  }

  /**
   * Handles an acknowledgement of index `n`. Returns false if it is stale (n <= match);
   * otherwise raises match (and next if needed) and resumes the flow.
   */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false
    this.match = n
    this.next = Math.max(this.next, n + 1)
    this.msgAppFlowPaused = false
    return true
  }

  /**
   * Handles a rejection of the append at index `rejected`, with the follower's hint
   * `matchHint` of where the logs may match. Stale rejections (reordered or duplicated
   * messages) return false and change nothing; otherwise `next` moves back and the flow resumes.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === StateType.StateReplicate) {
      // Rejections of already acknowledged indexes are stale.
      if (rejected <= this.match) return false
      // etcd ignores a larger hint here and restarts right after match.
      this.next = this.match + 1
      this.sentCommitIndex = Math.min(this.sentCommitIndex, this.next - 1)
      return true
    }
    // Probes go out one at a time, so a genuine rejection is of next - 1; anything else is
    // (most likely) a reordered message.
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.sentCommitIndex = Math.min(this.sentCommitIndex, this.next - 1)
    this.msgAppFlowPaused = false
    assert(this.match < this.next)
    return true
  }

  /**
   * True if appends to this follower are throttled: a probe is outstanding, the window is full,
   * or a snapshot is pending.
   */
  isPaused(): boolean {
    switch (this.state) {
      case StateType.StateProbe:
      case StateType.StateReplicate:
        return this.msgAppFlowPaused
      case StateType.StateSnapshot:
        return true
      default:
        return assertNever(this.state, 'progress state')
    }
  }

  /** e.g. `StateReplicate match=11 next=15 paused inflight=3[full]`; part of the test output. */
  toString(): string {
    let s = `${stateTypeName(this.state)} match=${this.match} next=${this.next}`
    if (this.isLearner) s += ' learner'
    if (this.isPaused()) s += ' paused'
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`
    if (!this.recentActive) s += ' inactive'
    const n = this.inflights.count()
    if (n > 0) {
      s += ` inflight=${n}`
      if (this.inflights.full()) s += '[full]'
    }
    return s
  }
}

/**
 * The progress of every tracked peer. Iteration in id order is frequent (every broadcast), so
 * the sorted ids, and the Progress of each in the same order, are cached: a lookup by bigint id
 * goes through V8's generic hashing and costs more than the rest of a broadcast's bookkeeping.
 * The ids are rebuilt after the membership changes; the Progress list after any set or delete.
 */
export class ProgressMap extends Map<NodeId, Progress> {
  private sortedCache: NodeId[] | null = null
  private progressCache: Progress[] | null = null
  /** Bumped by every set, delete and clear: a caller holding cached entries checks it. */
  version = 0

  /**
   * Up to this many peers get() and has() scan the cached ids: comparing a handful of bigints
   * with === measured about three times cheaper than one Map lookup, which hashes the bigint
   * (a message's `from` is a fresh bigint, so it has no cached hash). Groups are rarely larger.
   */
  static readonly scanMax = 8

  override get(id: NodeId): Progress | undefined {
    if (this.size > ProgressMap.scanMax) return super.get(id)
    const ids = this.sortedIds()
    const prs = this.sortedProgress()
    for (let i = 0; i < ids.length; i++) if (ids[i] === id) return prs[i]
    return undefined
  }

  override has(id: NodeId): boolean {
    if (this.size > ProgressMap.scanMax) return super.has(id)
    const ids = this.sortedIds()
    for (let i = 0; i < ids.length; i++) if (ids[i] === id) return true
    return false
  }

  override set(id: NodeId, pr: Progress): this {
    if (!super.has(id)) this.sortedCache = null
    this.progressCache = null
    this.version++
    return super.set(id, pr)
  }

  override delete(id: NodeId): boolean {
    const deleted = super.delete(id)
    if (deleted) {
      this.sortedCache = null
      this.progressCache = null
      this.version++
    }
    return deleted
  }

  override clear(): void {
    super.clear()
    this.sortedCache = null
    this.progressCache = null
    this.version++
  }

  /**
   * The ids in ascending order. The array is never mutated, only replaced, so a caller may keep
   * iterating it while the map changes.
   */
  sortedIds(): readonly NodeId[] {
    if (this.sortedCache === null) this.sortedCache = Array.from(this.keys()).sort(compareIds)
    return this.sortedCache
  }

  /**
   * The Progress of each id of sortedIds(), in the same order. Like sortedIds() it is replaced,
   * never mutated; it is current while `version` is unchanged.
   */
  sortedProgress(): readonly Progress[] {
    if (this.progressCache === null) this.progressCache = this.buildProgressCache()
    return this.progressCache
  }

  // Kept out of sortedProgress(): a closure over `super` there would cost every call a context.
  private buildProgressCache(): Progress[] {
    const prs: Progress[] = []
    for (const id of this.sortedIds()) prs.push(super.get(id) as Progress)
    return prs
  }

  /** A deep copy: every Progress is cloned. */
  clone(): ProgressMap {
    const m = new ProgressMap()
    for (const [id, pr] of this) m.set(id, pr.clone())
    return m
  }

  /** One `<id>: <progress>` line per peer, sorted by id. */
  override toString(): string {
    let s = ''
    for (const id of this.sortedIds()) s += `${id}: ${this.get(id)}\n`
    return s
  }
}
