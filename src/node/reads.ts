/**
 * Linearizable reads, batched as etcd's linearizableReadLoop batches them: one ReadIndex round at
 * a time carries every read that arrived while the previous round was in flight (a read that
 * arrives during a round waits for the next one: the round's index may predate it). When the
 * round's ReadState comes back, its reads wait until the state machine has applied up to its
 * index, then resolve with that index.
 *
 * A round whose answer does not come is asked again after readRetryTicks (raft drops a ReadIndex
 * on a follower that knows no leader); a leader change fails the round's reads with
 * LEADER_CHANGED (etcd 3.5); a read past its deadline fails with TIMEOUT. A round the driver
 * cannot ask for yet (a leader without a commit in its term) is held, and asked at the next flush.
 */
import type { NodeId, ReadState } from '../raft/index.js'
import { errLeaderChanged, errTimeout } from './errors.js'

interface Reader {
  readonly resolve: (index: number) => void
  readonly reject: (err: unknown) => void
  readonly deadline: number
}

interface Round {
  readonly ctx: Uint8Array
  readers: Reader[]
  lead: NodeId
  sentAt: number
  /** Not asked: the request was refused for now. */
  held: boolean
}

/**
 * The raft calls the reads need: a ReadIndex request with a context; false when it may not be
 * asked now (the round is held and asked again at the next flush).
 */
export type RequestReadIndex = (ctx: Uint8Array) => boolean

export class Reads {
  private next: Reader[] = []
  private round: Round | null = null
  /** Confirmed rounds waiting for the state machine, in the order their answers arrived. */
  private waiting: { index: number; readers: Reader[] }[] = []
  private counter = 0
  private pending = 0

  constructor(
    private readonly request: RequestReadIndex,
    private readonly retryTicks: number,
    /** Node id and incarnation: a context is never reused by another life of this member. */
    private readonly prefix: Uint8Array = new Uint8Array(0),
  ) {}

  /** Reads not yet answered. */
  get size(): number {
    return this.pending
  }

  add(deadline: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.next.push({ resolve, reject, deadline })
      this.pending++
    })
  }

  /** Starts a round for the reads waiting, unless one is in flight; asks for a held round. */
  flush(now: number, lead: NodeId): void {
    const held = this.round
    if (held !== null) {
      if (held.held) this.ask(held, now)
      return
    }
    if (this.next.length === 0) return
    const ctx = new Uint8Array(this.prefix.length + 8)
    ctx.set(this.prefix, 0)
    new DataView(ctx.buffer).setFloat64(this.prefix.length, ++this.counter, true)
    const round = { ctx, readers: this.next, lead, sentAt: now, held: false }
    this.round = round
    this.next = []
    this.ask(round, now)
  }

  private ask(round: Round, now: number): void {
    round.sentAt = now
    round.held = !this.request(round.ctx)
  }

  /** ReadStates from a Ready; true when a round completed (another may start). */
  answered(states: readonly ReadState[], applied: number): boolean {
    const round = this.round
    if (round === null) return false
    for (const rs of states) {
      if (!sameBytes(rs.requestCtx, round.ctx)) continue
      this.round = null
      this.waiting.push({ index: rs.index, readers: round.readers })
      this.applied(applied)
      return true
    }
    return false
  }

  /** The state machine applied up to `applied`: answer the rounds it covers. */
  applied(applied: number): void {
    if (this.waiting.length === 0) return
    let kept = 0
    for (const w of this.waiting) {
      if (w.index > applied) {
        this.waiting[kept++] = w
        continue
      }
      this.pending -= w.readers.length
      for (const r of w.readers) r.resolve(w.index)
    }
    this.waiting.length = kept
  }

  /** Raft's role or leader changed: a round sent to another leader may never be answered. */
  leaderChanged(lead: NodeId, now: number): void {
    const round = this.round
    if (round === null || round.lead === lead) return
    if (round.lead === 0n) {
      // Raft dropped the request for want of a leader; ask the one now known.
      round.lead = lead
      this.ask(round, now)
      return
    }
    this.round = null
    this.settle(round.readers, errLeaderChanged())
  }

  /** A tick: ask again for an unanswered round, time out reads past their deadline. */
  tick(now: number): void {
    const round = this.round
    if (round !== null && now - round.sentAt >= this.retryTicks) this.ask(round, now)
    this.next = this.expire(this.next, now)
    if (round !== null) round.readers = this.expire(round.readers, now)
    for (const w of this.waiting) w.readers = this.expire(w.readers, now)
  }

  rejectAll(err: unknown): void {
    const all = [
      ...this.next,
      ...(this.round?.readers ?? []),
      ...this.waiting.flatMap((w) => w.readers),
    ]
    this.next = []
    this.round = null
    this.waiting = []
    this.settle(all, err)
  }

  private expire(readers: Reader[], now: number): Reader[] {
    if (readers.length === 0 || readers[0]!.deadline > now) return readers
    const late = readers.filter((r) => r.deadline <= now)
    this.settle(late, errTimeout())
    return readers.filter((r) => r.deadline > now)
  }

  private settle(readers: Reader[], err: unknown): void {
    this.pending -= readers.length
    for (const r of readers) r.reject(err)
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
