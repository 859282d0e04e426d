/**
 * The differential engine (test support): the same random sequences of KV operations go to two
 * servers, and every answer must be equal field by field (a response, or a gRPC code and details
 * text), except header member_id, cluster_id and raft_term. Against etcd 3.4 on one side, this is
 * how pontoon proves it answers as etcd does.
 *
 * Sequences come from fast-check, seeded by fcParams (test-support/seed.ts), over a small key
 * space so that operations collide: Put (prev_kv, ignore_value, ignore_lease, an unknown lease),
 * DeleteRange (single, prefix, from-key, explicit end, prev_kv), Range (prefix, from-key, limit,
 * historic revision, sort, keys_only, count_only, serializable, min/max mod/create revision),
 * Txn (compares on value/version/create/mod/lease with = != < >, nested txns, both branches,
 * duplicate keys), Compact (physical or not), and invalid ones (empty key, range_end < key,
 * future and compacted revisions, too many txn ops, values over --max-request-bytes and over the
 * gRPC limit). A failure shrinks to a minimal sequence and is reported as a transcript with the
 * first differing answer and its field-by-field diff.
 *
 * Runs share the two servers, so each run works under a key prefix of its own ("r0007/"), later
 * runs sorting after earlier ones, and names revisions relative to the revision at which it
 * started (`base+3`). Between runs the engine checks that both servers are at the same revision;
 * after a failing run (whose servers may have diverged) it pads the one behind with puts under
 * "_pad/" (sorted before every run prefix, so no run's range sees them) and compacts both to the
 * same revision, so the next run (a shrink candidate) starts from equivalent states.
 */

import fc from 'fast-check'
import { fcParams } from './seed.js'
import type { Label } from './seed.js'
import { GRPC_STATUS_NAMES, KvClient } from './kv-client.js'
import type { CallResult, KvMethod, Message } from './kv-client.js'
import { etcdctl } from './etcdctl.js'
import type { EtcdctlResult } from './etcdctl.js'
import { startCluster } from './procs.js'
import type { ClusterOptions, TestHooks } from './procs.js'

// --- the operations ---------------------------------------------------------------------------

/** A key of the run's key space (the run prefix is added when sent); '' is the empty key. */
export type KeyName = string

/** A range end: one key, the key's prefix, every key from it ('\0'), or another key. */
export type RangeEnd =
  | { readonly type: 'none' }
  | { readonly type: 'prefix' }
  | { readonly type: 'fromKey' }
  | { readonly type: 'key'; readonly key: KeyName }

/** A revision: 0 (latest / none), relative to the run's start, or an absolute number. */
export type RevRef =
  | { readonly type: 'zero' }
  | { readonly type: 'base'; readonly offset: number }
  | { readonly type: 'abs'; readonly rev: number }

export interface PutOp {
  readonly type: 'put'
  readonly key: KeyName
  /** A value by name: a short string, or 'big:N' for N bytes. */
  readonly value: string
  readonly lease: number
  readonly prevKv: boolean
  readonly ignoreValue: boolean
  readonly ignoreLease: boolean
}
export interface DeleteOp {
  readonly type: 'delete'
  readonly key: KeyName
  readonly end: RangeEnd
  readonly prevKv: boolean
}
export interface RangeOp {
  readonly type: 'range'
  readonly key: KeyName
  readonly end: RangeEnd
  readonly limit: number
  readonly rev: RevRef
  readonly sortOrder: number // 0 none, 1 ascend, 2 descend
  readonly sortTarget: number // 0 key, 1 version, 2 create, 3 mod, 4 value
  readonly serializable: boolean
  readonly keysOnly: boolean
  readonly countOnly: boolean
  readonly minModRev: RevRef
  readonly maxModRev: RevRef
  readonly minCreateRev: RevRef
  readonly maxCreateRev: RevRef
}
export interface Compare {
  readonly key: KeyName
  readonly end: RangeEnd
  readonly result: number // 0 =, 1 >, 2 <, 3 !=
  readonly target: 'version' | 'create' | 'mod' | 'value' | 'lease'
  /** version: a count; create/mod: a revision; value: a value name; lease: a lease id. */
  readonly operand: number | RevRef | string
}
export interface TxnOp {
  readonly type: 'txn'
  readonly compare: readonly Compare[]
  readonly success: readonly RequestOp[]
  readonly failure: readonly RequestOp[]
}
export interface CompactOp {
  readonly type: 'compact'
  readonly rev: RevRef
  readonly physical: boolean
}
export type RequestOp = PutOp | DeleteOp | RangeOp | TxnOp
export type Op = RequestOp | CompactOp

