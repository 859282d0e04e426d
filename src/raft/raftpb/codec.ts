/**
 * The protobuf (proto2) wire codec for the raftpb records, with etcd-io/raft's field numbers
 * (raftpb/raft.proto).
 *
 * Encoding follows etcd-io/raft after its move away from gogoproto's non-nullable fields: an
 * optional field is written only when it holds a value, which for our records means non-zero
 * numbers, non-empty byte strings and non-empty nested records. Two exceptions keep what Go always
 * sets: `Message.snapshot` is written whenever it is non-null (even when empty), and the fields Go
 * marks non-nullable or always fills in (ConfChangeV2.transition, ConfChangeSingle.type/node_id,
 * ConfChange.type/node_id) are always written. Repeated uint64 fields are unpacked, as proto2
 * writes them; the decoder accepts packed ones too, as every proto2 parser must.
 *
 * Decoding treats its input as untrusted: any defect (truncation, bad wire type for a known field,
 * a length running past the end, a term or index above 2^53-1, an unknown enum value, nesting
 * deeper than MAX_DEPTH) throws a RaftError with code MALFORMED and nothing else. Unknown fields
 * are skipped. Decoding copies its input once and byte fields are views into that copy, so the
 * caller may reuse the input buffer (and a retained field keeps that whole copy alive).
 *
 * Sizes are computed before encoding so each encode allocates exactly one Uint8Array (see
 * `allocate` for where it comes from) and writes it in place; entrySize doubles as the size
 * measure for MaxSizePerMsg and MaxCommittedSizePerReady.
 */

import { assert } from '../assert.js'
import { RaftError } from '../errors.js'
import {
  ConfChangeTransition,
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  MessageType,
  None,
  emptyConfState,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
  type SnapshotMetadata,
} from './types.js'

/** Message.responses nest Messages; deeper input is rejected before it can exhaust the stack. */
export const MAX_DEPTH = 100

const WIRE_VARINT = 0
const WIRE_FIXED64 = 1
const WIRE_BYTES = 2
const WIRE_START_GROUP = 3
const WIRE_END_GROUP = 4
const WIRE_FIXED32 = 5

const MAX_UINT64 = 0xffff_ffff_ffff_ffffn
const TWO_POW_32 = 4294967296

const MAX_ENTRY_TYPE = EntryType.EntryConfChangeV2
const MAX_MESSAGE_TYPE = MessageType.MsgForgetLeader
const MAX_CONF_CHANGE_TYPE = ConfChangeType.ConfChangeAddLearnerNode
const MAX_TRANSITION = ConfChangeTransition.ConfChangeTransitionJointExplicit

function malformed(detail: string): RaftError {
  return new RaftError('MALFORMED', `proto: ${detail}`)
}

// ---------------------------------------------------------------------------------------------
// Sizes. Every field number here is below 16, so each tag is one byte.

/** The encoded size of a varint holding a non-negative safe integer. */
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

/**
 * Converting to a number first is cheaper than comparing bigints, and exact enough to choose the
 * path: every id of 2^53 or more converts to at least 2^53.
 */
function idSize(v: NodeId): number {
  const n = Number(v)
  if (n <= Number.MAX_SAFE_INTEGER) return varintSize(n)
  if (v < 1n << 56n) return 8
  return v < 1n << 63n ? 9 : 10
}

/** Size of a tagged length-delimited field whose body is `len` bytes. */
function delimitedSize(len: number): number {
  return 1 + varintSize(len) + len
}

/** The encoded size of one Entry (etcd-io/raft's `Entry.Size()`), computed without allocating. */
export function entrySize(e: Entry): number {
  let n = 0
  if (e.type !== EntryType.EntryNormal) n += 1 + varintSize(e.type)
  if (e.term !== 0) n += 1 + varintSize(e.term)
  if (e.index !== 0) n += 1 + varintSize(e.index)
  if (e.data.length > 0) n += delimitedSize(e.data.length)
  return n
}

/** The summed encoded size of entries (etcd-io/raft `entsSize`). */
export function entsSize(ents: readonly Entry[]): number {
  let n = 0
  for (let i = 0; i < ents.length; i++) n += entrySize(ents[i] as Entry)
  return n
}

