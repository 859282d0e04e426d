/**
 * A Raft cluster in one process, driven tick by tick from one seed (TigerBeetle's VOPR,
 * FoundationDB's simulator). It owns the nodes' simulated durable state, the network, the faults
 * and the client workload; it reports what it observes to the Checker and never looks inside the
 * Raft core to decide whether the core is right.
 *
 * Durable state: each node's MemoryStorage is its disk. A Ready is handled in etcd's order
 * (persist snapshot, entries, HardState; send; apply; advance) and a crash can strike at any of
 * those steps, so whatever was not yet written is lost with the node's memory. A torn write keeps
 * a prefix of the entries and no HardState, as a WAL truncated at a record boundary would.
 *
 * The state machine: with `smDurable` it survives crashes as etcd's bbolt backend does and the
 * node restarts with `applied` = the state machine's applied index; otherwise it is rebuilt from
 * the storage snapshot and the node restarts at the snapshot index, re-applying the committed log
 * after it. Either way a snapshot newer than the state machine replaces it on restart (etcd's
 * recoverSnapshotBackend). Snapshots carry the whole state machine, including its rolling hash.
 *
 * One tick: faults, workload, each node's clock, then delivery rounds (deliver what is due,
 * handle one Ready per node) until the tick is quiet, so zero-delay messages arrive the same tick.
 */
import {
  EntryType,
  LevelLogger,
  LogLevel,
  MessageType,
  RaftError,
  RawNode,
  ReadOnlyOption,
  SnapshotStatus,
  StateType,
  discardLogger,
  isEmptySnap,
  LocalAppendThread,
  LocalApplyThread,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  type Logger,
  type Message,
  type Ready,
  type SoftState,
  type Storage,
} from '../raft/index.js'
import { Checker, Violation, type LogView } from './checkers.js'
import { HistoryRecorder } from './history.js'
import { KvStateMachine, Op, encodeCommand, hashBytes, mixHash, type Command } from './kv.js'
import {
  MembershipChecker,
  confKey,
  confMembers,
  decodeConfEntry,
  isJoint,
  isVoter,
  planConfChange,
} from './membership.js'
import { SimNet } from './net.js'
import { MemoryDiskState, WalDiskState, type NodeDiskState } from './node-disk-state.js'
import type { SimOptions } from './options.js'
import { Prng } from './prng.js'

/** Where in the Ready cycle a node marked to crash stops. */
export const enum CrashPoint {
  None = -1,
  BetweenReadies = 0,
  BeforePersist = 1,
  TornPersist = 2,
  AfterPersist = 3,
  AfterSend = 4,
  MidApply = 5,
  AfterApply = 6,
}
const CRASH_POINT_COUNT = 7

/** Delivery rounds per tick; what is still due after them waits for the next tick. */
const ROUNDS_MAX = 8

/** What the run's hash and counters record; the counters show whether a seed exercised much. */
export enum Ev {
  Start = 1,
  Crash = 2,
  RoleChange = 3,
  SnapshotInstall = 4,
  Apply = 5,
  WriteAck = 6,
  ReadServed = 7,
  Deliver = 8,
  Liveness = 9,
  Heal = 10,
  Partition = 11,
  Compact = 12,
  Submit = 13,
  LeaseStaleRead = 14,
  Transfer = 15,
  ConfChange = 16,
  Join = 17,
  Retire = 18,
}
const EV_COUNT = 19

const enum Report {
  Unreachable = 0,
  SnapshotFinish = 1,
  SnapshotFailure = 2,
}

class SimNode {
  rn: RawNode | null = null
  sm: KvStateMachine | null = null
  crashPoint: CrashPoint = CrashPoint.None
  /** Restart at the next tick: a supervisor bringing the process straight back. */
  restartAtOnce = false
  downSince = 0
  tickAccPermille = 0
  /** Async mode: MsgStorageAppend and MsgStorageApply waiting for the node's disk threads. */
  appendQueue: Message[] = []
  applyQueue: Message[] = []
  /** The commit index of the durable HardState (or the snapshot, when higher). */
  durableCommit = 0
  /**
   * Async mode: the index of the newest snapshot raft handed to the append thread. Raft switches
   * to the snapshot's configuration when it receives it, so entries it covers that are still
   * queued for the apply thread must be skipped, conf changes included.
   */
  queuedSnapIndex = 0
  /** Async mode: (client, seq, index) of applied writes waiting for a durable commit index. */
  readonly pendingAcks: number[] = []
  /** ReadIndex requests sent, by request context number -> client id. */
  readonly pendingReads = new Map<number, number>()
  /** ReadStates received, waiting until the state machine reaches their index. */
  readonly waitingReads: { ctx: number; client: number; index: number }[] = []
  /** Started once: an initial voter, or a spare after a configuration added it. */
  joined = true
  /** Out of the configuration and retired for good (see retireRemoved). */
  removed = false
  /** The configuration this node applied, and the index of its last conf change. */
  conf: ConfState
  confIndex = 0

  constructor(
    readonly id: number,
    readonly prng: Prng,
    /** The node's disk: persists Readies, survives crashes, reopens on restart. */
    readonly disk: NodeDiskState,
    conf: ConfState,
  ) {
    this.conf = conf
  }

  /** The raft Storage the disk holds now. */
  get storage(): Storage {
    return this.disk.storage
  }
}

interface Client {
  readonly id: number
  seq: number
  busy: boolean
  isRead: boolean
  cmd: Command
  target: number
  targetWasLeader: boolean
  deadline: number
  readCtx: number
  /** The highest index committed (or of a write acknowledged) before this operation started. */
  committedAtStart: number
  /** The highest index of a write acknowledged to a client before this operation started. */
  ackedAtStart: number
}

export class Cluster {
  readonly nodes: SimNode[] = []
  readonly checker: Checker
  readonly net: SimNet
  now = 0
  /** Client operations completed (writes applied at their node, reads served). */
  opsDone = 0
  /** A rolling hash of everything that happened: equal hashes mean equal runs. */
  hash = 0
  liveness = false
  /** How often each Ev happened. */
  readonly counts = new Int32Array(EV_COUNT)
  /** The client-visible history, for the linearizability checker (see recordInvoke). */
  readonly history = new HistoryRecorder()
  private readonly clients: Client[] = []
  private readonly faults: Prng
  private readonly workload: Prng
  private readonly wire: Prng
  private readonly confState: ConfState
  private readonly logger: Logger
  private readonly reports: number[] = []
  private partitioned = false
  private readCounter = 0
  private valueCounter = 0
  private ackedWriteMax = 0
  /** Every node id, initial voters and spares. */
  private readonly total: number
  readonly membership: MembershipChecker
  /** The configuration after the highest conf-change index any node applied. */
  private latestConf: ConfState
  private latestConfIndex = 0
  /** The nodes of latestConf, ascending. */
  private memberIds: number[]
  private nextSpare: number
  /** The membership operator's own stream, forked last so other seeds are unchanged. */
  private operator: Prng | null = null

