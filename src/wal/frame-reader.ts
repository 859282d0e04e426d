/**
 * Reading records forward from a point in a segment, for reading entries back (Wal.readEntries).
 * Recovery checks every record and the crc chain (scan.ts); this path reads records written since,
 * or checked at open, so it checks only their framing and shape, and the caller checks that each
 * entry is the one it expects (index and term).
 *
 * Cost: a read back scans up to CHECKPOINT_ENTRIES records to reach the one wanted, so skipping a
 * record must be cheap: frames are parsed in place (no view, no object per record), an entry's
 * index and term are peeked from its head, and only the entries wanted are decoded. Reads go
 * through one buffer, filled by reads that start small (a scan from a checkpoint covers a few KiB)
 * and double on each refill, so a long scan makes O(log bytes) syscalls, not one per record.
 */
import { assert } from '../raft/index.js'
import { RaftError } from '../raft/index.js'
import { decodeEntry } from '../raft/index.js'
import type { Entry } from '../raft/index.js'
import type { DiskFile } from '../io/index.js'
import { corrupt } from './errors.js'
import { FRAME_HEADER_BYTES, padBytes } from './record.js'

const READ_BYTES_MIN = 8 * 1024
const READ_BYTES_MAX = 1024 * 1024

/** A reusable read buffer (reads are synchronous, so one is enough per WAL). */
export class ReadBuffer {
  private buf = Buffer.allocUnsafe(READ_BYTES_MIN)

  get(bytes: number): Buffer {
    if (bytes > this.buf.length) this.buf = Buffer.allocUnsafe(bytes)
    return this.buf
  }
}

/** Reads a varint at `pos` of `buf` into `out`; returns the position after it, or -1. */
function varint(buf: Uint8Array, pos: number, end: number, out: { value: number }): number {
  let v = 0
  let mul = 1
  // Bounded: 8 bytes hold every safe integer; longer is not a record we wrote.
  for (let i = 0; i < 8 && pos < end; i++) {
    const b = buf[pos++] as number
    v += (b & 0x7f) * mul
    if (b < 0x80) {
      out.value = v
      return pos
    }
    mul *= 0x80
  }
  return -1
}

/** The frames of one segment, read forward. The fields describe the frame found by next(). */
export class FrameReader {
  type = 0
  /** The record's data is buf[dataStart, dataEnd). */
  dataStart = 0
  dataEnd = 0
  /** The offset of the frame after it. */
  nextOffset = 0
  buf: Buffer = Buffer.alloc(0)
  /** The bytes of the file from bufStart to bufEnd are in buf. */
  private bufStart = 0
  private bufEnd = 0
  private readBytes = READ_BYTES_MIN
  private readonly scratch = { value: 0 }

  constructor(
    private readonly file: DiskFile,
    /** Where the segment's records end at most. */
    private readonly end: number,
    private readonly buffer: ReadBuffer,
    /** The segment's name in errors (a handle opened before a rename keeps its old path). */
    readonly path: string = file.path,
  ) {}

  /** Reads the frame at `offset`; false at the end of the segment's records. */
  next(offset: number): boolean {
    if (offset + FRAME_HEADER_BYTES > this.end) return false
    this.fill(offset, FRAME_HEADER_BYTES)
    const at = offset - this.bufStart
    const lo = this.buf.readUInt32LE(at)
    const hi = this.buf.readUInt32LE(at + 4)
    if (lo === 0 && hi === 0) return false // preallocated space: the records ended
    const recBytes = lo + (hi & 0xff_ffff) * 0x1_0000_0000
    const recEnd = offset + FRAME_HEADER_BYTES + recBytes
    if (recEnd > this.end) throw corrupt(this.path, offset, 'record runs past the segment end')
    this.fill(offset, FRAME_HEADER_BYTES + recBytes)
    if (!this.parse(offset - this.bufStart + FRAME_HEADER_BYTES, recEnd - this.bufStart)) {
      throw corrupt(this.path, offset, 'record unreadable on read-back')
    }
    this.nextOffset = recEnd + padBytes(recBytes)
    return true
  }

  /** Parses a walpb.Record (type, crc, data; record.ts parseRecord) in buf[pos, end). */
  private parse(pos: number, end: number): boolean {
    const buf = this.buf
    const v = this.scratch
    if (buf[pos] !== 0x08) return false
    pos = varint(buf, pos + 1, end, v)
    if (pos < 0 || buf[pos] !== 0x10) return false
    this.type = v.value
    pos = varint(buf, pos + 1, end, v)
    if (pos < 0 || buf[pos] !== 0x1a) return false
    pos = varint(buf, pos + 1, end, v)
    if (pos < 0 || pos + v.value !== end) return false
    this.dataStart = pos
    this.dataEnd = end
    return true
  }

  /** Makes the file's bytes offset .. offset + bytes (within `end`) available in buf. */
  private fill(offset: number, bytes: number): void {
    if (offset >= this.bufStart && offset + bytes <= this.bufEnd) return
    const length = Math.min(Math.max(bytes, this.readBytes), this.end - offset)
    assert(length >= bytes, `fill(${offset}, ${bytes}) beyond ${this.end}`)
    this.readBytes = Math.min(this.readBytes * 2, READ_BYTES_MAX)
    const buf = this.buffer.get(length)
    let done = 0
    // Bounded by `length`: each read returns at least one byte, or the loop stops.
    while (done < length) {
      const n = this.file.read(buf.subarray(done, length), offset + done)
      if (n === 0) break
      done += n
    }
    if (done < bytes) throw corrupt(this.path, offset, `short read (${done} of ${bytes} bytes)`)
    this.buf = buf
    this.bufStart = offset
    this.bufEnd = offset + done
  }
}

/**
 * The entry record a scan is at: its index and term, peeked from the head of the record (type,
 * term, index, as our encoder writes them), and the entry itself, decoded only when asked for.
 */
export class EntryRecord {
  index = 0
  term = 0
  location = 0
  private reader: FrameReader | undefined
  private offset = 0
  private readonly scratch = { value: 0 }

  /** Points at the entry record the reader is at: `offset` in its segment, at `location`. */
  at(reader: FrameReader, offset: number, location: number): void {
    this.reader = reader
    this.offset = offset
    this.location = location
    const { buf, dataStart: start, dataEnd: end } = reader
    const v = this.scratch
    let pos = buf[start] === 0x08 ? varint(buf, start + 1, end, v) : -1
    if (pos >= 0 && buf[pos] === 0x10) pos = varint(buf, pos + 1, end, v)
    else pos = -1
    const term = v.value
    if (pos >= 0 && buf[pos] === 0x18) pos = varint(buf, pos + 1, end, v)
    else pos = -1
    if (pos >= 0) {
      this.term = term
      this.index = v.value
      return
    }
    // Another field order (a record we did not write): decode it all.
    const e = this.entry()
    this.term = e.term
    this.index = e.index
  }

  /** The entry, decoded (into memory of its own: the read buffer is reused). */
  entry(): Entry {
    const r = this.reader
    assert(r !== undefined, 'no entry record')
    try {
      return decodeEntry(r.buf.subarray(r.dataStart, r.dataEnd))
    } catch (err) {
      if (err instanceof RaftError) throw corrupt(r.path, this.offset, err.message)
      throw err
    }
  }
}
