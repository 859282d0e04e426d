/**
 * Runs etcd-io/raft's data-driven test files against Pontoon and reports which pass.
 *
 *   node dist/src/cli/conformance.js PATH...
 *
 * Each PATH is a .txt file or a directory searched recursively for them. A file's handler is
 * chosen by its parent directory (quorum/, confchange/, interaction/), fresh for every file. A
 * file passes when rewriting it with the actual outputs reproduces it byte for byte; otherwise a
 * diff (- expected, + actual) is printed. Exit status: 0 all passed, 1 some failed, 2 bad usage
 * or missing paths.
 */

import { readFileSync, readdirSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { Handler } from '../raft/rafttest/datadriven.js'
import { runDataDriven } from '../raft/rafttest/datadriven.js'
import { createConfChangeHandler } from '../raft/rafttest/confchange-handler.js'
import { createInteractionHandler } from '../raft/rafttest/interaction.js'
import { createQuorumHandler } from '../raft/rafttest/quorum-handler.js'
import { realDeps } from '../raft/rafttest/real-deps.js'
import { lineDiff } from './line-diff.js'

const handlers = new Map<string, () => Handler>([
  ['quorum', createQuorumHandler],
  ['confchange', createConfChangeHandler],
  ['interaction', () => createInteractionHandler(realDeps)],
])

/** The .txt files under `path` (or `path` itself), sorted. */
function collect(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path]
  const files: string[] = []
  for (const name of readdirSync(path).sort()) {
    const child = join(path, name)
    if (statSync(child).isDirectory()) files.push(...collect(child))
    else if (name.endsWith('.txt')) files.push(child)
  }
  return files
}

/** Runs one file; returns the failure report, or null if it passed. */
export function checkFile(file: string): string | null {
  const dir = basename(dirname(file))
  const factory = handlers.get(dir)
  if (factory === undefined) return `no handler for directory ${dir}/`
  const original = readFileSync(file, 'utf8')
  let rewritten: string
  try {
    rewritten = runDataDriven(original, factory(), file)
  } catch (err) {
    return `error: ${err instanceof Error ? err.message : String(err)}`
  }
  return rewritten === original ? null : lineDiff(original, rewritten)
}

function main(paths: string[]): number {
  if (paths.length === 0) {
    console.error('usage: conformance PATH...')
    return 2
  }
  const missing = paths.filter((p) => !statSync(p, { throwIfNoEntry: false }))
  if (missing.length > 0) {
    for (const p of missing) console.error(`conformance folder is missing: ${p}`)
    return 2
  }
  let passed = 0
  let failed = 0
  for (const file of paths.flatMap(collect)) {
    const failure = checkFile(file)
    if (failure === null) {
      passed++
      console.log(`PASS ${file}`)
    } else {
      failed++
      console.log(failure)
      console.log(`FAIL ${file}`)
    }
  }
  console.log(`${passed} passed, ${failed} failed`)
  return failed === 0 ? 0 : 1
}

process.exitCode = main(process.argv.slice(2))
