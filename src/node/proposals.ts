/**
 * Proposals waiting for their outcome. A proposal is matched to its entry by the sequence
 * number in its envelope when the entry is applied; a proposal made on the leader also knows its
 * index, so when another entry is applied there the proposal was certainly lost (a new leader
 * overwrote it, or raft turned a refused conf change into an empty entry). Results go out only
 * once the commit index covering the entry is durable: with AsyncStorageWrites the apply lane can
 * run ahead of the HardState write, and a single voter restarted from an older commit index
 * would answer a read without the acknowledged write (docs/simulation.md, Findings).
 */
import type { NodeId } from '../raft/index.js'
import { errLeaderLost, errProposalDropped, errTimeout } from './errors.js'

interface Waiter {
  readonly seq: number
  readonly resolve: (value: unknown) => void
  readonly reject: (err: unknown) => void
  /** The tick after which it times out. Invariant: non-decreasing in the map's order. */
  readonly deadline: number
  readonly lead: NodeId
  readonly term: number
  /** The entry's index when proposed on the leader; 0 when forwarded (unknown). */
  index: number
}

export class Proposals {
  /** By sequence number, in the order proposed (so in deadline order). */
  private readonly waiters = new Map<number, Waiter>()
  /** Leader proposals: index -> sequence number. */
  private readonly byIndex = new Map<number, number>()
  /** Applied, waiting for a durable commit index: waiter, index, result, in index order. */
  private readonly acks: { waiter: Waiter; index: number; value: unknown }[] = []

  /** Proposals not yet answered, those waiting for a durable commit included. */
  get size(): number {
    return this.waiters.size + this.acks.length
  }

  add<T>(seq: number, deadline: number, lead: NodeId, term: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        seq,
        resolve: resolve as (value: unknown) => void,
        reject,
        deadline,
        lead,
        term,
        index: 0,
      }
      this.waiters.set(seq, waiter)
    })
  }

  /** The leader appended proposal `seq` at `index`. */
  placed(seq: number, index: number): void {
    const w = this.waiters.get(seq)
    if (w === undefined) return
    w.index = index
    this.byIndex.set(index, seq)
  }

  /**
   * The entry at `index` was applied with result `value`; `seq` is the sequence number of its
   * envelope if this incarnation proposed it, else 0.
   */
  applied(index: number, seq: number, value: unknown, durableCommit: number): void {
    if (this.byIndex.size > 0) {
      const placed = this.byIndex.get(index)
      if (placed !== undefined) {
        this.byIndex.delete(index)
        if (placed !== seq) this.reject(placed, errProposalDropped())
      }
    }
    if (seq === 0) return
    const w = this.waiters.get(seq)
    // Gone: timed out already, or a duplicate of a proposal applied before (a retried MsgProp).
    if (w === undefined) return
    this.waiters.delete(seq)
    if (w.index !== 0 && w.index !== index) this.byIndex.delete(w.index)
    if (index <= durableCommit) w.resolve(value)
    else this.acks.push({ waiter: w, index, value })
  }

  /** The commit index is durable up to `commit`: answer what was waiting for it. */
  durable(commit: number): void {
    const acks = this.acks
    let k = 0
    // Bounded by the acks waiting; they are in index order.
    while (k < acks.length && (acks[k] as { index: number }).index <= commit) {
      const a = acks[k++]!
      a.waiter.resolve(a.value)
    }
    if (k > 0) acks.splice(0, k)
  }

  /**
   * Times out what is past its deadline at tick `now`. Outcome unknown either way; etcd tells a
   * timeout under a changed leader apart (ErrTimeoutDueToLeaderFail), so does this.
   */
  expire(now: number, lead: NodeId, term: number): void {
    // Bounded by the waiters; they are in deadline order, so the first one not due ends it.
    for (const w of this.waiters.values()) {
      if (w.deadline > now) break
      this.waiters.delete(w.seq)
      if (w.index !== 0) this.byIndex.delete(w.index)
      w.reject(w.lead !== lead || w.term !== term ? errLeaderLost() : errTimeout())
    }
  }

  reject(seq: number, err: unknown): void {
    const w = this.waiters.get(seq)
    if (w === undefined) return
    this.waiters.delete(seq)
    if (w.index !== 0) this.byIndex.delete(w.index)
    w.reject(err)
  }

  rejectAll(err: unknown): void {
    const ws = [...this.waiters.values(), ...this.acks.map((a) => a.waiter)]
    this.waiters.clear()
    this.byIndex.clear()
    this.acks.length = 0
    for (const w of ws) w.reject(err)
  }
}
