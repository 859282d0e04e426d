/**
 * Checks a key-value history file (JSONL, see src/sim/history.ts) for linearizability.
 *
 *   npm run lincheck -- FILE.jsonl [--steps-max=N]
 *
 * Exit status: 0 linearizable, 1 not linearizable (with an explanation), 2 unknown (the search
 * budget ran out), 3 bad usage or a malformed history.
 */
import { readFileSync } from 'node:fs'
import { HistoryError, parseHistory } from './history.js'
import { STEPS_MAX_DEFAULT, checkOperations, describeResult } from './linearizability.js'

const USAGE = 'usage: lincheck FILE.jsonl [--steps-max=N]'

function main(): number {
  let file: string | undefined
  let stepsMax = STEPS_MAX_DEFAULT
  for (const a of process.argv.slice(2)) {
    const m = /^--steps-max=(\d+)$/.exec(a)
    if (m !== null) stepsMax = Number(m[1])
    else if (file === undefined && !a.startsWith('--')) file = a
    else return usage(`unexpected argument ${a}`)
  }
  if (file === undefined) return usage('no history file given')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    return usage(`cannot read ${file}: ${(e as Error).message}`)
  }
  let ops
  try {
    ops = parseHistory(text)
  } catch (e) {
    if (!(e instanceof HistoryError)) throw e
    process.stderr.write(`${file}: ${e.message} (${e.code})\n`)
    return 3
  }
  const started = process.hrtime.bigint()
  const r = checkOperations(ops, { stepsMax })
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  process.stdout.write(`${describeResult(r)}\nchecked in ${ms.toFixed(1)} ms\n`)
  return r.kind === 'linearizable' ? 0 : r.kind === 'not-linearizable' ? 1 : 2
}

function usage(message: string): number {
  process.stderr.write(`${message}\n${USAGE}\n`)
  return 3
}

process.exitCode = main()
