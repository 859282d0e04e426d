/**
 * The write-ahead log: an append-only sequence of segment files holding raft entries, hard states
 * and snapshot markers (etcd server/storage/wal). It owns group commit, segment rotation and the
 * release of old segments, and puts together the modules that own the rest: the format
 * (record.ts), encoding a batch (encoder.ts), checking and replaying segments (scan.ts,
 * recovery.ts), the segment files and their preallocation (segments.ts), reading entries back
 * (frame-reader.ts). What the records mean as a raft log (overwrites, compaction, the cache) is
 * WalStorage's business.
 *
 * Each segment opens with a header batch: a crc record carrying the running crc, the metadata,
 * and the latest hard state (the first segment: a snapshot marker at index 0 instead), so any
 * suffix of segments is readable on its own.
 *
 * Group commit: append() only queues. Everything queued is encoded into one batch and written
 * with one write, and one fdatasync makes it durable before any of its promises resolve. While
 * that fdatasync runs, new appends are encoded and written at once and wait for the next
 * fdatasync, issued when the current one returns: at most one is in flight, so the cost of a
 * commit is one device flush however many Readys it carries, and the CPU work of encoding and
 * crc overlaps the previous flush.
 */
import { assert } from '../raft/index.js'
import { discardLogger, type Logger } from '../raft/index.js'
import { encodeHardState } from '../raft/index.js'
import { emptyHardState, isEmptyHardState } from '../raft/index.js'
import type { Entry, HardState } from '../raft/index.js'
import { joinPath, mkdirDurable, type Disk, type DiskFile } from '../io/index.js'
import { RecordEncoder, Scratch, encodeHeader, frameBound, type RecordSpec } from './encoder.js'
import { WalError, corrupt, ioError } from './errors.js'
import { EntryRecord, FrameReader, ReadBuffer } from './frame-reader.js'
import {
  COMMIT_FRAME_BYTES,
  RecordType,
  encodeMetadata,
  encodeSnapshotMarker,
  type WalMetadata,
  type WalSnapshot,
} from './record.js'
import { recover, type WalRecovery } from './recovery.js'
import {
  SEQ_SCALE,
  SegmentPipeline,
  installSegment,
  locationSeq,
  parseSegmentName,
  preallocatedFile,
  segmentName,
  type PreallocationStats,
  type Segment,
} from './segments.js'

export { locationSeq, parseSegmentName, segmentName, type WalRecovery }

export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024

export interface WalOptions {
  disk: Disk
  dir: string
  metadata: WalMetadata
  /** The size at which a segment is closed and the next one started; 64 MiB by default. */
  segmentBytes?: number
  logger?: Logger
  /**
   * Milliseconds, for timing segment fills against their preallocation (segments.ts);
   * performance.now by default. The simulator passes its ticks.
   */
  clock?: () => number
}

/** What one Ready adds to the log, written in this order (etcd's SaveSnap, then Save). */
export interface WalBatch {
  snapshot?: WalSnapshot
  entries?: readonly Entry[]
  hardState?: HardState
}

export interface WalStats extends PreallocationStats {
  /** Group commits made durable: one fdatasync each. */
  commits: number
  bytesWritten: number
  rotations: number
}

interface Pending {
  batch: WalBatch
  resolve: () => void
  reject: (err: unknown) => void
  /** Written in a weak batch: acknowledged only once a later batch proves it durable. */
  weak?: boolean
}

/** Called with the entries of a flush and the location of each, once they are written. */
export type WrittenListener = (entries: readonly Entry[], locations: readonly number[]) => void

export class Wal {
  readonly stats: WalStats = {
    commits: 0,
    bytesWritten: 0,
    rotations: 0,
    preallocations: 0,
    zeroFilled: 0,
    hurried: 0,
  }
  onWritten: WrittenListener | undefined