  constructor(
    readonly options: SimOptions,
    readonly trace: string[] | null,
  ) {
    const root = new Prng(options.seed)
    root.nextU32() // options.ts drew from a generator with this seed; start elsewhere
    this.faults = root.fork()
    this.workload = root.fork()
    this.wire = root.fork()
    const n = options.nodeCount
    this.total = n + options.spareNodes
    this.nextSpare = n + 1
    this.checker = new Checker(this.total)
    this.net = new SimNet(this.total, options.delayMax, options.reorder)
    const voters = Array.from({ length: n }, (_, i) => BigInt(i + 1))
    this.confState = {
      voters,
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    }
    this.latestConf = this.confState
    this.memberIds = Array.from({ length: n }, (_, i) => i + 1)
    this.membership = new MembershipChecker(this.total, this.confState)
    this.logger =
      trace === null
        ? discardLogger
        : new LevelLogger(LogLevel.Info, (_level, message) =>
            trace.push(`${this.now} raft ${message}`),
          )
    const boot = new KvStateMachine(1, 0).snapshot()
    for (let id = 1; id <= n; id++) {
      const prng = root.fork()
      const disk = options.walDisk
        ? new WalDiskState({
            nodeId: id,
            rand: prng.fork(),
            segmentBytes: options.segmentBytes,
            syncTicksMax: options.syncTicksMax,
          })
        : new MemoryDiskState()
      const node = new SimNode(id, prng, disk, this.confState)
      node.disk.bootstrap({
        data: boot,
        metadata: { index: 1, term: 1, confState: this.confState },
      })
      this.nodes[id] = node
      this.start(node)
    }
    for (let id = 0; id < options.clientCount; id++) {
      this.clients.push({
        id,
        seq: 0,
        busy: false,
        isRead: false,
        cmd: { op: Op.Put, client: id, seq: 0, key: 0, value: 0, expected: 0 },
        target: 0,
        targetWasLeader: false,
        deadline: 0,
        readCtx: 0,
        committedAtStart: 0,
        ackedAtStart: 0,
      })
    }
    if (!options.membership) return
    for (let id = n + 1; id <= this.total; id++) {
      // Membership seeds keep their nodes on MemoryStorage (see options.ts).
      const node = new SimNode(id, root.fork(), new MemoryDiskState(), {
        ...this.confState,
        voters: [],
      })
      node.joined = false
      this.nodes[id] = node
    }
    this.operator = root.fork()
  }

  /** Advances the whole cluster by one tick. */
  tick(): void {
    if (!this.liveness) this.injectFaults()
    this.runWorkload()
    if (this.operator !== null) this.runOperator(this.operator)
    for (let id = 1; id < this.nodes.length; id++) {
      const node = this.nodes[id] as SimNode
      if (node.rn === null) continue
      // Clock skew is a fault of the safety phase: Raft's liveness rests on randomized timeouts
      // over clocks that run at about the same rate (seed 42638: a 15% faster voter with a
      // shorter log, PreVote off, disrupted every election of the other voter for 880 ticks).
      const rate = this.liveness ? 1000 : (this.options.tickRatePermille[id] ?? 1000)
      node.tickAccPermille += rate
      while (node.tickAccPermille >= 1000) {
        node.tickAccPermille -= 1000
        node.rn.tick()
      }
    }
    for (let round = 0; round < ROUNDS_MAX; round++) {
      this.flushReports()
      let busy = false
      const due = this.net.takeDue(this.now)
      if (due.length > 0) {
        busy = true
        if (this.options.reorder) this.wire.shuffle(due)
        for (const m of due) this.deliver(m)
      }
      for (let id = 1; id < this.nodes.length; id++) {
        const node = this.nodes[id] as SimNode
        if (node.rn !== null && this.handleReady(node)) busy = true
        if (node.rn !== null && this.runStorageThreads(node)) busy = true
      }
      if (!busy) break
    }
    this.net.carryOver(this.now)
    this.now++
  }

  /** Ends the safety phase: heal the network, restart every crashed node, stop injecting faults. */
  startLiveness(): void {
    this.liveness = true
    this.net.healAll()
    this.partitioned = false
    for (let id = 1; id < this.nodes.length; id++) {
      const node = this.nodes[id] as SimNode
      node.crashPoint = CrashPoint.None
      if (node.rn === null && active(node)) this.start(node)
    }
    this.note(Ev.Liveness, 0, 0)
    this.log('liveness phase: network healed, all nodes up')
  }

  /** A leader that every node follows, and every node has applied the leader's whole log. */
  converged(): boolean {
    const leader = this.leaderId()
    if (leader === 0 || !isVoter(this.latestConf, leader)) return false
    if (isJoint(this.latestConf)) return false
    const log = (this.nodes[leader] as SimNode).rn!.view
    const last = log.lastIndex()
    if (log.committed !== last) return false
    for (const id of this.memberIds) {
      const node = this.nodes[id] as SimNode
      if (node.rn === null || node.sm === null) return false
      if (node.rn.view.lead !== BigInt(leader) || node.sm.applied !== last) return false
    }
    return true
  }

  /** A live leader that every node follows. */
  hasLeader(): boolean {
    const leader = BigInt(this.leaderId())
    if (leader === 0n || !isVoter(this.latestConf, Number(leader))) return false
    for (const id of this.memberIds) {
      const rn = (this.nodes[id] as SimNode).rn
      if (rn === null || rn.view.lead !== leader) return false
    }
    return true
  }

  /** The leader's last log index, or 0 without a leader. */
  leaderLastIndex(): number {
    const leader = this.leaderId()
    return leader === 0 ? 0 : (this.nodes[leader] as SimNode).rn!.view.lastIndex()
  }

  /** The lowest applied index over the live nodes. */
  minApplied(): number {
    let min = Infinity
    for (const id of this.memberIds) {
      const sm = (this.nodes[id] as SimNode).sm
      if (sm !== null && sm.applied < min) min = sm.applied
    }
    return min
  }

  /** One line per node, for failure reports. */
  describe(): string {
    const lines: string[] = []
    for (let id = 1; id < this.nodes.length; id++) {
      const node = this.nodes[id] as SimNode
      if (!active(node)) {
        lines.push(`  node ${id}: ${node.removed ? 'removed' : 'never added'}`)
        continue
      }
      if (node.rn === null) {
        lines.push(`  node ${id}: down since ${node.downSince}`)
        continue
      }
      const r = node.rn.view
      lines.push(
        `  node ${id}: ${StateType[r.state]} term ${r.term} lead ${r.lead} ` +
          `last ${r.lastIndex()} commit ${r.committed} applied ${node.sm?.applied}` +
          (this.operator !== null ? ` conf ${confKey(node.conf)}` : ''),
      )
    }
    return lines.join('\n')
  }

