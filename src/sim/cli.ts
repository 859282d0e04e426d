/**
 * Runs the deterministic cluster simulator.
 *
 *   npm run sim -- --seed=N [--trace] [--history=FILE]
 *                                         replay one seed (the trace is the step-by-step history);
 *                                         --history writes the client history (JSONL, see
 *                                         src/sim/history.ts) for `npm run lincheck`
 *   npm run sim -- --seeds=N [--from=S]   run seeds S .. S+N-1 (S defaults to a random seed)
 *
 * A failing seed is printed with the command that replays it. Exit status: 0 all passed,
 * 1 a seed failed, 2 bad usage.
 */
import { writeFileSync } from 'node:fs'
import { formatEvent } from './history.js'
import { describeCounts, describeOptions, runSeed, type RunResult } from './run.js'

interface Args {
  seed?: number
  seeds?: number
  from?: number
  trace: boolean
  history?: string
}

function parseArgs(argv: string[]): Args {
  const args: Args = { trace: false }
  for (const a of argv) {
    const m = /^--(seed|seeds|from)=(\d+)$/.exec(a)
    if (m !== null) args[m[1] as 'seed' | 'seeds' | 'from'] = Number(m[2])
    else if (a === '--trace') args.trace = true
    else if (a.startsWith('--history=') && a.length > 10) args.history = a.slice(10)
    else throw new Error(`unknown argument ${a}`)
  }
  if ((args.seed === undefined) === (args.seeds === undefined)) {
    throw new Error('give exactly one of --seed=N and --seeds=N')
  }
  if (args.history !== undefined && args.seed === undefined) {
    throw new Error('--history needs --seed=N')
  }
  return args
}

function reportFailure(r: RunResult): void {
  process.stdout.write(
    `\nseed ${r.seed} FAILED at tick ${r.ticks}: ${r.violation?.message}\n` +
      `  ${describeOptions(r.options)}\n` +
      `replay: npm run sim -- --seed=${r.seed} --trace\n`,
  )
}

async function runOne(seed: number, trace: boolean, history?: string): Promise<number> {
  const r = await runSeed(seed, { trace })
  if (history !== undefined) {
    writeFileSync(history, r.history.map((e) => formatEvent(e) + '\n').join(''))
    process.stdout.write(`seed ${seed}: ${r.history.length} history events written to ${history}\n`)
  }
  if (r.trace !== null) {
    process.stdout.write(`seed ${seed}: ${describeOptions(r.options)}\n`)
    for (const line of r.trace) process.stdout.write(line + '\n')
  }
  if (r.violation !== null) {
    reportFailure(r)
    return 1
  }
  process.stdout.write(
    `seed ${seed} passed: ${r.ticks} ticks, ${r.opsDone} client ops, converged ` +
      `${r.livenessTicks} ticks after healing, hash ${r.hash.toString(16)}\n  ${describeCounts(r.counts)}\n`,
  )
  return 0
}

async function withStacks<T>(f: () => Promise<T>): Promise<T> {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 10
  try {
    return await f()
  } finally {
    Error.stackTraceLimit = limit
  }
}

async function runMany(count: number, from: number): Promise<number> {
  // The Raft core signals "entry not available" with a thrown RaftError on a hot path (a rejected
  // MsgApp formats its log line eagerly); capturing stacks for those was ~10% of the run time.
  Error.stackTraceLimit = 0
  const started = process.hrtime.bigint()
  let ticks = 0
  let ops = 0
  let failed = 0
  let livenessMax = 0
  const counts = new Int32Array(32)
  for (let i = 0; i < count; i++) {
    const seed = from + i
    let r = await runSeed(seed)
    // The run was without stack traces; replaying is exact, so get them for the report.
    if (r.violation?.kind === 'raft-panic') r = await withStacks(() => runSeed(seed))
    ticks += r.ticks
    ops += r.opsDone
    for (let k = 0; k < r.counts.length; k++) counts[k]! += r.counts[k]!
    if (r.violation === null) livenessMax = Math.max(livenessMax, r.livenessTicks)
    else {
      failed++
      reportFailure(r)
    }
    if (process.stderr.isTTY || i === count - 1 || i % 50 === 0) {
      const line = `\r${i + 1}/${count} seeds, ${failed} failed, seed ${seed}`
      process.stderr.write(process.stderr.isTTY ? line : line.slice(1) + '\n')
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  process.stderr.write('\n')
  process.stdout.write(
    `${count - failed}/${count} seeds passed in ${seconds.toFixed(1)} s ` +
      `(${((count / seconds) * 60).toFixed(0)} seeds/min): ` +
      `${(ticks / seconds).toFixed(0)} simulated ticks/s, ${(ops / seconds).toFixed(0)} client ops/s, ` +
      `slowest convergence ${livenessMax} ticks after healing\n  ${describeCounts(counts)}\n`,
  )
  return failed === 0 ? 0 : 1
}

async function main(): Promise<number> {
  let args: Args
  try {
    args = parseArgs(process.argv.slice(2))
  } catch (e) {
    process.stderr.write(
      `${(e as Error).message}\nusage: sim --seed=N [--trace] [--history=FILE] | --seeds=N [--from=S]\n`,
    )
    return 2
  }
  if (args.seed !== undefined) return runOne(args.seed, args.trace, args.history)
  const from = args.from ?? Math.floor(Math.random() * 1e9)
  return runMany(args.seeds as number, from)
}

// A reader that stops early (`| head`) is not an error worth a stack trace.
process.stdout.on('error', () => process.exit(process.exitCode ?? 0))
process.exitCode = await main()
