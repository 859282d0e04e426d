/**
 * A Raft cluster in one process, driven tick by tick from one seed (TigerBeetle's VOPR,
 * FoundationDB's simulator). Each member runs the driver the server ships (RaftNode, src/node)
 * on the simulator's storage, state machine, network and clock (sim-node.ts); the cluster owns
 * the network, delivers messages, starts and crashes processes, and reports what it observes to
 * the checkers, without looking inside the Raft core to decide whether it is right. The faults
 * (faults.ts), the clients (workload.ts) and the membership operator (operator.ts) act on it.
 *
 * Durable state: a node's disk is a MemoryStorage (writes durable once made) or a WalStorage on
 * a SimDisk (durable once synced; a crash is a power loss). The state machine survives crashes
 * when `smDurable`, as etcd's backend does; otherwise it is rebuilt from the storage snapshot and
 * the log. Snapshots carry the whole state machine, including its rolling hash.
 *
 * One tick: faults, workload, operator, each node's clock, then delivery rounds (reports, the
 * messages due, the disk threads, then a drain of the event loop, in which the drivers do their
 * work) until the tick is quiet, so zero-delay messages arrive the same tick. Everything the
 * drivers do happens in those drains, in an order fixed by the seed: nothing else runs meanwhile.
 */
import {
  LevelLogger,
  LogLevel,
  MessageType,
  SnapshotStatus,
  StateType,
  discardLogger,
  type ConfState,
  type Entry,
  type Logger,
  type Message,
  type Snapshot,
} from '../raft/index.js'
import { RaftNode, type AppliedConfChange, type StorageWrite } from '../node/index.js'
import { Checker, Violation } from './checkers.js'
import { HistoryRecorder } from './history.js'
import { KvStateMachine, mixHash } from './kv.js'
import type { Machine } from './machine.js'
import { LazyBackend, ServerMachine, serverBootState } from './server-machine.js'
import { SimWatchers } from './watchers.js'
import { SimLeases } from './leases.js'
import { encodeRequest } from '../server/index.js'
import { MemoryBackend } from '../mvcc/index.js'
import { MembershipChecker, confKey, isJoint, isVoter } from './membership.js'
import { SimNet } from './net.js'
import {
  MemoryDiskState,
  WalDiskState,
  settleDisks,
  type NodeDiskState,
} from './node-disk-state.js'
import type { SimOptions } from './options.js'
import { Prng } from './prng.js'
import {
  CrashPoint,
  EV_COUNT,
  Ev,
  Incarnation,
  SimNode,
  active,
  type KvResult,
  type NodeHost,
} from './sim-node.js'
import { Faults } from './faults.js'
import { Workload } from './workload.js'
import { Operator } from './operator.js'
import { Observer, type ReadAnswer } from './observer.js'

export { Ev, active } from './sim-node.js'

/** Delivery rounds per tick; what is still due after them waits for the next tick. */
const ROUNDS_MAX = 8
/**
 * A run that grows past these is a failure (`runaway`), not a hang: a planted bug once made one
 * seed run 15 minutes to 2.8 GB. No passing seed comes near them.
 */
export const LOG_ENTRIES_MAX = 200_000
export const IN_FLIGHT_MAX = 100_000

const enum Report {
  Unreachable = 0,
  SnapshotFinish = 1,
  SnapshotFailure = 2,
}

