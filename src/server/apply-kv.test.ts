// Goal: the apply path's Range keeps etcd's order of work where the store could take a shortcut:
// keys_only leaves the values in the store, except when the sort needs them (a sort by value
// with keys_only sorts on the values, then drops them, as etcd's applierV3 does). Method: a store
// on the in-memory backend, ranges with each sort target, checked by hand.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rangeRequest } from '../api/index.js'
import { MemoryBackend, MvccStore } from '../mvcc/index.js'
import { applyRange } from './apply-kv.js'

const b = (s: string): Uint8Array => Buffer.from(s)
const text = (u: Uint8Array): string => Buffer.from(u).toString()

function store(): MvccStore {
  const s = MvccStore.open(new MemoryBackend())
  let index = 1
  for (const [k, v] of [
    ['b', ''],
    ['a', 'vv'],
    ['c', 'v'],
  ]) {
    const txn = s.write(index++)
    txn.put(b(k!), b(v!), 0n)
    txn.end()
  }
  return s
}

test('keys_only with a sort by value sorts on the values, then leaves them out', () => {
  const r = applyRange(
    store(),
    rangeRequest({ key: b('a'), rangeEnd: b('\0'), sortTarget: 4, sortOrder: 1, keysOnly: true }),
  )
  assert.deepEqual(
    r.kvs.map((kv) => text(kv.key)),
    ['b', 'c', 'a'],
  )
  assert.deepEqual(
    r.kvs.map((kv) => kv.value.length),
    [0, 0, 0],
  )
})

test('keys_only with other sorts: key order, descending by mod revision, no values', () => {
  const s = store()
  const byKey = applyRange(s, rangeRequest({ key: b('a'), rangeEnd: b('\0'), keysOnly: true }))
  assert.deepEqual(
    byKey.kvs.map((kv) => text(kv.key)),
    ['a', 'b', 'c'],
  )
  assert.deepEqual(
    byKey.kvs.map((kv) => kv.value.length),
    [0, 0, 0],
  )
  const byMod = applyRange(
    s,
    rangeRequest({ key: b('a'), rangeEnd: b('\0'), sortTarget: 3, sortOrder: 2, keysOnly: true }),
  )
  assert.deepEqual(
    byMod.kvs.map((kv) => text(kv.key)),
    ['c', 'a', 'b'],
  )
  const withValues = applyRange(s, rangeRequest({ key: b('a'), rangeEnd: b('\0'), sortTarget: 4 }))
  assert.deepEqual(
    withValues.kvs.map((kv) => text(kv.value)),
    ['', 'v', 'vv'],
  )
})