/** The size of an entry's payload: its data length, independent of term and index. */
export function payloadSize(e: Entry): number {
  return e.data.length
}

export function payloadsSize(ents: readonly Entry[]): number {
  let n = 0
  for (let i = 0; i < ents.length; i++) n += (ents[i] as Entry).data.length
  return n
}

export function hardStateSize(hs: HardState): number {
  let n = 0
  if (hs.term !== 0) n += 1 + varintSize(hs.term)
  if (hs.vote !== None) n += 1 + idSize(hs.vote)
  if (hs.commit !== 0) n += 1 + varintSize(hs.commit)
  return n
}

function idsSize(ids: readonly NodeId[]): number {
  let n = ids.length // one tag byte each
  for (let i = 0; i < ids.length; i++) n += idSize(ids[i] as NodeId)
  return n
}

export function confStateSize(cs: ConfState): number {
  let n = idsSize(cs.voters) + idsSize(cs.learners)
  n += idsSize(cs.votersOutgoing) + idsSize(cs.learnersNext)
  if (cs.autoLeave) n += 2
  return n
}

export function snapshotMetadataSize(md: SnapshotMetadata): number {
  let n = 0
  const cs = confStateSize(md.confState)
  if (cs > 0) n += delimitedSize(cs)
  if (md.index !== 0) n += 1 + varintSize(md.index)
  if (md.term !== 0) n += 1 + varintSize(md.term)
  return n
}

export function snapshotSize(s: Snapshot): number {
  let n = 0
  if (s.data.length > 0) n += delimitedSize(s.data.length)
  const md = snapshotMetadataSize(s.metadata)
  if (md > 0) n += delimitedSize(md)
  return n
}

export function messageSize(m: Message): number {
  let n = 0
  if (m.type !== MessageType.MsgHup) n += 1 + varintSize(m.type)
  if (m.to !== None) n += 1 + idSize(m.to)
  if (m.from !== None) n += 1 + idSize(m.from)
  if (m.term !== 0) n += 1 + varintSize(m.term)
  if (m.logTerm !== 0) n += 1 + varintSize(m.logTerm)
  if (m.index !== 0) n += 1 + varintSize(m.index)
  for (let i = 0; i < m.entries.length; i++) n += delimitedSize(entrySize(m.entries[i] as Entry))
  if (m.commit !== 0) n += 1 + varintSize(m.commit)
  if (m.snapshot !== null) n += delimitedSize(snapshotSize(m.snapshot))
  if (m.reject) n += 2
  if (m.rejectHint !== 0) n += 1 + varintSize(m.rejectHint)
  if (m.context.length > 0) n += delimitedSize(m.context.length)
  if (m.vote !== None) n += 1 + idSize(m.vote)
  for (let i = 0; i < m.responses.length; i++) {
    n += delimitedSize(messageSize(m.responses[i] as Message))
  }
  return n
}

export function confChangeSize(cc: ConfChange): number {
  let n = 0
  if (cc.id !== 0n) n += 1 + idSize(cc.id)
  n += 1 + varintSize(cc.type)
  n += 1 + idSize(cc.nodeId)
  if (cc.context.length > 0) n += delimitedSize(cc.context.length)
  return n
}

export function confChangeSingleSize(cc: ConfChangeSingle): number {
  return 2 + varintSize(cc.type) + idSize(cc.nodeId)
}

export function confChangeV2Size(cc: ConfChangeV2): number {
  let n = 1 + varintSize(cc.transition)
  for (let i = 0; i < cc.changes.length; i++) {
    n += delimitedSize(confChangeSingleSize(cc.changes[i] as ConfChangeSingle))
  }
  if (cc.context.length > 0) n += delimitedSize(cc.context.length)
  return n
}

// ---------------------------------------------------------------------------------------------
// Encoding.

function tag(field: number, wire: number): number {
  return (field << 3) | wire
}

class Writer {
  pos = 0
  constructor(readonly buf: Uint8Array) {}

  byte(b: number): void {
    this.buf[this.pos++] = b
  }

