/**
 * `npm run test:quick` (after the build): every compiled test file but those listed below, with
 * TEST_QUICK=1 so that tests marked slow() skip (quick.ts), through the same runner and reporter
 * as `npm test`, one file per core. Exits with the runner's status.
 */

import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dist = join(root, 'dist')

/**
 * Whole files left out, for slow tests that are not marked slow() yet, each with its reason.
 * Remove a file from here once its slow tests are marked.
 */
const leftOut = new Map<string, string>([])

function testFiles(dir: string): string[] {
  const files: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...testFiles(path))
    else if (entry.name.endsWith('.test.js')) files.push(path)
  }
  return files
}

const files = testFiles(dist)
  .filter((f) => !leftOut.has(relative(dist, f)))
  .sort()
for (const [file, why] of leftOut)
  process.stdout.write(`test:quick leaves out dist/${file}: ${why}\n`)
// Every core: node's default leaves one free, which on a 2-core machine runs the files one by one.
const concurrency = `--test-concurrency=${availableParallelism()}`
const run = spawnSync(process.execPath, ['--test', concurrency, '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, TEST_QUICK: '1' },
})
process.exitCode = run.status ?? 1
