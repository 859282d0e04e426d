/**
 * MvccStore: etcd's multi-version store (server/mvcc/kvstore.go, kvstore_txn.go,
 * kvstore_compaction.go) over a Backend. It owns revisions, the key index, ranges (historic
 * ones included), write transactions, compaction, the consistent (applied raft) index and
 * snapshots; the Backend owns bytes and durability. What it leaves to the server: request
 * validation, sort orders and min/max filters, prev kvs (read with range before a write, as
 * etcd's applier does), leases, watchers, and the mapping of MvccError to gRPC.
 *
 * Backend layout (etcd's): bucket "key" maps a revision key (revision.ts) to the KeyValue record
 * (kv.ts); bucket "meta" holds consistent_index (u64 big-endian), scheduledCompactRev and
 * finishedCompactRev (revision keys of (rev, 0)).
 *
 * Everything is synchronous but the physical half of a compaction, which deletes in batches,
 * yielding between them (etcd's compaction batch limit), and `flushed()`.
 */
import assert from 'node:assert/strict'
import { crc32c } from '@node-rs/crc32'
import type { Backend, BackendEntry } from './backend.js'
import { copyBytes, latin1 } from './bytes.js'
import { backendCorrupt, errCompacted, errFutureRev, MvccError } from './errors.js'
import { KeyIndex, type DroppedRevision, type KeyIndexGet } from './key-index.js'
import {
  decodeKeyValue,
  encodeKeyValue,
  encodeTombstone,
  recordKey,
  tombstoneKv,
  type KeyValue,
  type WatchEvent,
} from './kv.js'
import {
  isRevisionKey,
  isTombstoneKey,
  putRevision,
  readU64,
  revisionKey,
  revisionMain,
  revisionSub,
  writeU64,
} from './revision.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot.js'
import { TreeIndex } from './tree-index.js'

export interface RangeOptions {
  /** At most this many kvs (0 or absent: no limit); `count` still counts them all. */
  limit?: number
  /** Read at this revision (0 or absent: the current one). */
  rev?: number
  /** Only the count: `kvs` is empty. */
  countOnly?: boolean
  /** The kvs without their values (the value is empty). */
  keysOnly?: boolean
}

export interface RangeResult {
  kvs: KeyValue[]
  /** The keys in the range at the revision read, whatever the limit. */
  count: number
  /** The store's revision the read saw (etcd's header revision), not the revision asked for. */
  rev: number
}

/** One raft entry's writes (etcd TxnWrite). Its reads see its own writes. */
export interface WriteTxn {
  range(key: Uint8Array, end: Uint8Array | undefined, opts?: RangeOptions): RangeResult
  put(key: Uint8Array, value: Uint8Array, lease: bigint): void
  /** Deletes the live keys in the range; returns how many. */
  deleteRange(key: Uint8Array, end: Uint8Array | undefined): number
  /** Ends the txn: the revision moves iff it wrote; the consistent index moves to its entry. */
  end(): void
}

/**
 * Who hears of the store's changes as they are made (the WatchableStore): one observer at most.
 * Called synchronously, after the backend has the write group.
 */
export interface StoreObserver {
  /**
   * True while it wants each txn's changes (it has synced watchers); otherwise committed() gets
   * none, and a write pays nothing for watching.
   */
  readonly listening: boolean
  /**
   * A write txn ended having written: its changes at revision `rev`, in sub-revision order
   * (empty if the observer was not listening when the txn began).
   */
  committed(rev: number, events: WatchEvent[]): void
  /** restore() replaced the whole content (and the revisions). */
  restored(): void
}

/** Changes read back from the backend by revision (a watcher's catch-up). */
export interface ChangesResult {
  events: WatchEvent[]
  /** The last revision read whole: events of revisions after it were not read (yet). */
  untilRev: number
}

export interface MvccStoreOptions {
  /** Records deleted per batch by a compaction before it yields (etcd's default 1000). */
  compactionBatchLimit?: number
}