  private start(node: SimNode): void {
    // A WAL is reopened asynchronously after a crash; the node comes back once it is open.
    if (!node.disk.ready()) {
      node.restartAtOnce = true
      return
    }
    let snap = node.storage.snapshot()
    let sm = this.options.smDurable ? node.sm : null
    if (sm === null || sm.applied < snap.metadata.index) {
      // A node added to the cluster starts empty and waits for the leader's snapshot.
      sm = snap.metadata.index === 0 ? new KvStateMachine(0, 0) : KvStateMachine.restore(snap.data)
      node.conf = snap.metadata.confState
      node.confIndex = snap.metadata.index
    } else if (node.confIndex > snap.metadata.index) {
      // The durable state machine applied a conf change after the storage snapshot. Raft
      // restarts from the snapshot's ConfState and will not hand those entries out again, so
      // persist the state machine's configuration with a snapshot at its applied index.
      node.disk.createSnapshot(sm.applied, node.conf, sm.snapshot())
      snap = node.storage.snapshot()
      node.confIndex = sm.applied
    }
    if (sm.applied < snap.metadata.index) throw new Error('snapshot data behind its metadata')
    node.sm = sm
    node.restartAtOnce = false
    let hs = node.storage.initialState().hardState
    if (hs.term > 0 && hs.commit < snap.metadata.index) {
      // A torn write after a received snapshot keeps the snapshot but not the HardState of the
      // same Ready; raft refuses a commit index below the snapshot (loadState panics). A
      // snapshot is committed by definition: raise the durable commit index to it.
      hs = { ...hs, commit: snap.metadata.index }
      node.disk.setHardState(hs)
    }
    // Raft restarts with commit = max(HardState.commit, first log index - 1) and refuses an
    // applied index above it. In async mode the apply thread can run ahead of the append
    // thread's HardState write, so a durable state machine, or a snapshot taken from it, can be
    // past that. What was applied was committed: raise the durable commit index to it.
    if (sm.applied > Math.max(hs.commit, node.storage.firstIndex() - 1)) {
      if (!this.options.asyncStorageWrites) throw new Error('applied past the durable commit')
      node.disk.setHardState({ ...hs, commit: sm.applied })
    }
    node.durableCommit = Math.max(hs.commit, snap.metadata.index, sm.applied)
    node.queuedSnapIndex = 0
    const o = this.options
    node.rn = new RawNode({
      id: BigInt(node.id),
      electionTick: o.electionTick,
      heartbeatTick: o.heartbeatTick,
      storage: node.storage,
      applied: sm.applied,
      maxSizePerMsg: o.maxSizePerMsg,
      maxInflightMsgs: o.maxInflightMsgs,
      maxInflightBytes: o.maxInflightBytes,
      maxCommittedSizePerReady: o.maxCommittedSizePerReady,
      asyncStorageWrites: o.asyncStorageWrites,
      persistTermBeforeSend: o.asyncStorageWrites,
      checkQuorum: o.checkQuorum,
      preVote: o.preVote,
      readOnlyOption: o.readLease ? ReadOnlyOption.ReadOnlyLeaseBased : ReadOnlyOption.ReadOnlySafe,
      logger: this.logger,
      rand: node.prng.fork(),
      stepDownOnRemoval: o.stepDownOnRemoval,
    })
    node.tickAccPermille = 0
    this.checker.restarted(node.id, sm.applied, node.rn.view.committed)
    this.membership.restarted(node.id, sm.applied)
    this.note(Ev.Start, node.id, sm.applied)
    if (this.now > 0) this.log(`n${node.id} restart applied ${sm.applied}`)
  }

  private crash(node: SimNode, where: string): void {
    node.disk.crash()
    node.rn = null
    node.crashPoint = CrashPoint.None
    node.downSince = this.now
    if (!this.options.smDurable) node.sm = null
    node.pendingReads.clear()
    node.waitingReads.length = 0
    node.appendQueue = []
    node.applyQueue = []
    node.pendingAcks.length = 0
    this.checker.crashed(node.id)
    this.note(Ev.Crash, node.id, 0)
    this.log(`n${node.id} CRASH ${where}`)
  }

  /** Handles one Ready of `node`, crashing it where marked; false when there was none. */
  private handleReady(node: SimNode): boolean {
    const o = this.options
    // Durable persists first: their Readies continue (send, apply, advance) before a new one.
    const resumed = node.disk.resume()
    const rn = node.rn
    if (rn === null) return resumed
    if ((!o.asyncStorageWrites && node.disk.busy()) || !rn.hasReady()) return resumed
    const rd = rn.ready()
    if (rd.softState !== null) this.roleChanged(node, rd.softState)
    // A vote must survive a crash right after it was sent. Sync mode sends it with the Ready;
    // async mode from the append thread (see appendWork).
    if (!o.asyncStorageWrites && node.crashPoint === CrashPoint.None) {
      if (grantsVote(rd.messages) && this.voterCrash()) {
        node.crashPoint = CrashPoint.AfterSend
        node.restartAtOnce = true
      }
    }
    if (node.crashPoint === CrashPoint.BeforePersist) {
      this.crash(node, 'before persist')
      return true
    }
    if (rd.hardState !== null && rn.view.state === StateType.StateLeader) {
      const hs = rd.hardState
      const entryTerm = rn.view.termAt(hs.commit)
      this.checker.leaderCommitted(node.id, hs.term, hs.commit, entryTerm)
    }
    this.takeReadStates(node, rd)
    if (o.asyncStorageWrites) this.routeAsync(node, rd)
    else this.handleSync(node, rd)
    if (node.rn !== null) {
      const log = node.rn.view
      this.checker.committed(node.id, log.committed, (i) => log.termAt(i))
    }
    return true
  }

  /** Sync mode: persist, send, apply, advance, in that order (etcd-io/raft doc.go). */
  private handleSync(node: SimNode, rd: Ready): void {
    const torn = node.crashPoint === CrashPoint.TornPersist
    this.persist(node, rd.snapshot, rd.entries, rd.hardState, torn, () =>
      this.afterPersist(node, rd),
    )
  }

