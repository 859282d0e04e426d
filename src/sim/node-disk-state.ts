/**
 * A simulated node's durable storage: what it persists from a Ready, what a crash leaves, and
 * the storage the node restarts from. Two implementations:
 * - MemoryDiskState: a MemoryStorage is the disk; writes are durable as soon as they are made, a
 *   crash loses only what the cluster had not written yet.
 * - WalDiskState: a WalStorage over a SimDisk. Writes are durable only once their fdatasync
 *   returned; a crash is a power loss (SimDisk.crash: unsynced writes dropped, or any part of
 *   them kept, sectors in any order) and the node restarts from WalStorage.open, which recovers
 *   the log and cuts a torn tail. After each reopen the recovered log and HardState are checked
 *   against a model of what was written: nothing durable lost, nothing that was never written.
 *
 * Completions are deterministic: the WAL's promises settle only in the microtask drains of the
 * run loop (`settleDisks` completes the syncs due at a tick), and WalStorage resolves its writes
 * in issue order. A dead process's promises never settle.
 */
import { MemoryStorage, RaftError } from '../raft/index.js'
import type { ConfState, HardState, Snapshot, Storage } from '../raft/index.js'
import type { StorageWrite } from '../node/index.js'
import { SnapError, WalError, WalStorage } from '../wal/index.js'
import type { Disk, DiskFile } from '../io/index.js'
import { Violation } from './checkers.js'
import { hashBytes } from './kv.js'
import type { Prng } from './prng.js'
import { SimDisk } from '../io/index.js'

export interface NodeDiskState {
  /** The node's raft Storage (its reads); valid while ready() is true. */
  readonly storage: Storage
  /** True when a (re)started node can use `storage`; throws when recovery broke a rule. */
  ready(): boolean
  /** Persists the initial snapshot of a fresh node. */
  bootstrap(snap: Snapshot): void
  /** Opens an empty disk: a node that joins later, with no state until a leader sends it some. */
  openEmpty(): void
  /** How many of n entries a torn persist writes: the WAL writes all and lets the crash tear. */
  tornKeep(n: number, rand: Prng): number
  /**
   * Writes a Ready's (or MsgStorageAppend's) snapshot, entries and HardState, in WAL order; the
   * promise resolves once they are durable, in issue order, and never after a crash.
   */
  persist(w: StorageWrite): Promise<void>
  createSnapshot(i: number, cs: ConfState, data: Uint8Array): Promise<void>
  compact(i: number): Promise<void>
  /** Power loss: the node's process is gone and its disk keeps what the device kept. */
  crash(): void
}

export class MemoryDiskState implements NodeDiskState {
  readonly storage = new MemoryStorage()

  ready(): boolean {
    return true
  }

  bootstrap(snap: Snapshot): void {
    this.storage.applySnapshot(snap)
  }

  openEmpty(): void {}

  tornKeep(n: number, rand: Prng): number {
    return rand.intn(n + 1)
  }

  persist(w: StorageWrite): Promise<void> {
    if (w.snapshot !== undefined) this.storage.applySnapshot(w.snapshot)
    if (w.entries !== undefined && w.entries.length > 0) this.storage.append(w.entries)
    if (w.hardState !== undefined) this.storage.setHardState(w.hardState)
    return Promise.resolve()
  }

  createSnapshot(i: number, cs: ConfState, data: Uint8Array): Promise<void> {
    return settled(() => void this.storage.createSnapshot(i, cs, data))
  }

  compact(i: number): Promise<void> {
    return settled(() => this.storage.compact(i))
  }

  crash(): void {}
}

/** `fn`'s outcome as a promise: a throw (ErrCompacted, say) becomes a rejection. */
function settled(fn: () => void): Promise<void> {
  try {
    fn()
    return Promise.resolve()
  } catch (err) {
    return Promise.reject(err)
  }
}

/** A typed error from opening the WAL or its snapshots that reports damaged data. */
function isCorruptionError(e: unknown): e is Error {
  if (e instanceof SnapError) return true
  return e instanceof WalError && e.code !== 'WAL_IO' && e.code !== 'WAL_CLOSED'
}