  private queue: Pending[] = []
  private flushing: Promise<void> | undefined
  /** Set while the flush loop waits for an fdatasync: wakes it to write new appends meanwhile. */
  private wake: (() => void) | undefined
  private failure: WalError | undefined
  private closed = false
  /** Invariant: position is the end of the last record written to the current segment. */
  private position = 0
  /**
   * How far the current segment is durable: the end of the writes the last completed fdatasync
   * covered (or of the header, or of what recovery found). Each batch's commit record carries it.
   * Invariant: synced <= position.
   */
  private synced = 0
  /** Writes (batches) made, and how many of them the fdatasync in flight or done covers. */
  private writes = 0
  private writesCovered = 0
  /**
   * Appends written in weak batches and synced, waiting for a batch written after their
   * fdatasync returned (write number `after` or later) to be durable too (record.ts); and the
   * appends behind them, so that promises resolve in append order.
   */
  private unproven: { p: Pending; after: number }[] = []
  /** Segments before a gap that a release interrupted by a crash left (recovery.ts). */
  private leftovers: string[] = []
  private readonly pipeline: SegmentPipeline
  private readonly handles = new Map<number, DiskFile>()
  private readonly scratch = new Scratch()
  /** The buffer reads go through, shared by the readers of one readEntries. */
  private readonly readBuffer = new ReadBuffer()

  private constructor(
    private readonly opts: Required<WalOptions>,
    private readonly segments: Segment[],
    private file: DiskFile,
    private crc: number,
    private hardState: HardState,
    private lastIndex: number,
    readonly recovery: WalRecovery,
  ) {
    const last = segments[segments.length - 1] as Segment
    this.handles.set(last.seq, file)
    this.pipeline = new SegmentPipeline(opts, this.stats)
  }

  /**
   * Opens the WAL in `dir`, creating it if the directory holds no segment, and replays it:
   * `onEntry` sees every entry record in log order with its location (later records with the same
   * index overwrite earlier ones). Everything is checked before anything is repaired.
   */
  static async open(
    options: WalOptions,
    onEntry: (e: Entry, location: number) => void = () => {},
    onSnapshot: (s: WalSnapshot) => void = () => {},
  ): Promise<Wal> {
    const opts = fillOptions(options)
    await mkdirDurable(opts.disk, opts.dir)
    const names = opts.disk.list(opts.dir)
    const segments = names.map(parseSegmentName).filter((s): s is Segment => s !== undefined)
    // Preallocated segments never renamed into place: they hold no acknowledged data. Removed
    // before a first segment is created (which would reuse the name), or after recovery
    // succeeded, so that a refused open changes nothing.
    const removeTmps = () => {
      for (const tmp of names.filter((n) => n.endsWith('.tmp'))) {
        opts.disk.unlink(joinPath(opts.dir, tmp))
      }
    }
    let wal: Wal
    if (segments.length === 0) {
      removeTmps()
      wal = await Wal.create(opts)
    } else {
      const r = await recover(opts, segments, onEntry, onSnapshot)
      wal = new Wal(opts, r.segments, r.file, r.crc, r.recovery.hardState, r.lastIndex, r.recovery)
      wal.position = r.end
      wal.synced = r.end
      wal.leftovers = r.leftovers.map((l) => l.name)
      removeTmps()
    }
    wal.pipeline.begin(wal.currentSeq(), wal.position)
    return wal
  }

  private static async create(opts: Required<WalOptions>): Promise<Wal> {
    const first: Segment = { seq: 0, index: 0, name: segmentName(0, 0) }
    const marker = { type: RecordType.Snapshot, data: encodeSnapshotMarker({ index: 0, term: 0 }) }
    const header = segmentHeader(opts.metadata, 0, [marker])
    const file = await preallocatedFile(opts, joinPath(opts.dir, `${first.name}.tmp`))
    try {
      await installSegment(opts, first, header.buf, file)
    } catch (err) {
      file.close()
      throw err
    }
    const recovery = {
      hardState: emptyHardState(),
      snapshots: [{ index: 0, term: 0 }],
      repairs: [],
    }
    const wal = new Wal(opts, [first], file, header.crc, emptyHardState(), 0, recovery)
    wal.position = header.buf.length
    wal.synced = wal.position
    opts.logger.info(`wal: created ${joinPath(opts.dir, first.name)}`)
    return wal
  }

