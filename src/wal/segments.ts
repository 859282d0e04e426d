/**
 * Segment files: their names, how a new one is put in place, and the pipeline that preallocates
 * the next one in the background (etcd file_pipeline.go), so that a rotation finds its file ready.
 *
 * Segments are named `%016x-%016x.wal` from their sequence number and the index of the first entry
 * expected in them, so lexical order is log order. A new segment is a preallocated temporary file
 * (`N.tmp`) whose header is written and synced, renamed into place, and the directory synced: a
 * name never points at a segment without its header (etcd wal.go cut).
 *
 * Preallocation zero-fills the next segment (NodeDisk: a later commit's fdatasync then flushes data
 * alone) unless segments fill so fast that the zeros would take the device time the appends need;
 * then it only reserves the blocks (choose()). When a rotation needs the file before its zeros are
 * all written, it stops the zeroing and reserves the rest.
 */
import type { Logger } from '../raft/index.js'
import { joinPath, type Disk, type DiskFile, type PreallocateOptions } from '../io/index.js'
import { ioError } from './errors.js'

export interface Segment {
  seq: number
  index: number
  name: string
}

/** Locations pack a segment's sequence number and an offset in it: seq * 2^32 + offset. */
export const SEQ_SCALE = 0x1_0000_0000

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

/** What the segment files need of the WAL's options. */
export interface SegmentFilesOptions {
  disk: Disk
  dir: string
  segmentBytes: number
  logger: Logger
  /** Milliseconds, for timing segment fills against their preallocation. */
  clock: () => number
}

/** The pipeline's counters, kept in the WAL's stats. */
export interface PreallocationStats {
  /** Next segments preallocated in the background... */
  preallocations: number
  /** ...of those, how many were zero-filled, and how many hurried (zeroing stopped, rest reserved). */
  zeroFilled: number
  hurried: number
}

/** See SegmentPipeline.choose: the zeros may take up to a quarter of the device's time. */
const ZEROING_FILL_RATIO = 4

/** Why a preallocation was stopped (the abort reasons of SegmentPipeline.preallocating). */
const HURRY = new Error('wal: the rotation needs the next segment now')
const CLOSING = new Error('wal: closed')

/**
 * Writes `header` into `file` (a fresh preallocated one) and moves it into place as `seg`
 * durably: sync the content, rename, sync the directory. On failure the file stays the caller's
 * to close.
 */
export async function installSegment(
  o: SegmentFilesOptions,
  seg: Segment,
  header: Uint8Array,
  file: DiskFile,
): Promise<void> {
  file.write([header], 0)
  await file.sync()
  o.disk.rename(file.path, joinPath(o.dir, seg.name))
  await o.disk.syncDir(o.dir)
}

/**
 * A new file at `path`, empty and then preallocated; closed again if that fails (WAL_IO). When the
 * preallocation stops because `prealloc.signal` aborted with HURRY, the rest is reserved.
 */
export async function preallocatedFile(
  o: SegmentFilesOptions,
  path: string,
  prealloc: PreallocateOptions = {},
): Promise<DiskFile> {
  const f = o.disk.open(path, { create: true })
  try {
    f.truncate(0)
    try {
      await f.preallocate(o.segmentBytes, prealloc)
    } catch (err) {
      // Only the stop itself: an I/O error stays an error, hurried or not.
      if (err !== HURRY) throw err
      await f.preallocate(o.segmentBytes, { reserveOnly: true })
    }
  } catch (err) {
    f.close()
    throw ioError(`preallocating ${path}`, err)
  }
  return f
}

/** Preallocates the segment after the current one in the background, one at a time. */
export class SegmentPipeline {
  private next: Promise<DiskFile> | undefined
  /**
   * Aborts the running preallocation: take() with HURRY when the rotation needs the segment now,
   * close() with CLOSING so that it need not wait for a segment's zeros.
   */
  private preallocating: AbortController | undefined
  /** The current segment's sequence number. */
  private seq = 0
  /** When the current segment became current, by o.clock, and its position then. */
  private since = 0
  private sincePosition = 0
  /** How long the last zero-filling preallocation took, in ms (undefined: none yet). */
  private zeroingMs: number | undefined
  /** Whether the next segment is preallocated by reserving blocks only (choose). */
  private reserveOnly = false