export interface Compaction {
  /** Resolves when the compacted revisions are deleted from the backend (etcd's physical). */
  done: Promise<void>
}

const META_CONSISTENT_INDEX = new TextEncoder().encode('consistent_index')
const META_SCHEDULED_COMPACT = new TextEncoder().encode('scheduledCompactRev')
const META_FINISHED_COMPACT = new TextEncoder().encode('finishedCompactRev')
const COMPACTION_BATCH_LIMIT_DEFAULT = 1000

/** What a backend's content rebuilds into (open, restore). */
interface State {
  tree: TreeIndex
  currentRev: number
  compactMainRev: number
  /** A compaction scheduled but not finished (-1: none): open and restore resume it. */
  resumeCompactRev: number
  consistentIndex: number
  /** Records a crash left behind halfway through a compaction (deleted on resume). */
  orphans: DroppedRevision[]
}

export class MvccStore {
  private tombstoneDroppedAtCompact = true
  private readonly backend: Backend
  private readonly batchLimit: number
  private tree: TreeIndex
  private currentRev: number
  /** etcd's compactMainRev: -1 until the first compaction. */
  private compactMainRev: number
  private consistentIdx: number
  private txnOpen = false
  private closed = false
  /** Bumped by restore() and close(): a compaction's physical deletion of an older epoch stops. */
  private epoch = 0
  private compactions: Promise<void> = Promise.resolve()
  private readonly scratch: KeyIndexGet = { main: 0, sub: 0, createdMain: 0, ver: 0 }
  /** Scratch revision keys: the backend copies keys (Backend.put). */
  private readonly revKey = new Uint8Array(17)
  private readonly tombKey = new Uint8Array(18)
  private observer: StoreObserver | undefined
  /** The open txn's changes, collected only while an observer listens. */
  private txnEvents: WatchEvent[] | undefined

  private constructor(backend: Backend, state: State, opts: MvccStoreOptions) {
    this.backend = backend
    this.batchLimit = opts.compactionBatchLimit ?? COMPACTION_BATCH_LIMIT_DEFAULT
    assert(Number.isSafeInteger(this.batchLimit) && this.batchLimit > 0)
    this.tree = state.tree
    this.currentRev = state.currentRev
    this.compactMainRev = state.compactMainRev
    this.consistentIdx = state.consistentIndex
  }

  /**
   * Opens a store over `backend`'s content: rebuilds the key index, restores the revisions and
   * the consistent index, and resumes a compaction that was scheduled but not finished (etcd's
   * restore). A BACKEND_CORRUPT MvccError if the content does not decode.
   */
  static open(backend: Backend, opts: MvccStoreOptions = {}): MvccStore {
    const state = rebuild(
      (visit) => backend.scan('key', visit),
      (key) => backend.get('meta', key),
    )
    const store = new MvccStore(backend, state, opts)
    store.resume(state)
    return store
  }

  /** The store's revision: the last write transaction's (etcd's currentRev; 1 when empty). */
  get currentRevision(): number {
    return this.currentRev
  }

  /** The revision of the last compaction (scheduled: reads below it fail at once). */
  get compactedRevision(): number {
    return Math.max(0, this.compactMainRev)
  }

  /**
   * etcd's compactMainRev itself: -1 until the first compaction. etcd's txn checks compare a
   * range's revision with it, so a txn range at a negative revision passes only until then.
   */
  get compactMainRevision(): number {
    return this.compactMainRev
  }

  /** The index of the last raft entry applied (persisted with its data). */
  consistentIndex(): number {
    return this.consistentIdx
  }

  /**
   * The keys in a range at a revision (etcd rangeKeys). `end` undefined or empty: the key alone;
   * [0x00]: every key >= key; otherwise [key, end). Throws MvccError FUTURE_REV above the
   * current revision and COMPACTED below the compacted one.
   */
  range(key: Uint8Array, end: Uint8Array | undefined, opts: RangeOptions = {}): RangeResult {
    this.checkOpen()
    return this.rangeAt(key, end, opts, this.currentRev)
  }

