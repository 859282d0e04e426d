/**
 * The write-ahead log: an append-only sequence of segment files holding raft entries, hard states
 * and snapshot markers (etcd server/storage/wal). It owns the file format, group commit, segment
 * rotation and preallocation, recovery and tail repair, and the release of old segments. What the
 * records mean as a raft log (overwrites, compaction, the cache) is WalStorage's business.
 *
 * Segments are named `%016x-%016x.wal` from their sequence number and the index of the first entry
 * expected in them, so lexical order is log order. Each opens with a header: a crc record carrying
 * the running crc, the metadata, and the latest hard state (the first segment: a snapshot marker at
 * index 0 instead), so any suffix of segments is readable on its own.
 *
 * Group commit: append() only queues. Everything queued is encoded into one buffer and written
 * with one write, and one fdatasync makes it durable before any of its promises resolve. While
 * that fdatasync runs, new appends are encoded and written at once and wait for the next
 * fdatasync, issued when the current one returns: at most one is in flight, so the cost of a
 * commit is one device flush (hundreds of µs to ms) however many Readys it carries, and the CPU
 * work of encoding and crc (a few µs per KiB) overlaps the previous flush.
 */
import { assert } from '../raft/assert.js'
import { RaftError } from '../raft/errors.js'
import { discardLogger, type Logger } from '../raft/logger.js'
import { decodeEntry, decodeHardState, encodeHardState, varintSize } from '../raft/raftpb/codec.js'
import { emptyHardState, isEmptyHardState } from '../raft/raftpb/types.js'
import type { Entry, HardState } from '../raft/raftpb/types.js'
import {
  joinPath,
  mkdirDurable,
  readAt,
  type Disk,
  type DiskFile,
  type PreallocateOptions,
} from '../io/disk.js'
import { NATIVE_ARRAY_BYTES_MIN, crc32c, crc32cRange } from './crc32c.js'
import {
  ENTRY_HEAD_ROOM,
  FRAME_ENTRY_PAYLOAD_MAX,
  frameEntry,
  frameEntryCrc,
  inWasmMemory,
  wasmScratch,
} from './wasm-kernel.js'
import { WalError, corrupt } from './errors.js'
import { EntryRecord, FrameReader, ReadBuffer } from './frame-reader.js'
import {
  COMMIT_FRAME_BYTES,
  COMMIT_WEAK,
  FRAME_HEADER_BYTES,
  RecordType,
  decodeMetadata,
  encodeCommit,
  decodeSnapshotMarker,
  encodeMetadata,
  encodeSnapshotMarker,
  entryHeadBytes,
  putEntryHead,
  padBytes,
  putFrameHead,
  type DecodedRecord,
  type WalMetadata,
  type WalSnapshot,
} from './record.js'
import { scanSegment } from './scan.js'
import { hasWeakSector } from './sectors.js'

export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024

/** Locations pack a segment's sequence number and an offset in it: seq * 2^32 + offset. */
const SEQ_SCALE = 0x1_0000_0000

export interface WalOptions {
  disk: Disk
  dir: string
  metadata: WalMetadata
  /** The size at which a segment is closed and the next one started; 64 MiB by default. */
  segmentBytes?: number
  logger?: Logger
  /** Milliseconds, for timing segment fills against their preallocation; performance.now. */
  clock?: () => number
}

/** What one Ready adds to the log, written in this order (etcd's SaveSnap, then Save). */
export interface WalBatch {
  snapshot?: WalSnapshot
  entries?: readonly Entry[]
  hardState?: HardState
}

export interface WalRecovery {
  /** The last hard state in the log (empty if none). */
  hardState: HardState
  /** Every snapshot marker, in log order. */
  snapshots: WalSnapshot[]
  /** What was repaired, one sentence each (also logged at WARN). */
  repairs: string[]
}

export interface WalStats {
  /** Group commits made durable: one fdatasync each. */
  commits: number
  bytesWritten: number
  rotations: number
  /**
   * Next segments preallocated in the background; of those, how many were zero-filled, and how
   * many were hurried (zero-filling stopped by the rotation, the rest reserved).
   */
  preallocations: number
  zeroFilled: number
  hurried: number
}

