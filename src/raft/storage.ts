/**
 * The Storage interface through which the core reads the stable (persisted) part of its log, and
 * MemoryStorage, the in-memory implementation used by tests, benchmarks and the conformance harness
 * (etcd-io/raft `storage.go`).
 *
 * The core only reads Storage. Writing it (appending the entries and snapshot of a Ready, setting
 * the HardState, compacting) is the application's job, done before it acknowledges the Ready.
 * Errors the core reacts to are thrown as RaftErrors with codes COMPACTED, UNAVAILABLE,
 * SNAP_OUT_OF_DATE and SNAPSHOT_TEMPORARILY_UNAVAILABLE; any other error thrown by a Storage
 * propagates out of the core, which is then unusable (etcd panics in that case).
 */

import { assert } from './assert.js'
import { errCompacted, errSnapOutOfDate, errUnavailable } from './errors.js'
import { discardLogger, type Logger } from './logger.js'
import { emptyHardState, emptySnapshot, entry } from './raftpb/types.js'
import type { ConfState, Entry, HardState, Snapshot } from './raftpb/types.js'
import { limitSize } from './size.js'
import { cloneConfState, cloneSnapshot, copyEntries } from './types.js'

export interface Storage {
  /** The persisted HardState (empty if none was saved) and the ConfState of the latest snapshot. */
  initialState(): { hardState: HardState; confState: ConfState }

  /**
   * The entries [lo, hi), cut to at most `maxSize` encoded bytes but never fewer than one entry
   * (`maxSize` = Infinity means no limit). The caller owns the returned array; the entries in it
   * are shared and nobody mutates them. Throws COMPACTED if lo is at or before the snapshot,
   * UNAVAILABLE if an entry in the range is missing.
   */
  entries(lo: number, hi: number, maxSize: number): Entry[]

  /**
   * The term of entry i, for i in [firstIndex()-1, lastIndex()]: the term of the entry just
   * before firstIndex survives compaction so appends after it can still be matched.
   */
  term(i: number): number

  lastIndex(): number

  /** The first index that entries() may return; everything before it is in the snapshot. */
  firstIndex(): number

  /** The latest snapshot; throws SNAPSHOT_TEMPORARILY_UNAVAILABLE while one is being prepared. */
  snapshot(): Snapshot
}

/** How often each Storage method was called; benchmarks report these to catch O(n) access. */
export interface StorageCallStats {
  initialState: number
  firstIndex: number
  lastIndex: number
  entries: number
  term: number
  snapshot: number
}

/** A Storage backed by an array, with the write side the application would otherwise provide. */
export class MemoryStorage implements Storage {
  readonly callStats: StorageCallStats = {
    initialState: 0,
    firstIndex: 0,
    lastIndex: 0,
    entries: 0,
    term: 0,
    snapshot: 0,
  }

  private hardState: HardState = emptyHardState()
  private snap: Snapshot = emptySnapshot()

  /**
   * ents[i] has log index ents[0].index + i. ents[0] is a placeholder carrying the index and term
   * of the last compacted entry (the snapshot), so term(firstIndex()-1) stays answerable.
   * Invariant: ents is never empty. Exposed for tests, like the Go struct field.
   */
  ents: Entry[] = [entry({})]

  constructor(private readonly logger: Logger = discardLogger) {}

  initialState(): { hardState: HardState; confState: ConfState } {
    this.callStats.initialState++
    return {
      hardState: { ...this.hardState },
      confState: cloneConfState(this.snap.metadata.confState),
    }
  }

  setHardState(st: HardState): void {
    this.hardState = { ...st }
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    this.callStats.entries++
    const offset = this.offset()
    if (lo <= offset) throw errCompacted()
    if (hi > this.last() + 1) {
      this.logger.panic(`entries' hi(${hi}) is out of bound lastindex(${this.last()})`)
    }
    // Only the placeholder: there is no entry to return.
    if (this.ents.length === 1) throw errUnavailable()
    return limitSize(copyEntries(this.ents, lo - offset, hi - offset), maxSize)
  }

  term(i: number): number {
    this.callStats.term++
    const offset = this.offset()
    if (i < offset) throw errCompacted()
    const e = this.ents[i - offset]
    if (e === undefined) throw errUnavailable()
    return e.term
  }

