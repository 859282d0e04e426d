/**
 * LmdbBackend: the server's Backend, on LMDB through the `lmdb` package (lmdb-js). One LMDB
 * environment (a file, plus its `-lock` file) with two named databases, "key" and "meta",
 * binary keys and values.
 *
 * Writes are batched as etcd batches its backend's (batchInterval 100 ms, batchLimit 10,000):
 * the write groups of up to `batchIntervalMs` (or `batchLimit` writes) are handed to lmdb-js
 * together, in one event turn, so they go into one LMDB transaction, committed on lmdb-js's write
 * thread. A store's write group (one raft entry: its records and its consistent index) is never
 * split: a batch is handed over only between groups. `flushed()` hands over what is batched and
 * resolves once it is durable; the server calls it before the WAL may release entries (a
 * snapshot) and at close, so the WAL always holds what the backend may have lost.
 *
 * Crash safety, from LMDB's documented guarantees. lmdb-js opens the environment with
 * `overlappingSync` (its default on Linux): a transaction commits without waiting for the disk,
 * and is flushed (fdatasync) after the commit, outside the write lock; its meta pages are
 * updated in steps so that after a power loss the database opens at the last transaction
 * flushed whole (the `flushed` promise), never a torn one: ACI always, D up to the last flush.
 * A kill -9 loses only what was not committed (the batch not yet handed over; the OS keeps what
 * was written). Either way the backend is behind the WAL, never corrupt, and its consistent index
 * says where the replay starts. What batching saves: one transaction and one fdatasync of
 * data.mdb per batch instead of per event turn (hundreds per second under load), and lmdb-js's
 * per-transaction work on the event loop. Not used: `noSync` (LMDB: "a system crash can corrupt
 * the database" unless the file system keeps write order), `noMetaSync` (still a sync per
 * transaction).
 *
 * LMDB's reads do not see a transaction that has not committed yet, so writes also go into an
 * overlay (a Map per bucket, keyed by the key) until their transaction commits; reads look there
 * first. The overlay holds the writes batched and those of the transactions in flight.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs'
import assert from 'node:assert/strict'
import { open, type Database, type RootDatabase, type RootDatabaseOptionsWithPath } from 'lmdb'
import type { Backend, BackendEntry, Bucket } from './backend.js'
import { copyBytes, latin1 } from './bytes.js'
import { backendCorrupt, errClosed, MvccError } from './errors.js'
import { readU64 } from './revision.js'

export interface LmdbBackendOptions {
  /**
   * Do not fsync commits (tests and benchmarks only: a crash of the machine may lose or tear
   * what the WAL no longer covers). Default false.
   */
  noSync?: boolean
  /** The longest a write waits before it is handed to LMDB (default 100 ms, as etcd). */
  batchIntervalMs?: number
  /** Writes batched at most before they are handed to LMDB (default 10,000, as etcd). */
  batchLimit?: number
}

/** A write batched: a put (value), a delete (value undefined), or the clear of a bucket (key undefined). */
interface Op {
  bucket: Bucket
  key: string | undefined
  value: Uint8Array | undefined
}

interface Batch {
  /** The promise lmdb-js returns for every write of the batch, once handed over. */
  promise: Promise<unknown> | undefined
  /** The writes not handed over yet, in order. */
  ops: Op[]
  /** Overlay keys written in this batch, per bucket. */
  keys: { key: string[]; meta: string[] }
  /** The last mark committed in this batch (-1: none). */
  mark: number
  /** This batch clears everything first (replaceAll): LMDB's content is hidden until it commits. */
  clears: boolean
}

interface Pending {
  value: Uint8Array | undefined
  batch: Batch
  /** The batched write, until the batch is handed over. */
  op: Op | undefined
}

export class LmdbBackend implements Backend {
  readonly freshReads = true
  readonly path: string
  private readonly root: RootDatabase
  private readonly dbs: { key: Database<Buffer, Buffer>; meta: Database<Buffer, Buffer> }
  private readonly overlay = { key: new Map<string, Pending>(), meta: new Map<string, Pending>() }
  /** The batch collecting writes, not handed to LMDB yet. */
  private open: Batch | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly batchIntervalMs: number
  private readonly batchLimit: number
  /** Batches handed over whose commit has not been seen yet, oldest first. */
  private readonly inflight: Batch[] = []
  /** A group is open: written to since the last commit(). */
  private groupOpen = false
  /** The newest batch (by creation) that clears, until it commits. */
  private clearing: Batch | undefined
  private durable = 0
  /** The mark of the last commit(). */
  private lastMark = 0
  private failure: Error | undefined
  private closed = false
  /** LMDB's data file (resolved once: sizeBytes() is called per write for the quota). */
  private readonly file: string

