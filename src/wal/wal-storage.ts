/**
 * WalStorage: the raft Storage over the WAL and the snapshot files, laid out as etcd's member dir:
 * `<dir>/wal/*.wal` and `<dir>/snap/*.snap`. Reads are synchronous, as the core requires; writes
 * change the in-memory view at once (so the core reads what it just handed over, as with
 * MemoryStorage) and return a promise that resolves when they are durable. The driver persists a
 * Ready with save(), awaits it, and only then acknowledges it (Advance, or MsgStorageAppendResp in
 * AsyncStorageWrites mode): nothing is reported stable before its fdatasync returned.
 *
 * Memory: an EntryIndex (terms as runs, a checkpoint every 64 entries) and
 * a cache of the newest entries, bounded by `cacheEntriesMax` and `cacheBytesMax`. Older entries
 * are read back from the WAL: from the checkpoint at or before the first one wanted, scanning
 * forward once for the whole range (entry-index.ts says why the scan meets exactly the live
 * records, and what a read costs: one pread of a few KiB for one entry). The cache never
 * evicts an entry whose record is not written yet, so every entry is always readable.
 *
 * Durability order (etcd etcdserver/storage.go SaveSnap): a snapshot file is durable before the WAL
 * records its marker, and WAL segments are released only up to a snapshot whose marker is durable.
 */
import { assert } from '../raft/index.js'
import { errCompacted, errSnapOutOfDate, errUnavailable } from '../raft/index.js'
import { discardLogger, type Logger } from '../raft/index.js'
import { entrySize } from '../raft/index.js'
import { MessageType, emptySnapshot, isEmptyHardState, isEmptySnap } from '../raft/index.js'
import type { ConfState, Entry, HardState, Message, NodeId, Snapshot } from '../raft/index.js'
import type { Ready } from '../raft/index.js'
import type { Storage } from '../raft/index.js'
import { cloneConfState, cloneSnapshot } from '../raft/index.js'
import { joinPath, type Disk } from '../io/index.js'
import { snapNotFound } from '../snap/index.js'
import { Snapshotter } from '../snap/index.js'
import { WalError } from './errors.js'
import { EntryIndex, UNWRITTEN } from './entry-index.js'
import type { WalSnapshot } from './record.js'
import { Wal, type WalBatch, type WalStats } from './wal.js'

export interface WalStorageOptions {
  disk: Disk
  /** The member directory; the WAL goes in `<dir>/wal`, snapshots in `<dir>/snap`. */
  dir: string
  nodeId: NodeId
  clusterId: bigint
  segmentBytes?: number
  /** Newest entries kept in memory (default 4096)... */
  cacheEntriesMax?: number
  /** ...and their encoded bytes at most (default 16 MiB); entries not yet written stay regardless. */
  cacheBytesMax?: number
  /** Snapshot files kept (default 5). */
  snapshotsKept?: number
  logger?: Logger
  /** The WAL's clock (WalOptions.clock): the simulator passes its ticks. */
  clock?: () => number
}

/** What one Ready asks to persist. */
export interface StorageWrite {
  snapshot?: Snapshot
  entries?: readonly Entry[]
  hardState?: HardState
}

export class WalStorage implements Storage {
  /** Warnings of the last open: repairs done, corrupt snapshots skipped. */
  readonly warnings: string[] = []

