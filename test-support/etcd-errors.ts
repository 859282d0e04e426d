/**
 * etcd 3.4.23's answers to invalid KV requests, as observed on the wire (test support): the gRPC
 * status code and the exact details text that clients match. differential.test.ts checks every
 * row against a real etcd 3.4; the same table runs against pontoon by changing the endpoint.
 *
 * Each case runs on a fresh single-member server started with `CASE_LIMITS` (limitFlags), after
 * `setupCases` (two puts of "a" and a compaction at revision 2, so revision 1 is compacted and
 * the current revision is 3).
 */

import type { Limits } from './differential.js'
import { grpcLimitBytes } from './differential.js'
import type { CallResult, KvClient, KvMethod, Message } from './kv-client.js'

/** The limits the cases are written for: pass limitFlags(CASE_LIMITS) to the server. */
export const CASE_LIMITS: Limits = { maxTxnOps: 4, maxRequestBytes: 4096 }

export interface ErrorCase {
  readonly name: string
  readonly method: KvMethod
  readonly request: Message
  /** The gRPC status code and details text etcd 3.4.23 answers with. */
  readonly code: number
  readonly details: string
}

const b = (s: string): Buffer => Buffer.from(s)
const put = (k: string): Message => ({ request_put: { key: b(k), value: b('1') } })
const range = (k: string): Message => ({ request_range: { key: b(k) } })
const del = (k: string, end = ''): Message => ({
  request_delete_range: { key: b(k), range_end: b(end) },
})

const INVALID_ARGUMENT = 3
const NOT_FOUND = 5
const RESOURCE_EXHAUSTED = 8
const OUT_OF_RANGE = 11

const KEY_NOT_PROVIDED = 'etcdserver: key is not provided'
const DUPLICATE = 'etcdserver: duplicate key given in txn request'
const TOO_MANY = 'etcdserver: too many operations in txn request'
const TOO_LARGE = 'etcdserver: request is too large'
const COMPACTED = 'etcdserver: mvcc: required revision has been compacted'
const FUTURE = 'etcdserver: mvcc: required revision is a future revision'

const overGrpc = grpcLimitBytes(CASE_LIMITS.maxRequestBytes) + 1

