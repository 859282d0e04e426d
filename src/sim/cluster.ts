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
import { KvStateMachine, Op, encodeCommand, hashBytes, mixHash, type Command } from './kv.js'
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
}
const EV_COUNT = 16

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
  /** Async mode: (client, seq, index) of applied writes waiting for a durable commit index. */
  readonly pendingAcks: number[] = []
  /** ReadIndex requests sent, by request context number -> client id. */
  readonly pendingReads = new Map<number, number>()
  /** ReadStates received, waiting until the state machine reaches their index. */
  readonly waitingReads: { ctx: number; client: number; index: number }[] = []

  constructor(
    readonly id: number,
    readonly prng: Prng,
    /** The node's disk: persists Readies, survives crashes, reopens on restart. */
    readonly disk: NodeDiskState,
  ) {}

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
    this.checker = new Checker(n)
    this.net = new SimNet(n, options.delayMax, options.reorder)
    const voters = Array.from({ length: n }, (_, i) => BigInt(i + 1))
    this.confState = {
      voters,
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    }
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
      const node = new SimNode(id, prng, disk)
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
  }

  /** Advances the whole cluster by one tick. */
  tick(): void {
    if (!this.liveness) this.injectFaults()
    this.runWorkload()
    for (let id = 1; id < this.nodes.length; id++) {
      const node = this.nodes[id] as SimNode
      if (node.rn === null) continue
      node.tickAccPermille += this.options.tickRatePermille[id] as number
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
      if (node.rn === null) this.start(node)
    }
    this.note(Ev.Liveness, 0, 0)
    this.log('liveness phase: network healed, all nodes up')
  }

  /** A leader that every node follows, and every node has applied the leader's whole log. */
  converged(): boolean {
    const leader = this.leaderId()
    if (leader === 0) return false
    const log = (this.nodes[leader] as SimNode).rn!.raft.raftLog
    const last = log.lastIndex()
    if (log.committed !== last) return false
    for (let id = 1; id < this.nodes.length; id++) {
      const node = this.nodes[id] as SimNode
      if (node.rn === null || node.sm === null) return false
      if (node.rn.raft.lead !== BigInt(leader) || node.sm.applied !== last) return false
    }
    return true
  }

  /** A live leader that every node follows. */
  hasLeader(): boolean {
    const leader = BigInt(this.leaderId())
    if (leader === 0n) return false
    for (let id = 1; id < this.nodes.length; id++) {
      const rn = (this.nodes[id] as SimNode).rn
      if (rn === null || rn.raft.lead !== leader) return false
    }
    return true
  }

  /** The leader's last log index, or 0 without a leader. */
  leaderLastIndex(): number {
    const leader = this.leaderId()
    return leader === 0 ? 0 : (this.nodes[leader] as SimNode).rn!.raft.raftLog.lastIndex()
  }

  /** The lowest applied index over the live nodes. */
  minApplied(): number {
    let min = Infinity
    for (let id = 1; id < this.nodes.length; id++) {
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
      if (node.rn === null) {
        lines.push(`  node ${id}: down since ${node.downSince}`)
        continue
      }
      const r = node.rn.raft
      lines.push(
        `  node ${id}: ${StateType[r.state]} term ${r.term} lead ${r.lead} ` +
          `last ${r.raftLog.lastIndex()} commit ${r.raftLog.committed} applied ${node.sm?.applied}`,
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
    const snap = node.storage.snapshot()
    let sm = this.options.smDurable ? node.sm : null
    if (sm === null || sm.applied < snap.metadata.index) sm = KvStateMachine.restore(snap.data)
    if (sm.applied < snap.metadata.index) throw new Error('snapshot data behind its metadata')
    node.sm = sm
    node.restartAtOnce = false
    const hs = node.storage.initialState().hardState
    // Raft restarts with commit = max(HardState.commit, first log index - 1) and refuses an
    // applied index above it. In async mode the apply thread can run ahead of the append
    // thread's HardState write, so a durable state machine, or a snapshot taken from it, can be
    // past that. What was applied was committed: raise the durable commit index to it.
    if (sm.applied > Math.max(hs.commit, node.storage.firstIndex() - 1)) {
      if (!this.options.asyncStorageWrites) throw new Error('applied past the durable commit')
      node.disk.setHardState({ ...hs, commit: sm.applied })
    }
    node.durableCommit = Math.max(hs.commit, snap.metadata.index, sm.applied)
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
      checkQuorum: o.checkQuorum,
      preVote: o.preVote,
      readOnlyOption: o.readLease ? ReadOnlyOption.ReadOnlyLeaseBased : ReadOnlyOption.ReadOnlySafe,
      logger: this.logger,
      rand: node.prng.fork(),
    })
    node.tickAccPermille = 0
    this.checker.restarted(node.id, sm.applied, node.rn.raft.raftLog.committed)
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
    if (rd.hardState !== null && rn.raft.state === StateType.StateLeader) {
      const hs = rd.hardState
      const entryTerm = rn.raft.raftLog.zeroTermOnOutOfBounds(hs.commit)
      this.checker.leaderCommitted(node.id, hs.term, hs.commit, entryTerm)
    }
    this.takeReadStates(node, rd)
    if (o.asyncStorageWrites) this.routeAsync(node, rd)
    else this.handleSync(node, rd)
    if (node.rn !== null) {
      const log = node.rn.raft.raftLog
      this.checker.committed(node.id, log.committed, (i) => log.zeroTermOnOutOfBounds(i))
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
    for (const m of rd.messages) {
      if (m.to === LocalAppendThread) node.appendQueue.push(m)
      else if (m.to === LocalApplyThread) node.applyQueue.push(m)
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
    const r = (node.rn as RawNode).raft
    this.note(Ev.RoleChange, node.id, r.term * 8 + ss.raftState)
    this.log(`n${node.id} ${StateType[ss.raftState]} term ${r.term} lead ${ss.lead}`)
    if (ss.raftState !== StateType.StateLeader) return
    const log = r.raftLog
    const view: LogView = {
      firstIndex: log.firstIndex(),
      lastIndex: log.lastIndex(),
      termAt: (i) => log.zeroTermOnOutOfBounds(i),
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
    this.checker.snapshotApplied(node.id, sm.applied, sm.hash)
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
      // Async mode only: the append thread may have installed a snapshot past entries that
      // were already queued for the apply thread; like etcd's apply loop, skip what it covers.
      if (e.index <= sm.applied && this.options.asyncStorageWrites) continue
      if (e.type !== EntryType.EntryNormal) throw new Error('conf changes are not simulated yet')
      sm.apply(e)
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
      if (w.index < c.committedAtStart) this.staleRead(node, c, w.index)
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
    const r = node.rn.raft
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
    const n = o.nodeCount
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
    let to = this.faults.between(1, this.options.nodeCount - 1)
    if (to >= leader) to++
    this.note(Ev.Transfer, leader, to)
    this.log(`n${leader} asked to transfer leadership to n${to}`)
    ;(this.nodes[leader] as SimNode).rn!.transferLeader(BigInt(to))
  }

  /** Cuts links: a symmetric split, one-way cuts, the leader alone, or a bridge between halves. */
  private partition(): void {
    const p = this.faults
    const n = this.options.nodeCount
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
    node.disk.createSnapshot(sm.applied, this.confState, sm.snapshot())
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
    this.submit(c)
  }

  /** Sends the client's operation to a node: the leader usually, as a client that was redirected. */
  private submit(c: Client): void {
    const p = this.workload
    const leader = this.leaderId()
    c.target = leader !== 0 && p.chance(0.8) ? leader : p.between(1, this.options.nodeCount)
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
    return o.asyncStorageWrites && o.nodeCount === 1 ? 0 : this.checker.maxCommitted
  }

  /** The live leader with the highest term, or 0. */
  private leaderId(): number {
    let best = 0
    let bestTerm = -1
    for (let id = 1; id < this.nodes.length; id++) {
      const rn = (this.nodes[id] as SimNode).rn
      if (rn === null || rn.raft.state !== StateType.StateLeader) continue
      if (rn.raft.term > bestTerm) {
        best = id
        bestTerm = rn.raft.term
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
