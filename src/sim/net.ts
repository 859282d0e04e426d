/**
 * The simulated network: messages wait in per-tick buckets (a ring indexed by delivery tick) and
 * links can be cut in either direction. It owns only timing and connectivity; the cluster decides
 * drops, duplicates and delays with its Prng and delivers what comes due.
 *
 * Cost sketch: one array push per message sent and one array swap per delivery round, so a
 * message costs O(1) and no allocation beyond its slot.
 */
import type { Message } from '../raft/index.js'

export class SimNet {
  private readonly buckets: Message[][]
  /** links[from * stride + to] === 1 when messages from `from` reach `to`. */
  private readonly links: Uint8Array
  /** FIFO mode: the tick the last message on each link is due, so later sends never overtake. */
  private readonly linkDue: Float64Array
  private readonly stride: number
  inFlight = 0

  constructor(
    nodeCount: number,
    /** The largest delay a send may ask for, in ticks. */
    readonly delayMax: number,
    /** When false, each link delivers in send order. */
    readonly reorder: boolean,
  ) {
    this.stride = nodeCount + 1
    this.links = new Uint8Array(this.stride * this.stride).fill(1)
    this.linkDue = new Float64Array(this.stride * this.stride)
    this.buckets = Array.from({ length: delayMax + 2 }, () => [])
  }

  connected(from: number, to: number): boolean {
    return this.links[from * this.stride + to] === 1
  }

  setLink(from: number, to: number, up: boolean): void {
    this.links[from * this.stride + to] = up ? 1 : 0
  }

  healAll(): void {
    this.links.fill(1)
  }

  /** Queues `m` from `from` to `to` for delivery `delay` ticks after `now`. */
  send(m: Message, from: number, to: number, now: number, delay: number): void {
    if (!(delay >= 0 && delay <= this.delayMax)) throw new RangeError(`delay ${delay} out of range`)
    let due = now + delay
    if (!this.reorder) {
      const link = from * this.stride + to
      due = Math.max(due, this.linkDue[link] as number)
      this.linkDue[link] = due
    }
    ;(this.buckets[due % this.buckets.length] as Message[]).push(m)
    this.inFlight++
  }

  /** Removes and returns the messages due at `now` (the caller may reuse nothing of it). */
  takeDue(now: number): Message[] {
    const i = now % this.buckets.length
    const due = this.buckets[i] as Message[]
    if (due.length === 0) return due
    this.buckets[i] = []
    this.inFlight -= due.length
    return due
  }

  hasDue(now: number): boolean {
    return (this.buckets[now % this.buckets.length] as Message[]).length > 0
  }

  /** Moves what is still due at `now` to `now + 1` (a tick ends with a bounded number of rounds). */
  carryOver(now: number): void {
    const due = this.takeDue(now)
    for (const m of due) (this.buckets[(now + 1) % this.buckets.length] as Message[]).push(m)
    this.inFlight += due.length
  }
}