  lastIndex(): number {
    this.callStats.lastIndex++
    return this.last()
  }

  firstIndex(): number {
    this.callStats.firstIndex++
    return this.offset() + 1
  }

  snapshot(): Snapshot {
    this.callStats.snapshot++
    return cloneSnapshot(this.snap)
  }

  /**
   * Replaces the whole content with the snapshot. An older snapshot is refused, except while the
   * current one is at index 0: etcd bootstraps with a ConfState-only snapshot at index 0.
   */
  applySnapshot(snap: Snapshot): void {
    const currentIndex = this.snap.metadata.index
    const snapIndex = snap.metadata.index
    if (currentIndex !== 0 && currentIndex >= snapIndex) throw errSnapOutOfDate()
    this.snap = cloneSnapshot(snap)
    this.ents = [entry({ term: snap.metadata.term, index: snapIndex })]
  }

  /**
   * Records a snapshot at index i (which must be in the log) with the given data. `cs` is the
   * ConfState as of index i; null keeps the previous snapshot's ConfState. Does not compact.
   */
  createSnapshot(i: number, cs: ConfState | null, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw errSnapOutOfDate()
    const offset = this.offset()
    if (i > this.last()) {
      this.logger.panic(`snapshot ${i} is out of bound lastindex(${this.last()})`)
    }
    const term = (this.ents[i - offset] as Entry).term
    const confState = cloneConfState(cs ?? this.snap.metadata.confState)
    this.snap = { data, metadata: { confState, index: i, term } }
    return cloneSnapshot(this.snap)
  }

  /**
   * Discards the entries before compactIndex; compactIndex becomes the placeholder. The caller
   * must not compact past what it has applied.
   */
  compact(compactIndex: number): void {
    const offset = this.offset()
    if (compactIndex <= offset) throw errCompacted()
    if (compactIndex > this.last()) {
      this.logger.panic(`compact ${compactIndex} is out of bound lastindex(${this.last()})`)
    }
    const i = compactIndex - offset
    const kept = this.ents[i] as Entry
    // A new array, not an in-place splice: arrays handed out earlier must keep their content.
    const ents = [entry({ index: kept.index, term: kept.term })]
    for (let j = i + 1; j < this.ents.length; j++) ents.push(this.ents[j] as Entry)
    this.ents = ents
    this.assertInvariants()
  }

  /**
   * Appends entries, which must be contiguous. Entries at or before the snapshot are skipped; an
   * entry overlapping the log replaces it and everything after it; a gap after the log panics.
   */
  append(entries: readonly Entry[]): void {
    // Length first: most Readys carry no entries, and reading [0] of an empty array is an
    // out-of-bounds load, which V8 handles on a slow path.
    if (entries.length === 0) return
    const head = entries[0] as Entry
    const first = this.offset() + 1
    const last = head.index + entries.length - 1
    if (last < first) return // all already compacted
    const fresh = first > head.index ? entries.slice(first - head.index) : entries
    const start = (fresh[0] as Entry).index - this.offset()
    if (this.ents.length > start) {
      // Truncate, into a new array: the old one may still be referenced by an earlier reader.
      this.ents = this.ents.slice(0, start).concat(fresh)
    } else if (this.ents.length === start) {
      // Indexed: for-of leaves V8's fast array iteration when arrays of several kinds reach it.
      for (let i = 0; i < fresh.length; i++) this.ents.push(fresh[i] as Entry)
    } else {
      this.logger.panic(
        `missing log entry [last: ${this.last()}, append at: ${(fresh[0] as Entry).index}]`,
      )
    }
    this.assertInvariants()
  }

  private offset(): number {
    return (this.ents[0] as Entry).index
  }

  private last(): number {
    return this.offset() + this.ents.length - 1
  }

  private assertInvariants(): void {
    // Cheap checks only: both ends of the array must agree with the index arithmetic.
    const lastEntry = this.ents[this.ents.length - 1] as Entry
    // Formatted only on failure: this runs on every append.
    if (lastEntry.index !== this.last()) {
      assert(false, `last entry ${lastEntry.index} != ${this.last()}`)
    }
  }
}
