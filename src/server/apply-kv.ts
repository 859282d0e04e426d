/**
 * The KV operations on the MVCC store, as etcd's applierV3backend performs them (etcdserver
 * apply.go): Range with its filters, sort and limit; Put with prev_kv, ignore_value and
 * ignore_lease; DeleteRange with prev_kv; Txn (compares, then one branch, nested txns) and
 * Compaction. The same code runs for committed entries on every member, and for reads served
 * locally (linearizable after a ReadIndex round, or serializable), so every member answers alike.
 *
 * Responses carry only the revision in their headers; the gRPC edge fills in the cluster id,
 * member id and raft term of the top-level header, as etcd does (inner txn responses keep bare
 * headers).
 */
import type {
  Compare,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../api/index.js'
import { type MvccStore, type RangeOptions, type WriteTxn as MvccWriteTxn } from '../mvcc/index.js'
import { fromMvccError, ServerError } from './errors.js'

/** What ranges read from: the store (a read, at its current revision) or an open write txn. */
interface KvView {
  range(key: Uint8Array, end: Uint8Array | undefined, opts: RangeOptions): RangeResultLike
}
interface RangeResultLike {
  kvs: KeyValue[]
  count: number
  rev: number
}

const EMPTY = new Uint8Array(0)

/**
 * One entry's write txn, with the revision etcd's responses report: the txn's own (current + 1)
 * once it wrote, the current one before.
 */
export class WriteTxn {
  private wrote = false
  private readonly beginRev: number
  private readonly txn: MvccWriteTxn

  constructor(
    store: MvccStore,
    index: number,
    private readonly leases: LeaseAttachments = noLeases,
  ) {
    this.beginRev = store.currentRevision
    this.txn = store.write(index)
  }

  range(key: Uint8Array, end: Uint8Array | undefined, opts: RangeOptions): RangeResultLike {
    return this.txn.range(key, end, opts)
  }

  put(key: Uint8Array, value: Uint8Array, lease: bigint): number {
    this.txn.put(key, value, lease)
    this.leases.keyPut(key, lease)
    this.wrote = true
    return this.beginRev + 1
  }

  deleteRange(key: Uint8Array, end: Uint8Array | undefined): number {
    // The deleted keys leave their leases; a range's keys are read only if any key has a lease.
    let keys: KeyValue[] | undefined
    if (end !== undefined && this.leases.attachedCount > 0) {
      keys = this.txn.range(key, end, { keysOnly: true }).kvs
    }
    const n = this.txn.deleteRange(key, end)
    if (n > 0) {
      this.wrote = true
      if (keys !== undefined) for (const kv of keys) this.leases.keyDeleted(kv.key)
      else if (end === undefined) this.leases.keyDeleted(key)
    }
    return n
  }

  revision(): number {
    return this.beginRev + (this.wrote ? 1 : 0)
  }

  end(): void {
    this.txn.end()
  }
}

export function header(revision: number): ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision, raftTerm: 0 }
}

/** etcd's mkGteRange: "\0" means every key from `key` on; mvcc reads an empty end as one key. */
function rangeEnd(end: Uint8Array): Uint8Array | undefined {
  return end.length === 0 ? undefined : end
}

