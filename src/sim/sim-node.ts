/**
 * One simulated member: its durable state (disk, and the state machine when it survives
 * crashes), and its live process, an Incarnation: a RaftNode (the driver the server ships) with
 * the simulator's storage, state machine, transport and clock around it.
 *
 * The wrappers are where crashes strike. A node marked to crash at some point of its work dies
 * when the driver reaches that point: before a write is issued, in the middle of it (torn), once
 * it is durable but before the driver hears of it, after a send, in the middle of applying, or
 * after applying. Death withholds every promise the driver awaits and drops everything it still
 * tries to do, so the dead driver cannot act; the driver itself has no crash branches.
 *
 * With AsyncStorageWrites the storage and apply lanes are the node's disk threads: what the
 * driver hands them waits until the simulated thread runs (chance diskRate per delivery round).
 */
import {
  MessageType,
  marshalConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type Snapshot,
  type Storage,
} from '../raft/index.js'
import { ManualClock } from '../io/index.js'
import type {
  AppliedConfChange,
  NodeStorage,
  PeerHandler,
  RaftNode,
  StateMachine,
  StorageWrite,
  Transport,
} from '../node/index.js'
import { hashBytes } from './kv.js'
import type { KvResult, Machine } from './machine.js'
import { IncarnationWatch } from './watch.js'
import type { NodeDiskState } from './node-disk-state.js'
import type { Prng } from './prng.js'
import type { SimOptions } from './options.js'

/** Where in its work a node marked to crash stops. */
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
export const CRASH_POINT_COUNT = 7

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
  RotRefused = 19,
  WriteRefused = 20,
}
export const EV_COUNT = 21

/** Started, and neither retired nor refusing to start. */
export function active(node: SimNode): boolean {
  return node.joined && !node.removed && !node.refused
}

export type { KvResult } from './machine.js'

/** What an incarnation reports to the cluster and asks of it; the cluster implements it. */
export interface NodeHost {
  readonly options: SimOptions
  readonly asyncStorageWrites: boolean
  /** The chance source of crash points and torn writes. */
  readonly faults: Prng
  crash(node: SimNode, where: string): void
  send(from: number, m: Message): void
  /** The driver asked storage to persist `w` (observed before any of it is written). */
  saving(node: SimNode, w: StorageWrite): void
  /** Entries (the first `kept` of `ents`) are being written after the entry at `before`. */
  persisting(node: SimNode, ents: readonly Entry[], kept: number, snap: Snapshot | undefined): void
  applied(node: SimNode, e: Entry, sm: Machine): void
  confApplied(node: SimNode, c: AppliedConfChange, sm: Machine): void
  restored(node: SimNode, sm: Machine, cs: ConfState): void
  /** The node sent a vote it granted: the chance to crash right after. */
  votedFor(node: SimNode): void
  /** The node asked the leader for a ReadIndex: the chance to crash and come back at once. */
  askedRead(node: SimNode): void
}

export class SimNode {
  /** The live process, or null while down. */
  inc: Incarnation | null = null
  /** The state machine: kept across crashes when it is durable (etcd's backend). */
  sm: Machine | null = null
  crashPoint: CrashPoint = CrashPoint.None
  /** Restart at the next tick: a supervisor bringing the process straight back. */
  restartAtOnce = false
  downSince = 0
  tickAccPermille = 0
  /** Started once: an initial voter, or a spare after a configuration added it. */
  joined = true
  /** Out of the configuration and retired for good. */
  removed = false
  /** Refused to start for good: its disk rotted, and recovery said so (bitRot seeds). */
  refused = false
  /** The configuration the node last ran with, while it is down. */
  private lastConf: ConfState

  constructor(
    readonly id: number,
    readonly prng: Prng,
    /** The node's disk: persists Readies, survives crashes, reopens on restart. */
    readonly disk: NodeDiskState,
    conf: ConfState,
  ) {
    this.lastConf = conf
  }

  /** The configuration the node runs with: its driver's, or the last one it had. */
  get conf(): ConfState {
    const d = this.inc?.driver ?? null
    if (d !== null) this.lastConf = d.confState
    return this.lastConf
  }

  /** The driver of the live process, once it has started. */
  get driver(): RaftNode<KvResult> | null {
    return this.inc?.driver ?? null
  }

  /** The raft Storage the disk holds now. */
  get storage(): Storage {
    return this.disk.storage
  }
}

const NEVER = new Promise<never>(() => {})