interface Segment {
  seq: number
  index: number
  name: string
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

const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/

export function segmentName(seq: number, index: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.wal`
}

export function parseSegmentName(name: string): Segment | undefined {
  const m = SEGMENT_NAME.exec(name)
  if (m === null) return undefined
  const seq = Number.parseInt(m[1] as string, 16)
  const index = Number.parseInt(m[2] as string, 16)
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(index)) return undefined
  return { seq, index, name }
}

export function locationSeq(location: number): number {
  return Math.floor(location / SEQ_SCALE)
}

function ioError(what: string, cause: unknown): WalError {
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new WalError('WAL_IO', `wal: ${what} failed: ${detail}; the WAL accepts no more writes`, {
    cause,
  })
}

/** See Wal.choosePreallocation: the zeros may take up to a quarter of the device's time. */
const ZEROING_FILL_RATIO = 4

/** Why a preallocation was stopped (the abort reasons of Wal.preallocating). */
const HURRY = new Error('wal: the rotation needs the next segment now')
const CLOSING = new Error('wal: closed')

/** Payloads at least this large are written from where they are (their own iovec), not copied. */
const ZERO_COPY_BYTES_MIN = 16 * 1024
/** The encode buffer is kept between commits up to this size, so commits do not fault in pages. */
const SCRATCH_KEPT_BYTES_MAX = 8 * 1024 * 1024

interface Encoded {
  /** The frames, as chunks to write back to back: slices of the encode buffer and payloads. */
  chunks: Uint8Array[]
  bytes: number
  crc: number
  /** The location of each entry record, from the `base` the encoder was given. */
  locations: number[]
  /** Whether the batch holds a weak sector (its commit record says so: record.ts). */
  weak: boolean
}

/** Room in the buffer for a record of `payloadBytes` (an entry's data, or a record's data). */
function frameBound(payloadBytes: number): number {
  const copied = payloadBytes >= ZERO_COPY_BYTES_MIN ? 0 : payloadBytes
  return RECORD_HEAD_BYTES_MAX + ENTRY_HEAD_BYTES_MAX + copied + 7
}

/**
 * Frames records one after another, in one pass. Entries of up to FRAME_ENTRY_PAYLOAD_MAX bytes
 * are framed by WebAssembly in one call when the buffer is the scratch (frameEntry); the rest
 * here. Small payloads are copied into the buffer and checksummed there (by WebAssembly when the
 * buffer is the scratch: wasm-kernel.ts says why); payloads of NATIVE_ARRAY_BYTES_MIN and more
 * are checksummed where they are, by the native crc;
 * the largest (ZERO_COPY_BYTES_MIN) are not copied at all but become their own chunk, so each of
 * their bytes is read once by the crc and once by the kernel's copy into the page cache. The data
 * is placed as if the crc's varint took 5 bytes, and moved back in the 1/16 of cases where it is
 * shorter. The scratch buffer is reused: the Disk contract lets a caller reuse chunks after write.
 */
class RecordEncoder {
  readonly chunks: Uint8Array[] = []
  readonly locations: number[] = []
  private pos = 0 // in buf
  private chunkStart = 0 // in buf: where the current chunk begins
  private streamed = 0 // bytes in the chunks already pushed
  private readonly inScratch: boolean // whether buf is the WebAssembly scratch (frameEntry)
  private weak = false

  constructor(
    private readonly buf: Buffer,
    private crc: number,
    private readonly base: number,
  ) {
    this.inScratch = inWasmMemory(buf)
  }

  record(type: RecordType, data: Uint8Array): void {
    this.frame(type, data, undefined)
  }

  entry(e: Entry): void {
    this.locations.push(this.base + this.streamed + this.pos - this.chunkStart)
    if (
      mechanisms.frameEntry &&
      this.inScratch &&
      e.data.length <= FRAME_ENTRY_PAYLOAD_MAX &&
      e.type < 0x80
    ) {
      // Small entries are framed by WebAssembly, in one call (wasm-kernel.ts says why).
      this.pos = frameEntry(this.buf, this.pos, e, this.crc)
      this.crc = frameEntryCrc()
      return
    }
    this.frame(RecordType.Entry, e.data, e)
  }

  /**
   * Ends the batch with its commit record (record.ts). `start` is the batch's offset in its
   * segment (where the encoder's first byte goes) and `synced` how far the segment is durable.
   */
  seal(start: number, synced: number): void {
    const body = this.chunks.concat(this.buf.subarray(this.chunkStart, this.pos))
    this.weak = hasWeakSector(body, start)
    const c = { start, synced, crcIn: this.crc, flags: this.weak ? COMMIT_WEAK : 0 }
    this.crc = encodeCommit(this.buf, this.pos, c)
    this.pos += COMMIT_FRAME_BYTES
  }

  finish(): Encoded {
    const { buf, pos, chunkStart, chunks } = this
    assert(pos <= buf.length, 'encoded batch overran its buffer')
    if (pos > chunkStart) chunks.push(buf.subarray(chunkStart, pos))
    const bytes = this.streamed + pos - chunkStart
    return { chunks, bytes, crc: this.crc, locations: this.locations, weak: this.weak }
  }

  /** One frame: for an entry, `payload` is its data and its head is encoded before it. */
  private frame(type: RecordType, payload: Uint8Array, e: Entry | undefined): void {
    const buf = this.buf
    let pos = this.pos
    const headBytes = e === undefined ? 0 : entryHeadBytes(e)
    const dataBytes = headBytes + payload.length
    const lenBytes = varintSize(dataBytes)
    // Length field, type and the tags of crc and data: RecordType's varint is one byte.
    const headMax = FRAME_HEADER_BYTES + 4 + 5 + lenBytes
    const dataAt = pos + headMax
    if (e !== undefined) putEntryHead(buf, dataAt, e)
    const zeroCopy = payload.length >= ZERO_COPY_BYTES_MIN
    const copied = zeroCopy ? headBytes : dataBytes
    if (!zeroCopy) buf.set(payload, dataAt + headBytes)
    let crc = this.crc
    if (type !== RecordType.Crc) {
      // chainCrc, over the data where it already is.
      const inPlace = payload.length >= NATIVE_ARRAY_BYTES_MIN
      crc = crc32cRange(buf, dataAt, dataAt + (inPlace ? headBytes : copied), (crc ^ type) >>> 0)
      if (inPlace) crc = crc32c(payload, crc)
      this.crc = crc
    }
    const head = FRAME_HEADER_BYTES + 4 + varintSize(crc) + lenBytes
    if (head < headMax) buf.copyWithin(pos + head, dataAt, dataAt + copied)
    const at = putFrameHead(buf, pos, type, crc, dataBytes, head - FRAME_HEADER_BYTES + dataBytes)
    assert(at === pos + head, 'record head differs from its size')
    pos += head + copied
    if (zeroCopy) {
      this.chunks.push(buf.subarray(this.chunkStart, pos), payload)
      this.streamed += pos - this.chunkStart + payload.length
      this.chunkStart = pos
    }
    // At most 7 bytes: a loop beats Buffer.fill's argument checks.
    for (let pad = padBytes(head - FRAME_HEADER_BYTES + dataBytes); pad > 0; pad--) buf[pos++] = 0
    this.pos = pos
  }
}

/**
 * Encodes `records` as a batch at offset 0 into a buffer of their own (headers: small, and kept
 * across awaits). A header is synced before its segment is renamed into place, so nothing was
 * durable before it: `synced` 0.
 */
function encodeRecords(records: readonly RecordSpec[], crcIn: number): Encoded {
  let bound = COMMIT_FRAME_BYTES
  for (const r of records) bound += frameBound(r.data.length)
  const enc = new RecordEncoder(Buffer.allocUnsafe(bound), crcIn, 0)
  for (const r of records) enc.record(r.type, r.data)
  enc.seal(0, 0)
  return enc.finish()
}

const RECORD_HEAD_BYTES_MAX = FRAME_HEADER_BYTES + 3 + 1 + 5 + 8
/** An entry's protobuf before its data: tags, type, term and index (8 bytes each), data length. */
const ENTRY_HEAD_BYTES_MAX = 4 + 1 + 8 + 8 + 5
// frameEntry stays within the room frameBound leaves a frame.
assert(ENTRY_HEAD_ROOM <= frameBound(0), 'frameEntry needs more room than frameBound gives')

const EMPTY = new Uint8Array(0)

/**
 * A reusable encode buffer, in the WebAssembly CRC's memory so that records are checksummed where
 * they are encoded. One per process: a commit encodes and writes synchronously, so two WALs never
 * use it at once.
 */
class Scratch {
  private plain = Buffer.allocUnsafe(0)

  get(bytes: number): Buffer {
    if (bytes > SCRATCH_KEPT_BYTES_MAX) return Buffer.allocUnsafe(bytes)
    if (mechanisms.wasm) return wasmScratch(bytes)
    if (this.plain.length < bytes) this.plain = Buffer.allocUnsafe(Math.max(bytes, 64 * 1024))
    return this.plain
  }
}

/**
 * Switches for measuring the speed mechanisms on and off in one benchmark run (bench/wal,
 * "mechanisms"): the WebAssembly framing of entries, the WebAssembly CRC and scratch memory, and
 * the fill-rate estimator choosing between zeroing and reserving the next segment. Not an API.
 */
export const mechanisms = { frameEntry: true, wasm: true, fillRate: true }

/** The encoded records as one buffer (headers, which are small). */
function encodeToBuffer(records: readonly RecordSpec[], crcIn: number) {
  const out = encodeRecords(records, crcIn)
  assert(out.chunks.length <= 1, 'a header is one chunk')
  return { buf: out.chunks[0] ?? EMPTY, crc: out.crc }
}

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
   * fdatasync returned (write number `after` or later) to be durable too (record.ts).
   */
  private unproven: { p: Pending; after: number }[] = []
  /** Segments before a gap that a release interrupted by a crash left (see recover). */
  private leftovers: string[] = []
  private next: Promise<DiskFile> | undefined
  /**
   * Aborts the running preallocation: rotate() with HURRY when it needs the segment now (see
   * preallocate()), close() with CLOSING so that it need not wait for a segment's zeros.
   */
  private preallocating: AbortController | undefined
  /**
   * When the current segment became current (at open, or rotated into), by opts.clock, and its
   * position then (at open it may hold records already).
   */
  private segmentSince: number
  private segmentSincePosition = 0
  /** How long the last zero-filling preallocation took, in ms (undefined: none yet). */
  private zeroingMs: number | undefined
  /** Whether the next segment is preallocated by reserving blocks only (choosePreallocation). */
  private reserveOnly = false
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
    this.segmentSince = opts.clock()
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
      wal = await Wal.recover(opts, segments, onEntry, onSnapshot)
      removeTmps()
    }
    wal.segmentSincePosition = wal.position
    wal.startPreallocation()
    return wal
  }

  private static async create(opts: Required<WalOptions>): Promise<Wal> {
    const first: Segment = { seq: 0, index: 0, name: segmentName(0, 0) }
    const marker = { type: RecordType.Snapshot, data: encodeSnapshotMarker({ index: 0, term: 0 }) }
    const header = encodeHeader(opts, 0, [marker])
    const file = await Wal.newSegmentFile(opts, first, header.records)
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

  /**
   * Writes a header into a fresh preallocated file and moves it into place durably: sync the
   * content, rename, sync the directory (etcd wal.go cut).
   */
  private static async newSegmentFile(
    opts: Required<WalOptions>,
    seg: Segment,
    header: RecordSpec[],
    crcIn = 0,
    file?: DiskFile,
  ): Promise<DiskFile> {
    const tmp = joinPath(opts.dir, `${seg.name}.tmp`)
    const f = file ?? (await Wal.preallocatedFile(opts, tmp))
    try {
      f.write([encodeToBuffer(header, crcIn).buf], 0)
      await f.sync()
      opts.disk.rename(file === undefined ? tmp : f.path, joinPath(opts.dir, seg.name))
      await opts.disk.syncDir(opts.dir)
    } catch (err) {
      // A file passed in stays its owner's to close (rotate: the WAL's `next`).
      if (file === undefined) f.close()
      throw err
    }
    return f
  }

  private static async recover(
    opts: Required<WalOptions>,
    all: Segment[],
    onEntry: (e: Entry, location: number) => void,
    onSnapshot: (s: WalSnapshot) => void,
  ): Promise<Wal> {
    // Segments before the last gap in the sequence are what a release left: it unlinks several
    // segments and then syncs the directory once, and a power loss may keep any of the unlinks.
    // That is checked below (a snapshot marker must cover the gap); they are not replayed.
    const first = lastRun(all)
    const leftovers = all.slice(0, first)
    const segments = all.slice(first)
    const replay = new Replay(opts, onEntry, onSnapshot)
    let scan: ReturnType<typeof scanSegment> = { end: 0, crc: 0 }
    segments.forEach((seg, i) => {
      const isLast = i === segments.length - 1
      const path = joinPath(opts.dir, seg.name)
      const f = opts.disk.open(path)
      const buf = readAt(f, 0, f.size())
      f.close()
      replay.beginSegment(seg, path)
      scan = scanSegment(buf, { file: path, crc: scan.crc, isLast }, (rec, offset) =>
        replay.record(rec, offset),
      )
      replay.endSegment()
    })
    const head = segments[0] as Segment
    if (leftovers.length > 0 && !replay.snapshots.some((m) => m.index >= head.index)) {
      const prev = leftovers[leftovers.length - 1] as Segment
      throw new WalError(
        'WAL_MISSING_SEGMENT',
        `wal: segment with sequence ${prev.seq + 1} is missing between ${prev.name} and ` +
          `${head.name} in ${opts.dir}, and no snapshot marker after it covers the entries in ` +
          'it; they are lost, restore this member from a peer; nothing was changed',
        { file: joinPath(opts.dir, head.name) },
      )
    }
    // Everything checked; now, and only now, cut a torn tail of the last segment.
    const last = segments[segments.length - 1] as Segment
    const path = joinPath(opts.dir, last.name)
    const file = opts.disk.open(path)
    const { end, crc } = scan
    if (scan.torn !== undefined) {
      const { reason, bytes } = scan.torn
      replay.repairs.push(
        `cut the torn tail of ${path} at offset ${end} (${bytes} bytes: ${reason})`,
      )
      file.truncate(end)
      await file.preallocate(opts.segmentBytes)
    }
    if (leftovers.length > 0) {
      replay.repairs.push(
        `${leftovers.length} segment(s) before ${head.name}, left by a release a crash ` +
          'interrupted, are not replayed (removed at the next release)',
      )
    }
    // What was read may not be durable yet (after a process crash it can sit in the page cache):
    // later commit records will claim it synced. So is the directory.
    await file.sync()
    await opts.disk.syncDir(opts.dir)
    for (const r of replay.repairs) opts.logger.warn(`wal: repaired: ${r}`)
    const recovery = {
      hardState: replay.hardState,
      snapshots: replay.snapshots,
      repairs: replay.repairs,
    }
    const wal = new Wal(opts, segments, file, crc, replay.hardState, replay.lastIndex, recovery)
    wal.position = end
    wal.synced = end
    wal.leftovers = leftovers.map((l) => l.name)
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
    // recovery then starts after the last gap (see recover).
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
    await this.next?.catch(() => {})
  }

  /**
   * Waits for queued appends, then closes every file; a preallocation still running stops (the
   * partial file is removed at the next open). Further appends reject.
   */
  async close(): Promise<void> {
    this.closed = true
    await this.flushing?.catch(() => {})
    this.preallocating?.abort(CLOSING)
    const next = await this.next?.catch(() => undefined)
    next?.close()
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
    // Zeros still being written would delay every append behind this rotation: stop them.
    this.preallocating?.abort(HURRY)
    const next = await (this.next ?? this.preallocate())
    this.next = undefined // this segment's file now, closed with the others
    const header = encodeHeaderFor(this.opts, this.crc, this.hardState)
    await Wal.newSegmentFile(this.opts, seg, header.records, this.crc, next)
    this.segments.push(seg)
    this.file = next
    this.handles.set(seg.seq, next)
    // At the rate the segment just closed was filled, how long a whole one takes.
    const now = this.opts.clock()
    const filled = Math.max(1, this.position - this.segmentSincePosition)
    this.choosePreallocation(((now - this.segmentSince) * this.opts.segmentBytes) / filled)
    this.position = header.buf.length
    this.synced = this.position
    this.crc = header.crc
    this.stats.rotations++
    // The closed segment is no longer the last: damage in it can only be corruption (scan.ts),
    // so its weak batches need no later proof.
    for (const u of this.unproven.splice(0)) u.p.resolve()
    this.segmentSince = now
    this.segmentSincePosition = this.position
    // A rotation that close() flushes needs no next segment.
    if (!this.closed) this.startPreallocation()
    this.opts.logger.info(`wal: created segment ${seg.name}`)
  }

  private startPreallocation(): void {
    this.next = this.preallocate()
    // A failure surfaces when rotate() awaits it; until then it must not count as unhandled.
    this.next.catch(() => {})
  }

  /**
   * Whether the next segment is zero-filled (see NodeDisk) or only has its blocks reserved: it is
   * zero-filled unless, at the rate the segment just closed was filled, a segment fills in less
   * than ZEROING_FILL_RATIO times what the last zeroing took. Filling that fast, the appends need
   * the device's time, and the zeros (as many bytes again as the records) would slow a bulk load
   * down to half speed, more than the cheaper fdatasyncs gain back; filling slowly, the zeros go
   * in while the device idles.
   */
  private choosePreallocation(filledMs: number): void {
    const zeroingMs = this.zeroingMs
    const reserveOnly =
      mechanisms.fillRate && zeroingMs !== undefined && filledMs < ZEROING_FILL_RATIO * zeroingMs
    if (reserveOnly !== this.reserveOnly) {
      const why = `segments fill in ${Math.round(filledMs)} ms, zeroing one took ${Math.round(zeroingMs ?? 0)} ms`
      this.opts.logger.info(
        reserveOnly
          ? `wal: ${why}: preallocating segments by reserving their blocks, without zeros`
          : `wal: ${why}: preallocating segments with zeros again`,
      )
    }
    this.reserveOnly = reserveOnly
  }

  /**
   * Preallocates the next segment in the background (etcd file_pipeline.go). When the rotation
   * needs it before its zeros are all written, it stops zeroing and reserves the rest: the
   * rotation then waits for the write or sync in flight and a reservation, not for a segment of
   * zeros.
   */
  private async preallocate(): Promise<DiskFile> {
    const path = joinPath(this.opts.dir, `${this.currentSeq() + 1}.tmp`)
    const { reserveOnly } = this
    const start = this.opts.clock()
    const control = new AbortController()
    this.preallocating = control
    const f = await Wal.preallocatedFile(this.opts, path, { signal: control.signal, reserveOnly })
    this.stats.preallocations++
    if (reserveOnly) return f
    // When hurried, a lower bound: the segment filled faster than zeros could be written.
    this.zeroingMs = this.opts.clock() - start
    if (control.signal.reason === HURRY) {
      this.stats.hurried++
      this.opts.logger.info(
        `wal: ${path} was needed before its zeros were written; reserved the rest`,
      )
    } else {
      this.stats.zeroFilled++
    }
    return f
  }

  /**
   * A new file at `path`, empty and then preallocated; closed again if that fails. When the
   * preallocation stops because `signal` aborted with HURRY, the rest of the file is reserved.
   */
  private static async preallocatedFile(
    opts: Required<WalOptions>,
    path: string,
    prealloc: PreallocateOptions = {},
  ): Promise<DiskFile> {
    const f = opts.disk.open(path, { create: true })
    try {
      f.truncate(0)
      try {
        await f.preallocate(opts.segmentBytes, prealloc)
      } catch (err) {
        // Only the stop itself: an I/O error stays an error, hurried or not.
        if (err !== HURRY) throw err
        await f.preallocate(opts.segmentBytes, { reserveOnly: true })
      }
    } catch (err) {
      f.close()
      throw ioError(`preallocating ${path}`, err)
    }
    return f
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

/** A header record to encode. */
type RecordSpec = { type: RecordType; data: Uint8Array }

/**
 * A segment header: the crc record (encodeRecords gives it the running crc, which is what the
 * chain needs), the metadata, then `rest` (the first segment: a snapshot marker at index 0; later
 * ones: the hard state so far, so that a suffix of segments still knows it).
 */
function encodeHeader(opts: Required<WalOptions>, crcIn: number, rest: RecordSpec[]) {
  const records: RecordSpec[] = [
    { type: RecordType.Crc, data: new Uint8Array(0) },
    { type: RecordType.Metadata, data: encodeMetadata(opts.metadata) },
    ...rest,
  ]
  return { records, ...encodeToBuffer(records, crcIn) }
}

function encodeHeaderFor(opts: Required<WalOptions>, crcIn: number, hs: HardState) {
  const rest = isEmptyHardState(hs) ? [] : [{ type: RecordType.State, data: encodeHardState(hs) }]
  return encodeHeader(opts, crcIn, rest)
}

/**
 * Where the last run of consecutive sequence numbers starts in `segments` (sorted by name). The
 * index in a name may go back: a segment cut after an overwrite of the log's tail starts below
 * its predecessor's name.
 */
function lastRun(segments: readonly Segment[]): number {
  let first = 0
  for (let i = 1; i < segments.length; i++) {
    if ((segments[i] as Segment).seq !== (segments[i - 1] as Segment).seq + 1) first = i
  }
  return first
}

/** Folds the records of a replay into the recovered state, checking the headers as it goes. */
class Replay {
  hardState = emptyHardState()
  snapshots: WalSnapshot[] = []
  repairs: string[] = []
  lastIndex = 0
  private seg: Segment = { seq: 0, index: 0, name: '' }
  private path = ''
  private sawCrc = false
  private sawMetadata = false

  constructor(
    private readonly opts: Required<WalOptions>,
    private readonly onEntry: (e: Entry, location: number) => void,
    private readonly onSnapshot: (s: WalSnapshot) => void,
  ) {}

  beginSegment(seg: Segment, path: string): void {
    this.seg = seg
    this.path = path
    this.sawCrc = false
    this.sawMetadata = false
  }

  record(rec: DecodedRecord, offset: number): void {
    if (offset === 0 && rec.type !== RecordType.Crc) {
      throw corrupt(this.path, 0, 'segment does not open with a crc record')
    }
    switch (rec.type) {
      case RecordType.Crc:
        this.sawCrc = true
        return
      case RecordType.Metadata:
        return this.metadata(rec.data, offset)
      case RecordType.Entry:
        return this.entry(rec.data, offset)
      case RecordType.State:
        this.hardState = this.decode(() => decodeHardState(rec.data), offset)
        return
      case RecordType.Snapshot: {
        const snap = decodeSnapshotMarker(rec.data)
        if (snap === undefined) throw corrupt(this.path, offset, 'malformed snapshot marker')
        this.snapshots.push(snap)
        // As Wal.write: a marker ahead of the log moves it on, for the name of the next segment.
        this.lastIndex = Math.max(this.lastIndex, snap.index)
        this.onSnapshot(snap)
        return
      }
    }
  }

  endSegment(): void {
    if (!this.sawCrc || !this.sawMetadata) {
      throw corrupt(this.path, 0, 'segment header (crc, metadata) missing')
    }
  }

  private metadata(data: Uint8Array, offset: number): void {
    const md = decodeMetadata(data)
    if (md === undefined) throw corrupt(this.path, offset, 'malformed metadata')
    const want = this.opts.metadata
    if (md.nodeId !== want.nodeId || md.clusterId !== want.clusterId) {
      throw new WalError(
        'WAL_METADATA_MISMATCH',
        `wal: ${this.path} belongs to node ${md.nodeId.toString(16)} of cluster ` +
          `${md.clusterId.toString(16)}, not node ${want.nodeId.toString(16)} of cluster ` +
          `${want.clusterId.toString(16)}; check the data dir; nothing was changed`,
        { file: this.path, offset },
      )
    }
    this.sawMetadata = true
  }

  private entry(data: Uint8Array, offset: number): void {
    const e = this.decode(() => decodeEntry(data), offset)
    this.lastIndex = e.index
    this.onEntry(e, this.seg.seq * SEQ_SCALE + offset)
  }

  private decode<T>(fn: () => T, offset: number): T {
    try {
      return fn()
    } catch (err) {
      if (err instanceof RaftError) throw corrupt(this.path, offset, err.message)
      throw err
    }
  }
}