  varint(v: number): void {
    assert(Number.isSafeInteger(v), 'varint of a non-integer or unsafe number')
    assert(v >= 0, 'varint of a negative number')
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

  id(v: NodeId): void {
    const n = Number(v)
    if (n <= Number.MAX_SAFE_INTEGER) return this.varint(n)
    assert(v >= 0n && v <= MAX_UINT64, 'node id outside the uint64 range')
    while (v > 0x7fn) {
      this.byte(Number(v & 0x7fn) | 0x80)
      v >>= 7n
    }
    this.byte(Number(v))
  }

  /** A varint field. */
  uint(field: number, v: number): void {
    this.byte(tag(field, WIRE_VARINT))
    this.varint(v)
  }

  idField(field: number, v: NodeId): void {
    this.byte(tag(field, WIRE_VARINT))
    this.id(v)
  }

  bytes(field: number, b: Uint8Array): void {
    this.byte(tag(field, WIRE_BYTES))
    this.varint(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** Writes the tag and length of a nested record; the caller writes its body next. */
  header(field: number, len: number): void {
    this.byte(tag(field, WIRE_BYTES))
    this.varint(len)
  }
}

function writeEntry(w: Writer, e: Entry): void {
  if (e.type !== EntryType.EntryNormal) w.uint(1, e.type)
  if (e.term !== 0) w.uint(2, e.term)
  if (e.index !== 0) w.uint(3, e.index)
  if (e.data.length > 0) w.bytes(4, e.data)
}

function writeHardState(w: Writer, hs: HardState): void {
  if (hs.term !== 0) w.uint(1, hs.term)
  if (hs.vote !== None) w.idField(2, hs.vote)
  if (hs.commit !== 0) w.uint(3, hs.commit)
}

function writeIds(w: Writer, field: number, ids: readonly NodeId[]): void {
  for (let i = 0; i < ids.length; i++) {
    w.idField(field, ids[i] as NodeId)
  }
}

function writeConfState(w: Writer, cs: ConfState): void {
  writeIds(w, 1, cs.voters)
  writeIds(w, 2, cs.learners)
  writeIds(w, 3, cs.votersOutgoing)
  writeIds(w, 4, cs.learnersNext)
  if (cs.autoLeave) w.uint(5, 1)
}

function writeSnapshotMetadata(w: Writer, md: SnapshotMetadata): void {
  const cs = confStateSize(md.confState)
  if (cs > 0) {
    w.header(1, cs)
    writeConfState(w, md.confState)
  }
  if (md.index !== 0) w.uint(2, md.index)
  if (md.term !== 0) w.uint(3, md.term)
}

function writeSnapshot(w: Writer, s: Snapshot): void {
  if (s.data.length > 0) w.bytes(1, s.data)
  const md = snapshotMetadataSize(s.metadata)
  if (md > 0) {
    w.header(2, md)
    writeSnapshotMetadata(w, s.metadata)
  }
}

function writeMessage(w: Writer, m: Message): void {
  if (m.type !== MessageType.MsgHup) w.uint(1, m.type)
  if (m.to !== None) w.idField(2, m.to)
  if (m.from !== None) w.idField(3, m.from)
  if (m.term !== 0) w.uint(4, m.term)
  if (m.logTerm !== 0) w.uint(5, m.logTerm)
  if (m.index !== 0) w.uint(6, m.index)
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i] as Entry
    w.header(7, entrySize(e))
    writeEntry(w, e)
  }
  if (m.commit !== 0) w.uint(8, m.commit)
  if (m.snapshot !== null) {
    w.header(9, snapshotSize(m.snapshot))
    writeSnapshot(w, m.snapshot)
  }
  if (m.reject) w.uint(10, 1)
  if (m.rejectHint !== 0) w.uint(11, m.rejectHint)
  if (m.context.length > 0) w.bytes(12, m.context)
  if (m.vote !== None) w.idField(13, m.vote)
  for (let i = 0; i < m.responses.length; i++) {
    const r = m.responses[i] as Message
    w.header(14, messageSize(r))
    writeMessage(w, r)
  }
}

function writeConfChange(w: Writer, cc: ConfChange): void {
  if (cc.id !== 0n) w.idField(1, cc.id)
  w.uint(2, cc.type)
  w.idField(3, cc.nodeId)
  if (cc.context.length > 0) w.bytes(4, cc.context)
}

function writeConfChangeSingle(w: Writer, cc: ConfChangeSingle): void {
  w.uint(1, cc.type)
  w.idField(2, cc.nodeId)
}

function writeConfChangeV2(w: Writer, cc: ConfChangeV2): void {
  w.uint(1, cc.transition)
  for (let i = 0; i < cc.changes.length; i++) {
    const c = cc.changes[i] as ConfChangeSingle
    w.header(2, confChangeSingleSize(c))
    writeConfChangeSingle(w, c)
  }
  if (cc.context.length > 0) w.bytes(3, cc.context)
}

/*
 * Typed arrays above 64 bytes live outside V8's heap and cost about a microsecond each to create,
 * twenty times a view on an existing buffer. Mid-sized encodings are therefore carved from shared
 * slabs, as Node's Buffer pool does: a result may share its ArrayBuffer with others (always honour
 * byteOffset), and one retained result keeps at most a SLAB_SIZE slab alive. Slab space is never
 * reused, so no result can see another's bytes through its own range.
 */
const IN_HEAP_MAX = 64
const SLAB_SIZE = 16 * 1024
const POOLED_MAX = SLAB_SIZE / 4
let slab = new ArrayBuffer(SLAB_SIZE)
let slabUsed = 0

function allocate(size: number): Uint8Array {
  if (size <= IN_HEAP_MAX || size > POOLED_MAX) return new Uint8Array(size)
  if (size > SLAB_SIZE - slabUsed) {
    slab = new ArrayBuffer(SLAB_SIZE)
    slabUsed = 0
  }
  const out = new Uint8Array(slab, slabUsed, size)
  slabUsed += (size + 7) & ~7 // keep views 8-byte aligned
  return out
}

function encodeWith<T>(value: T, size: number, write: (w: Writer, value: T) => void): Uint8Array {
  const w = new Writer(allocate(size))
  write(w, value)
  assert(w.pos === size, 'encoded length differs from the computed size')
  return w.buf
}

export function encodeEntry(e: Entry): Uint8Array {
  return encodeWith(e, entrySize(e), writeEntry)
}

export function encodeHardState(hs: HardState): Uint8Array {
  return encodeWith(hs, hardStateSize(hs), writeHardState)
}

export function encodeConfState(cs: ConfState): Uint8Array {
  return encodeWith(cs, confStateSize(cs), writeConfState)
}

export function encodeSnapshotMetadata(md: SnapshotMetadata): Uint8Array {
  return encodeWith(md, snapshotMetadataSize(md), writeSnapshotMetadata)
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  return encodeWith(s, snapshotSize(s), writeSnapshot)
}

export function encodeMessage(m: Message): Uint8Array {
  return encodeWith(m, messageSize(m), writeMessage)
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encodeWith(cc, confChangeSize(cc), writeConfChange)
}

export function encodeConfChangeSingle(cc: ConfChangeSingle): Uint8Array {
  return encodeWith(cc, confChangeSingleSize(cc), writeConfChangeSingle)
}

export function encodeConfChangeV2(cc: ConfChangeV2): Uint8Array {
  return encodeWith(cc, confChangeV2Size(cc), writeConfChangeV2)
}

// ---------------------------------------------------------------------------------------------
// Decoding.

/** Reads from `buf`; `limit` is the end of the record being decoded (nested records lower it). */
class Reader {
  pos = 0
  limit: number
  /** The two 32-bit halves of the last varint read by `varintParts`. */
  lo = 0
  hi = 0
  /** The wire type of the last tag read. */
  wire = 0

