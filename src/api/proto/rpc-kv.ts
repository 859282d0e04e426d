/**
 * The KV service's messages (etcd api/etcdserverpb/rpc.proto): Range, Put, DeleteRange, Txn
 * (with Compare, RequestOp and ResponseOp) and Compact, and the ResponseHeader every response
 * carries. Field numbers and types are etcd's; the encoding is gogoproto's (wire.ts).
 *
 * A oneof is a union discriminated on `type`; `{ type: 'none' }` is a oneof left unset, which
 * etcd answers with its own error (an empty RequestOp: "etcdserver: key not found"), so it is
 * kept rather than refused here.
 */

import { KeyValueCodec, type KeyValue } from './kv.js'
import {
  EMPTY_BYTES,
  WIRE_BYTES,
  WIRE_VARINT,
  bigSize,
  delimitedSize,
  int64Size,
  nestedSize,
  readNested,
  writeNested,
  type MessageCodec,
  type Reader,
  type Writer,
} from './wire.js'

// ---------------------------------------------------------------------------------------------
// ResponseHeader

export interface ResponseHeader {
  clusterId: bigint
  memberId: bigint
  revision: number
  raftTerm: number
}

export const ResponseHeaderCodec: MessageCodec<ResponseHeader> = {
  name: 'etcdserverpb.ResponseHeader',
  size(h) {
    let n = 0
    if (h.clusterId !== 0n) n += 1 + bigSize(h.clusterId)
    if (h.memberId !== 0n) n += 1 + bigSize(h.memberId)
    if (h.revision !== 0) n += 1 + int64Size(h.revision)
    if (h.raftTerm !== 0) n += 1 + int64Size(h.raftTerm)
    return n
  },
  write(w, h) {
    if (h.clusterId !== 0n) w.bigField(1, h.clusterId)
    if (h.memberId !== 0n) w.bigField(2, h.memberId)
    if (h.revision !== 0) w.int64(3, h.revision)
    if (h.raftTerm !== 0) w.int64(4, h.raftTerm)
  },
  read(r) {
    const h: ResponseHeader = { clusterId: 0n, memberId: 0n, revision: 0, raftTerm: 0 }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_VARINT, 'ClusterId')
          h.clusterId = r.uint64Big()
          break
        case 2:
          r.expect(WIRE_VARINT, 'MemberId')
          h.memberId = r.uint64Big()
          break
        case 3:
          r.expect(WIRE_VARINT, 'Revision')
          h.revision = r.int64()
          break
        case 4:
          r.expect(WIRE_VARINT, 'RaftTerm')
          h.raftTerm = r.uint64()
          break
        default:
          r.skip()
      }
    }
    return h
  },
}

function headerSize(h: ResponseHeader | null): number {
  return h === null ? 0 : nestedSize(1, ResponseHeaderCodec, h)
}

function writeHeader(w: Writer, h: ResponseHeader | null): void {
  if (h !== null) writeNested(w, 1, ResponseHeaderCodec, h)
}

function readHeader(r: Reader): ResponseHeader {
  return readNested(r, ResponseHeaderCodec, 'Header')
}

function kvsSize(field: number, kvs: readonly KeyValue[]): number {
  let n = 0
  for (let i = 0; i < kvs.length; i++) n += nestedSize(field, KeyValueCodec, kvs[i] as KeyValue)
  return n
}

function writeKvs(w: Writer, field: number, kvs: readonly KeyValue[]): void {
  for (let i = 0; i < kvs.length; i++) writeNested(w, field, KeyValueCodec, kvs[i] as KeyValue)
}

// ---------------------------------------------------------------------------------------------
// Range

export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const

export interface RangeRequest {
  key: Uint8Array
  rangeEnd: Uint8Array
  limit: number
  revision: number
  /** SortOrder; proto3 enums are open, so an unknown value arrives as it was sent. */
  sortOrder: number
  /** SortTarget. */
  sortTarget: number
  serializable: boolean
  keysOnly: boolean
  countOnly: boolean
  minModRevision: number
  maxModRevision: number
  minCreateRevision: number
  maxCreateRevision: number
}