/** The servers' limits the generator aims at (they must be started with these flags). */
export interface Limits {
  /** --max-txn-ops of both servers (generate txns just under and over it). */
  readonly maxTxnOps: number
  /** --max-request-bytes of both servers (generate puts just under and over it). */
  readonly maxRequestBytes: number
  /** Also send values over the gRPC receive limit (max-request-bytes + 512 KiB); default true. */
  readonly overGrpcLimit?: boolean
}

/** The flags that give a server `limits` (append to ClusterOptions.extraArgs). */
export function limitFlags(limits: Limits): string[] {
  return [`--max-txn-ops=${limits.maxTxnOps}`, `--max-request-bytes=${limits.maxRequestBytes}`]
}

/** etcd's gRPC receive limit for a --max-request-bytes (v3rpc/grpc.go: + grpcOverheadBytes). */
export function grpcLimitBytes(maxRequestBytes: number): number {
  return maxRequestBytes + 512 * 1024
}

// --- the generator ----------------------------------------------------------------------------

/** The key space: few keys, nested by prefix, so that ops collide. */
export const KEYS: readonly KeyName[] = ['a', 'a/x', 'ab', 'b', 'b/x']
/** An unknown lease id (no lease exists): etcd answers "requested lease not found". */
export const UNKNOWN_LEASE = 7587
const SMALL_VALUES = ['', 'v', 'w', 'vv']

export interface GeneratorOptions {
  readonly limits: Limits
  /** Most ops in a sequence (default 20). */
  readonly opsMax?: number
  /** Weights of the invalid cases, 0 to leave them out (default 1 each, versus ~10 valid). */
  readonly invalidWeight?: number
}

