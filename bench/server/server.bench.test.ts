// Goal: the server benchmark's options mean what USAGE says, and bad values stop the run before
// any cluster starts. Method: parseOptions on argument lists; no process, no load (the run
// itself is bench/bench.test.ts's).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_CASES, deleteKeysFor, parseOptions } from './server.bench.js'

test('no options: the default cases, closed loop', () => {
  const o = parseOptions([])
  assert.deepEqual(o.cases, DEFAULT_CASES)
  assert.equal(o.ratePerSecond, 0)
})

test('txn-put and delete run only when named, at 1 member unless --members says', () => {
  assert.ok(parseOptions(['--members=3']).cases.every((c) => c.op !== 'txn-put'))
  assert.deepEqual(parseOptions(['--op=txn,del']).cases, [
    { op: 'txn-put', members: 1 },
    { op: 'delete', members: 1 },
  ])
  assert.deepEqual(parseOptions(['--op=put,delete-range']).cases, [
    { op: 'put', members: 1 },
    { op: 'put', members: 3 },
    { op: 'delete', members: 1 },
  ])
  assert.deepEqual(parseOptions(['--op=txn-put', '--members=3']).cases, [
    { op: 'txn-put', members: 3 },
  ])
})

test('bad values are refused with the value and what was expected', () => {
  assert.throws(() => parseOptions(['--rate=-1']), /--rate=-1: expected a number >= 0/)
  assert.throws(() => parseOptions(['--rate=fast']), /--rate=fast: expected a number >= 0/)
  assert.throws(() => parseOptions(['--op=unknown']), /--op: unknown op unknown \(put, txn-put, /)
  assert.throws(() => parseOptions(['--op=put,']), /--op: unknown op {2}\(/)
})

test('--rate: a number of calls per second over all clients', () => {
  assert.equal(parseOptions(['--rate=2000']).ratePerSecond, 2000)
  assert.equal(parseOptions(['--rate', '0']).ratePerSecond, 0)
  assert.equal(parseOptions(['--rate=0.5']).ratePerSecond, 0.5)
})

test('delete keys: --key-space when given, else sized from the window', () => {
  assert.equal(parseOptions(['--key-space=5000']).deleteKeys, 5000)
  // 2,000/s over 1 s of warm-up and 4 s, one call per client, 10% to spare.
  assert.equal(parseOptions(['--rate=2000']).deleteKeys, Math.ceil((2000 * 5 + 64) * 1.1))
  const byTotal = { ratePerSecond: 0, warmupMs: 0, durationMs: 4000, total: 100, clients: 8 }
  assert.equal(deleteKeysFor(byTotal), Math.ceil(108 * 1.1))
  // Never more keys than --key-size digits number.
  assert.equal(parseOptions(['--key-size=5']).deleteKeys, 100_000)
})
