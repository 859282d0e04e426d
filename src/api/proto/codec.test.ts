/**
 * The etcd message codecs. Goal: every message round-trips, our bytes are exactly what protobufjs
 * writes from etcd's own .proto files (the ones the etcd3 package ships, which grpc-js clients
 * use), and untrusted input never gets anything but a value or an ApiError. Method: seeded
 * fast-check properties over every message, plus hand-made hostile inputs.
 */

import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import fc from 'fast-check'
import protobuf from 'protobufjs'
import { fcParams } from '../../../test-support/seed.js'
import { ApiError } from '../api-error.js'
import { KeyValueCodec, EventCodec, type KeyValue } from './kv.js'
import {
  MemberAddRequestCodec,
  MemberAddResponseCodec,
  MemberCodec,
  MemberListRequestCodec,
  MemberListResponseCodec,
  MemberPromoteRequestCodec,
  MemberPromoteResponseCodec,
  MemberRemoveRequestCodec,
  MemberRemoveResponseCodec,
  MemberUpdateRequestCodec,
  MemberUpdateResponseCodec,
  type Member,
} from './rpc-cluster.js'
import {
  CompactionRequestCodec,
  CompactionResponseCodec,
  CompareCodec,
  DeleteRangeRequestCodec,
  DeleteRangeResponseCodec,
  PutRequestCodec,
  PutResponseCodec,
  RangeRequestCodec,
  RangeResponseCodec,
  RequestOpCodec,
  ResponseHeaderCodec,
  ResponseOpCodec,
  TxnRequestCodec,
  TxnResponseCodec,
  type Compare,
  type CompareTargetUnion,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from './rpc-kv.js'
import { StatusRequestCodec, StatusResponseCodec } from './rpc-maintenance.js'
import {
  WatchCancelRequestCodec,
  WatchCreateRequestCodec,
  WatchProgressRequestCodec,
  WatchRequestCodec,
  WatchResponseCodec,
  encodeWatchEvents,
  encodeWatchHeaderField,
  watchEventsFrameSize,
  watchResponse,
  writeWatchEventsFrame,
  type WatchRequest,
} from './rpc-watch.js'
import { MAX_DEPTH, decodeMessage, encodeMessage, type MessageCodec } from './wire.js'

// ---------------------------------------------------------------------------------------------
// etcd's .proto files, through protobufjs (tests only).

const require = createRequire(import.meta.url)
const protoDir = require.resolve('etcd3/package.json').replace(/package\.json$/, 'proto/')
const root = protobuf.loadSync(protoDir + 'rpc.proto')
const pbType = (name: string): protobuf.Type => root.lookupType(name)

/** Our value as the plain object protobufjs's fromObject wants: zero scalars left out. */
function toPb(type: protobuf.Type, v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  let src = v as Record<string, unknown>
  // Oneofs: RequestOp/ResponseOp are { type, <member> }, Compare has targetUnion.
  if (type.name === 'RequestOp' || type.name === 'ResponseOp') {
    const t = src.type as string
    if (t === 'none') return out
    const prefix = type.name === 'RequestOp' ? 'request' : 'response'
    const f = type.fieldsArray.find((f) => f.name.toLowerCase() === (prefix + t).toLowerCase())
    assert(f !== undefined, `no field for ${t}`)
    out[f.name] = toPb(f.resolvedType as protobuf.Type, src[t])
    return out
  }
  const oneofMembers = new Set<string>()
  if (type.name === 'Compare') {
    const u = src.targetUnion as CompareTargetUnion & Record<string, unknown>
    src = { ...src }
    delete src.targetUnion
    if (u.type !== 'none') {
      src[u.type] = u[u.type]
      oneofMembers.add(u.type.toLowerCase())
    }
  }
  for (const f of type.fieldsArray) {
    const key = Object.keys(src).find((k) => k.toLowerCase() === f.name.toLowerCase())
    if (key === undefined) continue
    const x = src[key]
    const present = oneofMembers.has(key.toLowerCase())
    const conv = (y: unknown): unknown =>
      f.resolvedType instanceof protobuf.Type
        ? toPb(f.resolvedType, y)
        : typeof y === 'bigint' || (typeof y === 'number' && f.type.endsWith('64'))
          ? String(y)
          : y
    if (f.repeated) {
      const xs = x as unknown[]
      if (xs.length > 0) out[f.name] = xs.map(conv)
    } else if (f.resolvedType instanceof protobuf.Type) {
      if (x !== null) out[f.name] = conv(x)
    } else if (present) {
      out[f.name] = conv(x)
    } else if (
      x instanceof Uint8Array ? x.length > 0 : x !== 0 && x !== 0n && x !== false && x !== ''
    ) {
      out[f.name] = conv(x)
    }
  }
  return out
}

function pbEncode(typeName: string, v: unknown): Uint8Array {
  const t = pbType(typeName)
  return t.encode(t.fromObject(toPb(t, v))).finish()
}

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const bytes = fc.uint8Array({ maxLength: 6 })
const int64 = fc.oneof(fc.constant(0), fc.integer({ min: -300, max: 300 }), fc.maxSafeInteger())
const uint64 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.maxSafeNat())
const uint64Big = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }))
const int64Big = fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }))
const enumValue = fc.oneof(
  fc.integer({ min: 0, max: 4 }),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
)
const str = fc.string({ unit: 'grapheme', maxLength: 5 })
const strs = fc.array(str, { maxLength: 3 })

