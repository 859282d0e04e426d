/**
 * The server's apply path as a simulated member's state machine: the real ServerStateMachine
 * (src/server) over an MvccStore on MVCC's in-memory backend, not a copy of either.
 *
 * Crash model. A machine that does not survive crashes (`smDurable` off) loses its store with the
 * process: the restarted member opens an empty one (consistent index 0), and the driver restores
 * it from the storage snapshot and replays the log after it, as it does for any machine at 0. A
 * durable one (`smDurable` on) keeps its backend across the crash up to the durable mark: a
 * MemoryBackend commits every entry's group durably as it is applied, a LazyBackend (below; two
 * durable seeds in three) only at a flush now and then, as LMDB may, and loses the rest in the
 * crash but for a prefix. The restarted member runs `MvccStore.open` on what survived (the key
 * index rebuilt, an interrupted compaction resumed), so the driver skips what its consistent
 * index holds and replays the rest. Crashes strike only between whole entries (the crash points
 * around the driver's calls), so each group is whole or absent, as the Backend contract promises.
 *
 * The dead process's store is closed (its compaction stops) through a gate in front of the
 * surviving backend, so nothing of the old life writes into the new one's content.
 */
import type { Entry, Snapshot } from '../raft/index.js'
import type { AppliedConfChange } from '../node/index.js'
import {
  MemoryBackend,
  MvccStore,
  type Backend,
  type BackendEntry,
  type Bucket,
} from '../mvcc/index.js'
import { Members, ServerStateMachine, applyRange, decodeRequest } from '../server/index.js'
import { rangeRequest } from '../api/index.js'
import { hashBytes, mixHash } from './kv.js'
import type { KvResult, Machine, ReadResult } from './machine.js'
import type { Prng } from './prng.js'
import type { MemberWatchers, SimWatchers } from './watchers.js'
import type { MemberLeases, SimLeases } from './leases.js'

/** The keys the server workload uses: `k0`..`k{SERVER_KEY_COUNT-1}`. */
export const SERVER_KEY_COUNT = 4
/** Chance per tick that a lazy backend commits its pending groups durably (LMDB's batch commit). */
const LAZY_FLUSH_RATE = 0.05
/** Every this many indexes the fingerprint includes the store's full hash (every revision). */
const FULL_HASH_EVERY = 16

const enc = new TextEncoder()
const dec = new TextDecoder()

export function serverKey(key: number): Uint8Array {
  return enc.encode(`k${key}`)
}

export function serverValue(v: number): Uint8Array {
  return enc.encode(String(v))
}

/** A value the workload wrote (decimal digits) back into the history's number. */
export function decodeServerValue(b: Uint8Array): number {
  return Number(dec.decode(b))
}

/** A consistent copy of an empty store at `index`: the boot snapshot of a server-mode cluster. */
export function serverBootState(index: number): Uint8Array {
  const store = MvccStore.open(new MemoryBackend())
  store.markApplied(index)
  return store.snapshot()
}

export class ServerMachine implements Machine {
  readonly store: MvccStore
  readonly sm: ServerStateMachine
  hash: number
  private readonly gate: GateBackend
  private last = '(none)'

  /**
   * Opens a store on `memory`: a fresh backend, or the one that survived a crash (a MemoryBackend
   * durable at every commit, or a LazyBackend that lost its unflushed groups in the crash).
   */
  /** This life's watchers (the simulator's cluster runs; unit tests pass no hub). */
  private readonly watchers: MemberWatchers | undefined
  /** This life's lessor wiring and lease model (the cluster's runs). */
  readonly leases: MemberLeases | undefined

  constructor(
    private readonly memory: MemoryBackend | LazyBackend = new MemoryBackend(),
    private readonly hub?: { watchers: SimWatchers; leases: SimLeases; name: string },
    /**
     * The store survives crashes (`smDurable`): its local snapshots are then the server's own,
     * holding no state (ServerStateMachine.compactionSnapshot); otherwise they copy the state,
     * which a restarted member restores.
     */
    private readonly durable = false,
  ) {
    this.gate = new GateBackend(memory)
    this.store = MvccStore.open(this.gate)
    this.watchers = hub?.watchers.attach(hub.name, this.store)
    this.leases = hub?.leases.member(hub.name)
    const leases = this.leases
    this.sm = new ServerStateMachine({
      store: this.store,
      members: new Members(),
      lessor: leases?.lessor,
      isLeaderOf: (term) => leases?.isLeaderOf(term) ?? false,
      promoteExtendMs: hub?.leases.electionTimeoutMs ?? 0,
    })
    this.hash = fingerprint(this.store, this.store.consistentIndex())
    this.leases?.opened(this.store)
    if (durable) this.compactionSnapshot = () => this.sm.compactionSnapshot()
  }

  /** Only on a durable machine (see `durable`). */
  readonly compactionSnapshot?: () => Promise<Uint8Array>

