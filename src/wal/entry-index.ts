/**
 * The in-memory index of the raft log held by the WAL: for each index after `offset`, its term and
 * the location of its record. It is what lets WalStorage answer term() for any index and read any
 * entry back without keeping entries in memory.
 *
 * Memory: 8 bytes per retained entry (its location, a Float64Array slot), against the entry itself
 * (hundreds of bytes to MiBs); terms are kept as runs (the first index of each term), since a raft
 * log's terms change only at elections. Compaction drops the prefix. NB: this still grows with the
 * uncompacted log; a sparse index (one location every N entries, scanning forward) would cut it by
 * N at the cost of reading up to N records per miss.
 */
import { assert } from '../raft/assert.js'

/** Location of an entry whose record is queued but not yet written. */
export const UNWRITTEN = -1

export class EntryIndex {
  /** The index before the first entry: the snapshot or compaction point. */
  offset = 0
  /** The term of the entry at `offset` (the snapshot's term), kept for term(firstIndex - 1). */
  offsetTerm = 0
  /** Invariant: the entries offset+1 .. offset+length are present, at slots base .. base+length-1. */
  length = 0
  private base = 0
  private locations = new Float64Array(1024)
  /**
   * Invariant: runStarts ascend and runTerms[k] is the term of the entries from runStarts[k] up to
   * the next run's start; the first run starts at or before offset + 1 when length > 0.
   */
  private runStarts: number[] = []
  private runTerms: number[] = []

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

  location(i: number): number {
    assert(i > this.offset && i <= this.last(), `location(${i}) outside the index`)
    return this.locations[this.base + i - this.offset - 1] as number
  }

  setLocation(i: number, location: number): void {
    if (i <= this.offset || i > this.last()) return // compacted or overwritten since
    this.locations[this.base + i - this.offset - 1] = location
  }

  /** Appends entry i, dropping any entries at or after i first (an overwritten suffix). */
  put(i: number, term: number, location: number): void {
    assert(i > this.offset && i <= this.last() + 1, `put(${i}) leaves a gap after ${this.last()}`)
    this.length = i - this.offset - 1
    if (this.base + this.length === this.locations.length) this.grow()
    this.locations[this.base + this.length] = location
    this.length++
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

  /** Makes i the new offset (i in [offset, last]); entries up to i are dropped. */
  compactTo(i: number, term: number): void {
    assert(i >= this.offset && i <= this.last(), `compactTo(${i}) outside the index`)
    const drop = i - this.offset
    this.base += drop
    this.length -= drop
    this.offset = i
    this.offsetTerm = term
    // Runs wholly before offset + 1 go; term changes are rare, so the shifts are too.
    while (this.runStarts.length > 1 && (this.runStarts[1] as number) <= i + 1) {
      this.runStarts.shift()
      this.runTerms.shift()
    }
  }

  /** Empties the index at offset i (a snapshot that replaces the log). */
  reset(i: number, term: number): void {
    this.offset = i
    this.offsetTerm = term
    this.length = 0
    this.base = 0
    this.runStarts = []
    this.runTerms = []
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

  private grow(): void {
    // Reclaim the compacted prefix before doubling: the array then tracks the live log, not all
    // of history.
    const size = this.locations.length
    const locations = new Float64Array(this.length * 2 > size ? size * 2 : size)
    locations.set(this.locations.subarray(this.base, this.base + this.length))
    this.locations = locations
    this.base = 0
  }
}