  private hardState: HardState = { term: 0, vote: 0n, commit: 0 }
  private snap: Snapshot = emptySnapshot()
  private index = new EntryIndex()
  private readonly cache = new Map<number, Entry>()
  /** Invariant: the cache holds exactly the entries cacheFirst .. index.last(). */
  private cacheFirst = 1
  private cacheBytes = 0
  /** The newest snapshot whose WAL marker is durable: segments before it may go. */
  private durableSnapIndex = 0
  /**
   * Set while a snapshot save is in progress or batches wait behind one: resolves once every
   * batch issued so far has been handed to the WAL, in issue order. A later batch goes to the
   * WAL only after it, so records land in the order save() was called.
   */
  private order: Promise<void> | undefined
  /**
   * Set once a batch was not handed to the WAL (its snapshot file failed, or one before it did):
   * every later save fails. The WAL must write records in the order entries were put (the
   * EntryIndex reads them back by that order), and a log with a hole is not a log.
   */
  private failure: unknown
  /**
   * Set while a save that resolves later than the WAL's own promise (one queued behind a
   * snapshot, or a snapshot save, which also waits for the release) or a save after it is
   * unresolved: later saves resolve after it, so saves resolve in call order.
   */
  private ackTail: Promise<void> | undefined
  /** The promise the newest save() returned: a save that needs no fdatasync resolves after it. */
  private lastSave: Promise<void> = Promise.resolve()
  /**
   * A HardState saved without a sync (only its commit index changed) and not yet written: the
   * next batch carries it unless it has a newer one.
   */
  private lazyHardState: HardState | undefined
  private readonly logger: Logger
  private readonly cacheEntriesMax: number
  private readonly cacheBytesMax: number

  private constructor(
    private readonly wal: Wal,
    private readonly snapshotter: Snapshotter,
    opts: WalStorageOptions,
  ) {
    this.logger = opts.logger ?? discardLogger
    this.cacheEntriesMax = opts.cacheEntriesMax ?? 4096
    this.cacheBytesMax = opts.cacheBytesMax ?? 16 * 1024 * 1024
    wal.onWritten = (entries, locations) => this.written(entries, locations)
  }

  /** Opens (or creates) the storage in `opts.dir` and rebuilds the log from the WAL. */
  static async open(opts: WalStorageOptions): Promise<WalStorage> {
    const { disk, dir } = opts
    const logger = opts.logger ?? discardLogger
    const walDir = joinPath(dir, 'wal')
    const snapDir = joinPath(dir, 'snap')
    const hasWal = disk.list(walDir).some((n) => n.endsWith('.wal'))
    if (!hasWal && disk.list(snapDir).some((n) => n.endsWith('.snap'))) {
      throw new WalError(
        'WAL_NOT_FOUND',
        `wal: ${snapDir} holds snapshots but ${walDir} holds no WAL; refusing to start empty`,
        { file: walDir },
      )
    }
    const replay = new ReplayLog(opts.cacheEntriesMax ?? 4096, opts.cacheBytesMax ?? 16 << 20)
    const wal = await Wal.open(
      {
        disk,
        dir: walDir,
        metadata: { nodeId: opts.nodeId, clusterId: opts.clusterId },
        segmentBytes: opts.segmentBytes,
        logger,
        clock: opts.clock,
      },
      (e, loc) => replay.entry(e, loc),
      (s) => replay.snapshot(s),
    )
    // Opened after the WAL accepted the directory: it removes unfinished temporary files, and a
    // refused directory must be left as it was.
    try {
      const snapshotter = await Snapshotter.open({
        disk,
        dir: snapDir,
        keep: opts.snapshotsKept,
        logger,
      })
      const s = new WalStorage(wal, snapshotter, opts)
      s.restore(replay, wal)
      return s
    } catch (err) {
      await wal.close()
      throw err
    }
  }