export function rangeRequest(init: Partial<RangeRequest> = {}): RangeRequest {
  return {
    key: EMPTY_BYTES,
    rangeEnd: EMPTY_BYTES,
    limit: 0,
    revision: 0,
    sortOrder: 0,
    sortTarget: 0,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
    ...init,
  }
}

export const RangeRequestCodec: MessageCodec<RangeRequest> = {
  name: 'etcdserverpb.RangeRequest',
  size(q) {
    let n = 0
    if (q.key.length > 0) n += delimitedSize(1, q.key.length)
    if (q.rangeEnd.length > 0) n += delimitedSize(2, q.rangeEnd.length)
    if (q.limit !== 0) n += 1 + int64Size(q.limit)
    if (q.revision !== 0) n += 1 + int64Size(q.revision)
    if (q.sortOrder !== 0) n += 1 + int64Size(q.sortOrder)
    if (q.sortTarget !== 0) n += 1 + int64Size(q.sortTarget)
    if (q.serializable) n += 2
    if (q.keysOnly) n += 2
    if (q.countOnly) n += 2
    if (q.minModRevision !== 0) n += 1 + int64Size(q.minModRevision)
    if (q.maxModRevision !== 0) n += 1 + int64Size(q.maxModRevision)
    if (q.minCreateRevision !== 0) n += 1 + int64Size(q.minCreateRevision)
    if (q.maxCreateRevision !== 0) n += 1 + int64Size(q.maxCreateRevision)
    return n
  },
  write(w, q) {
    if (q.key.length > 0) w.bytes(1, q.key)
    if (q.rangeEnd.length > 0) w.bytes(2, q.rangeEnd)
    if (q.limit !== 0) w.int64(3, q.limit)
    if (q.revision !== 0) w.int64(4, q.revision)
    if (q.sortOrder !== 0) w.int64(5, q.sortOrder)
    if (q.sortTarget !== 0) w.int64(6, q.sortTarget)
    if (q.serializable) w.bool(7, true)
    if (q.keysOnly) w.bool(8, true)
    if (q.countOnly) w.bool(9, true)
    if (q.minModRevision !== 0) w.int64(10, q.minModRevision)
    if (q.maxModRevision !== 0) w.int64(11, q.maxModRevision)
    if (q.minCreateRevision !== 0) w.int64(12, q.minCreateRevision)
    if (q.maxCreateRevision !== 0) w.int64(13, q.maxCreateRevision)
  },
  read(r) {
    const q = rangeRequest()
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_BYTES, 'Key')
          q.key = r.bytes()
          break
        case 2:
          r.expect(WIRE_BYTES, 'RangeEnd')
          q.rangeEnd = r.bytes()
          break
        case 3:
          r.expect(WIRE_VARINT, 'Limit')
          q.limit = r.int64()
          break
        case 4:
          r.expect(WIRE_VARINT, 'Revision')
          q.revision = r.int64()
          break
        case 5:
          r.expect(WIRE_VARINT, 'SortOrder')
          q.sortOrder = r.int32()
          break
        case 6:
          r.expect(WIRE_VARINT, 'SortTarget')
          q.sortTarget = r.int32()
          break
        case 7:
          r.expect(WIRE_VARINT, 'Serializable')
          q.serializable = r.bool()
          break
        case 8:
          r.expect(WIRE_VARINT, 'KeysOnly')
          q.keysOnly = r.bool()
          break
        case 9:
          r.expect(WIRE_VARINT, 'CountOnly')
          q.countOnly = r.bool()
          break
        case 10:
          r.expect(WIRE_VARINT, 'MinModRevision')
          q.minModRevision = r.int64()
          break
        case 11:
          r.expect(WIRE_VARINT, 'MaxModRevision')
          q.maxModRevision = r.int64()
          break
        case 12:
          r.expect(WIRE_VARINT, 'MinCreateRevision')
          q.minCreateRevision = r.int64()
          break
        case 13:
          r.expect(WIRE_VARINT, 'MaxCreateRevision')
          q.maxCreateRevision = r.int64()
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

export interface RangeResponse {
  header: ResponseHeader | null
  kvs: KeyValue[]
  more: boolean
  count: number
}

export const RangeResponseCodec: MessageCodec<RangeResponse> = {
  name: 'etcdserverpb.RangeResponse',
  size(s) {
    let n = headerSize(s.header) + kvsSize(2, s.kvs)
    if (s.more) n += 2
    if (s.count !== 0) n += 1 + int64Size(s.count)
    return n
  },
  write(w, s) {
    writeHeader(w, s.header)
    writeKvs(w, 2, s.kvs)
    if (s.more) w.bool(3, true)
    if (s.count !== 0) w.int64(4, s.count)
  },
  read(r) {
    const s: RangeResponse = { header: null, kvs: [], more: false, count: 0 }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readHeader(r)
          break
        case 2:
          s.kvs.push(readNested(r, KeyValueCodec, 'Kvs'))
          break
        case 3:
          r.expect(WIRE_VARINT, 'More')
          s.more = r.bool()
          break
        case 4:
          r.expect(WIRE_VARINT, 'Count')
          s.count = r.int64()
          break
        default:
          r.skip()
      }
    }
    return s
  },
}

