/**
 * The on-disk record format. Frames are etcd's (server/storage/wal: encoder.go, decoder.go, walpb):
 *
 *   frame   = lenField (8 bytes, little endian) | record | padding to a multiple of 8
 *   lenField= record length in the low 56 bits; the top byte is 0x80 | paddingBytes, the 0x80 set
 *             even when there is no padding (etcd sets it only with padding; its decoder reads
 *             both). So every length field has two set bits or more: a single flipped bit never
 *             turns one into zeros, which is what a lost sector reads as.
 *   record  = walpb.Record protobuf: type (field 1, varint), crc (field 2, varint),
 *             data (field 3, bytes)
 *
 * `crc` is CRC-32C over the type and data of this record (see chainCrc; etcd covers only the data)
 * chained from the crc of the previous record, across segments: each segment opens with a crc
 * record carrying the running value, so a lost or swapped segment breaks the chain. Padding keeps
 * every length field 8-byte aligned, so a length field never straddles a sector (etcd
 * encoder.go); padding bytes are zeros, and recovery checks that they are.
 *
 * Batches (Pontoon's own; etcd has none). Each write of the WAL (a group commit, or a segment's
 * header) is a batch, and ends with a commit record (RecordType.Commit, COMMIT_FRAME_BYTES long,
 * always the same size) saying where the batch started, how far the segment was durable when the
 * batch was written (`synced`), and whether the batch holds a weak sector. Recovery replays a
 * batch only once its commit record checks out, so a batch is all or nothing; and it tells a torn
 * unsynced tail from damaged synced data by them (scan.ts):
 * - a torn write leaves whole 512-byte sectors as they were before it: zeros, since a segment is
 *   preallocated and never reused. A sector of a batch that holds two set bits or more cannot
 *   read as zeros through a flipped bit, only through a write that never reached the disk;
 * - a batch whose sectors could read as zeros through one flipped bit (a payload with 512 zero
 *   bytes in a row, or a single set bit among them) is marked weak, and is acknowledged only once
 *   a later batch, written after its fdatasync returned, is durable: that batch's `synced` is the
 *   proof recovery looks for before calling damage in it a torn write;
 * - a commit record that survives past damaged bytes, claiming the segment was durable beyond
 *   them, shows the damage is in synced data.
 * The commit record's crc can be checked on its own (it carries `crcIn`, the running crc before
 * it), so recovery finds commit records after a damaged stretch without the chain.
 */
import { crc32c } from './crc32c.js'

import type { ConfState, Entry, NodeId } from '../raft/index.js'
import { decodeConfState, encodeConfState } from '../raft/index.js'

export enum RecordType {
  Metadata = 1,
  Entry = 2,
  State = 3,
  Crc = 4,
  Snapshot = 5,
  /** The end of a batch: see the module comment and encodeCommit. */
  Commit = 6,
}

export const FRAME_HEADER_BYTES = 8

/** The frame flag, set in every length field written (see the module comment). */
export const FRAME_FLAG = 0x80

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

/**
 * The bytes of `v` (a non-negative safe integer) as a protobuf varint. Comparisons, not a loop of
 * divisions: the encoder asks for every record. The core's codec has the same helper; it stays
 * private there (a codec internal), and the WAL sees only pontoon/raft's public surface.
 */
export function varintSize(v: number): number {
  if (v < 0x80) return 1
  if (v < 0x4000) return 2
  if (v < 0x20_0000) return 3
  if (v < 0x1000_0000) return 4
  if (v < 0x8_0000_0000) return 5
  if (v < 0x400_0000_0000) return 6
  if (v < 0x2_0000_0000_0000) return 7
  return 8 // 2^49 <= v <= 2^53-1
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
 * then stopped being inlined), were a large share of the encoder's work per small entry
 * (bench/README.md).
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
  const hi = (rec > 0xffff_ffff ? Math.floor(rec / 0x1_0000_0000) : 0) | ((FRAME_FLAG | pad) << 24)
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
  if (t === undefined || t[0] < RecordType.Metadata || t[0] > RecordType.Commit) return undefined
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

// --- The commit record that ends every batch.

/** What a commit record says about its batch. */
export interface Commit {
  /** The offset in the segment where the batch starts. */
  start: number
  /** The offset up to which the segment was durable when the batch was written; <= start. */
  synced: number
  /** The running crc before the commit record (so that its own crc can be checked alone). */
  crcIn: number
  /** COMMIT_WEAK, or 0. */
  flags: number
}

/** The batch holds a sector that one flipped bit could turn into zeros (see hasWeakSector). */
export const COMMIT_WEAK = 1

/**
 * The commit record's frame, always this long and never padded, so that it ends with its magic:
 *
 *   [0, 8)   length field: 48 | 0x80 << 56
 *   [8, 18)  0x08 0x06 (type), 0x10 crc (a 5-byte varint, even for small values), 0x1a 38
 *   [18, 56) data, a protobuf of fixed-size fields: 0x09 start (fixed64), 0x11 synced (fixed64),
 *            0x1d crcIn (fixed32), 0x25 flags (fixed32), 0x81 0x01 magic (field 16, fixed64)
 *
 * The magic ("PONTOON!", two set bits or more in every byte) makes the last sector of a batch
 * strong whatever the records before it end with, and a commit record easy to spot when
 * recovery looks for one past a damaged stretch.
 */