  /** Decoding works on a private copy of the input: byte fields become views into it. */
  readonly buf: Uint8Array

  constructor(input: Uint8Array) {
    this.buf = allocate(input.length)
    this.buf.set(input)
    this.limit = input.length
  }

  private next(): number {
    if (this.pos >= this.limit) throw malformed(`unexpected EOF at offset ${this.pos}`)
    return this.buf[this.pos++] as number
  }

  /** Reads a varint of up to 10 bytes into lo/hi; bits beyond 64 are dropped, as Go does. */
  varintParts(): void {
    const start = this.pos
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
    throw malformed(`integer overflow at offset ${start}`)
  }

  private setParts(lo: number, hi: number): void {
    this.lo = lo >>> 0
    this.hi = hi >>> 0
  }

  /** A term, index or length: a varint that must fit a safe integer. */
  uint53(field: string): number {
    const pos = this.pos
    if (pos < this.limit) {
      const b = this.buf[pos] as number
      if (b < 0x80) {
        this.pos = pos + 1
        return b
      }
    }
    this.varintParts()
    if (this.hi > 0x1f_ffff) {
      const v = (BigInt(this.hi) << 32n) | BigInt(this.lo)
      throw malformed(`${field} = ${v} exceeds 2^53-1`)
    }
    return this.hi * TWO_POW_32 + this.lo
  }

