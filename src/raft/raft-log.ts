/**
 * RaftLog: one node's view of the replicated log (etcd-io/raft `log.go`). It stitches the stable
 * part, read from Storage (possibly compacted behind a snapshot), to the Unstable tail (entries and
 * at most one snapshot not yet persisted), and owns the cursors
 *
 *     applied <= applying <= committed <= lastIndex()
 *
 * plus the byte budget for committed entries handed to the application but not yet applied.
 *
 * RaftLog does no I/O of its own: it reads Storage synchronously; new entries leave through
 * nextUnstableEnts / nextUnstableSnapshot and come back as stableTo / stableSnapTo once durable.
 * Errors: COMPACTED and UNAVAILABLE RaftErrors are thrown where the caller reacts to them (term,
 * slice, entries, snapshot); a broken invariant panics through the Logger with etcd's text.
 */

import { assert } from './assert.js'
import { errCompacted, errUnavailable, RaftError } from './errors.js'
import type { Logger } from './logger.js'
import { NO_ENTRIES, type Entry, type Snapshot } from './raftpb/types.js'
import { entsSize, limitSize } from './size.js'
import type { Storage } from './storage.js'
import { Unstable } from './log-unstable.js'
import { cloneSnapshot, pbEntryID, type EntryID, type LogSlice } from './types.js'

/**
 * The outcome of a term lookup that is allowed to miss: a term (>= 0) or one of the two negative
 * misses. Numbers, not strings: comparing a number|string with === compiled to V8's generic
 * equality call, on the path of every MsgApp.
 */
type TermLookup = number
const TERM_COMPACTED = -1
const TERM_UNAVAILABLE = -2

export class RaftLog {
  /** All stable entries since the last snapshot. */
  storage: Storage
  /** Entries and snapshot not yet persisted to storage. */
  unstable: Unstable
  /** The highest index known to be stored on a quorum. */
  committed: number
  /**
   * The highest index handed to the application for applying (moved when a Ready is accepted).
   * Invariant: applied <= applying <= committed.
   */
  applying: number
  /** The highest index the application reports applied. Invariant: applied <= committed. */
  applied: number
  logger: Logger

  /** Bytes of committed entries that may be out for applying at once (Infinity: no limit). */
  maxApplyingEntsSize: number
  /** Bytes of committed entries handed out by nextCommittedEnts and not yet acknowledged. */
  applyingEntsSize = 0
  /** Set while handing out more committed entries would exceed maxApplyingEntsSize. */
  applyingEntsPaused = false

  private constructor(storage: Storage, logger: Logger, maxApplyingEntsSize: number) {
    const firstIndex = storage.firstIndex()
    const lastIndex = storage.lastIndex()
    this.storage = storage
    this.unstable = new Unstable(lastIndex + 1, logger)
    this.maxApplyingEntsSize = maxApplyingEntsSize
    // Everything up to the last compaction is committed and applied by definition.
    this.committed = firstIndex - 1
    this.applying = firstIndex - 1
    this.applied = firstIndex - 1
    this.logger = logger
  }

  /** A log over `storage` with no limit on bytes out for applying. */
  static newLog(storage: Storage, logger: Logger): RaftLog {
    return RaftLog.newLogWithSize(storage, logger, Infinity)
  }

  static newLogWithSize(storage: Storage, logger: Logger, maxApplyingEntsSize: number): RaftLog {
    return new RaftLog(storage, logger, maxApplyingEntsSize)
  }

  /** The description used in log lines; etcd's transcripts match it byte for byte. */
  toString(): string {
    const u = this.unstable
    return (
      `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, ` +
      `unstable.offset=${u.offset}, unstable.offsetInProgress=${u.offsetInProgress}, ` +
      `len(unstable.Entries)=${u.entries.length}`
    )
  }

  /**
   * Appends a leader's slice if its prev entry matches our log (AppendEntries, Raft §5.3):
   * entries already present are skipped, the first conflicting one and all after it are
   * replaced. Commits up to min(committed, last index of the slice). Returns the last index of
   * the slice, or undefined when prev does not match (0 is a valid result).
   */
  maybeAppend(a: LogSlice, committed: number): number | undefined {
    if (!this.matchTerm(a.prev)) return undefined
    const lastNewIndex = a.prev.index + a.entries.length
    const ci = this.findConflict(a.entries)
    if (ci !== 0) {
      if (ci <= this.committed) {
        this.logger.panic(
          `entry ${ci} conflict with committed entry [committed(${this.committed})]`,
        )
      }
      const offset = a.prev.index + 1
      if (ci < offset) assert(false, `conflict ${ci} before the slice at ${offset}`)
      if (ci - offset > a.entries.length) {
        this.logger.panic(`index, ${ci - offset}, is out of range [${a.entries.length}]`)
      }
      this.append(a.entries.slice(ci - offset), true) // a fresh copy: the log may keep it
    }
    this.commitTo(Math.min(committed, lastNewIndex))
    return lastNewIndex
  }