// ---------------------------------------------------------------------------------------------
// Put

export interface PutRequest {
  key: Uint8Array
  value: Uint8Array
  lease: bigint
  prevKv: boolean
  ignoreValue: boolean
  ignoreLease: boolean
}

export function putRequest(init: Partial<PutRequest> = {}): PutRequest {
  return {
    key: EMPTY_BYTES,
    value: EMPTY_BYTES,
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
    ...init,
  }
}

export const PutRequestCodec: MessageCodec<PutRequest> = {
  name: 'etcdserverpb.PutRequest',
  size(q) {
    let n = 0
    if (q.key.length > 0) n += delimitedSize(1, q.key.length)
    if (q.value.length > 0) n += delimitedSize(2, q.value.length)
    if (q.lease !== 0n) n += 1 + bigSize(q.lease)
    if (q.prevKv) n += 2
    if (q.ignoreValue) n += 2
    if (q.ignoreLease) n += 2
    return n
  },
  write(w, q) {
    if (q.key.length > 0) w.bytes(1, q.key)
    if (q.value.length > 0) w.bytes(2, q.value)
    if (q.lease !== 0n) w.bigField(3, q.lease)
    if (q.prevKv) w.bool(4, true)
    if (q.ignoreValue) w.bool(5, true)
    if (q.ignoreLease) w.bool(6, true)
  },
  read(r) {
    const q = putRequest()
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_BYTES, 'Key')
          q.key = r.bytes()
          break
        case 2:
          r.expect(WIRE_BYTES, 'Value')
          q.value = r.bytes()
          break
        case 3:
          r.expect(WIRE_VARINT, 'Lease')
          q.lease = r.int64Big()
          break
        case 4:
          r.expect(WIRE_VARINT, 'PrevKv')
          q.prevKv = r.bool()
          break
        case 5:
          r.expect(WIRE_VARINT, 'IgnoreValue')
          q.ignoreValue = r.bool()
          break
        case 6:
          r.expect(WIRE_VARINT, 'IgnoreLease')
          q.ignoreLease = r.bool()
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

export interface PutResponse {
  header: ResponseHeader | null
  prevKv: KeyValue | null
}

export const PutResponseCodec: MessageCodec<PutResponse> = {
  name: 'etcdserverpb.PutResponse',
  size(s) {
    let n = headerSize(s.header)
    if (s.prevKv !== null) n += nestedSize(2, KeyValueCodec, s.prevKv)
    return n
  },
  write(w, s) {
    writeHeader(w, s.header)
    if (s.prevKv !== null) writeNested(w, 2, KeyValueCodec, s.prevKv)
  },
  read(r) {
    const s: PutResponse = { header: null, prevKv: null }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readHeader(r)
          break
        case 2:
          s.prevKv = readNested(r, KeyValueCodec, 'PrevKv')
          break
        default:
          r.skip()
      }
    }
    return s
  },
}