  /**
   * Starts the write transaction of raft entry `index`: its writes share one main revision
   * (current + 1) and take sub revisions in order. One at a time; end() it before anything else,
   * also when a read inside it threw (reads change nothing: end() after a failed read is safe).
   */
  write(index: number): WriteTxn {
    this.checkOpen()
    assert(!this.txnOpen, 'a write txn is already open')
    this.checkIndex(index)
    this.txnOpen = true
    if (this.observer?.listening === true) this.txnEvents = []
    return new StoreWriteTxn(this, index, this.currentRev)
  }

  /** Sets the one observer of changes (the WatchableStore); undefined removes it. */
  observe(observer: StoreObserver | undefined): void {
    assert(observer === undefined || this.observer === undefined, 'the store has an observer')
    this.observer = observer
  }

  /**
   * The changes of revisions fromRev..current as events, read from the backend in revision order
   * (etcd's watcher catch-up: a range of the key bucket, kvsToEvents). Whole revisions only: it
   * stops before the first revision that starts once `recordsMax` records were read. The caller
   * checks fromRev against the compacted revision first (records below it may be gone).
   */
  changes(fromRev: number, recordsMax: number): ChangesResult {
    this.checkOpen()
    assert(Number.isSafeInteger(fromRev) && fromRev >= 1, `changes from ${fromRev}`)
    assert(recordsMax > 0)
    const events: WatchEvent[] = []
    if (fromRev > this.currentRev) return { events, untilRev: this.currentRev }
    let untilRev = this.currentRev
    let lastMain = fromRev - 1
    const copy = true // getRange's buffers are not promised to be fresh
    this.backend.scanRange(
      'key',
      revisionKey(fromRev, 0),
      revisionKey(this.currentRev + 1, 0),
      (rk, rec) => {
        if (!isRevisionKey(rk)) throw backendCorrupt(`a key of ${rk.length} bytes in bucket "key"`)
        const main = revisionMain(rk)
        if (main !== lastMain && events.length >= recordsMax) {
          untilRev = lastMain
          return false
        }
        lastMain = main
        if (isTombstoneKey(rk)) {
          events.push({ type: 'delete', kv: tombstoneKv(copyBytes(recordKey(rec)), main) })
        } else {
          events.push({ type: 'put', kv: decodeKeyValue(rec, copy) })
        }
        return true
      },
    )
    return { events, untilRev }
  }

  /** Raft entry `index` wrote nothing (a failed txn, a conf change...): the index still moves. */
  markApplied(index: number): void {
    this.checkOpen()
    assert(!this.txnOpen, 'markApplied inside a write txn')
    this.checkIndex(index)
    this.saveConsistentIndex(index)
    this.backend.commit(index)
  }

  /**
   * Records server metadata (membership, cluster version: what etcd keeps in its "members" and
   * "cluster" buckets) in the meta bucket under "app/" + `name`; undefined deletes it. It joins
   * the next write group: call it just before the end() or markApplied() of the raft entry it
   * belongs to, so it is durable, replayed and snapshotted with that entry.
   */
  setMeta(name: string, value: Uint8Array | undefined): void {
    this.checkOpen()
    const key = metaName(name)
    if (value === undefined) this.backend.delete('meta', key)
    else this.backend.put('meta', key, copyBytes(value))
  }

  /**
   * Visits the server metadata whose name starts with `prefix` (a copy of each value), in name
   * order: a range of the meta bucket, for open and restore (the server's leases).
   */
  scanMeta(prefix: string, visit: (name: string, value: Uint8Array) => void): void {
    this.checkOpen()
    const from = metaName(prefix)
    this.backend.scanRange('meta', from, prefixEnd(from), (key, value) => {
      visit(Buffer.from(key.subarray(4)).toString('utf8'), copyBytes(value))
    })
  }

