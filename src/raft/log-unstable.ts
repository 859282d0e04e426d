/**
 * Unstable: the tail of the log that is not yet known to be in Storage (etcd-io/raft
 * `log_unstable.go`). It holds new entries and at most one incoming snapshot until they are handed
 * to the application for persisting, and keeps holding them while the write is in flight, so that
 * RaftLog can still read them; stableTo / stableSnapTo drop them once Storage reflects the write.
 *
 * Positions: entries[i] has log index offset + i. Entries before offsetInProgress (and the snapshot
 * when snapshotInProgress) have been handed out for writing and are not handed out again. offset
 * may be below Storage's last index: the next write then truncates Storage first.
 *
 * Arrays returned by this class are copies; the entries in them are shared and never mutated.
 */

import { assert } from './assert.js'
import type { Logger } from './logger.js'
import { NO_ENTRIES, type Entry, type Snapshot } from './raftpb/types.js'
import { cloneSnapshot, copyEntries, type EntryID } from './types.js'

export class Unstable {
  /** An incoming snapshot not yet persisted, if any. */
  snapshot: Snapshot | null = null
  /**
   * Entries not yet persisted; entries[i] has index offset + i. Pushed onto in place only when
   * non-empty and not handedOut, so the empty tail can be the shared frozen NO_ENTRIES.
   */
  entries: Entry[] = NO_ENTRIES
  /**
   * The array nextEntries() last returned as it is, not copied (as Go hands out a subslice of
   * its own): `entries` must be copied before a push while it is still that array.
   */
  private handedOut: Entry[] | null = null
  offset: number
  /** True once the snapshot has been handed out for writing. */
  snapshotInProgress = false
  /**
   * One past the last entry handed out for writing (exclusive, like offset).
   * Invariant: offset <= offsetInProgress <= offset + entries.length.
   */
  offsetInProgress: number
  logger: Logger

  constructor(offset: number, logger: Logger) {
    this.offset = offset
    this.offsetInProgress = offset
    this.logger = logger
  }

