/**
 * What the cluster observes of one incarnation from outside the Raft core: which peers it heard
 * from and when (on its own clock), the votes granted to it, and the configurations it ran with.
 * The cluster judges three things with it: lease reads (below), and the quorums behind an
 * election and behind a commit index (checkers.ts, `leaderVotes` and `leaderCommitQuorum`).
 *
 * Lease-based reads (ReadOnlyLeaseBased): which stale ones etcd-io/raft allows, and which are
 * violations. A lease read is answered by the leader alone, at its commit index, with no round
 * trip: it is correct only while no other leader can have committed anything. etcd-io/raft bounds
 * that with CheckQuorum, not with a clock: every election timeout the leader checks that a quorum
 * of voters (each half, when joint) has answered it since the previous check, and steps down
 * otherwise. The others elect a successor one election timeout after they last heard from it
 * (their own clocks); so a leader cut off just after a check keeps answering, stale, for up to
 * two election timeouts. That window is by design (Findings in docs/simulation.md): such reads
 * are counted and recorded as `info`.
 *
 * What CheckQuorum does promise is measured on the leader's own clock, so it holds whatever the
 * clocks' drift: a leader at local tick t has heard from each voter of some quorum after
 * t - 2·electionTick (the check at the last multiple of the timeout passed, counting answers since
 * the one before), or, in its first timeout as leader, from the quorum that elected it, after
 * t - 3·electionTick (a candidacy lasts under two timeouts). A lease read answered by a leader
 * that has not heard from a quorum within that bound (plus the driver's delay between raft's
 * answer and the Ready that shows it) comes from a leader that should have stepped down: a real
 * violation, and the read's value is checked like any other.
 *
 * A leadership transfer resets the leader's election elapsed (etcd-io/raft stepLeader,
 * MsgTransferLeader: the transfer must finish within one timeout), which postpones the next check
 * by up to a timeout: each transfer the leader started within the window widens the bound by one
 * election timeout (seed 292 of the server machine: a transfer asked of a leader just cut off).
 *
 * Hearing from a voter means any message of the leader's current term delivered to it from that
 * voter: a superset of the acks that mark a peer recently active, so the bound is never tighter
 * than raft's own.
 */
import type { ConfState } from '../raft/index.js'
import { hasQuorum } from './checkers.js'

export class IncarnationWatch {
  /** Per peer id: the local tick of the last message of `heardTerm[id]` delivered from it. */
  private readonly heardAt: number[] = []
  private readonly heardTerm: number[] = []
  /** Local ticks at which a leadership transfer was asked of the incarnation (the recent ones). */
  private readonly transfers: number[] = []
  /** The term of `votes`, and the peers that granted the incarnation a vote in it. */
  private votesTerm = -1
  private readonly votes = new Set<number>()
  /** The configuration it runs with, and the ones before, with the local tick each ended. */
  private current: ConfState | null = null
  private readonly pastConfs: { conf: ConfState; until: number }[] = []

  /** The local tick at which it was last seen to become leader. */
  private leaderSince = -Infinity
  /** Per peer id: the cluster's delivery number of that last message. */
  private readonly heardSeq: number[] = []

  /** A message of `term` from `from` was delivered at local tick `now`, delivery number `seq`. */
  heard(from: number, term: number, now: number, seq: number): void {
    this.heardAt[from] = now
    this.heardTerm[from] = term
    this.heardSeq[from] = seq
  }

  /** Seen to become leader at local tick `now` (the Ready that shows it; raft's may be earlier). */
  becameLeader(now: number): void {
    this.leaderSince = now
  }

  /**
   * The latest delivery number after which, as leader `self` of `term`, it has heard from a
   * quorum of one of `confs` (each voter of the quorum at least once, itself always): a ReadIndex
   * confirmed now was requested before that, or it was not confirmed by a quorum (Raft thesis
   * §6.4: the leader confirms a read with a heartbeat round that a majority answers).
   */
  quorumSeq(self: number, term: number, confs: readonly ConfState[]): number {
    const seqOf = (id: number): number =>
      id === self ? Infinity : this.heardTerm[id] === term ? (this.heardSeq[id] as number) : -1
    const half = (voters: readonly bigint[]): number => {
      if (voters.length === 0) return Infinity
      const seqs = voters.map((v) => seqOf(Number(v))).sort((a, b) => b - a)
      return seqs[voters.length >> 1] as number
    }
    let best = -1
    for (const cs of confs)
      best = Math.max(best, Math.min(half(cs.voters), half(cs.votersOutgoing)))
    return best
  }

  /** `from` granted a vote in `term` (delivered). */
  voteGranted(from: number, term: number): void {
    // A late answer to an older campaign counts for nothing now.
    if (term < this.votesTerm) return
    if (term > this.votesTerm) {
      this.votesTerm = term
      this.votes.clear()
    }
    this.votes.add(from)
  }

  /** The peers that granted a vote in `term`. */
  votesIn(term: number): ReadonlySet<number> {
    return term === this.votesTerm ? this.votes : new Set()
  }

  /** The incarnation runs with `conf` as of local tick `now` (the driver's configuration). */
  confIs(conf: ConfState, now: number): void {
    if (this.current !== null && this.current !== conf) {
      this.pastConfs.push({ conf: this.current, until: now })
      // Bounded: only the recent past is ever asked for.
      if (this.pastConfs.length > 16) this.pastConfs.shift()
    }
    this.current = conf
  }

  /** The configurations held at some point after local tick `since`; `current` is the latest. */
  confsSince(since: number, current: ConfState, now: number): ConfState[] {
    this.confIs(current, now)
    const out = [current]
    for (const c of this.pastConfs) if (c.until >= since) out.push(c.conf)
    return out
  }

  /** A leadership transfer was asked of the incarnation at local tick `now`. */
  transferAsked(now: number): void {
    this.transfers.push(now)
    if (this.transfers.length > 8) this.transfers.shift()
  }

  /**
   * Null when leader `self` of `term`, at local tick `now`, may hold its lease: it heard from a
   * quorum, in a configuration it held meanwhile, within two election timeouts (three in its
   * first as leader) plus `slackTicks`; otherwise why it may not.
   */
  lapse(
    self: number,
    term: number,
    current: ConfState,
    now: number,
    electionTicks: number,
    slackTicks: number,
  ): string | null {
    let timeouts = now - this.leaderSince >= electionTicks ? 2 : 3
    // Each transfer within the (widened) window postponed a check by up to a timeout.
    for (let i = this.transfers.length - 1; i >= 0; i--) {
      if ((this.transfers[i] as number) > now - (timeouts + 1) * electionTicks) timeouts++
    }
    const boundTicks = timeouts * electionTicks + slackTicks
    const since = now - boundTicks
    const heard = (id: number): boolean =>
      id === self || (this.heardTerm[id] === term && (this.heardAt[id] as number) > since)
    const confs = this.confsSince(since, current, now)
    if (confs.some((cs) => hasQuorum(cs, heard))) return null
    const all = [...current.voters, ...current.votersOutgoing].map(Number)
    const recent = [...new Set(all)].filter(heard).sort((a, b) => a - b)
    return (
      `leader ${self} of term ${term} answered a lease read at its tick ${now} having heard ` +
      `from only {${recent}} of voters (${current.voters})` +
      (current.votersOutgoing.length > 0 ? `&&(${current.votersOutgoing})` : '') +
      ` in the last ${boundTicks} ticks: CheckQuorum should have deposed it`
    )
  }
}