  /** Server metadata set with setMeta (a copy), or undefined. */
  getMeta(name: string): Uint8Array | undefined {
    this.checkOpen()
    const v = this.backend.get('meta', metaName(name))
    return v === undefined ? undefined : copyBytes(v)
  }

  /**
   * Compacts at `rev` (etcd Compact): reads below rev fail from now on; each key keeps its latest
   * revision <= rev unless that is a tombstone, and everything older goes, from the key index at
   * once and from the backend in batches (`done`). Throws COMPACTED if rev <= the compacted
   * revision, FUTURE_REV if above the current one; then nothing is recorded, so the server
   * marks the entry applied with markApplied(index). `index`: the raft entry of the compaction,
   * recorded with the schedule in one write group.
   */
  /**
   * Whether the compaction at compactMainRevision removed a tombstone at exactly that revision (a
   * key deleted there): its delete event can no longer be read back. True when unknown (after an
   * open or a restore), so a caller that relies on it errs on the safe side.
   */
  get tombstoneAtCompactRevision(): boolean {
    return this.tombstoneDroppedAtCompact
  }

  compact(rev: number, opts: { index?: number } = {}): Compaction {
    this.checkOpen()
    assert(!this.txnOpen, 'compact inside a write txn')
    assert(Number.isSafeInteger(rev), `compact revision ${rev}`)
    if (rev <= this.compactMainRev) throw errCompacted()
    if (rev > this.currentRev) throw errFutureRev()
    if (opts.index !== undefined) this.checkIndex(opts.index)
    this.compactMainRev = rev
    // The schedule is written before anything is deleted, so a crash resumes it (etcd's
    // scheduledCompactRev; etcd forces a commit here).
    this.backend.put('meta', META_SCHEDULED_COMPACT, revisionKey(rev, 0))
    if (opts.index !== undefined) this.saveConsistentIndex(opts.index)
    this.backend.commit(this.consistentIdx)
    const dropped: DroppedRevision[] = []
    compactIndex(this.tree, rev, dropped)
    this.tombstoneDroppedAtCompact = dropped.some((d) => d.tombstone && d.main === rev)
    return { done: this.deleteDropped(rev, dropped) }
  }

  /** The live keys at the current revision, in key order (tests, the simulator's checks). */
  kvs(): KeyValue[] {
    this.checkOpen()
    return this.rangeAt(new Uint8Array([0]), new Uint8Array([0]), {}, this.currentRev).kvs
  }

  /**
   * A CRC-32C of the logical content: every revision the key index holds with its record, the
   * revisions and the consistent index. Equal on members with equal applied indexes, however
   * far each one's physical compaction has got.
   */
  hash(): number {
    this.checkOpen()
    let h = 0
    const n = new Uint8Array(8)
    this.tree.forEach((ki) => {
      ki.forEachRevision((main, sub, tombstone) => {
        const rk = revisionKey(main, sub, tombstone)
        const rec = this.backend.get('key', rk)
        if (rec === undefined) throw backendCorrupt(`no record for revision ${main}.${sub}`)
        h = crc32c(rk, h)
        h = crc32c(rec, h)
      })
    })
    for (const v of [this.currentRev, this.compactMainRev + 1, this.consistentIdx]) {
      writeU64(n, 0, v)
      h = crc32c(n, h)
    }
    return h >>> 0
  }

  /** etcd's dbSize: bytes of storage the backend takes. */
  dbSize(): number {
    return this.backend.sizeBytes()
  }

  /** etcd's dbSizeInUse: bytes of it in use. */
  dbSizeInUse(): number {
    return this.backend.sizeInUseBytes()
  }

