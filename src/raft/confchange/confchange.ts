/**
 * Membership changes, simple and joint (Raft thesis §4.3; etcd-io/raft confchange/confchange.go).
 *
 * A change is applied to a copy of the configuration and progress map, checked, and only then
 * handed back: an invalid change throws and leaves the tracker untouched. Swapping the result in
 * (and everything that follows from it) is raft's job.
 */

import { assert } from '../assert.js'
import { RaftError } from '../errors.js'
import { MajorityConfig } from '../quorum/majority.js'
import { ConfChangeType } from '../raftpb/types.js'
import type { ConfChangeSingle, NodeId } from '../raftpb/types.js'
import { Inflights } from '../tracker/inflights.js'
import { Progress } from '../tracker/progress.js'
import type { ProgressMap } from '../tracker/progress.js'
import type { TrackerConfig } from '../tracker/tracker.js'

/** What a Changer reads; a ProgressTracker fits. The Changer never mutates it. */
export interface TrackerState {
  readonly config: TrackerConfig
  readonly progress: ProgressMap
  readonly maxInflight: number
  readonly maxInflightBytes: number
}

/** A new configuration and the progress map that goes with it. */
export interface ConfChangeResult {
  config: TrackerConfig
  progress: ProgressMap
}

const confChangeError = (message: string): RaftError => new RaftError('CONF_CHANGE', message)

export class Changer {
  /** `lastIndex` is the leader's last log index; new peers are probed from there. */
  constructor(
    readonly tracker: TrackerState,
    readonly lastIndex: number,
  ) {
    assert(Number.isSafeInteger(lastIndex) && lastIndex >= 0)
  }

  /**
   * Enters a joint configuration: the incoming voters are copied to the outgoing half, then
   * `ccs` is applied to the incoming half (C_old,new in the thesis). `autoLeave` asks raft to
   * leave the joint state on its own once it is committed.
   */
  enterJoint(autoLeave: boolean, ccs: readonly ConfChangeSingle[]): ConfChangeResult {
    const { config, progress } = this.checkAndCopy()
    if (joint(config)) throw confChangeError('config is already joint')
    // An empty config may grow (bootstrap, tests), but it cannot become joint.
    if (config.voters.incoming.size === 0) {
      throw confChangeError("can't make a zero-voter config joint")
    }
    config.voters.outgoing = config.voters.incoming.clone()
    this.apply(config, progress, ccs)
    config.autoLeave = autoLeave
    return checkAndReturn(config, progress)
  }

  /**
   * Leaves the joint configuration: the outgoing half is dropped (C_new in the thesis), staged
   * learners become learners, and peers that are in neither half nor learners are forgotten.
   */
  leaveJoint(): ConfChangeResult {
    const { config, progress } = this.checkAndCopy()
    if (!joint(config)) throw confChangeError("can't leave a non-joint config")
    for (const id of config.learnersNext ?? []) {
      config.learners = nilAwareAdd(config.learners, id)
      progressOf(progress, id).isLearner = true
    }
    config.learnersNext = null
    for (const id of config.voters.outgoing) {
      const isVoter = config.voters.incoming.has(id)
      const isLearner = config.learners?.has(id) ?? false
      if (!isVoter && !isLearner) progress.delete(id)
    }
    config.voters.outgoing = new MajorityConfig()
    config.autoLeave = false
    return checkAndReturn(config, progress)
  }

  /**
   * Applies `ccs` without joint consensus. Allowed only outside a joint state and only if the
   * voters change by at most one, since two majorities of sets differing by one always overlap.
   */
  simple(ccs: readonly ConfChangeSingle[]): ConfChangeResult {
    const { config, progress } = this.checkAndCopy()
    if (joint(config)) throw confChangeError("can't apply simple config change in joint config")
    this.apply(config, progress, ccs)
    if (symdiff(this.tracker.config.voters.incoming, config.voters.incoming) > 1) {
      throw confChangeError('more than one voter changed without entering joint config')
    }
    return checkAndReturn(config, progress)
  }

  /** Applies the changes to the incoming half; the outgoing half is only ever copied or dropped. */
  private apply(
    config: TrackerConfig,
    progress: ProgressMap,
    ccs: readonly ConfChangeSingle[],
  ): void {
    for (const cc of ccs) {
      // etcd zeroes the node id of a change it decided not to apply.
      if (cc.nodeId === 0n) continue
      switch (cc.type) {
        case ConfChangeType.ConfChangeAddNode:
          this.makeVoter(config, progress, cc.nodeId)
          break
        case ConfChangeType.ConfChangeAddLearnerNode:
          this.makeLearner(config, progress, cc.nodeId)
          break
        case ConfChangeType.ConfChangeRemoveNode:
          remove(config, progress, cc.nodeId)
          break
        case ConfChangeType.ConfChangeUpdateNode:
          // Carries application metadata only; raft's membership does not change.
          break
        default:
          throw confChangeError(`unexpected conf type ${String(cc.type)}`)
      }
    }
    if (config.voters.incoming.size === 0) throw confChangeError('removed all voters')
  }

  /** Adds `id` as a voter of the incoming half, or promotes it. */
  private makeVoter(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    const pr = progress.get(id)
    if (pr === undefined) {
      this.initProgress(config, progress, id, false)
      return
    }
    pr.isLearner = false
    config.learners = nilAwareDelete(config.learners, id)
    config.learnersNext = nilAwareDelete(config.learnersNext, id)
    config.voters.incoming.add(id)
  }

