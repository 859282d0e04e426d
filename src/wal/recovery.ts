/**
 * Opening a WAL that exists: reading every segment, checking every record (scan.ts), replaying
 * the complete batches into the caller's callbacks, and only then repairing what a crash left:
 * cutting a torn batch at the end of the last segment, and skipping the segments a release left
 * before a gap. Everything is checked before anything is changed, so a refused open changes
 * nothing.
 */
import { RaftError } from '../raft/index.js'
import type { Logger } from '../raft/index.js'
import { decodeEntry, decodeHardState } from '../raft/index.js'
import { emptyHardState } from '../raft/index.js'
import type { Entry, HardState } from '../raft/index.js'
import { joinPath, readAt, type Disk, type DiskFile } from '../io/index.js'
import { WalError, corrupt, ioError } from './errors.js'
import {
  RecordType,
  decodeMetadata,
  decodeSnapshotMarker,
  type DecodedRecord,
  type WalMetadata,
  type WalSnapshot,
} from './record.js'
import { scanSegment } from './scan.js'
import { SEQ_SCALE, type Segment } from './segments.js'

export interface WalRecovery {
  /** The last hard state in the log (empty if none). */
  hardState: HardState
  /** Every snapshot marker, in log order. */
  snapshots: WalSnapshot[]
  /** What was repaired, one sentence each (also logged at WARN). */
  repairs: string[]
}

export interface RecoverOptions {
  disk: Disk
  dir: string
  metadata: WalMetadata
  segmentBytes: number
  logger: Logger
}

/** The log as recovery found it, the last segment open for appends. */
export interface Recovered {
  /** The segments replayed: the last run of consecutive sequence numbers. */
  segments: Segment[]
  /** The segments before a gap a release left, not replayed (see recover). */
  leftovers: Segment[]
  /** The last segment, synced: what was read is durable. */
  file: DiskFile
  /** Where the last segment's records end, and the running crc there. */
  end: number
  crc: number
  /** The index after which the next segment is named (the last entry, or a marker past it). */
  lastIndex: number
  recovery: WalRecovery
}

/**
 * Recovers the WAL from `all`, its segments in name order. `onEntry` sees every entry record in
 * log order with its location (later records with the same index overwrite earlier ones),
 * `onSnapshot` every snapshot marker.
 */
export async function recover(
  o: RecoverOptions,
  all: readonly Segment[],
  onEntry: (e: Entry, location: number) => void,
  onSnapshot: (s: WalSnapshot) => void,
): Promise<Recovered> {
  // Segments before the last gap in the sequence are what a release left: it unlinks several
  // segments and then syncs the directory once, and a power loss may keep any of the unlinks.
  // That is checked below (a snapshot marker must cover the gap); they are not replayed.
  const first = lastRun(all)
  const leftovers = all.slice(0, first)
  const segments = all.slice(first)
  const replay = new Replay(o.metadata, onEntry, onSnapshot)
  let scan: ReturnType<typeof scanSegment> = { end: 0, crc: 0 }
  segments.forEach((seg, i) => {
    const isLast = i === segments.length - 1
    const path = joinPath(o.dir, seg.name)
    const f = o.disk.open(path)
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
        `${head.name} in ${o.dir}, and no snapshot marker after it covers the entries in ` +
        'it; they are lost, restore this member from a peer; nothing was changed',
      { file: joinPath(o.dir, head.name) },
    )
  }
  // Everything checked; now, and only now, cut a torn tail of the last segment.
  const last = segments[segments.length - 1] as Segment
  const path = joinPath(o.dir, last.name)
  const file = o.disk.open(path)
  const repairs: string[] = []
  if (scan.torn !== undefined) {
    const { reason, bytes } = scan.torn
    repairs.push(`cut the torn tail of ${path} at offset ${scan.end} (${bytes} bytes: ${reason})`)
  }
  if (leftovers.length > 0) {
    repairs.push(
      `${leftovers.length} segment(s) before ${head.name}, left by a release a crash ` +
        'interrupted, are not replayed (removed at the next release)',
    )
  }
  try {
    if (scan.torn !== undefined) {
      file.truncate(scan.end)
      await file.preallocate(o.segmentBytes)
    }
    // What was read may not be durable yet (after a process crash it can sit in the page
    // cache), and later commit records will claim it synced. Nor may the directory be.
    await file.sync()
    await o.disk.syncDir(o.dir)
  } catch (err) {
    file.close()
    throw ioError(`recovering ${path}`, err)
  }
  for (const r of repairs) o.logger.warn(`wal: repaired: ${r}`)
  return {
    segments,
    leftovers,
    file,
    end: scan.end,
    crc: scan.crc,
    lastIndex: replay.lastIndex,
    recovery: { hardState: replay.hardState, snapshots: replay.snapshots, repairs },
  }
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
  lastIndex = 0
  private seg: Segment = { seq: 0, index: 0, name: '' }
  private path = ''
  private sawCrc = false
  private sawMetadata = false

  constructor(
    private readonly metadata: WalMetadata,
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
        return this.checkMetadata(rec.data, offset)
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
      case RecordType.Commit:
        // scan.ts checks commit records and does not pass them on.
        throw corrupt(this.path, offset, 'a commit record among the records of a batch')
    }
  }

  endSegment(): void {
    if (!this.sawCrc || !this.sawMetadata) {
      throw corrupt(this.path, 0, 'segment header (crc, metadata) missing')
    }
  }

  private checkMetadata(data: Uint8Array, offset: number): void {
    const md = decodeMetadata(data)
    if (md === undefined) throw corrupt(this.path, offset, 'malformed metadata')
    const want = this.metadata
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