const header: fc.Arbitrary<ResponseHeader> = fc.record({
  clusterId: uint64Big,
  memberId: uint64Big,
  revision: int64,
  raftTerm: uint64,
})
const maybeHeader = fc.option(header, { nil: null })
const kv: fc.Arbitrary<KeyValue> = fc.record({
  key: bytes,
  createRevision: int64,
  modRevision: int64,
  version: int64,
  value: bytes,
  lease: int64Big,
})
const kvs = fc.array(kv, { maxLength: 3 })
const rangeRequest = fc.record({
  key: bytes,
  rangeEnd: bytes,
  limit: int64,
  revision: int64,
  sortOrder: enumValue,
  sortTarget: enumValue,
  serializable: fc.boolean(),
  keysOnly: fc.boolean(),
  countOnly: fc.boolean(),
  minModRevision: int64,
  maxModRevision: int64,
  minCreateRevision: int64,
  maxCreateRevision: int64,
})
const rangeResponse = fc.record({ header: maybeHeader, kvs, more: fc.boolean(), count: int64 })
const putRequest = fc.record({
  key: bytes,
  value: bytes,
  lease: int64Big,
  prevKv: fc.boolean(),
  ignoreValue: fc.boolean(),
  ignoreLease: fc.boolean(),
})
const putResponse = fc.record({ header: maybeHeader, prevKv: fc.option(kv, { nil: null }) })
const deleteRangeRequest = fc.record({ key: bytes, rangeEnd: bytes, prevKv: fc.boolean() })
const deleteRangeResponse = fc.record({ header: maybeHeader, deleted: int64, prevKvs: kvs })
const targetUnion: fc.Arbitrary<CompareTargetUnion> = fc.oneof(
  fc.constant({ type: 'none' as const }),
  fc.record({ type: fc.constant('version' as const), version: int64 }),
  fc.record({ type: fc.constant('createRevision' as const), createRevision: int64 }),
  fc.record({ type: fc.constant('modRevision' as const), modRevision: int64 }),
  fc.record({ type: fc.constant('value' as const), value: bytes }),
  fc.record({ type: fc.constant('lease' as const), lease: int64Big }),
)
const compare: fc.Arbitrary<Compare> = fc.record({
  result: enumValue,
  target: enumValue,
  key: bytes,
  targetUnion,
  rangeEnd: bytes,
})

