/**
 * The slow tests, and `npm run test:quick`, which leaves them out for the edit loop (test
 * support: only the test project compiles this folder).
 *
 * `npm test` runs everything. `npm run test:quick` builds, then runs every test file with
 * TEST_QUICK=1 (run-quick.ts), under which a test declared slow is skipped with its reason:
 *
 *   test('seeds 1..1500 pass every checker', slow('1500 simulator seeds'), async (t) => { ... })
 *
 * Slow means seconds, not milliseconds: seed and crash sweeps, benchmarks. Everything fast stays
 * in, so the quick run still covers every layer.
 */

/** True under `npm run test:quick`. */
export const quick = process.env.TEST_QUICK === '1'

/** node:test options for a slow test: skipped under test:quick, saying what; run by npm test. */
export function slow(what: string): { skip: string | false } {
  return { skip: quick ? `slow (${what}): npm test runs it` : false }
}