  /** The first index after the snapshot, when there is a snapshot. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === null ? undefined : this.snapshot.metadata.index + 1
  }

  /** The last index held here: of the last entry, else of the snapshot, else undefined. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length !== 0) return this.offset + this.entries.length - 1
    return this.snapshot === null ? undefined : this.snapshot.metadata.index
  }

  /** The term of entry i if this tail knows it (an entry here, or the snapshot's last entry). */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      const snap = this.snapshot
      return snap !== null && snap.metadata.index === i ? snap.metadata.term : undefined
    }
    const last = this.maybeLastIndex()
    if (last === undefined || i > last) return undefined
    return (this.entries[i - this.offset] as Entry).term
  }

  /** The entries not already handed out for writing. */
  nextEntries(): Entry[] {
    const inProgress = this.offsetInProgress - this.offset
    // Nothing new on most calls (every other Ready): the shared frozen empty array, not a fresh one.
    if (this.entries.length === inProgress) return NO_ENTRIES
    if (inProgress === 0) {
      // All of the tail is new (the usual case: the last Ready's entries are stable by now), so
      // the tail itself is handed out; see handedOut. The usual next change replaces the array
      // (stableTo) rather than pushing onto it, so the copy per Ready is saved.
      this.handedOut = this.entries
      return this.entries
    }
    return this.entries.slice(inProgress)
  }

  /** Whether nextEntries() would return any entry. */
  hasNextEntries(): boolean {
    return this.entries.length > this.offsetInProgress - this.offset
  }

  /** The snapshot, unless there is none or it was already handed out for writing. */
  nextSnapshot(): Snapshot | null {
    if (this.snapshot === null || this.snapshotInProgress) return null
    // A copy: the application owns what a Ready hands out, and must not reach our state.
    return cloneSnapshot(this.snapshot)
  }

  /**
   * Marks everything currently held as handed out for writing, so nextEntries / nextSnapshot stop
   * returning it; anything added later is returned until the next call.
   */
  acceptInProgress(): void {
    // Length first: reading entries[-1] of an empty array is a named-property lookup through
    // the prototype chain, about a hundred times slower than an element read, and the tail is
    // empty on most calls.
    const n = this.entries.length
    if (n !== 0) this.offsetInProgress = (this.entries[n - 1] as Entry).index + 1
    if (this.snapshot !== null) this.snapshotInProgress = true
  }

  /**
   * Drops the entries up to and including `id` once they are durable. Ignored unless `id` is still
   * the entry at that index here: with asynchronous writes the tail may have been replaced (by a
   * newer leader's entries) while the write was in flight, and those newer entries are not durable.
   * The caller guarantees no in-flight append can still overwrite the acknowledged entries.
   */
  stableTo(id: EntryID): void {
    const term = this.maybeTerm(id.index)
    if (term === undefined) {
      this.logger.info(`entry at index ${id.index} missing from unstable log; ignoring`)
      return
    }
    if (id.index < this.offset) {
      // It is the snapshot's last entry, not an entry of this tail.
      this.logger.info(`entry at index ${id.index} matched unstable snapshot; ignoring`)
      return
    }
    if (term !== id.term) {
      this.logger.info(
        `entry at (index,term)=(${id.index},${id.term}) mismatched with ` +
          `entry at (${id.index},${term}) in unstable log; ignoring`,
      )
      return
    }
    const kept = id.index + 1 - this.offset
    // Usually everything handed out is now stable: a fresh empty tail is cheaper than a slice.
    this.entries = kept === this.entries.length ? NO_ENTRIES : this.entries.slice(kept)
    this.offset = id.index + 1
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset)
    this.assertInProgressBounds()
  }

  /** Drops the snapshot once it is durable, if it is still the one at index i. */
  stableSnapTo(i: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === i) {
      this.snapshot = null
      this.snapshotInProgress = false
    }
  }

  /** Replaces the whole tail with a snapshot; entries follow it from its index + 1. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1
    this.offsetInProgress = this.offset
    this.entries = NO_ENTRIES
    this.snapshot = cloneSnapshot(s)
    this.snapshotInProgress = false
  }

  /**
   * Appends `ents` (non-empty, contiguous), first discarding every held entry at or after
   * ents[0].index. Entries that were in flight and got discarded are handed out again. With
   * `owned`, the caller hands over `ents` and must not use or change it afterwards.
   */
  truncateAndAppend(ents: readonly Entry[], owned = false): void {
    const fromIndex = (ents[0] as Entry).index
    // An `owned` array (fresh, referenced by nobody else: a leader's new entries) is adopted
    // as the tail instead of copied; that copy was one allocation per proposal.
    const adopted = owned ? (ents as Entry[]) : null
    if (fromIndex === this.offset + this.entries.length) {
      // Directly after the tail: a plain append, in place unless the array was handed out.
      // An empty tail (the usual case once writes keep up) takes an array of exactly the right
      // size; the first push into an empty array would allocate room for 16.
      if (this.entries.length === 0) this.entries = adopted ?? ents.slice()
      else {
        if (this.entries === this.handedOut) this.entries = this.entries.slice() // see handedOut
        for (let i = 0; i < ents.length; i++) this.entries.push(ents[i] as Entry)
      }
    } else if (fromIndex <= this.offset) {
      this.logger.info(`replace the unstable entries from index ${fromIndex}`)
      // Everything held is replaced; nothing of the new tail has been handed out.
      this.entries = adopted ?? ents.slice()
      this.offset = fromIndex
      this.offsetInProgress = this.offset
    } else {
      this.logger.info(`truncate the unstable entries before index ${fromIndex}`)
      this.entries = this.slice(this.offset, fromIndex).concat(ents)
      // Of the in-flight entries, only those before fromIndex are still being written.
      this.offsetInProgress = Math.min(this.offsetInProgress, fromIndex)
    }
    this.assertInProgressBounds()
  }

  /** A copy of the entries [lo, hi), which must all be held here. */
  slice(lo: number, hi: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi)
    return copyEntries(this.entries, lo - this.offset, hi - this.offset)
  }

  /** Panics unless offset <= lo <= hi <= offset + entries.length. */
  mustCheckOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) this.logger.panic(`invalid unstable.slice ${lo} > ${hi}`)
    const upper = this.offset + this.entries.length
    if (lo < this.offset || hi > upper) {
      this.logger.panic(`unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`)
    }
  }

  private assertInProgressBounds(): void {
    // The message is formatted only on failure: this runs on every append and stableTo.
    if (this.offset > this.offsetInProgress)
      assert(false, `offsetInProgress ${this.offsetInProgress}`)
    assert(this.offsetInProgress <= this.offset + this.entries.length, 'in progress past the end')
  }
}
