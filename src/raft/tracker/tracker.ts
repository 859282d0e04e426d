/**
 * The leader's bookkeeping of the active configuration and of every peer in it: progress, votes
 * and the quorum decisions derived from them (etcd-io/raft tracker/tracker.go).
 */

import { assert } from '../assert.js'
import { JointConfig } from '../quorum/joint.js'
import { committedIndexOfMatches } from '../quorum/majority.js'
import { VoteResult, formatIdSet, sortedIds } from '../quorum/types.js'
import type { AckedIndexer } from '../quorum/types.js'
import type { ConfState, NodeId } from '../raftpb/types.js'
import type { Progress } from './progress.js'
import { ProgressMap } from './progress.js'

/**
 * The membership tracked by a ProgressTracker.
 *
 * Invariant: learners and voters (either half) never intersect, so a peer's role is clear
 * without looking at the joint state. Demoting a voter that is still in the outgoing half would
 * break that, so the demotion is staged in `learnersNext` and completed when the joint
 * configuration is left. A brand-new learner is added to `learners` right away so it can catch up.
 *
 * `learners` and `learnersNext` are null rather than empty (etcd keeps such maps nil), which
 * shows in toString().
 */
export class TrackerConfig {
  constructor(
    public voters: JointConfig = new JointConfig(),
    /** When joint: leave the joint configuration automatically once possible. */
    public autoLeave = false,
    public learners: Set<NodeId> | null = null,
    /** Voters of the outgoing half that become learners when the joint state is left. */
    public learnersNext: Set<NodeId> | null = null,
  ) {}

  /**
   * A copy that shares no memory with this one. Like etcd's Clone it does not carry autoLeave
   * over; the conf changer sets autoLeave explicitly on every transition.
   */
  clone(): TrackerConfig {
    return new TrackerConfig(
      this.voters.clone(),
      false,
      this.learners === null ? null : new Set(this.learners),
      this.learnersNext === null ? null : new Set(this.learnersNext),
    )
  }

  /** e.g. `voters=(1 2)&&(1) learners=(3) learners_next=(1) autoleave`; part of the test output. */
  toString(): string {
    let s = `voters=${this.voters}`
    if (this.learners !== null) s += ` learners=${formatIdSet(this.learners)}`
    if (this.learnersNext !== null) s += ` learners_next=${formatIdSet(this.learnersNext)}`
    if (this.autoLeave) s += ' autoleave'
    return s
  }
}

/** Reads each voter's acknowledged index from its Progress.match. */
class MatchAckIndexer implements AckedIndexer {
  constructor(private readonly tracker: ProgressTracker) {}

  ackedIndex(id: NodeId): number | undefined {
    return this.tracker.progress.get(id)?.match
  }
}

export interface TallyResult {
  granted: number
  rejected: number
  result: VoteResult
}

export class ProgressTracker {
  config = new TrackerConfig()
  progress = new ProgressMap()
  votes = new Map<NodeId, boolean>()
  /** Reused by committed(): the commit computation runs on every acknowledgement. */
  private readonly matchIndexer = new MatchAckIndexer(this)

  /**
   * `maxInflight` bounds the appends in flight per follower; `maxInflightBytes` their payload
   * bytes (0 or Infinity: unbounded).
   */
  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {
    assert(Number.isSafeInteger(maxInflight) && maxInflight > 0)
    assert(maxInflightBytes >= 0)
  }

  /** The active configuration as a ConfState, every list sorted. */
  confState(): ConfState {
    return {
      voters: this.config.voters.incoming.slice(),
      votersOutgoing: this.config.voters.outgoing.slice(),
      learners: sortedIds(this.config.learners ?? []),
      learnersNext: sortedIds(this.config.learnersNext ?? []),
      autoLeave: this.config.autoLeave,
    }
  }

  /** True if and only if there is exactly one voter (the leader) and no joint state. */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0
  }

  /**
   * The Progress of each voter of a non-joint configuration, for committed(); valid while the
   * configuration's sorted voters (replaced on every change), the progress map and its version
   * are those it was built from. Null when some voter has no Progress.
   */
  private voterProgressCache: {
    voters: readonly NodeId[]
    map: ProgressMap
    version: number
    prs: Progress[] | null
  } | null = null

  /** The largest index acknowledged by a quorum of voters (Infinity with no voters at all). */
  committed(): number {
    const voters = this.config.voters
    if (voters.outgoing.size === 0) {
      // Not joint: the outgoing half would answer Infinity, and the incoming half's answer
      // needs only its voters' matches, read from cached Progress records rather than looked
      // up by id for every acknowledgement.
      const prs = this.voterProgress(voters.incoming.sorted())
      if (prs !== null) return committedIndexOfMatches(prs)
    }
    return voters.committedIndex(this.matchIndexer)
  }

  private voterProgress(ids: readonly NodeId[]): Progress[] | null {
    const c = this.voterProgressCache
    const map = this.progress
    if (c !== null && c.voters === ids && c.map === map && c.version === map.version) return c.prs
    let prs: Progress[] | null = []
    for (let i = 0; i < ids.length; i++) {
      const pr = map.get(ids[i] as NodeId)
      if (pr === undefined) {
        prs = null
        break
      }
      prs.push(pr)
    }
    this.voterProgressCache = { voters: ids, map, version: map.version, prs }
    return prs
  }

  /** Calls `fn` for every tracked peer in ascending id order. */
  visit(fn: (id: NodeId, pr: Progress) => void): void {
    // A snapshot of the ids, so `fn` may change the map. The cached Progress list saves a
    // lookup by id per peer, and is what get() would return for as long as neither the map
    // nor our reference to it changes; if `fn` changes either, the lookups take over.
    const map = this.progress
    const version = map.version
    const ids = map.sortedIds()
    const prs = map.sortedProgress()
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as NodeId
      const pr = this.progress === map && map.version === version ? prs[i] : this.progress.get(id)
      if (pr !== undefined) fn(id, pr)
    }
  }

  /** True if the voters heard from recently (recentActive) form a quorum. */
  quorumActive(): boolean {
    const votes = new Map<NodeId, boolean>()
    this.visit((id, pr) => {
      if (!pr.isLearner) votes.set(id, pr.recentActive)
    })
    return this.config.voters.voteResult(votes) === VoteResult.VoteWon
  }

  /** The voters of both halves, sorted. */
  voterNodes(): NodeId[] {
    return sortedIds(this.config.voters.ids())
  }

  /** The learners, sorted. */
  learnerNodes(): NodeId[] {
    return sortedIds(this.config.learners ?? [])
  }

  /** Starts a new round of vote counting. */
  resetVotes(): void {
    this.votes = new Map()
  }

  /** Records `id`'s vote (granted if `v`); only the first vote of each peer counts. */
  recordVote(id: NodeId, v: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, v)
  }

  /**
   * Counts the granted and rejected votes of tracked voters (informational) and decides the
   * election through the joint quorum.
   */
  tallyVotes(): TallyResult {
    let granted = 0
    let rejected = 0
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue
      const v = this.votes.get(id)
      if (v === undefined) continue
      if (v) granted++
      else rejected++
    }
    const result = this.config.voters.voteResult(this.votes)
    assert(granted + rejected <= this.votes.size)
    return { granted, rejected, result }
  }
}
