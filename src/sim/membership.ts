/**
 * Membership changes in the simulation: the operator that plans conf changes (as an etcd
 * administrator adding and removing members would) and the checkers that judge, from outside the
 * Raft core, the configurations the nodes apply.
 *
 * Properties checked:
 * - same sequence: the ConfState after each conf-change index is the same on every node, and a
 *   snapshot carries the configuration of the last conf change at or before its index;
 * - exactly once: a node applies each conf-change entry once per incarnation, in index order;
 * - one change pending: a leader never appends a conf change of its term while an earlier conf
 *   change in its log is unapplied (raft replaces such a proposal with an empty entry);
 * - removed nodes: a node becomes leader only while its own applied configuration has it as a
 *   voter (incoming or outgoing);
 * - joint states left: once the cluster has settled, every member is in the same non-joint
 *   configuration.
 */
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  unmarshalConfChange,
  unmarshalConfChangeV2,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
  type ConfState,
  type Entry,
} from '../raft/index.js'
import { Violation } from './checkers.js'
import type { Prng } from './prng.js'

/** A canonical one-line form of a ConfState: equal configurations give equal keys. */
export function confKey(cs: ConfState): string {
  const ids = (xs: readonly bigint[]): string =>
    [...xs]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map(String)
      .join(',')
  return (
    `v(${ids(cs.voters)}) o(${ids(cs.votersOutgoing)}) l(${ids(cs.learners)}) ` +
    `n(${ids(cs.learnersNext)})${cs.autoLeave ? ' auto' : ''}`
  )
}

export function isJoint(cs: ConfState): boolean {
  return cs.votersOutgoing.length > 0
}

/** Every node id the configuration tracks: voters on both sides and learners. */
export function confMembers(cs: ConfState): Set<number> {
  const out = new Set<number>()
  for (const xs of [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext]) {
    for (const id of xs) out.add(Number(id))
  }
  return out
}

export function isVoter(cs: ConfState, id: number): boolean {
  const b = BigInt(id)
  return cs.voters.includes(b) || cs.votersOutgoing.includes(b)
}

/** The conf change a conf-change entry carries, or null for a normal entry. */
export function decodeConfEntry(e: Entry): ConfChange | ConfChangeV2 | null {
  if (e.type === EntryType.EntryConfChange) return unmarshalConfChange(e.data)
  if (e.type === EntryType.EntryConfChangeV2) return unmarshalConfChangeV2(e.data)
  return null
}

export class MembershipChecker {
  /** Conf-change index -> config key after it, with the boot configuration at index 0. */
  private readonly keyAt = new Map<number, string>()
  /** Conf-change indexes seen, ascending. */
  private readonly indexes: number[] = []
  /** Per node: the last conf-change index applied by its live incarnation (-1 unknown). */
  private readonly lastApplied: number[]

  constructor(nodeCount: number, boot: ConfState) {
    this.lastApplied = new Array<number>(nodeCount + 1).fill(-1)
    this.record(0, confKey(boot))
  }

  /** `node` (re)started with its state machine at `applied`. */
  restarted(node: number, applied: number): void {
    this.lastApplied[node] = applied
  }

  /** `node` applied the conf-change entry at `index`, and its configuration is now `cs`. */
  confApplied(node: number, index: number, cs: ConfState): void {
    const last = this.lastApplied[node] as number
    if (index <= last) {
      throw new Violation(
        'membership',
        `node ${node} applied the conf change at index ${index} after reaching index ${last}: applied twice or out of order`,
      )
    }
    this.lastApplied[node] = index
    const key = confKey(cs)
    const seen = this.keyAt.get(index)
    if (seen === undefined) this.record(index, key)
    else if (seen !== key) {
      throw new Violation(
        'membership',
        `node ${node} has configuration ${key} after the conf change at index ${index}, another node ${seen}`,
      )
    }
  }

  /** `node` installed a snapshot at `index` carrying configuration `cs`. */
  snapshotInstalled(node: number, index: number, cs: ConfState): void {
    if (index > (this.lastApplied[node] as number)) this.lastApplied[node] = index
    const want = this.configAt(index)
    const key = confKey(cs)
    if (want !== undefined && want !== key) {
      throw new Violation(
        'membership',
        `node ${node} installed a snapshot at index ${index} with configuration ${key}, but the configuration there is ${want}`,
      )
    }
  }

