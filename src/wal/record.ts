/**
 * The on-disk record format, etcd's (server/storage/wal: encoder.go, decoder.go, walpb), so that
 * etcd's tools can read our WAL:
 *
 *   frame   = lenField (8 bytes, little endian) | record | padding to a multiple of 8
 *   lenField= record length in the low 56 bits; when padding is non-zero the top byte is
 *             0x80 | paddingBytes
 *   record  = walpb.Record protobuf: type (field 1, varint), crc (field 2, varint),
 *             data (field 3, bytes)
 *
 * `crc` is CRC-32C over the type and data of this record (see chainCrc; etcd covers only the data)
 * chained from the crc of the previous record, across segments: each segment opens with a crc record carrying the running value, so a lost or swapped
 * segment breaks the chain. Padding keeps every length field 8-byte aligned, so a torn length
 * field never straddles a sector (etcd encoder.go).
 */
import { crc32c } from './crc32c.js'

import type { ConfState, Entry, NodeId } from '../raft/raftpb/types.js'
import { decodeConfState, encodeConfState, varintSize } from '../raft/raftpb/codec.js'

export enum RecordType {
  Metadata = 1,
  Entry = 2,
  State = 3,
  Crc = 4,
  Snapshot = 5,
}

export const FRAME_HEADER_BYTES = 8

/** Who the WAL belongs to; a data dir of another node or cluster is refused at open. */
export interface WalMetadata {
  nodeId: NodeId
  clusterId: bigint
}

/** A snapshot marker: the WAL recorded that a snapshot at (index, term) is durable. */
export interface WalSnapshot {
  index: number
  term: number
  confState?: ConfState
}

export function padBytes(recBytes: number): number {
  return (8 - (recBytes % 8)) % 8
}

export function recordBytes(type: RecordType, crc: number, dataBytes: number): number {
  return 3 + varintSize(type) + varintSize(crc) + varintSize(dataBytes) + dataBytes
}

/** The whole frame (length field, record, padding) of a record with `dataBytes` of data. */
export function frameBytes(type: RecordType, crc: number, dataBytes: number): number {
  const rec = recordBytes(type, crc, dataBytes)
  return FRAME_HEADER_BYTES + rec + padBytes(rec)
}

function putVarint(buf: Uint8Array, pos: number, v: number): number {
  if (v <= 0xffff_ffff) {
    // The common case (crcs, lengths, terms, most indexes) in 32-bit operations, which are cheaper
    // than the division below.
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    buf[pos++] = v
    return pos
  }
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80
    v = Math.floor(v / 0x80)
  }
  buf[pos++] = v
  return pos
}

/**
 * The protobuf of an Entry up to its data (type, term, index, and the data field's tag and length),
 * in etcd's gogoproto form: type, term and index always present. The payload follows it as is, so
 * the WAL writes the head into its buffer and the payload beside it, never encoding it twice.
 */
export function entryHeadBytes(e: Entry): number {
  const data = e.data.length === 0 ? 0 : 1 + varintSize(e.data.length)
  return 3 + varintSize(e.type) + varintSize(e.term) + varintSize(e.index) + data
}

/** Writes the head of entryHeadBytes(e) bytes at `pos`; returns the position after it. */
export function putEntryHead(buf: Uint8Array, pos: number, e: Entry): number {
  let p = pos
  buf[p++] = 0x08
  p = putVarint(buf, p, e.type)
  buf[p++] = 0x10
  p = putVarint(buf, p, e.term)
  buf[p++] = 0x18
  p = putVarint(buf, p, e.index)
  if (e.data.length === 0) return p
  buf[p++] = 0x22
  return putVarint(buf, p, e.data.length)
}

/**
 * Writes a frame up to its data (length field, type, crc, data length) at `pos` of `buf`, for a
 * record of `dataBytes` bytes of data; returns the position where the data goes. The caller writes
 * the data and then `padBytes(rec)` zero bytes. `rec` is the record's protobuf length,
 * recordBytes(type, crc, dataBytes), which the encoder knows already; the encoder also checks the
 * position returned. Computing the sizes again here, and an assertion inside this function (it
 * then stopped being inlined), were 15% of the encoder's instructions per 128-byte entry.
 */
export function putFrameHead(
  buf: Uint8Array,
  pos: number,
  type: RecordType,
  crc: number,
  dataBytes: number,
  rec: number,
): number {
  const pad = -rec & 7 // padBytes(rec), without its two divisions
  // Little endian, written byte by byte: a DataView per record costs more than the record.
  const hi =
    (rec > 0xffff_ffff ? Math.floor(rec / 0x1_0000_0000) : 0) | (pad > 0 ? (0x80 | pad) << 24 : 0)
  buf[pos] = rec & 0xff
  buf[pos + 1] = (rec >>> 8) & 0xff
  buf[pos + 2] = (rec >>> 16) & 0xff
  buf[pos + 3] = (rec >>> 24) & 0xff
  buf[pos + 4] = hi & 0xff
  buf[pos + 5] = (hi >>> 8) & 0xff
  buf[pos + 6] = (hi >>> 16) & 0xff
  buf[pos + 7] = (hi >>> 24) & 0xff
  // RecordType's varint is one byte.
  buf[pos + 8] = 0x08
  buf[pos + 9] = type
  buf[pos + 10] = 0x10
  // The crc's varint inline: a 32-bit value, and this is the only varint of every record.
  let p = pos + 11
  let c = crc
  while (c > 0x7f) {
    buf[p++] = (c & 0x7f) | 0x80
    c >>>= 7
  }
  buf[p++] = c
  buf[p++] = 0x1a
  return putVarint(buf, p, dataBytes)
}