  /** Sync mode, once the Ready is durable. */
  private afterPersist(node: SimNode, rd: Ready): void {
    const point = node.crashPoint
    if (point === CrashPoint.AfterPersist) return this.crash(node, 'after persist, before send')
    for (const m of rd.messages) this.send(node.id, m)
    if (point === CrashPoint.AfterSend) return this.crash(node, 'after send, before apply')
    if (!isEmptySnap(rd.snapshot)) this.installSnapshot(node, rd.snapshot!)
    if (!this.apply(node, rd.committedEntries, point === CrashPoint.MidApply)) return
    if (point === CrashPoint.AfterApply) return this.crash(node, 'after apply, before advance')
    ;(node.rn as RawNode).advance()
  }

  /**
   * Async mode: network messages leave at once; MsgStorageAppend and MsgStorageApply queue for
   * the node's append and apply threads, which work in order and hand back their responses
   * only when done (etcd-io/raft rawnode.go, AsyncStorageWrites).
   */
  private routeAsync(node: SimNode, rd: Ready): void {
    // The nodes run with persistTermBeforeSend: a Ready whose HardState moves the term or the
    // vote carries its network messages as responses of its MsgStorageAppend. Without it a leader
    // elected without its own (durable) vote can send entries of a term it then forgets in a
    // crash, win the same term again and append different entries at the same indexes (seed 381
    // with codec entry sizes).
    for (const m of rd.messages) {
      if (m.to === LocalAppendThread) {
        node.appendQueue.push(m)
        if (m.snapshot !== null && !isEmptySnap(m.snapshot)) {
          node.queuedSnapIndex = m.snapshot.metadata.index
        }
      } else if (m.to === LocalApplyThread) node.applyQueue.push(m)
      else this.send(node.id, m)
    }
    if (node.crashPoint === CrashPoint.AfterSend) this.crash(node, 'after send, writes queued')
  }

  /** Runs the node's append and apply threads, each on its own simulated disk latency. */
  private runStorageThreads(node: SimNode): boolean {
    const p = this.faults
    let busy = false
    if (node.appendQueue.length > 0 && p.chance(this.options.diskRate)) {
      busy = true
      const work = node.appendQueue
      node.appendQueue = []
      for (const m of work) {
        if (node.rn === null) return true
        this.appendWork(node, m)
      }
    }
    if (node.rn !== null && node.applyQueue.length > 0 && p.chance(this.options.diskRate)) {
      busy = true
      const work = node.applyQueue
      node.applyQueue = []
      for (const m of work) {
        if (node.rn === null) return true
        this.applyWork(node, m)
      }
    }
    if (node.rn !== null) this.serveReads(node, node.sm as KvStateMachine)
    return busy
  }

  private appendWork(node: SimNode, m: Message): void {
    const point = node.crashPoint
    if (point === CrashPoint.BeforePersist) return this.crash(node, 'before the append thread ran')
    const hs = m.term !== 0 ? { term: m.term, vote: m.vote, commit: m.commit } : null
    const torn = point === CrashPoint.TornPersist
    this.persist(node, m.snapshot, m.entries, hs, torn, () => this.appendDone(node, m))
  }

  /** Async mode, once the append thread's write is durable. */
  private appendDone(node: SimNode, m: Message): void {
    const point = node.crashPoint
    if (m.snapshot !== null && !isEmptySnap(m.snapshot)) this.installSnapshot(node, m.snapshot)
    if (point === CrashPoint.AfterPersist) return this.crash(node, 'after append, before replies')
    this.respond(node, m.responses)
    if (node.rn !== null && grantsVote(m.responses) && this.voterCrash()) {
      this.crash(node, 'right after granting a vote')
      node.restartAtOnce = true
    }
  }

  private applyWork(node: SimNode, m: Message): void {
    const point = node.crashPoint
    if (!this.apply(node, m.entries, point === CrashPoint.MidApply)) return
    if (point === CrashPoint.AfterApply) return this.crash(node, 'after apply, before replies')
    this.respond(node, m.responses)
  }

  /** Delivers a storage thread's responses: to the node itself, or over the network. */
  private respond(node: SimNode, responses: Message[]): void {
    for (const r of responses) {
      const rn = node.rn
      if (rn === null) return
      if (r.to !== BigInt(node.id)) {
        this.send(node.id, r)
        continue
      }
      try {
        rn.step(r)
      } catch (e) {
        if (!(e instanceof RaftError)) throw e
      }
    }
  }

  private voterCrash(): boolean {
    const rate = this.options.voterCrashRate
    return !this.liveness && rate > 0 && this.faults.chance(rate)
  }

  private roleChanged(node: SimNode, ss: SoftState): void {
    const r = (node.rn as RawNode).view
    this.note(Ev.RoleChange, node.id, r.term * 8 + ss.raftState)
    this.log(`n${node.id} ${StateType[ss.raftState]} term ${r.term} lead ${ss.lead}`)
    if (ss.raftState !== StateType.StateLeader) return
    this.membership.leaderElected(node.id, r.term, node.conf)
    const log = r
    const view: LogView = {
      firstIndex: log.firstIndex(),
      lastIndex: log.lastIndex(),
      termAt: (i) => log.termAt(i),
    }
    this.checker.leaderLog(node.id, r.term, view)
  }

  /**
   * Writes a snapshot, entries and HardState in WAL order and runs `then` once they are durable.
   * A torn write crashes the node while writing: on a MemoryStorage a prefix of the entries and
   * no HardState survive; on a WAL all is written and the power loss decides what survives.
   */
  private persist(
    node: SimNode,
    snap: Snapshot | null,
    ents: Entry[],
    hs: HardState | null,
    torn: boolean,
    then: () => void,
  ): void {
    const hasSnap = !isEmptySnap(snap)
    let kept = ents.length
    if (this.operator !== null) this.checkPendingConf(node, ents)
    if (ents.length > 0) {
      if (torn) kept = node.disk.tornKeep(ents.length, this.faults)
      const before = ents[0]!.index - 1
      let prevTerm = hasSnap
        ? before === snap!.metadata.index
          ? snap!.metadata.term
          : -1
        : termOrUnknown(node.storage, before)
      for (let i = 0; i < kept; i++) {
        const e = ents[i]!
        this.checker.persisted(node.id, e.index, e.term, hashBytes(e.data), prevTerm)
        prevTerm = e.term
      }
    }
    if (torn) {
      node.disk.persist(snap, kept === ents.length ? ents : ents.slice(0, kept), null, () => {})
      this.crash(node, `torn write, kept ${kept} of ${ents.length} entries and no HardState`)
      return
    }
    node.disk.persist(snap, ents, hs, () => {
      if (hasSnap) node.durableCommit = Math.max(node.durableCommit, snap!.metadata.index)
      if (hs !== null) {
        node.durableCommit = hs.commit
        this.flushAcks(node)
      }
      then()
    })
  }