  /**
   * Appends entries after (or over) the uncommitted tail; returns the new last index. With
   * `owned` the log keeps `ents` itself (see Unstable.truncateAndAppend).
   */
  append(ents: readonly Entry[], owned = false): number {
    if (ents.length === 0) return this.lastIndex() // length first: ents[0] would read out of bounds
    const first = ents[0] as Entry
    const after = first.index - 1
    if (after < this.committed) {
      this.logger.panic(`after(${after}) is out of range [committed(${this.committed})]`)
    }
    this.unstable.truncateAndAppend(ents, owned)
    return this.lastIndex()
  }

  /**
   * The index of the first entry of `ents` (contiguous, increasing) whose term differs from ours
   * at that index, or that we do not have; 0 when every entry is already in the log.
   */
  findConflict(ents: readonly Entry[]): number {
    // Indexed, not for-of: a message's entries may be a frozen shared empty array, and for-of
    // over frozen and ordinary arrays alike leaves V8's fast iteration.
    for (let i = 0; i < ents.length; i++) {
      const id = pbEntryID(ents[i] as Entry)
      if (this.matchTerm(id)) continue
      if (id.index <= this.lastIndex()) {
        this.logger.info(
          `found conflict at index ${id.index} [existing term: ` +
            `${this.zeroTermOnOutOfBounds(id.index)}, conflicting term: ${id.term}]`,
        )
      }
      return id.index
    }
    return 0
  }

  /**
   * Our best guess of where our log stops matching another log of which we only know the entry
   * (index, term): the largest guess <= index whose term is <= term, or whose term we cannot read
   * (compacted or not yet stored; then the returned term is 0). Used on both sides of a rejected
   * append to skip a whole term of mismatching entries per round trip.
   */
  findConflictByTerm(index: number, term: number): EntryID {
    for (let i = index; i > 0; i--) {
      const ourTerm = this.lookupTerm(i)
      // Unknown term: it may match, so stop here.
      if (ourTerm < 0) return { index: i, term: 0 }
      if (ourTerm <= term) return { index: i, term: ourTerm }
    }
    return { index: 0, term: 0 }
  }

  /** Entries to write to stable storage that are not already being written. */
  nextUnstableEnts(): Entry[] {
    return this.unstable.nextEntries()
  }

  /** Asked by every hasReady(), so it counts instead of copying the entries out. */
  hasNextUnstableEnts(): boolean {
    return this.unstable.hasNextEntries()
  }

  /** True while any entry is waiting to be written or being written. */
  hasNextOrInProgressUnstableEnts(): boolean {
    return this.unstable.entries.length > 0
  }

  /**
   * Committed entries to hand to the application, within the applying byte budget. With
   * allowUnstable, entries not yet durable locally may be applied (sync Ready/Advance, where the
   * same Ready persists them first); otherwise only locally durable ones.
   */
  nextCommittedEnts(allowUnstable: boolean): Entry[] {
    // The empty answers are the shared frozen NO_ENTRIES: every Ready asks, and most get none.
    if (this.applyingEntsPaused) return NO_ENTRIES // the budget is spent until applied catches up
    if (this.hasNextOrInProgressSnapshot()) return NO_ENTRIES // see hasNextCommittedEnts
    const lo = this.applying + 1
    const hi = this.maxAppliableIndex(allowUnstable) + 1 // [lo, hi)
    if (lo >= hi) return NO_ENTRIES
    const maxSize = this.maxApplyingEntsSize - this.applyingEntsSize
    if (maxSize <= 0) {
      this.logger.panic(
        `applying entry size (${this.maxApplyingEntsSize}-${this.applyingEntsSize})=${maxSize} not positive`,
      )
    }
    try {
      return this.slice(lo, hi, maxSize)
    } catch (err) {
      if (err instanceof RaftError) {
        this.logger.panic(`unexpected error when getting unapplied entries (${err.message})`)
      }
      throw err
    }
  }

  /** The cheap check for nextCommittedEnts: it does not read any entry. */
  hasNextCommittedEnts(allowUnstable: boolean): boolean {
    if (this.applyingEntsPaused) return false
    // With a snapshot pending, applying entries too would leave the order of the two unclear.
    if (this.hasNextOrInProgressSnapshot()) return false
    return this.applying + 1 < this.maxAppliableIndex(allowUnstable) + 1
  }

  /** The highest committed index that may be applied: also durable locally unless allowUnstable. */
  maxAppliableIndex(allowUnstable: boolean): number {
    if (allowUnstable) return this.committed
    return Math.min(this.committed, this.unstable.offset - 1)
  }

