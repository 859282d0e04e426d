/**
 * The protobuf (proto3) wire primitives the etcd messages are written with: sizes, a Writer that
 * fills a buffer of exactly the computed size, and a Reader over untrusted input.
 *
 * Encoding is proto3's canonical form as etcd's gogoproto marshallers write it: fields in number
 * order, a scalar only when it is not zero, a nested message whenever it is present (even when
 * empty), a oneof member whenever it is the set case (even when zero), repeated scalars packed.
 *
 * 64-bit fields: ids (member, cluster, lease) are `bigint`, exact over the whole range.
 * Revisions, versions, counts, terms and indexes are `number`: a value beyond 2^53-1 in magnitude
 * saturates to ±(2^53-1) when read (it is either absurd input, which saturation keeps meaning the
 * same, "far in the future", or nothing a real store can reach), and writing asserts a safe
 * integer. Negative int64 values take ten bytes, as in every protobuf encoder.
 *
 * Decoding treats its input as untrusted: truncation, a wrong wire type for a known field, a
 * length past the end of its record, an invalid tag or nesting deeper than MAX_DEPTH throws an
 * ApiError MALFORMED (gogoproto's words); unknown fields are skipped. Byte fields are views into
 * the input, which the caller must therefore neither reuse nor change.
 */

import assert from 'node:assert/strict'
import { malformed, truncated } from '../api-error.js'

export const WIRE_VARINT = 0
export const WIRE_FIXED64 = 1
export const WIRE_BYTES = 2
export const WIRE_START_GROUP = 3
export const WIRE_END_GROUP = 4
export const WIRE_FIXED32 = 5

/** Txns nest txns: deeper input is refused before it can exhaust the stack. */
export const MAX_DEPTH = 64

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0)

const TWO_POW_32 = 4294967296
const MAX_SAFE = Number.MAX_SAFE_INTEGER
/** hi words of a two's complement int64 whose value is a safe integer: [-2^21, 2^21). */
const HI_SAFE_MAX = 0x1f_ffff

// ---------------------------------------------------------------------------------------------
// Sizes.

/** The encoded size of a varint holding a non-negative safe integer. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1
  if (v < 0x4000) return 2
  if (v < 0x20_0000) return 3
  if (v < 0x1000_0000) return 4
  if (v < 0x8_0000_0000) return 5
  if (v < 0x400_0000_0000) return 6
  if (v < 0x2_0000_0000_0000) return 7
  return 8
}

/** An int64 (or int32) held as a number: negative values take ten bytes. */
export function int64Size(v: number): number {
  return v < 0 ? 10 : varintSize(v)
}

/** A uint64 or int64 held as a bigint. */
export function bigSize(v: bigint): number {
  if (v >= 0n && v <= MAX_SAFE_BIG) return varintSize(Number(v))
  return bigVarint(v).length
}

/**
 * The varint bytes of a bigint above 2^53 or negative, from a two-entry cache: such values are
 * almost always the member and cluster ids of a response header, written for every response
 * (a watch stream writes one per watcher per change).
 */
function bigVarint(v: bigint): Uint8Array {
  if (v === bigCacheA.v) return bigCacheA.bytes
  if (v === bigCacheB.v) return bigCacheB.bytes
  // Two 32-bit halves, shifted together seven bits at a time.
  const u = BigInt.asUintN(64, v)
  let hi = Number(u >> 32n)
  let lo = Number(u & 0xffff_ffffn)
  const out: number[] = []
  while (hi > 0 || lo > 0x7f) {
    out.push((lo & 0x7f) | 0x80)
    lo = ((lo >>> 7) | (hi << 25)) >>> 0
    hi >>>= 7
  }
  out.push(lo)
  const entry = { v, bytes: Uint8Array.from(out) }
  bigCacheB = bigCacheA
  bigCacheA = entry
  return entry.bytes
}

let bigCacheA: { v: bigint; bytes: Uint8Array } = { v: 0n, bytes: new Uint8Array([0]) }
let bigCacheB: { v: bigint; bytes: Uint8Array } = bigCacheA

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER)

export function tagSize(field: number): number {
  return varintSize(field << 3)
}

/** A length-delimited field whose body is `len` bytes. */
export function delimitedSize(field: number, len: number): number {
  return tagSize(field) + varintSize(len) + len
}

export function stringByteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8')
}

// ---------------------------------------------------------------------------------------------
// Writing.

export class Writer {
  pos: number
  constructor(
    readonly buf: Uint8Array,
    start = 0,
  ) {
    this.pos = start
  }