  // --- Storage (synchronous reads) -------------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    return {
      hardState: { ...this.hardState },
      confState: cloneConfState(this.snap.metadata.confState),
    }
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.index.offset
    if (lo <= offset) throw errCompacted()
    const last = this.index.last()
    if (hi > last + 1) this.logger.panic(`entries' hi(${hi}) is out of bound lastindex(${last})`)
    if (this.index.length === 0) throw errUnavailable()
    const out: Entry[] = []
    // Entries below the cache come from the WAL, the rest from the cache, which holds the tail.
    const walHi = Math.min(hi, this.cacheFirst)
    let size = lo < walHi ? this.readWritten(lo, walHi, maxSize, out) : 0
    if (lo + out.length < walHi) return out // the size limit stopped the read
    // Bounded by hi - lo; stops as soon as the size limit is passed.
    for (let i = Math.max(lo, walHi); i < hi; i++) {
      const e = this.cache.get(i)
      assert(e !== undefined, `entry ${i} is missing from the cache`)
      size += entrySize(e)
      if (out.length > 0 && size > maxSize) break
      out.push(e)
    }
    return out
  }

  term(i: number): number {
    if (i < this.index.offset) throw errCompacted()
    if (i === this.index.offset) return this.index.offsetTerm
    if (i > this.index.last()) throw errUnavailable()
    return this.index.term(i)
  }

  lastIndex(): number {
    return this.index.last()
  }

  firstIndex(): number {
    return this.index.offset + 1
  }

  snapshot(): Snapshot {
    return cloneSnapshot(this.snap)
  }

  // --- Writes: in memory now, durable when the promise resolves ---------------------------------

  /**
   * Persists one Ready's snapshot, entries and hard state as one WAL batch (one fdatasync), and
   * resolves once it is durable, after every earlier save.
   *
   * Except a write of a HardState alone whose term and vote are those already saved (raft's
   * MustSync, which etcd's WAL.Save follows): it is not synced, nor written by itself; the next
   * batch carries it (or a newer one), and close() writes it. It resolves once every earlier save
   * is durable, so what its responses acknowledge (entries and votes of earlier writes) is. Why a
   * commit index need not be durable: an entry is committed only once it is durable on a quorum
   * of logs (the leader's own acknowledgement included), and a restart from an older commit index
   * learns it again from the log (raft commits it again before it serves a ReadIndex, see the
   * node driver; a durable state machine ahead of it skips what it applied).
   */
  save(w: StorageWrite): Promise<void> {
    const p = this.saveInOrder(w, true)
    this.lastSave = p
    return p
  }

  private saveInOrder(w: StorageWrite, mayDefer: boolean): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    const hs = w.hardState
    if (
      mayDefer &&
      w.snapshot === undefined &&
      (w.entries === undefined || w.entries.length === 0) &&
      hs !== undefined &&
      hs.term === this.hardState.term &&
      hs.vote === this.hardState.vote &&
      !isEmptyHardState(this.hardState)
    ) {
      this.hardState = { ...hs }
      this.lazyHardState = this.hardState
      return this.inCallOrder(
        this.lastSave.then(() => {}),
        true,
      )
    }
    const batch: WalBatch = {}
    if (w.snapshot !== undefined) {
      const current = this.snap.metadata.index
      if (current !== 0 && current >= w.snapshot.metadata.index) {
        return Promise.reject(errSnapOutOfDate())
      }
      this.applySnapshotInMemory(w.snapshot)
      const { index, term, confState } = w.snapshot.metadata
      batch.snapshot = { index, term, confState }
    }
    if (w.entries !== undefined) batch.entries = this.appendInMemory(w.entries)
    if (w.hardState !== undefined && !isEmptyHardState(w.hardState)) {
      this.hardState = { ...w.hardState }
      batch.hardState = w.hardState
    } else if (this.lazyHardState !== undefined) {
      batch.hardState = this.lazyHardState
    }
    this.lazyHardState = undefined
    const snapshot = w.snapshot
    if (snapshot === undefined) {
      const late = this.order !== undefined
      return this.inCallOrder(this.walAppend(batch), late)
    }
    const saved = this.withSnapshotFile(snapshot, batch)
    return this.inCallOrder(
      saved.then(() => this.release(snapshot.metadata.index)),
      true,
    )
  }

  /** Persists what a Ready asks to (synchronous storage writes): resolve, then advance(). */
  saveReady(rd: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): Promise<void> {
    const w: StorageWrite = { entries: rd.entries }
    if (rd.hardState !== null) w.hardState = rd.hardState
    if (rd.snapshot !== null && !isEmptySnap(rd.snapshot)) w.snapshot = rd.snapshot
    return this.save(w)
  }

  /**
   * AsyncStorageWrites: persists a MsgStorageAppend (its hard state, snapshot and entries, in one
   * WAL batch) and resolves with the responses to deliver, once durable (etcd-io/raft's append
   * thread). Calls may overlap: they are durable, and resolve, in call order.
   */
  persistStorageAppend(m: Message): Promise<Message[]> {
    assert(m.type === MessageType.MsgStorageAppend, `not a MsgStorageAppend: ${m.type}`)
    const w: StorageWrite = { entries: m.entries }
    const hardState = { term: m.term, vote: m.vote, commit: m.commit }
    if (!isEmptyHardState(hardState)) w.hardState = hardState
    if (m.snapshot !== null && !isEmptySnap(m.snapshot)) w.snapshot = m.snapshot
    return this.save(w).then(() => m.responses)
  }

  append(entries: readonly Entry[]): Promise<void> {
    return this.save({ entries })
  }

  setHardState(hardState: HardState): Promise<void> {
    return this.save({ hardState })
  }

  /** Replaces the whole log with the snapshot (MemoryStorage.applySnapshot), durably. */
  applySnapshot(snapshot: Snapshot): Promise<void> {
    return this.save({ snapshot })
  }

  /**
   * Records a snapshot at index i with the given data (MemoryStorage.createSnapshot): the file is
   * written and synced, then its WAL marker, then segments wholly before it are released.
   */
  createSnapshot(i: number, cs: ConfState | null, data: Uint8Array): Promise<Snapshot> {
    if (i <= this.snap.metadata.index) return Promise.reject(errSnapOutOfDate())
    const last = this.index.last()
    if (i > last) this.logger.panic(`snapshot ${i} is out of bound lastindex(${last})`)
    const confState = cloneConfState(cs ?? this.snap.metadata.confState)
    this.snap = { data, metadata: { confState, index: i, term: this.term(i) } }
    const snap = cloneSnapshot(this.snap)
    const marker = { index: i, term: snap.metadata.term, confState }
    // A HardState saved without a sync goes with the marker: raft refuses to start with a
    // commit index below the snapshot, and the state it names was applied, so committed.
    const batch: WalBatch = { snapshot: marker }
    if (this.lazyHardState !== undefined) batch.hardState = this.lazyHardState
    this.lazyHardState = undefined
    return this.withSnapshotFile(snap, batch)
      .then(() => this.release(i))
      .then(() => cloneSnapshot(snap))
  }

  /**
   * Discards the entries before compactIndex from the view (MemoryStorage.compact); segments are
   * released only up to the newest durable snapshot, whatever the compaction index.
   */
  compact(compactIndex: number): Promise<void> {
    const offset = this.index.offset
    if (compactIndex <= offset) return Promise.reject(errCompacted())
    const last = this.index.last()
    if (compactIndex > last) {
      this.logger.panic(`compact ${compactIndex} is out of bound lastindex(${last})`)
    }
    compactIndexTo(this.index, this.wal, compactIndex, this.index.term(compactIndex))
    this.evictBelow(compactIndex + 1)
    return this.release(Math.min(compactIndex, this.durableSnapIndex))
  }

  /** Waits for pending writes, writes a HardState saved without a sync, and closes the files. */
  async close(): Promise<void> {
    const hs = this.lazyHardState
    if (hs !== undefined && this.failure === undefined) {
      this.lastSave = this.saveInOrder({ hardState: hs }, false)
      await this.lastSave.catch(() => {})
    }
    await this.order?.catch(() => {})
    await this.wal.close()
  }

  /** The WAL's counters (commits, bytes, rotations). */
  walStats(): WalStats {
    return { ...this.wal.stats }
  }

  walSegments(): string[] {
    return this.wal.segmentNames()
  }

  cachedEntries(): number {
    return this.cache.size
  }

  // --- Internals --------------------------------------------------------------------------------

  private restore(replay: ReplayLog, wal: Wal): void {
    for (const r of wal.recovery.repairs) this.warnings.push(`wal repaired: ${r}`)
    const markers = wal.recovery.snapshots
    const { snapshot, failed } = this.snapshotter.loadNewestAvailable(markers)
    for (const f of failed) this.warnings.push(f.message)
    let snap = snapshot
    if (snap === undefined) {
      // No file loads: start from the initial marker if the WAL still has it, as etcd does.
      if (!markers.some((m) => m.index === 0)) {
        throw failed[0] ?? snapNotFound(this.snapshotter.dir, markers.length)
      }
      snap = emptySnapshot()
    }
    const { index: s, term } = snap.metadata
    const idx = replay.index
    if (s < idx.offset) {
      throw (
        failed[0] ??
        new WalError(
          'WAL_GAP',
          `wal: entries ${s + 1}..${idx.offset} after snapshot ${s} are missing from the WAL`,
        )
      )
    }
    if (s > idx.last()) idx.reset(s, term)
    else compactIndexTo(idx, wal, s, term)
    this.adoptIndex(replay)
    this.snap = snap
    this.hardState = { ...wal.recovery.hardState }
    this.durableSnapIndex = s
    for (const w of this.warnings) this.logger.warn(w)
  }

  private adoptIndex(replay: ReplayLog): void {
    this.index = replay.index
    this.cache.clear()
    this.cacheBytes = 0
    this.cacheFirst = this.index.last() + 1
    const first = Math.max(this.index.offset + 1, replay.cacheFirst)
    for (let i = first; i <= this.index.last(); i++) {
      const e = replay.cache.get(i)
      if (e !== undefined) this.cacheAdd(e)
    }
    this.trimCache()
  }

  /**
   * Reads entries lo .. hi - 1 (all written) from the WAL into `out`, one scan per run of the
   * index (usually one in all), stopping at `maxSize` as entries() does; returns their size.
   */
  private readWritten(lo: number, hi: number, maxSize: number, out: Entry[]): number {
    let size = 0
    let i = lo
    let full = false
    // Bounded by hi - lo: each scan reads entries i .. seek.end - 1, or fills `out`.
    while (i < hi && !full) {
      const from = i
      const seek = this.index.seek(from, hi)
      assert(seek.location !== UNWRITTEN, `entry ${from} is neither cached nor written`)
      let expect = seek.index
      this.wal.readEntries(seek.location, (r) => {
        if (r.index !== expect++) throwReadBack(this.index, r, expect - 1)
        // Records on the way are checked by index only: term() costs more than skipping them.
        if (r.index < from) return true
        if (r.term !== this.index.term(r.index)) throwReadBack(this.index, r, r.index)
        const e = r.entry()
        size += entrySize(e)
        if (out.length > 0 && size > maxSize) {
          full = true
          return false
        }
        out.push(e)
        return expect < seek.end
      })
      i = seek.end
    }
    return size
  }

  /** MemoryStorage.append's rules; returns the entries the WAL must record. */
  private appendInMemory(entries: readonly Entry[]): readonly Entry[] {
    const head = entries[0]
    if (head === undefined) return []
    const first = this.index.offset + 1
    const last = head.index + entries.length - 1
    if (last < first) return []
    const fresh = first > head.index ? entries.slice(first - head.index) : entries
    const start = (fresh[0] as Entry).index
    if (start > this.index.last() + 1) {
      this.logger.panic(`missing log entry [last: ${this.index.last()}, append at: ${start}]`)
    }
    this.evictFrom(start)
    for (const e of fresh) {
      this.index.put(e.index, e.term, entrySize(e))
      this.cacheAdd(e)
    }
    this.trimCache()
    return fresh
  }

  private applySnapshotInMemory(snap: Snapshot): void {
    this.snap = cloneSnapshot(snap)
    this.index.reset(snap.metadata.index, snap.metadata.term)
    this.cache.clear()
    this.cacheBytes = 0
    this.cacheFirst = snap.metadata.index + 1
  }

  /** Writes the snapshot file, then queues `batch` (with the marker) behind it. */
  private withSnapshotFile(snap: Snapshot, batch: WalBatch): Promise<void> {
    let appended: Promise<void> = Promise.resolve()
    const queued = (this.order ?? Promise.resolve())
      .then(() => this.snapshotter.save(snap, this.durableSnapIndex))
      .then(() => {
        appended = this.wal.append(batch)
      })
    this.setOrder(queued)
    return queued
      .then(() => appended)
      .then(() => {
        this.durableSnapIndex = Math.max(this.durableSnapIndex, snap.metadata.index)
      })
  }

  private walAppend(batch: WalBatch): Promise<void> {
    if (this.order === undefined) return this.wal.append(batch)
    let appended: Promise<void> = Promise.resolve()
    const queued = this.order.then(() => {
      appended = this.wal.append(batch)
    })
    this.setOrder(queued)
    return queued.then(() => appended)
  }

  /** `p`, resolving (or rejecting) no earlier than the saves before it; `late`: see ackTail. */
  private inCallOrder(p: Promise<void>, late: boolean): Promise<void> {
    const prev = this.ackTail
    if (prev === undefined && !late) return p
    // A rejection of `p` before `prev` settles is handled: by `out`, once its turn comes.
    if (prev !== undefined) p.catch(() => {})
    const out =
      prev === undefined
        ? p
        : prev.then(
            () => p,
            () => p,
          )
    this.ackTail = out
    const forget = (): void => {
      if (this.ackTail === out) this.ackTail = undefined
    }
    out.then(forget, forget)
    return out
  }

  /**
   * Makes `queued` the batch the next ones wait for. It is forgotten once it was handed to the
   * WAL and nothing was issued after it: the next batch then goes to the WAL directly, behind it.
   * (Clearing it as soon as the snapshot's marker was queued let a new batch overtake the
   * batches still waiting for that marker: records out of order, a log with a hole on replay.)
   */
  private setOrder(queued: Promise<void>): void {
    this.order = queued
    const forget = (): void => {
      if (this.order === queued) this.order = undefined
    }
    queued.then(forget, (err: unknown) => {
      // The batch never reached the WAL: nothing may be written after it.
      this.failure ??= err
      forget()
    })
  }

  /**
   * Releases the segments wholly before `index`, but never past the newest durable snapshot (the
   * entries would be gone from disk) nor past the compaction point (they are still readable).
   */
  private async release(index: number): Promise<void> {
    await this.wal.releaseTo(Math.min(index, this.durableSnapIndex, this.index.offset))
  }

  private written(entries: readonly Entry[], locations: readonly number[]): void {
    this.index.written(entries, locations)
    this.trimCache()
  }

  private cacheAdd(e: Entry): void {
    if (this.cache.size === 0) this.cacheFirst = e.index
    assert(e.index === this.cacheFirst + this.cache.size, `cache gap at ${e.index}`)
    this.cache.set(e.index, e)
    this.cacheBytes += entrySize(e)
  }

  /** Drops cached entries from index i on (they are being overwritten). */
  private evictFrom(i: number): void {
    for (let j = this.cacheFirst + this.cache.size - 1; j >= Math.max(i, this.cacheFirst); j--) {
      this.cacheBytes -= entrySize(this.cache.get(j) as Entry)
      this.cache.delete(j)
    }
    if (this.cache.size === 0) this.cacheFirst = i
  }

  private evictBelow(i: number): void {
    while (this.cache.size > 0 && this.cacheFirst < i) this.evictFirst()
    if (this.cache.size === 0) this.cacheFirst = Math.max(this.cacheFirst, i)
  }

  private trimCache(): void {
    // Bounded by the cache size; stops at the first entry not yet written.
    while (
      this.cache.size > 0 &&
      (this.cache.size > this.cacheEntriesMax || this.cacheBytes > this.cacheBytesMax) &&
      this.index.isWritten(this.cacheFirst)
    ) {
      this.evictFirst()
    }
  }

  private evictFirst(): void {
    const e = this.cache.get(this.cacheFirst) as Entry
    this.cache.delete(this.cacheFirst)
    this.cacheBytes -= entrySize(e)
    this.cacheFirst++
  }
}