// ---------------------------------------------------------------------------------------------
// DeleteRange

export interface DeleteRangeRequest {
  key: Uint8Array
  rangeEnd: Uint8Array
  prevKv: boolean
}

export function deleteRangeRequest(init: Partial<DeleteRangeRequest> = {}): DeleteRangeRequest {
  return { key: EMPTY_BYTES, rangeEnd: EMPTY_BYTES, prevKv: false, ...init }
}

export const DeleteRangeRequestCodec: MessageCodec<DeleteRangeRequest> = {
  name: 'etcdserverpb.DeleteRangeRequest',
  size(q) {
    let n = 0
    if (q.key.length > 0) n += delimitedSize(1, q.key.length)
    if (q.rangeEnd.length > 0) n += delimitedSize(2, q.rangeEnd.length)
    if (q.prevKv) n += 2
    return n
  },
  write(w, q) {
    if (q.key.length > 0) w.bytes(1, q.key)
    if (q.rangeEnd.length > 0) w.bytes(2, q.rangeEnd)
    if (q.prevKv) w.bool(3, true)
  },
  read(r) {
    const q = deleteRangeRequest()
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_BYTES, 'Key')
          q.key = r.bytes()
          break
        case 2:
          r.expect(WIRE_BYTES, 'RangeEnd')
          q.rangeEnd = r.bytes()
          break
        case 3:
          r.expect(WIRE_VARINT, 'PrevKv')
          q.prevKv = r.bool()
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

export interface DeleteRangeResponse {
  header: ResponseHeader | null
  deleted: number
  prevKvs: KeyValue[]
}

export const DeleteRangeResponseCodec: MessageCodec<DeleteRangeResponse> = {
  name: 'etcdserverpb.DeleteRangeResponse',
  size(s) {
    let n = headerSize(s.header)
    if (s.deleted !== 0) n += 1 + int64Size(s.deleted)
    return n + kvsSize(3, s.prevKvs)
  },
  write(w, s) {
    writeHeader(w, s.header)
    if (s.deleted !== 0) w.int64(2, s.deleted)
    writeKvs(w, 3, s.prevKvs)
  },
  read(r) {
    const s: DeleteRangeResponse = { header: null, deleted: 0, prevKvs: [] }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readHeader(r)
          break
        case 2:
          r.expect(WIRE_VARINT, 'Deleted')
          s.deleted = r.int64()
          break
        case 3:
          s.prevKvs.push(readNested(r, KeyValueCodec, 'PrevKvs'))
          break
        default:
          r.skip()
      }
    }
    return s
  },
}

// ---------------------------------------------------------------------------------------------
// Txn

export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const

/** Compare.target_union: which member is set (a set member is written even when zero). */
export type CompareTargetUnion =
  | { type: 'none' }
  | { type: 'version'; version: number }
  | { type: 'createRevision'; createRevision: number }
  | { type: 'modRevision'; modRevision: number }
  | { type: 'value'; value: Uint8Array }
  | { type: 'lease'; lease: bigint }

export interface Compare {
  /** CompareResult. */
  result: number
  /** CompareTarget. */
  target: number
  key: Uint8Array
  targetUnion: CompareTargetUnion
  rangeEnd: Uint8Array
}

const NO_TARGET: CompareTargetUnion = Object.freeze({ type: 'none' })