  varint(v: number): void {
    assert(Number.isSafeInteger(v) && v >= 0, 'varint of a negative or unsafe number')
    const buf = this.buf
    let pos = this.pos
    // Bit operations work on 32 bits; above that, divide (exact for safe integers).
    while (v > 0x7fff_ffff) {
      buf[pos++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    buf[pos++] = v
    this.pos = pos
  }

  big(v: bigint): void {
    if (v >= 0n && v <= MAX_SAFE_BIG) return this.varint(Number(v))
    const bytes = bigVarint(v)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  int64Value(v: number): void {
    assert(Number.isSafeInteger(v), 'int64 field of an unsafe number')
    if (v >= 0) this.varint(v)
    else this.big(BigInt(v))
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire)
  }

  /** An int64, uint64 or enum field held as a number; the caller skips zero. */
  int64(field: number, v: number): void {
    this.tag(field, WIRE_VARINT)
    this.int64Value(v)
  }

  bigField(field: number, v: bigint): void {
    this.tag(field, WIRE_VARINT)
    this.big(v)
  }

  bool(field: number, v: boolean): void {
    this.tag(field, WIRE_VARINT)
    this.buf[this.pos++] = v ? 1 : 0
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, WIRE_BYTES)
    this.varint(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  string(field: number, s: string, byteLength: number): void {
    this.tag(field, WIRE_BYTES)
    this.varint(byteLength)
    const written = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength).write(
      s,
      this.pos,
      'utf8',
    )
    assert(written === byteLength, 'string length changed between size and write')
    this.pos += byteLength
  }

  /** The tag and length of a nested message; the caller writes its body next. */
  header(field: number, len: number): void {
    this.tag(field, WIRE_BYTES)
    this.varint(len)
  }
}

// ---------------------------------------------------------------------------------------------
// Reading.

const utf8 = new TextDecoder('utf-8')

/** Reads from `buf`; `limit` is the end of the message being decoded (nested ones lower it). */
export class Reader {
  pos: number
  limit: number
  /** The two 32-bit halves of the last varint read by `varintParts`. */
  lo = 0
  hi = 0
  /** The wire type of the last tag read. */
  wire = 0
  /** Nesting depth of the message being read. */
  depth = 0

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start
    this.limit = end
  }

  private next(): number {
    if (this.pos >= this.limit) throw truncated()
    return this.buf[this.pos++] as number
  }

  /** Reads a varint of up to 10 bytes into lo/hi; bits beyond 64 are dropped, as Go does. */
  varintParts(): void {
    let lo = 0
    let b = 0
    for (let shift = 0; shift < 28; shift += 7) {
      b = this.next()
      lo |= (b & 0x7f) << shift
      if (b < 0x80) return this.setParts(lo, 0)
    }
    b = this.next()
    lo |= (b & 0x0f) << 28
    let hi = (b & 0x7f) >> 4
    if (b < 0x80) return this.setParts(lo, hi)
    for (let shift = 3; shift < 32; shift += 7) {
      b = this.next()
      hi |= (b & 0x7f) << shift
      if (b < 0x80) return this.setParts(lo, hi)
    }
    // A tenth byte with its high bit set: Go's "integer overflow".
    throw malformed('integer overflow')
  }

  private setParts(lo: number, hi: number): void {
    this.lo = lo >>> 0
    this.hi = hi >>> 0
  }

  /** An int64 as a number, saturated to ±(2^53-1) (see the module comment). */
  int64(): number {
    const pos = this.pos
    if (pos < this.limit) {
      const b = this.buf[pos] as number
      if (b < 0x80) {
        this.pos = pos + 1
        return b
      }
    }
    this.varintParts()
    const hi = this.hi | 0
    if (hi > HI_SAFE_MAX) return MAX_SAFE
    if (hi < -HI_SAFE_MAX - 1) return -MAX_SAFE
    const v = hi * TWO_POW_32 + this.lo
    return v < -MAX_SAFE ? -MAX_SAFE : v
  }

  /** A uint64 as a number, saturated to 2^53-1. */
  uint64(): number {
    this.varintParts()
    if (this.hi > HI_SAFE_MAX) return MAX_SAFE
    return this.hi * TWO_POW_32 + this.lo
  }

  /** A uint64 as a bigint (member and cluster ids). */
  uint64Big(): bigint {
    this.varintParts()
    if (this.hi === 0) return BigInt(this.lo)
    return (BigInt(this.hi) << 32n) | BigInt(this.lo)
  }

  /** An int64 as a bigint (lease ids). */
  int64Big(): bigint {
    this.varintParts()
    if (this.hi === 0) return BigInt(this.lo)
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo))
  }

  /** An enum (int32; proto3 enums are open, so any value is kept). */
  int32(): number {
    this.varintParts()
    return this.lo | 0
  }

  bool(): boolean {
    this.varintParts()
    return (this.lo | this.hi) !== 0
  }

  /** Reads a length prefix and checks that the body fits in the current message. */
  length(): number {
    this.varintParts()
    if (this.hi !== 0 || this.lo > this.limit - this.pos) {
      throw truncated()
    }
    return this.lo
  }

  bytes(): Uint8Array {
    const len = this.length()
    if (len === 0) return EMPTY_BYTES
    const b = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return b
  }

  string(): string {
    const len = this.length()
    if (len === 0) return ''
    const s = utf8.decode(this.buf.subarray(this.pos, this.pos + len))
    this.pos += len
    return s
  }

  /** Enters a nested message; returns the outer limit for `leave`. */
  enter(): number {
    const len = this.length()
    if (this.depth >= MAX_DEPTH) throw malformed(`messages nested deeper than ${MAX_DEPTH}`)
    const outer = this.limit
    this.limit = this.pos + len
    this.depth++
    return outer
  }

  leave(outer: number): void {
    assert(this.pos === this.limit, 'nested message not fully consumed')
    this.limit = outer
    this.depth--
  }

  /** Reads a tag; returns the field number, leaving the wire type in `wire`. */
  tag(): number {
    this.varintParts()
    const field = this.lo >>> 3
    this.wire = this.lo & 7
    if (this.hi !== 0 || field === 0) {
      throw malformed(`illegal tag ${field} (wire type ${this.wire})`)
    }
    if (this.wire === WIRE_END_GROUP) throw malformed('wiretype end group for non-group')
    return field
  }

  /** Checks the wire type of a known field (gogoproto: "wrong wireType = 2 for field Key"). */
  expect(wire: number, field: string): void {
    if (this.wire !== wire) throw malformed(`wrong wireType = ${this.wire} for field ${field}`)
  }

  /** Skips the value of an unknown field whose tag was just read. */
  skip(): void {
    if (this.wire === WIRE_START_GROUP) return this.skipGroup()
    this.skipValue(this.wire)
  }

  private skipValue(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        return this.varintParts()
      case WIRE_FIXED64:
        return this.advance(8)
      case WIRE_BYTES:
        return this.advance(this.length())
      case WIRE_FIXED32:
        return this.advance(4)
      default:
        throw malformed(`illegal wireType ${wire}`)
    }
  }

  /** Skips a (deprecated) group with a depth counter rather than recursion. */
  private skipGroup(): void {
    let depth = 1
    while (depth > 0) {
      this.varintParts()
      const wire = this.lo & 7
      if (wire === WIRE_START_GROUP) depth++
      else if (wire === WIRE_END_GROUP) depth--
      else this.skipValue(wire)
    }
  }

  private advance(n: number): void {
    if (n > this.limit - this.pos) throw truncated()
    this.pos += n
  }
}

