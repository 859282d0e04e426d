/**
 * Proposals waiting for their outcome. A proposal is matched to its entry by the sequence
 * number in its envelope when the entry is applied; a proposal made on the leader also knows its
 * index, so when another entry is applied there the proposal was certainly lost (a new leader
 * overwrote it, or raft turned a refused conf change into an empty entry). A result goes out as
 * soon as its entry is applied: the entry is committed, so durable on a quorum of logs (raft
 * counts an acknowledgement, the leader's own included, only once the append is durable), and
 * every later leader holds it. The local commit index need not be durable (a HardState whose only
 * change is the commit index is not synced, as etcd's MustSync). What a restart from an older
 * commit index could get wrong is a read, not a write: a single voter answers ReadIndex from its
 * commit index at once, which could be behind acknowledged writes; the driver starts no read
 * round on a leader before it has committed an entry of its term (node.ts), which commits every
 * entry before it.
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
  /** Proposals not yet answered. */
  get size(): number {
    return this.waiters.size
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
  applied(index: number, seq: number, value: unknown): void {
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
    w.resolve(value)
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
    const ws = [...this.waiters.values()]
    this.waiters.clear()
    this.byIndex.clear()
    for (const w of ws) w.reject(err)
  }
}