  /** A consistent copy of everything (records and meta), for a raft snapshot. */
  snapshot(): Uint8Array {
    this.checkOpen()
    assert(!this.txnOpen, 'snapshot inside a write txn')
    const entries: BackendEntry[] = []
    this.backend.scan('key', (key, value) =>
      entries.push({ bucket: 'key', key: copyBytes(key), value: copyBytes(value) }),
    )
    this.backend.scan('meta', (key, value) =>
      entries.push({ bucket: 'meta', key: copyBytes(key), value: copyBytes(value) }),
    )
    return encodeSnapshot(entries)
  }

  /**
   * Replaces everything with a snapshot's content and rebuilds the key index. A corrupt snapshot
   * (MvccError SNAPSHOT_CORRUPT) changes nothing: it is decoded and indexed whole first.
   */
  restore(bytes: Uint8Array): void {
    this.checkOpen()
    assert(!this.txnOpen, 'restore inside a write txn')
    const entries = decodeSnapshot(bytes)
    this.tombstoneDroppedAtCompact = true // unknown for the snapshot's compaction
    let state: State
    try {
      state = rebuild(
        (visit) => {
          for (const e of entries) if (e.bucket === 'key') visit(e.key, e.value)
        },
        (key) => {
          const k = latin1(key)
          for (const e of entries) if (e.bucket === 'meta' && latin1(e.key) === k) return e.value
          return undefined
        },
      )
    } catch (err) {
      if (MvccError.is(err, 'BACKEND_CORRUPT')) {
        throw new MvccError(
          'SNAPSHOT_CORRUPT',
          `mvcc: snapshot is corrupt: ${err.message}; the store was not changed`,
          { cause: err },
        )
      }
      throw err
    }
    this.epoch++
    this.compactions = Promise.resolve()
    this.backend.replaceAll(entries, state.consistentIndex)
    this.tree = state.tree
    this.currentRev = state.currentRev
    this.compactMainRev = state.compactMainRev
    this.consistentIdx = state.consistentIndex
    this.resume(state)
    this.observer?.restored()
  }

  /**
   * Resolves when every compaction scheduled so far (a resumed one included) has deleted its
   * records and recorded itself finished (or was stopped by close() or restore()).
   */
  compactionsDone(): Promise<void> {
    return this.compactions
  }

  /** Resolves when everything written so far is durable. */
  flushed(): Promise<void> {
    return this.backend.flushed()
  }

  /** The consistent index that is durable: the WAL and log may be released up to it. */
  durableIndex(): number {
    return this.backend.durableMark()
  }

  /**
   * Stops the store as a crashed process stops: a compaction in progress stops (the next open
   * resumes it), the backend is left open and as it is (the simulator reopens a store over the
   * same MemoryBackend, after its crash() if it models power loss).
   */
  detach(): void {
    this.closed = true
    this.epoch++
  }

  /** Stops a compaction in progress (it resumes at the next open) and closes the backend. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.epoch++
    await this.backend.close()
  }

  // --- the write path (StoreWriteTxn calls these) ---

  /** @internal */
  rangeAt(
    key: Uint8Array,
    end: Uint8Array | undefined,
    opts: RangeOptions,
    curRev: number,
  ): RangeResult {
    let rev = opts.rev ?? 0
    if (rev > curRev) throw errFutureRev()
    if (rev <= 0) rev = curRev
    if (rev < this.compactMainRev) throw errCompacted()
    const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : Infinity
    const countOnly = opts.countOnly === true
    const keysOnly = opts.keysOnly === true
    const kvs: KeyValue[] = []
    const found = this.scratch
    if (end === undefined || end.length === 0) {
      const ki = this.tree.get(latin1(key))
      if (ki === undefined || !ki.get(rev, found)) return { kvs, count: 0, rev: curRev }
      if (!countOnly) kvs.push(this.readRecord(found.main, found.sub, keysOnly))
      return { kvs, count: 1, rev: curRev }
    }
    let count = 0
    const hi = end.length === 1 && end[0] === 0 ? undefined : latin1(end)
    this.tree.visit(latin1(key), hi, (ki) => {
      if (!ki.get(rev, found)) return
      count++
      if (!countOnly && kvs.length < limit)
        kvs.push(this.readRecord(found.main, found.sub, keysOnly))
    })
    return { kvs, count, rev: curRev }
  }