/** One life of a node's process, from start to crash: the driver and what it runs on. */
export class Incarnation {
  alive = true
  driver: RaftNode<KvResult> | null = null
  handler: PeerHandler | null = null
  readonly clock = new ManualClock()
  /** What the cluster saw of the process: peers heard, votes, configurations (watch.ts). */
  readonly watch = new IncarnationWatch()
  readonly storage: NodeStorage
  readonly machine: StateMachine<KvResult>
  readonly transport: Transport
  /** Writes waiting for the storage thread (async mode), and machine calls for the apply thread. */
  writes: { w: StorageWrite; resolve: () => void }[] = []
  machineJobs: (() => void)[] = []

  constructor(
    readonly node: SimNode,
    /** The state machine the process applies to (replaced by a restore). */
    public sm: Machine,
    readonly host: NodeHost,
  ) {
    this.storage = new SimStorage(this)
    this.machine = new SimMachine(this)
    this.transport = new SimTransport(this)
  }

  /** Runs the disk threads: each takes its queue with chance `rate`; true if one ran. */
  runThreads(rate: number): boolean {
    let ran = false
    if (this.writes.length > 0 && this.host.faults.chance(rate)) {
      ran = true
      const work = this.writes
      this.writes = []
      for (const { w, resolve } of work) {
        if (!this.alive) return true
        write(this, w, resolve)
      }
    }
    if (this.alive && this.machineJobs.length > 0 && this.host.faults.chance(rate)) {
      ran = true
      const work = this.machineJobs
      this.machineJobs = []
      for (const job of work) {
        if (!this.alive) return true
        job()
      }
    }
    return ran
  }

  /** Runs `fn` on the apply thread; the promise settles with its result (never, on a crash). */
  later<T>(fn: () => T | null): Promise<T> {
    return new Promise((resolve) =>
      this.machineJobs.push(() => {
        const r = fn()
        if (r !== null) resolve(r)
      }),
    )
  }

  /** Writes waiting for the storage thread, or applies for the apply thread. */
  hasQueued(): boolean {
    return this.writes.length > 0 || this.machineJobs.length > 0
  }
}

/** NodeStorage: reads from the disk, writes through the crash points. */
class SimStorage implements NodeStorage {
  constructor(private readonly inc: Incarnation) {}

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.inc.node.storage.initialState()
  }
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    return this.inc.node.storage.entries(lo, hi, maxSize)
  }
  term(i: number): number {
    return this.inc.node.storage.term(i)
  }
  lastIndex(): number {
    return this.inc.node.storage.lastIndex()
  }
  firstIndex(): number {
    return this.inc.node.storage.firstIndex()
  }
  snapshot(): Snapshot {
    return this.inc.node.storage.snapshot()
  }

  save(w: StorageWrite): Promise<void> {
    const inc = this.inc
    if (!inc.alive) return NEVER
    inc.host.saving(inc.node, w)
    return new Promise<void>((resolve) => {
      if (inc.host.asyncStorageWrites) inc.writes.push({ w, resolve })
      else write(inc, w, resolve)
    })
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<void> {
    if (!this.inc.alive) return NEVER
    return this.inc.node.disk.createSnapshot(index, confState, data)
  }

  compact(index: number): Promise<void> {
    if (!this.inc.alive) return NEVER
    return this.inc.node.disk.compact(index)
  }
}

function write(inc: Incarnation, w: StorageWrite, resolve: () => void): void {
  const { node, host } = inc
  const point = node.crashPoint
  if (point === CrashPoint.BeforePersist) return host.crash(node, 'before persist')
  const ents = w.entries ?? []
  if (point === CrashPoint.TornPersist) {
    // On a MemoryStorage a prefix of the entries and no HardState survive; on a WAL all is
    // written and the power loss decides what survives.
    const kept = ents.length > 0 ? node.disk.tornKeep(ents.length, host.faults) : 0
    host.persisting(node, ents, kept, w.snapshot)
    const torn: StorageWrite = { entries: ents.slice(0, kept) }
    if (w.snapshot !== undefined) torn.snapshot = w.snapshot
    void node.disk.persist(torn)
    return host.crash(node, `torn write, kept ${kept} of ${ents.length} entries and no HardState`)
  }
  host.persisting(node, ents, ents.length, w.snapshot)
  void node.disk.persist(w).then(() => {
    if (!inc.alive) return
    if (node.crashPoint === CrashPoint.AfterPersist) {
      return host.crash(node, 'after persist, before the driver heard')
    }
    resolve()
  })
}