  private installSnapshot(node: SimNode, snap: Snapshot): void {
    const sm = KvStateMachine.restore(snap.data)
    if (sm.applied !== snap.metadata.index)
      throw new Error('snapshot data does not match its index')
    node.sm = sm
    node.conf = snap.metadata.confState
    node.confIndex = sm.applied
    this.checker.snapshotApplied(node.id, sm.applied, sm.hash)
    this.membership.snapshotInstalled(node.id, sm.applied, node.conf)
    this.note(Ev.SnapshotInstall, node.id, sm.applied)
    this.log(`n${node.id} installs snapshot ${sm.applied}`)
  }

  private takeReadStates(node: SimNode, rd: Ready): void {
    for (const rs of rd.readStates) {
      const ctx = decodeCtx(rs.requestCtx)
      const client = node.pendingReads.get(ctx)
      if (client === undefined) continue
      node.pendingReads.delete(ctx)
      node.waitingReads.push({ ctx, client, index: rs.index })
    }
  }

  /** Applies committed entries; false when the node crashed in the middle. */
  private apply(node: SimNode, ents: Entry[], mid: boolean): boolean {
    const sm = node.sm as KvStateMachine
    const stop = mid ? this.faults.intn(ents.length + 1) : ents.length
    for (let i = 0; i < stop; i++) {
      const e = ents[i]!
      // Async mode only: raft may have taken a snapshot past entries that were already queued for
      // the apply thread (the append thread may even have installed it); like etcd's apply loop,
      // skip what it covers. Applying a conf change it covers would act on the snapshot's
      // configuration, which raft already switched to: a leave-joint then panics (seed 417).
      const covered = Math.max(sm.applied, node.queuedSnapIndex)
      if (e.index <= covered && this.options.asyncStorageWrites) continue
      if (e.type !== EntryType.EntryNormal) this.applyConfChange(node, e)
      else sm.apply(e)
      this.checker.applied(node.id, e.index, e.term, hashBytes(e.data), sm.hash)
      this.note(Ev.Apply, node.id, e.index)
      if (this.trace !== null)
        this.log(`n${node.id} apply ${e.index} term ${e.term} ${describeData(sm)}`)
      if (sm.appliedClient >= 0) this.writeApplied(node, sm.appliedClient, sm.appliedSeq, e.index)
    }
    if (mid) {
      this.crash(node, `while applying, after ${stop} of ${ents.length} entries`)
      return false
    }
    this.serveReads(node, sm)
    return true
  }

  private writeApplied(node: SimNode, clientId: number, seq: number, index: number): void {
    if (index > node.durableCommit) {
      // Async mode: the apply thread can run ahead of the HardState write. Acknowledge only once
      // the commit index covering the write is durable, or a restarted single-voter leader could
      // answer a ReadIndex from an older commit index (etcd-io/raft skips the
      // committed-in-this-term wait for a single voter) and the client would read its write
      // undone.
      node.pendingAcks.push(clientId, seq, index)
      return
    }
    this.ackWrite(node, clientId, seq, index)
  }

  private ackWrite(node: SimNode, clientId: number, seq: number, index: number): void {
    const c = this.clients[clientId]
    if (c === undefined || !c.busy || c.isRead || c.seq !== seq || c.target !== node.id) return
    c.busy = false
    this.opsDone++
    const sm = node.sm as KvStateMachine
    if (sm.lastSeq[clientId] !== seq) throw new Error(`ack of client ${clientId} #${seq} lost`)
    if (c.cmd.op === Op.Put || sm.lastResult[clientId] === 1)
      this.history.complete(c.id, 'ok', this.now)
    else this.history.complete(c.id, 'fail', this.now, { error: 'mismatch' })
    if (index > this.ackedWriteMax) this.ackedWriteMax = index
    this.note(Ev.WriteAck, clientId, index)
  }

  /** Acknowledges the writes whose commit index has become durable. */
  private flushAcks(node: SimNode): void {
    const acks = node.pendingAcks
    if (acks.length === 0) return
    let kept = 0
    for (let i = 0; i < acks.length; i += 3) {
      const index = acks[i + 2]!
      if (index <= node.durableCommit) {
        this.ackWrite(node, acks[i]!, acks[i + 1]!, index)
        continue
      }
      acks[kept++] = acks[i]!
      acks[kept++] = acks[i + 1]!
      acks[kept++] = index
    }
    acks.length = kept
  }

  private serveReads(node: SimNode, sm: KvStateMachine): void {
    const waiting = node.waitingReads
    let kept = 0
    for (let i = 0; i < waiting.length; i++) {
      const w = waiting[i]!
      if (w.index > sm.applied) {
        waiting[kept++] = w
        continue
      }
      const c = this.clients[w.client]
      if (c === undefined || !c.busy || !c.isRead || c.readCtx !== w.ctx) continue
      const stale = w.index < c.committedAtStart
      if (stale) this.staleRead(node, c, w.index)
      // A lease read may be stale by design (see staleRead): its value is not checked.
      if (stale) this.history.complete(c.id, 'info', this.now, { error: 'stale lease read' })
      else this.history.complete(c.id, 'ok', this.now, { value: toValue(sm.values[c.cmd.key]!) })
      c.busy = false
      this.opsDone++
      this.note(Ev.ReadServed, c.id, w.index)
      this.log(`n${node.id} serves read of client ${c.id} at ${w.index} (applied ${sm.applied})`)
    }
    waiting.length = kept
  }

  /**
   * A read answered below the commit index its request saw. With ReadOnlySafe that breaks
   * linearizability. With lease reads etcd-io/raft allows it even without clock drift: a deposed
   * leader keeps leading until its next CheckQuorum round, up to two election timeouts after it
   * was cut off, while the others elect a successor after one (sofa-jraft #25 has the same
   * window). Those are counted, not failed.
   */
  private staleRead(node: SimNode, c: Client, index: number): void {
    const what =
      `client ${c.id} read at index ${index} on node ${node.id}, but index ` +
      `${c.committedAtStart} was committed (and index ${c.ackedAtStart} acknowledged to a client) ` +
      `before the read started`
    if (!this.options.readLease) throw new Violation('stale-read', what)
    this.note(Ev.LeaseStaleRead, c.id, index)
    this.log(`lease read stale (etcd-io/raft allows it): ${what}`)
  }

  private send(from: number, m: Message): void {
    if (m.type === MessageType.MsgSnap && this.operator !== null) m = this.mergedSnapshot(from, m)
    const to = Number(m.to)
    const reachable = this.net.connected(from, to) && (this.nodes[to] as SimNode).rn !== null
    if (!reachable) {
      // A transport notices a refused or cut connection, though not always at once.
      if (m.type === MessageType.MsgSnap) this.report(from, to, Report.SnapshotFailure)
      else if (this.wire.chance(0.5)) this.report(from, to, Report.Unreachable)
      this.traceMessage('unreachable', m)
      return
    }
    if (!this.liveness && this.wire.chance(this.options.dropRate)) {
      if (m.type === MessageType.MsgSnap) this.report(from, to, Report.SnapshotFailure)
      this.traceMessage('drop', m)
      return
    }
    this.net.send(m, from, to, this.now, this.delay())
    if (!this.liveness && this.wire.chance(this.options.duplicateRate)) {
      this.net.send(cloneMessage(m), from, to, this.now, this.delay())
    }
  }

