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
 * - `replaceAll` swaps the whole content atomically and durably (a snapshot restore).
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
  /** Keeps `value` (the store never changes it again); copies `key` (the store reuses it). */
  put(bucket: Bucket, key: Uint8Array, value: Uint8Array): void
  /** Copies `key` if it keeps it. */
  delete(bucket: Bucket, key: Uint8Array): void
  /** Ends a write group (see the contract above). */
  commit(mark: number): void
  /** Replaces all content with `entries`, atomically; durable when it returns. */
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

/**
 * The in-memory backend: a Map per bucket keyed by the bytes as a latin1 string; a scan sorts the
 * keys (scans are rare: open, snapshot, hash). Every group is durable as soon as it is committed:
 * there is no disk to lose it (the simulator models a crash by reopening from a snapshot, or from
 * this object, which survives).
 */
export class MemoryBackend implements Backend {
  readonly freshReads = false
  private readonly buckets = {
    key: new Map<string, Uint8Array>(),
    meta: new Map<string, Uint8Array>(),
  }
  private bytes = 0
  private mark = 0
  private closed = false

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

  put(bucket: Bucket, key: Uint8Array, value: Uint8Array): void {
    this.check()
    const k = latin1(key)
    const m = this.buckets[bucket]
    const old = m.get(k)
    if (old !== undefined) this.bytes -= k.length + old.length
    // The store never writes a buffer again after handing it over: keep it as it is.
    m.set(k, value)
    this.bytes += k.length + value.length
  }

  delete(bucket: Bucket, key: Uint8Array): void {
    this.check()
    const k = latin1(key)
    const m = this.buckets[bucket]
    const old = m.get(k)
    if (old === undefined) return
    this.bytes -= k.length + old.length
    m.delete(k)
  }

  commit(mark: number): void {
    this.check()
    this.mark = mark
  }

  replaceAll(entries: readonly BackendEntry[], mark: number): void {
    this.check()
    this.buckets.key.clear()
    this.buckets.meta.clear()
    this.bytes = 0
    for (const e of entries) this.put(e.bucket, copyBytes(e.key), copyBytes(e.value))
    this.mark = mark
  }

  flushed(): Promise<void> {
    return this.closed ? Promise.reject(errClosed('MemoryBackend')) : Promise.resolve()
  }

  durableMark(): number {
    return this.mark
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

  private check(): void {
    if (this.closed) throw errClosed('MemoryBackend')
  }
}
