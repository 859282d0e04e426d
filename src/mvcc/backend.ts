/**
 * The Backend: an ordered byte-key store with two buckets (etcd's "key" and "meta", bbolt buckets
 * in etcd's server/mvcc/backend) and grouped writes. Everything above this interface (the key
 * index, revisions, compaction, snapshots) is shared; the implementations are MemoryBackend (the
 * simulator, unit tests) and LmdbBackend (the server).
 *
 * Contract:
 * - Reads see every write made so far, durable or not (etcd's read-your-writes over a batch tx).
 * - `commit(mark)` closes the group of puts and deletes made since the previous commit(): after a
 *   crash the backend holds a prefix of the groups, each whole or not at all. `mark` is the
 *   store's consistent index for the group; `durableMark()` is the largest mark whose group (and
 *   every group before it) is durable.
 * - `replaceAll` swaps the whole content atomically, as one group (a snapshot restore).
 */
import { copyBytes, fromLatin1, latin1 } from './bytes.js'
import { errClosed } from './errors.js'

export type Bucket = 'key' | 'meta'

export interface BackendEntry {
  bucket: Bucket
  key: Uint8Array
  value: Uint8Array
}

export interface Backend {
  /**
   * True if get() returns a buffer the backend never touches again, so the store may hand out
   * views into it; false if the buffer is the backend's own (the store copies).
   */
  readonly freshReads: boolean
  get(bucket: Bucket, key: Uint8Array): Uint8Array | undefined
  /** Every entry of `bucket` in key order, including writes not yet durable. */
  scan(bucket: Bucket, visit: (key: Uint8Array, value: Uint8Array) => void): void
  /**
   * The entries of `bucket` with from <= key < to, in key order, writes not yet durable included,
   * until `visit` returns false (the watchers' catch-up reads the "key" bucket by revision).
   */
  scanRange(
    bucket: Bucket,
    from: Uint8Array,
    to: Uint8Array,
    visit: (key: Uint8Array, value: Uint8Array) => boolean | void,
  ): void
  /** Keeps `value` (the store never changes it again); copies `key` (the store reuses it). */
  put(bucket: Bucket, key: Uint8Array, value: Uint8Array): void
  /** Copies `key` if it keeps it. */
  delete(bucket: Bucket, key: Uint8Array): void
  /** Ends a write group (see the contract above). */
  commit(mark: number): void
  /**
   * Replaces all content with `entries` as one group with `mark` (a restore): atomically, durable
   * once a flushed() after it resolves.
   */
  replaceAll(entries: readonly BackendEntry[], mark: number): void
  /** Resolves when every group committed so far is durable; rejects if the backend failed. */
  flushed(): Promise<void>
  /** The mark of the last group known durable (0 before any). */
  durableMark(): number
  /** Bytes of storage the backend takes (etcd's dbSize: the file size). */
  sizeBytes(): number
  /** Bytes of that in use by live data (etcd's dbSizeInUse). */
  sizeInUseBytes(): number
  close(): Promise<void>
}

export interface MemoryBackendOptions {
  /**
   * When a group becomes durable. 'commit' (the default): at commit(). 'flush': only once a
   * flushed() called after it resolves, as with LMDB's asynchronous commits; crash() then forgets
   * every group that is not durable (the simulator's power loss).
   */
  durability?: 'commit' | 'flush'
}

interface Undo {
  bucket: Bucket
  key: string
  /** The value before the write (undefined: absent). */
  before: Uint8Array | undefined
}

/**
 * The in-memory backend: a Map per bucket keyed by the bytes as a latin1 string; a scan sorts the
 * keys (scans are rare: open, snapshot). With durability 'flush' it keeps an undo log of the
 * writes not yet durable, so crash() can return to the last durable group.
 */
export class MemoryBackend implements Backend {
  readonly freshReads = false
  private readonly buckets = {
    key: new Map<string, Uint8Array>(),
    meta: new Map<string, Uint8Array>(),
  }
  private readonly flushMode: boolean
  /** Writes since the last durable group, oldest first ('flush' mode). */
  private undo: Undo[] = []
  /** Group ends in `undo`: the undo length at each commit() and its mark. */
  private groups: Array<{ at: number; mark: number }> = []
  private bytes = 0
  private mark = 0
  private durable = 0
  private closed = false