/** Arbitraries for one sequence of operations; `sequence` is what the engine draws. */
export function opArbitraries(opts: GeneratorOptions): {
  op: fc.Arbitrary<Op>
  sequence: fc.Arbitrary<Op[]>
} {
  const { limits } = opts
  const bad = opts.invalidWeight ?? 1
  const opsMax = opts.opsMax ?? 20
  const key = fc.oneof(
    { arbitrary: fc.constantFrom(...KEYS), weight: 20 },
    { arbitrary: fc.constant(''), weight: bad },
  )
  const end: fc.Arbitrary<RangeEnd> = fc.oneof(
    { arbitrary: fc.constant({ type: 'none' as const }), weight: 6 },
    { arbitrary: fc.constant({ type: 'prefix' as const }), weight: 4 },
    { arbitrary: fc.constant({ type: 'fromKey' as const }), weight: 2 },
    {
      arbitrary: fc.constantFrom(...KEYS).map((k) => ({ type: 'key' as const, key: k })),
      weight: 2,
    },
  )
  const rev: fc.Arbitrary<RevRef> = fc.oneof(
    { arbitrary: fc.constant({ type: 'zero' as const }), weight: 10 },
    {
      // Mostly revisions the run has reached (a run writes about every other op).
      arbitrary: fc
        .integer({ min: -2, max: 6 })
        .map((offset) => ({ type: 'base' as const, offset })),
      weight: 5,
    },
    {
      arbitrary: fc.constantFrom(-1, 1_000_000).map((r) => ({ type: 'abs' as const, rev: r })),
      weight: bad,
    },
  )
  const optRev: fc.Arbitrary<RevRef> = fc.oneof(
    { arbitrary: fc.constant({ type: 'zero' as const }), weight: 12 },
    { arbitrary: rev, weight: 1 },
  )
  const value = fc.oneof(
    { arbitrary: fc.constantFrom(...SMALL_VALUES), weight: 100 },
    {
      // Just under and over --max-request-bytes (the put's other bytes make "under" land near it).
      arbitrary: fc.constantFrom(
        `big:${limits.maxRequestBytes - 64}`,
        `big:${limits.maxRequestBytes + 1}`,
      ),
      weight: 2 * bad,
    },
    // Over the gRPC limit: half a megabyte per request, so rarely.
    ...(limits.overGrpcLimit === false || bad === 0
      ? []
      : [
          {
            arbitrary: fc.constant(`big:${grpcLimitBytes(limits.maxRequestBytes) + 1}`),
            weight: 1,
          },
        ]),
  )
  const flag = (trueWeight: number, falseWeight = 10): fc.Arbitrary<boolean> =>
    fc.oneof(
      { arbitrary: fc.constant(false), weight: falseWeight },
      { arbitrary: fc.constant(true), weight: trueWeight },
    )
  const put: fc.Arbitrary<PutOp> = fc.record({
    type: fc.constant('put' as const),
    key,
    value,
    lease: fc.oneof(
      { arbitrary: fc.constant(0), weight: 20 },
      { arbitrary: fc.constant(UNKNOWN_LEASE), weight: bad },
    ),
    prevKv: flag(5),
    ignoreValue: flag(bad, 30),
    ignoreLease: flag(bad, 30),
  })
  const del: fc.Arbitrary<DeleteOp> = fc.record({
    type: fc.constant('delete' as const),
    key,
    end,
    prevKv: flag(5),
  })
  const range: fc.Arbitrary<RangeOp> = fc.record({
    type: fc.constant('range' as const),
    key,
    end,
    limit: fc.oneof(
      { arbitrary: fc.constant(0), weight: 5 },
      { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 2 },
    ),
    rev,
    sortOrder: fc.oneof(
      { arbitrary: fc.constant(0), weight: 4 },
      { arbitrary: fc.integer({ min: 1, max: 2 }), weight: 2 },
    ),
    sortTarget: fc.integer({ min: 0, max: 4 }),
    serializable: flag(3),
    keysOnly: flag(2),
    countOnly: flag(2),
    minModRev: optRev,
    maxModRev: optRev,
    minCreateRev: optRev,
    maxCreateRev: optRev,
  })
  const compare: fc.Arbitrary<Compare> = fc
    .record({
      key: fc.constantFrom(...KEYS),
      end: fc.oneof(
        { arbitrary: fc.constant({ type: 'none' as const }), weight: 6 },
        { arbitrary: end, weight: 1 },
      ),
      result: fc.integer({ min: 0, max: 3 }),
      target: fc.constantFrom('version', 'create', 'mod', 'value', 'lease') as fc.Arbitrary<
        Compare['target']
      >,
      count: fc.integer({ min: 0, max: 3 }),
      rev,
      value: fc.constantFrom(...SMALL_VALUES),
      lease: fc.constantFrom(0, UNKNOWN_LEASE),
    })
    .map(({ key: k, end: e, result, target, count, rev: r, value: v, lease }) => ({
      key: k,
      end: e,
      result,
      target,
      operand:
        target === 'version' ? count : target === 'value' ? v : target === 'lease' ? lease : r,
    }))
  // Branches stay within --max-txn-ops; tooManyOps below crosses it.
  const branchMax = Math.min(3, limits.maxTxnOps)
  const txn = fc.letrec<{ txn: TxnOp; req: RequestOp }>((tie) => ({
    txn: fc.record({
      type: fc.constant('txn' as const),
      compare: fc.array(compare, { maxLength: 3 }),
      success: fc.array(tie('req'), { maxLength: branchMax }),
      failure: fc.array(tie('req'), { maxLength: branchMax }),
    }),
    req: fc.oneof(
      { maxDepth: 2, withCrossShrink: true },
      { arbitrary: put, weight: 4 },
      { arbitrary: del, weight: 2 },
      { arbitrary: range, weight: 3 },
      { arbitrary: tie('txn'), weight: 1 },
    ),
  })).txn
  const tooManyOps: fc.Arbitrary<TxnOp> = fc
    .record({ inCompare: fc.boolean(), key: fc.constantFrom(...KEYS) })
    .map(({ inCompare, key: k }) => {
      const n = limits.maxTxnOps + 1
      const compare = Array.from({ length: inCompare ? n : 0 }, () => ({
        key: k,
        end: { type: 'none' as const },
        result: 0,
        target: 'version' as const,
        operand: 0,
      }))
      const success = Array.from({ length: inCompare ? 0 : n }, () => ({
        type: 'range' as const,
        key: k,
        end: { type: 'none' as const },
        limit: 0,
        rev: { type: 'zero' as const },
        sortOrder: 0,
        sortTarget: 0,
        serializable: false,
        keysOnly: false,
        countOnly: false,
        minModRev: { type: 'zero' as const },
        maxModRev: { type: 'zero' as const },
        minCreateRev: { type: 'zero' as const },
        maxCreateRev: { type: 'zero' as const },
      }))
      return { type: 'txn' as const, compare, success, failure: [] }
    })
  const compact: fc.Arbitrary<CompactOp> = fc.record({
    type: fc.constant('compact' as const),
    rev,
    physical: fc.boolean(),
  })
  const op: fc.Arbitrary<Op> = fc.oneof(
    { arbitrary: put, weight: 14 },
    { arbitrary: del, weight: 3 },
    { arbitrary: range, weight: 8 },
    { arbitrary: txn, weight: 4 },
    { arbitrary: compact, weight: 1 },
    { arbitrary: tooManyOps, weight: bad },
  )
  // 'medium' size: sequences long enough to build up state that later ops read and collide on.
  return { op, sequence: fc.array(op, { minLength: 1, maxLength: opsMax, size: 'medium' }) }
}

