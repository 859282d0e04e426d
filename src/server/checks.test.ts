// Goal: a request etcd refuses before raft is refused here with etcd's error, and one etcd
// accepts is accepted; above all the duplicate-key rules of a txn (etcd v3rpc/key.go
// checkIntervals), including the cases etcd lets through: a key put in both branches of a nested
// txn, and a put beside a from-key delete (whose "\0" end etcd's interval tree reads literally).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  deleteRangeRequest,
  putRequest,
  rangeRequest,
  type RequestOp,
  type TxnRequest,
} from '../api/index.js'
import { checkPut, checkRange, checkTxn } from './checks.js'
import { ServerError, type ServerErrorCode } from './errors.js'

const b = (s: string): Uint8Array => Buffer.from(s, 'latin1')
const put = (k: string): RequestOp => ({ type: 'put', put: putRequest({ key: b(k) }) })
const del = (k: string, end = ''): RequestOp => ({
  type: 'deleteRange',
  deleteRange: deleteRangeRequest({ key: b(k), rangeEnd: b(end) }),
})
const txn = (success: RequestOp[], failure: RequestOp[] = []): TxnRequest => ({
  compare: [],
  success,
  failure,
})
const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({
  type: 'txn',
  txn: txn(success, failure),
})

function fails(code: ServerErrorCode, f: () => void): void {
  assert.throws(f, (err: unknown) => ServerError.is(err, code))
}

test("empty keys, bad sort options, value or lease given with ignore_*: etcd's errors", () => {
  fails('EMPTY_KEY', () => checkRange(rangeRequest()))
  fails('INVALID_SORT_OPTION', () => checkRange(rangeRequest({ key: b('a'), sortOrder: 3 })))
  fails('INVALID_SORT_OPTION', () => checkRange(rangeRequest({ key: b('a'), sortTarget: 5 })))
  fails('EMPTY_KEY', () => checkPut(putRequest()))
  fails('VALUE_PROVIDED', () =>
    checkPut(putRequest({ key: b('a'), value: b('v'), ignoreValue: true })),
  )
  fails('LEASE_PROVIDED', () => checkPut(putRequest({ key: b('a'), lease: 5n, ignoreLease: true })))
  fails('KEY_NOT_FOUND', () => checkTxn(txn([{ type: 'none' }]), 128))
})

test('too many ops: the widest of compares, success and failure, and a nested budget', () => {
  checkTxn(txn([put('a'), put('b')]), 2)
  fails('TOO_MANY_OPS', () => checkTxn(txn([put('a'), put('b'), put('c')]), 2))
  // The outer level uses 2 of 3; the nested txn may use what is left (1), not 2.
  fails('TOO_MANY_OPS', () => checkTxn(txn([nested([put('x'), put('y')]), put('b')]), 3))
  checkTxn(txn([nested([put('x')]), put('b')]), 3)
})

test('duplicate keys in one branch are refused; across branches they are not', () => {
  fails('DUPLICATE_KEY', () => checkTxn(txn([put('a'), put('a')]), 128))
  fails('DUPLICATE_KEY', () => checkTxn(txn([put('b'), del('a', 'c')]), 128))
  fails('DUPLICATE_KEY', () => checkTxn(txn([del('a'), put('a')]), 128))
  checkTxn(txn([put('a')], [put('a')]), 128)
  checkTxn(txn([put('c'), del('a', 'c')]), 128) // the end is exclusive
})

test('nested txns: then and else may put the same key; the parent may not', () => {
  checkTxn(txn([nested([put('a')], [put('a')])]), 128)
  fails('DUPLICATE_KEY', () => checkTxn(txn([nested([put('a')]), put('a')]), 128))
  fails('DUPLICATE_KEY', () => checkTxn(txn([nested([del('a', 'z')]), put('b')]), 128))
  fails('DUPLICATE_KEY', () => checkTxn(txn([nested([put('a')]), nested([put('a')])]), 128))
})

test("a put beside a from-key delete passes, as etcd's interval tree lets it", () => {
  checkTxn(txn([del('a', '\0'), put('b')]), 128)
})