  id(): NodeId {
    this.varintParts()
    if (this.hi === 0) return BigInt(this.lo)
    return (BigInt(this.hi) << 32n) | BigInt(this.lo)
  }

  bool(): boolean {
    this.varintParts()
    return (this.lo | this.hi) !== 0
  }

  enumValue(field: string, max: number): number {
    this.varintParts()
    if (this.hi !== 0 || this.lo > max) {
      const v = (BigInt(this.hi) << 32n) | BigInt(this.lo)
      throw malformed(`unknown enum value ${v} for field ${field}`)
    }
    return this.lo
  }

  /** Reads a length prefix and checks that the body fits in the current record. */
  length(): number {
    const at = this.pos
    const len = this.uint53('length')
    if (len > this.limit - this.pos) {
      throw malformed(`length ${len} at offset ${at} runs past the end of its record`)
    }
    return len
  }

  bytes(): Uint8Array {
    const len = this.length()
    if (len === 0) return EMPTY_BYTES
    const b = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return b
  }

  /** Enters a nested record; returns the outer limit for `leave`. */
  enter(): number {
    const len = this.length()
    const outer = this.limit
    this.limit = this.pos + len
    return outer
  }

  leave(outer: number): void {
    assert(this.pos === this.limit, 'nested record not fully consumed')
    this.limit = outer
  }

  /** Reads a tag; returns the field number, leaving the wire type in `wire`. */
  tag(): number {
    const at = this.pos
    this.varintParts()
    const field = this.lo >>> 3
    this.wire = this.lo & 7
    if (this.hi !== 0 || field === 0) {
      throw malformed(`illegal tag ${field} (wire type ${this.wire}) at offset ${at}`)
    }
    if (this.wire === WIRE_END_GROUP) {
      throw malformed(`wiretype end group for non-group at offset ${at}`)
    }
    return field
  }

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
        throw malformed(`illegal wireType ${wire} at offset ${this.pos}`)
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
    if (n > this.limit - this.pos) throw malformed(`unexpected EOF at offset ${this.limit}`)
    this.pos += n
  }
}

function readEntry(r: Reader): Entry {
  let type = EntryType.EntryNormal
  let term = 0
  let index = 0
  let data = EMPTY_BYTES
  while (r.pos < r.limit) {
    switch (r.tag()) {
      case 1:
        r.expect(WIRE_VARINT, 'Entry.Type')
        type = r.enumValue('Entry.Type', MAX_ENTRY_TYPE)
        break
      case 2:
        r.expect(WIRE_VARINT, 'Entry.Term')
        term = r.uint53('Entry.Term')
        break
      case 3:
        r.expect(WIRE_VARINT, 'Entry.Index')
        index = r.uint53('Entry.Index')
        break
      case 4:
        r.expect(WIRE_BYTES, 'Entry.Data')
        data = r.bytes()
        break
      default:
        r.skip()
    }
  }
  return { term, index, type, data }
}

function readHardState(r: Reader): HardState {
  let term = 0
  let vote = None
  let commit = 0
  while (r.pos < r.limit) {
    switch (r.tag()) {
      case 1:
        r.expect(WIRE_VARINT, 'HardState.term')
        term = r.uint53('HardState.term')
        break
      case 2:
        r.expect(WIRE_VARINT, 'HardState.vote')
        vote = r.id()
        break
      case 3:
        r.expect(WIRE_VARINT, 'HardState.commit')
        commit = r.uint53('HardState.commit')
        break
      default:
        r.skip()
    }
  }
  return { term, vote, commit }
}

/** Appends one id (unpacked) or a run of ids (packed) to `ids`. */
function readIds(r: Reader, ids: NodeId[], field: string): void {
  if (r.wire === WIRE_VARINT) {
    ids.push(r.id())
    return
  }
  r.expect(WIRE_BYTES, field)
  const outer = r.enter()
  while (r.pos < r.limit) ids.push(r.id())
  r.leave(outer)
}

