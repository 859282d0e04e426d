/**
 * Reading a segment back: every record is checked (frame, protobuf shape, zero padding, chained
 * crc), records are handed on a batch at a time once the batch's commit record checks out, and the
 * end of the log is classified. record.ts has the format and why it is built this way.
 *
 * A segment other than the last, and the header batch of any segment, were durable before the
 * WAL went past them (a segment is closed once its writes are synced; a header is synced before
 * its file is renamed into place): anything wrong in them is corruption. In the last segment the
 * batches after the last durable one may be torn, in any of their sectors. When a record fails
 * there (or data follows the end of the records), in batch B starting at S:
 *
 * 1. Commit records are looked for in the rest of the segment (each checks on its own). One
 *    claiming the segment durable past S proves B was synced: corruption.
 * 2. If B's own commit record survived: a weak B was never acknowledged (no proof of it exists),
 *    so it is torn; otherwise B is torn only if one of its pieces reads as zeros. Every piece of
 *    a batch not marked weak holds two set bits or more, so only a write that never reached the
 *    disk makes one read as zeros, never a flipped bit.
 * 3. If it did not, and the failing record is not B's commit record (its type, its length field
 *    and its magic all say otherwise, and one flipped bit changes only one of them), B lost
 *    two places at once, its commit record and the failing one: a torn write.
 * 4. If the failing record is B's commit record, B is torn only if the commit record's length
 *    field reads as zeros, or a byte of its magic does.
 * Anything else stops start-up with a WAL_CORRUPT error naming the file and offset. A torn batch
 * is cut whole, from S: it was never acknowledged, and neither was anything after it.
 *
 * What this cannot tell: a synced sector that reads back as zeros (a device that lost a write it
 * acknowledged) looks like a sector never written, unless a later commit record proves it synced.
 */
import { corrupt } from './errors.js'
import {
  COMMIT_FRAME_BYTES,
  COMMIT_LEN_HI,
  COMMIT_LEN_LO,
  COMMIT_MAGIC_AT,
  COMMIT_WEAK,
  FRAME_FLAG,
  FRAME_HEADER_BYTES,
  RecordType,
  chainCrc,
  decodeCommit,
  isCommitMagic,
  padBytes,
  parseRecord,
  type Commit,
  type DecodedRecord,
} from './record.js'
import { allZero, zeroPiece } from './sectors.js'

export interface ScanResult {
  /** The offset after the last complete batch. */
  end: number
  /** The running crc there. */
  crc: number
  /** Set when the bytes from `end` on are a torn tail to cut: why, and up to where they reach. */
  torn?: { reason: string; bytes: number }
}

export type RecordVisitor = (rec: DecodedRecord, offset: number) => void

const ZERO_CHUNK = new Uint8Array(64 * 1024)