  /** The snapshot to write to stable storage, unless it is already being written. */
  nextUnstableSnapshot(): Snapshot | null {
    return this.unstable.nextSnapshot()
  }

  hasNextUnstableSnapshot(): boolean {
    return this.unstable.nextSnapshot() !== null
  }

  /** True while a snapshot is waiting to be written or being written. */
  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== null
  }

  /** The pending snapshot if any, else Storage's (which may be temporarily unavailable). */
  snapshot(): Snapshot {
    if (this.unstable.snapshot !== null) return cloneSnapshot(this.unstable.snapshot)
    return this.storage.snapshot()
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  /**
   * Raises committed to `tocommit`; never lowers it. A commit index past our last entry means we
   * lost entries we acknowledged (a disk that dropped synced writes): continuing could vote or
   * ack on a log that is not what we promised, so this is fatal, as in etcd-io/raft.
   */
  commitTo(tocommit: number): void {
    if (this.committed >= tocommit) return
    const last = this.lastIndex()
    if (last < tocommit) {
      this.logger.panic(
        `tocommit(${tocommit}) is out of range [lastIndex(${last})]. ` +
          `Was the raft log corrupted, truncated, or lost?`,
      )
    }
    this.committed = tocommit
  }

  /**
   * The application applied everything up to i; `size` bytes of the entries it was handed are
   * returned to the applying budget.
   */
  appliedTo(i: number, size: number): void {
    if (this.committed < i || i < this.applied) {
      this.logger.panic(
        `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
      )
    }
    this.applied = i
    this.applying = Math.max(this.applying, i)
    // Clamp: accounting the application got wrong must not underflow the budget.
    this.applyingEntsSize = this.applyingEntsSize > size ? this.applyingEntsSize - size : 0
    this.applyingEntsPaused = this.applyingEntsSize >= this.maxApplyingEntsSize
    // Formatted only on failure: this runs once per applied Ready.
    if (this.applied > this.applying) assert(false, `applied ${i} > applying ${this.applying}`)
  }

  /** The entries up to i, of `size` bytes in total, were handed to the application. */
  acceptApplying(i: number, size: number, allowUnstable: boolean): void {
    if (this.committed < i) {
      this.logger.panic(
        `applying(${i}) is out of range [prevApplying(${this.applying}), committed(${this.committed})]`,
      )
    }
    this.applying = i
    this.applyingEntsSize += size
    // Pause when the budget is used up, or when the hand-out stopped short of what could be
    // applied: then it was cut by the budget, and the next entry would exceed it.
    this.applyingEntsPaused =
      this.applyingEntsSize >= this.maxApplyingEntsSize || i < this.maxAppliableIndex(allowUnstable)
  }

  stableTo(id: EntryID): void {
    this.unstable.stableTo(id)
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i)
  }

  /**
   * The application started persisting the current unstable entries and snapshot: do not return
   * them from the next Ready again.
   */
  acceptUnstable(): void {
    this.unstable.acceptInProgress()
  }

  lastEntryID(): EntryID {
    const index = this.lastIndex()
    try {
      return { term: this.term(index), index }
    } catch (err) {
      if (err instanceof RaftError) {
        this.logger.panic(`unexpected error when getting the last term at ${index}: ${err.message}`)
      }
      throw err
    }
  }

  /**
   * The term of entry i, valid for [firstIndex()-1, lastIndex()]: the entry before firstIndex is
   * compacted, but its term is kept for matching appends. Throws COMPACTED below that range and
   * UNAVAILABLE above it.
   */
  term(i: number): number {
    const t = this.lookupTerm(i)
    if (t === TERM_COMPACTED) throw errCompacted()
    if (t === TERM_UNAVAILABLE) throw errUnavailable()
    return t
  }

  /**
   * The entries from i to the end, up to maxSize bytes (at least one); the frozen NO_ENTRIES when
   * i is past it.
   */
  entries(i: number, maxSize: number): Entry[] {
    const last = this.lastIndex()
    // Shared and frozen: a leader asks for every follower it may send to, usually getting none.
    if (i > last) return NO_ENTRIES
    return this.slice(i, last + 1, maxSize)
  }

  /** Every entry in the log (for tests and tools). */
  allEntries(): Entry[] {
    // Storage may be compacted between reading firstIndex and the entries: retry, as etcd does.
    for (;;) {
      try {
        return this.entries(this.firstIndex(), Infinity)
      } catch (err) {
        if (!RaftError.is(err, 'COMPACTED')) throw err
      }
    }
  }

  /**
   * Whether a log ending at `their` is at least as up-to-date as ours (Raft §5.4.1): a later last
   * term wins; with equal last terms the longer log wins; equal logs count as up-to-date.
   */
  isUpToDate(their: EntryID): boolean {
    const our = this.lastEntryID()
    return their.term > our.term || (their.term === our.term && their.index >= our.index)
  }

  /** Whether our log holds entry `id`; false when its index is compacted or not in the log. */
  matchTerm(id: EntryID): boolean {
    return this.lookupTerm(id.index) === id.term
  }

  /**
   * Commits up to `at` if our log holds that entry. A leader only commits entries of its own term
   * by counting replicas (Raft §5.4.2); the term check also refuses 0, which no leader has.
   */
  maybeCommit(at: EntryID): boolean {
    if (at.term !== 0 && at.index > this.committed && this.matchTerm(at)) {
      this.commitTo(at.index)
      return true
    }
    return false
  }

  /** Replaces the log with a snapshot, which becomes the committed prefix. */
  restore(s: Snapshot): void {
    this.logger.info(
      `log [${this.toString()}] starts to restore snapshot ` +
        `[index: ${s.metadata.index}, term: ${s.metadata.term}]`,
    )
    this.committed = s.metadata.index
    this.unstable.restore(s)
  }

  /**
   * Visits the entries [lo, hi) in consecutive pages of up to pageSize bytes (a page holds one
   * entry at least). The visitor returns false to stop early. The entries must exist: a COMPACTED
   * error is thrown, possibly after some pages were visited.
   */
  scan(lo: number, hi: number, pageSize: number, visit: (ents: Entry[]) => boolean): void {
    for (let next = lo; next < hi;) {
      const ents = this.slice(next, hi, pageSize)
      assert(ents.length > 0, `got 0 entries in [${next}, ${hi})`)
      if (!visit(ents)) return
      next += ents.length
    }
  }

  /**
   * The entries [lo, hi), up to maxSize bytes but at least one if the range is not empty. Reads
   * Storage for the part before the unstable tail and the tail for the rest. Throws COMPACTED when
   * lo is compacted; panics when the range is not inside the log. The array is the caller's.
   */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi)
    if (lo === hi) return []
    const unstableFrom = this.unstable.offset
    if (lo >= unstableFrom) return limitSize(this.unstable.slice(lo, hi), maxSize)

    const cut = Math.min(hi, unstableFrom)
    const ents = this.storageEntries(lo, cut, maxSize)
    if (hi <= unstableFrom) return ents

    // Storage returned fewer entries than asked: the size limit was reached there already.
    if (ents.length < cut - lo) return ents
    // Otherwise sum the sizes so that the unstable part is cut to the remaining budget.
    const size = entsSize(ents)
    if (size >= maxSize) return ents
    const rest = limitSize(this.unstable.slice(unstableFrom, hi), maxSize - size)
    // limitSize keeps one entry even when it alone exceeds the budget; drop it here.
    if (rest.length === 1 && size + entsSize(rest) > maxSize) return ents
    return ents.concat(rest)
  }

  /**
   * Checks firstIndex() <= lo <= hi <= lastIndex() + 1: throws COMPACTED when lo is compacted,
   * panics on an inverted or too long range.
   */
  mustCheckOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) this.logger.panic(`invalid slice ${lo} > ${hi}`)
    const fi = this.firstIndex()
    if (lo < fi) throw errCompacted()
    const last = this.lastIndex()
    if (hi > last + 1) this.logger.panic(`slice[${lo},${hi}) out of bound [${fi},${last}]`)
  }

  /**
   * The term of entry i, or 0 when i is compacted or not in the log. (Go passes term()'s result
   * pair; here the caller passes the index.)
   */
  zeroTermOnOutOfBounds(i: number): number {
    const t = this.lookupTerm(i)
    return t < 0 ? 0 : t
  }

  /**
   * term() without throwing for the two expected misses. Matching terms is on the append path of
   * every follower, where a miss is routine, so misses are values here and exceptions only in the
   * public term().
   */
  private lookupTerm(i: number): TermLookup {
    // The unstable tail first: when it knows the term, i is in range and Storage is not touched.
    const t = this.unstable.maybeTerm(i)
    if (t !== undefined) return t
    if (i + 1 < this.firstIndex()) return TERM_COMPACTED
    if (i > this.lastIndex()) return TERM_UNAVAILABLE
    try {
      return this.storage.term(i)
    } catch (err) {
      // Storage may have been compacted since firstIndex() was read.
      if (RaftError.is(err, 'COMPACTED')) return TERM_COMPACTED
      if (RaftError.is(err, 'UNAVAILABLE')) return TERM_UNAVAILABLE
      throw err
    }
  }

  /** Storage.entries with etcd's reactions: COMPACTED passes, UNAVAILABLE is a gap and panics. */
  private storageEntries(lo: number, hi: number, maxSize: number): Entry[] {
    try {
      return this.storage.entries(lo, hi, maxSize)
    } catch (err) {
      if (RaftError.is(err, 'UNAVAILABLE')) {
        this.logger.panic(`entries[${lo}:${hi}) is unavailable from storage`)
      }
      throw err
    }
  }
}
