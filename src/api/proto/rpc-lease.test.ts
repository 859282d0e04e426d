// The Lease service's codecs. Goal: every message round-trips, our bytes are exactly what
// protobufjs writes from etcd's own rpc.proto (the etcd3 package's copy) and from leasepb's
// lease.proto (written out here: the etcd3 package does not ship it), and hostile input gets an
// ApiError, never a crash. Method: seeded fast-check properties, as codec.test.ts does for KV.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import fc from 'fast-check'
import protobuf from 'protobufjs'
import { fcParams } from '../../../test-support/seed.js'
import { ApiError } from '../api-error.js'
import {
  LeaseCheckpointRequestCodec,
  LeaseGrantRequestCodec,
  LeaseGrantResponseCodec,
  LeaseInternalRequestCodec,
  LeaseInternalResponseCodec,
  LeaseKeepAliveRequestCodec,
  LeaseKeepAliveResponseCodec,
  LeaseLeasesRequestCodec,
  LeaseLeasesResponseCodec,
  LeaseRevokeRequestCodec,
  LeaseRevokeResponseCodec,
  LeaseTimeToLiveRequestCodec,
  LeaseTimeToLiveResponseCodec,
} from './rpc-lease.js'
import { decodeMessage, encodeMessage, type MessageCodec } from './wire.js'

const require = createRequire(import.meta.url)
const protoDir = require.resolve('etcd3/package.json').replace(/package\.json$/, 'proto/')
const root = protobuf.loadSync(protoDir + 'rpc.proto')
protobuf.parse(
  `syntax = "proto3";
   package leasepb;
   message LeaseInternalRequest { etcdserverpb.LeaseTimeToLiveRequest LeaseTimeToLiveRequest = 1; }
   message LeaseInternalResponse { etcdserverpb.LeaseTimeToLiveResponse LeaseTimeToLiveResponse = 1; }`,
  root,
)
root.resolveAll()

/** Our value as protobufjs's fromObject wants it: fields matched by lower-cased name. */
function toPb(type: protobuf.Type, v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of type.fieldsArray) {
    const key = Object.keys(v).find(
      (k) => k.toLowerCase() === f.name.toLowerCase().replace(/_/g, ''),
    )
    if (key === undefined) continue
    const x = v[key]
    const conv = (y: unknown): unknown =>
      f.resolvedType instanceof protobuf.Type
        ? toPb(f.resolvedType, y as Record<string, unknown>)
        : typeof y === 'bigint' || typeof y === 'number'
          ? String(y)
          : y
    if (f.repeated) {
      const xs = x as unknown[]
      if (xs.length > 0) out[f.name] = xs.map(conv)
    } else if (f.resolvedType instanceof protobuf.Type) {
      if (x !== null) out[f.name] = conv(x)
    } else if (x !== 0 && x !== 0n && x !== false && x !== '') {
      out[f.name] = conv(x)
    }
  }
  return out
}

/** Both sides as plain objects and plain Uint8Arrays (fast-check's records have no prototype). */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain)
  if (v instanceof Uint8Array) return new Uint8Array(v)
  if (v === null || typeof v !== 'object') return v
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
}

const id = fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }))
const ttl = fc.oneof(fc.constant(0), fc.integer({ min: -300, max: 300 }), fc.maxSafeInteger())
const header = fc.option(
  fc.record({
    clusterId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    memberId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    revision: fc.nat(),
    raftTerm: fc.nat(),
  }),
  { nil: null },
)
const timeToLiveRequest = fc.record({ id, keys: fc.boolean() })
const timeToLiveResponse = fc.record({
  header,
  id,
  ttl,
  grantedTtl: ttl,
  keys: fc.array(fc.uint8Array({ maxLength: 5 }), { maxLength: 3 }),
})

type Case = [string, MessageCodec<unknown>, fc.Arbitrary<unknown>]
const c = <T>(name: string, codec: MessageCodec<T>, arb: fc.Arbitrary<T>): Case => [
  name,
  codec as MessageCodec<unknown>,
  arb as fc.Arbitrary<unknown>,
]

const cases: Case[] = [
  c('etcdserverpb.LeaseGrantRequest', LeaseGrantRequestCodec, fc.record({ ttl, id })),
  c(
    'etcdserverpb.LeaseGrantResponse',
    LeaseGrantResponseCodec,
    fc.record({ header, id, ttl, error: fc.string({ maxLength: 5 }) }),
  ),
  c('etcdserverpb.LeaseRevokeRequest', LeaseRevokeRequestCodec, fc.record({ id })),
  c('etcdserverpb.LeaseRevokeResponse', LeaseRevokeResponseCodec, fc.record({ header })),
  c('etcdserverpb.LeaseKeepAliveRequest', LeaseKeepAliveRequestCodec, fc.record({ id })),
  c(
    'etcdserverpb.LeaseKeepAliveResponse',
    LeaseKeepAliveResponseCodec,
    fc.record({ header, id, ttl }),
  ),
  c('etcdserverpb.LeaseTimeToLiveRequest', LeaseTimeToLiveRequestCodec, timeToLiveRequest),
  c('etcdserverpb.LeaseTimeToLiveResponse', LeaseTimeToLiveResponseCodec, timeToLiveResponse),
  c('etcdserverpb.LeaseLeasesRequest', LeaseLeasesRequestCodec, fc.constant({})),
  c(
    'etcdserverpb.LeaseLeasesResponse',
    LeaseLeasesResponseCodec,
    fc.record({ header, leases: fc.array(fc.record({ id }), { maxLength: 4 }) }),
  ),
  c(
    'etcdserverpb.LeaseCheckpointRequest',
    LeaseCheckpointRequestCodec,
    fc.record({
      checkpoints: fc.array(fc.record({ id, remainingTtl: ttl }), { maxLength: 4 }),
    }),
  ),
  c(
    'leasepb.LeaseInternalRequest',
    LeaseInternalRequestCodec,
    fc.record({ leaseTimeToLiveRequest: fc.option(timeToLiveRequest, { nil: null }) }),
  ),
  c(
    'leasepb.LeaseInternalResponse',
    LeaseInternalResponseCodec,
    fc.record({ leaseTimeToLiveResponse: fc.option(timeToLiveResponse, { nil: null }) }),
  ),
]

for (const [name, codec, arb] of cases) {
  test(`${name}: round-trips, and its bytes are protobufjs's from etcd's .proto`, (t) => {
    const type = root.lookupType(name)
    fc.assert(
      fc.property(arb, (v) => {
        const ours = encodeMessage(codec, v as never)
        const theirs = type.encode(type.fromObject(toPb(type, v as Record<string, unknown>)))
        assert.deepEqual(Buffer.from(ours), Buffer.from(theirs.finish()))
        assert.deepEqual(plain(decodeMessage(codec, ours)), plain(v))
      }),
      fcParams(t, { numRuns: 200 }),
    )
  })
}

test('lease messages refuse hostile input with an ApiError, never a crash', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      for (const [, codec] of cases) {
        try {
          decodeMessage(codec, bytes)
        } catch (err) {
          assert.ok(err instanceof ApiError, String(err))
        }
      }
    }),
    fcParams(t, { numRuns: 200 }),
  )
  // A wrong wire type for the id: gogoproto's words.
  assert.throws(
    () => decodeMessage(LeaseKeepAliveRequestCodec, new Uint8Array([0x0a, 0x00])),
    /wrong wireType = 2 for field ID/,
  )
})