  /** @internal */
  putAt(main: number, sub: number, key: Uint8Array, value: Uint8Array, lease: bigint): void {
    const k = latin1(key)
    let ki = this.tree.get(k)
    let created = main
    let ver = 0
    // The key's state as of this txn, its own writes included (etcd put: kvindex.Get(key, rev)).
    if (ki !== undefined && ki.get(main, this.scratch)) {
      created = this.scratch.createdMain
      ver = this.scratch.ver
    }
    const rk = this.revKey
    putRevision(rk, main, sub, false)
    const rec = encodeKeyValue(key, value, created, main, ver + 1, lease)
    this.backend.put('key', rk, rec)
    // Views into the record, which the backend keeps as it is (Backend.put).
    this.txnEvents?.push({ type: 'put', kv: decodeKeyValue(rec, false) })
    if (ki === undefined) {
      ki = new KeyIndex(copyBytes(key))
      this.tree.set(k, ki)
    }
    ki.put(main, sub)
  }

  /** @internal The live keys of a range at `rev`, for a deletion. */
  liveKeys(key: Uint8Array, end: Uint8Array | undefined, rev: number): KeyIndex[] {
    const out: KeyIndex[] = []
    if (end === undefined || end.length === 0) {
      const ki = this.tree.get(latin1(key))
      if (ki !== undefined && ki.get(rev, this.scratch)) out.push(ki)
      return out
    }
    const hi = end.length === 1 && end[0] === 0 ? undefined : latin1(end)
    this.tree.visit(latin1(key), hi, (ki) => {
      if (ki.get(rev, this.scratch)) out.push(ki)
    })
    return out
  }

  /** @internal */
  tombstoneAt(main: number, sub: number, ki: KeyIndex): void {
    const rk = this.tombKey
    putRevision(rk, main, sub, true)
    this.backend.put('key', rk, encodeTombstone(ki.key))
    const ok = ki.tombstone(main, sub)
    assert(ok, `tombstone of a key that is not live at ${main}.${sub}`)
    this.txnEvents?.push({ type: 'delete', kv: tombstoneKv(ki.key, main) })
  }

  /** @internal */
  endTxn(index: number, beginRev: number, wrote: boolean): void {
    assert(this.txnOpen)
    assert(this.currentRev === beginRev)
    this.txnOpen = false
    if (wrote) this.currentRev++
    this.saveConsistentIndex(index)
    this.backend.commit(index)
    const events = this.txnEvents
    this.txnEvents = undefined
    if (wrote) this.observer?.committed(this.currentRev, events ?? [])
  }

  private readRecord(main: number, sub: number, keysOnly: boolean): KeyValue {
    const rk = this.revKey
    putRevision(rk, main, sub, false)
    const rec = this.backend.get('key', rk)
    if (rec === undefined) throw backendCorrupt(`no record for revision ${main}.${sub}`)
    return decodeKeyValue(rec, !this.backend.freshReads, keysOnly)
  }

  private saveConsistentIndex(index: number): void {
    const b = new Uint8Array(8)
    writeU64(b, 0, index)
    this.backend.put('meta', META_CONSISTENT_INDEX, b)
    this.consistentIdx = index
  }

  private checkIndex(index: number): void {
    assert(
      Number.isSafeInteger(index) && index > this.consistentIdx,
      `raft index ${index} must be above the consistent index ${this.consistentIdx} (an entry is applied once)`,
    )
  }

  private checkOpen(): void {
    if (this.closed) throw new MvccError('CLOSED', 'mvcc: store used after close()')
  }