  private constructor(path: string, opts: LmdbBackendOptions) {
    this.path = path
    // lmdb-js starts a new transaction after batchStartThreshold writes (default 1,000) in one
    // event turn; a write group (a delete of thousands of keys, a lease revoke) must stay in one.
    // (An option lmdb-js reads but does not declare.)
    const options: RootDatabaseOptionsWithPath & { batchStartThreshold: number } = {
      path,
      maxDbs: 4,
      noSync: opts.noSync === true,
      batchStartThreshold: Number.MAX_SAFE_INTEGER,
    }
    this.root = open(options)
    this.batchIntervalMs = opts.batchIntervalMs ?? 100
    this.batchLimit = opts.batchLimit ?? 10_000
    this.file = dataFile(path)
    this.dbs = {
      key: this.root.openDB<Buffer, Buffer>({
        name: 'key',
        keyEncoding: 'binary',
        encoding: 'binary',
      }),
      meta: this.root.openDB<Buffer, Buffer>({
        name: 'meta',
        keyEncoding: 'binary',
        encoding: 'binary',
      }),
    }
  }

  /**
   * Opens (creating if need be) the LMDB file at `path`. A file that is not LMDB's is refused
   * with a BACKEND_CORRUPT MvccError and left as it is: LMDB trusts its file, and opening a
   * stranger crashes the process.
   */
  static open(path: string, opts: LmdbBackendOptions = {}): LmdbBackend {
    checkLmdbFile(path)
    const b = new LmdbBackend(path, opts)
    const ci = b.get('meta', new TextEncoder().encode('consistent_index'))
    // What is on disk is durable: the mark starts at the stored consistent index.
    if (ci !== undefined && ci.length === 8) b.durable = b.lastMark = readU64(ci, 0) || 0
    return b
  }

  get(bucket: Bucket, key: Uint8Array): Uint8Array | undefined {
    this.check()
    const overlay = this.overlay[bucket]
    if (overlay.size > 0 || this.clearing !== undefined) {
      const p = overlay.get(latin1(key))
      // A copy: the store hands out views into what get() returns (freshReads).
      if (p !== undefined) return p.value === undefined ? undefined : copyBytes(p.value)
      if (this.clearing !== undefined) return undefined
    }
    // lmdb-js's get() copies into a fresh Buffer with a backing store of its own; the record is
    // copied here into Node's buffer pool instead, from the shared buffer getBinaryFast() fills
    // (valid until the next read: copied at once). About 2.5x faster per get.
    const db = this.dbs[bucket]
    const shared = db.getBinaryFast(key as Buffer)
    if (shared === undefined) return undefined
    const n = (db as unknown as { lastSize: number }).lastSize
    const out = Buffer.allocUnsafe(n)
    out.set(new Uint8Array(shared.buffer, shared.byteOffset, n))
    return out
  }

  scan(bucket: Bucket, visit: (key: Uint8Array, value: Uint8Array) => void): void {
    this.check()
    const pending: Array<[string, Uint8Array | undefined]> = []
    for (const [k, p] of this.overlay[bucket]) pending.push([k, p.value])
    pending.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    let i = 0
    const flushBelow = (k: string | undefined): void => {
      while (i < pending.length && (k === undefined || pending[i]![0] < k)) {
        const [pk, pv] = pending[i++]!
        if (pv !== undefined) visit(Buffer.from(pk, 'latin1'), pv)
      }
    }
    if (this.clearing === undefined) {
      for (const { key, value } of this.dbs[bucket].getRange({})) {
        const k = latin1(key)
        flushBelow(k)
        if (i < pending.length && pending[i]![0] === k) {
          const pv = pending[i++]![1]
          if (pv !== undefined) visit(key, pv)
          continue
        }
        visit(key, value)
      }
    }
    flushBelow(undefined)
  }