/** A record read back is not the one the index says was written for entry i. */
function throwReadBack(index: EntryIndex, e: { index: number; term: number }, i: number): never {
  const term = index.term(i)
  throw new WalError(
    'WAL_CORRUPT',
    `wal: read back entry ${e.index} term ${e.term} where ${i} term ${term} was written; ` +
      'the segment changed under us',
  )
}

/**
 * Compacts the index to i. Reads must then start at i + 1: when its record is written and it is
 * not a checkpoint yet, its location is found by reading from the checkpoint before it (up to
 * CHECKPOINT_ENTRIES records, once per compaction), so no WAL before it is needed.
 */
function compactIndexTo(index: EntryIndex, wal: Wal, i: number, term: number): void {
  const next = i + 1
  if (next > index.last() || index.isCheckpoint(next) || !index.isWritten(next)) {
    index.compactTo(i, term)
    return
  }
  const seek = index.seek(next, next + 1)
  let location = UNWRITTEN
  let expect = seek.index
  wal.readEntries(seek.location, (r) => {
    if (r.index !== expect++) throwReadBack(index, r, expect - 1)
    if (r.index === next) location = r.location
    return r.index < next
  })
  assert(location !== UNWRITTEN, `entry ${next} not found in its run`)
  index.compactTo(i, term, location)
}

