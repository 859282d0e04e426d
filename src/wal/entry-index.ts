/**
 * The in-memory index of the raft log held by the WAL: the term of every entry after `offset`, and
 * where to start reading any entry back from the WAL. It is what lets WalStorage answer term() for
 * any index and read old entries back without keeping entries, or a location per entry, in memory.
 *
 * Terms are kept as runs (the first index of each term): a raft log's terms change only at
 * elections. Locations are sparse: a checkpoint (index, ordinal, location) every
 * CHECKPOINT_ENTRIES entries or CHECKPOINT_BYTES bytes of entries, whichever comes first, and at
 * the start of every run of plain appends. A read seeks to the checkpoint at or before the entry
 * and scans the WAL forward record by record.
 *
 * Why the forward scan finds the right records. Every put() is numbered (its ordinal), and the WAL
 * writes entry records in put order: WalStorage hands batches to the WAL in the order it put their
 * entries (and stops taking writes if a batch is ever dropped), and replay puts them in file order.
 * A put(i) that is not a plain append (an overwrite after a leader change, or the first put after
 * reset()) starts a new run with a checkpoint at i; a plain append of last() + 1 right after the
 * put of last() continues the run. Within a run, ordinals are consecutive, so the records of its
 * entries follow one another among the WAL's entry records, with only other record types (hard
 * states, snapshot markers, segment headers) between them; records of an overwritten suffix lie
 * before the run's first record or after its last. So a scan from a checkpoint meets exactly the
 * run's entries in index order: seek() says where the run ends, and the reader checks each index.
 *
 * Memory: 24 bytes per checkpoint, one per 64 entries, in an array that doubles, where the index
 * it replaced kept a location per entry (bench/README.md, "Reading evicted entries back", has
 * both measured). An overwrite adds one checkpoint, and only leader changes overwrite; terms are
 * one run per term.
 */
import { assert } from '../raft/index.js'

/** Location of an entry whose record is queued but not yet written. */
export const UNWRITTEN = -1

/**
 * Checkpoint stride: a read of an evicted entry scans up to this many records, half on average.
 * 64 keeps the cost of reading one entry about that of a location per entry (beyond it the scan
 * outgrows the first 8 KiB read), for a twentieth of the memory, and makes a range one scan
 * (strides measured in bench/README.md, "Reading evicted entries back").
 */
export const CHECKPOINT_ENTRIES = 64
/**
 * ...and at most this many bytes of entries between checkpoints, so large entries do not make a
 * scan read megabytes: an entry larger than this gets a checkpoint of its own.
 */
export const CHECKPOINT_BYTES = 16 * 1024

/** Where to start reading entries from the WAL: see EntryIndex.seek. */
export interface Seek {
  /** The checkpoint's entry, at or before the first one wanted. */
  index: number
  /** The location of its record. */
  location: number
  /** The records of entries index .. end - 1 follow one another in the WAL (one run). */
  end: number
}

/** Fields of a checkpoint, in a Float64Array with this stride. */
const CP_INDEX = 0
const CP_ORDINAL = 1
const CP_LOCATION = 2
const CP_STRIDE = 3

export class EntryIndex {
  /** The index before the first entry: the snapshot or compaction point. */
  offset = 0
  /** The term of the entry at `offset` (the snapshot's term), kept for term(firstIndex - 1). */
  offsetTerm = 0
  /** Invariant: the entries offset+1 .. offset+length are present. */
  length = 0
  /**
   * Invariant: runStarts ascend and runTerms[k] is the term of the entries from runStarts[k] up to
   * the next run's start; the first run starts at or before offset + 1 when length > 0.
   */
  private runStarts: number[] = []
  private runTerms: number[] = []
  /**
   * Checkpoints cpBase .. cpBase + cpCount - 1 (in units of CP_STRIDE). Invariant: indexes and
   * ordinals ascend; when length > 0 the first checkpoint is at offset + 1, and every run start is
   * a checkpoint.
   */
  private cps = new Float64Array(64 * CP_STRIDE)
  private cpBase = 0
  private cpCount = 0
  /** The ordinal of the next put. */
  private puts = 0
  /** Invariant: the records of puts with ordinals below this are written; writtenPuts <= puts. */
  private writtenPuts = 0
  /** Whether the newest put was of entry last(), so a put of last() + 1 continues its run. */
  private tailContinues = false
  /** Entries, and their bytes, put since the newest checkpoint. */
  private sinceEntries = 0
  private sinceBytes = 0

  last(): number {
    return this.offset + this.length
  }

  term(i: number): number {
    assert(
      i > this.offset && i <= this.last(),
      `term(${i}) outside (${this.offset}, ${this.last()}]`,
    )
    return this.runTerms[this.runOf(i)] as number
  }