/**
 * Called by the run loop between ticks: completes the WAL syncs due at this tick, then lets every
 * pending promise settle (setImmediate runs after the whole microtask queue; SimDisk does no real
 * I/O, so nothing else can run meanwhile and the order is the same on every replay).
 */
export async function settleDisks(
  nodes: readonly ({ disk: NodeDiskState } | undefined)[],
): Promise<void> {
  const disks: WalDiskState[] = []
  for (const n of nodes) if (n?.disk instanceof WalDiskState) disks.push(n.disk)
  if (disks.length === 0) return
  for (const d of disks) d.advance()
  await drain()
  let lost = false
  for (const d of disks) if (d.powerLoss()) lost = true
  if (lost) await drain()
}

function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** One step of what a node wrote, in WAL record order. */
type Step =
  | { kind: 'snap'; index: number; term: number }
  | { kind: 'entry'; index: number; term: number; hash: number }
  | { kind: 'hs'; hs: HardState }

/** The log and HardState that a sequence of steps leaves, as WalStorage's replay rebuilds it. */
class LogModel {
  offset = 0
  terms: number[] = []
  hashes: number[] = []
  hs: HardState = { term: 0, vote: 0n, commit: 0 }

  last(): number {
    return this.offset + this.terms.length
  }

  apply(s: Step): void {
    if (s.kind === 'hs') {
      this.hs = { ...s.hs }
    } else if (s.kind === 'snap') {
      this.offset = s.index
      this.terms = []
      this.hashes = []
    } else if (s.index > this.offset) {
      if (s.index > this.last() + 1) throw new Error(`model: gap before entry ${s.index}`)
      this.terms.length = this.hashes.length = s.index - 1 - this.offset
      this.terms.push(s.term)
      this.hashes.push(s.hash)
    }
  }

  clone(): LogModel {
    const m = new LogModel()
    m.offset = this.offset
    m.terms = this.terms.slice()
    m.hashes = this.hashes.slice()
    m.hs = this.hs
    return m
  }
}

/** What a reopened WalStorage holds. */
interface Recovered {
  first: number
  last: number
  terms: number[]
  hashes: number[]
  hs: HardState
}