// --- from ops to requests ---------------------------------------------------------------------

/** What a run's ops are relative to: its key prefix and the revision it started at. */
export interface RunContext {
  readonly prefix: string
  readonly baseRev: number
}

function keyBytes(ctx: RunContext, k: KeyName): Buffer {
  return Buffer.from(k === '' ? '' : ctx.prefix + k)
}

/** etcd's prefix end: the key with its last byte below 0xff incremented, the rest cut. */
export function prefixEnd(key: Buffer): Buffer {
  for (let i = key.length - 1; i >= 0; i--) {
    if (key[i]! < 0xff) {
      const end = Buffer.from(key.subarray(0, i + 1))
      end[i] = key[i]! + 1
      return end
    }
  }
  return Buffer.from([0])
}

function endBytes(ctx: RunContext, k: KeyName, e: RangeEnd): Buffer {
  switch (e.type) {
    case 'none':
      return Buffer.alloc(0)
    case 'prefix':
      return prefixEnd(keyBytes(ctx, k))
    case 'fromKey':
      return Buffer.from([0])
    case 'key':
      return keyBytes(ctx, e.key)
  }
}

function revNumber(ctx: RunContext, r: RevRef): number {
  switch (r.type) {
    case 'zero':
      return 0
    case 'base':
      return ctx.baseRev + r.offset
    case 'abs':
      return r.rev
  }
}

function valueBytes(v: string): Buffer {
  const m = /^big:(\d+)$/.exec(v)
  return m === null ? Buffer.from(v) : Buffer.alloc(Number(m[1]), 'x')
}

/**
 * Drops zero-length bytes fields, as Go's protobuf encoder does (etcdctl and clientv3 never send
 * one). NB: etcd 3.4 tells an empty range_end on the wire from an absent one: a Range with
 * range_end present and empty returns every key >= key (a DeleteRange does not). protobufjs
 * sends a set empty field, so the engine omits them to compare what Go clients can send.
 */
function omitEmptyBytes(m: Message): Message {
  for (const [k, v] of Object.entries(m)) if (Buffer.isBuffer(v) && v.length === 0) delete m[k]
  return m
}

function putRequest(ctx: RunContext, op: PutOp): Message {
  return omitEmptyBytes({
    key: keyBytes(ctx, op.key),
    value: valueBytes(op.value),
    lease: op.lease,
    prev_kv: op.prevKv,
    ignore_value: op.ignoreValue,
    ignore_lease: op.ignoreLease,
  })
}

function deleteRequest(ctx: RunContext, op: DeleteOp): Message {
  return omitEmptyBytes({
    key: keyBytes(ctx, op.key),
    range_end: endBytes(ctx, op.key, op.end),
    prev_kv: op.prevKv,
  })
}

function rangeRequest(ctx: RunContext, op: RangeOp): Message {
  return omitEmptyBytes({
    key: keyBytes(ctx, op.key),
    range_end: endBytes(ctx, op.key, op.end),
    limit: op.limit,
    revision: revNumber(ctx, op.rev),
    sort_order: op.sortOrder,
    sort_target: op.sortTarget,
    serializable: op.serializable,
    keys_only: op.keysOnly,
    count_only: op.countOnly,
    min_mod_revision: revNumber(ctx, op.minModRev),
    max_mod_revision: revNumber(ctx, op.maxModRev),
    min_create_revision: revNumber(ctx, op.minCreateRev),
    max_create_revision: revNumber(ctx, op.maxCreateRev),
  })
}

const TARGET_NUMBER = { version: 0, create: 1, mod: 2, value: 3, lease: 4 } as const

function compareMessage(ctx: RunContext, c: Compare): Message {
  // The oneof target (value included, even when empty) is set after the empty bytes are gone:
  // Go encodes a set oneof member whatever its value.
  const m: Message = omitEmptyBytes({
    key: keyBytes(ctx, c.key),
    range_end: endBytes(ctx, c.key, c.end),
    result: c.result,
    target: TARGET_NUMBER[c.target],
  })
  if (c.target === 'version') m.version = c.operand as number
  else if (c.target === 'create') m.create_revision = revNumber(ctx, c.operand as RevRef)
  else if (c.target === 'mod') m.mod_revision = revNumber(ctx, c.operand as RevRef)
  else if (c.target === 'value') m.value = valueBytes(c.operand as string)
  else m.lease = c.operand as number
  return m
}