  /**
   * Appends entry i of `bytes` bytes, dropping any entries at or after i first (an overwritten
   * suffix). Its record is the next one the WAL writes after those of earlier puts: UNWRITTEN until
   * written() reports it, unless `location` says where it already is (replay).
   */
  put(i: number, term: number, bytes: number, location = UNWRITTEN): void {
    assert(i > this.offset && i <= this.last() + 1, `put(${i}) leaves a gap after ${this.last()}`)
    const plain = i === this.last() + 1 && this.tailContinues
    if (plain) assert(this.cpCount > 0, `no checkpoint for the run of ${i}`)
    const ordinal = this.puts++
    if (location !== UNWRITTEN) {
      assert(this.writtenPuts === ordinal, 'a written put after puts not yet written')
      this.writtenPuts++
    }
    this.length = i - this.offset
    this.tailContinues = true
    this.dropCheckpointsFrom(i)
    if (!plain || this.sinceEntries >= CHECKPOINT_ENTRIES || this.sinceBytes >= CHECKPOINT_BYTES) {
      this.addCheckpoint(i, ordinal, location, plain)
    }
    this.sinceEntries++
    this.sinceBytes += bytes
    this.putTerm(i, term)
  }

  /**
   * The WAL wrote the records of the next `locations.length` puts, `entries`, at `locations`:
   * the checkpoints among them learn where they are.
   */
  written(entries: readonly { index: number }[], locations: readonly number[]): void {
    const from = this.writtenPuts
    const to = from + locations.length
    assert(to <= this.puts, `the WAL wrote ${to} records of ${this.puts} puts`)
    const cps = this.cps
    // The checkpoints not yet written are the newest ones (ordinals ascend): bounded by them.
    let k = this.cpCount
    while (k > 0 && (cps[this.cpAt(k - 1) + CP_ORDINAL] as number) >= from) k--
    for (; k < this.cpCount; k++) {
      const at = this.cpAt(k)
      const n = (cps[at + CP_ORDINAL] as number) - from
      if (n >= locations.length) break
      // Pairs the record stream with the puts: a batch dropped on the way would show here.
      const got = (entries[n] as { index: number }).index
      assert(got === cps[at + CP_INDEX], `record ${got} written for checkpoint ${cps[at]}`)
      cps[at + CP_LOCATION] = locations[n] as number
    }
    this.writtenPuts = to
  }

  /** Whether the record of entry i (present) is written, so the entry can be read back. */
  isWritten(i: number): boolean {
    assert(i > this.offset && i <= this.last(), `isWritten(${i}) outside the index`)
    return this.ordinalOf(i) < this.writtenPuts
  }

  /**
   * Where to read entries i .. hi - 1 (present; i < hi) from: the checkpoint at or before i, and
   * where its run ends (at most hi). The walk over checkpoints is bounded by (hi - i) / stride.
   */
  seek(i: number, hi: number): Seek {
    assert(i > this.offset && i < hi && hi <= this.last() + 1, `seek(${i}, ${hi}) outside`)
    const first = this.checkpointOf(i)
    let k = first
    while (k + 1 < this.cpCount && this.indexOf(k + 1) < hi && this.continues(k, k + 1)) k++
    const end = k + 1 < this.cpCount ? Math.min(hi, this.indexOf(k + 1)) : hi
    const at = this.cpAt(first)
    const location = this.cps[at + CP_LOCATION] as number
    return { index: this.cps[at + CP_INDEX] as number, location, end }
  }

  /** Whether reads of entry i would start at i itself, so compactTo(i - 1) needs no location. */
  isCheckpoint(i: number): boolean {
    return this.cpCount > 0 && this.indexOf(this.checkpointOf(i)) === i
  }

  /**
   * Makes i the new offset (i in [offset, last]); entries up to i are dropped. Entry i + 1 becomes
   * a checkpoint: `location` is its record's if it is written and was not one already (the caller
   * finds it with a read), so the WAL before it may go.
   */
  compactTo(i: number, term: number, location = UNWRITTEN): void {
    assert(i >= this.offset && i <= this.last(), `compactTo(${i}) outside the index`)
    const next = i + 1
    const anchor = next <= this.last() && !this.isCheckpoint(next)
    const ordinal = anchor ? this.ordinalOf(next) : 0
    if (anchor) assert((location !== UNWRITTEN) === ordinal < this.writtenPuts, 'anchor location')
    this.length -= i - this.offset
    this.offset = i
    this.offsetTerm = term
    // Runs wholly before offset + 1 go; term changes are rare, so the shifts are too.
    while (this.runStarts.length > 1 && (this.runStarts[1] as number) <= next) {
      this.runStarts.shift()
      this.runTerms.shift()
    }
    while (this.cpCount > 0 && this.indexOf(0) <= i) {
      this.cpBase += CP_STRIDE
      this.cpCount--
    }
    // An empty log starts a new run with the next put.
    if (this.length === 0) this.tailContinues = false
    if (!anchor) return
    // A checkpoint before `next` was dropped above, so there is room in front.
    assert(this.cpBase >= CP_STRIDE, 'no room for the anchor')
    this.cpBase -= CP_STRIDE
    this.cpCount++
    this.cps[this.cpBase + CP_INDEX] = next
    this.cps[this.cpBase + CP_ORDINAL] = ordinal
    this.cps[this.cpBase + CP_LOCATION] = location
  }