  private delay(): number {
    const max = this.options.delayMax
    return max === 0 ? 0 : this.wire.intn(max + 1)
  }

  private deliver(m: Message): void {
    const to = Number(m.to)
    const from = Number(m.from)
    const node = this.nodes[to] as SimNode
    if (node.rn === null || !this.net.connected(from, to)) {
      if (m.type === MessageType.MsgSnap) this.report(from, to, Report.SnapshotFailure)
      this.traceMessage('lost', m)
      return
    }
    this.note(Ev.Deliver, m.type * 64 + from * 8 + to, m.index * 4096 + m.term)
    this.traceMessage('deliver', m)
    try {
      node.rn.step(m)
    } catch (e) {
      if (!(e instanceof RaftError)) throw e
    }
    if (m.type === MessageType.MsgSnap) this.report(from, to, Report.SnapshotFinish)
    const r = node.rn.view
    if (r.state === StateType.StateLeader) this.checker.leader(r.term, to)
  }

  private report(node: number, peer: number, kind: Report): void {
    this.reports.push(node, peer, kind)
  }

  /** Hands transport reports to their nodes, as a transport's callback would. */
  private flushReports(): void {
    const reps = this.reports
    for (let i = 0; i < reps.length; i += 3) {
      const rn = (this.nodes[reps[i]!] as SimNode).rn
      if (rn === null) continue
      const peer = BigInt(reps[i + 1]!)
      const kind = reps[i + 2] as Report
      if (kind === Report.Unreachable) rn.reportUnreachable(peer)
      else
        rn.reportSnapshot(
          peer,
          kind === Report.SnapshotFinish
            ? SnapshotStatus.SnapshotFinish
            : SnapshotStatus.SnapshotFailure,
        )
    }
    reps.length = 0
  }

  private injectFaults(): void {
    const p = this.faults
    const o = this.options
    const n = this.total
    if (n > 1 && p.chance(o.partitionRate)) this.partition()
    else if (this.partitioned && p.chance(o.healRate)) {
      this.net.healAll()
      this.partitioned = false
      this.note(Ev.Heal, 0, 0)
      this.log('network healed')
    }
    if (p.chance(o.crashRate)) {
      const leader = this.leaderId()
      const target = leader !== 0 && p.chance(o.crashLeaderBias) ? leader : p.between(1, n)
      const node = this.nodes[target] as SimNode
      if (node.rn !== null && node.crashPoint === CrashPoint.None) {
        node.crashPoint = p.intn(CRASH_POINT_COUNT) as CrashPoint
        if (node.crashPoint === CrashPoint.BetweenReadies) this.crash(node, 'between Readies')
      }
    }
    for (let id = 1; id <= n; id++) {
      const node = this.nodes[id] as SimNode
      if (!active(node)) continue
      if (node.rn === null) {
        const due = this.now - node.downSince >= o.downTicksMin && p.chance(o.restartRate)
        if (node.restartAtOnce || due) this.start(node)
      } else if (p.chance(o.compactRate)) this.compact(node)
    }
    if (n > 1 && p.chance(o.transferRate)) this.transferLeader()
  }

  /** Asks the leader to hand over to another node, as an operator draining it would. */
  private transferLeader(): void {
    const leader = this.leaderId()
    if (leader === 0) return
    let to = this.faults.between(1, this.total - 1)
    if (to >= leader) to++
    this.note(Ev.Transfer, leader, to)
    this.log(`n${leader} asked to transfer leadership to n${to}`)
    ;(this.nodes[leader] as SimNode).rn!.transferLeader(BigInt(to))
  }

  /** Cuts links: a symmetric split, one-way cuts, the leader alone, or a bridge between halves. */
  private partition(): void {
    const p = this.faults
    const n = this.total
    const net = this.net
    net.healAll()
    this.partitioned = true
    const ids = Array.from({ length: n }, (_, i) => i + 1)
    p.shuffle(ids)
    const kind = p.intn(4)
    const cutBetween = (a: number[], b: number[]): void => {
      for (const x of a) {
        for (const y of b) {
          net.setLink(x, y, false)
          net.setLink(y, x, false)
        }
      }
    }
    let what: string
    if (kind === 0) {
      const k = p.between(1, n - 1)
      cutBetween(ids.slice(0, k), ids.slice(k))
      what = `split {${ids.slice(0, k)}} | {${ids.slice(k)}}`
    } else if (kind === 1) {
      const cuts = p.between(1, n * (n - 1))
      const cut: string[] = []
      for (let i = 0; i < cuts; i++) {
        const from = p.between(1, n)
        const to = p.between(1, n)
        if (from === to) continue
        net.setLink(from, to, false)
        cut.push(`${from}->${to}`)
      }
      what = `one-way cuts ${cut.join(' ')}`
    } else if (kind === 2) {
      const leader = this.leaderId() || (ids[0] as number)
      cutBetween(
        [leader],
        ids.filter((id) => id !== leader),
      )
      what = `isolate ${leader}`
    } else {
      const bridge = ids[0] as number
      const rest = ids.slice(1)
      const k = p.between(0, rest.length)
      cutBetween(rest.slice(0, k), rest.slice(k))
      what = `bridge ${bridge} between {${rest.slice(0, k)}} and {${rest.slice(k)}}`
    }
    this.note(Ev.Partition, kind, 0)
    this.log(`partition: ${what}`)
  }

  /** Snapshots the state machine at its applied index and compacts the log behind it. */
  private compact(node: SimNode): void {
    const sm = node.sm as KvStateMachine
    const s = node.storage
    if (sm.applied <= s.snapshot().metadata.index) return
    node.disk.createSnapshot(sm.applied, node.conf, sm.snapshot())
    const compactIndex = sm.applied - this.faults.between(0, 20)
    const compacted = s.firstIndex() - 1
    if (compactIndex > compacted) node.disk.compact(compactIndex)
    this.note(Ev.Compact, node.id, sm.applied)
    this.log(`n${node.id} snapshot at ${sm.applied}, log starts after ${s.firstIndex() - 1}`)
  }