  get applied(): number {
    return this.sm.appliedIndex()
  }

  applyEntry(e: Entry): KvResult {
    const [r] = this.sm.apply([e])
    if (r === undefined) throw new Error(`the apply path returned nothing for entry ${e.index}`)
    if (this.leases !== undefined) {
      const req = e.data.length === 0 ? null : decodeRequest(e.data)
      this.leases.applied(req, r.type !== 'error', this.sm, e.index)
    }
    if (this.applied !== e.index) {
      throw new Error(`store at consistent index ${this.applied} after applying entry ${e.index}`)
    }
    if (r.type === 'compaction') {
      this.hub?.watchers.compacted(this.store.compactMainRevision)
      // The server awaits `done` only for physical compactions; a failure would surface there.
      void r.done.catch((err: unknown) => {
        this.last = `compaction failed: ${String(err)}`
      })
    }
    this.last = r.type === 'error' ? `error ${r.error.code}` : r.type
    this.hash = fingerprint(this.store, e.index)
    return { index: e.index, ok: r.type !== 'error', server: r }
  }

  applyConfChange(c: AppliedConfChange): void {
    this.sm.applyConfChange(c)
    this.last = 'conf change'
    this.hash = fingerprint(this.store, c.index)
  }

  snapshot(): Promise<Uint8Array> {
    return this.sm.snapshot()
  }

  restore(snap: Snapshot): ServerMachine {
    this.sm.restore(snap)
    this.leases?.opened(this.store)
    if (this.applied !== snap.metadata.index) {
      throw new Error(
        `snapshot at index ${snap.metadata.index} holds consistent index ${this.applied}`,
      )
    }
    this.last = 'snapshot'
    this.hash = fingerprint(this.store, this.applied)
    return this
  }

  /** The server's local range (what KV.Range runs after the ReadIndex round). */
  read(key: number): ReadResult {
    const resp = applyRange(this.store, rangeRequest({ key: serverKey(key) }))
    const kv = resp.kvs[0]
    return {
      value: kv === undefined ? null : decodeServerValue(kv.value),
      revision: resp.header?.revision ?? 0,
    }
  }

  crashed(rand: Prng): void {
    this.watchers?.died()
    this.leases?.stop()
    this.gate.shut()
    void this.store.close()
    if (this.memory instanceof LazyBackend) this.memory.crash(rand)
  }

  /** The backend's background commit: a lazy one makes its pending groups durable now and then. */
  background(rand: Prng): void {
    if (this.memory instanceof LazyBackend && rand.chance(LAZY_FLUSH_RATE)) this.memory.flush()
    if (this.hub !== undefined) this.watchers?.tick(this.hub.watchers.prng)
  }

  reopen(): ServerMachine {
    return new ServerMachine(this.memory, this.hub, this.durable)
  }

  describeLast(): string {
    return `${this.last} (revision ${this.store.currentRevision})`
  }
}

/**
 * The state after `index`: the live keys with their revisions and versions, the store's
 * revision, compaction and consistent index; every FULL_HASH_EVERY indexes also the store's
 * hash of every revision it holds (etcd's HashKV), which is dearer.
 */
function fingerprint(store: MvccStore, index: number): number {
  let h = mixHash(mixHash(mixHash(0, store.consistentIndex()), store.currentRevision), 1)
  h = mixHash(h, store.compactMainRevision + 1)
  for (const kv of store.kvs()) {
    h = mixHash(mixHash(h, hashBytes(kv.key)), hashBytes(kv.value))
    h = mixHash(mixHash(mixHash(h, kv.createRevision), kv.modRevision), kv.version)
  }
  if (index % FULL_HASH_EVERY === 0) h = mixHash(h, store.hash())
  return h
}

/**
 * One life's view of the surviving backend: forwards everything until the process dies, then
 * refuses (a dead process touches nothing). Closing it leaves the backend open for the next life.
 */
class GateBackend implements Backend {
  private open = true

  constructor(private readonly inner: MemoryBackend | LazyBackend) {}

  get freshReads(): boolean {
    return this.inner.freshReads
  }

  shut(): void {
    this.open = false
  }

  private live(): MemoryBackend | LazyBackend {
    if (!this.open) throw new Error('the process that opened this store has died')
    return this.inner
  }