const { txnRequest, requestOp } = fc.letrec<{ txnRequest: TxnRequest; requestOp: RequestOp }>(
  (tie) => ({
    txnRequest: fc.record({
      compare: fc.array(compare, { maxLength: 2 }),
      success: fc.array(tie('requestOp'), { maxLength: 2 }),
      failure: fc.array(tie('requestOp'), { maxLength: 2 }),
    }),
    requestOp: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant({ type: 'none' as const }),
      fc.record({ type: fc.constant('range' as const), range: rangeRequest }),
      fc.record({ type: fc.constant('put' as const), put: putRequest }),
      fc.record({ type: fc.constant('deleteRange' as const), deleteRange: deleteRangeRequest }),
      fc.record({ type: fc.constant('txn' as const), txn: tie('txnRequest') }),
    ),
  }),
)
const { txnResponse, responseOp } = fc.letrec<{
  txnResponse: TxnResponse
  responseOp: ResponseOp
}>((tie) => ({
  txnResponse: fc.record({
    header: maybeHeader,
    succeeded: fc.boolean(),
    responses: fc.array(tie('responseOp'), { maxLength: 2 }),
  }),
  responseOp: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant({ type: 'none' as const }),
    fc.record({ type: fc.constant('range' as const), range: rangeResponse }),
    fc.record({ type: fc.constant('put' as const), put: putResponse }),
    fc.record({ type: fc.constant('deleteRange' as const), deleteRange: deleteRangeResponse }),
    fc.record({ type: fc.constant('txn' as const), txn: tie('txnResponse') }),
  ),
}))
const memberArb: fc.Arbitrary<Member> = fc.record({
  id: uint64Big,
  name: str,
  peerUrls: strs,
  clientUrls: strs,
  isLearner: fc.boolean(),
})
const members = fc.array(memberArb, { maxLength: 3 })
const watchCreate = fc.record({
  key: bytes,
  rangeEnd: bytes,
  startRevision: int64,
  progressNotify: fc.boolean(),
  filters: fc.array(enumValue, { maxLength: 3 }),
  prevKv: fc.boolean(),
  watchId: int64,
  fragment: fc.boolean(),
})
const watchRequest: fc.Arbitrary<WatchRequest> = fc.oneof(
  fc.constant({ type: 'none' as const }),
  fc.record({ type: fc.constant('createRequest' as const), createRequest: watchCreate }),
  fc.record({
    type: fc.constant('cancelRequest' as const),
    cancelRequest: fc.record({ watchId: int64 }),
  }),
  fc.constant({ type: 'progressRequest' as const, progressRequest: {} }),
)
const event = fc.record({
  type: enumValue,
  kv: fc.option(kv, { nil: null }),
  prevKv: fc.option(kv, { nil: null }),
})
const watchResponseArb = fc.record({
  header: maybeHeader,
  watchId: int64,
  created: fc.boolean(),
  canceled: fc.boolean(),
  compactRevision: int64,
  cancelReason: str,
  fragment: fc.boolean(),
  events: fc.array(event, { maxLength: 3 }),
})
const membersResponse = fc.record({ header: maybeHeader, members })

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCase = [MessageCodec<any>, string, fc.Arbitrary<any>]
const cases: AnyCase[] = [
  [ResponseHeaderCodec, 'etcdserverpb.ResponseHeader', header],
  [KeyValueCodec, 'mvccpb.KeyValue', kv],
  [
    EventCodec,
    'mvccpb.Event',
    fc.record({
      type: enumValue,
      kv: fc.option(kv, { nil: null }),
      prevKv: fc.option(kv, { nil: null }),
    }),
  ],
  [RangeRequestCodec, 'etcdserverpb.RangeRequest', rangeRequest],
  [WatchCreateRequestCodec, 'etcdserverpb.WatchCreateRequest', watchCreate],
  [WatchCancelRequestCodec, 'etcdserverpb.WatchCancelRequest', fc.record({ watchId: int64 })],
  [WatchProgressRequestCodec, 'etcdserverpb.WatchProgressRequest', fc.constant({})],
  [WatchRequestCodec, 'etcdserverpb.WatchRequest', watchRequest],
  [WatchResponseCodec, 'etcdserverpb.WatchResponse', watchResponseArb],
  [RangeResponseCodec, 'etcdserverpb.RangeResponse', rangeResponse],
  [PutRequestCodec, 'etcdserverpb.PutRequest', putRequest],
  [PutResponseCodec, 'etcdserverpb.PutResponse', putResponse],
  [DeleteRangeRequestCodec, 'etcdserverpb.DeleteRangeRequest', deleteRangeRequest],
  [DeleteRangeResponseCodec, 'etcdserverpb.DeleteRangeResponse', deleteRangeResponse],
  [CompareCodec, 'etcdserverpb.Compare', compare],
  [RequestOpCodec, 'etcdserverpb.RequestOp', requestOp],
  [ResponseOpCodec, 'etcdserverpb.ResponseOp', responseOp],
  [TxnRequestCodec, 'etcdserverpb.TxnRequest', txnRequest],
  [TxnResponseCodec, 'etcdserverpb.TxnResponse', txnResponse],
  [
    CompactionRequestCodec,
    'etcdserverpb.CompactionRequest',
    fc.record({ revision: int64, physical: fc.boolean() }),
  ],
  [CompactionResponseCodec, 'etcdserverpb.CompactionResponse', fc.record({ header: maybeHeader })],
  [StatusRequestCodec, 'etcdserverpb.StatusRequest', fc.constant({})],
  [
    StatusResponseCodec,
    'etcdserverpb.StatusResponse',
    fc.record({
      header: maybeHeader,
      version: str,
      dbSize: int64,
      leader: uint64Big,
      raftIndex: uint64,
      raftTerm: uint64,
      raftAppliedIndex: uint64,
      errors: strs,
      dbSizeInUse: int64,
      isLearner: fc.boolean(),
    }),
  ],
  [MemberCodec, 'etcdserverpb.Member', memberArb],
  [
    MemberListRequestCodec,
    'etcdserverpb.MemberListRequest',
    fc.record({ linearizable: fc.boolean() }),
  ],
  [MemberListResponseCodec, 'etcdserverpb.MemberListResponse', membersResponse],
  [
    MemberAddRequestCodec,
    'etcdserverpb.MemberAddRequest',
    fc.record({ peerUrls: strs, isLearner: fc.boolean() }),
  ],
  [
    MemberAddResponseCodec,
    'etcdserverpb.MemberAddResponse',
    fc.record({ header: maybeHeader, member: fc.option(memberArb, { nil: null }), members }),
  ],
  [MemberRemoveRequestCodec, 'etcdserverpb.MemberRemoveRequest', fc.record({ id: uint64Big })],
  [MemberRemoveResponseCodec, 'etcdserverpb.MemberRemoveResponse', membersResponse],
  [
    MemberUpdateRequestCodec,
    'etcdserverpb.MemberUpdateRequest',
    fc.record({ id: uint64Big, peerUrls: strs }),
  ],
  [MemberUpdateResponseCodec, 'etcdserverpb.MemberUpdateResponse', membersResponse],
  [MemberPromoteRequestCodec, 'etcdserverpb.MemberPromoteRequest', fc.record({ id: uint64Big })],
  [MemberPromoteResponseCodec, 'etcdserverpb.MemberPromoteResponse', membersResponse],
]

