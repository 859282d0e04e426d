/**
 * RaftNode: the driver that runs one Raft member, the embedding API of `pontoon/node` (what
 * hashicorp/raft's `Raft` is to Go services, and etcd's raftNode plus its apply loop to etcd). It
 * owns a RawNode and everything around it that the simulator once kept private: ticking it from a
 * Clock, stepping what the Transport delivers, persisting each Ready through a NodeStorage,
 * sending, applying committed entries to a StateMachine, advancing; proposals that resolve with
 * their own result, batched ReadIndex reads, conf changes, snapshots with log compaction, leader
 * transfer.
 *
 * Everything happens on the event loop, in three places that the code keeps apart:
 * - the Ready loop (run): flushes batched proposals and reads into raft, takes Readies, and hands
 *   their work on; it never waits;
 * - the storage lane: writes in call order (NodeStorage's contract), and their responses;
 * - the apply lane: one job at a time against the state machine (entries, a snapshot to restore,
 *   a snapshot to take, a snapshot message to build), so the machine is never touched twice at
 *   once and a snapshot always reflects exactly the entries applied before it.
 * Sync mode (Ready/Advance) runs one Ready at a time through both lanes and then advances;
 * AsyncStorageWrites lets the lanes run on their own (etcd-io/raft's append and apply threads).
 *
 * The rules the simulator found the hard way live here, once:
 * - with AsyncStorageWrites, persistTermBeforeSend: no message leaves before a term or vote it
 *   rests on is durable (docs/divergence.md);
 * - the apply lane skips entries that a snapshot handed to storage already covers, conf changes
 *   included (raft switched to the snapshot's configuration already; seed 417);
 * - a leader asks no ReadIndex before it has committed an entry of its own term, a single
 *   voter included (raft answers a single voter at once): the commit index a restart begins
 *   from need not be durable, so it may be behind writes already acknowledged (proposals.ts);
 * - a snapshot sent to a follower is built from the state machine as applied now, with the
 *   configuration in force (etcd's createMergedSnapshotMessage), not the older storage snapshot;
 * - a restart raises a durable commit index below the snapshot to it (raft refuses to start
 *   otherwise), and replays conf changes into raft even where a durable state machine already
 *   holds their entries (etcd's applyConfChange on replay).
 *
 * Crashes are not the driver's business: the simulator crashes a node by withholding the
 * promises it awaits (storage, state machine) and dropping its messages, so a dead node's code
 * can do nothing more that anyone sees.
 */
import { randomInt } from 'node:crypto'
import {
  EntryType,
  LocalAppendThread,
  LocalApplyThread,
  MessageType,
  RaftError,
  RawNode,
  SnapshotStatus,
  StateType,
  asV2,
  isEmptyHardState,
  isEmptySnap,
  unmarshalConfChange,
  unmarshalConfChangeV2,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Rand,
  type RaftView,
  type Ready,
  type Snapshot,
  type Status,
} from '../raft/index.js'
import { ENVELOPE_BYTES, EnvelopeWriter, payloadOf } from './envelope.js'
import { NodeError, errProposalDropped, errStopped, errTooManyRequests } from './errors.js'
import { validateNodeOptions, type NodeOptions, type ValidNodeOptions } from './options.js'
import { Proposals } from './proposals.js'
import { Reads } from './reads.js'
import type { AppliedConfChange, StateMachine } from './state-machine.js'
import type { NodeStorage, StorageWrite } from './storage.js'
import type { PeerHandler } from './transport.js'

export interface NodeStatus {
  id: NodeId
  state: StateType
  term: number
  lead: NodeId
  committed: number
  /** The last index the state machine applied. */
  applied: number
  confState: ConfState
  leadTransferee: NodeId
}

const enum Phase {
  Running = 0,
  Stopped = 1,
  Failed = 2,
}

const enum JobKind {
  Entries = 0,
  Restore = 1,
  TakeSnapshot = 2,
  SendSnapshot = 3,
}

type Job =
  | { kind: JobKind.Entries; entries: readonly Entry[]; responses: readonly Message[] }
  | { kind: JobKind.Restore; snapshot: Snapshot }
  | { kind: JobKind.TakeSnapshot; keep: number; done: ((index: number) => void) | null }
  | { kind: JobKind.SendSnapshot; message: Message }

/** Readies taken per run of the loop before it yields to the event loop. */
const READIES_PER_RUN = 8

export class RaftNode<R = unknown> {
  readonly id: NodeId
  /** Settles when the node stops; rejects (FATAL) when its storage or state machine failed. */
  readonly done: Promise<void>