  /** After open or restore: finish a compaction a crash interrupted (etcd restore). */
  private resume(state: State): void {
    if (state.resumeCompactRev < 0 && state.orphans.length === 0) return
    const rev = state.resumeCompactRev >= 0 ? state.resumeCompactRev : this.compactMainRev
    const dropped = state.orphans
    if (state.resumeCompactRev >= 0) compactIndex(this.tree, rev, dropped)
    void this.deleteDropped(rev, dropped).catch(() => {
      // A failure here is the backend's (closed, disk); the next open resumes again.
    })
  }

  /**
   * Deletes compacted records in batches of batchLimit, ascending by revision, yielding between
   * batches, then records the compaction finished (etcd scheduleCompaction). Ascending order
   * matters for a crash halfway: what remains of the dropped records is a suffix of them, so the
   * next open rebuilds a consistent index (a remaining tombstone may have lost its generation:
   * rebuild() sets it aside as an orphan).
   */
  private deleteDropped(rev: number, dropped: DroppedRevision[]): Promise<void> {
    dropped.sort((a, b) => a.main - b.main || a.sub - b.sub)
    const epoch = this.epoch
    const run = async (): Promise<void> => {
      for (let at = 0; at < dropped.length; at += this.batchLimit) {
        if (this.epoch !== epoch) return
        const stop = Math.min(dropped.length, at + this.batchLimit)
        for (let i = at; i < stop; i++) {
          const d = dropped[i]!
          this.backend.delete('key', revisionKey(d.main, d.sub, d.tombstone))
        }
        this.backend.commit(this.consistentIdx)
        await yieldTurn()
      }
      if (this.epoch !== epoch) return
      this.backend.put('meta', META_FINISHED_COMPACT, revisionKey(rev, 0))
      this.backend.commit(this.consistentIdx)
    }
    const next = this.compactions.then(run)
    this.compactions = next.catch(() => undefined)
    return next
  }
}

class StoreWriteTxn implements WriteTxn {
  private changes = 0
  private ended = false

  constructor(
    private readonly store: MvccStore,
    private readonly index: number,
    private readonly beginRev: number,
  ) {}

  range(key: Uint8Array, end: Uint8Array | undefined, opts: RangeOptions = {}): RangeResult {
    assert(!this.ended, 'range on an ended write txn')
    return this.store.rangeAt(key, end, opts, this.beginRev + (this.changes > 0 ? 1 : 0))
  }

  put(key: Uint8Array, value: Uint8Array, lease: bigint): void {
    assert(!this.ended, 'put on an ended write txn')
    this.store.putAt(this.beginRev + 1, this.changes, key, value, lease)
    this.changes++
  }

  deleteRange(key: Uint8Array, end: Uint8Array | undefined): number {
    assert(!this.ended, 'deleteRange on an ended write txn')
    const rrev = this.beginRev + (this.changes > 0 ? 1 : 0)
    const keys = this.store.liveKeys(key, end, rrev)
    for (const ki of keys) {
      this.store.tombstoneAt(this.beginRev + 1, this.changes, ki)
      this.changes++
    }
    return keys.length
  }

  end(): void {
    assert(!this.ended, 'end of an ended write txn')
    this.ended = true
    this.store.endTxn(this.index, this.beginRev, this.changes > 0)
  }
}

/** Compacts every key's index at `rev`; keys left empty leave the tree (etcd treeIndex.Compact). */
function compactIndex(tree: TreeIndex, rev: number, dropped: DroppedRevision[]): void {
  const empty: string[] = []
  tree.forEach((ki, k) => {
    ki.compact(rev, dropped)
    if (ki.isEmpty()) empty.push(k)
  })
  for (const k of empty) tree.delete(k)
}

/**
 * Builds the key index and revisions from a backend's records, in revision order (etcd
 * restoreIntoIndex): a key's first record restores its generation with the stored creation and
 * version, later puts extend it, a tombstone ends it.
 */