  private runWorkload(): void {
    const p = this.workload
    const leader = this.leaderId()
    for (const c of this.clients) {
      if (c.busy) {
        // A client fails over when its request times out, or at once when the leader it talked
        // to is gone and another one is known (as etcd's client balancer does).
        const deposed = c.targetWasLeader && leader !== 0 && leader !== c.target
        if (this.now >= c.deadline || deposed) this.submit(c)
      } else if (!this.liveness && p.chance(this.options.opRate)) {
        this.begin(c)
      }
    }
  }

  private begin(c: Client): void {
    const p = this.workload
    const o = this.options
    c.seq++
    c.busy = true
    c.isRead = p.chance(o.readRatio)
    // Linearizability asks a read to reflect every acknowledged write; ReadIndex promises more,
    // every entry committed before the request, which catches a stale read before any client
    // could notice it.
    c.committedAtStart = Math.max(this.ackedWriteMax, this.strictReadBound())
    c.ackedAtStart = this.ackedWriteMax
    const cmd = c.cmd
    cmd.op = p.chance(o.casRatio) ? Op.Cas : Op.Put
    cmd.seq = c.seq
    cmd.key = p.intn(8)
    cmd.value = ++this.valueCounter
    cmd.expected = p.intn(this.valueCounter + 1)
    this.recordInvoke(c)
    this.submit(c)
  }

  /**
   * A retry reuses the operation's sequence number and the state machine applies it at most
   * once, so one history operation spans the first attempt to the acknowledgement. Keys start
   * at 0 and no put writes 0, so 0 is recorded as null, an absent key.
   */
  private recordInvoke(c: Client): void {
    const key = String(c.cmd.key)
    if (c.isRead) return this.history.invoke(c.id, 'get', key, this.now)
    const value = toValue(c.cmd.value)
    if (c.cmd.op === Op.Put) return this.history.invoke(c.id, 'put', key, this.now, value)
    this.history.invoke(c.id, 'cas', key, this.now, value, toValue(c.cmd.expected))
  }

  /** Sends the client's operation to a node: the leader usually, as a client that was redirected. */
  private submit(c: Client): void {
    const p = this.workload
    const leader = this.leaderId()
    c.target = leader !== 0 && p.chance(0.8) ? leader : p.between(1, this.total)
    c.targetWasLeader = c.target === leader
    c.deadline = this.now + this.options.clientTimeoutTicks
    if (c.isRead) {
      // A retried read is a new ReadIndex request, which must reflect everything committed by
      // now; the client stops waiting for the answer to the old one.
      c.committedAtStart = Math.max(c.committedAtStart, this.strictReadBound())
      c.readCtx = ++this.readCounter
    }
    const rn = (this.nodes[c.target] as SimNode).rn
    this.note(Ev.Submit, c.id, c.target)
    if (rn === null) {
      this.log(`client ${c.id} #${c.seq} sent to n${c.target}, which is down`)
      return
    }
    try {
      if (c.isRead) {
        ;(this.nodes[c.target] as SimNode).pendingReads.set(c.readCtx, c.id)
        rn.readIndex(encodeCtx(c.readCtx))
        this.log(`client ${c.id} read #${c.seq} via n${c.target}`)
      } else {
        rn.propose(encodeCommand(c.cmd))
        this.log(`client ${c.id} ${c.cmd.op === Op.Put ? 'put' : 'cas'} #${c.seq} via n${c.target}`)
      }
    } catch (e) {
      if (!(e instanceof RaftError)) throw e
      this.log(`client ${c.id} #${c.seq} refused by n${c.target}: ${e.message}`)
    }
  }

  /**
   * The commit index a new ReadIndex request must reach. A single voter with async writes can
   * lose its in-memory commit index in a crash and answer from the durable one (see
   * writeApplied); there only acknowledged writes bind, so linearizability is still checked.
   */
  private strictReadBound(): number {
    const o = this.options
    // Conf changes can shrink the cluster to a single voter at any time.
    const single = o.nodeCount === 1 || o.membership
    return o.asyncStorageWrites && single ? 0 : this.checker.maxCommitted
  }

  /**
   * Applies a committed conf-change entry: raft's configuration changes here, once per entry,
   * in log order with the normal entries; the state machine only advances past it.
   */
  private applyConfChange(node: SimNode, e: Entry): void {
    const cc = decodeConfEntry(e)
    if (cc === null) throw new Error(`entry ${e.index} is not a conf change`)
    const cs = (node.rn as RawNode).applyConfChange(cc)
    ;(node.sm as KvStateMachine).apply({ ...e, data: new Uint8Array(0) })
    node.conf = cs
    node.confIndex = e.index
    this.membership.confApplied(node.id, e.index, cs)
    this.note(Ev.ConfChange, node.id, e.index)
    this.log(`n${node.id} applies conf change at ${e.index}: ${confKey(cs)}`)
    if (e.index > this.latestConfIndex) this.configChanged(e.index, cs)
  }

  /** A newer configuration is in force: start the nodes it adds, retire the ones it dropped. */
  private configChanged(index: number, cs: ConfState): void {
    this.latestConf = cs
    this.latestConfIndex = index
    this.memberIds = [...confMembers(cs)].sort((a, b) => a - b)
    for (const id of this.memberIds) {
      const node = this.nodes[id] as SimNode
      if (node.joined) continue
      node.joined = true
      this.note(Ev.Join, id, index)
      this.log(`n${id} joins the cluster, empty`)
      this.start(node)
    }
  }

  /**
   * Stops the nodes the latest configuration dropped, once every member has applied it: until
   * then a member still in an older configuration may need the removed node's vote (a two-voter
   * group removing its leader, say), as etcd keeps a removed member up until it learns it left.
   */
  private retireRemoved(): void {
    for (const id of this.memberIds) {
      const sm = (this.nodes[id] as SimNode).sm
      if (sm === null || sm.applied < this.latestConfIndex) return
    }
    const members = new Set(this.memberIds)
    for (let id = 1; id <= this.total; id++) {
      const node = this.nodes[id] as SimNode
      if (!active(node) || members.has(id)) continue
      if (node.rn !== null) this.crash(node, 'retired: removed from the configuration')
      node.removed = true
      node.sm = null
      this.note(Ev.Retire, id, this.latestConfIndex)
    }
  }