function targetUnionSize(u: CompareTargetUnion): number {
  switch (u.type) {
    case 'none':
      return 0
    case 'version':
      return 1 + int64Size(u.version)
    case 'createRevision':
      return 1 + int64Size(u.createRevision)
    case 'modRevision':
      return 1 + int64Size(u.modRevision)
    case 'value':
      return delimitedSize(7, u.value.length)
    case 'lease':
      return 1 + bigSize(u.lease)
  }
}

function writeTargetUnion(w: Writer, u: CompareTargetUnion): void {
  switch (u.type) {
    case 'none':
      return
    case 'version':
      return w.int64(4, u.version)
    case 'createRevision':
      return w.int64(5, u.createRevision)
    case 'modRevision':
      return w.int64(6, u.modRevision)
    case 'value':
      return w.bytes(7, u.value)
    case 'lease':
      return w.bigField(8, u.lease)
  }
}

export const CompareCodec: MessageCodec<Compare> = {
  name: 'etcdserverpb.Compare',
  size(c) {
    let n = 0
    if (c.result !== 0) n += 1 + int64Size(c.result)
    if (c.target !== 0) n += 1 + int64Size(c.target)
    if (c.key.length > 0) n += delimitedSize(3, c.key.length)
    n += targetUnionSize(c.targetUnion)
    if (c.rangeEnd.length > 0) n += delimitedSize(64, c.rangeEnd.length)
    return n
  },
  write(w, c) {
    if (c.result !== 0) w.int64(1, c.result)
    if (c.target !== 0) w.int64(2, c.target)
    if (c.key.length > 0) w.bytes(3, c.key)
    writeTargetUnion(w, c.targetUnion)
    if (c.rangeEnd.length > 0) w.bytes(64, c.rangeEnd)
  },
  read(r) {
    const c: Compare = {
      result: 0,
      target: 0,
      key: EMPTY_BYTES,
      targetUnion: NO_TARGET,
      rangeEnd: EMPTY_BYTES,
    }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_VARINT, 'Result')
          c.result = r.int32()
          break
        case 2:
          r.expect(WIRE_VARINT, 'Target')
          c.target = r.int32()
          break
        case 3:
          r.expect(WIRE_BYTES, 'Key')
          c.key = r.bytes()
          break
        case 4:
          r.expect(WIRE_VARINT, 'Version')
          c.targetUnion = { type: 'version', version: r.int64() }
          break
        case 5:
          r.expect(WIRE_VARINT, 'CreateRevision')
          c.targetUnion = { type: 'createRevision', createRevision: r.int64() }
          break
        case 6:
          r.expect(WIRE_VARINT, 'ModRevision')
          c.targetUnion = { type: 'modRevision', modRevision: r.int64() }
          break
        case 7:
          r.expect(WIRE_BYTES, 'Value')
          c.targetUnion = { type: 'value', value: r.bytes() }
          break
        case 8:
          r.expect(WIRE_VARINT, 'Lease')
          c.targetUnion = { type: 'lease', lease: r.int64Big() }
          break
        case 64:
          r.expect(WIRE_BYTES, 'RangeEnd')
          c.rangeEnd = r.bytes()
          break
        default:
          r.skip()
      }
    }
    return c
  },
}

export type RequestOp =
  | { type: 'none' }
  | { type: 'range'; range: RangeRequest }
  | { type: 'put'; put: PutRequest }
  | { type: 'deleteRange'; deleteRange: DeleteRangeRequest }
  | { type: 'txn'; txn: TxnRequest }

export type ResponseOp =
  | { type: 'none' }
  | { type: 'range'; range: RangeResponse }
  | { type: 'put'; put: PutResponse }
  | { type: 'deleteRange'; deleteRange: DeleteRangeResponse }
  | { type: 'txn'; txn: TxnResponse }

export interface TxnRequest {
  compare: Compare[]
  success: RequestOp[]
  failure: RequestOp[]
}