function txnRequest(ctx: RunContext, op: TxnOp): Message {
  const requestOp = (r: RequestOp): Message => {
    switch (r.type) {
      case 'put':
        return { request_put: putRequest(ctx, r) }
      case 'delete':
        return { request_delete_range: deleteRequest(ctx, r) }
      case 'range':
        return { request_range: rangeRequest(ctx, r) }
      case 'txn':
        return { request_txn: txnRequest(ctx, r) }
    }
  }
  return {
    compare: op.compare.map((c) => compareMessage(ctx, c)),
    success: op.success.map(requestOp),
    failure: op.failure.map(requestOp),
  }
}

/** The KV method and request message for one op in a run. */
export function toRequest(ctx: RunContext, op: Op): { method: KvMethod; request: Message } {
  switch (op.type) {
    case 'put':
      return { method: 'put', request: putRequest(ctx, op) }
    case 'delete':
      return { method: 'deleteRange', request: deleteRequest(ctx, op) }
    case 'range':
      return { method: 'range', request: rangeRequest(ctx, op) }
    case 'txn':
      return { method: 'txn', request: txnRequest(ctx, op) }
    case 'compact':
      return {
        method: 'compact',
        request: { revision: revNumber(ctx, op.rev), physical: op.physical },
      }
  }
}

// --- printing ---------------------------------------------------------------------------------

function fmtRev(r: RevRef): string {
  if (r.type === 'zero') return '0'
  if (r.type === 'abs') return String(r.rev)
  return r.offset >= 0 ? `base+${r.offset}` : `base${r.offset}`
}

function fmtKey(k: KeyName): string {
  return k === '' ? '<empty>' : k
}

function fmtRange(k: KeyName, e: RangeEnd): string {
  switch (e.type) {
    case 'none':
      return fmtKey(k)
    case 'prefix':
      return `${fmtKey(k)}*`
    case 'fromKey':
      return `${fmtKey(k)}..`
    case 'key':
      return `[${fmtKey(k)},${fmtKey(e.key)})`
  }
}

function fmtValue(v: string): string {
  return v.startsWith('big:') ? `<${v.slice(4)} bytes>` : JSON.stringify(v)
}

const CMP = ['=', '>', '<', '!=']
const SORT_ORDER = ['', 'asc', 'desc']
const SORT_TARGET = ['key', 'version', 'create', 'mod', 'value']

/** One op as a line of a readable transcript ("put a/x="v" prev_kv"). */
export function formatOp(op: Op): string {
  switch (op.type) {
    case 'put': {
      const flags = [
        op.prevKv ? 'prev_kv' : '',
        op.ignoreValue ? 'ignore_value' : '',
        op.ignoreLease ? 'ignore_lease' : '',
        op.lease !== 0 ? `lease=${op.lease}` : '',
      ]
      return [`put ${fmtKey(op.key)}=${fmtValue(op.value)}`, ...flags].filter((s) => s).join(' ')
    }
    case 'delete':
      return `delete ${fmtRange(op.key, op.end)}${op.prevKv ? ' prev_kv' : ''}`
    case 'range': {
      const parts = [`range ${fmtRange(op.key, op.end)}`]
      if (op.rev.type !== 'zero') parts.push(`rev=${fmtRev(op.rev)}`)
      if (op.limit !== 0) parts.push(`limit=${op.limit}`)
      if (op.sortOrder !== 0 || op.sortTarget !== 0)
        parts.push(`sort=${SORT_ORDER[op.sortOrder] ?? op.sortOrder}:${SORT_TARGET[op.sortTarget]}`)
      if (op.serializable) parts.push('serializable')
      if (op.keysOnly) parts.push('keys_only')
      if (op.countOnly) parts.push('count_only')
      const bounds: [string, RevRef][] = [
        ['min_mod', op.minModRev],
        ['max_mod', op.maxModRev],
        ['min_create', op.minCreateRev],
        ['max_create', op.maxCreateRev],
      ]
      for (const [name, r] of bounds) if (r.type !== 'zero') parts.push(`${name}=${fmtRev(r)}`)
      return parts.join(' ')
    }
    case 'txn': {
      const cmp = op.compare.map((c) => {
        const operand =
          typeof c.operand === 'object'
            ? fmtRev(c.operand)
            : typeof c.operand === 'string'
              ? fmtValue(c.operand)
              : String(c.operand)
        return `${c.target}(${fmtRange(c.key, c.end)}) ${CMP[c.result]} ${operand}`
      })
      const branch = (ops: readonly RequestOp[]): string => ops.map(formatOp).join('; ')
      return `txn if [${cmp.join(', ')}] then [${branch(op.success)}] else [${branch(op.failure)}]`
    }
    case 'compact':
      return `compact ${fmtRev(op.rev)}${op.physical ? ' physical' : ''}`
  }
}

// --- comparing answers ------------------------------------------------------------------------

