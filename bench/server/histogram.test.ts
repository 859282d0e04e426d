// Goal: the load generator's percentiles are right. Method: record seeded random latencies
// (uniform over several magnitudes) into a Histogram and into a plain array, and check each
// percentile against the exact one from the sorted array: never below it, and above it by at
// most the bucket width (1/128 of the value); then the bucket layout itself at its edges.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { testRand } from '../../test-support/seed.js'
import { Histogram, highestEquivalent, indexOf } from './histogram.js'

test('percentiles agree with the sorted values within one bucket', (t) => {
  const r = testRand(t)
  for (let round = 0; round < 20; round++) {
    const h = new Histogram()
    const values: number[] = []
    const n = 1 + r.int(5000)
    for (let i = 0; i < n; i++) {
      const v = Math.floor(2 ** (r.next() * 30)) // 1 µs .. 18 minutes
      values.push(v)
      h.record(v)
    }
    values.sort((a, b) => a - b)
    assert.equal(h.count, n)
    assert.equal(h.min, values[0])
    assert.equal(h.max, values[n - 1])
    for (const p of [0, 1, 50, 90, 99, 99.9, 100]) {
      const exact = values[Math.max(0, Math.ceil((p / 100) * n) - 1)]!
      const got = h.percentile(p)
      assert.ok(got >= exact, `p${p}: ${got} < exact ${exact}`)
      assert.ok(got <= exact + exact / 128, `p${p}: ${got} > exact ${exact} + 1/128`)
    }
  }
})

test('bucket layout: exact below 256, 128 buckets per power of two above, 32 bits', () => {
  for (let v = 0; v < 256; v++) assert.equal(highestEquivalent(indexOf(v)), v)
  assert.equal(indexOf(256), indexOf(257))
  assert.notEqual(indexOf(257), indexOf(258))
  assert.equal(highestEquivalent(indexOf(256)), 257)
  assert.equal(highestEquivalent(indexOf(2 ** 32 - 1)), 2 ** 32 - 1)
  for (let e = 8; e < 32; e++) {
    const lo = 2 ** e
    assert.equal(highestEquivalent(indexOf(lo) - 1), lo - 1, `below 2^${e}`)
  }
})

test('merging histograms adds their counts', () => {
  const a = new Histogram()
  const b = new Histogram()
  for (let i = 1; i <= 100; i++) (i % 2 === 0 ? a : b).record(i * 1000)
  a.add(b)
  assert.equal(a.count, 100)
  assert.equal(a.min, 1000)
  assert.equal(a.max, 100_000)
  assert.ok(Math.abs(a.percentile(50) - 50_000) <= 50_000 / 128)
  assert.equal(new Histogram().percentile(99), 0)
})
