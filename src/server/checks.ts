/**
 * The checks etcd makes on a KV request before it goes to raft (etcd v3rpc/key.go): an empty key,
 * a bad sort option, a value or lease given with ignore_value / ignore_lease, too many txn ops, a
 * key written twice in one txn. A request that fails one is answered at once and never proposed,
 * so it changes nothing and costs no log entry.
 */
import type {
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../api/index.js'
import { ServerError } from './errors.js'

const SORT_ORDERS = 3 // NONE, ASCEND, DESCEND
const SORT_TARGETS = 5 // KEY, VERSION, CREATE, MOD, VALUE

export function checkRange(r: RangeRequest): void {
  if (r.key.length === 0) throw new ServerError('EMPTY_KEY')
  if (r.sortOrder < 0 || r.sortOrder >= SORT_ORDERS) throw new ServerError('INVALID_SORT_OPTION')
  if (r.sortTarget < 0 || r.sortTarget >= SORT_TARGETS) {
    throw new ServerError('INVALID_SORT_OPTION')
  }
}

export function checkPut(r: PutRequest): void {
  if (r.key.length === 0) throw new ServerError('EMPTY_KEY')
  if (r.ignoreValue && r.value.length !== 0) throw new ServerError('VALUE_PROVIDED')
  if (r.ignoreLease && r.lease !== 0n) throw new ServerError('LEASE_PROVIDED')
}

export function checkDelete(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw new ServerError('EMPTY_KEY')
}

/** etcd's checkTxnRequest, then checkIntervals on both branches. */
export function checkTxn(r: TxnRequest, maxTxnOps: number): void {
  checkTxnOps(r, maxTxnOps)
  checkIntervals(r.success)
  checkIntervals(r.failure)
}

function checkTxnOps(r: TxnRequest, maxTxnOps: number): void {
  const ops = Math.max(r.compare.length, r.success.length, r.failure.length)
  if (ops > maxTxnOps) throw new ServerError('TOO_MANY_OPS')
  for (const c of r.compare) if (c.key.length === 0) throw new ServerError('EMPTY_KEY')
  // A nested txn may use what this level left of the budget (etcd passes maxTxnOps - ops down).
  for (const op of r.success) checkOp(op, maxTxnOps - ops)
  for (const op of r.failure) checkOp(op, maxTxnOps - ops)
}

function checkOp(op: RequestOp, maxTxnOps: number): void {
  switch (op.type) {
    case 'range':
      return checkRange(op.range)
    case 'put':
      return checkPut(op.put)
    case 'deleteRange':
      return checkDelete(op.deleteRange)
    case 'txn':
      return checkTxnOps(op.txn, maxTxnOps)
    case 'none':
      // An empty op; etcd answers it so.
      throw new ServerError('KEY_NOT_FOUND')
  }
}

/**
 * Deletes of one level, as half-open intervals of keys compared as byte strings; an empty end is
 * the single key. etcd's interval tree treats an end of "" as infinity only for the intervals it
 * builds itself; a from-key delete's end "\0" is an ordinary (inverted) bound there, so it
 * overlaps nothing. That quirk is kept: clients see which txns etcd accepts.
 */
interface Interval {
  begin: string
  /** Exclusive; undefined: a single key. */
  end: string | undefined
}

function covers(iv: Interval, key: string): boolean {
  if (iv.end === undefined) return key === iv.begin
  return iv.begin <= key && key < iv.end
}

const latin1 = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1')

/** Returns the keys put and the ranges deleted by `ops`, or throws DUPLICATE_KEY. */
function checkIntervals(ops: readonly RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = []
  for (const op of ops) {
    if (op.type !== 'deleteRange') continue
    const d = op.deleteRange
    dels.push({
      begin: latin1(d.key),
      end: d.rangeEnd.length === 0 ? undefined : latin1(d.rangeEnd),
    })
  }
  const deleted = (k: string): boolean => dels.some((iv) => covers(iv, k))
  const puts = new Set<string>()
  for (const op of ops) {
    if (op.type !== 'txn') continue
    const then = checkIntervals(op.txn.success)
    const otherwise = checkIntervals(op.txn.failure)
    for (const k of then.puts) {
      if (puts.has(k) || deleted(k)) throw new ServerError('DUPLICATE_KEY')
      puts.add(k)
    }
    for (const k of otherwise.puts) {
      // Then and else exclude each other: a key put by both branches is no conflict.
      if (puts.has(k) && !then.puts.has(k)) throw new ServerError('DUPLICATE_KEY')
      if (deleted(k)) throw new ServerError('DUPLICATE_KEY')
      puts.add(k)
    }
    // A child's deletes join this level's (etcd: dels.Union(child, ["\0", ""))), bounds kept.
    dels.push(...then.dels, ...otherwise.dels)
  }
  for (const op of ops) {
    if (op.type !== 'put') continue
    const k = latin1(op.put.key)
    if (puts.has(k) || deleted(k)) throw new ServerError('DUPLICATE_KEY')
    puts.add(k)
  }
  return { puts, dels }
}
