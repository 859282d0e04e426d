/**
 * The test suite's one seed, and the randomness tests draw from it (test support: only the test
 * project compiles this folder; nothing in the library imports it).
 *
 * `TEST_SEED` in the environment chooses the seed: unset, it is DEFAULT_TEST_SEED, so every run
 * of `npm test` draws the same values and a failure reproduces as it is; `TEST_SEED=<n>` (an
 * integer in [0, 2^32)) runs with another seed; `TEST_SEED=random` draws one per test file, to
 * explore. A test file that used the seed and fails prints the line that replays it.
 *
 * Each use names itself (by its test's context, `t`, or a string), and its values come from the
 * seed and the name together: adding or reordering tests does not change what another draws.
 * Seeded streams (`testRand`) and fast-check (`fcParams`) both derive from it; no test draws
 * from Math.random or an unseeded fast-check run.
 */

import { relative } from 'node:path'
import type { Parameters } from 'fast-check'

export const DEFAULT_TEST_SEED = 1

/** Parses TEST_SEED; throws on anything but unset, `random` or an integer in [0, 2^32). */
export function parseTestSeed(value: string | undefined, random: () => number): number {
  if (value === undefined || value === '') return DEFAULT_TEST_SEED
  if (value === 'random') return Math.floor(random() * 2 ** 32)
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n >= 2 ** 32) {
    throw new Error(`TEST_SEED=${value}: expected an integer in [0, 2^32) or "random"`)
  }
  return n
}

// Math.random only picks a seed that is then printed, never a value a test uses.
export const testSeed = parseTestSeed(process.env.TEST_SEED, Math.random)

process.on('exit', (code) => {
  if (code === 0) return
  const script = process.argv[1]
  const file = script === undefined ? 'the failing test file' : relative(process.cwd(), script)
  process.stderr.write(
    `test seed ${testSeed}: replay with TEST_SEED=${testSeed} node --test ${file}\n`,
  )
})

/** What names one use of randomness: a string, or a node:test context (its test's name). */
export type Label = string | { readonly name: string }

/** A 32-bit seed for one use: the suite's seed mixed with the label (FNV-1a, then murmur3 fmix). */
export function seedFor(use: Label, seed = testSeed): number {
  const label = typeof use === 'string' ? use : use.name
  let h = 0x811c9dc5 ^ seed
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** A seeded stream (mulberry32): small and fast; tests need spread, not cryptography. */
export class TestRand {
  private state: number

  constructor(seed: number) {
    this.state = seed | 0
  }

  /** Uniform in [0, 2^32). */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 2 ** 32
  }

  /** Uniform in [0, n), for 0 < n <= 2^32. */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
}

/** The stream for one use: `testRand(t)` in a test whose context is `t`. */
export function testRand(use: Label): TestRand {
  return new TestRand(seedFor(use))
}

/** fast-check parameters for one property, seeded for `use`: `fc.assert(p, fcParams(t, {...}))`. */
export function fcParams<T>(use: Label, params: Parameters<T> = {}): Parameters<T> {
  // fast-check's seed is a 32-bit signed integer.
  return { ...params, seed: seedFor(use) | 0 }
}