/**
 * Header fields that differ between any two clusters: not compared in the response's own header.
 * The headers etcd puts in a txn's nested responses carry only the revision (ids and term 0),
 * and are compared whole.
 */
export const IGNORED_HEADER_FIELDS: ReadonlySet<string> = new Set([
  'member_id',
  'cluster_id',
  'raft_term',
])

/**
 * An answer in a comparable, printable form: header ids dropped, bytes as text (or hex when not
 * printable; long runs of one byte shortened), unset oneof members dropped.
 */
export function normalize(result: CallResult): unknown {
  if (!result.ok) {
    return { error: GRPC_STATUS_NAMES[result.code] ?? result.code, details: result.details }
  }
  return normalizeValue(result.response, 'response')
}

/** `path` is 'response' for the top message, 'response.header' for its header, '' below. */
function normalizeValue(v: unknown, path: string): unknown {
  if (Buffer.isBuffer(v)) return bytesText(v)
  if (Array.isArray(v)) return v.map((x) => normalizeValue(x, ''))
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) {
      if (x === null || x === undefined) continue
      if (path === 'response.header' && IGNORED_HEADER_FIELDS.has(k)) continue
      out[k] = normalizeValue(x, path === 'response' && k === 'header' ? 'response.header' : '')
    }
    return out
  }
  return v
}

function bytesText(b: Buffer): string {
  if (b.length > 32 && b.every((x) => x === b[0])) {
    return `<${b.length} x ${JSON.stringify(String.fromCharCode(b[0]!))}>`
  }
  const text = b.toString('latin1')
  return /^[\x20-\x7e]*$/.test(text) ? text : `hex:${b.toString('hex')}`
}

/** Field-by-field differences between two normalized values, as "path: a | b" lines. */
export function diffValues(a: unknown, b: unknown, path = ''): string[] {
  if (Object.is(a, b)) return []
  const bothObjects = a !== null && b !== null && typeof a === 'object' && typeof b === 'object'
  if (bothObjects && Array.isArray(a) === Array.isArray(b)) {
    const out: string[] = []
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) out.push(`${path}.length: ${a.length} | ${b.length}`)
      for (let i = 0; i < Math.min(a.length, b.length); i++)
        out.push(...diffValues(a[i], b[i], `${path}[${i}]`))
      return out
    }
    const ra = a as Record<string, unknown>
    const rb = b as Record<string, unknown>
    for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
      out.push(...diffValues(ra[k], rb[k], path === '' ? k : `${path}.${k}`))
    }
    return out
  }
  return [`${path === '' ? '(answer)' : path}: ${show(a)} | ${show(b)}`]
}

function show(v: unknown): string {
  return v === undefined ? '(absent)' : JSON.stringify(v)
}

/** The differences between two answers (empty when equal), as diffValues lines. */
export function compareResults(a: CallResult, b: CallResult): string[] {
  if (a.ok !== b.ok) return [`(answer): ${show(normalize(a))} | ${show(normalize(b))}`]
  return diffValues(normalize(a), normalize(b))
}

// --- the engine -------------------------------------------------------------------------------

/** One side of the comparison: something that answers KV calls. */
export interface Target {
  readonly name: string
  call(method: KvMethod, request: Message): Promise<CallResult>
}

/** A Target over a raw gRPC client to one endpoint (close it after the test). */
export function grpcTarget(name: string, endpoint: string): Target & { close(): void } {
  const client = new KvClient(endpoint)
  return {
    name,
    call: (method, request) => client.call(method, request),
    close: () => client.close(),
  }
}

export interface DifferentialOptions extends GeneratorOptions {
  readonly a: Target
  readonly b: Target
  /** fast-check runs (default 30); other parameters via `fcOverrides`. */
  readonly numRuns?: number
  readonly fcOverrides?: Partial<fc.Parameters<[Op[]]>>
}

/** What a failing run looked like: the ops, each answer pair, and where they first differ. */
export interface RunOutcome {
  readonly ctx: RunContext
  readonly steps: { op: Op; a: CallResult; b: CallResult; diff: string[] }[]
}

/** Thrown by runDifferential: a readable report of the minimal failing sequence. */
export class DifferentialError extends Error {
  override readonly name = 'DifferentialError'
  readonly ops: readonly Op[]
  constructor(message: string, ops: readonly Op[]) {
    super(message)
    this.ops = ops
  }
}

/**
 * Draws sequences (seeded from `label` through fcParams), sends each op to both targets and
 * compares the answers; resolves when every run agreed, rejects with a DifferentialError whose
 * message has the shrunk sequence as a transcript and the first difference field by field.
 */