/** StateMachine: the run's machine (registers or the server's apply path), through the crash points. */
class SimMachine implements StateMachine<KvResult> {
  /** The machine's own compaction snapshot, where it has one (a durable server machine). */
  readonly compactionSnapshot?: () => Uint8Array | Promise<Uint8Array>

  constructor(private readonly inc: Incarnation) {
    if (inc.sm.compactionSnapshot === undefined) return
    this.compactionSnapshot = () => {
      if (!inc.alive) return NEVER
      const take = (): Uint8Array | Promise<Uint8Array> =>
        inc.sm.compactionSnapshot?.() ?? inc.sm.snapshot()
      if (inc.host.options.slowMachine) return inc.later(take) as Promise<Uint8Array>
      return take()
    }
  }

  appliedIndex(): number {
    return this.inc.sm.applied
  }

  apply(entries: readonly Entry[]): readonly KvResult[] | Promise<readonly KvResult[]> {
    const inc = this.inc
    if (!inc.alive) return NEVER
    if (!inc.host.asyncStorageWrites && !inc.host.options.slowMachine) {
      return applyNow(inc, entries) ?? NEVER
    }
    return inc.later(() => applyNow(inc, entries))
  }

  applyConfChange(c: AppliedConfChange): void | Promise<void> {
    const inc = this.inc
    if (!inc.alive) return NEVER
    if (inc.host.options.slowMachine) return inc.later(() => this.confChangeNow(c)).then(() => {})
    this.confChangeNow(c)
  }

  private confChangeNow(c: AppliedConfChange): true {
    const inc = this.inc
    inc.sm.applyConfChange(c)
    inc.host.confApplied(inc.node, c, inc.sm)
    return true
  }

  snapshot(): Uint8Array | Promise<Uint8Array> {
    const inc = this.inc
    if (!inc.alive) return NEVER
    if (inc.host.options.slowMachine)
      return inc.later(() => inc.sm.snapshot()) as Promise<Uint8Array>
    return inc.sm.snapshot()
  }

  restore(snap: Snapshot): void | Promise<void> {
    const inc = this.inc
    if (!inc.alive) return NEVER
    if (inc.host.options.slowMachine) return inc.later(() => this.restoreNow(snap)).then(() => {})
    this.restoreNow(snap)
  }

  private restoreNow(snap: Snapshot): true {
    const inc = this.inc
    const sm = inc.sm.restore(snap)
    inc.sm = sm
    inc.node.sm = sm
    inc.host.restored(inc.node, sm, snap.metadata.confState)
    return true
  }
}

/** Applies `entries`; null when the node crashed on the way. */
function applyNow(inc: Incarnation, entries: readonly Entry[]): KvResult[] | null {
  const { node, host, sm } = inc
  const point = node.crashPoint
  const stop = point === CrashPoint.MidApply ? host.faults.intn(entries.length + 1) : entries.length
  const results: KvResult[] = []
  for (let i = 0; i < stop; i++) {
    const e = entries[i]!
    const r = sm.applyEntry(e)
    host.applied(node, e, sm)
    results.push(r)
  }
  if (point === CrashPoint.MidApply) {
    host.crash(node, `while applying, after ${stop} of ${entries.length} entries`)
    return null
  }
  if (point === CrashPoint.AfterApply) {
    host.crash(node, 'after apply, before the driver heard')
    return null
  }
  return results
}

/** Transport: into the simulated network, with a crash right after a send where marked. */
class SimTransport implements Transport {
  constructor(private readonly inc: Incarnation) {}

  start(handler: PeerHandler): void {
    this.inc.handler = handler
  }

  send(messages: readonly Message[]): void {
    const inc = this.inc
    if (!inc.alive) return
    const node = inc.node
    let granted = false
    let askedRead = false
    for (const m of messages) {
      inc.host.send(node.id, m)
      if (m.type === MessageType.MsgVoteResp && !m.reject) granted = true
      else if (m.type === MessageType.MsgReadIndex) askedRead = true
    }
    if (node.crashPoint === CrashPoint.AfterSend) return inc.host.crash(node, 'after send')
    // A vote must survive a crash right after it was sent (a voter that forgot it could vote
    // twice in one term).
    if (granted) inc.host.votedFor(node)
    // The answer to a read of this life must not answer a read of the next.
    else if (askedRead) inc.host.askedRead(node)
  }

  stop(): void {
    this.inc.handler = null
  }
}

/** The bytes a conf change is known by, for the checkers: the same on every node. */
export function confChangeBytes(change: ConfChangeV2): Uint8Array {
  return marshalConfChange(change).data
}

export { hashBytes }
