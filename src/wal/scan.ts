/**
 * Reading a segment back: every record is checked (frame, protobuf shape, chained crc) and the
 * end of the log is classified. The rules, stricter than etcd's decoder.go where etcd relies on
 * sector-sized tears:
 *
 * - A zero length field ends a segment. Zeros after it are preallocated space; anything else is a
 *   record whose length field was zeroed (corrupt) when a record starts right after it, and in the
 *   last segment otherwise the residue of unsynced writes (a torn tail).
 * - A record that fails is a torn tail only in the last segment, only when its bytes turn to zeros
 *   (or end) before the end its length field claims, with nothing but zeros after, and only when
 *   they are not an intact record behind a damaged length field. A torn write leaves a prefix of
 *   the last write and zeros (or the end of the file) after it, so it always passes; a flipped bit
 *   in a complete record fails one of the three (unless the record's last bytes are zeros), and
 *   stops start-up with the file and offset rather than dropping acknowledged data.
 */
import { corrupt } from './errors.js'
import {
  FRAME_HEADER_BYTES,
  RecordType,
  chainCrc,
  padBytes,
  parseRecord,
  type DecodedRecord,
} from './record.js'

export interface ScanResult {
  /** The offset after the last valid record (may pass the file's end when padding was cut). */
  end: number
  /** The running crc after the last valid record. */
  crc: number
  /** Set when the tail from `end` on is to be cut: why, and how many non-zero bytes it held. */
  torn?: { reason: string; bytes: number }
}

export type RecordVisitor = (rec: DecodedRecord, offset: number) => void

const ZERO_CHUNK = new Uint8Array(64 * 1024)

/** The offset from which `buf` holds only zeros. */
export function trailingZerosStart(buf: Uint8Array): number {
  // Whole chunks first, compared with zeros by memcmp: the tail of a preallocated segment is
  // megabytes of zeros, and the word loop below over all of them was 7% of opening a WAL.
  let end = buf.length
  while (
    end >= ZERO_CHUNK.length &&
    Buffer.compare(buf.subarray(end - ZERO_CHUNK.length, end), ZERO_CHUNK) === 0
  ) {
    end -= ZERO_CHUNK.length
  }
  return zerosStartByWords(buf.subarray(0, end))
}

function zerosStartByWords(buf: Uint8Array): number {
  let i = buf.length
  // Whole 32-bit words first (less than a chunk of them is left), then bytes.
  if (buf.byteOffset % 4 === 0) {
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2)
    let w = words.length
    const tailBytes = buf.length - w * 4
    let tailZero = true
    for (let j = buf.length - tailBytes; j < buf.length; j++) if (buf[j] !== 0) tailZero = false
    if (tailZero) {
      while (w > 0 && words[w - 1] === 0) w--
      i = w * 4
    }
  }
  while (i > 0 && buf[i - 1] === 0) i--
  return i
}

/** Does a record start at `pos`? (Field 1 tag, a valid type, field 2 tag.) */
function looksLikeRecord(buf: Uint8Array, pos: number): boolean {
  const type = buf[pos + 1] ?? 0
  return buf[pos] === 0x08 && type >= RecordType.Metadata && type <= RecordType.Snapshot
}

function crcValid(rec: DecodedRecord, running: number): boolean {
  if (rec.type === RecordType.Crc) return running === 0 || rec.crc === running
  return chainCrc(running, rec.type, rec.data) === rec.crc
}

class SegmentScanner {
  private zerosFrom = -1

  constructor(
    private readonly buf: Uint8Array,
    private readonly file: string,
    private readonly isLast: boolean,
  ) {}

  scan(crcIn: number, visit: RecordVisitor): ScanResult {
    const buf = this.buf
    const view = new DataView(buf.buffer, buf.byteOffset, buf.length)
    let crc = crcIn
    let off = 0
    // Bounded: each pass consumes at least one 8-byte frame or returns.
    while (off < buf.length) {
      if (off + FRAME_HEADER_BYTES > buf.length) {
        if (this.zeros() <= off) return { end: off, crc }
        return this.failed(off, buf.length + 1, crc, 'partial length field')
      }
      const lo = view.getUint32(off, true)
      const hi = view.getUint32(off + 4, true)
      if (lo === 0 && hi === 0) return this.zeroLength(off, crc)
      const flag = hi >>> 24
      const recBytes = lo + (hi & 0xff_ffff) * 0x1_0000_0000
      const pad = flag & 0x80 ? flag & 0x07 : 0
      const recEnd = off + FRAME_HEADER_BYTES + recBytes
      const frameOk = (flag === 0 || (flag & 0xf8) === 0x80) && pad === padBytes(recBytes)
      if (!frameOk) return this.failed(off, recEnd, crc, 'bad length field')
      if (recEnd > buf.length) {
        return this.failed(off, recEnd, crc, 'record runs past the end of the file')
      }
      const rec = parseRecord(buf, off + FRAME_HEADER_BYTES, recEnd)
      if (rec === undefined || rec.recBytes !== recBytes) {
        return this.failed(off, recEnd, crc, 'malformed record')
      }
      if (!crcValid(rec, crc)) return this.failed(off, recEnd, crc, 'crc mismatch')
      visit(rec, off)
      // A valid record carries the running crc after it (crcValid checked it): no second pass.
      crc = rec.crc
      off = recEnd + pad
    }
    if (off > buf.length) return { end: off, crc, torn: { reason: 'padding cut', bytes: 0 } }
    return { end: off, crc }
  }

  private zeroLength(off: number, crc: number): ScanResult {
    const zerosFrom = this.zeros()
    if (zerosFrom <= off) return { end: off, crc }
    if (!this.isLast || looksLikeRecord(this.buf, off + FRAME_HEADER_BYTES)) {
      throw corrupt(this.file, off, 'zero length field in front of data')
    }
    return {
      end: off,
      crc,
      torn: { reason: 'data after the end of the log', bytes: zerosFrom - off },
    }
  }

  /**
   * A record at `off` failed; `recEnd` is where its length field says its data ends. A torn write
   * leaves a prefix and zeros (or the file's end) after it, so the last byte of a torn record is
   * zero or missing: when it is not, or when anything but zeros follows, the record was complete
   * and then damaged.
   */
  private failed(off: number, recEnd: number, crc: number, reason: string): ScanResult {
    if (!this.isLast) throw corrupt(this.file, off, reason)
    const zerosFrom = this.zeros()
    if (zerosFrom > recEnd) {
      throw corrupt(this.file, off, `${reason}, with data after it up to offset ${zerosFrom}`)
    }
    if (zerosFrom === recEnd) {
      throw corrupt(this.file, off, `${reason}, in a record written to its last byte`)
    }
    const intact = parseRecord(this.buf, off + FRAME_HEADER_BYTES, this.buf.length)
    if (intact !== undefined && crcValid(intact, crc)) {
      throw corrupt(this.file, off, `${reason}: the record is intact, its length field is damaged`)
    }
    return { end: off, crc, torn: { reason, bytes: zerosFrom - off } }
  }

  private zeros(): number {
    if (this.zerosFrom < 0) this.zerosFrom = trailingZerosStart(this.buf)
    return this.zerosFrom
  }
}

/**
 * Checks the records of one segment and calls `visit` for each valid one, in order. Throws a
 * WAL_CORRUPT WalError for a bad record that is not a torn tail of the last segment.
 */
export function scanSegment(
  buf: Uint8Array,
  opts: { file: string; crc: number; isLast: boolean },
  visit: RecordVisitor,
): ScanResult {
  return new SegmentScanner(buf, opts.file, opts.isLast).scan(opts.crc, visit)
}