/** The offset from which `buf` holds only zeros. */
export function trailingZerosStart(buf: Uint8Array): number {
  // Whole chunks first, compared with zeros by memcmp: the tail of a preallocated segment is
  // megabytes of zeros, and the word loop below over all of them showed in the time to open one.
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

function crcValid(rec: DecodedRecord, running: number): boolean {
  if (rec.type === RecordType.Crc) return running === 0 || rec.crc === running
  return chainCrc(running, rec.type, rec.data) === rec.crc
}

/** A commit record found at `at`, which checks on its own. */
interface FoundCommit extends Commit {
  at: number
}

class SegmentScanner {
  private zerosFrom = -1
  /** Where the current batch starts, and the running crc there. */
  private batchStart = 0
  private batchCrc: number
  /** The current batch's records, handed on when its commit record checks out. */
  private batch: { rec: DecodedRecord; offset: number }[] = []
  private headerDone = false

  constructor(
    private readonly buf: Uint8Array,
    private readonly file: string,
    private readonly isLast: boolean,
    crcIn: number,
  ) {
    this.batchCrc = crcIn
  }

  scan(visit: RecordVisitor): ScanResult {
    const buf = this.buf
    let crc = this.batchCrc
    let off = 0
    // Bounded: each pass consumes at least one 8-byte frame or returns.
    for (;;) {
      const lo = u32(buf, off)
      const hi = u32(buf, off + 4)
      if (lo === 0 && hi === 0) {
        if (this.zeros() <= off) return this.logEnd(off)
        return this.failed(off, 'zero length field in front of data')
      }
      const flag = hi >>> 24
      const recBytes = lo + (hi & 0xff_ffff) * 0x1_0000_0000
      const pad = flag & 0x07
      const recEnd = off + FRAME_HEADER_BYTES + recBytes
      if ((flag & 0xf8) !== FRAME_FLAG || pad !== padBytes(recBytes)) {
        return this.failed(off, 'bad length field')
      }
      if (recEnd > buf.length) return this.failed(off, 'record runs past the end of the file')
      const rec = parseRecord(buf, off + FRAME_HEADER_BYTES, recEnd)
      if (rec === undefined || rec.recBytes !== recBytes) {
        return this.failed(off, 'malformed record')
      }
      if (!allZero(buf, recEnd, recEnd + pad)) return this.failed(off, 'non-zero padding')
      if (!crcValid(rec, crc)) return this.failed(off, 'crc mismatch')
      if (rec.type === RecordType.Commit) {
        const c = decodeCommit(rec.data)
        if (c === undefined) return this.failed(off, 'malformed commit record')
        if (c.crcIn !== crc || c.start !== this.batchStart || c.synced > this.batchStart) {
          return this.failed(off, 'commit record does not match its batch')
        }
        for (const r of this.batch) visit(r.rec, r.offset)
        this.batch = []
        this.headerDone = true
        crc = rec.crc
        off = recEnd
        this.batchStart = off
        this.batchCrc = crc
        continue
      }
      this.batch.push({ rec, offset: off })
      // A valid record carries the running crc after it (crcValid checked it): no second pass.
      crc = rec.crc
      off = recEnd + pad
    }
  }

  /** Only zeros from `off` on. */
  private logEnd(off: number): ScanResult {
    const ended = { end: this.batchStart, crc: this.batchCrc }
    if (off === this.batchStart) return ended
    // Records without their commit record, then zeros: the commit record (whose magic has set
    // bits in every byte) reads as zeros, so its write never reached the disk.
    const reason = `the batch at offset ${this.batchStart} ends without its commit record`
    if (!this.isLast || !this.headerDone) throw corrupt(this.file, off, reason)
    return { ...ended, torn: { reason, bytes: off - this.batchStart } }
  }

  /** A record at `off` failed: a torn batch to cut, or corruption (the module comment's rules). */
  private failed(off: number, reason: string): ScanResult {
    if (!this.isLast || !this.headerDone) throw corrupt(this.file, off, reason)
    const start = this.batchStart
    const zerosFrom = this.zeros()
    const commits = this.commitsFrom(off, zerosFrom)
    const proof = commits.find((c) => c.synced > start)
    if (proof !== undefined) {
      throw corrupt(
        this.file,
        off,
        `${reason}; the commit record at offset ${proof.at} shows the segment was durable up ` +
          `to offset ${proof.synced}`,
      )
    }
    const torn = (why: string): ScanResult => ({
      end: start,
      crc: this.batchCrc,
      torn: {
        reason: `${reason} at offset ${off}, ${why}`,
        bytes: Math.max(zerosFrom, off) - start,
      },
    })
    const own = commits.find((c) => c.start === start)
    if (own !== undefined && own.at !== off) {
      if ((own.flags & COMMIT_WEAK) !== 0) return torn('in a weak batch never proven durable')
      const zero = zeroPiece(this.buf, start, own.at + COMMIT_FRAME_BYTES)
      if (zero !== undefined) return torn(`the sector piece at offset ${zero} was never written`)
      throw corrupt(this.file, off, `${reason}, in a batch whose sectors were all written`)
    }
    if (own === undefined && !this.mayBeCommit(off)) {
      return torn(`and the batch's commit record is lost too`)
    }
    if (allZero(this.buf, off, off + 8) || this.magicHasZero(off + COMMIT_MAGIC_AT)) {
      return torn('in a commit record only partly written')
    }
    throw corrupt(this.file, off, `${reason}, in the batch's commit record`)
  }

  /**
   * Whether the frame at `off` may be a commit record: its type, its length field or its magic
   * says so (a flipped bit changes only one of them).
   */
  private mayBeCommit(off: number): boolean {
    const buf = this.buf
    return (
      (buf[off + 8] === 0x08 && buf[off + 9] === RecordType.Commit) ||
      (u32(buf, off) === COMMIT_LEN_LO && u32(buf, off + 4) === COMMIT_LEN_HI) ||
      isCommitMagic(buf, off + COMMIT_MAGIC_AT)
    )
  }

  /**
   * Whether a byte of the magic at `at` reads as zero (past the end of the file too). Each of its
   * bytes has two set bits or more: only a write that never reached the disk zeroes one.
   */
  private magicHasZero(at: number): boolean {
    for (let i = at; i < at + 8; i++) if ((this.buf[i] ?? 0) === 0) return true
    return false
  }

  /** The commit records in [from, to) whose crc checks on its own, at 8-byte aligned offsets. */
  private commitsFrom(from: number, to: number): FoundCommit[] {
    const buf = this.buf
    const out: FoundCommit[] = []
    // Bounded by the range, 8 bytes a pass. A commit record ends in its magic, which is not
    // zeros, so every one lies before `to`.
    for (let at = from; at + COMMIT_FRAME_BYTES <= to; at += 8) {
      if (u32(buf, at) !== COMMIT_LEN_LO || u32(buf, at + 4) !== COMMIT_LEN_HI) continue
      if (buf[at + 9] !== RecordType.Commit) continue
      const rec = parseRecord(buf, at + FRAME_HEADER_BYTES, at + COMMIT_FRAME_BYTES)
      if (rec === undefined || rec.type !== RecordType.Commit) continue
      const c = decodeCommit(rec.data)
      if (c === undefined || chainCrc(c.crcIn, RecordType.Commit, rec.data) !== rec.crc) continue
      out.push({ ...c, at })
    }
    return out
  }

  private zeros(): number {
    if (this.zerosFrom < 0) this.zerosFrom = trailingZerosStart(this.buf)
    return this.zerosFrom
  }
}

/** The little-endian 32-bit word at `pos` (bytes past the end read as zeros). */
function u32(buf: Uint8Array, pos: number): number {
  return (
    ((buf[pos] ?? 0) | ((buf[pos + 1] ?? 0) << 8) | ((buf[pos + 2] ?? 0) << 16)) +
    (buf[pos + 3] ?? 0) * 0x100_0000
  )
}

/**
 * Checks the records of one segment and calls `visit` for each valid one, in order, a batch at a
 * time (commit records are not passed on). Throws a WAL_CORRUPT WalError for damage that is not a
 * torn tail of the last segment.
 */
export function scanSegment(
  buf: Uint8Array,
  opts: { file: string; crc: number; isLast: boolean },
  visit: RecordVisitor,
): ScanResult {
  return new SegmentScanner(buf, opts.file, opts.isLast, opts.crc).scan(visit)
}