/**
 * The log as the WAL records rebuild it: entries overwrite from their index on; a snapshot marker
 * beyond the log, or at an index whose term differs, replaces the whole log (applySnapshot, which
 * raft calls only when its log does not hold the snapshot's entry); an entry after a hole starts
 * the log afresh (the hole is a snapshot, checked once the snapshot is known). NB: a marker carries
 * no flag telling applySnapshot from createSnapshot, so an applySnapshot whose (index, term) the
 * log does hold keeps the entries after it; raft never does that (raft.restore refuses it).
 */
class ReplayLog {
  readonly index = new EntryIndex()
  readonly cache = new Map<number, Entry>()
  cacheFirst = 1
  private cacheBytes = 0
  private started = false

  constructor(
    private readonly cacheEntriesMax: number,
    private readonly cacheBytesMax: number,
  ) {}

  entry(e: Entry, location: number): void {
    if (!this.started || e.index <= this.index.offset || e.index > this.index.last() + 1) {
      this.index.reset(e.index - 1, 0)
      this.clearCache(e.index)
      this.started = true
    }
    for (let j = this.index.last(); j >= Math.max(e.index, this.cacheFirst); j--) this.drop(j)
    this.index.put(e.index, e.term, entrySize(e), location)
    // The record's bytes are a view into a whole segment read at once: copy what is kept.
    if (this.cache.size === 0) this.cacheFirst = e.index
    this.cache.set(e.index, { ...e, data: e.data.slice() })
    this.cacheBytes += entrySize(e)
    while (
      this.cache.size > 1 &&
      (this.cache.size > this.cacheEntriesMax || this.cacheBytes > this.cacheBytesMax)
    ) {
      this.drop(this.cacheFirst++)
    }
  }

  private drop(i: number): void {
    const e = this.cache.get(i)
    if (e === undefined) return
    this.cacheBytes -= entrySize(e)
    this.cache.delete(i)
  }

  private clearCache(first: number): void {
    this.cache.clear()
    this.cacheBytes = 0
    this.cacheFirst = first
  }

  snapshot(s: WalSnapshot): void {
    const idx = this.index
    if (this.started) {
      // Older than the log we hold: a local snapshot whose marker landed after later entries.
      if (s.index <= idx.offset) return
      // The log holds it: a local snapshot (createSnapshot), which truncates nothing.
      if (s.index <= idx.last() && idx.term(s.index) === s.term) return
    }
    // The log does not hold it: a snapshot from the leader replaced the log (applySnapshot).
    this.index.reset(s.index, s.term)
    this.clearCache(s.index + 1)
    this.started = true
  }
}