export interface TxnResponse {
  header: ResponseHeader | null
  succeeded: boolean
  responses: ResponseOp[]
}

export const RequestOpCodec: MessageCodec<RequestOp> = {
  name: 'etcdserverpb.RequestOp',
  size(op) {
    switch (op.type) {
      case 'none':
        return 0
      case 'range':
        return nestedSize(1, RangeRequestCodec, op.range)
      case 'put':
        return nestedSize(2, PutRequestCodec, op.put)
      case 'deleteRange':
        return nestedSize(3, DeleteRangeRequestCodec, op.deleteRange)
      case 'txn':
        return nestedSize(4, TxnRequestCodec, op.txn)
    }
  },
  write(w, op) {
    switch (op.type) {
      case 'none':
        return
      case 'range':
        return writeNested(w, 1, RangeRequestCodec, op.range)
      case 'put':
        return writeNested(w, 2, PutRequestCodec, op.put)
      case 'deleteRange':
        return writeNested(w, 3, DeleteRangeRequestCodec, op.deleteRange)
      case 'txn':
        return writeNested(w, 4, TxnRequestCodec, op.txn)
    }
  },
  read(r) {
    let op: RequestOp = { type: 'none' }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          op = { type: 'range', range: readNested(r, RangeRequestCodec, 'RequestRange') }
          break
        case 2:
          op = { type: 'put', put: readNested(r, PutRequestCodec, 'RequestPut') }
          break
        case 3:
          op = {
            type: 'deleteRange',
            deleteRange: readNested(r, DeleteRangeRequestCodec, 'RequestDeleteRange'),
          }
          break
        case 4:
          op = { type: 'txn', txn: readNested(r, TxnRequestCodec, 'RequestTxn') }
          break
        default:
          r.skip()
      }
    }
    return op
  },
}

export const ResponseOpCodec: MessageCodec<ResponseOp> = {
  name: 'etcdserverpb.ResponseOp',
  size(op) {
    switch (op.type) {
      case 'none':
        return 0
      case 'range':
        return nestedSize(1, RangeResponseCodec, op.range)
      case 'put':
        return nestedSize(2, PutResponseCodec, op.put)
      case 'deleteRange':
        return nestedSize(3, DeleteRangeResponseCodec, op.deleteRange)
      case 'txn':
        return nestedSize(4, TxnResponseCodec, op.txn)
    }
  },
  write(w, op) {
    switch (op.type) {
      case 'none':
        return
      case 'range':
        return writeNested(w, 1, RangeResponseCodec, op.range)
      case 'put':
        return writeNested(w, 2, PutResponseCodec, op.put)
      case 'deleteRange':
        return writeNested(w, 3, DeleteRangeResponseCodec, op.deleteRange)
      case 'txn':
        return writeNested(w, 4, TxnResponseCodec, op.txn)
    }
  },
  read(r) {
    let op: ResponseOp = { type: 'none' }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          op = { type: 'range', range: readNested(r, RangeResponseCodec, 'ResponseRange') }
          break
        case 2:
          op = { type: 'put', put: readNested(r, PutResponseCodec, 'ResponsePut') }
          break
        case 3:
          op = {
            type: 'deleteRange',
            deleteRange: readNested(r, DeleteRangeResponseCodec, 'ResponseDeleteRange'),
          }
          break
        case 4:
          op = { type: 'txn', txn: readNested(r, TxnResponseCodec, 'ResponseTxn') }
          break
        default:
          r.skip()
      }
    }
    return op
  },
}

function repeatedSize<T>(field: number, codec: MessageCodec<T>, xs: readonly T[]): number {
  let n = 0
  for (let i = 0; i < xs.length; i++) n += nestedSize(field, codec, xs[i] as T)
  return n
}

function writeRepeated<T>(w: Writer, field: number, codec: MessageCodec<T>, xs: readonly T[]) {
  for (let i = 0; i < xs.length; i++) writeNested(w, field, codec, xs[i] as T)
}