  /** Queues a batch; the promise resolves once it is durable (after the fdatasync covering it). */
  append(batch: WalBatch): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.closed) return Promise.reject(new WalError('WAL_CLOSED', 'wal: closed'))
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ batch, resolve, reject })
      // The flush starts after the current task, so appends made together go out together.
      if (this.flushing === undefined) {
        this.flushing = Promise.resolve().then(() => this.flushLoop())
      } else if (this.wake !== undefined) {
        // A sync is in flight: write this append meanwhile, after the current task as above.
        const wake = this.wake
        this.wake = undefined
        queueMicrotask(wake)
      }
    })
  }

  /**
   * Reads the entry records from `location` (where an entry record starts) on, in log order and
   * across segments, passing each to `visit` until it returns false; records of other types are
   * skipped. The EntryRecord passed is reused: it is valid during the call only. Only written
   * records may be read: running out of them first is corruption.
   */
  readEntries(location: number, visit: (r: EntryRecord) => boolean): void {
    let seq = locationSeq(location)
    let offset = location - seq * SEQ_SCALE
    let reader = this.frameReader(seq)
    const rec = new EntryRecord()
    // Bounded by the records written: each pass consumes one, or moves to the next segment.
    for (;;) {
      if (!reader.next(offset)) {
        // The end of this segment's records; the next segment opens with a header, then entries.
        if (seq === this.currentSeq()) throw corrupt(reader.path, offset, 'read past the log end')
        reader = this.frameReader(++seq)
        offset = 0
        continue
      }
      const at = offset
      offset = reader.nextOffset
      if (reader.type !== RecordType.Entry) continue
      rec.at(reader, at, seq * SEQ_SCALE + at)
      if (!visit(rec)) return
    }
  }

  /**
   * Deletes the segments that hold only entries before `index`: segment i goes when segment i+1
   * starts at or before `index`. The current segment always stays. The caller must pass an index
   * covered by a durable snapshot (WalStorage passes the snapshot's index once it is synced).
   */
  async releaseTo(index: number): Promise<number> {
    let n = 0
    while (n + 1 < this.segments.length && (this.segments[n + 1] as Segment).index <= index) n++
    const leftovers = this.leftovers
    if (n === 0 && leftovers.length === 0) return 0
    this.leftovers = []
    for (const name of leftovers) this.opts.disk.unlink(joinPath(this.opts.dir, name))
    // Oldest first. A power loss before the directory sync may keep any subset of the unlinks:
    // recovery then starts after the last gap (recovery.ts).
    for (const seg of this.segments.splice(0, n)) {
      this.handles.get(seg.seq)?.close()
      this.handles.delete(seg.seq)
      this.opts.disk.unlink(joinPath(this.opts.dir, seg.name))
    }
    await this.opts.disk.syncDir(this.opts.dir)
    this.opts.logger.info(`wal: released ${n + leftovers.length} segment(s) before index ${index}`)
    return n
  }

  /** The index the oldest segment on disk starts at (entries before it are gone). */
  firstSegmentIndex(): number {
    return (this.segments[0] as Segment).index
  }

  segmentNames(): string[] {
    return this.segments.map((s) => s.name)
  }

  /**
   * Resolves once the background preallocation of the next segment (started at open and at each
   * rotation) has finished. A failure is not reported here but by the append that needs the
   * segment (the rotation). Benchmarks wait for this to time appends without the preallocation.
   */
  async preallocated(): Promise<void> {
    await this.pipeline.preallocated()
  }

  /**
   * Waits for queued appends, then closes every file; a preallocation still running stops (the
   * partial file is removed at the next open). Further appends reject.
   */
  async close(): Promise<void> {
    this.closed = true
    await this.flushing?.catch(() => {})
    await this.pipeline.close()
    for (const f of this.handles.values()) f.close()
    this.handles.clear()
  }

  /**
   * The commit pipeline. At most one fdatasync is in flight; appends that arrive while it runs are
   * encoded and written at once (their CPU work overlaps the device flush) and are covered by the
   * next fdatasync, issued as soon as the current one returns. A commit is therefore one
   * fdatasync covering one or more writes, and promises resolve in append order. An append in a
   * weak batch (record.ts) resolves only once a batch written after its fdatasync returned is
   * durable too; when no append comes to make one, the loop writes an empty batch itself.
   */
  private async flushLoop(): Promise<void> {
    let syncing: Promise<boolean> | undefined // resolves true when the fdatasync of `covered` returns
    let covered: Pending[] = []
    let coveredEnd = 0 // where the writes that fdatasync covers end
    let written: Pending[] = []
    try {
      // Bounded by the appends made meanwhile: each pass writes, or starts or finishes a sync;
      // an unproven weak batch adds one empty batch and its sync.
      while (
        this.queue.length > 0 ||
        this.writes > this.writesCovered ||
        syncing !== undefined ||
        this.unproven.length > 0
      ) {
        const idle = syncing === undefined && this.writes === this.writesCovered
        // A full segment is closed only once everything written to it is durable.
        const mustRotate = this.position >= this.opts.segmentBytes
        if (this.queue.length > 0 && (!mustRotate || idle)) {
          if (mustRotate) await this.rotate()
          const group = this.queue
          this.queue = []
          // Counted as written first: if the write throws, the catch below rejects the group.
          written = written.length === 0 ? group : written.concat(group)
          this.write(group)
        } else if (idle && this.unproven.length > 0) {
          this.write([])
        }
        if (syncing === undefined && this.writes > this.writesCovered) {
          covered = written
          written = []
          coveredEnd = this.position
          this.writesCovered = this.writes
          syncing = this.file.sync().then(() => true)
        }
        if (syncing === undefined) continue
        const synced =
          mustRotate || this.closed ? await syncing : await Promise.race([syncing, this.arrival()])
        if (!synced) continue
        syncing = undefined
        this.stats.commits++
        this.synced = coveredEnd
        this.settle(covered)
        covered = []
      }
    } catch (err) {
      this.failure ??= err instanceof WalError ? err : ioError('append', err)
      const unproven = this.unproven.map((u) => u.p)
      for (const p of [...unproven, ...covered, ...written, ...this.queue]) p.reject(this.failure)
      this.queue = []
      this.unproven = []
    }
    this.wake = undefined
    this.flushing = undefined
  }

  /**
   * After an fdatasync returned: resolves what it made durable, in append order. Appends of weak
   * batches wait, with every append behind them, for a write made from now on (the next one) to
   * be durable: that batch's commit record is the proof recovery needs.
   */
  private settle(covered: readonly Pending[]): void {
    // Bounded by the waiting appends.
    while (this.unproven.length > 0 && (this.unproven[0]?.after ?? 0) <= this.writesCovered) {
      this.unproven.shift()?.p.resolve()
    }
    for (const p of covered) {
      if (p.weak === true) this.unproven.push({ p, after: this.writes + 1 })
      else if (this.unproven.length > 0) this.unproven.push({ p, after: 0 })
      else p.resolve()
    }
  }

  /** Resolves false at the next append(). */
  private arrival(): Promise<boolean> {
    return new Promise((resolve) => {
      this.wake = () => resolve(false)
    })
  }

  /** Encodes a group of appends and writes it (no fdatasync): synchronous, so the scratch is free after. */
  private write(group: readonly Pending[]): void {
    // Markers and hard states are encoded first, to size the buffer; entries are encoded in it.
    const small: Uint8Array[] = []
    let bound = 0
    for (const { batch } of group) {
      if (batch.snapshot !== undefined) small.push(encodeSnapshotMarker(batch.snapshot))
      if (batch.hardState !== undefined && !isEmptyHardState(batch.hardState)) {
        small.push(encodeHardState(batch.hardState))
      }
      for (const e of batch.entries ?? []) bound += frameBound(e.data.length)
    }
    for (const data of small) bound += frameBound(data.length)
    bound += COMMIT_FRAME_BYTES
    const seqBase = this.currentSeq() * SEQ_SCALE + this.position
    const enc = new RecordEncoder(this.scratch.get(bound), this.crc, seqBase)
    let hardState: HardState | undefined
    let lastIndex = this.lastIndex
    let next = 0
    for (const { batch } of group) {
      if (batch.snapshot !== undefined) {
        enc.record(RecordType.Snapshot, small[next++] as Uint8Array)
        // A snapshot ahead of the log moves it on (etcd SaveSnapshot's enti), so the next segment
        // is named past the marker and releaseTo(snapshot) keeps the segment holding it.
        lastIndex = Math.max(lastIndex, batch.snapshot.index)
      }
      const es = batch.entries ?? []
      for (const e of es) enc.entry(e)
      if (es.length > 0) lastIndex = (es[es.length - 1] as Entry).index
      if (batch.hardState !== undefined && !isEmptyHardState(batch.hardState)) {
        hardState = batch.hardState
        enc.record(RecordType.State, small[next++] as Uint8Array)
      }
    }
    enc.seal(this.position, this.synced)
    const { chunks, bytes, crc, locations, weak } = enc.finish()
    this.file.write(chunks, this.position)
    this.writes++
    this.position += bytes
    this.crc = crc
    this.stats.bytesWritten += bytes
    if (weak) for (const p of group) p.weak = true
    if (hardState !== undefined) this.hardState = { ...hardState }
    this.lastIndex = lastIndex
    if (group.length === 0) return
    const entries = group.length === 1 ? (group[0]?.batch.entries ?? []) : groupEntries(group)
    this.onWritten?.(entries, locations)
  }

  /** Closes the full segment and starts the next from the preallocated file (etcd wal.go cut). */
  private async rotate(): Promise<void> {
    const prev = this.segments[this.segments.length - 1] as Segment
    const seg = { seq: prev.seq + 1, index: this.lastIndex + 1, name: '' }
    seg.name = segmentName(seg.seq, seg.index)
    const next = await this.pipeline.take(this.position)
    // Closed with the others from now on, whatever happens.
    this.handles.set(seg.seq, next)
    const rest = isEmptyHardState(this.hardState)
      ? []
      : [{ type: RecordType.State, data: encodeHardState(this.hardState) }]
    const header = segmentHeader(this.opts.metadata, this.crc, rest)
    await installSegment(this.opts, seg, header.buf, next)
    this.segments.push(seg)
    this.file = next
    this.position = header.buf.length
    this.synced = this.position
    this.crc = header.crc
    this.stats.rotations++
    // The closed segment is no longer the last: damage in it can only be corruption (scan.ts),
    // so its weak batches need no later proof.
    for (const u of this.unproven.splice(0)) u.p.resolve()
    // A rotation that close() flushes needs no next segment.
    this.pipeline.begin(seg.seq, this.position, !this.closed)
    this.opts.logger.info(`wal: created segment ${seg.name}`)
  }

  private currentSeq(): number {
    return (this.segments[this.segments.length - 1] as Segment).seq
  }

  private frameReader(seq: number): FrameReader {
    const file = this.handle(seq)
    // The current segment's records end at `position`; the rest is preallocated zeros.
    const end = seq === this.currentSeq() ? this.position : file.size()
    const seg = this.segments.find((s) => s.seq === seq) as Segment
    return new FrameReader(file, end, this.readBuffer, joinPath(this.opts.dir, seg.name))
  }

  private handle(seq: number): DiskFile {
    let f = this.handles.get(seq)
    if (f === undefined) {
      const seg = this.segments.find((s) => s.seq === seq)
      assert(seg !== undefined, `no segment with sequence ${seq}`)
      f = this.opts.disk.open(joinPath(this.opts.dir, seg.name))
      this.handles.set(seq, f)
    }
    return f
  }
}

