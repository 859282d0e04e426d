/**
 * Flow control for the appends sent to one follower but not yet acknowledged
 * (etcd-io/raft tracker/inflights.go).
 */

import { assert } from '../assert.js'

/**
 * A ring buffer of in-flight appends, each remembered by the index of its last entry and its
 * payload bytes. The window is full at `size` messages or, if `maxBytes` is non-zero, once the
 * bytes in flight reach `maxBytes` (a soft limit: the message that crosses it is accepted).
 *
 * The buffer grows on demand up to `size` instead of being preallocated, because a process may
 * host thousands of Raft groups and `size` may be huge (the conformance harness uses 2^31-1).
 */
export class Inflights {
  /** Position of the oldest in-flight message in the ring. */
  private start = 0
  private messages = 0
  private bytesInFlight = 0
  private indexes: Float64Array = new Float64Array(0)
  private sizes: Float64Array = new Float64Array(0)

  /**
   * `size` is the maximum number of messages in flight; `maxBytes` the maximum payload bytes
   * (0 or Infinity: no byte limit).
   */
  constructor(
    readonly size: number,
    readonly maxBytes: number,
  ) {
    assert(Number.isSafeInteger(size) && size > 0, `inflights size ${size} must be positive`)
    assert(maxBytes >= 0)
  }

  /** A copy that shares no memory with this one. */
  clone(): Inflights {
    const c = new Inflights(this.size, this.maxBytes)
    c.start = this.start
    c.messages = this.messages
    c.bytesInFlight = this.bytesInFlight
    c.indexes = this.indexes.slice()
    c.sizes = this.sizes.slice()
    return c
  }

  /**
   * Records an append whose last entry is `index`, carrying `bytes` of payload. Callers check
   * full() first and add indexes in increasing order.
   */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'cannot add into a Full inflights')
    let next = this.start + this.messages
    if (next >= this.size) next -= this.size
    if (next >= this.indexes.length) this.grow()
    this.indexes[next] = index
    this.sizes[next] = bytes
    this.messages++
    this.bytesInFlight += bytes
  }

  /** Doubles the ring (up to `size`); it only grows while the ring is not wrapped around. */
  private grow(): void {
    let capacity = this.indexes.length * 2
    if (capacity === 0) capacity = 1
    else if (capacity > this.size) capacity = this.size
    assert(capacity > this.indexes.length)
    const indexes = new Float64Array(capacity)
    const sizes = new Float64Array(capacity)
    indexes.set(this.indexes)
    sizes.set(this.sizes)
    this.indexes = indexes
    this.sizes = sizes
  }

  /** Frees every in-flight message whose last index is <= `to` (an acknowledgement). */
  freeLE(to: number): void {
    if (this.messages === 0 || to < (this.indexes[this.start] as number)) return
    let idx = this.start
    let freed = 0
    let bytes = 0
    for (; freed < this.messages; freed++) {
      if (to < (this.indexes[idx] as number)) break
      bytes += this.sizes[idx] as number
      if (++idx >= this.size) idx -= this.size
    }
    this.messages -= freed
    this.bytesInFlight -= bytes
    this.start = idx
    // Restarting at 0 when empty keeps the ring from growing needlessly.
    if (this.messages === 0) this.start = 0
    assert(this.bytesInFlight >= 0)
  }

  /** True when no more appends may be sent for now. */
  full(): boolean {
    return (
      this.messages === this.size || (this.maxBytes !== 0 && this.bytesInFlight >= this.maxBytes)
    )
  }

  count(): number {
    return this.messages
  }

  /** Payload bytes in flight. */
  bytes(): number {
    return this.bytesInFlight
  }

  /** Forgets every in-flight message (the follower changed state). */
  reset(): void {
    this.start = 0
    this.messages = 0
    this.bytesInFlight = 0
  }
}