  get(bucket: Bucket, key: Uint8Array): Uint8Array | undefined {
    return this.live().get(bucket, key)
  }
  scan(bucket: Bucket, visit: (key: Uint8Array, value: Uint8Array) => void): void {
    this.live().scan(bucket, visit)
  }
  scanRange(
    bucket: Bucket,
    from: Uint8Array,
    to: Uint8Array,
    visit: (key: Uint8Array, value: Uint8Array) => boolean | void,
  ): void {
    this.live().scanRange(bucket, from, to, visit)
  }
  put(bucket: Bucket, key: Uint8Array, value: Uint8Array): void {
    this.live().put(bucket, key, value)
  }
  delete(bucket: Bucket, key: Uint8Array): void {
    this.live().delete(bucket, key)
  }
  commit(mark: number): void {
    this.live().commit(mark)
  }
  replaceAll(entries: readonly BackendEntry[], mark: number): void {
    this.live().replaceAll(entries, mark)
  }
  flushed(): Promise<void> {
    return this.open ? this.inner.flushed() : new Promise<void>(() => {})
  }
  durableMark(): number {
    return this.inner.durableMark()
  }
  sizeBytes(): number {
    return this.inner.sizeBytes()
  }
  sizeInUseBytes(): number {
    return this.inner.sizeInUseBytes()
  }
  close(): Promise<void> {
    this.open = false
    return Promise.resolve()
  }
}

/**
 * A backend that commits lazily, as the server's LMDB backend may (the WAL is the durable record):
 * each write group is applied at once (reads see it) but becomes durable only at the next flush,
 * which the simulator runs now and then (`background`). A crash keeps the durable groups and a
 * prefix of the pending ones, in order (an undo log rolls the rest back), so the next life opens
 * on an older consistent index and the driver replays the log after it, or restores the storage
 * snapshot when the log no longer reaches back (etcd's recoverSnapshotBackend). `flushed()` waits
 * for the flush, so a raft snapshot (ServerStateMachine.snapshot) covers only durable content.
 */
export class LazyBackend implements Backend {
  private readonly inner = new MemoryBackend()
  /** The open group's undo records (first touch of each key), then the committed ones not durable. */
  private undo: Undo[] = []
  private touched = new Set<string>()
  private pending: { undo: Undo[]; mark: number }[] = []
  private durable = 0
  private waiters: (() => void)[] = []

  get freshReads(): boolean {
    return this.inner.freshReads
  }

  get(bucket: Bucket, key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(bucket, key)
  }
  scan(bucket: Bucket, visit: (key: Uint8Array, value: Uint8Array) => void): void {
    this.inner.scan(bucket, visit)
  }
  scanRange(
    bucket: Bucket,
    from: Uint8Array,
    to: Uint8Array,
    visit: (key: Uint8Array, value: Uint8Array) => boolean | void,
  ): void {
    this.inner.scanRange(bucket, from, to, visit)
  }
  put(bucket: Bucket, key: Uint8Array, value: Uint8Array): void {
    this.remember(bucket, key)
    this.inner.put(bucket, key, value)
  }
  delete(bucket: Bucket, key: Uint8Array): void {
    this.remember(bucket, key)
    this.inner.delete(bucket, key)
  }
  commit(mark: number): void {
    this.inner.commit(mark)
    this.pending.push({ undo: this.undo, mark })
    this.undo = []
    this.touched.clear()
  }
  /** Durable when it returns (the Backend contract): everything before it is too. */
  replaceAll(entries: readonly BackendEntry[], mark: number): void {
    this.inner.replaceAll(entries, mark)
    this.undo = []
    this.touched.clear()
    this.pending = []
    this.durable = mark
    this.wake()
  }
  flushed(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }
  durableMark(): number {
    return this.durable
  }
  sizeBytes(): number {
    return this.inner.sizeBytes()
  }
  sizeInUseBytes(): number {
    return this.inner.sizeInUseBytes()
  }
  close(): Promise<void> {
    return Promise.resolve()
  }

  /** Makes every committed group durable. */
  flush(): void {
    const last = this.pending[this.pending.length - 1]
    if (last !== undefined) this.durable = last.mark
    this.pending = []
    this.wake()
  }

  /** Power loss: the open group and the pending groups after a random prefix are rolled back. */
  crash(rand: Prng): void {
    const keep = rand.intn(this.pending.length + 1)
    const lost = [...this.pending.slice(keep).map((g) => g.undo), this.undo]
    for (let g = lost.length - 1; g >= 0; g--) {
      const undo = lost[g]!
      for (let i = undo.length - 1; i >= 0; i--) {
        const u = undo[i]!
        if (u.old === undefined) this.inner.delete(u.bucket, u.key)
        else this.inner.put(u.bucket, u.key, u.old)
      }
    }
    const kept = this.pending[keep - 1]
    if (kept !== undefined) this.durable = kept.mark
    this.inner.commit(this.durable)
    this.pending = []
    this.undo = []
    this.touched.clear()
    // A dead process's waiters never hear back.
    this.waiters = []
  }

  private remember(bucket: Bucket, key: Uint8Array): void {
    const id = `${bucket}:${latin1(key)}`
    if (this.touched.has(id)) return
    this.touched.add(id)
    this.undo.push({ bucket, key: key.slice(), old: this.inner.get(bucket, key) })
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const resolve of w) resolve()
  }
}

interface Undo {
  bucket: Bucket
  key: Uint8Array
  old: Uint8Array | undefined
}

function latin1(b: Uint8Array): string {
  let s = ''
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i] as number)
  return s
}