function rebuild(
  scanKeys: (visit: (key: Uint8Array, value: Uint8Array) => void) => void,
  getMeta: (key: Uint8Array) => Uint8Array | undefined,
): State {
  const tree = new TreeIndex()
  const consistentIndex = readMetaU64(getMeta(META_CONSISTENT_INDEX), 'consistent_index')
  const finished = readMetaRev(getMeta(META_FINISHED_COMPACT), 'finishedCompactRev')
  const scheduled = readMetaRev(getMeta(META_SCHEDULED_COMPACT), 'scheduledCompactRev')
  const orphans: DroppedRevision[] = []
  let lastMain = 0
  let lastSub = -1
  scanKeys((rk, rec) => {
    if (!isRevisionKey(rk)) throw backendCorrupt(`a key of ${rk.length} bytes in bucket "key"`)
    const main = revisionMain(rk)
    const sub = revisionSub(rk)
    if (Number.isNaN(main) || Number.isNaN(sub)) throw backendCorrupt('a revision above 2^53')
    if (main < lastMain || (main === lastMain && sub <= lastSub)) {
      throw backendCorrupt(`revision ${main}.${sub} after ${lastMain}.${lastSub}`)
    }
    lastMain = main
    lastSub = sub
    const key = recordKey(rec)
    const k = latin1(key)
    let ki = tree.get(k)
    if (isTombstoneKey(rk)) {
      if (ki === undefined || !ki.isLive()) {
        // The tombstone of a generation whose puts a compaction had deleted when it stopped.
        if (main > scheduled)
          throw backendCorrupt(`a tombstone at ${main}.${sub} ends no generation`)
        orphans.push({ main, sub, tombstone: true })
        return
      }
      ki.tombstone(main, sub)
      return
    }
    const kv = decodeKeyValue(rec, false, true)
    if (ki === undefined) {
      ki = new KeyIndex(copyBytes(key))
      tree.set(k, ki)
    }
    // The first record of a generation carries its creation and version (earlier revisions of
    // the generation may be compacted away); later ones extend it.
    if (!ki.isLive()) ki.restore(kv.createRevision, main, sub, kv.version)
    else ki.put(main, sub)
  })
  // Keys whose records were all orphan tombstones never entered the tree. A key whose only
  // generation ended leaves {empty} behind only via tombstone(): keep it as etcd does (compaction
  // removes it).
  // etcd: the largest revision seen, or the compaction's if compaction deleted the newest
  // records (a tombstone at the compacted revision); 1 for an empty store.
  const currentRev = Math.max(1, lastMain, finished, scheduled)
  // -1 until the first compaction, as etcd's compactMainRev (so compacting at 0 succeeds once).
  const compactMainRev = Math.max(finished, scheduled)
  return {
    tree,
    currentRev,
    compactMainRev,
    resumeCompactRev: scheduled > finished ? scheduled : -1,
    consistentIndex,
    orphans,
  }
}

/** The first key after every key that starts with `prefix` ("app/" ends it: never all 0xff). */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  let n = prefix.length
  while (n > 0 && prefix[n - 1] === 0xff) n--
  assert(n > 0, 'a prefix of 0xff bytes has no end')
  const end = Uint8Array.from(prefix.subarray(0, n)) // a copy (a Buffer's slice is a view)
  end[n - 1]!++
  return end
}

function metaName(name: string): Uint8Array {
  assert(name.length > 0, 'a meta name is not empty')
  return Buffer.from(`app/${name}`, 'utf8')
}

function readMetaU64(b: Uint8Array | undefined, name: string): number {
  if (b === undefined) return 0
  const v = b.length === 8 ? readU64(b, 0) : NaN
  if (Number.isNaN(v)) throw backendCorrupt(`meta ${name} of ${b.length} bytes`)
  return v
}

function readMetaRev(b: Uint8Array | undefined, name: string): number {
  if (b === undefined) return -1
  if (!isRevisionKey(b) || isTombstoneKey(b))
    throw backendCorrupt(`meta ${name} of ${b.length} bytes`)
  const v = revisionMain(b)
  if (Number.isNaN(v)) throw backendCorrupt(`meta ${name} above 2^53`)
  return v
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
