// Goal: the simulator's PRNG is deterministic per seed, stays in range, and forks independent
// streams. Method: draw from fixed seeds and compare.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Prng } from './prng.js'

test('same seed, same stream; different seeds differ', () => {
  const a = new Prng(42)
  const b = new Prng(42)
  const c = new Prng(43)
  const xs = Array.from({ length: 8 }, () => a.nextU32())
  assert.deepEqual(
    Array.from({ length: 8 }, () => b.nextU32()),
    xs,
  )
  assert.notDeepEqual(
    Array.from({ length: 8 }, () => c.nextU32()),
    xs,
  )
})

test('intn stays in range and hits every value', () => {
  const p = new Prng(7)
  const seen = new Set<number>()
  for (let i = 0; i < 1000; i++) {
    const v = p.intn(7)
    assert.ok(v >= 0 && v < 7)
    seen.add(v)
  }
  assert.equal(seen.size, 7)
  assert.equal(p.chance(0), false)
  assert.equal(p.chance(1), true)
})

test('fork gives a stream independent of later parent draws', () => {
  const p = new Prng(9)
  const f = p.fork()
  const q = new Prng(9)
  const g = q.fork()
  q.nextU32()
  assert.equal(f.nextU32(), g.nextU32())
  assert.notEqual(p.nextU32(), f.nextU32())
})
