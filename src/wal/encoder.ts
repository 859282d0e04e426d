/**
 * Encoding a batch of records into frames (record.ts) for one write: the records one after
 * another, in one pass, into a reused buffer, each chained to the crc before it, and the commit
 * record that closes the batch. What goes into a batch, and where it lands, is wal.ts's business.
 *
 * Cost (per entry): the protobuf head and the frame head (a few varints), a copy of the payload
 * into the buffer and a crc over it; the write of the batch is one pwritev. Large payloads are not
 * copied: they become chunks of their own, so each of their bytes is read once by the crc and once
 * by the kernel's copy into the page cache.
 */
import { assert } from '../raft/index.js'
import type { Entry } from '../raft/index.js'
import { NATIVE_BYTES_MIN, crc32c, crc32cRange } from './crc32c.js'
import {
  COMMIT_FRAME_BYTES,
  COMMIT_WEAK,
  FRAME_HEADER_BYTES,
  RecordType,
  encodeCommit,
  entryHeadBytes,
  padBytes,
  putEntryHead,
  putFrameHead,
  varintSize,
} from './record.js'
import { hasWeakSector } from './sectors.js'

/** Payloads at least this large are written from where they are (their own iovec), not copied. */
const ZERO_COPY_BYTES_MIN = 16 * 1024
/** The encode buffer is kept between commits up to this size, so commits do not fault in pages. */
const SCRATCH_KEPT_BYTES_MAX = 8 * 1024 * 1024
/** A frame's length field and record head: tags, a one-byte type, crc and length varints. */
const RECORD_HEAD_BYTES_MAX = FRAME_HEADER_BYTES + 3 + 1 + 5 + 8
/** An entry's protobuf before its data: tags, type, term and index (8 bytes each), data length. */
const ENTRY_HEAD_BYTES_MAX = 4 + 1 + 8 + 8 + 5

/** A record to encode that is not an entry. */
export interface RecordSpec {
  type: RecordType
  data: Uint8Array
}

export interface Encoded {
  /** The frames, as chunks to write back to back: slices of the encode buffer and payloads. */
  chunks: Uint8Array[]
  bytes: number
  /** The running crc after the batch (its commit record's). */
  crc: number
  /** The location of each entry record, from the `base` the encoder was given. */
  locations: number[]
  /** Whether the batch holds a weak sector (its commit record says so: record.ts). */
  weak: boolean
}

/** Room in the buffer for a record of `payloadBytes` (an entry's data, or a record's data). */
export function frameBound(payloadBytes: number): number {
  const copied = payloadBytes >= ZERO_COPY_BYTES_MIN ? 0 : payloadBytes
  return RECORD_HEAD_BYTES_MAX + ENTRY_HEAD_BYTES_MAX + copied + 7
}

/**
 * Frames records one after another into `buf`, then the commit record (seal). A record's data is
 * placed as if the crc's varint took 5 bytes, checksummed there, and moved back in the 1/16 of
 * cases where the varint is shorter. Payloads of NATIVE_BYTES_MIN bytes and more are checksummed
 * where they are, by the native crc; smaller ones once copied, by the JavaScript one (crc32c.ts).
 * The buffer may be reused after the write: the Disk contract lets a caller reuse its chunks.
 */
export class RecordEncoder {
  readonly chunks: Uint8Array[] = []
  readonly locations: number[] = []
  private pos = 0 // in buf
  private chunkStart = 0 // in buf: where the current chunk begins
  private streamed = 0 // bytes in the chunks already pushed
  private weak = false

  /** `base`: the location of the buffer's first byte (wal.ts: segment and offset). */
  constructor(
    private readonly buf: Buffer,
    private crc: number,
    private readonly base: number,
  ) {}

  record(type: RecordType, data: Uint8Array): void {
    this.frame(type, data, undefined)
  }

  entry(e: Entry): void {
    this.locations.push(this.base + this.streamed + this.pos - this.chunkStart)
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
      const inPlace = payload.length >= NATIVE_BYTES_MIN
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
 * The reusable encode buffer of a WAL. A commit encodes and writes synchronously, so it is free
 * again once the write returned.
 */
export class Scratch {
  private buf = Buffer.allocUnsafe(0)

  get(bytes: number): Buffer {
    if (bytes > SCRATCH_KEPT_BYTES_MAX) return Buffer.allocUnsafe(bytes)
    if (this.buf.length < bytes) this.buf = Buffer.allocUnsafe(Math.max(bytes, 64 * 1024))
    return this.buf
  }
}

/**
 * Encodes `records` as a batch at offset 0 (a segment header) into a buffer of its own, kept
 * across awaits. A header is synced before its segment is renamed into place, so nothing in the
 * segment was durable before it: `synced` 0.
 */
export function encodeHeader(
  records: readonly RecordSpec[],
  crcIn: number,
): { buf: Uint8Array; crc: number } {
  let bound = COMMIT_FRAME_BYTES
  for (const r of records) bound += frameBound(r.data.length)
  const enc = new RecordEncoder(Buffer.allocUnsafe(bound), crcIn, 0)
  for (const r of records) enc.record(r.type, r.data)
  enc.seal(0, 0)
  const out = enc.finish()
  assert(out.chunks.length === 1, 'a header is one chunk')
  return { buf: out.chunks[0] as Uint8Array, crc: out.crc }
}
