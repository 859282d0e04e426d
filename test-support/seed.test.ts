// test-support/seed.ts, the suite's one source of randomness. Goal: TEST_SEED is parsed strictly, each
// use draws a stream of its own from the seed and its name, fast-check gets that seed, and a
// failing file prints the line that replays it. Method: call the functions with chosen inputs,
// and run the exit hook in child processes that fail and that pass.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  DEFAULT_TEST_SEED,
  TestRand,
  fcParams,
  parseTestSeed,
  seedFor,
  testRand,
  testSeed,
} from './seed.js'

test('TEST_SEED: unset means the default, an integer is taken, "random" is drawn', () => {
  const never = (): number => assert.fail('no draw')
  assert.equal(parseTestSeed(undefined, never), DEFAULT_TEST_SEED)
  assert.equal(parseTestSeed('', never), DEFAULT_TEST_SEED)
  assert.equal(parseTestSeed('0', never), 0)
  assert.equal(parseTestSeed('4294967295', never), 2 ** 32 - 1)
  assert.equal(
    parseTestSeed('random', () => 0.5),
    2 ** 31,
  )
  for (const bad of ['-1', '1.5', '1e3', 'x', ' 7', '4294967296']) {
    assert.throws(
      () => parseTestSeed(bad, never),
      /expected an integer in \[0, 2\^32\) or "random"/,
    )
  }
  if (process.env.TEST_SEED === undefined) assert.equal(testSeed, DEFAULT_TEST_SEED)
})

test('each use draws from the seed and its own name', () => {
  assert.equal(seedFor('a'), seedFor('a'))
  assert.equal(seedFor({ name: 'a' }), seedFor('a'), 'a test context counts by its name')
  assert.notEqual(seedFor('a', 1), seedFor('a', 2), 'another seed, another stream')
  const seeds = new Set(Array.from({ length: 1000 }, (_, i) => seedFor(`test ${i}`)))
  assert.equal(seeds.size, 1000, 'distinct names, distinct seeds')
  for (const s of seeds) assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32)
})

test('TestRand replays by seed and spreads over its range', () => {
  const a = new TestRand(42)
  const b = testRand('x')
  const again = testRand('x')
  const counts = new Array<number>(10).fill(0)
  for (let i = 0; i < 10_000; i++) {
    assert.equal(b.nextU32(), again.nextU32())
    const v = a.int(10)
    assert.ok(Number.isInteger(v) && v >= 0 && v < 10)
    counts[v] = (counts[v] ?? 0) + 1
  }
  for (const c of counts) assert.ok(c > 800 && c < 1200, `counts ${counts.join(' ')}`)
  const f = new TestRand(7).next()
  assert.ok(f >= 0 && f < 1)
})

test('fcParams seeds fast-check from the suite seed and keeps the other parameters', (t) => {
  const params = fcParams(t, { numRuns: 7 })
  assert.equal(params.numRuns, 7)
  assert.equal(params.seed, seedFor(t) | 0)
  const draws = (): number[] => fc.sample(fc.integer(), fcParams('draws', { numRuns: 5 }))
  assert.deepEqual(draws(), draws(), 'the same parameters draw the same values')
})

test('a failing file prints its seed and how to replay it; a passing one prints nothing', () => {
  const seedModule = new URL('./seed.js', import.meta.url).href
  const run = (exitCode: number, env: Record<string, string>) =>
    spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `import '${seedModule}'; process.exitCode = ${exitCode}`],
      { env: { ...process.env, ...env }, encoding: 'utf8' },
    )
  const failed = run(1, { TEST_SEED: '77' })
  assert.equal(failed.status, 1)
  assert.match(failed.stderr, /^test seed 77: replay with TEST_SEED=77 node --test /m)
  const passed = run(0, { TEST_SEED: '77' })
  assert.equal(passed.status, 0)
  assert.equal(passed.stderr, '')
})