  /** Empties the index at offset i (a snapshot that replaces the log). */
  reset(i: number, term: number): void {
    this.offset = i
    this.offsetTerm = term
    this.length = 0
    this.runStarts = []
    this.runTerms = []
    this.cpBase = 0
    this.cpCount = 0
    this.tailContinues = false
  }

  private putTerm(i: number, term: number): void {
    const starts = this.runStarts
    while (starts.length > 0 && (starts[starts.length - 1] as number) >= i) {
      starts.pop()
      this.runTerms.pop()
    }
    if (this.runTerms[this.runTerms.length - 1] !== term) {
      starts.push(i)
      this.runTerms.push(term)
    }
  }

  /** The run holding entry i (present): the last run starting at or before i. */
  private runOf(i: number): number {
    const starts = this.runStarts
    let lo = 0
    let hi = starts.length - 1
    // The newest run first: most lookups are near the end of the log.
    if ((starts[hi] as number) <= i) return hi
    // Bounded by log2(runs): invariant starts[lo] <= i < starts[hi].
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1
      if ((starts[mid] as number) <= i) lo = mid
      else hi = mid
    }
    assert((starts[lo] as number) <= i, `no term run holds entry ${i}`)
    return lo
  }

  /** The ordinal of the put of entry i (present): its run's checkpoint's, plus the distance. */
  private ordinalOf(i: number): number {
    const at = this.cpAt(this.checkpointOf(i))
    return (this.cps[at + CP_ORDINAL] as number) + i - (this.cps[at + CP_INDEX] as number)
  }

  /** The last checkpoint at or before entry i (present). */
  private checkpointOf(i: number): number {
    let lo = 0
    let hi = this.cpCount - 1
    assert(hi >= 0 && this.indexOf(0) <= i, `no checkpoint at or before ${i}`)
    // The newest first: most reads are of recent entries. Then log2(checkpoints) steps, with the
    // invariant indexOf(lo) <= i < indexOf(hi).
    if (this.indexOf(hi) <= i) return hi
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1
      if (this.indexOf(mid) <= i) lo = mid
      else hi = mid
    }
    return lo
  }

  /** Whether checkpoint k + 1 is in checkpoint k's run: their ordinals are as far apart as their
   * indexes. A run start comes after puts of the overwritten entries, so its ordinal is larger. */
  private continues(k: number, next: number): boolean {
    const a = this.cpAt(k)
    const b = this.cpAt(next)
    const cps = this.cps
    const ordinals = (cps[b + CP_ORDINAL] as number) - (cps[a + CP_ORDINAL] as number)
    return ordinals === (cps[b + CP_INDEX] as number) - (cps[a + CP_INDEX] as number)
  }

  private dropCheckpointsFrom(i: number): void {
    while (this.cpCount > 0 && this.indexOf(this.cpCount - 1) >= i) this.cpCount--
  }

  private addCheckpoint(i: number, ordinal: number, location: number, plain: boolean): void {
    if (this.cpBase + (this.cpCount + 1) * CP_STRIDE > this.cps.length) this.grow()
    const at = this.cpAt(this.cpCount)
    this.cps[at + CP_INDEX] = i
    this.cps[at + CP_ORDINAL] = ordinal
    this.cps[at + CP_LOCATION] = location
    this.cpCount++
    this.sinceEntries = 0
    this.sinceBytes = 0
    if (this.cpCount > 1) {
      assert(this.continues(this.cpCount - 2, this.cpCount - 1) === plain, `run break at ${i}`)
    }
  }

  private indexOf(k: number): number {
    return this.cps[this.cpAt(k) + CP_INDEX] as number
  }

  private cpAt(k: number): number {
    return this.cpBase + k * CP_STRIDE
  }

  private grow(): void {
    // Reclaim the compacted prefix before doubling: the array then tracks the live log, not all
    // of history.
    const size = this.cps.length
    const used = this.cpCount * CP_STRIDE
    const cps = new Float64Array((used + CP_STRIDE) * 2 > size ? size * 2 : size)
    cps.set(this.cps.subarray(this.cpBase, this.cpBase + used))
    this.cps = cps
    this.cpBase = 0
  }
}