  private readonly rn: RawNode
  private readonly o: ValidNodeOptions<R>
  private readonly storage: NodeStorage
  private readonly sm: StateMachine<R>
  private readonly envelopes: EnvelopeWriter
  private readonly proposals = new Proposals()
  private readonly reads: Reads
  private phase = Phase.Running
  private resolveDone!: () => void
  private rejectDone!: (err: unknown) => void
  private stopClock: () => void = () => {}
  /** The driver's logical clock: ticks since start. Every timeout is measured in it. */
  private ticks = 0
  private scheduled = false
  /** Proposals since the last run, proposed to raft together (one MsgProp). */
  private pendingSeqs: number[] = []
  private pendingDatas: Uint8Array[] = []
  /** Sync mode: a Ready is being handled; the next one waits for its advance(). */
  private syncBusy = false
  /** Storage writes issued and not yet durable. */
  private writesInFlight = 0
  /** The newest write's promise; stop() waits for it. */
  private lastWrite: Promise<void> = Promise.resolve()
  /** The newest snapshot's save and compaction; stop() waits for it too. */
  private lastSnapshotWrite: Promise<void> = Promise.resolve()

  /** Callers of snapshot() not answered yet; stop() fails them. */
  private readonly snapshotWaiters = new Set<{ reject: (err: unknown) => void }>()
  private leaderWaiters: { resolve: (lead: NodeId) => void; reject: (err: unknown) => void }[] = []
  private readonly lane: Job[] = []
  private laneRunning = false
  private laneIdle: (() => void)[] = []

  /** Invariant: the state machine reflects exactly the entries up to `applied`. */
  private applied: number
  /** The configuration as of `applied` (what a snapshot taken now records). */
  private conf: ConfState
  /**
   * The last index whose entry raft has seen applied (conf changes replayed, snapshots taken
   * in): `conf` is as of it. Behind `applied` only while a durable machine that restarted ahead
   * of the storage snapshot waits for raft to hand the entries it holds out again; no snapshot
   * is taken or sent meanwhile, as the machine's state and `conf` would not match.
   */
  private raftApplied: number
  /** The newest snapshot raft handed to storage: entries up to it are covered (never applied). */
  private snapCovered: number
  /** The newest snapshot index taken or asked for locally. */
  private snapTaken: number
  private snapQueued = false
  /** The last MsgStorageAppendResp with entries stepped: (index, logTerm, term). */
  private readonly lastAppendResp = { index: 0, logTerm: 0, term: 0 }