export const TxnRequestCodec: MessageCodec<TxnRequest> = {
  name: 'etcdserverpb.TxnRequest',
  size(q) {
    return (
      repeatedSize(1, CompareCodec, q.compare) +
      repeatedSize(2, RequestOpCodec, q.success) +
      repeatedSize(3, RequestOpCodec, q.failure)
    )
  },
  write(w, q) {
    writeRepeated(w, 1, CompareCodec, q.compare)
    writeRepeated(w, 2, RequestOpCodec, q.success)
    writeRepeated(w, 3, RequestOpCodec, q.failure)
  },
  read(r) {
    const q: TxnRequest = { compare: [], success: [], failure: [] }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          q.compare.push(readNested(r, CompareCodec, 'Compare'))
          break
        case 2:
          q.success.push(readNested(r, RequestOpCodec, 'Success'))
          break
        case 3:
          q.failure.push(readNested(r, RequestOpCodec, 'Failure'))
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

export const TxnResponseCodec: MessageCodec<TxnResponse> = {
  name: 'etcdserverpb.TxnResponse',
  size(s) {
    let n = headerSize(s.header)
    if (s.succeeded) n += 2
    return n + repeatedSize(3, ResponseOpCodec, s.responses)
  },
  write(w, s) {
    writeHeader(w, s.header)
    if (s.succeeded) w.bool(2, true)
    writeRepeated(w, 3, ResponseOpCodec, s.responses)
  },
  read(r) {
    const s: TxnResponse = { header: null, succeeded: false, responses: [] }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readHeader(r)
          break
        case 2:
          r.expect(WIRE_VARINT, 'Succeeded')
          s.succeeded = r.bool()
          break
        case 3:
          s.responses.push(readNested(r, ResponseOpCodec, 'Responses'))
          break
        default:
          r.skip()
      }
    }
    return s
  },
}

// ---------------------------------------------------------------------------------------------
// Compact

export interface CompactionRequest {
  revision: number
  physical: boolean
}

export const CompactionRequestCodec: MessageCodec<CompactionRequest> = {
  name: 'etcdserverpb.CompactionRequest',
  size(q) {
    return (q.revision !== 0 ? 1 + int64Size(q.revision) : 0) + (q.physical ? 2 : 0)
  },
  write(w, q) {
    if (q.revision !== 0) w.int64(1, q.revision)
    if (q.physical) w.bool(2, true)
  },
  read(r) {
    const q: CompactionRequest = { revision: 0, physical: false }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_VARINT, 'Revision')
          q.revision = r.int64()
          break
        case 2:
          r.expect(WIRE_VARINT, 'Physical')
          q.physical = r.bool()
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

/** Responses whose only field is the header: CompactionResponse, and others to come. */
export interface HeaderOnlyResponse {
  header: ResponseHeader | null
}

export function headerOnlyCodec(name: string): MessageCodec<HeaderOnlyResponse> {
  return {
    name,
    size: (s) => headerSize(s.header),
    write: (w, s) => writeHeader(w, s.header),
    read(r) {
      const s: HeaderOnlyResponse = { header: null }
      while (r.pos < r.limit) {
        if (r.tag() === 1) s.header = readHeader(r)
        else r.skip()
      }
      return s
    },
  }
}

export type CompactionResponse = HeaderOnlyResponse
export const CompactionResponseCodec = headerOnlyCodec('etcdserverpb.CompactionResponse')

/** Messages with no fields (StatusRequest, ...): any input's fields are unknown and skipped. */
export type Empty = Record<string, never>

export function emptyCodec(name: string): MessageCodec<Empty> {
  return {
    name,
    size: () => 0,
    write: () => {},
    read(r) {
      while (r.pos < r.limit) {
        r.tag()
        r.skip()
      }
      return {}
    },
  }
}