export async function runDifferential(label: Label, opts: DifferentialOptions): Promise<void> {
  const engine = new Engine(opts.a, opts.b)
  const { sequence } = opArbitraries(opts)
  const property = fc.asyncProperty(sequence, async (ops) => {
    const outcome = await engine.run(ops)
    const bad = outcome.steps.findIndex((s) => s.diff.length > 0)
    if (bad >= 0) throw new Error(report(opts, outcome, bad))
  })
  const details = await fc.check(
    property,
    fcParams(label, { numRuns: opts.numRuns ?? 30, endOnFailure: false, ...opts.fcOverrides }),
  )
  if (details.failed) {
    const ops = details.counterexample?.[0] ?? []
    const why = details.errorInstance instanceof Error ? details.errorInstance.message : ''
    throw new DifferentialError(
      `${opts.a.name} and ${opts.b.name} answered differently ` +
        `(seed ${details.seed}, path "${details.counterexamplePath}", ${details.numRuns} runs, ` +
        `${details.numShrinks} shrinks)\n${why}`,
      ops,
    )
  }
}

function report(opts: DifferentialOptions, outcome: RunOutcome, bad: number): string {
  const lines = [
    `minimal sequence (prefix "${outcome.ctx.prefix}", base revision ${outcome.ctx.baseRev}):`,
  ]
  outcome.steps.forEach((s, i) => {
    const mark = i === bad ? '>>' : '  '
    lines.push(`${mark} ${i + 1}. ${formatOp(s.op)}`)
    if (i === bad) {
      lines.push(`     ${opts.a.name}: ${JSON.stringify(normalize(s.a))}`)
      lines.push(`     ${opts.b.name}: ${JSON.stringify(normalize(s.b))}`)
      lines.push(`     differences (${opts.a.name} | ${opts.b.name}):`)
      for (const d of s.diff) lines.push(`       ${d}`)
    }
  })
  return lines.join('\n')
}

/** The prefix under which the resync pads land: sorts before every run's prefix ("r..."). */
const PAD_PREFIX = '_pad/'

/** Runs sequences against two targets, each run in its own key prefix (see module comment). */
export class Engine {
  private runs = 0
  private dirty = false

  constructor(
    private readonly a: Target,
    private readonly b: Target,
  ) {}

  /** Sends `ops` to both targets in a fresh prefix; returns every answer pair and its diff. */
  async run(ops: readonly Op[]): Promise<RunOutcome> {
    const baseRev = await this.resync()
    const ctx: RunContext = { prefix: `r${String(++this.runs).padStart(5, '0')}/`, baseRev }
    const steps: RunOutcome['steps'] = []
    for (const op of ops) {
      const { method, request } = toRequest(ctx, op)
      // One at a time to each side, both sides at once: the two servers are independent.
      const [a, b] = await Promise.all([this.a.call(method, request), this.b.call(method, request)])
      const diff = compareResults(a, b)
      steps.push({ op, a, b, diff })
      if (diff.length > 0) {
        this.dirty = true
        break
      }
    }
    return { ctx, steps }
  }

  /** Both targets' current revision, equal; after a failing run, made equal (see above). */
  private async resync(): Promise<number> {
    let [ra, rb] = await Promise.all([currentRevision(this.a), currentRevision(this.b)])
    if (ra === rb && !this.dirty) return ra
    for (let i = 0; ra !== rb; i++) {
      if (i > 10_000) throw new Error(`cannot resync revisions ${ra} and ${rb}`)
      const behind = ra < rb ? this.a : this.b
      const r = await behind.call('put', {
        key: Buffer.from(`${PAD_PREFIX}k`),
        value: Buffer.alloc(0),
      })
      if (!r.ok) throw new Error(`resync put on ${behind.name}: ${r.details}`)
      ;[ra, rb] = await Promise.all([currentRevision(this.a), currentRevision(this.b)])
    }
    // Compacted revisions may differ too: compact both to now (one may answer "compacted").
    await Promise.all(
      [this.a, this.b].map((t) => t.call('compact', { revision: ra, physical: true })),
    )
    this.dirty = false
    return ra
  }
}

async function currentRevision(t: Target): Promise<number> {
  // Serializable: on the member the engine talks to (a single member or the leader) it sees
  // every acknowledged write, and it leaves linearizable reads to the ops under test.
  const r = await t.call('range', { key: Buffer.from(`${PAD_PREFIX}k`), serializable: true })
  if (!r.ok) throw new Error(`${t.name}: cannot read the current revision: ${r.details}`)
  return Number((r.response.header as Message).revision)
}