  /**
   * Adds `id` as a learner or demotes it. A peer that is still a voter of the outgoing half
   * cannot be a learner at the same time, so its demotion is staged in learnersNext.
   */
  private makeLearner(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    const pr = progress.get(id)
    if (pr === undefined) {
      this.initProgress(config, progress, id, true)
      return
    }
    if (pr.isLearner) return
    // Drop the voter from the incoming half but keep its progress.
    remove(config, progress, id)
    progress.set(id, pr)
    if (config.voters.outgoing.has(id)) {
      config.learnersNext = nilAwareAdd(config.learnersNext, id)
    } else {
      pr.isLearner = true
      config.learners = nilAwareAdd(config.learners, id)
    }
  }

  /**
   * Tracks a new peer. It is probed from the last index (optimistic: it most likely needs a
   * snapshot) and counts as recently active, so that CheckQuorum does not fire before it had a
   * chance to answer.
   */
  private initProgress(
    config: TrackerConfig,
    progress: ProgressMap,
    id: NodeId,
    isLearner: boolean,
  ): void {
    if (isLearner) config.learners = nilAwareAdd(config.learners, id)
    else config.voters.incoming.add(id)
    const inflights = new Inflights(this.tracker.maxInflight, this.tracker.maxInflightBytes)
    const next = Math.max(this.lastIndex, 1)
    progress.set(id, new Progress({ match: 0, next, inflights, isLearner, recentActive: true }))
  }

  /** Copies config and progress deeply enough to mutate them, after checking the invariants. */
  private checkAndCopy(): ConfChangeResult {
    return checkAndReturn(this.tracker.config.clone(), this.tracker.progress.clone())
  }
}

/** Removes `id` from the incoming half and the learners; keeps its progress if still outgoing. */
function remove(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
  if (!progress.has(id)) return
  config.voters.incoming.delete(id)
  config.learners = nilAwareDelete(config.learners, id)
  config.learnersNext = nilAwareDelete(config.learnersNext, id)
  if (!config.voters.outgoing.has(id)) progress.delete(id)
}

/**
 * Checks that config and progress agree. The empty config is allowed on purpose: it is where
 * bootstrap (and tests) start from.
 */
function checkInvariants(config: TrackerConfig, progress: ProgressMap): void {
  for (const ids of [config.voters.ids(), config.learners ?? [], config.learnersNext ?? []]) {
    for (const id of ids) {
      if (!progress.has(id)) throw confChangeError(`no progress for ${id}`)
    }
  }
  // A staged learner was staged because it is still an outgoing voter.
  for (const id of config.learnersNext ?? []) {
    if (!config.voters.outgoing.has(id)) {
      throw confChangeError(`${id} is in LearnersNext, but not Voters.Outgoing`)
    }
    if (progressOf(progress, id).isLearner) {
      throw confChangeError(`${id} is in LearnersNext, but is already marked as learner`)
    }
  }
  for (const id of config.learners ?? []) {
    if (config.voters.outgoing.has(id)) {
      throw confChangeError(`${id} is in Learners and Voters.Outgoing`)
    }
    if (config.voters.incoming.has(id)) {
      throw confChangeError(`${id} is in Learners and Voters.Incomming`)
    }
    if (!progressOf(progress, id).isLearner) {
      throw confChangeError(`${id} is in Learners, but is not marked as learner`)
    }
  }
  if (!joint(config)) {
    // Empty sets are null (etcd: nil maps), and only a joint config may auto-leave.
    if (config.learnersNext !== null) {
      throw confChangeError('cfg.LearnersNext must be nil when not joint')
    }
    if (config.autoLeave) throw confChangeError('AutoLeave must be false when not joint')
  }
}

function checkAndReturn(config: TrackerConfig, progress: ProgressMap): ConfChangeResult {
  checkInvariants(config, progress)
  return { config, progress }
}

function progressOf(progress: ProgressMap, id: NodeId): Progress {
  const pr = progress.get(id)
  assert(pr !== undefined, `no progress for ${id}`)
  return pr
}

/** Adds to a set that is null when empty, creating it if needed. */
function nilAwareAdd(set: Set<NodeId> | null, id: NodeId): Set<NodeId> {
  const s = set ?? new Set<NodeId>()
  s.add(id)
  return s
}

/** Deletes from a set that is null when empty, returning null once it is empty. */
function nilAwareDelete(set: Set<NodeId> | null, id: NodeId): Set<NodeId> | null {
  if (set === null) return null
  set.delete(id)
  return set.size === 0 ? null : set
}

/** The size of the symmetric difference of two voter sets. */
function symdiff(l: MajorityConfig, r: MajorityConfig): number {
  let n = 0
  for (const id of l) if (!r.has(id)) n++
  for (const id of r) if (!l.has(id)) n++
  return n
}

function joint(config: TrackerConfig): boolean {
  return config.voters.outgoing.size > 0
}

/** `ConfChangeAddNode(1) ConfChangeRemoveNode(2)`, as etcd's confchange.Describe prints changes. */
export function describeChanges(ccs: readonly ConfChangeSingle[]): string {
  return ccs.map((cc) => `${ConfChangeType[cc.type]}(${cc.nodeId})`).join(' ')
}
