/**
 * What the cluster sees of its nodes, reported to the checkers from outside the code under test:
 * role changes and the leader's log and votes at election, commit indexes (the commit rule
 * before the commit index is recorded), ReadIndex answers and the quorum behind them, what each
 * node persists, applies and restores. The cluster calls it from the drivers' observer hook and
 * from its NodeHost methods (sim-node.ts).
 */
import {
  StateType,
  type ConfState,
  type Entry,
  type RaftView,
  type Ready,
  type Snapshot,
} from '../raft/index.js'
import type { AppliedConfChange, StorageWrite } from '../node/index.js'
import type { LogView } from './checkers.js'
import type { Cluster } from './cluster.js'
import { hashBytes } from './kv.js'
import type { Machine } from './machine.js'
import { confKey } from './membership.js'
import { Ev, confChangeBytes, type Incarnation, type SimNode } from './sim-node.js'

/**
 * How a leader answered a ReadIndex request: `lapse` (lease reads) is null while it could hold
 * its lease, else why not; `quorumSeq` (ReadOnlySafe) is the latest delivery after which a
 * quorum had answered it (watch.ts).
 */
export interface ReadAnswer {
  lapse: string | null
  quorumSeq: number
}

export class Observer {
  /** ReadIndex answers given, by (node answered, index): the latest one (watch.ts). */
  private readonly readAnswers = new Map<number, ReadAnswer>()
  /**
   * Ticks between raft's answer to a read and the Ready (or the send after persisting it) in
   * which the cluster sees it, at most.
   */
  private readonly answerDelayTicks: number
  /** How far back a configuration a node held may have counted its votes or acks. */
  private readonly recentTicks: number

  constructor(private readonly c: Cluster) {
    this.answerDelayTicks = 2 * (c.options.syncTicksMax + 1) + 1
    this.recentTicks = 3 * c.options.electionTick + this.answerDelayTicks
  }

  readyTaken(inc: Incarnation, rd: Ready, view: RaftView): void {
    if (!inc.alive) return
    const node = inc.node
    if (rd.softState !== null) {
      this.c.note(Ev.RoleChange, node.id, view.term * 8 + rd.softState.raftState)
      this.c.log(
        `n${node.id} ${StateType[rd.softState.raftState]} term ${view.term} lead ${rd.softState.lead}`,
      )
      if (rd.softState.raftState === StateType.StateLeader) {
        inc.watch.becameLeader(inc.clock.now)
        this.c.membership.leaderElected(node.id, view.term, node.conf)
        const votes = inc.watch.votesIn(view.term)
        this.c.checker.leaderVotes(node.id, view.term, votes, this.recentConfs(inc))
        const log: LogView = {
          firstIndex: view.firstIndex(),
          lastIndex: view.lastIndex(),
          termAt: (i) => view.termAt(i),
        }
        this.c.checker.leaderLog(node.id, view.term, log)
      }
    }
    // The commit rule first: committed() below records the new commit index as seen. A node
    // becomes leader only in a Ready after its candidacy's, so an advance seen here while it
    // leads was made while it led.
    if (view.state === StateType.StateLeader) {
      const c = view.committed
      this.c.checker.leaderCommitted(node.id, view.term, c, view.termAt(c), this.recentConfs(inc))
    }
    this.c.checker.committed(node.id, view.committed, (i) => view.termAt(i))
    if (rd.readStates.length > 0 && view.state === StateType.StateLeader) {
      for (const rs of rd.readStates) this.readAnswered(inc, view, node.id, rs.index)
    }
  }

  /** The configurations the incarnation held lately, the current one first. */
  private recentConfs(inc: Incarnation): ConfState[] {
    const now = inc.clock.now
    return inc.watch.confsSince(now - this.recentTicks, inc.node.conf, now)
  }

  /**
   * Leader `inc` answered a ReadIndex request of node `to` at `index`: with a lease, whether it
   * could still hold one; otherwise the latest delivery after which a quorum had answered it.
   */
  readAnswered(inc: Incarnation, view: RaftView, to: number, index: number): void {
    const id = inc.node.id
    const answer: ReadAnswer = this.c.options.readLease
      ? {
          lapse: inc.watch.lapse(
            id,
            view.term,
            inc.node.conf,
            inc.clock.now,
            this.c.options.electionTick,
            this.answerDelayTicks,
          ),
          quorumSeq: Infinity,
        }
      : { lapse: null, quorumSeq: inc.watch.quorumSeq(id, view.term, this.recentConfs(inc)) }
    this.readAnswers.set(index * 64 + to, answer)
  }

  /** The latest answer given to a ReadIndex request of `node` at `index`, if seen. */
  readAnswer(node: number, index: number): ReadAnswer | undefined {
    return this.readAnswers.get(index * 64 + node)
  }

  saving(node: SimNode, w: StorageWrite): void {
    const view = node.driver?.view
    if (view === undefined || view.state !== StateType.StateLeader) return
    if (this.c.operator !== null && w.entries !== undefined) {
      this.c.operator.leaderAppending(node, view, w.entries)
    }
  }

  persisting(
    node: SimNode,
    ents: readonly Entry[],
    kept: number,
    snap: Snapshot | undefined,
  ): void {
    if (snap !== undefined) this.c.checker.snapshotPersisted(node.id, snap.metadata.index)
    if (kept === 0) return
    const before = ents[0]!.index - 1
    let prevTerm =
      snap !== undefined
        ? before === snap.metadata.index
          ? snap.metadata.term
          : -1
        : termOrUnknown(node, before)
    for (let i = 0; i < kept; i++) {
      const e = ents[i]!
      this.c.checker.persisted(node.id, e.index, e.term, hashBytes(e.data), prevTerm)
      prevTerm = e.term
    }
  }

  applied(node: SimNode, e: Entry, sm: Machine): void {
    this.c.checker.applied(node.id, e.index, e.term, hashBytes(e.data), sm.hash)
    this.c.note(Ev.Apply, node.id, e.index)
    if (this.c.trace !== null) {
      const what = sm.describeLast()
      this.c.log(`n${node.id} apply ${e.index} term ${e.term} ${what}`)
    }
  }

  confApplied(node: SimNode, c: AppliedConfChange, sm: Machine): void {
    if (node.inc !== null) node.inc.watch.confIs(c.confState, node.inc.clock.now)
    this.c.checker.applied(node.id, c.index, c.term, hashBytes(confChangeBytes(c.change)), sm.hash)
    this.c.note(Ev.Apply, node.id, c.index)
    this.c.membership.confApplied(node.id, c.index, c.confState)
    this.c.note(Ev.ConfChange, node.id, c.index)
    this.c.log(`n${node.id} applies conf change at ${c.index}: ${confKey(c.confState)}`)
    if (c.index > this.c.latestConfIndex) this.c.operator?.configChanged(c.index, c.confState)
  }

  restored(node: SimNode, sm: Machine, cs: ConfState): void {
    if (node.inc !== null) node.inc.watch.confIs(cs, node.inc.clock.now)
    this.c.checker.snapshotApplied(node.id, sm.applied, sm.hash)
    this.c.membership.snapshotInstalled(node.id, sm.applied, cs)
    this.c.note(Ev.SnapshotInstall, node.id, sm.applied)
    this.c.log(`n${node.id} installs snapshot ${sm.applied}`)
  }
}

function termOrUnknown(node: SimNode, i: number): number {
  const s = node.storage
  if (i < s.firstIndex() - 1 || i > s.lastIndex()) return -1
  return s.term(i)
}