export const COMMIT_FRAME_BYTES = 56
const COMMIT_REC_BYTES = COMMIT_FRAME_BYTES - FRAME_HEADER_BYTES
const COMMIT_DATA_BYTES = 38
const COMMIT_DATA_AT = 18
const COMMIT_MAGIC = [0x50, 0x4f, 0x4e, 0x54, 0x4f, 0x4f, 0x4e, 0x21]
/** Where the magic starts in the frame. */
export const COMMIT_MAGIC_AT = COMMIT_FRAME_BYTES - 8

function putU32(buf: Uint8Array, pos: number, v: number): void {
  buf[pos] = v & 0xff
  buf[pos + 1] = (v >>> 8) & 0xff
  buf[pos + 2] = (v >>> 16) & 0xff
  buf[pos + 3] = (v >>> 24) & 0xff
}

function getU32(buf: Uint8Array, pos: number): number {
  return (
    ((buf[pos] as number) |
      ((buf[pos + 1] as number) << 8) |
      ((buf[pos + 2] as number) << 16) |
      ((buf[pos + 3] as number) << 24)) >>>
    0
  )
}

function putU64(buf: Uint8Array, pos: number, v: number): void {
  putU32(buf, pos, v >>> 0)
  putU32(buf, pos + 4, Math.floor(v / 0x1_0000_0000))
}

function getU64(buf: Uint8Array, pos: number): number {
  return getU32(buf, pos) + getU32(buf, pos + 4) * 0x1_0000_0000
}

/** The length field every commit record has, as the two 32-bit halves scan.ts reads. */
export const COMMIT_LEN_LO = COMMIT_REC_BYTES
export const COMMIT_LEN_HI = (FRAME_FLAG << 24) >>> 0

/**
 * Writes the commit record `c` as a frame at `pos` of `buf` (COMMIT_FRAME_BYTES of room) and
 * returns its crc, the running crc after it: chainCrc(c.crcIn, Commit, data), like any record's.
 */
export function encodeCommit(buf: Uint8Array, pos: number, c: Commit): number {
  putU32(buf, pos, COMMIT_LEN_LO)
  putU32(buf, pos + 4, COMMIT_LEN_HI)
  const d = pos + COMMIT_DATA_AT
  buf[d] = 0x09
  putU64(buf, d + 1, c.start)
  buf[d + 9] = 0x11
  putU64(buf, d + 10, c.synced)
  buf[d + 18] = 0x1d
  putU32(buf, d + 19, c.crcIn)
  buf[d + 23] = 0x25
  putU32(buf, d + 24, c.flags)
  buf[d + 28] = 0x81
  buf[d + 29] = 0x01
  buf.set(COMMIT_MAGIC, d + 30)
  const crc = chainCrc(c.crcIn, RecordType.Commit, buf.subarray(d, d + COMMIT_DATA_BYTES))
  buf[pos + 8] = 0x08
  buf[pos + 9] = RecordType.Commit
  buf[pos + 10] = 0x10
  // The crc as a varint of exactly five bytes, so that the record's size never changes.
  buf[pos + 11] = (crc & 0x7f) | 0x80
  buf[pos + 12] = ((crc >>> 7) & 0x7f) | 0x80
  buf[pos + 13] = ((crc >>> 14) & 0x7f) | 0x80
  buf[pos + 14] = ((crc >>> 21) & 0x7f) | 0x80
  buf[pos + 15] = crc >>> 28
  buf[pos + 16] = 0x1a
  buf[pos + 17] = COMMIT_DATA_BYTES
  return crc
}

/** The commit record in `data` (a record's data), or undefined if it is not one as we write it. */
export function decodeCommit(data: Uint8Array): Commit | undefined {
  if (data.length !== COMMIT_DATA_BYTES) return undefined
  const tags = [
    [0, 0x09],
    [9, 0x11],
    [18, 0x1d],
    [23, 0x25],
    [28, 0x81],
    [29, 0x01],
  ] as const
  for (const [at, tag] of tags) if (data[at] !== tag) return undefined
  for (let i = 0; i < 8; i++) if (data[30 + i] !== COMMIT_MAGIC[i]) return undefined
  const start = getU64(data, 1)
  const synced = getU64(data, 10)
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(synced)) return undefined
  return { start, synced, crcIn: getU32(data, 19), flags: getU32(data, 24) }
}

/** Whether the 8 bytes at `pos` of `buf` are a commit record's magic. */
export function isCommitMagic(buf: Uint8Array, pos: number): boolean {
  for (let i = 0; i < 8; i++) if (buf[pos + i] !== COMMIT_MAGIC[i]) return false
  return true
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