/** Resolves once every promise settled: SimDisk does no real I/O, so nothing else runs meanwhile. */
export function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export class Cluster implements NodeHost {
  readonly nodes: SimNode[] = []
  readonly checker: Checker
  readonly membership: MembershipChecker
  readonly net: SimNet
  readonly asyncStorageWrites: boolean
  readonly faults: Prng
  readonly workload: Workload
  readonly operator: Operator | null
  private readonly injector: Faults
  now = 0
  /** A rolling hash of everything that happened: equal hashes mean equal runs. */
  hash = 0
  liveness = false
  /** How often each Ev happened. */
  readonly counts = new Int32Array(EV_COUNT)
  /** The client-visible history, for the linearizability checker. */
  readonly history = new HistoryRecorder()
  /** Every node id, initial voters and spares. */
  readonly total: number
  private readonly wire: Prng
  private readonly logger: Logger
  private readonly reports: number[] = []
  /** The configuration after the highest conf-change index any node applied. */
  latestConf: ConfState
  latestConfIndex = 0
  /** The nodes of latestConf, ascending. */
  memberIds: number[]
  /** A failure found outside a checker call (a driver that stopped on its own, say). */
  private failure: unknown = undefined
  /** bitRot seeds: a disk was rotted already (one per run). */
  private rotted = false
  /** Deliveries so far: orders what a leader heard against when a read was requested. */
  deliveries = 0
  /** What the cluster reports to the checkers as it watches the nodes (observer.ts). */
  readonly observer: Observer
  /** Server machine: the members' watchers and their checker (watchers.ts). */
  readonly watchers: SimWatchers | null
  /** Server machine: the members' lessors, a lease client and the lease checks (leases.ts). */
  readonly leases: SimLeases | null

  constructor(
    readonly options: SimOptions,
    readonly trace: string[] | null,
  ) {
    const root = new Prng(options.seed)
    root.nextU32() // options.ts drew from a generator with this seed; start elsewhere
    this.faults = root.fork()
    const workloadPrng = root.fork()
    this.wire = root.fork()
    this.asyncStorageWrites = options.asyncStorageWrites
    const n = options.nodeCount
    this.total = n + options.spareNodes
    this.checker = new Checker(this.total)
    this.net = new SimNet(this.total, options.delayMax, options.reorder)
    const voters = Array.from({ length: n }, (_, i) => BigInt(i + 1))
    const boot: ConfState = {
      voters,
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    }
    this.latestConf = boot
    this.memberIds = Array.from({ length: n }, (_, i) => i + 1)
    this.membership = new MembershipChecker(this.total, boot)
    this.logger =
      trace === null
        ? discardLogger
        : new LevelLogger(LogLevel.Info, (_level, message) =>
            trace.push(`${this.now} raft ${message}`),
          )
    const bootState =
      options.machine === 'server' ? serverBootState(1) : new KvStateMachine(1, 0).snapshot()
    for (let id = 1; id <= n; id++) {
      const prng = root.fork()
      const node = new SimNode(id, prng, this.newDisk(id, prng), boot)
      node.disk.bootstrap({ data: bootState, metadata: { index: 1, term: 1, confState: boot } })
      this.nodes[id] = node
    }
    this.workload = new Workload(this, workloadPrng)
    for (let id = n + 1; id <= this.total; id++) {
      // Spares join empty, once a configuration adds them.
      const prng = root.fork()
      const node = new SimNode(id, prng, this.newDisk(id, prng), { ...boot, voters: [] })
      node.disk.openEmpty()
      node.joined = false
      this.nodes[id] = node
    }
    this.observer = new Observer(this)
    this.operator = options.membership ? new Operator(this, root.fork()) : null
    // Drawn after every other stream, so adding watchers changed no fault or workload draw.
    this.watchers =
      options.machine === 'server' ? new SimWatchers(root.fork(), (l) => this.log(l)) : null
    this.leases =
      options.machine === 'server' ? new SimLeases(root.fork(), options.electionTick) : null
    this.injector = new Faults(this)
  }

  private newDisk(id: number, prng: Prng): NodeDiskState {
    const o = this.options
    if (!o.walDisk) return new MemoryDiskState()
    return new WalDiskState({
      nodeId: id,
      rand: prng.fork(),
      segmentBytes: o.segmentBytes,
      syncTicksMax: o.syncTicksMax,
      verify: o.recoveryCheck,
    })
  }

  /** The lease client: proposals to a random running member, keepalives on the leader. */
  private leaseClientTick(): void {
    // Clients stop with the safety phase (the leases then expire, and the cluster goes quiet).
    if (this.liveness) return
    const running = this.nodes.filter((n) => n?.inc?.driver != null && n.inc.alive)
    const p = this.leases!.prng
    const via = running.length === 0 ? null : p.pick(running).inc!
    const leader = running.find((n) => n.inc!.driver!.view.state === StateType.StateLeader)
    const leaderSm = leader?.inc?.sm
    this.leases!.tick(
      via === null
        ? null
        : (r) => void via.driver!.propose(encodeRequest(r)).catch(() => undefined),
      leaderSm instanceof ServerMachine ? (leaderSm.leases ?? null) : null,
    )
  }

  /** Starts the initial nodes (their WAL bootstrap, if any, made durable first). */
  async begin(): Promise<void> {
    await settleDisks(this.nodes)
    for (let id = 1; id <= this.options.nodeCount; id++) this.start(this.nodes[id] as SimNode)
    await drain()
  }

  /** Advances the whole cluster by one tick. */
  async tick(): Promise<void> {
    if (!this.liveness) this.injector.inject()
    this.workload.run()
    this.operator?.run()
    if (this.options.machine === 'server') {
      this.leaseClientTick()
      for (let id = 1; id < this.nodes.length; id++) {
        const inc = (this.nodes[id] as SimNode).inc
        if (inc !== null) inc.sm.background(this.faults)
      }
    }
    for (let id = 1; id < this.nodes.length; id++) {
      const node = this.nodes[id] as SimNode
      const inc = node.inc
      if (inc === null || inc.driver === null) continue
      // Clock skew is a fault of the safety phase: Raft's liveness rests on randomized timeouts
      // over clocks that run at about the same rate (seed 42638: a 15% faster voter with a
      // shorter log, PreVote off, disrupted every election of the other voter for 880 ticks).
      const rate = this.liveness ? 1000 : (this.options.tickRatePermille[id] ?? 1000)
      node.tickAccPermille += rate
      while (node.tickAccPermille >= 1000 && inc.alive) {
        node.tickAccPermille -= 1000
        inc.clock.advance(1)
      }
    }
    // Each round ends with a drain, in which the drivers act on what the round delivered; the
    // next round runs only if that produced something due now, or left work for a disk thread
    // (which takes it with chance diskRate per round).
    for (let round = 0; round < ROUNDS_MAX; round++) {
      // With a slow machine the disk threads sometimes go first, so a lane's continuation can
      // run before the messages of the same round are stepped.
      const threadsFirst = this.options.slowMachine && this.faults.chance(0.5)
      if (threadsFirst) this.runThreads()
      this.flushReports()
      const due = this.net.takeDue(this.now)
      if (due.length > 0) {
        if (this.options.reorder) this.wire.shuffle(due)
        for (const m of due) this.deliver(m)
      }
      if (!threadsFirst) this.runThreads()
      await drain()
      this.checkFailure()
      if (!this.net.hasDue(this.now) && this.reports.length === 0 && !this.diskWork()) break
    }
    await settleDisks(this.nodes)
    this.checkFailure()
    this.checkBounds()
    this.net.carryOver(this.now)
    this.now++
  }

  private runThreads(): void {
    for (let id = 1; id < this.nodes.length; id++) {
      ;(this.nodes[id] as SimNode).inc?.runThreads(this.options.diskRate)
    }
  }

  /** Some live node has writes or applies waiting for its disk threads. */
  private diskWork(): boolean {
    for (let id = 1; id < this.nodes.length; id++) {
      const inc = (this.nodes[id] as SimNode).inc
      if (inc !== null && inc.hasQueued()) return true
    }
    return false
  }

  private checkBounds(): void {
    if (this.net.inFlight > IN_FLIGHT_MAX) {
      throw new Violation('runaway', `${this.net.inFlight} messages in flight at tick ${this.now}`)
    }
    for (let id = 1; id < this.nodes.length; id++) {
      const d = (this.nodes[id] as SimNode).driver
      if (d === null) continue
      const entries = d.view.lastIndex() - d.view.firstIndex() + 1
      if (entries > LOG_ENTRIES_MAX) {
        throw new Violation(
          'runaway',
          `node ${id} holds ${entries} log entries at tick ${this.now}`,
        )
      }
    }
  }

  /** Ends the safety phase: heal the network, restart every crashed node, stop injecting faults. */
  startLiveness(): void {
    this.liveness = true
    this.net.healAll()
    this.injector.healed()
    for (let id = 1; id < this.nodes.length; id++) {
      const node = this.nodes[id] as SimNode
      node.crashPoint = CrashPoint.None
      if (node.inc === null && active(node)) this.start(node)
    }
    this.note(Ev.Liveness, 0, 0)
    this.log('liveness phase: network healed, all nodes up')
  }

  /** A leader that every member follows, and every member has applied the leader's whole log. */
  converged(): boolean {
    const leader = this.leaderId()
    if (leader === 0 || !isVoter(this.latestConf, leader)) return false
    if (isJoint(this.latestConf)) return false
    const view = (this.nodes[leader] as SimNode).driver!.view
    const last = view.lastIndex()
    if (view.committed !== last) return false
    for (const id of this.memberIds) {
      const node = this.nodes[id] as SimNode
      const d = node.driver
      if (d === null || node.inc!.sm.applied !== last || d.view.lead !== BigInt(leader))
        return false
    }
    return true
  }

  /** A live leader that every member follows. */
  hasLeader(): boolean {
    const leader = this.leaderId()
    if (leader === 0 || !isVoter(this.latestConf, leader)) return false
    for (const id of this.memberIds) {
      const d = (this.nodes[id] as SimNode).driver
      if (d === null || d.view.lead !== BigInt(leader)) return false
    }
    return true
  }

  /** The leader's last log index, or 0 without a leader. */
  leaderLastIndex(): number {
    const leader = this.leaderId()
    return leader === 0 ? 0 : (this.nodes[leader] as SimNode).driver!.view.lastIndex()
  }

  /** The lowest applied index over the live members. */
  minApplied(): number {
    let min = Infinity
    for (const id of this.memberIds) {
      const inc = (this.nodes[id] as SimNode).inc
      if (inc !== null && inc.sm.applied < min) min = inc.sm.applied
    }
    return min
  }

  /** Every member's configuration, for the settled-cluster check. */
  memberConfs(): Map<number, ConfState> {
    const out = new Map<number, ConfState>()
    for (const id of this.memberIds) out.set(id, (this.nodes[id] as SimNode).conf)
    return out
  }

  /** One line per node, for failure reports. */
  describe(): string {
    const lines: string[] = []
    for (let id = 1; id < this.nodes.length; id++) {
      const node = this.nodes[id] as SimNode
      if (!active(node)) {
        lines.push(
          `  node ${id}: ${node.refused ? 'refused to start (rot)' : node.removed ? 'removed' : 'never added'}`,
        )
        continue
      }
      const d = node.driver
      if (d === null) {
        lines.push(
          `  node ${id}: ${node.inc === null ? `down since ${node.downSince}` : 'starting'}`,
        )
        continue
      }
      const v = d.view
      lines.push(
        `  node ${id}: ${StateType[v.state]} term ${v.term} lead ${v.lead} ` +
          `last ${v.lastIndex()} commit ${v.committed} applied ${node.inc!.sm.applied}` +
          (this.operator !== null ? ` conf ${confKey(node.conf)}` : ''),
      )
    }
    return lines.join('\n')
  }

  /** The live leader with the highest term, or 0. */
  leaderId(): number {
    let best = 0
    let bestTerm = -1
    for (let id = 1; id < this.nodes.length; id++) {
      const d = (this.nodes[id] as SimNode).driver
      if (d === null || d.view.state !== StateType.StateLeader) continue
      if (d.view.term > bestTerm) {
        best = id
        bestTerm = d.view.term
      }
    }
    return best
  }

  // --- Processes ------------------------------------------------------------------------------

  /** Starts a process on the node's disk; it runs once its driver has opened. */
  start(node: SimNode): void {
    // A WAL is reopened asynchronously after a crash; the node comes back once it is open.
    if (!node.disk.ready()) {
      if (node.disk instanceof WalDiskState && node.disk.refusal !== null)
        return this.refuse(node, node.disk.refusal)
      node.restartAtOnce = true
      return
    }
    node.restartAtOnce = false
    const sm =
      this.options.smDurable && node.sm !== null ? node.sm.reopen() : this.newMachine(node.id)
    node.sm = sm
    const inc = new Incarnation(node, sm, this)
    node.inc = inc
    if (sm instanceof ServerMachine) {
      sm.leases?.started({
        clock: inc.clock,
        leaderTerm: () => {
          const v = inc.driver?.view
          return v !== undefined && v.state === StateType.StateLeader ? v.term : 0
        },
        propose: (r) => void inc.driver?.propose(encodeRequest(r)).catch(() => undefined),
      })
    }
    node.tickAccPermille = 0
    // The checkers learn of the restart before the driver applies anything.
    const snapIndex = node.storage.snapshot().metadata.index
    const committed = Math.max(node.storage.initialState().hardState.commit, snapIndex)
    this.checker.restarted(node.id, sm.applied, committed)
    this.membership.restarted(node.id, sm.applied)
    this.note(Ev.Start, node.id, sm.applied)
    if (this.now > 0) this.log(`n${node.id} restart applied ${sm.applied}`)
    const o = this.options
    RaftNode.start<KvResult>({
      id: BigInt(node.id),
      storage: inc.storage,
      stateMachine: inc.machine,
      transport: inc.transport,
      clock: inc.clock,
      tickMs: 1,
      electionTicks: o.electionTick,
      heartbeatTicks: o.heartbeatTick,
      // Clients time out and retry on their own; an earlier attempt that is applied still
      // completes the operation, however long replication takes (maxSizePerMsg 0 with one
      // message in flight replicates an entry per round trip: seed 357).
      requestTimeoutTicks: 1_000_000,
      readRetryTicks: o.electionTick,
      asyncStorageWrites: o.asyncStorageWrites,
      preVote: o.preVote,
      checkQuorum: o.checkQuorum,
      readOnlyOption: o.readLease ? 1 : 0,
      maxSizePerMsg: o.maxSizePerMsg,
      maxInflightMsgs: o.maxInflightMsgs,
      maxInflightBytes: o.maxInflightBytes,
      maxCommittedSizePerReady: o.maxCommittedSizePerReady,
      stepDownOnRemoval: o.stepDownOnRemoval,
      // Snapshots come from the fault injector (compactRate), at random points; slow-machine
      // seeds also snapshot every few entries with almost no tail kept, so followers catch up by
      // snapshot while their apply lanes are still busy.
      snapshotCount: o.slowMachine ? 4 : 0,
      snapshotCatchUpEntries: 1,
      logger: this.logger,
      rand: node.prng.fork(),
      observer: {
        ready: (rd, view) => {
          this.observer.readyTaken(inc, rd, view)
          // The server demotes its lessor when a Ready shows it is not leader.
          if (view.state !== StateType.StateLeader && inc.sm instanceof ServerMachine)
            inc.sm.leases?.notLeader()
        },
      },
    }).then(
      (driver) => {
        if (!inc.alive) return
        inc.driver = driver
        inc.watch.confIs(driver.confState, inc.clock.now)
        void driver.done.catch((err: unknown) => {
          if (inc.alive) this.failure ??= err
        })
      },
      (err: unknown) => {
        if (inc.alive) this.failure ??= err
      },
    )
  }

  /**
   * The node's recovery refused its rotted disk with a typed corruption error: what an operator
   * sees before replacing the member. It stays down; a quorum of the others carries on.
   */
  private refuse(node: SimNode, err: Error): void {
    node.refused = true
    node.restartAtOnce = false
    this.memberIds = this.memberIds.filter((id) => id !== node.id)
    this.note(Ev.RotRefused, node.id, 0)
    this.log(`n${node.id} refuses to start: ${err.message}`)
  }

  /** An empty state machine of the run's kind (applied 0: the driver restores its snapshot). */
  private newMachine(id: number): Machine {
    if (this.options.machine !== 'server') return new KvStateMachine(0, 0)
    // Two durable seeds in three run a lazily committing backend (LMDB's batches); the others
    // commit each entry durably as it is applied. Not a draw: the register runs stay as they were.
    const lazy = this.options.smDurable && this.options.seed % 3 !== 0
    const hub = { watchers: this.watchers!, leases: this.leases!, name: `n${id}` }
    const backend = lazy ? new LazyBackend() : new MemoryBackend()
    return new ServerMachine(backend, hub, this.options.smDurable)
  }

  crash(node: SimNode, where: string): void {
    const inc = node.inc
    if (inc !== null) {
      inc.alive = false
      inc.sm.crashed(this.faults)
    }
    node.inc = null
    if (this.options.bitRot && !this.rotted && this.faults.chance(0.3)) {
      // Once per run, so that a quorum stays: the next power loss also rots a bit.
      this.rotted = true
      ;(node.disk as WalDiskState).rotNext = true
      this.log(`n${node.id} disk will rot`)
    }
    node.disk.crash()
    node.crashPoint = CrashPoint.None
    node.downSince = this.now
    if (!this.options.smDurable) node.sm = null
    this.checker.crashed(node.id)
    this.note(Ev.Crash, node.id, 0)
    this.log(`n${node.id} CRASH ${where}`)
  }

  votedFor(node: SimNode): void {
    const rate = this.options.voterCrashRate
    if (this.liveness || rate === 0 || !this.faults.chance(rate)) return
    this.crash(node, 'right after granting a vote')
    node.restartAtOnce = true
  }

  askedRead(node: SimNode): void {
    if (this.liveness || !this.options.slowMachine || !this.faults.chance(0.2)) return
    this.crash(node, 'right after asking for a ReadIndex')
    node.restartAtOnce = true
  }

  /** Runs `fn` from a promise callback: what it throws fails the run at the next check. */
  guard(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.failure ??= err
    }
  }

  /** Throws the first failure seen in a callback; a driver's FATAL error gives its cause. */
  private checkFailure(): void {
    let err = this.failure
    if (err === undefined) return
    // Bounded by the chain of causes (a Violation or a core panic inside a driver's FATAL).
    while (err instanceof Error && !(err instanceof Violation) && err.cause !== undefined)
      err = err.cause
    throw err
  }

  // --- Observation (observer.ts) ---------------------------------------------------------------

  saving(node: SimNode, w: StorageWrite): void {
    this.observer.saving(node, w)
  }

  persisting(
    node: SimNode,
    ents: readonly Entry[],
    kept: number,
    snap: Snapshot | undefined,
  ): void {
    this.observer.persisting(node, ents, kept, snap)
  }

  applied(node: SimNode, e: Entry, sm: Machine): void {
    this.observer.applied(node, e, sm)
  }

  confApplied(node: SimNode, c: AppliedConfChange, sm: Machine): void {
    this.observer.confApplied(node, c, sm)
  }

  restored(node: SimNode, sm: Machine, cs: ConfState): void {
    this.observer.restored(node, sm, cs)
  }

  /** The latest answer given to a ReadIndex request of `node` at `index`, if seen. */
  readAnswer(node: number, index: number): ReadAnswer | undefined {
    return this.observer.readAnswer(node, index)
  }

  // --- The network ----------------------------------------------------------------------------

  send(from: number, m: Message): void {
    const to = Number(m.to)
    if (m.type === MessageType.MsgReadIndexResp) {
      const inc = (this.nodes[from] as SimNode).inc
      const view = inc?.driver?.view
      if (inc != null && view !== undefined && view.state === StateType.StateLeader) {
        this.observer.readAnswered(inc, view, to, m.index)
      }
    }
    const reachable = this.net.connected(from, to) && (this.nodes[to] as SimNode).inc !== null
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
    const handler = node.inc?.handler ?? null
    if (handler === null || !this.net.connected(from, to)) {
      if (m.type === MessageType.MsgSnap) this.report(from, to, Report.SnapshotFailure)
      this.traceMessage('lost', m)
      return
    }
    this.note(Ev.Deliver, m.type * 64 + from * 8 + to, m.index * 4096 + m.term)
    this.traceMessage('deliver', m)
    handler.receive(m)
    const seq = ++this.deliveries
    const inc = node.inc!
    if (m.type === MessageType.MsgVoteResp && !m.reject) inc.watch.voteGranted(from, m.term)
    if (inc.driver !== null && m.term === inc.driver.view.term)
      inc.watch.heard(from, m.term, inc.clock.now, seq)
    if (m.type === MessageType.MsgSnap) this.report(from, to, Report.SnapshotFinish)
    const view = node.driver?.view
    if (view !== undefined && view.state === StateType.StateLeader)
      this.checker.leader(view.term, to)
  }

  private report(node: number, peer: number, kind: Report): void {
    this.reports.push(node, peer, kind)
  }

  /** Hands transport reports to their nodes, as a transport's callback would. */
  private flushReports(): void {
    const reps = this.reports
    if (reps.length === 0) return
    for (let i = 0; i < reps.length; i += 3) {
      const handler = (this.nodes[reps[i]!] as SimNode).inc?.handler ?? null
      if (handler === null) continue
      const peer = BigInt(reps[i + 1]!)
      const kind = reps[i + 2] as Report
      if (kind === Report.Unreachable) handler.unreachable(peer)
      else {
        handler.snapshotStatus(
          peer,
          kind === Report.SnapshotFinish
            ? SnapshotStatus.SnapshotFinish
            : SnapshotStatus.SnapshotFailure,
        )
      }
    }
    reps.length = 0
  }

  note(kind: Ev, a: number, b: number): void {
    this.counts[kind] = (this.counts[kind] as number) + 1
    this.hash = mixHash(mixHash(mixHash(this.hash, kind), a), b)
  }

  log(line: string): void {
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

function cloneMessage(m: Message): Message {
  // The receiver may rewrite a forwarded proposal's entries; a duplicate must not share them.
  return { ...m, entries: m.entries.map((e) => ({ ...e })) }
}