  /**
   * Leader `node` of `term` appended a conf change of its term at `index`; the previous conf
   * change in its log is at `prevConf` (0 for none) and it has applied through `applied`.
   */
  leaderAppended(
    node: number,
    term: number,
    index: number,
    prevConf: number,
    applied: number,
  ): void {
    if (prevConf <= applied) return
    throw new Violation(
      'membership',
      `leader ${node} of term ${term} appended a conf change at index ${index} while the one at index ${prevConf} was unapplied (applied ${applied})`,
    )
  }

  /** `node` became leader of `term` with its applied configuration `cs`. */
  leaderElected(node: number, term: number, cs: ConfState): void {
    if (isVoter(cs, node)) return
    throw new Violation(
      'membership',
      `node ${node} became leader of term ${term} in configuration ${confKey(cs)}, which does not have it as a voter`,
    )
  }

  /** The settled cluster: every member's configuration, which must be one non-joint config. */
  settled(confs: ReadonlyMap<number, ConfState>): void {
    let first = ''
    for (const [node, cs] of confs) {
      const key = confKey(cs)
      if (isJoint(cs)) {
        throw new Violation('membership', `node ${node} never left joint configuration ${key}`)
      }
      if (first === '') first = key
      else if (key !== first) {
        throw new Violation(
          'membership',
          `settled nodes disagree on the configuration: ${first} and node ${node} ${key}`,
        )
      }
    }
  }

  /** The key of the configuration in force at `index`, when the checker has seen it. */
  private configAt(index: number): string | undefined {
    let best = -1
    for (const i of this.indexes) if (i <= index) best = i
    return best === -1 ? undefined : this.keyAt.get(best)
  }

  private record(index: number, key: string): void {
    this.keyAt.set(index, key)
    this.indexes.push(index)
    this.indexes.sort((a, b) => a - b)
  }
}

const TRANSITIONS = [
  ConfChangeTransition.ConfChangeTransitionAuto,
  ConfChangeTransition.ConfChangeTransitionJointImplicit,
  ConfChangeTransition.ConfChangeTransitionJointExplicit,
]

/**
 * The next change an operator asks for, valid against the leader's applied configuration `cs`,
 * or null for none. `spare` is an id never used before (0 when none is left). While joint with
 * an explicit transition the only change is leaving it. Voters are removed or demoted only from
 * three or more: when the leader of a two-voter group removes or demotes itself and steps down
 * (StepDownOnRemoval), the other voter may never learn that the change committed, and still
 * counting the old member's vote, which a longer log refuses, it can never be elected.
 */
export function planConfChange(
  p: Prng,
  cs: ConfState,
  spare: number,
  favourLearners = false,
): ConfChange | ConfChangeV2 | null {
  if (isJoint(cs)) {
    if (cs.autoLeave) return null
    return {
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [],
      context: new Uint8Array(0),
    }
  }
  const voters = cs.voters.map(Number)
  const learners = cs.learners.map(Number)
  const options: ConfChangeSingle[][] = []
  const single = (type: ConfChangeType, id: number): ConfChangeSingle => ({
    type,
    nodeId: BigInt(id),
  })
  const add = ConfChangeType.ConfChangeAddNode
  const learner = ConfChangeType.ConfChangeAddLearnerNode
  const remove = ConfChangeType.ConfChangeRemoveNode
  // Learner seeds keep several learners for long: most spares join as learners, a learner is
  // seldom promoted or removed, and no voter is removed or demoted below three.
  if (favourLearners && spare !== 0 && p.chance(0.5)) options.push([single(learner, spare)])
  else {
    if (spare !== 0) {
      options.push([single(add, spare)], [single(learner, spare)])
      if (voters.length > 2) options.push([single(add, spare), single(remove, p.pick(voters))])
    }
    if (learners.length > 0 && (!favourLearners || p.chance(0.2))) {
      const l = p.pick(learners)
      options.push([single(add, l)], [single(remove, l)])
      if (voters.length > 2) options.push([single(add, l), single(learner, p.pick(voters))])
    }
    // Learner seeds keep three voters or more, so that a minority of them is a voter or two.
    if (voters.length > (favourLearners ? 3 : 2)) {
      options.push([single(remove, p.pick(voters))], [single(learner, p.pick(voters))])
    }
  }
  if (options.length === 0) return null
  const changes = p.pick(options)
  if (changes.length === 1 && p.chance(0.3)) {
    const c = changes[0] as ConfChangeSingle
    return { id: 0n, type: c.type, nodeId: c.nodeId, context: new Uint8Array(0) }
  }
  return { transition: p.pick(TRANSITIONS), changes, context: new Uint8Array(0) }
}