  scanRange(
    bucket: Bucket,
    from: Uint8Array,
    to: Uint8Array,
    visit: (key: Uint8Array, value: Uint8Array) => boolean | void,
  ): void {
    this.check()
    const lo = latin1(from)
    const hi = latin1(to)
    // The overlay's entries in the range (it holds only the writes in flight), merged in order.
    const pending: Array<[string, Uint8Array | undefined]> = []
    for (const [k, p] of this.overlay[bucket]) if (k >= lo && k < hi) pending.push([k, p.value])
    pending.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    let i = 0
    const flushBelow = (k: string | undefined): boolean => {
      while (i < pending.length && (k === undefined || pending[i]![0] < k)) {
        const [pk, pv] = pending[i++]!
        if (pv !== undefined && visit(Buffer.from(pk, 'latin1'), copyBytes(pv)) === false) {
          return false
        }
      }
      return true
    }
    if (this.clearing === undefined) {
      const range = this.dbs[bucket].getRange({ start: from as Buffer, end: to as Buffer })
      for (const { key, value } of range) {
        const k = latin1(key)
        if (!flushBelow(k)) return
        if (i < pending.length && pending[i]![0] === k) {
          const pv = pending[i++]![1]
          if (pv !== undefined && visit(key, copyBytes(pv)) === false) return
          continue
        }
        if (visit(key, value) === false) return
      }
    }
    flushBelow(undefined)
  }

  put(bucket: Bucket, key: Uint8Array, value: Uint8Array): void {
    this.check()
    this.batch(bucket, latin1(key), value)
  }

  delete(bucket: Bucket, key: Uint8Array): void {
    this.check()
    this.batch(bucket, latin1(key), undefined)
  }

  commit(mark: number): void {
    this.check()
    const open = this.open
    if (open !== undefined && this.groupOpen) open.mark = mark
    this.lastMark = mark
    this.groupOpen = false
    if (open === undefined) return
    if (open.ops.length >= this.batchLimit) this.handOver()
    else this.timer ??= setTimeout(() => this.handOver(), this.batchIntervalMs)
  }

  /**
   * Replaces everything in one LMDB transaction: cleared and rewritten by asynchronous writes
   * queued after every earlier one, so no earlier write can land on top of the new content.
   * Durable with that transaction (flushed()), like any group.
   */
  replaceAll(entries: readonly BackendEntry[], mark: number): void {
    this.check()
    this.handOver()
    this.batch('key', undefined, undefined)
    this.batch('meta', undefined, undefined)
    const batch = this.open!
    batch.clears = true
    this.clearing = batch
    // The overlay now stands for the whole content until the batch commits.
    this.overlay.key.clear()
    this.overlay.meta.clear()
    for (const e of entries) {
      this.put(e.bucket, copyBytes(e.key), copyBytes(e.value))
    }
    this.commit(mark)
    this.handOver()
  }