/**
 * How one message type is written and read. `size` and `write` let an enclosing message (or the
 * gRPC framing, which writes its prefix in front) place it without copying.
 */
export interface MessageCodec<T> {
  readonly name: string
  size(value: T): number
  write(w: Writer, value: T): void
  read(r: Reader): T
}

/** Encodes into a fresh buffer with `headroom` bytes free in front (for framing). */
export function encodeMessage<T>(codec: MessageCodec<T>, value: T, headroom = 0): Uint8Array {
  const size = codec.size(value)
  const buf = Buffer.allocUnsafe(headroom + size)
  const w = new Writer(buf, headroom)
  codec.write(w, value)
  assert(w.pos === headroom + size, `${codec.name}: encoded length differs from its size`)
  return buf
}

/** Decodes a whole buffer; byte fields of the result are views into it. */
export function decodeMessage<T>(codec: MessageCodec<T>, buf: Uint8Array): T {
  const r = new Reader(buf)
  const value = codec.read(r)
  assert(r.pos === buf.length, `${codec.name}: decoder stopped before the end of its input`)
  return value
}

/** Reads a nested message of a known field. */
export function readNested<T>(r: Reader, codec: MessageCodec<T>, field: string): T {
  r.expect(WIRE_BYTES, field)
  const outer = r.enter()
  const value = codec.read(r)
  r.leave(outer)
  return value
}

/** Writes a nested message field (present, so written even when empty). */
export function writeNested<T>(w: Writer, field: number, codec: MessageCodec<T>, v: T): void {
  w.header(field, codec.size(v))
  codec.write(w, v)
}

export function nestedSize<T>(field: number, codec: MessageCodec<T>, v: T): number {
  return delimitedSize(field, codec.size(v))
}