export function applyRange(view: KvView, r: RangeRequest): RangeResponse {
  const filtered =
    r.minModRevision !== 0 ||
    r.maxModRevision !== 0 ||
    r.minCreateRevision !== 0 ||
    r.maxCreateRevision !== 0
  // Sorting or filtering needs every match; otherwise one extra tells whether there are `more`.
  let limit = r.limit
  if (r.sortOrder !== SORT_NONE || filtered) limit = 0
  if (limit > 0) limit += 1
  let rr: RangeResultLike
  try {
    rr = view.range(r.key, rangeEnd(r.rangeEnd), {
      limit,
      rev: r.revision,
      countOnly: r.countOnly,
      // The store leaves the values out, unless a sort by value needs them first.
      keysOnly: r.keysOnly && r.sortTarget !== SORT_BY_VALUE,
    })
  } catch (err) {
    throw fromMvccError(err)
  }
  let kvs = rr.kvs
  if (filtered) {
    kvs = kvs.filter(
      (kv) =>
        !(r.maxModRevision !== 0 && kv.modRevision > r.maxModRevision) &&
        !(r.minModRevision !== 0 && kv.modRevision < r.minModRevision) &&
        !(r.maxCreateRevision !== 0 && kv.createRevision > r.maxCreateRevision) &&
        !(r.minCreateRevision !== 0 && kv.createRevision < r.minCreateRevision),
    )
  }
  // The store returns keys in ascending order: another target with no order sorts ascending.
  let order = r.sortOrder
  if (r.sortTarget !== TARGET_KEY && order === SORT_NONE) order = SORT_ASCEND
  if (order !== SORT_NONE && !(order === SORT_ASCEND && r.sortTarget === TARGET_KEY)) {
    kvs = sortKvs(kvs, r.sortTarget, order === SORT_DESCEND)
  }
  let more = false
  if (r.limit > 0 && kvs.length > r.limit) {
    kvs = kvs.slice(0, r.limit)
    more = true
  }
  if (r.keysOnly && r.sortTarget === SORT_BY_VALUE) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }))
  return { header: header(rr.rev), kvs, more, count: rr.count }
}

const SORT_NONE = 0
const SORT_ASCEND = 1
const SORT_DESCEND = 2
const TARGET_KEY = 0
/** RangeRequest.SortTarget VALUE (not the compare target of the same name, 3). */
const SORT_BY_VALUE = 4

/**
 * A stable sort on the target, in place (the array is the store's fresh result or the filter's
 * copy); descending keeps equal elements in key order. etcd sorts with Go's
 * sort.Sort, whose insertion sort on the small slices a client usually sorts (12 or fewer) is
 * stable the same way; on longer ones Go's pdqsort may order ties otherwise (docs/divergence.md).
 */
function sortKvs(kvs: KeyValue[], target: number, descending: boolean): KeyValue[] {
  const cmp = comparator(target)
  return descending ? kvs.sort((a, b) => cmp(b, a)) : kvs.sort(cmp)
}

function comparator(target: number): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case 1:
      return (a, b) => a.version - b.version
    case 2:
      return (a, b) => a.createRevision - b.createRevision
    case 3:
      return (a, b) => a.modRevision - b.modRevision
    case 4:
      return (a, b) => Buffer.compare(a.value, b.value)
    default:
      return (a, b) => Buffer.compare(a.key, b.key)
  }
}

/** Whether a lease exists (a put naming an unknown one is refused, as etcd refuses it). */
export interface LeaseLookup {
  exists(id: bigint): boolean
}

/**
 * The lessor as the KV apply sees it (lessor.ts): a put attaches its key to its lease (and
 * detaches it from its previous one), a delete detaches it, as etcd's mvcc write txn tells its
 * lessor.
 */
export interface LeaseAttachments extends LeaseLookup {
  /** Keys attached to any lease: a range delete looks up its keys only when some are. */
  readonly attachedCount: number
  keyPut(key: Uint8Array, lease: bigint): void
  keyDeleted(key: Uint8Array): void
}

/** No lessor (unit tests of the KV apply): every lease id is unknown. */
export const noLeases: LeaseAttachments = {
  exists: () => false,
  attachedCount: 0,
  keyPut: () => {},
  keyDeleted: () => {},
}

export function applyPut(txn: WriteTxn, p: PutRequest): PutResponse {
  let value = p.value
  let lease = p.lease
  let prev: KeyValue | undefined
  if (p.ignoreValue || p.ignoreLease || p.prevKv) {
    prev = txn.range(p.key, undefined, { limit: 0, rev: 0, countOnly: false }).kvs[0]
  }
  if (p.ignoreValue || p.ignoreLease) {
    if (prev === undefined) throw new ServerError('KEY_NOT_FOUND')
    if (p.ignoreValue) value = prev.value
    if (p.ignoreLease) lease = prev.lease
  }
  const rev = txn.put(p.key, value, lease)
  return { header: header(rev), prevKv: p.prevKv && prev !== undefined ? prev : null }
}