/** Decodes from a plain Uint8Array copy, so byte fields come back as Uint8Array views. */
function decode<T>(codec: MessageCodec<T>, b: Uint8Array): T {
  return decodeMessage(codec, new Uint8Array(b))
}

/** Decoding either succeeds or throws an ApiError: never another error. */
function decodesOrRefuses<T>(codec: MessageCodec<T>, b: Uint8Array): void {
  try {
    decode(codec, b)
  } catch (err) {
    if (!(err instanceof ApiError)) throw err
    assert.equal(err.code, 'MALFORMED')
  }
}

for (const [codec, pbName, arb] of cases) {
  test(`${codec.name}: round trip, and the bytes protobufjs writes from etcd's .proto`, (t) => {
    fc.assert(
      fc.property(arb, (v) => {
        const ours = encodeMessage(codec, v)
        assert.deepEqual(decode(codec, ours), plain(v))
        assert.deepEqual(
          Buffer.from(ours).toString('hex'),
          Buffer.from(pbEncode(pbName, v)).toString('hex'),
        )
      }),
      fcParams(t, { numRuns: 150 }),
    )
  })

  test(`${codec.name}: truncated, mangled and random input is refused with an ApiError`, (t) => {
    fc.assert(
      fc.property(
        arb,
        fc.nat(),
        fc.nat(255),
        fc.uint8Array({ maxLength: 40 }),
        (v, cut, b, junk) => {
          const enc = encodeMessage(codec, v)
          if (enc.length > 0) {
            decodesOrRefuses(codec, enc.subarray(0, cut % enc.length))
            const mangled = new Uint8Array(enc)
            mangled[cut % enc.length] = b
            decodesOrRefuses(codec, mangled)
          }
          decodesOrRefuses(codec, junk)
        },
      ),
      fcParams(t, { numRuns: 200 }),
    )
  })
}