/** The limits differentialAgainstEtcd starts both servers with by default. */
export const DEFAULT_LIMITS: Limits = { maxTxnOps: 8, maxRequestBytes: 4096 }

/**
 * The one-line differential test: starts a fresh single-member etcd 3.4 (side a) and a fresh
 * server of `other` (side b, e.g. { kind: 'pontoon' }; one member unless `size`, the engine
 * then talking to the leader), both with `limits`, and runs the engine between them. Both close after
 * the test.
 *
 *   test('pontoon answers as etcd 3.4', (t) => differentialAgainstEtcd(t, { kind: 'pontoon' }))
 */
export async function differentialAgainstEtcd(
  t: TestHooks & { readonly name: string },
  other: Pick<ClusterOptions, 'kind' | 'command' | 'extraArgs' | 'env' | 'size'>,
  opts: { limits?: Limits; numRuns?: number; opsMax?: number; invalidWeight?: number } = {},
): Promise<void> {
  const limits = opts.limits ?? DEFAULT_LIMITS
  const [etcd, server] = await Promise.all([
    startCluster({ kind: 'etcd', extraArgs: limitFlags(limits), t }),
    startCluster({ ...other, extraArgs: [...limitFlags(limits), ...(other.extraArgs ?? [])], t }),
  ])
  const a = grpcTarget('etcd', etcd.member(0).clientUrl)
  // On a cluster, talk to the leader: a serializable read on a follower may be stale, as etcd's.
  const target = server.size > 1 ? (await server.waitForLeader()).leader : server.member(0)
  const b = grpcTarget(other.kind === 'etcd' ? 'etcd-2' : other.kind, target.clientUrl)
  t.after(() => {
    a.close()
    b.close()
  })
  try {
    await runDifferential(t, { ...opts, a, b, limits })
  } catch (err) {
    // A server that died explains every difference after it: say so, with its last words.
    const dead = [...etcd.members, ...server.members].filter((m) => !m.running)
    if (!(err instanceof Error) || dead.length === 0) throw err
    err.message += dead
      .map((m) => `\n--- ${m.argv[0]} exited ${JSON.stringify(m.exitStatus)}:\n${m.logTail(30)}`)
      .join('')
    throw err
  }
}

// --- the etcdctl variant ----------------------------------------------------------------------

/** One etcdctl command of the variant: its arguments (keys already prefixed) and its input. */
export interface CtlCommand {
  readonly args: readonly string[]
  readonly input?: string
}

/**
 * A few etcdctl commands, compared by output: the same commands (keys under `prefix`) run against
 * endpoint a and endpoint b; exit codes, stdout and stderr must be equal, except the ids and
 * raft_term in `-w json` headers (and the endpoint in error texts). Resolves with the differences
 * (empty when equal) as readable lines.
 */
export async function runEtcdctlDifferential(opts: {
  readonly a: { name: string; endpoint: string }
  readonly b: { name: string; endpoint: string }
  readonly commands: readonly CtlCommand[]
}): Promise<string[]> {
  const out: string[] = []
  for (const cmd of opts.commands) {
    const [ra, rb] = await Promise.all(
      [opts.a.endpoint, opts.b.endpoint].map((e) =>
        etcdctl(e, cmd.args, cmd.input === undefined ? {} : { input: cmd.input }),
      ),
    )
    const na = normalizeCtl(ra!, opts.a.endpoint)
    const nb = normalizeCtl(rb!, opts.b.endpoint)
    const diff = diffValues(na, nb)
    if (diff.length > 0) {
      out.push(`etcdctl ${cmd.args.join(' ')} (${opts.a.name} | ${opts.b.name}):`)
      for (const d of diff) out.push(`  ${d}`)
    }
  }
  return out
}

/** etcdctl's output with ids and raft_term blanked and the endpoint replaced by "<endpoint>". */
export function normalizeCtl(r: EtcdctlResult, endpoint: string): unknown {
  const hostPort = endpoint.replace(/^https?:\/\//, '')
  const clean = (s: string): string =>
    s
      .split(endpoint)
      .join('<endpoint>')
      .split(hostPort)
      .join('<endpoint>')
      .replace(/endpoint:\/\/client-[0-9a-f-]+\//g, 'endpoint://client-?/')
      .replace(/"(cluster_id|member_id|raft_term)":\d+/g, '"$1":"?"')
      .replace(/^"(ClusterID|MemberID|RaftTerm)" : \d+$/gm, '"$1" : ?') // -w fields
      // etcdctl's own log lines (zap JSON on stderr) carry a timestamp and a caller.
      .replace(/"ts":"[^"]*"/g, '"ts":"?"')
  return { code: r.code, stdout: clean(r.stdout), stderr: clean(r.stderr) }
}