  async flushed(): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    this.handOver()
    const mark = this.lastMark
    const last = this.inflight[this.inflight.length - 1]
    if (last?.promise !== undefined) await last.promise
    await this.root.flushed
    if (this.failure !== undefined) throw this.failure
    this.raiseDurable(mark)
  }

  durableMark(): number {
    return this.durable
  }

  sizeBytes(): number {
    this.check()
    return statSync(this.file).size
  }

  sizeInUseBytes(): number {
    this.check()
    const pages = (s: Record<string, number>): number =>
      (s.treeBranchPageCount ?? 0) + (s.treeLeafPageCount ?? 0) + (s.overflowPages ?? 0)
    const root = this.root.getStats() as Record<string, unknown>
    const pageSize = (root.pageSize as number | undefined) ?? 4096
    let used = 2 // LMDB's two meta pages
    used += pages(root as Record<string, number>)
    used += pages((root.free ?? {}) as Record<string, number>)
    used += pages(this.dbs.key.getStats() as Record<string, number>)
    used += pages(this.dbs.meta.getStats() as Record<string, number>)
    return used * pageSize
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.flushed()
    } finally {
      await this.root.close()
    }
  }

  /** Adds a write to the open batch and the overlay. */
  private batch(bucket: Bucket, k: string | undefined, value: Uint8Array | undefined): void {
    let batch = this.open
    if (batch === undefined) {
      batch = { promise: undefined, ops: [], keys: { key: [], meta: [] }, mark: -1, clears: false }
      this.open = batch
    }
    this.groupOpen = true
    if (k === undefined) {
      batch.ops.push({ bucket, key: k, value })
      return
    }
    const overlay = this.overlay[bucket]
    const prev = overlay.get(k)
    if (prev !== undefined && prev.batch === batch && prev.op !== undefined) {
      // The same key again in this batch (the consistent index, once per entry): one write,
      // the last value. Only a clear comes before it in the batch, and a clear is never after.
      prev.op.value = value
      prev.value = value
      return
    }
    const op = { bucket, key: k, value }
    batch.ops.push(op)
    overlay.set(k, { value, batch, op })
    batch.keys[bucket].push(k)
  }

  /**
   * Hands the open batch to lmdb-js as one `batch()`: its writes go into one transaction, whole
   * or not at all. (Writes merely made in one event turn may be split: lmdb-js starts a new
   * transaction when its write buffer fills, which a batch of thousands of writes did.) Called
   * between write groups only (a group is written within one synchronous call: a timer or an
   * awaited flushed() cannot cut into it).
   */
  private handOver(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    const batch = this.open
    if (batch === undefined) return
    assert(!this.groupOpen, 'a write group handed to LMDB before its commit')
    this.open = undefined
    const ops = batch.ops
    // (A later write of a key batched here goes to a new batch: `op` is not looked at again.)
    batch.ops = []
    if (ops.length === 0) return
    const promise = this.root.batch(() => {
      for (const op of ops) {
        const db = this.dbs[op.bucket]
        if (op.key === undefined) void db.clearAsync()
        else if (op.value === undefined) void db.remove(Buffer.from(op.key, 'latin1'))
        else void db.put(Buffer.from(op.key, 'latin1'), op.value as Buffer)
      }
    })
    batch.promise = promise
    this.inflight.push(batch)
    promise.then(
      () => this.committed(batch),
      (err: unknown) => this.fail(err),
    )
  }

  private committed(batch: Batch): void {
    const at = this.inflight.indexOf(batch)
    if (at >= 0) this.inflight.splice(0, at + 1)
    for (const bucket of ['key', 'meta'] as const) {
      const overlay = this.overlay[bucket]
      for (const k of batch.keys[bucket]) {
        const p = overlay.get(k)
        if (p !== undefined && p.batch === batch) overlay.delete(k)
      }
    }
    if (this.clearing === batch) this.clearing = undefined
    const mark = batch.mark
    if (mark < 0 || this.closed) return
    if (batch.clears) {
      // A restore may move the consistent index anywhere; nothing before it counts any more.
      void this.root.flushed.then(
        () => (this.durable = mark),
        (err: unknown) => this.fail(err),
      )
      return
    }
    void this.root.flushed.then(
      () => this.raiseDurable(mark),
      (err: unknown) => this.fail(err),
    )
  }

  private raiseDurable(mark: number): void {
    if (mark > this.durable) this.durable = mark
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return
    this.failure = new MvccError(
      'BACKEND_FAILED',
      `mvcc: an LMDB commit failed: ${String(err)}; the member must stop`,
      { cause: err },
    )
  }

  private check(): void {
    if (this.closed) throw errClosed('LmdbBackend')
    if (this.failure !== undefined) throw this.failure
  }
}

/** LMDB's meta page: the magic 0xBEEFC0DE (little-endian) at byte 24 of the first page. */
const LMDB_MAGIC_AT = 24
const LMDB_MAGIC = [0xde, 0xc0, 0xef, 0xbe]

/** LMDB's data file: `path`, or `path`/data.mdb when `path` is a directory (lmdb's default for a
 * path without an extension). */
function dataFile(path: string): string {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true
    ? `${path}/data.mdb`
    : path
}

function checkLmdbFile(path: string): void {
  let fd: number
  try {
    // A path without an extension is a directory holding data.mdb (lmdb's default layout).
    const file =
      statSync(path, { throwIfNoEntry: false })?.isDirectory() === true ? `${path}/data.mdb` : path
    fd = openSync(file, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  try {
    const head = Buffer.alloc(LMDB_MAGIC_AT + 4)
    const n = readSync(fd, head, 0, head.length, 0)
    if (n === 0) return
    if (n < head.length || LMDB_MAGIC.some((b, i) => head[LMDB_MAGIC_AT + i] !== b)) {
      throw backendCorrupt(`${path} is not an LMDB file (no LMDB magic in its first page)`)
    }
  } finally {
    closeSync(fd)
  }
}