function readConfState(r: Reader): ConfState {
  const cs = emptyConfState()
  while (r.pos < r.limit) {
    switch (r.tag()) {
      case 1:
        readIds(r, cs.voters, 'ConfState.voters')
        break
      case 2:
        readIds(r, cs.learners, 'ConfState.learners')
        break
      case 3:
        readIds(r, cs.votersOutgoing, 'ConfState.voters_outgoing')
        break
      case 4:
        readIds(r, cs.learnersNext, 'ConfState.learners_next')
        break
      case 5:
        r.expect(WIRE_VARINT, 'ConfState.auto_leave')
        cs.autoLeave = r.bool()
        break
      default:
        r.skip()
    }
  }
  return cs
}

function readNested<T>(r: Reader, field: string, read: (r: Reader) => T): T {
  r.expect(WIRE_BYTES, field)
  const outer = r.enter()
  const value = read(r)
  r.leave(outer)
  return value
}

function readSnapshotMetadata(r: Reader): SnapshotMetadata {
  let confState: ConfState | null = null
  let index = 0
  let term = 0
  while (r.pos < r.limit) {
    switch (r.tag()) {
      case 1:
        confState = readNested(r, 'SnapshotMetadata.conf_state', readConfState)
        break
      case 2:
        r.expect(WIRE_VARINT, 'SnapshotMetadata.index')
        index = r.uint53('SnapshotMetadata.index')
        break
      case 3:
        r.expect(WIRE_VARINT, 'SnapshotMetadata.term')
        term = r.uint53('SnapshotMetadata.term')
        break
      default:
        r.skip()
    }
  }
  return { confState: confState ?? emptyConfState(), index, term }
}

function readSnapshot(r: Reader): Snapshot {
  let data = EMPTY_BYTES
  let metadata: SnapshotMetadata | null = null
  while (r.pos < r.limit) {
    switch (r.tag()) {
      case 1:
        r.expect(WIRE_BYTES, 'Snapshot.data')
        data = r.bytes()
        break
      case 2:
        metadata = readNested(r, 'Snapshot.metadata', readSnapshotMetadata)
        break
      default:
        r.skip()
    }
  }
  return { data, metadata: metadata ?? { confState: emptyConfState(), index: 0, term: 0 } }
}

function readMessage(r: Reader, depth: number): Message {
  if (depth > MAX_DEPTH) throw malformed(`Message nesting deeper than ${MAX_DEPTH}`)
  const m: Message = {
    type: MessageType.MsgHup,
    to: None,
    from: None,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    vote: None,
    snapshot: null,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
    responses: [],
  }
  while (r.pos < r.limit) readMessageField(r, m, depth)
  return m
}

function readMessageField(r: Reader, m: Message, depth: number): void {
  switch (r.tag()) {
    case 1:
      r.expect(WIRE_VARINT, 'Message.type')
      m.type = r.enumValue('Message.type', MAX_MESSAGE_TYPE)
      return
    case 2:
      r.expect(WIRE_VARINT, 'Message.to')
      m.to = r.id()
      return
    case 3:
      r.expect(WIRE_VARINT, 'Message.from')
      m.from = r.id()
      return
    case 4:
      r.expect(WIRE_VARINT, 'Message.term')
      m.term = r.uint53('Message.term')
      return
    case 5:
      r.expect(WIRE_VARINT, 'Message.logTerm')
      m.logTerm = r.uint53('Message.logTerm')
      return
    case 6:
      r.expect(WIRE_VARINT, 'Message.index')
      m.index = r.uint53('Message.index')
      return
    case 7:
      m.entries.push(readNested(r, 'Message.entries', readEntry))
      return
    case 8:
      r.expect(WIRE_VARINT, 'Message.commit')
      m.commit = r.uint53('Message.commit')
      return
    case 9:
      m.snapshot = readNested(r, 'Message.snapshot', readSnapshot)
      return
    case 10:
      r.expect(WIRE_VARINT, 'Message.reject')
      m.reject = r.bool()
      return
    case 11:
      r.expect(WIRE_VARINT, 'Message.rejectHint')
      m.rejectHint = r.uint53('Message.rejectHint')
      return
    case 12:
      r.expect(WIRE_BYTES, 'Message.context')
      m.context = r.bytes()
      return
    case 13:
      r.expect(WIRE_VARINT, 'Message.vote')
      m.vote = r.id()
      return
    case 14:
      m.responses.push(readNested(r, 'Message.responses', (inner) => readMessage(inner, depth + 1)))
      return
    default:
      r.skip()
  }
}

