/**
 * The membership operator of membership seeds: now and then asks the leader for a conf change
 * valid against the leader's applied configuration (as an etcd administrator adding, promoting,
 * demoting and removing members would), starts the spares a configuration adds and retires the
 * nodes it drops, and checks that a leader never appends a conf change while an earlier one is
 * unapplied.
 */
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type RaftView,
} from '../raft/index.js'
import type { Cluster } from './cluster.js'
import { confMembers, isJoint, isVoter, planConfChange } from './membership.js'
import type { Prng } from './prng.js'
import { Ev, active, type SimNode } from './sim-node.js'

export class Operator {
  private nextSpare: number

  constructor(
    private readonly c: Cluster,
    private readonly p: Prng,
  ) {
    this.nextSpare = c.options.nodeCount + 1
  }

  /**
   * Retires what the last configuration dropped, then maybe asks for a change; in the liveness
   * phase only the explicit leave of a joint configuration.
   */
  run(): void {
    const c = this.c
    const p = this.p
    this.retireRemoved()
    if (!p.chance(c.liveness ? 0.2 : c.options.confChangeRate)) return
    const leader = c.leaderId()
    if (leader === 0) return
    const node = c.nodes[leader] as SimNode
    const driver = node.driver!
    if (!isVoter(node.conf, leader) && node.conf.voters.length > 0) {
      // Without StepDownOnRemoval a removed or demoted leader keeps leading; an operator then
      // moves leadership to a voter (etcd's MoveLeader).
      const to = p.pick(node.conf.voters)
      c.log(`operator moves leadership from n${leader}, no longer a voter, to n${to}`)
      driver.transferLeader(to)
      return
    }
    if (c.liveness && isJoint(node.conf) && node.conf.autoLeave) {
      // raft proposes the auto-leave when an apply reaches the joint configuration; dropped then
      // (a leadership transfer in progress), it retries only on a later apply, and the liveness
      // phase has no client writes: an empty entry gives it one (server seed 1879).
      if (node.inc!.sm.applied < c.latestConfIndex) return
      c.log(`operator proposes an empty entry to n${leader}, still in a joint configuration`)
      driver.propose(new Uint8Array(0)).catch(() => {})
      return
    }
    if (c.liveness && !isJoint(node.conf)) return
    const spare = this.nextSpare <= c.total ? this.nextSpare : 0
    const cc = planConfChange(p, node.conf, spare, c.options.learners)
    if (cc === null) return
    if (!this.quorumStaysStarted(leader, node.conf, cc)) {
      // etcd refuses such a change (--strict-reconfig-check, on by default). Made anyway, a
      // partitioned voter can be left holding the only other vote, stale and campaigning in its
      // old configuration: without PreVote it can out-race the up-to-date voter forever
      // (seed 12684).
      c.log(
        `operator: ${describeCc(cc)} refused: re-configuration failed due to not enough started members`,
      )
      return
    }
    if (ccNodes(cc).includes(BigInt(spare))) this.nextSpare++
    c.log(`operator asks n${leader} for ${describeCc(cc)}`)
    driver.proposeConfChange(cc).catch((err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err)
      c.log(`conf change refused by n${leader}: ${msg}`)
    })
  }

  /** A newer configuration is in force: start the nodes it adds, retire the ones it dropped. */
  configChanged(index: number, cs: ConfState): void {
    const c = this.c
    c.latestConf = cs
    c.latestConfIndex = index
    c.memberIds = [...confMembers(cs)].sort((a, b) => a - b)
    for (const id of c.memberIds) {
      const node = c.nodes[id] as SimNode
      if (node.joined) continue
      node.joined = true
      c.note(Ev.Join, id, index)
      c.log(`n${id} joins the cluster, empty`)
      c.start(node)
    }
  }

  /**
   * A leader appending a conf change of its own term: the previous conf change in its log must
   * be applied already (raft allows one pending change at a time).
   */
  leaderAppending(node: SimNode, view: RaftView, ents: readonly Entry[]): void {
    const applied = view.applied
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!
      if (e.type === EntryType.EntryNormal || e.term !== view.term) continue
      let prev = 0
      for (let j = k - 1; j >= 0 && prev === 0; j--) {
        if (ents[j]!.type !== EntryType.EntryNormal) prev = ents[j]!.index
      }
      const s = node.storage
      const lo = Math.max(applied + 1, s.firstIndex())
      const hi = Math.min(e.index, s.lastIndex() + 1, ents[0]!.index)
      if (prev === 0 && lo < hi) {
        for (const x of s.entries(lo, hi, Infinity))
          if (x.type !== EntryType.EntryNormal) prev = x.index
      }
      this.c.membership.leaderAppended(node.id, view.term, e.index, prev, applied)
    }
  }

  /**
   * Stops the nodes the latest configuration dropped, once every member has applied it: until
   * then a member still in an older configuration may need the removed node's vote (a two-voter
   * group removing its leader, say), as etcd keeps a removed member up until it learns it left.
   */
  private retireRemoved(): void {
    const c = this.c
    for (const id of c.memberIds) {
      const inc = (c.nodes[id] as SimNode).inc
      if (inc === null || inc.sm.applied < c.latestConfIndex) return
    }
    const members = new Set(c.memberIds)
    for (let id = 1; id <= c.total; id++) {
      const node = c.nodes[id] as SimNode
      if (!active(node) || members.has(id)) continue
      if (node.inc !== null) c.crash(node, 'retired: removed from the configuration')
      node.removed = true
      node.sm = null
      c.note(Ev.Retire, id, c.latestConfIndex)
    }
  }

  /**
   * etcd's strict reconfiguration check (etcdserver mayRemoveMember): a change that takes a voter
   * away is made only when the voters it leaves that the leader is connected to, and that are up
   * and not brand new, still form a quorum of the voters it leaves.
   */
  private quorumStaysStarted(
    leader: number,
    cs: ConfState,
    cc: ConfChange | ConfChangeV2,
  ): boolean {
    const c = this.c
    const after = new Set(cs.voters.map(Number))
    for (const change of 'changes' in cc ? cc.changes : [cc]) {
      const id = Number(change.nodeId)
      if (change.type === ConfChangeType.ConfChangeAddNode) after.add(id)
      else if (change.type !== ConfChangeType.ConfChangeUpdateNode) after.delete(id)
    }
    if (cs.voters.every((v) => after.has(Number(v)))) return true
    const known = new Set([...cs.voters, ...cs.learners].map(Number))
    let started = 0
    for (const id of after) {
      const n = c.nodes[id] as SimNode
      const reachable = c.net.connected(leader, id) && c.net.connected(id, leader)
      if (id === leader || (known.has(id) && n.driver !== null && reachable)) started++
    }
    return started >= Math.floor(after.size / 2) + 1
  }
}

function ccNodes(cc: ConfChange | ConfChangeV2): bigint[] {
  return 'changes' in cc ? cc.changes.map((x) => x.nodeId) : [cc.nodeId]
}

function describeCc(cc: ConfChange | ConfChangeV2): string {
  const v2 = 'changes' in cc
  const changes = v2 ? cc.changes : [cc]
  const ops = changes.map((x) => `${ConfChangeType[x.type]} ${x.nodeId}`).join(', ')
  return v2 ? `ConfChangeV2 ${ConfChangeTransition[cc.transition]} [${ops}]` : `ConfChange ${ops}`
}