export interface DecodedRecord {
  type: RecordType
  crc: number
  data: Uint8Array
  /** The record's protobuf length, as its own fields describe it. */
  recBytes: number
}

function getVarint(buf: Uint8Array, pos: number, end: number): [number, number] | undefined {
  let v = 0
  let mul = 1
  for (let i = 0; i < 8 && pos < end; i++) {
    const b = buf[pos++] as number
    v += (b & 0x7f) * mul
    if (b < 0x80) return [v, pos]
    mul *= 0x80
  }
  return undefined
}

/**
 * Parses a walpb.Record laid out as we write it (type, crc, data, in that order) starting at
 * `pos`, reading no further than `end`. Returns undefined when the bytes are not such a record;
 * etcd accepts any field order, but only etcd's encoder order has ever been written.
 */
export function parseRecord(buf: Uint8Array, pos: number, end: number): DecodedRecord | undefined {
  const start = pos
  if (buf[pos++] !== 0x08) return undefined
  const t = getVarint(buf, pos, end)
  if (t === undefined || t[0] < RecordType.Metadata || t[0] > RecordType.Snapshot) return undefined
  pos = t[1]
  if (buf[pos++] !== 0x10) return undefined
  const c = getVarint(buf, pos, end)
  if (c === undefined || c[0] > 0xffff_ffff) return undefined
  pos = c[1]
  if (buf[pos++] !== 0x1a) return undefined
  const l = getVarint(buf, pos, end)
  if (l === undefined || l[1] + l[0] > end) return undefined
  const data = buf.subarray(l[1], l[1] + l[0])
  return { type: t[0] as RecordType, crc: c[0], data, recBytes: l[1] + l[0] - start }
}

/**
 * The chained crc of a record. Unlike etcd, the record type is folded into the chain (xored into
 * the running value before the data): etcd's crc covers only the data, so one flipped bit in the
 * type turns an entry into a "hard state" that still verifies, and the entry vanishes silently.
 * CRC is linear with an invertible step, so any change of the type changes the result.
 */
export function chainCrc(
  prev: number,
  type: RecordType,
  data: Uint8Array,
  tail?: Uint8Array,
): number {
  const crc = crc32c(data, (prev ^ type) >>> 0)
  return tail === undefined ? crc : crc32c(tail, crc)
}

// --- Record payloads. Metadata and the snapshot marker are etcd's protobufs (etcdserverpb.Metadata,
// walpb.Snapshot): proto2 with every field written.

function putVarintBig(out: number[], v: bigint): void {
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
}

function getVarintBig(buf: Uint8Array, pos: number): [bigint, number] | undefined {
  let v = 0n
  for (let shift = 0n; shift < 70n && pos < buf.length; shift += 7n) {
    const b = buf[pos++] as number
    v |= BigInt(b & 0x7f) << shift
    if (b < 0x80) return v <= 0xffff_ffff_ffff_ffffn ? [v, pos] : undefined
  }
  return undefined
}

export function encodeMetadata(md: WalMetadata): Uint8Array {
  const out: number[] = [0x08]
  putVarintBig(out, md.nodeId)
  out.push(0x10)
  putVarintBig(out, md.clusterId)
  return Uint8Array.from(out)
}

export function decodeMetadata(buf: Uint8Array): WalMetadata | undefined {
  if (buf[0] !== 0x08) return undefined
  const n = getVarintBig(buf, 1)
  if (n === undefined || buf[n[1]] !== 0x10) return undefined
  const c = getVarintBig(buf, n[1] + 1)
  if (c === undefined || c[1] !== buf.length) return undefined
  return { nodeId: n[0], clusterId: c[0] }
}

export function encodeSnapshotMarker(s: WalSnapshot): Uint8Array {
  const out: number[] = [0x08]
  putVarintBig(out, BigInt(s.index))
  out.push(0x10)
  putVarintBig(out, BigInt(s.term))
  const head = Uint8Array.from(out)
  if (s.confState === undefined) return head
  const cs = encodeConfState(s.confState)
  const lenBytes: number[] = []
  putVarintBig(lenBytes, BigInt(cs.length))
  const buf = new Uint8Array(head.length + 1 + lenBytes.length + cs.length)
  buf.set(head)
  buf[head.length] = 0x1a
  buf.set(lenBytes, head.length + 1)
  buf.set(cs, head.length + 1 + lenBytes.length)
  return buf
}

export function decodeSnapshotMarker(buf: Uint8Array): WalSnapshot | undefined {
  if (buf[0] !== 0x08) return undefined
  const i = getVarintBig(buf, 1)
  if (i === undefined || buf[i[1]] !== 0x10) return undefined
  const t = getVarintBig(buf, i[1] + 1)
  if (t === undefined) return undefined
  const index = Number(i[0])
  const term = Number(t[0])
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term)) return undefined
  if (t[1] === buf.length) return { index, term }
  if (buf[t[1]] !== 0x1a) return undefined
  const l = getVarintBig(buf, t[1] + 1)
  if (l === undefined || l[1] + Number(l[0]) !== buf.length) return undefined
  return { index, term, confState: decodeConfState(buf.subarray(l[1])) }
}