  constructor(opts: MemoryBackendOptions = {}) {
    this.flushMode = opts.durability === 'flush'
  }

  get(bucket: Bucket, key: Uint8Array): Uint8Array | undefined {
    this.check()
    return this.buckets[bucket].get(latin1(key))
  }

  scan(bucket: Bucket, visit: (key: Uint8Array, value: Uint8Array) => void): void {
    this.check()
    const m = this.buckets[bucket]
    const keys = [...m.keys()].sort()
    for (const k of keys) visit(fromLatin1(k), m.get(k)!)
  }

  scanRange(
    bucket: Bucket,
    from: Uint8Array,
    to: Uint8Array,
    visit: (key: Uint8Array, value: Uint8Array) => boolean | void,
  ): void {
    this.check()
    const m = this.buckets[bucket]
    const lo = latin1(from)
    const hi = latin1(to)
    // A pass over every key: the memory backend serves tests and the simulator, whose stores are
    // small; LMDB seeks.
    const keys: string[] = []
    for (const k of m.keys()) if (k >= lo && k < hi) keys.push(k)
    keys.sort()
    for (const k of keys) if (visit(fromLatin1(k), m.get(k)!) === false) return
  }

  put(bucket: Bucket, key: Uint8Array, value: Uint8Array): void {
    this.check()
    // The store never writes a value again after handing it over: keep it as it is.
    this.set(bucket, latin1(key), value)
  }

  delete(bucket: Bucket, key: Uint8Array): void {
    this.check()
    this.set(bucket, latin1(key), undefined)
  }

  commit(mark: number): void {
    this.check()
    // A compaction's batches commit with the store's index; it never moves backwards here.
    if (mark > this.mark) this.mark = mark
    if (this.flushMode) this.groups.push({ at: this.undo.length, mark: this.mark })
    else this.durable = this.mark
  }

  replaceAll(entries: readonly BackendEntry[], mark: number): void {
    this.check()
    for (const bucket of ['key', 'meta'] as const) {
      for (const k of [...this.buckets[bucket].keys()]) this.set(bucket, k, undefined)
    }
    for (const e of entries) this.set(e.bucket, latin1(e.key), copyBytes(e.value))
    this.mark = mark
    if (this.flushMode) this.groups.push({ at: this.undo.length, mark })
    else this.durable = mark
  }

  async flushed(): Promise<void> {
    if (this.closed) throw errClosed('MemoryBackend')
    if (!this.flushMode) return
    const group = this.groups[this.groups.length - 1]
    // Durable "later", as a disk would be: after the caller's current turn.
    await Promise.resolve()
    if (group === undefined || !this.groups.includes(group)) return
    const upto = this.groups.indexOf(group)
    this.undo = this.undo.slice(group.at)
    this.groups = this.groups.slice(upto + 1).map((g) => ({ at: g.at - group.at, mark: g.mark }))
    this.durable = group.mark
  }

  durableMark(): number {
    return this.durable
  }

  /**
   * Power loss ('flush' mode): every write after the last durable group is undone, the open
   * group's too; the backend stays usable, as the files a restarted process opens.
   */
  crash(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) {
      const u = this.undo[i]!
      this.apply(u.bucket, u.key, u.before)
    }
    this.undo = []
    this.groups = []
    this.mark = this.durable
    this.closed = false
  }

  sizeBytes(): number {
    return this.bytes
  }

  sizeInUseBytes(): number {
    return this.bytes
  }

  close(): Promise<void> {
    this.closed = true
    return Promise.resolve()
  }

  private set(bucket: Bucket, k: string, value: Uint8Array | undefined): void {
    const before = this.apply(bucket, k, value)
    if (this.flushMode) this.undo.push({ bucket, key: k, before })
  }

  private apply(bucket: Bucket, k: string, value: Uint8Array | undefined): Uint8Array | undefined {
    const m = this.buckets[bucket]
    const old = m.get(k)
    if (old !== undefined) this.bytes -= k.length + old.length
    if (value === undefined) m.delete(k)
    else {
      m.set(k, value)
      this.bytes += k.length + value.length
    }
    return old
  }

  private check(): void {
    if (this.closed) throw errClosed('MemoryBackend')
  }
}