function fillOptions(o: WalOptions): Required<WalOptions> {
  const segmentBytes = o.segmentBytes ?? SEGMENT_BYTES_DEFAULT
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 64 || segmentBytes >= SEQ_SCALE) {
    throw new RangeError(`wal: segmentBytes (${segmentBytes}) must be in [64, 2^32)`)
  }
  return {
    ...o,
    segmentBytes,
    logger: o.logger ?? discardLogger,
    clock: o.clock ?? (() => performance.now()),
  }
}

/** The entries of a group's batches, in order. */
function groupEntries(group: readonly Pending[]): Entry[] {
  const out: Entry[] = []
  for (const { batch } of group) for (const e of batch.entries ?? []) out.push(e)
  return out
}

/**
 * A segment header batch: the crc record (the encoder gives it the running crc, which is what
 * the chain needs), the metadata, then `rest` (the first segment: a snapshot marker at index 0;
 * later ones: the hard state so far, so that a suffix of segments still knows it).
 */
function segmentHeader(metadata: WalMetadata, crcIn: number, rest: RecordSpec[]) {
  const records: RecordSpec[] = [
    { type: RecordType.Crc, data: new Uint8Array(0) },
    { type: RecordType.Metadata, data: encodeMetadata(metadata) },
    ...rest,
  ]
  return encodeHeader(records, crcIn)
}