test('unknown fields of every wire type are skipped', () => {
  const v = { key: new Uint8Array([1]), value: new Uint8Array([2]), lease: 5n }
  const known = encodeMessage(PutRequestCodec, {
    ...v,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  })
  const unknown = Buffer.from([
    ...[0x38, 0x96, 0x01], // field 7 varint
    ...[0x41, 1, 2, 3, 4, 5, 6, 7, 8], // field 8 fixed64
    ...[0x4a, 0x02, 0xaa, 0xbb], // field 9 bytes
    ...[0x55, 1, 2, 3, 4], // field 10 fixed32
    ...[0x5b, 0x08, 0x01, 0x63, 0x08, 0x02, 0x64, 0x5c], // field 11 group, a group inside
    ...[0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01], // field 2^29-1 varint
  ])
  const got = decode(PutRequestCodec, Buffer.concat([unknown, known, unknown]))
  assert.deepEqual(got, decode(PutRequestCodec, known))
})

test("hostile input: gogoproto's texts, no allocation from a declared length", () => {
  const refused = (codec: MessageCodec<unknown>, bytes: number[], text: string): void => {
    assert.throws(
      () => decode(codec, new Uint8Array(bytes)),
      (err: unknown) => err instanceof ApiError && err.code === 'MALFORMED' && err.message === text,
    )
  }
  // What etcd 3.4 answers (probed: grpc-message "grpc: error unmarshalling request: <this>").
  refused(RangeRequestCodec, [0x0a, 0x05, 0x61], 'unexpected EOF')
  refused(RangeRequestCodec, [0x08, 0x01], 'proto: wrong wireType = 0 for field Key')
  // A 4 GiB length is refused by comparing it with what is left, never allocated.
  refused(RangeRequestCodec, [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], 'unexpected EOF')
  refused(
    RangeRequestCodec,
    [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    'unexpected EOF',
  )
  refused(
    RangeRequestCodec,
    [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    'proto: integer overflow',
  )
  refused(RangeRequestCodec, [0x18], 'unexpected EOF')
  refused(RangeRequestCodec, [0x00, 0x01], 'proto: illegal tag 0 (wire type 0)')
  refused(RangeRequestCodec, [0x0c], 'proto: wiretype end group for non-group')
  refused(RangeRequestCodec, [0x7e, 0x01], 'proto: illegal wireType 6')
  refused(RangeRequestCodec, [0x79, 1, 2, 3], 'unexpected EOF')
  // A group that never ends.
  refused(RangeRequestCodec, [0x7b, 0x08, 0x01], 'unexpected EOF')
})

test(`txns nested deeper than ${MAX_DEPTH} are refused, however deep, without recursion to the bottom`, () => {
  // RequestOp{request_txn: TxnRequest{success: [RequestOp{...}]}}, built from the inside out.
  const nest = (levels: number): Buffer => {
    let inner = Buffer.alloc(0)
    for (let i = 0; i < levels; i++) {
      const op = Buffer.concat([Buffer.from([0x22]), varint(inner.length), inner])
      inner = Buffer.concat([Buffer.from([0x12]), varint(op.length), op])
    }
    return inner
  }
  const ok = nest(MAX_DEPTH / 2 - 1)
  assert.doesNotThrow(() => decode(TxnRequestCodec, ok))
  for (const levels of [MAX_DEPTH / 2 + 1, 10_000]) {
    assert.throws(
      () => decode(TxnRequestCodec, nest(levels)),
      (err: unknown) => err instanceof ApiError && /nested deeper/.test(err.message),
    )
  }
})

test('64-bit values beyond 2^53 saturate in number fields and are exact in bigint fields', () => {
  const big = 2n ** 63n - 1n
  const bytes = pbEncode('mvccpb.KeyValue', {
    key: new Uint8Array(),
    createRevision: 0,
    modRevision: 0,
    version: 0,
    value: new Uint8Array(),
    lease: -big,
  })
  assert.equal(decode(KeyValueCodec, bytes).lease, -big)
  const t = pbType('etcdserverpb.RangeRequest')
  const rr = t.encode(t.fromObject({ revision: String(big), limit: String(-big) })).finish()
  const q = decode(RangeRequestCodec, rr)
  assert.equal(q.revision, Number.MAX_SAFE_INTEGER)
  assert.equal(q.limit, -Number.MAX_SAFE_INTEGER)
  const h = pbType('etcdserverpb.ResponseHeader')
  const hb = h.encode(h.fromObject({ clusterId: (2n ** 64n - 1n).toString() })).finish()
  assert.equal(decode(ResponseHeaderCodec, hb).clusterId, 2n ** 64n - 1n)
})

function varint(n: number): Buffer {
  const out: number[] = []
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return Buffer.from(out)
}

/** fast-check builds records without a prototype; the codecs build plain objects. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain)
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) out[k] = plain(x)
  return out
}

test('WatchCreateRequest: filters one per tag (unpacked) read as packed ones', () => {
  // gogoproto reads a repeated enum in both forms; etcd's clients write it packed.
  const unpacked = new Uint8Array([0x0a, 0x01, 0x61, 0x28, 0x00, 0x28, 0x01])
  const q = decode(WatchCreateRequestCodec, unpacked)
  assert.deepEqual(q.filters, [0, 1])
  assert.deepEqual(q.key, new Uint8Array([0x61]))
})

test('writeWatchEventsFrame: a header, an id and events, framed as gRPC frames WatchResponseCodec', (t) => {
  fc.assert(
    fc.property(header, int64, fc.array(event, { maxLength: 3 }), (h, watchId, events) => {
      const parts = [encodeWatchHeaderField(h), watchId, encodeWatchEvents(events)] as const
      const size = watchEventsFrameSize(...parts)
      // Written after 3 bytes of other content, which it leaves alone.
      const buf = Buffer.alloc(3 + size, 0xee)
      assert.equal(writeWatchEventsFrame(buf, 3, ...parts), 3 + size)
      assert.deepEqual([...buf.subarray(0, 3)], [0xee, 0xee, 0xee])
      const frame = buf.subarray(3)
      const body = encodeMessage(WatchResponseCodec, {
        ...watchResponse({ header: h, watchId }),
        events,
      })
      assert.equal(frame[0], 0)
      assert.equal(frame.readUInt32BE(1), body.length)
      assert.deepEqual(new Uint8Array(frame.subarray(5)), new Uint8Array(body))
    }),
    fcParams(t, { numRuns: 150 }),
  )
})

test('WatchResponse: events encoded once (encodedEvents) give the same bytes as events', (t) => {
  fc.assert(
    fc.property(watchResponseArb, (v) => {
      const pre = { ...v, events: [], encodedEvents: encodeWatchEvents(v.events) }
      assert.deepEqual(encodeMessage(WatchResponseCodec, pre), encodeMessage(WatchResponseCodec, v))
    }),
    fcParams(t, { numRuns: 150 }),
  )
})