function readConfChange(r: Reader): ConfChange {
  const cc: ConfChange = {
    id: 0n,
    type: ConfChangeType.ConfChangeAddNode,
    nodeId: None,
    context: EMPTY_BYTES,
  }
  while (r.pos < r.limit) {
    switch (r.tag()) {
      case 1:
        r.expect(WIRE_VARINT, 'ConfChange.id')
        cc.id = r.id()
        break
      case 2:
        r.expect(WIRE_VARINT, 'ConfChange.type')
        cc.type = r.enumValue('ConfChange.type', MAX_CONF_CHANGE_TYPE)
        break
      case 3:
        r.expect(WIRE_VARINT, 'ConfChange.node_id')
        cc.nodeId = r.id()
        break
      case 4:
        r.expect(WIRE_BYTES, 'ConfChange.context')
        cc.context = r.bytes()
        break
      default:
        r.skip()
    }
  }
  return cc
}

function readConfChangeSingle(r: Reader): ConfChangeSingle {
  const cc: ConfChangeSingle = { type: ConfChangeType.ConfChangeAddNode, nodeId: None }
  while (r.pos < r.limit) {
    switch (r.tag()) {
      case 1:
        r.expect(WIRE_VARINT, 'ConfChangeSingle.type')
        cc.type = r.enumValue('ConfChangeSingle.type', MAX_CONF_CHANGE_TYPE)
        break
      case 2:
        r.expect(WIRE_VARINT, 'ConfChangeSingle.node_id')
        cc.nodeId = r.id()
        break
      default:
        r.skip()
    }
  }
  return cc
}

function readConfChangeV2(r: Reader): ConfChangeV2 {
  const cc: ConfChangeV2 = {
    transition: ConfChangeTransition.ConfChangeTransitionAuto,
    changes: [],
    context: EMPTY_BYTES,
  }
  while (r.pos < r.limit) {
    switch (r.tag()) {
      case 1:
        r.expect(WIRE_VARINT, 'ConfChangeV2.transition')
        cc.transition = r.enumValue('ConfChangeV2.transition', MAX_TRANSITION)
        break
      case 2:
        cc.changes.push(readNested(r, 'ConfChangeV2.changes', readConfChangeSingle))
        break
      case 3:
        r.expect(WIRE_BYTES, 'ConfChangeV2.context')
        cc.context = r.bytes()
        break
      default:
        r.skip()
    }
  }
  return cc
}

function decodeWith<T>(buf: Uint8Array, read: (r: Reader) => T): T {
  const r = new Reader(buf)
  const value = read(r)
  assert(r.pos === buf.length, 'decoder stopped before the end of its input')
  return value
}

export function decodeEntry(buf: Uint8Array): Entry {
  return decodeWith(buf, readEntry)
}

export function decodeHardState(buf: Uint8Array): HardState {
  return decodeWith(buf, readHardState)
}

export function decodeConfState(buf: Uint8Array): ConfState {
  return decodeWith(buf, readConfState)
}

export function decodeSnapshotMetadata(buf: Uint8Array): SnapshotMetadata {
  return decodeWith(buf, readSnapshotMetadata)
}

export function decodeSnapshot(buf: Uint8Array): Snapshot {
  return decodeWith(buf, readSnapshot)
}

export function decodeMessage(buf: Uint8Array): Message {
  return decodeWith(buf, (r) => readMessage(r, 0))
}

export function decodeConfChange(buf: Uint8Array): ConfChange {
  return decodeWith(buf, readConfChange)
}

export function decodeConfChangeSingle(buf: Uint8Array): ConfChangeSingle {
  return decodeWith(buf, readConfChangeSingle)
}

export function decodeConfChangeV2(buf: Uint8Array): ConfChangeV2 {
  return decodeWith(buf, readConfChangeV2)
}