/** The invalid requests and etcd 3.4.23's answers to them. */
// prettier-ignore
export const ERROR_CASES: readonly ErrorCase[] = [
  // Empty keys.
  { name: 'range, empty key', method: 'range', request: { key: b('') }, code: INVALID_ARGUMENT, details: KEY_NOT_PROVIDED },
  { name: 'put, empty key', method: 'put', request: { key: b(''), value: b('x') }, code: INVALID_ARGUMENT, details: KEY_NOT_PROVIDED },
  { name: 'delete, empty key', method: 'deleteRange', request: { key: b('') }, code: INVALID_ARGUMENT, details: KEY_NOT_PROVIDED },
  { name: 'txn, put of an empty key', method: 'txn', request: { success: [put('')] }, code: INVALID_ARGUMENT, details: KEY_NOT_PROVIDED },
  // Revisions.
  { name: 'range at a future revision', method: 'range', request: { key: b('a'), revision: 100 }, code: OUT_OF_RANGE, details: FUTURE },
  { name: 'range at a compacted revision', method: 'range', request: { key: b('a'), revision: 1 }, code: OUT_OF_RANGE, details: COMPACTED },
  { name: 'compact at a future revision', method: 'compact', request: { revision: 100 }, code: OUT_OF_RANGE, details: FUTURE },
  { name: 'compact at the compacted revision', method: 'compact', request: { revision: 2 }, code: OUT_OF_RANGE, details: COMPACTED },
  { name: 'compact at revision 0 (below the compacted one)', method: 'compact', request: { revision: 0 }, code: OUT_OF_RANGE, details: COMPACTED },
  { name: 'compact at revision -1', method: 'compact', request: { revision: -1 }, code: OUT_OF_RANGE, details: COMPACTED },
  { name: 'txn with a range at a future revision', method: 'txn', request: { success: [{ request_range: { key: b('a'), revision: 100 } }] }, code: OUT_OF_RANGE, details: FUTURE },
  // Txn rules.
  { name: 'txn, two puts of one key', method: 'txn', request: { success: [put('a'), put('a')] }, code: INVALID_ARGUMENT, details: DUPLICATE },
  { name: 'txn, a put and a delete of one key', method: 'txn', request: { success: [put('a'), del('a')] }, code: INVALID_ARGUMENT, details: DUPLICATE },
  { name: 'txn, a put inside a deleted range', method: 'txn', request: { success: [del('a', 'c'), put('b')] }, code: INVALID_ARGUMENT, details: DUPLICATE },
  { name: 'txn, a put in a nested txn and outside', method: 'txn', request: { success: [put('a'), { request_txn: { success: [put('a')] } }] }, code: INVALID_ARGUMENT, details: DUPLICATE },
  { name: 'txn, 5 ops with --max-txn-ops 4', method: 'txn', request: { success: ['a', 'b', 'c', 'd', 'e'].map(range) }, code: INVALID_ARGUMENT, details: TOO_MANY },
  { name: 'txn, 5 compares with --max-txn-ops 4', method: 'txn', request: { compare: ['a', 'b', 'c', 'd', 'e'].map((k) => ({ key: b(k), target: 0, result: 0, version: 0 })) }, code: INVALID_ARGUMENT, details: TOO_MANY },
  // Put rules.
  { name: 'put with an unknown lease', method: 'put', request: { key: b('a'), value: b('x'), lease: 7587 }, code: NOT_FOUND, details: 'etcdserver: requested lease not found' },
  { name: 'put ignore_value with a value', method: 'put', request: { key: b('a'), value: b('x'), ignore_value: true }, code: INVALID_ARGUMENT, details: 'etcdserver: value is provided' },
  { name: 'put ignore_lease with a lease', method: 'put', request: { key: b('a'), lease: 5, ignore_lease: true }, code: INVALID_ARGUMENT, details: 'etcdserver: lease is provided' },
  { name: 'put ignore_value of a missing key', method: 'put', request: { key: b('zz'), ignore_value: true }, code: INVALID_ARGUMENT, details: 'etcdserver: key not found' },
  { name: 'put ignore_lease of a missing key', method: 'put', request: { key: b('zz'), value: b('v'), ignore_lease: true }, code: INVALID_ARGUMENT, details: 'etcdserver: key not found' },
  // Sizes.
  { name: 'put over --max-request-bytes, under the gRPC limit', method: 'put', request: { key: b('a'), value: Buffer.alloc(5000, 'x') }, code: INVALID_ARGUMENT, details: TOO_LARGE },
  { name: 'delete of a 5000-byte key (a range of it is fine: reads are not proposed)', method: 'deleteRange', request: { key: Buffer.alloc(5000, 'k') }, code: INVALID_ARGUMENT, details: TOO_LARGE },
  { name: 'put over the gRPC limit (max-request-bytes + 512 KiB)', method: 'put', request: { key: b('a'), value: Buffer.alloc(overGrpc, 'x') }, code: RESOURCE_EXHAUSTED, details: `grpc: received message larger than max (${overGrpc + 7} vs. ${overGrpc - 1})` },
]

/** Brings a fresh server to the state the cases expect (revision 3, compacted at 2). */
export async function setupCases(kv: KvClient): Promise<void> {
  for (const v of ['1', '2']) {
    const r = await kv.call('put', { key: b('a'), value: b(v) })
    if (!r.ok) throw new Error(`setup put: ${r.details}`)
  }
  const r = await kv.call('compact', { revision: 2, physical: true })
  if (!r.ok) throw new Error(`setup compact: ${r.details}`)
}

/** The answers for a case, as the table would write them, for a mismatch message. */
export function describeAnswer(r: CallResult): string {
  return r.ok ? `OK ${JSON.stringify(r.response)}` : `code ${r.code} "${r.details}"`
}
