/**
 * The in-memory index of the raft log held by the WAL: for each index after `offset`, its term and
 * the location of its record. It is what lets WalStorage answer term() for any index and read any
 * entry back without keeping entries in memory.
 *
 * Memory: 16 bytes per retained entry (two Float64Array slots), against the entry itself (hundreds
 * of bytes to MiBs); compaction drops the prefix. NB: this still grows with the uncompacted log;
 * a sparse index (one location every N entries, scanning forward) would cut it by N at the cost
 * of reading up to N records per miss.
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
  private terms = new Float64Array(1024)
  private locations = new Float64Array(1024)

  last(): number {
    return this.offset + this.length
  }

  term(i: number): number {
    assert(
      i > this.offset && i <= this.last(),
      `term(${i}) outside (${this.offset}, ${this.last()}]`,
    )
    return this.terms[this.base + i - this.offset - 1] as number
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
    if (this.base + this.length === this.terms.length) this.grow()
    this.terms[this.base + this.length] = term
    this.locations[this.base + this.length] = location
    this.length++
  }

  /** Makes i the new offset (i in [offset, last]); entries up to i are dropped. */
  compactTo(i: number, term: number): void {
    assert(i >= this.offset && i <= this.last(), `compactTo(${i}) outside the index`)
    const drop = i - this.offset
    this.base += drop
    this.length -= drop
    this.offset = i
    this.offsetTerm = term
  }

  /** Empties the index at offset i (a snapshot that replaces the log). */
  reset(i: number, term: number): void {
    this.offset = i
    this.offsetTerm = term
    this.length = 0
    this.base = 0
  }

  private grow(): void {
    // Reclaim the compacted prefix before doubling: the array then tracks the live log, not all
    // of history.
    const capacity = this.length * 2 > this.terms.length ? this.terms.length * 2 : this.terms.length
    const terms = new Float64Array(capacity)
    const locations = new Float64Array(capacity)
    terms.set(this.terms.subarray(this.base, this.base + this.length))
    locations.set(this.locations.subarray(this.base, this.base + this.length))
    this.terms = terms
    this.locations = locations
    this.base = 0
  }
}