  constructor(
    private readonly o: SegmentFilesOptions,
    private readonly stats: PreallocationStats,
  ) {}

  /**
   * Segment `seq` became current, its records from `position` on (at open it may hold records
   * already). Starts preallocating its successor unless `prepare` is false (close() flushes the
   * last rotation: no successor is needed).
   */
  begin(seq: number, position: number, prepare = true): void {
    this.seq = seq
    this.since = this.o.clock()
    this.sincePosition = position
    if (!prepare) return
    this.next = this.preallocate(this.nextPath())
    // A failure surfaces when take() awaits it; until then it must not count as unhandled.
    this.next.catch(() => {})
  }

  /**
   * The current segment is full at `position`: its successor's file, preallocated (hurried if
   * its zeros are still being written). Also judges, from how fast this segment filled, how to
   * preallocate the next ones.
   */
  async take(position: number): Promise<DiskFile> {
    // Zeros still being written would delay every append behind this rotation: stop them.
    this.preallocating?.abort(HURRY)
    const next = this.next
    this.next = undefined // the caller's file now
    // A rotation after close() skipped the preallocation: make the file now.
    const file = await (next ?? preallocatedFile(this.o, this.nextPath()))
    // At the rate the segment just closed was filled, how long a whole one takes.
    const filled = Math.max(1, position - this.sincePosition)
    this.choose(((this.o.clock() - this.since) * this.o.segmentBytes) / filled)
    return file
  }

  /** Resolves once the preallocation running (if any) has finished; its failure is take()'s. */
  async preallocated(): Promise<void> {
    await this.next?.catch(() => {})
  }

  /** Stops a preallocation still running (the partial file is removed at the next open). */
  async close(): Promise<void> {
    this.preallocating?.abort(CLOSING)
    const next = await this.next?.catch(() => undefined)
    this.next = undefined
    next?.close()
  }

  /**
   * Whether the next segment is zero-filled (see NodeDisk) or only has its blocks reserved: it is
   * zero-filled unless, at the rate the segment just closed was filled, a segment fills in less
   * than ZEROING_FILL_RATIO times what the last zeroing took. Filling that fast, the appends need
   * the device's time, and the zeros (as many bytes again as the records) slow a bulk load down
   * more than the cheaper fdatasyncs gain back; filling slowly, the zeros go in while the device
   * idles. (bench/README.md has the bulk load with this choice and without it.)
   */
  private choose(filledMs: number): void {
    const zeroingMs = this.zeroingMs
    const reserveOnly = zeroingMs !== undefined && filledMs < ZEROING_FILL_RATIO * zeroingMs
    if (reserveOnly !== this.reserveOnly) {
      const why = `segments fill in ${Math.round(filledMs)} ms, zeroing one took ${Math.round(zeroingMs ?? 0)} ms`
      this.o.logger.info(
        reserveOnly
          ? `wal: ${why}: preallocating segments by reserving their blocks, without zeros`
          : `wal: ${why}: preallocating segments with zeros again`,
      )
    }
    this.reserveOnly = reserveOnly
  }

  private nextPath(): string {
    return joinPath(this.o.dir, `${this.seq + 1}.tmp`)
  }

  private async preallocate(path: string): Promise<DiskFile> {
    const { reserveOnly } = this
    const start = this.o.clock()
    const control = new AbortController()
    this.preallocating = control
    const f = await preallocatedFile(this.o, path, { signal: control.signal, reserveOnly })
    this.stats.preallocations++
    if (reserveOnly) return f
    // When hurried, a lower bound: the segment filled faster than zeros could be written.
    this.zeroingMs = this.o.clock() - start
    if (control.signal.reason === HURRY) {
      this.stats.hurried++
      this.o.logger.info(`wal: ${path} was needed before its zeros were written; reserved the rest`)
    } else {
      this.stats.zeroFilled++
    }
    return f
  }
}