export function applyDeleteRange(txn: WriteTxn, d: DeleteRangeRequest): DeleteRangeResponse {
  const end = rangeEnd(d.rangeEnd)
  let prevKvs: KeyValue[] = []
  if (d.prevKv) prevKvs = txn.range(d.key, end, { limit: 0, rev: 0, countOnly: false }).kvs
  const deleted = txn.deleteRange(d.key, end)
  return { header: header(txn.revision()), deleted, prevKvs }
}

/** A txn writes if any op of any branch, at any depth, puts or deletes (etcd isTxnReadonly). */
export function txnWrites(r: TxnRequest): boolean {
  const writes = (ops: readonly RequestOp[]): boolean =>
    ops.some(
      (op) =>
        op.type === 'put' ||
        op.type === 'deleteRange' ||
        (op.type === 'txn' && (writes(op.txn.success) || writes(op.txn.failure))),
    )
  return writes(r.success) || writes(r.failure)
}

/** A txn whose ranges are all serializable may be served without a ReadIndex round. */
export function txnSerializable(r: TxnRequest): boolean {
  const ser = (ops: readonly RequestOp[]): boolean =>
    ops.every(
      (op) =>
        (op.type !== 'range' || op.range.serializable) &&
        (op.type !== 'txn' || (ser(op.txn.success) && ser(op.txn.failure))),
    )
  return ser(r.success) && ser(r.failure)
}

/**
 * A Txn: the compares choose a branch at every level (all evaluated before anything is written),
 * the chosen ranges are checked against the store's revisions, then the branch runs. `txn` is the
 * write txn of the entry, or undefined for a read-only txn served from `view`.
 */
export function applyTxn(
  view: KvView,
  txn: WriteTxn | undefined,
  r: TxnRequest,
  leases: LeaseLookup,
  /** compactedRevision: etcd's compactMainRev, -1 before the first compaction. */
  bounds: { currentRevision: number; compactedRevision: number },
): TxnResponse {
  const path: boolean[] = []
  choosePath(view, r, path)
  if (txn !== undefined) checkPuts(view, r, path, leases)
  checkRanges(r, path, bounds)
  const res = runTxn(view, txn, r, path)
  const rev = txn === undefined ? bounds.currentRevision : txn.revision()
  return { ...res, header: header(rev) }
}

/** The branch each txn takes, depth first (etcd compareToPath). */
function choosePath(view: KvView, r: TxnRequest, path: boolean[]): void {
  const ok = r.compare.every((c) => applyCompare(view, c))
  path.push(ok)
  for (const op of ok ? r.success : r.failure) {
    if (op.type === 'txn') choosePath(view, op.txn, path)
  }
}

function applyCompare(view: KvView, c: Compare): boolean {
  let kvs: KeyValue[]
  try {
    kvs = view.range(c.key, rangeEnd(c.rangeEnd), { limit: 0, rev: 0, countOnly: false }).kvs
  } catch {
    return false
  }
  if (kvs.length === 0) {
    // A missing key has no value to compare, not even an empty one (etcd: always false).
    if (c.target === COMPARE_VALUE) return false
    return compareKv(c, MISSING)
  }
  return kvs.every((kv) => compareKv(c, kv))
}

/** Compare.Target VALUE (not the sort target of the same name, 4). */
const COMPARE_VALUE = 3
const MISSING: KeyValue = {
  key: EMPTY,
  createRevision: 0,
  modRevision: 0,
  version: 0,
  value: EMPTY,
  lease: 0n,
}