function recoveredOf(s: WalStorage): Recovered {
  const first = s.firstIndex()
  const last = s.lastIndex()
  const ents = last >= first ? s.entries(first, last + 1, Infinity) : []
  return {
    first,
    last,
    terms: ents.map((e) => e.term),
    hashes: ents.map((e) => hashBytes(e.data)),
    hs: s.initialState().hardState,
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

/** The model's log equals the recovered one wherever both hold entries, and ends where it ends. */
function logMatches(m: LogModel, r: Recovered): boolean {
  if (m.last() !== r.last || r.first - 1 < m.offset) return false
  for (let i = r.first; i <= r.last; i++) {
    const k = i - m.offset - 1
    if (m.terms[k] !== r.terms[i - r.first] || m.hashes[k] !== r.hashes[i - r.first]) return false
  }
  return true
}

/**
 * A Disk seen by one incarnation of a node's process: once the process crashed, every call fails,
 * so continuations of the dead process's promises cannot touch the disk the next one recovers.
 * (Handles it opened are stale already: SimDisk replaces the inodes on a crash.)
 */
class ProcessDisk implements Disk {
  constructor(
    private readonly inner: SimDisk,
    private readonly alive: () => boolean,
  ) {}

  open(path: string, opts?: { create?: boolean }): DiskFile {
    this.check()
    return this.inner.open(path, opts)
  }
  list(dir: string): string[] {
    this.check()
    return this.inner.list(dir)
  }
  exists(path: string): boolean {
    this.check()
    return this.inner.exists(path)
  }
  mkdir(dir: string): void {
    this.check()
    this.inner.mkdir(dir)
  }
  rename(from: string, to: string): void {
    this.check()
    this.inner.rename(from, to)
  }
  unlink(path: string): void {
    this.check()
    this.inner.unlink(path)
  }
  syncDir(dir: string): Promise<void> {
    this.check()
    return this.inner.syncDir(dir)
  }
  private check(): void {
    if (!this.alive()) throw new Error('sim: the process that opened this disk crashed')
  }
}

export interface WalDiskOptions {
  nodeId: number
  /** Decides what a power loss keeps of unsynced writes and where the last one tears. */
  rand: Prng
  segmentBytes: number
  /** A sync completes 0..syncTicksMax ticks after it was issued (recovery's syncs at once). */
  syncTicksMax: number
  /** Check each reopen against the writes made (off only to show what else sees a bug). */
  verify?: boolean
}

export class WalDiskState implements NodeDiskState {
  readonly disk = new SimDisk()
  /** Reopens done and records they cut (torn tails repaired), for the run's counters. */
  reopens = 0
  repairs = 0
  /** Crashes that struck while a write was in flight (not yet synced). */
  crashesInFlight = 0
  private store: WalStorage | null = null
  /** Bumped when the process dies: callbacks of the dead process are ignored from then on. */
  private epoch = 0
  /** Bumped at the power loss: the dead process's disk calls fail from then on. */
  private diskEpoch = 0
  /** The process died; the power loss follows once its last writes reached the disk. */
  private dying = false
  private failure: unknown = undefined
  /** The next power loss also flips a bit of what the disk keeps (bit rot). */
  rotNext = false
  /** Where the last rot struck, until an open proves it harmless or refuses it. */
  private rotAt: string | null = null
  /** Why the node refused to start: rot detected, as a typed corruption error. */
  refusal: Error | null = null
  private verified = true
  /** A fresh node's initial snapshot is not durable yet: the node may not start before it is. */
  private booting = false
  /** Writes issued by the live process and not yet durable. */
  private writesInFlight = 0
  /** The bootstrap snapshot's write is durable. */
  private bootDurable = false
  /** The model as of the last durable write, and the writes issued since, by issue number. */
  private durable = new LogModel()
  private pending: { seq: number; steps: Step[] }[] = []
  private issued = 0
  private ticks = 0
  private syncWaiters: { due: number; resolve: () => void }[] = []

  constructor(private readonly opts: WalDiskOptions) {
    this.disk.syncDelay = () => this.syncDelay()
  }

  /** A tick passed: the syncs due now complete (in the drain that follows). */
  advance(): void {
    this.ticks++
    const waiters = this.syncWaiters
    this.syncWaiters = waiters.filter((w) => w.due > this.ticks)
    for (const w of waiters) if (w.due <= this.ticks) w.resolve()
  }

  get storage(): Storage {
    if (this.store === null) throw new Error(`sim: node ${this.opts.nodeId} storage is not open`)
    return this.store
  }

  ready(): boolean {
    this.checkFailure()
    if (this.store === null || this.refusal !== null) return false
    if (this.booting) {
      // Seed 2104: a node started on an unsynced bootstrap snapshot lost it in a crash.
      if (!this.bootDurable) return false
      this.booting = false
    }
    if (!this.verified) {
      this.verify(this.store)
      this.verified = true
    }
    return true
  }

  bootstrap(snap: Snapshot): void {
    this.booting = true
    this.open(() => {
      void this.persist({ snapshot: snap }).then(() => (this.bootDurable = true))
    })
  }

  openEmpty(): void {
    this.open(() => {})
  }

  tornKeep(n: number): number {
    return n
  }

  persist(w: StorageWrite): Promise<void> {
    const steps: Step[] = []
    if (w.snapshot !== undefined) {
      const { index, term } = w.snapshot.metadata
      steps.push({ kind: 'snap', index, term })
    }
    for (const e of w.entries ?? []) {
      steps.push({ kind: 'entry', index: e.index, term: e.term, hash: hashBytes(e.data) })
    }
    const hs = w.hardState
    // WalStorage does not sync a HardState that changes only the commit index (MustSync): its
    // save resolves once the writes before it are durable, and the next synced write carries it.
    // Its steps become durable with that write, not with its own acknowledgement.
    const last = this.store!.initialState().hardState
    const synced = !(
      steps.length === 0 &&
      hs !== undefined &&
      !isEmptyHs(last) &&
      hs.term === last.term &&
      hs.vote === last.vote
    )
    if (hs !== undefined && !isEmptyHs(hs)) {
      steps.push({ kind: 'hs', hs: { ...hs } })
    }
    const seq = ++this.issued
    this.pending.push({ seq, steps })
    this.writesInFlight++
    return this.gated(this.store!.save(w), () => {
      this.writesInFlight--
      if (synced) this.durableUpTo(seq)
    })
  }

  createSnapshot(i: number, cs: ConfState, data: Uint8Array): Promise<void> {
    return this.gated(this.store!.createSnapshot(i, cs, data), () => {})
  }

  compact(i: number): Promise<void> {
    return this.gated(this.store!.compact(i), () => {})
  }

  /**
   * The process dies now; the power fails after the run loop's next drain. The WAL issues a
   * group's write a microtask after the append, so a crash in the middle of a Ready would
   * otherwise always strike before the bytes reached the disk: in between, the dead process's
   * queued writes land and its fsyncs never complete.
   */
  crash(): void {
    if (this.writesInFlight > 0) this.crashesInFlight++
    this.epoch++
    this.dying = true
    this.store = null
    this.writesInFlight = 0
    this.verified = false
  }

  /** The power loss after a crash: the disk keeps what it kept, the node reopens the WAL. */
  powerLoss(): boolean {
    if (!this.dying) return false
    this.dying = false
    this.diskEpoch++
    this.disk.crash(this.opts.rand)
    if (this.rotNext) {
      this.rotNext = false
      this.rotAt = this.rot()
    }
    // Syncs in flight fail now (SimDisk sees the new epoch): release them.
    for (const w of this.syncWaiters) w.resolve()
    this.syncWaiters = []
    this.open(() => {})
    return true
  }

  /**
   * Flips one bit of a WAL segment or snapshot file, somewhere in what it holds before its
   * trailing zeros; returns where, or null when there was nothing to flip.
   */
  private rot(): string | null {
    const rand = this.opts.rand
    const files = [
      ...this.disk
        .list('/member/wal')
        .filter((n) => n.endsWith('.wal'))
        .map((n) => `/member/wal/${n}`),
      ...this.disk
        .list('/member/snap')
        .filter((n) => n.endsWith('.snap'))
        .map((n) => `/member/snap/${n}`),
    ]
    if (files.length === 0) return null
    const path = files[rand.intn(files.length)] as string
    const bytes = this.disk.contents(path)
    let end = bytes.length
    while (end > 0 && bytes[end - 1] === 0) end--
    if (end === 0) return null
    const at = rand.intn(end)
    bytes[at] = (bytes[at] as number) ^ (1 << rand.intn(8))
    this.disk.setContents(path, bytes)
    return `${path} byte ${at}`
  }

  /** A write or an open of the live process failed: the storage refused what it must accept. */
  private checkFailure(): void {
    if (this.failure === undefined) return
    const e = this.failure
    const msg = e instanceof Error ? e.message : String(e)
    throw new Violation('durability', `node ${this.opts.nodeId}: storage failed: ${msg}`)
  }

  private syncDelay(): Promise<void> {
    // A dying process's fsyncs never complete; recovery's complete at once.
    if (this.dying)
      return new Promise((resolve) => this.syncWaiters.push({ due: Infinity, resolve }))
    const max = this.store === null || this.booting ? 0 : this.opts.syncTicksMax
    const ticks = max === 0 ? 0 : this.opts.rand.intn(max + 1)
    if (ticks === 0) return Promise.resolve()
    return new Promise((resolve) => this.syncWaiters.push({ due: this.ticks + ticks, resolve }))
  }

  /** Starts a new incarnation: opens (recovers) the storage from what the disk holds. */
  private open(then: () => void): void {
    this.store = null
    const diskEpoch = this.diskEpoch
    const disk = new ProcessDisk(this.disk, () => diskEpoch === this.diskEpoch)
    const opened = WalStorage.open({
      disk,
      dir: '/member',
      nodeId: BigInt(this.opts.nodeId),
      clusterId: 1n,
      segmentBytes: this.opts.segmentBytes,
      // Simulated time, so that nothing in a run depends on the machine's clock.
      clock: () => this.ticks,
    })
    const epoch = this.epoch
    opened.then(
      (s) => {
        if (epoch !== this.epoch) return
        this.rotAt = null
        this.store = s
        this.reopens++
        this.repairs += s.warnings.length
        then()
      },
      (e: unknown) => {
        if (epoch !== this.epoch) return
        // Rot in synced bytes must stop start-up with a typed corruption error, naming where.
        if (this.rotAt !== null && isCorruptionError(e)) this.refusal = e
        else this.failure ??= e
      },
    )
  }

  /** Runs `ok` when `p` resolves in this incarnation; a failure in it fails the run. */
  private track<T>(p: Promise<T>, ok: (v: T) => void): void {
    const epoch = this.epoch
    p.then(
      (v) => {
        if (epoch === this.epoch) ok(v)
      },
      (e: unknown) => {
        if (epoch === this.epoch) this.failure ??= e
      },
    )
  }

  /**
   * `p` as this incarnation sees it: it resolves after `ok` ran, and never once the process
   * died. A storage error (ErrCompacted, say) is the caller's; anything else fails the run.
   */
  private gated(p: Promise<unknown>, ok: () => void): Promise<void> {
    const epoch = this.epoch
    return new Promise<void>((resolve, reject) => {
      p.then(
        () => {
          if (epoch !== this.epoch) return
          ok()
          resolve()
        },
        (e: unknown) => {
          if (epoch !== this.epoch) return
          if (e instanceof RaftError) return reject(e)
          this.failure ??= e
        },
      )
    })
  }

  /** Everything issued up to write `seq`, a synced one, is durable. */
  private durableUpTo(seq: number): void {
    while (this.pending.length > 0 && this.pending[0]!.seq <= seq) {
      for (const s of this.pending.shift()!.steps) this.durable.apply(s)
    }
  }

  /**
   * The recovered state must be what some prefix of the writes left: everything durable, then
   * the steps issued since up to some point (a power loss may keep unsynced writes, in order,
   * and cuts the torn record). Anything else lost an acknowledged write or accepted a record
   * that was never written.
   */
  private verify(s: WalStorage): void {
    const r = recoveredOf(s)
    if (this.opts.verify === false) {
      // Unchecked: the model takes what was recovered, right or wrong, and goes on from there.
      this.durable = new LogModel()
      this.durable.offset = r.first - 1
      this.durable.terms = r.terms
      this.durable.hashes = r.hashes
      this.durable.hs = { ...r.hs }
      this.pending = []
      return
    }
    const steps = this.pending.flatMap((p) => p.steps)
    const where = `node ${this.opts.nodeId} after a power loss`
    const states = [this.durable.hs, ...steps.flatMap((x) => (x.kind === 'hs' ? [x.hs] : []))]
    if (!states.some((h) => sameHardState(h, r.hs))) {
      const { term, vote, commit } = r.hs
      throw new Violation(
        'durability',
        `${where}: recovered HardState term ${term} vote ${vote} commit ${commit} is neither ` +
          `the durable one (term ${this.durable.hs.term} vote ${this.durable.hs.vote}) nor one written since`,
      )
    }
    const m = this.durable.clone()
    let matched = logMatches(m, r)
    for (let k = 0; k < steps.length && !matched; k++) {
      m.apply(steps[k]!)
      matched = logMatches(m, r)
    }
    if (!matched) {
      throw new Violation(
        'durability',
        `${where}: recovered log ${r.first}..${r.last} is not what a prefix of the writes left ` +
          `(durable log ends at ${this.durable.last()}, ${steps.length} steps written since)`,
      )
    }
    // What was recovered is now what the disk durably holds.
    this.durable = m
    this.durable.hs = { ...r.hs }
    this.pending = []
  }
}

function isEmptyHs(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0n && hs.commit === 0
}