  private constructor(o: ValidNodeOptions<R>, rn: RawNode, state: StartState) {
    this.o = o
    this.id = o.id
    this.rn = rn
    this.storage = o.storage
    this.sm = o.stateMachine
    this.applied = state.applied
    this.conf = state.confState
    this.snapCovered = state.snapIndex
    this.raftApplied = state.snapIndex
    this.snapTaken = state.snapIndex
    this.envelopes = new EnvelopeWriter(o.id, state.incarnation)
    const requestRead = (ctx: Uint8Array): boolean => {
      if (this.leaderWithoutCommitInTerm()) return false
      this.rn.readIndex(ctx)
      return true
    }
    this.reads = new Reads(requestRead, o.readRetryTicks, this.envelopes.prefix)
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve
      this.rejectDone = reject
    })
    // Whoever awaits done sees the failure; a node nobody watches must not crash the process.
    this.done.catch(() => {})
  }

  /**
   * Opens a node on its storage and state machine: restores the storage snapshot into a state
   * machine behind it, bootstraps an empty storage from `peers`, and starts ticking.
   */
  static async start<R>(options: NodeOptions<R>): Promise<RaftNode<R>> {
    const o = validateNodeOptions(options)
    const { storage, stateMachine: sm } = o
    const snap = storage.snapshot()
    const snapIndex = snap.metadata.index
    let { hardState: hs } = storage.initialState()
    // An empty storage without peers joins an existing cluster: it waits, with no
    // configuration, for the leader to send it a snapshot (etcd's --initial-cluster-state
    // existing).
    const fresh = isEmptyHardState(hs) && snapIndex === 0 && storage.lastIndex() === 0
    let applied = sm.appliedIndex()
    if (applied < snapIndex) {
      // etcd's recoverSnapshotBackend: the machine is older than the snapshot; take its state.
      await sm.restore(snap)
      applied = snapIndex
    }
    const fixed = repairHardState(hs, storage)
    if (fixed !== null) {
      hs = fixed
      await storage.save({ hardState: hs })
    }
    const rand = o.rand ?? cryptoRand()
    const incarnation = (rand.intn(0x1_0000) * 0x1_0000 + rand.intn(0x1_0000)) >>> 0
    const rn = new RawNode({
      id: o.id,
      electionTick: o.electionTicks,
      heartbeatTick: o.heartbeatTicks,
      storage,
      // Raft hands out the committed entries after the storage snapshot again; the apply lane
      // gives the machine only those it does not hold, and raft every conf change.
      applied: snapIndex,
      asyncStorageWrites: o.asyncStorageWrites,
      persistTermBeforeSend: o.asyncStorageWrites,
      maxSizePerMsg: o.maxSizePerMsg,
      maxCommittedSizePerReady: o.maxCommittedSizePerReady,
      maxUncommittedEntriesSize: o.maxUncommittedEntriesSize,
      maxInflightMsgs: o.maxInflightMsgs,
      maxInflightBytes: o.maxInflightBytes,
      checkQuorum: o.checkQuorum,
      preVote: o.preVote,
      readOnlyOption: o.readOnlyOption,
      stepDownOnRemoval: o.stepDownOnRemoval,
      logger: o.logger,
      rand,
    })
    if (fresh && o.peers.length > 0) rn.bootstrap(o.peers.map((id) => ({ id })))
    const node = new RaftNode(o, rn, {
      applied,
      confState: snap.metadata.confState,
      snapIndex,
      incarnation,
    })
    node.begin()
    return node
  }

  private begin(): void {
    const handler: PeerHandler = {
      receive: (m) => this.receive(m),
      unreachable: (peer) => this.report(() => this.rn.reportUnreachable(peer)),
      snapshotStatus: (peer, status) => this.report(() => this.rn.reportSnapshot(peer, status)),
    }
    this.o.transport.start(handler)
    this.stopClock = this.o.clock.every(this.o.tickMs, () => this.tick())
    this.schedule()
  }

  // --- The public API -------------------------------------------------------------------------

  /**
   * Proposes `data`; resolves with the state machine's result for it once it is applied here
   * and its commit index is durable. Fails with PROPOSAL_DROPPED or TOO_MANY_REQUESTS (not
   * applied), TIMEOUT, LEADER_LOST or STOPPED (outcome unknown).
   */
  propose(data: Uint8Array): Promise<R> {
    const refused = this.refuseProposal()
    if (refused !== null) return Promise.reject(refused)
    const seq = this.envelopes.next()
    const p = this.waitFor<R>(seq)
    this.pendingSeqs.push(seq)
    this.pendingDatas.push(this.envelopes.wrap(seq, data))
    this.schedule()
    return p
  }

  /** Proposes a conf change; resolves with the configuration once it is applied here. */
  proposeConfChange(cc: ConfChange | ConfChangeV2): Promise<ConfState> {
    const refused = this.refuseProposal()
    if (refused !== null) return Promise.reject(refused)
    const seq = this.envelopes.next()
    const p = this.waitFor<ConfState>(seq)
    const context = this.envelopes.wrap(seq, cc.context)
    try {
      this.rn.proposeConfChange({ ...cc, context })
      if (this.isLeader()) this.proposals.placed(seq, this.lastIndex())
    } catch (err) {
      this.proposals.reject(seq, this.proposeError(err))
    }
    this.schedule()
    return p
  }

  /** The promise of proposal `seq`, timing out requestTimeoutTicks from now. */
  private waitFor<T>(seq: number): Promise<T> {
    const deadline = this.ticks + this.o.requestTimeoutTicks
    return this.proposals.add<T>(seq, deadline, this.lead(), this.term())
  }

  /**
   * A linearizable read: resolves with an index once the state machine has applied up to it,
   * which every write acknowledged before the call is at or below (ReadIndex, Raft thesis §6.4).
   * The caller then reads its state machine.
   */
  read(): Promise<number> {
    if (this.phase !== Phase.Running) return Promise.reject(errStopped())
    if (this.reads.size >= this.o.readsMax) return Promise.reject(errTooManyRequests())
    const p = this.reads.add(this.ticks + this.o.requestTimeoutTicks)
    this.schedule()
    return p
  }

  /** Resolves with the leader's id once this node knows one (at once if it does). */
  leader(): Promise<NodeId> {
    if (this.phase !== Phase.Running) return Promise.reject(errStopped())
    const lead = this.lead()
    if (lead !== 0n) return Promise.resolve(lead)
    if (this.leaderWaiters.length >= this.o.readsMax) return Promise.reject(errTooManyRequests())
    return new Promise((resolve, reject) => this.leaderWaiters.push({ resolve, reject }))
  }

  /** Asks the leader (this node) to hand leadership to `to` (etcd's MoveLeader). */
  transferLeader(to: NodeId): void {
    this.call(() => this.rn.transferLeader(to))
  }

  /** Starts an election now (a test hook; nodes campaign on their own). */
  campaign(): void {
    this.call(() => this.rn.campaign())
  }

  /**
   * Takes a snapshot of the state machine now and compacts the log behind it, keeping
   * `compactKeep` entries (default snapshotCatchUpEntries); resolves with the snapshot's index,
   * or the index of the newest snapshot when nothing was applied since.
   */
  snapshot(opts: { compactKeep?: number } = {}): Promise<number> {
    if (this.phase !== Phase.Running) return Promise.reject(errStopped())
    if (this.lane.length >= this.o.storageQueueMax) return Promise.reject(errTooManyRequests())
    return new Promise<number>((resolve, reject) => {
      const keep = opts.compactKeep ?? this.o.snapshotCatchUpEntries
      const waiter = { resolve, reject }
      this.snapshotWaiters.add(waiter)
      const done = (index: number): void => {
        this.snapshotWaiters.delete(waiter)
        resolve(index)
      }
      this.enqueue({ kind: JobKind.TakeSnapshot, keep, done })
    })
  }

  /** Raft's own status (etcd-io/raft Status: configuration, and on a leader every progress). */
  raftStatus(): Status {
    return this.rn.status()
  }

  status(): NodeStatus {
    const s = this.rn.basicStatus()
    return {
      id: this.id,
      state: s.softState.raftState,
      term: s.hardState.term,
      lead: s.softState.lead,
      committed: s.hardState.commit,
      applied: this.applied,
      confState: this.conf,
      leadTransferee: s.leadTransferee,
    }
  }

  /** Stops ticking, sending and applying; waits for storage writes in flight. */
  async stop(): Promise<void> {
    if (this.phase === Phase.Running) {
      this.phase = Phase.Stopped
      this.shutDown(errStopped())
      await this.lastWrite.catch(() => {})
      await this.laneDrained()
      await this.lastSnapshotWrite
      this.resolveDone()
    }
    return this.done.catch(() => {})
  }

  // --- Inputs ---------------------------------------------------------------------------------

  private tick(): void {
    if (this.phase !== Phase.Running) return
    this.ticks++
    this.call(() => {
      this.rn.tick()
      this.proposals.expire(this.ticks, this.lead(), this.term())
      // It may ask raft again for a round's ReadIndex.
      this.reads.tick(this.ticks)
    })
  }

  private receive(m: Message): void {
    if (this.phase !== Phase.Running) return
    try {
      this.rn.step(m)
      if (m.type === MessageType.MsgSnap) {
        // Raft switched to the snapshot's log and configuration now, not when its Ready is
        // taken: entries it covers that still wait in the apply lane must not reach raft.
        const restored = this.rn.view.firstIndex() - 1
        if (restored > this.snapCovered) this.snapCovered = restored
      }
    } catch (err) {
      // A stale or misdirected message (a peer we no longer track, a malformed MsgApp): dropped.
      if (!(err instanceof RaftError)) return this.fail(err)
      this.o.logger.debug(
        `node ${this.id.toString(16)}: dropped ${MessageType[m.type]} from ${m.from.toString(16)}: ${err.message}`,
      )
    }
    this.schedule()
  }

  private report(fn: () => void): void {
    if (this.phase === Phase.Running) this.call(fn)
  }

  /** Runs a RawNode call; a RaftError is the caller's answer, anything else breaks the node. */
  private call(fn: () => void): void {
    if (this.phase !== Phase.Running) return
    try {
      fn()
    } catch (err) {
      if (!(err instanceof RaftError)) return this.fail(err)
    }
    this.schedule()
  }

  private refuseProposal(): NodeError | null {
    if (this.phase !== Phase.Running) return errStopped()
    const o = this.o
    const backlog = this.rn.view.committed - this.applied
    if (
      this.proposals.size >= o.proposalsMax ||
      backlog > o.applyBacklogMax ||
      this.writesInFlight >= o.storageQueueMax ||
      this.lane.length >= o.storageQueueMax
    ) {
      return errTooManyRequests()
    }
    return null
  }

  private proposeError(err: unknown): unknown {
    if (RaftError.is(err, 'PROPOSAL_DROPPED')) return errProposalDropped()
    if (err instanceof RaftError) return err
    this.fail(err)
    return errStopped(err)
  }

  // --- The Ready loop ---------------------------------------------------------------------------

  /** Runs the loop in a microtask: steps and proposals made meanwhile share one Ready. */
  private schedule(): void {
    if (this.scheduled || this.phase !== Phase.Running) return
    this.scheduled = true
    queueMicrotask(() => this.run())
  }

  private run(): void {
    this.scheduled = false
    if (this.phase !== Phase.Running) return
    try {
      this.flushProposals()
      this.reads.flush(this.ticks, this.lead())
      if (this.syncBusy) return
      for (let i = 0; i < READIES_PER_RUN; i++) {
        if (!this.rn.hasReady()) return
        const rd = this.rn.ready()
        this.o.observer.ready?.(rd, this.rn.view)
        this.takeReady(rd)
        if (this.o.asyncStorageWrites) this.route(rd)
        else return void this.handleSync(rd)
      }
      if (this.rn.hasReady()) this.schedule()
    } catch (err) {
      this.fail(err)
    }
  }

  private flushProposals(): void {
    const seqs = this.pendingSeqs
    if (seqs.length === 0) return
    const datas = this.pendingDatas
    this.pendingSeqs = []
    this.pendingDatas = []
    try {
      this.rn.proposeBatch(datas)
    } catch (err) {
      const e = this.proposeError(err)
      for (const seq of seqs) this.proposals.reject(seq, e)
      return
    }
    if (!this.isLeader()) return
    // The leader appended them as one run ending at its last index.
    const first = this.lastIndex() - seqs.length + 1
    for (let k = 0; k < seqs.length; k++) this.proposals.placed(seqs[k] as number, first + k)
  }

  /** What every Ready carries for the driver itself: leader changes and read answers. */
  private takeReady(rd: Ready): void {
    const ss = rd.softState
    if (ss !== null) {
      this.reads.leaderChanged(ss.lead, this.ticks)
      if (ss.lead !== 0n && this.leaderWaiters.length > 0) {
        const waiters = this.leaderWaiters
        this.leaderWaiters = []
        for (const w of waiters) w.resolve(ss.lead)
      }
    }
    if (rd.readStates.length > 0 && this.reads.answered(rd.readStates, this.applied))
      this.schedule()
  }

  /** Sync mode: persist, send, apply, advance, in that order (etcd-io/raft doc.go). */
  private async handleSync(rd: Ready): Promise<void> {
    this.syncBusy = true
    try {
      const w: StorageWrite = {}
      let write = false
      if (!isEmptySnap(rd.snapshot)) {
        w.snapshot = rd.snapshot!
        this.snapCovered = Math.max(this.snapCovered, rd.snapshot!.metadata.index)
        write = true
      }
      if (rd.entries.length > 0) {
        w.entries = rd.entries
        write = true
      }
      if (rd.hardState !== null) {
        w.hardState = rd.hardState
        write = true
      }
      if (write) await this.persist(w)
      if (this.phase !== Phase.Running) return
      this.send(rd.messages)
      if (w.snapshot !== undefined) this.enqueue({ kind: JobKind.Restore, snapshot: w.snapshot })
      if (rd.committedEntries.length > 0) {
        this.enqueue({ kind: JobKind.Entries, entries: rd.committedEntries, responses: [] })
      }
      await this.laneDrained()
      if (this.phase !== Phase.Running) return
      this.rn.advance()
    } catch (err) {
      return this.fail(err)
    }
    this.syncBusy = false
    this.schedule()
  }

  /**
   * AsyncStorageWrites: network messages leave now; MsgStorageAppend goes to storage, whose
   * responses are stepped once it is durable; MsgStorageApply goes to the apply lane.
   */
  private route(rd: Ready): void {
    let out: Message[] | null = null
    for (const m of rd.messages) {
      if (m.to === LocalAppendThread) this.append(m)
      else if (m.to === LocalApplyThread) {
        this.enqueue({ kind: JobKind.Entries, entries: m.entries, responses: m.responses })
      } else (out ??= []).push(m)
    }
    if (out !== null) this.send(out)
  }

  private append(m: Message): void {
    const w: StorageWrite = {}
    const snap = m.snapshot
    if (snap !== null && !isEmptySnap(snap)) {
      w.snapshot = snap
      this.snapCovered = Math.max(this.snapCovered, snap.metadata.index)
    }
    if (m.entries.length > 0) w.entries = m.entries
    const hs: HardState = { term: m.term, vote: m.vote, commit: m.commit }
    if (!isEmptyHardState(hs)) w.hardState = hs
    this.persist(w).then(
      () => {
        if (this.phase !== Phase.Running) return
        if (w.snapshot !== undefined) this.enqueue({ kind: JobKind.Restore, snapshot: w.snapshot })
        this.respond(m.responses)
        this.schedule()
      },
      (err: unknown) => this.fail(err),
    )
  }

  /** Writes through storage. */
  private persist(w: StorageWrite): Promise<void> {
    this.writesInFlight++
    const p = this.storage.save(w).then(() => {
      this.writesInFlight--
    })
    this.lastWrite = p
    return p
  }

  /** A storage lane's responses: stepped here when addressed to us, sent otherwise. */
  private respond(responses: readonly Message[]): void {
    let out: Message[] | null = null
    for (const r of responses) {
      if (r.to !== this.id) {
        ;(out ??= []).push(r)
        continue
      }
      if (r.type === MessageType.MsgStorageAppendResp && r.index !== 0 && r.snapshot === null) {
        // A write with no entries of its own (a commit index) names the log's last entry, which
        // the write before it made stable already: raft would only log that it is missing from
        // the unstable log, once per such write. Skipped when it repeats the last one stepped
        // exactly; a later response stabilizes everything up to its own entry anyway.
        const last = this.lastAppendResp
        if (r.index === last.index && r.logTerm === last.logTerm && r.term === last.term) continue
        last.index = r.index
        last.logTerm = r.logTerm
        last.term = r.term
      }
      try {
        this.rn.step(r)
      } catch (err) {
        if (!(err instanceof RaftError)) return this.fail(err)
      }
    }
    if (out !== null) this.send(out)
  }

  private send(messages: readonly Message[]): void {
    if (messages.length === 0) return
    let out: Message[] | readonly Message[] = messages
    for (let i = 0; i < messages.length; i++) {
      if (messages[i]!.type !== MessageType.MsgSnap) continue
      // A snapshot message is rebuilt on the apply lane from the state as applied now.
      out = messages.filter((m) => m.type !== MessageType.MsgSnap)
      for (const m of messages) {
        if (m.type === MessageType.MsgSnap) this.enqueue({ kind: JobKind.SendSnapshot, message: m })
      }
      break
    }
    if (out.length > 0) this.o.transport.send(out)
  }

  // --- The apply lane ---------------------------------------------------------------------------

  private enqueue(job: Job): void {
    this.lane.push(job)
    if (!this.laneRunning) void this.pump()
  }

  /** Resolves once the lane has nothing left to do. */
  private laneDrained(): Promise<void> {
    if (!this.laneRunning) return Promise.resolve()
    return new Promise((resolve) => this.laneIdle.push(resolve))
  }

  private async pump(): Promise<void> {
    this.laneRunning = true
    try {
      // Bounded by the jobs queued; each job runs to completion before the next.
      while (this.lane.length > 0 && this.phase === Phase.Running) {
        const job = this.lane.shift()!
        const pending = this.runJob(job)
        if (pending !== undefined) await pending
      }
    } catch (err) {
      this.fail(err)
    }
    this.laneRunning = false
    const idle = this.laneIdle
    this.laneIdle = []
    for (const resolve of idle) resolve()
  }

  private runJob(job: Job): Promise<void> | undefined {
    switch (job.kind) {
      case JobKind.Entries:
        return this.applyEntries(job.entries, 0, job.responses)
      case JobKind.Restore:
        return this.restore(job.snapshot)
      case JobKind.TakeSnapshot:
        return this.takeSnapshot(job.keep, job.done)
      case JobKind.SendSnapshot:
        return this.sendSnapshot(job.message)
    }
  }

  /**
   * Applies ents[from..] in order: runs of normal entries in one call to the machine, each conf
   * change on its own, first to raft (always), then to the machine (if it does not hold it yet).
   * Returns a promise only when the machine answered with one.
   */
  private applyEntries(
    ents: readonly Entry[],
    from: number,
    responses: readonly Message[],
  ): Promise<void> | undefined {
    let i = from
    // Bounded by ents.length: each pass consumes at least one entry.
    while (i < ents.length) {
      if (this.phase !== Phase.Running) return undefined
      const e = ents[i]!
      if (e.index <= this.snapCovered) {
        i++
        continue
      }
      if (e.type !== EntryType.EntryNormal) {
        i++
        const pending = this.applyConfChange(e)
        if (pending !== undefined) return pending.then(() => this.applyEntries(ents, i, responses))
        continue
      }
      let j = i
      while (j < ents.length && ents[j]!.type === EntryType.EntryNormal) j++
      const run = ents.slice(i, j).filter((x) => x.index > this.applied)
      i = j
      if (run.length === 0) continue
      const results = this.sm.apply(run.map(toPayload))
      if (isPromise(results)) {
        return results.then((r) => {
          this.appliedRun(run, r)
          return this.applyEntries(ents, i, responses)
        })
      }
      this.appliedRun(run, results)
    }
    const last = ents[ents.length - 1]
    if (last !== undefined && last.index > this.raftApplied) this.raftApplied = last.index
    this.appliedAll(responses)
    return undefined
  }

  private appliedRun(run: readonly Entry[], results: readonly unknown[]): void {
    if (this.phase !== Phase.Running) return
    for (let k = 0; k < run.length; k++) {
      const e = run[k]!
      this.applied = e.index
      const seq = e.data.length === 0 ? 0 : this.envelopes.own(e.data)
      this.proposals.applied(e.index, seq, results[k])
    }
  }

  private applyConfChange(e: Entry): Promise<void> | undefined {
    const raw =
      e.type === EntryType.EntryConfChange
        ? unmarshalConfChange(e.data)
        : unmarshalConfChangeV2(e.data)
    // Every conf change proposed through a driver carries an envelope in its context; the ones
    // raft makes itself (bootstrap, leaving a joint configuration) carry none.
    const enveloped = raw.context.length >= ENVELOPE_BYTES
    const seq = enveloped ? this.envelopes.own(raw.context) : 0
    const context = enveloped ? payloadOf(raw.context) : raw.context
    const change = asV2({ ...raw, context })
    const cs = this.rn.applyConfChange(raw)
    this.conf = cs
    if (e.index <= this.applied) return undefined // a durable machine holds it already
    const done = (): void => {
      if (this.phase !== Phase.Running) return
      this.applied = e.index
      this.proposals.applied(e.index, seq, cs)
    }
    const change2: AppliedConfChange = { index: e.index, term: e.term, change, confState: cs }
    const pending = this.sm.applyConfChange(change2)
    if (isPromise(pending)) return pending.then(done)
    done()
    return undefined
  }

  /** After a job's entries: answer reads, hand raft the apply responses, maybe snapshot. */
  private appliedAll(responses: readonly Message[]): void {
    if (this.phase !== Phase.Running) return
    this.reads.applied(this.applied)
    if (responses.length > 0) this.respond(responses)
    const every = this.o.snapshotCount
    if (every > 0 && !this.snapQueued && this.applied - this.snapTaken > every) {
      this.snapQueued = true
      this.lane.push({
        kind: JobKind.TakeSnapshot,
        keep: this.o.snapshotCatchUpEntries,
        done: null,
      })
    }
    this.schedule()
  }

  private restore(snap: Snapshot): Promise<void> | undefined {
    const index = snap.metadata.index
    this.raftApplied = Math.max(this.raftApplied, index)
    this.conf = snap.metadata.confState
    // A durable machine may be ahead of a snapshot raft accepted after a restart (raft's commit
    // index restarts lower): it keeps its state, and skips the entries up to where it is.
    if (index <= this.applied) return undefined
    const done = (): void => {
      this.applied = index
      this.snapTaken = Math.max(this.snapTaken, index)
      this.reads.applied(index)
    }
    const pending = this.sm.restore(snap)
    if (isPromise(pending)) return pending.then(done)
    done()
    return undefined
  }

  private takeSnapshot(
    keep: number,
    done: ((index: number) => void) | null,
  ): Promise<void> | undefined {
    this.snapQueued = false
    const index = this.applied
    if (index <= this.snapTaken || index !== this.raftApplied) {
      done?.(this.snapTaken)
      return undefined
    }
    this.snapTaken = index
    const confState = this.conf
    const save = (data: Uint8Array): void => {
      if (this.phase !== Phase.Running) return
      const storage = this.storage
      this.lastSnapshotWrite = storage
        .createSnapshot(index, confState, data)
        .then(() => {
          // Never past what raft knows applied: it scans unapplied entries for conf changes.
          const compactTo = Math.min(index - keep, this.rn.view.applied)
          if (compactTo > storage.firstIndex() - 1) return storage.compact(compactTo)
          return undefined
        })
        .then(
          () => done?.(index),
          (err: unknown) => {
            // Compacted or out of date meanwhile (a snapshot from the leader overtook it).
            if (err instanceof RaftError) done?.(index)
            else this.fail(err)
          },
        )
    }
    if (this.sm.compactionSnapshot !== undefined) {
      // Resolves once the machine is durable up to `index` (a backend batch away, up to 100 ms
      // with LMDB): the lane goes on applying meanwhile, and the snapshot is saved then.
      const data = this.sm.compactionSnapshot()
      if (!isPromise(data)) save(data)
      else data.then(save, (err: unknown) => this.fail(err))
      return undefined
    }
    const data = this.sm.snapshot()
    if (isPromise(data)) return data.then(save)
    save(data)
    return undefined
  }

  /**
   * etcd's createMergedSnapshotMessage: the follower gets the state as applied now, with the
   * configuration in force, rather than the storage snapshot raft named, which may predate a
   * conf change that added the follower (raft would then refuse it: "not in the ConfState").
   */
  private sendSnapshot(m: Message): Promise<void> | undefined {
    const named = m.snapshot?.metadata.index ?? 0
    const index = this.applied
    let term = 0
    try {
      if (index === this.raftApplied) {
        if (index > named) term = this.storage.term(index)
        // A storage snapshot that may hold no state is rebuilt even at its own index.
        else if (index === named && this.sm.compactionSnapshot !== undefined)
          term = m.snapshot?.metadata.term ?? 0
      }
    } catch (err) {
      if (!(err instanceof RaftError)) throw err
    }
    if (term === 0) {
      if (this.sm.compactionSnapshot === undefined) {
        this.o.transport.send([m])
        return undefined
      }
      // The storage snapshot raft named may hold no state (compactionSnapshot): it never leaves
      // this node. Raft sends another once told this one failed (the follower probes again).
      this.report(() => this.rn.reportSnapshot(m.to, SnapshotStatus.SnapshotFailure))
      return undefined
    }
    const confState = this.conf
    const send = (data: Uint8Array): void => {
      if (this.phase !== Phase.Running) return
      const snapshot: Snapshot = { data, metadata: { index, term, confState } }
      this.o.transport.send([{ ...m, snapshot }])
    }
    const data = this.sm.snapshot()
    if (isPromise(data)) return data.then(send)
    send(data)
    return undefined
  }

  // --- Failure and shutdown ---------------------------------------------------------------------

  /** A failure of storage, the state machine or raft itself: the node stops (etcd exits). */
  private fail(err: unknown): void {
    if (this.phase !== Phase.Running) return
    this.phase = Phase.Failed
    const msg = err instanceof Error ? err.message : String(err)
    this.o.logger.error(`node ${this.id.toString(16)} stopped: ${msg}`)
    this.shutDown(errStopped(err))
    this.rejectDone(
      new NodeError('FATAL', `node ${this.id.toString(16)} failed: ${msg}`, { cause: err }),
    )
  }

  private shutDown(err: NodeError): void {
    this.stopClock()
    this.o.transport.stop()
    this.proposals.rejectAll(err)
    this.reads.rejectAll(err)
    for (const w of this.leaderWaiters) w.reject(err)
    this.leaderWaiters = []
    for (const w of this.snapshotWaiters) w.reject(err)
    this.snapshotWaiters.clear()
    this.pendingSeqs = []
    this.pendingDatas = []
  }

  // --- Raft state, read through the view ---------------------------------------------------------

  /** The configuration raft runs with, as of the last conf change applied (or snapshot). */
  get confState(): ConfState {
    return this.conf
  }

  /** The raft state of this node, read-only (RawNode's view): for observers and checkers. */
  get view(): RaftView {
    return this.rn.view
  }

  private isLeader(): boolean {
    return this.rn.view.state === StateType.StateLeader
  }

  /**
   * A leader that has not committed an entry of its term yet: its commit index may be behind
   * entries committed, applied and acknowledged before (after a restart it is the one the
   * storage kept, and a HardState whose only change is the commit index is not synced: see
   * WalStorage.save). Raft holds a ReadIndex in that state itself, except on a single voter,
   * which it answers at once from that commit index; the driver holds its rounds for every
   * leader (reads.ts), until the leader's empty entry is committed.
   */
  private leaderWithoutCommitInTerm(): boolean {
    const v = this.rn.view
    return v.state === StateType.StateLeader && v.termAt(v.committed) !== v.term
  }

  private lead(): NodeId {
    return this.rn.view.lead
  }

  private term(): number {
    return this.rn.view.term
  }

  private lastIndex(): number {
    return this.rn.view.lastIndex()
  }
}