function compareKv(c: Compare, kv: KeyValue): boolean {
  const u = c.targetUnion
  let result: number
  switch (c.target) {
    case 0:
      result = Math.sign(kv.version - (u.type === 'version' ? u.version : 0))
      break
    case 1:
      result = Math.sign(kv.createRevision - (u.type === 'createRevision' ? u.createRevision : 0))
      break
    case 2:
      result = Math.sign(kv.modRevision - (u.type === 'modRevision' ? u.modRevision : 0))
      break
    case COMPARE_VALUE:
      result = Buffer.compare(kv.value, u.type === 'value' ? u.value : EMPTY)
      break
    case 4: {
      const lease = u.type === 'lease' ? u.lease : 0n
      result = kv.lease < lease ? -1 : kv.lease > lease ? 1 : 0
      break
    }
    default:
      return true
  }
  switch (c.result) {
    case 0:
      return result === 0
    case 1:
      return result > 0
    case 2:
      return result < 0
    case 3:
      return result !== 0
    default:
      return true
  }
}

/**
 * Visits the ops of the branch each txn took, depth first, as etcd's checkRequests walks them
 * (a nested txn's ops before the ops after it).
 */
function forChosenOps(r: TxnRequest, path: boolean[], visit: (op: RequestOp) => void): void {
  let at = 0
  const walk = (t: TxnRequest): void => {
    for (const op of path[at++] === true ? t.success : t.failure) {
      if (op.type === 'txn') walk(op.txn)
      visit(op)
    }
  }
  walk(r)
}

/** etcd checkRequestPut on the chosen path: ignore_* needs the key; a lease must exist. */
function checkPuts(view: KvView, r: TxnRequest, path: boolean[], leases: LeaseLookup): void {
  forChosenOps(r, path, (op) => {
    if (op.type !== 'put') return
    const p = op.put
    if (p.ignoreValue || p.ignoreLease) {
      const found = view.range(p.key, undefined, { limit: 0, rev: 0, countOnly: false })
      if (found.kvs.length === 0) throw new ServerError('KEY_NOT_FOUND')
    }
    if (p.lease !== 0n && !leases.exists(p.lease)) throw new ServerError('LEASE_NOT_FOUND')
  })
}

/** etcd checkRequestRange on the chosen path: a range's revision must still be readable. */
function checkRanges(
  r: TxnRequest,
  path: boolean[],
  bounds: { currentRevision: number; compactedRevision: number },
): void {
  forChosenOps(r, path, (op) => {
    if (op.type !== 'range' || op.range.revision === 0) return
    if (op.range.revision > bounds.currentRevision) throw new ServerError('FUTURE_REV')
    if (op.range.revision < bounds.compactedRevision) throw new ServerError('COMPACTED')
  })
}

function runTxn(
  view: KvView,
  txn: WriteTxn | undefined,
  r: TxnRequest,
  path: boolean[],
): TxnResponse {
  let at = 0
  const run = (t: TxnRequest): TxnResponse => {
    const ok = path[at++] === true
    const responses: ResponseOp[] = []
    for (const op of ok ? t.success : t.failure) responses.push(runOp(op))
    return { header: header(0), succeeded: ok, responses }
  }
  const runOp = (op: RequestOp): ResponseOp => {
    switch (op.type) {
      case 'range':
        return { type: 'range', range: applyRange(txn ?? view, op.range) }
      case 'put':
        return { type: 'put', put: applyPut(mustWrite(txn), op.put) }
      case 'deleteRange':
        return {
          type: 'deleteRange',
          deleteRange: applyDeleteRange(mustWrite(txn), op.deleteRange),
        }
      case 'txn':
        // A nested txn's header stays empty: etcd fills in only the outermost one.
        return { type: 'txn', txn: run(op.txn) }
      case 'none':
        throw new ServerError('KEY_NOT_FOUND')
    }
  }
  return run(r)
}

function mustWrite(txn: WriteTxn | undefined): WriteTxn {
  if (txn === undefined) throw new ServerError('INTERNAL', 'etcdserver: write in a read-only txn')
  return txn
}

export function compactionResponse(revision: number): CompactionResponse {
  return { header: header(revision) }
}

export { EMPTY }