  /**
   * The operator: now and then asks the leader for a conf change valid against the leader's
   * applied configuration; in the liveness phase only the explicit leave of a joint config.
   */
  private runOperator(p: Prng): void {
    this.retireRemoved()
    if (!p.chance(this.liveness ? 0.2 : this.options.confChangeRate)) return
    const leader = this.leaderId()
    if (leader === 0) return
    const node = this.nodes[leader] as SimNode
    if (!isVoter(node.conf, leader) && node.conf.voters.length > 0) {
      // Without StepDownOnRemoval a removed or demoted leader keeps leading; an operator then
      // moves leadership to a voter (etcd's MoveLeader).
      const to = p.pick(node.conf.voters)
      this.log(`operator moves leadership from n${leader}, no longer a voter, to n${to}`)
      ;(node.rn as RawNode).transferLeader(to)
      return
    }
    if (this.liveness && !(isJoint(node.conf) && !node.conf.autoLeave)) return
    const spare = this.nextSpare <= this.total ? this.nextSpare : 0
    const cc = planConfChange(p, node.conf, spare)
    if (cc === null) return
    if (!this.quorumStaysStarted(leader, node.conf, cc)) {
      // etcd refuses such a change (--strict-reconfig-check, on by default). Made anyway, a
      // partitioned voter can be left holding the only other vote, stale and campaigning in its
      // old configuration: without PreVote it can out-race the up-to-date voter forever
      // (seed 12684).
      this.log(
        `operator: ${describeCc(cc)} refused: re-configuration failed due to not enough started members`,
      )
      return
    }
    if (ccNodes(cc).includes(BigInt(spare))) this.nextSpare++
    this.log(`operator asks n${leader} for ${describeCc(cc)}`)
    try {
      ;(node.rn as RawNode).proposeConfChange(cc)
    } catch (e) {
      if (!(e instanceof RaftError)) throw e
      this.log(`conf change refused by n${leader}: ${e.message}`)
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
    const after = new Set(cs.voters.map(Number))
    for (const c of 'changes' in cc ? cc.changes : [cc]) {
      const id = Number(c.nodeId)
      if (c.type === ConfChangeType.ConfChangeAddNode) after.add(id)
      else if (c.type !== ConfChangeType.ConfChangeUpdateNode) after.delete(id)
    }
    if (cs.voters.every((v) => after.has(Number(v)))) return true
    const known = new Set([...cs.voters, ...cs.learners].map(Number))
    let started = 0
    for (const id of after) {
      const n = this.nodes[id] as SimNode
      const reachable = this.net.connected(leader, id) && this.net.connected(id, leader)
      if (id === leader || (known.has(id) && n.rn !== null && reachable)) started++
    }
    return started >= Math.floor(after.size / 2) + 1
  }

  /**
   * A leader appending a conf change of its own term: the previous conf change in its log must
   * be applied already (raft allows one pending change at a time).
   */
  private checkPendingConf(node: SimNode, ents: Entry[]): void {
    const rn = node.rn as RawNode
    if (rn.view.state !== StateType.StateLeader) return
    const applied = (node.sm as KvStateMachine).applied
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!
      if (e.type === EntryType.EntryNormal || e.term !== rn.view.term) continue
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
      this.membership.leaderAppended(node.id, rn.view.term, e.index, prev, applied)
    }
  }

  /**
   * etcd does not ship the storage snapshot raft names in a MsgSnap: it builds one from the
   * state machine as applied now, with the ConfState in force (createMergedSnapshotMessage). A
   * node added after the last storage snapshot is then in the snapshot's configuration; raft
   * would ignore an older one ("not in the ConfState") and the new node could never catch up.
   */
  private mergedSnapshot(from: number, m: Message): Message {
    const node = this.nodes[from] as SimNode
    const sm = node.sm as KvStateMachine
    const index = m.snapshot?.metadata.index ?? 0
    if (sm.applied <= index) return m
    const term = (node.rn as RawNode).view.termAt(sm.applied)
    if (term === 0) return m
    const metadata = { index: sm.applied, term, confState: node.conf }
    return { ...m, snapshot: { data: sm.snapshot(), metadata } }
  }

  /** Every member's configuration, for the settled-cluster check. */
  memberConfs(): Map<number, ConfState> {
    const out = new Map<number, ConfState>()
    for (const id of this.memberIds) out.set(id, (this.nodes[id] as SimNode).conf)
    return out
  }

  /** The live leader with the highest term, or 0. */
  private leaderId(): number {
    let best = 0
    let bestTerm = -1
    for (let id = 1; id < this.nodes.length; id++) {
      const rn = (this.nodes[id] as SimNode).rn
      if (rn === null || rn.view.state !== StateType.StateLeader) continue
      if (rn.view.term > bestTerm) {
        best = id
        bestTerm = rn.view.term
      }
    }
    return best
  }

  private note(kind: Ev, a: number, b: number): void {
    this.counts[kind] = (this.counts[kind] as number) + 1
    this.hash = mixHash(mixHash(mixHash(this.hash, kind), a), b)
  }

  private log(line: string): void {
    if (this.trace !== null) this.trace.push(`${this.now} ${line}`)
  }

  private traceMessage(what: string, m: Message): void {
    if (this.trace === null) return
    this.trace.push(
      `${this.now} ${what} ${m.from}->${m.to} ${MessageType[m.type]} term ${m.term} ` +
        `index ${m.index}/${m.logTerm} commit ${m.commit} entries ${m.entries.length}` +
        (m.reject ? ' reject' : ''),
    )
  }
}

/** Started and not retired. */
function active(node: SimNode): boolean {
  return node.joined && !node.removed
}

function ccNodes(cc: ConfChange | ConfChangeV2): bigint[] {
  return 'changes' in cc ? cc.changes.map((c) => c.nodeId) : [cc.nodeId]
}

function describeCc(cc: ConfChange | ConfChangeV2): string {
  const v2 = 'changes' in cc
  const changes = v2 ? cc.changes : [cc]
  const ops = changes.map((c) => `${ConfChangeType[c.type]} ${c.nodeId}`).join(', ')
  return v2 ? `ConfChangeV2 ${ConfChangeTransition[cc.transition]} [${ops}]` : `ConfChange ${ops}`
}

function toValue(v: number): number | null {
  return v === 0 ? null : v
}

function grantsVote(msgs: Message[]): boolean {
  for (const m of msgs) if (m.type === MessageType.MsgVoteResp && !m.reject) return true
  return false
}

function termOrUnknown(s: Storage, i: number): number {
  if (i < s.firstIndex() - 1 || i > s.lastIndex()) return -1
  return s.term(i)
}

function cloneMessage(m: Message): Message {
  // The receiver may rewrite a forwarded proposal's entries; a duplicate must not share them.
  return { ...m, entries: m.entries.map((e) => ({ ...e })) }
}

function encodeCtx(n: number): Uint8Array {
  return new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff])
}

function decodeCtx(d: Uint8Array): number {
  return ((d[0] ?? 0) | ((d[1] ?? 0) << 8) | ((d[2] ?? 0) << 16) | ((d[3] ?? 0) << 24)) >>> 0
}

function describeData(sm: KvStateMachine): string {
  return sm.appliedClient < 0 ? '(empty)' : `client ${sm.appliedClient} #${sm.appliedSeq}`
}