interface StartState {
  applied: number
  confState: ConfState
  snapIndex: number
  incarnation: number
}

/**
 * The HardState a restart must run with, when the durable one lags behind the log it describes;
 * null when it does not. A write whose HardState was lost while its entries or snapshot were kept
 * (a storage that tears a batch between them, as etcd's WAL can, or a snapshot bootstrapped
 * without a HardState) leaves:
 * - a commit index below the snapshot: a snapshot is committed by definition, and raft refuses
 *   a commit index below it;
 * - a term below the last entry's: raft would run at a term older than its own log, and its
 *   refusal of a vote, sent at its own term, would be a message of term 0 if that is 0 (raft
 *   panics on it, as etcd-io/raft would). Raising the term, with no vote, is safe: a vote is
 *   sent only once the HardState recording it is durable, so none was cast in a term at or
 *   above the last entry's.
 */
function repairHardState(hs: HardState, storage: NodeStorage): HardState | null {
  const snapIndex = storage.snapshot().metadata.index
  const last = storage.lastIndex()
  const lastTerm = last >= storage.firstIndex() - 1 && last > 0 ? storage.term(last) : 0
  if (hs.term >= lastTerm && (isEmptyHardState(hs) || hs.commit >= snapIndex)) return null
  if (hs.term >= lastTerm) return { ...hs, commit: snapIndex }
  return { term: lastTerm, vote: 0n, commit: Math.max(hs.commit, snapIndex) }
}

function toPayload(e: Entry): Entry {
  if (e.data.length === 0) return e
  if (e.data.length < ENVELOPE_BYTES) {
    throw new NodeError(
      'FATAL',
      `node: entry ${e.index} carries ${e.data.length} bytes, no proposal envelope`,
    )
  }
  return { term: e.term, index: e.index, type: e.type, data: payloadOf(e.data) }
}

function isPromise<T>(x: T | Promise<T>): x is Promise<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function'
}

/** Unpredictable randomness for election timeouts and incarnations (node:crypto). */
function cryptoRand(): Rand {
  return { intn: (n) => randomInt(n) }
}
