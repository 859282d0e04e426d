/**
 * Runs the deterministic cluster simulator.
 *
 *   npm run sim -- --seed=N [--trace] [--history=FILE]
 *                                         replay one seed (the trace is the step-by-step history);
 *                                         --history writes the client history (JSONL, see
 *                                         src/sim/history.ts) for `npm run lincheck`
 *   npm run sim -- --seeds=N [--from=S] [--stop-on-failure]
 *                                         run seeds S .. S+N-1 (S defaults to a random seed)
 *   npm run sim -- --plant=NAME ...       the same with a planted bug (src/sim/plants.ts), in a
 *                                         planted copy of dist/ run as a child process
 *   npm run sim -- --plants               list the plants
 *   --no-check=reads,recovery,responses  switch checkers off (a plant's own are added)
 *   --machine=server                     members run the server's apply path over MVCC and the
 *                                         clients send etcd requests (default: register)
 *
 * A failing seed is printed with the command that replays it. Exit status: 0 all passed,
 * 1 a seed failed, 2 bad usage, 3 a plant's text was not found in dist/ (update the plant).
 */
import { writeFileSync } from 'node:fs'
import { formatEvent } from './history.js'
import { PLANTS, PlantError, findPlant, type CheckName } from './plants.js'
import { runPlanted } from './plant-runner.js'
import type { MachineKind } from './machine.js'
import { describeCounts, describeOptions, runSeed, type RunResult } from './run.js'

interface Args {
  seed?: number
  seeds?: number
  from?: number
  trace: boolean
  history?: string
  stopOnFailure: boolean
  checksOff: CheckName[]
  plant?: string
  listPlants: boolean
  machine: MachineKind
}

const CHECK_NAMES: readonly CheckName[] = ['reads', 'recovery', 'responses']

function parseArgs(argv: string[]): Args {
  const args: Args = {
    trace: false,
    stopOnFailure: false,
    checksOff: [],
    listPlants: false,
    machine: 'register',
  }
  for (const a of argv) {
    const m = /^--(seed|seeds|from)=(\d+)$/.exec(a)
    if (m !== null) args[m[1] as 'seed' | 'seeds' | 'from'] = Number(m[2])
    else if (a === '--trace') args.trace = true
    else if (a === '--stop-on-failure') args.stopOnFailure = true
    else if (a === '--plants') args.listPlants = true
    else if (a.startsWith('--plant=') && a.length > 8) args.plant = a.slice(8)
    else if (a.startsWith('--history=') && a.length > 10) args.history = a.slice(10)
    else if (a === '--machine=server' || a === '--machine=register') {
      args.machine = a.slice(10) as MachineKind
    } else if (a.startsWith('--no-check=')) {
      for (const name of a.slice(11).split(',')) {
        if (!CHECK_NAMES.includes(name as CheckName)) {
          throw new Error(`unknown check ${name}: the checks are ${CHECK_NAMES.join(', ')}`)
        }
        args.checksOff.push(name as CheckName)
      }
    } else throw new Error(`unknown argument ${a}`)
  }
  if (args.listPlants) return args
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
      `replay: npm run sim -- --seed=${r.seed}${r.options.machine === 'server' ? ' --machine=server' : ''} --trace\n`,
  )
}

async function runOne(
  seed: number,
  trace: boolean,
  checksOff: readonly CheckName[],
  machine: MachineKind,
  history?: string,
): Promise<number> {
  const r = await runSeed(seed, { trace, checksOff, machine })
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

async function runMany(
  count: number,
  from: number,
  checksOff: readonly CheckName[],
  machine: MachineKind,
  stopOnFailure: boolean,
): Promise<number> {
  // The Raft core signals "entry not available" with a thrown RaftError on a hot path (a rejected
  // MsgApp formats its log line eagerly); capturing stacks for those was ~10% of the run time.
  Error.stackTraceLimit = 0
  const started = process.hrtime.bigint()
  let ticks = 0
  let ops = 0
  let failed = 0
  let livenessMax = 0
  let firstFailed = 0
  let ran = 0
  const counts = new Int32Array(32)
  for (let i = 0; i < count; i++) {
    const seed = from + i
    let r = await runSeed(seed, { checksOff, machine })
    // The run was without stack traces; replaying is exact, so get them for the report.
    if (r.violation?.kind === 'raft-panic')
      r = await withStacks(() => runSeed(seed, { checksOff, machine }))
    ran++
    ticks += r.ticks
    ops += r.opsDone
    for (let k = 0; k < r.counts.length; k++) counts[k]! += r.counts[k]!
    if (r.violation === null) livenessMax = Math.max(livenessMax, r.livenessTicks)
    else {
      failed++
      if (firstFailed === 0) firstFailed = seed
      reportFailure(r)
    }
    const last = i === count - 1 || (stopOnFailure && failed > 0)
    if (process.stderr.isTTY || last || i % 50 === 0) {
      const line = `\r${i + 1}/${count} seeds, ${failed} failed, seed ${seed}`
      process.stderr.write(process.stderr.isTTY ? line : line.slice(1) + '\n')
    }
    if (stopOnFailure && failed > 0) break
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  process.stderr.write('\n')
  if (failed > 0) {
    process.stdout.write(
      `failed: ${failed} of ${ran} seeds (${from}..${from + ran - 1}), first seed ${firstFailed}\n`,
    )
  }
  process.stdout.write(
    `${ran - failed}/${ran} seeds passed in ${seconds.toFixed(1)} s ` +
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
      `${(e as Error).message}\nusage: sim --seed=N [--trace] [--history=FILE] | ` +
        `--seeds=N [--from=S] [--stop-on-failure]; [--plant=NAME] [--no-check=NAMES] | --plants\n`,
    )
    return 2
  }
  if (args.listPlants) {
    for (const p of PLANTS) {
      const off = p.checksOff === undefined ? '' : ` (${p.checksOff.join(', ')} check off)`
      const from = p.from ?? 1
      const seeds = `seeds ${from}..${from + p.budget - 1}`
      process.stdout.write(`${p.name}: ${p.description}${off}; caught within ${seeds}\n`)
    }
    return 0
  }
  if (args.plant !== undefined) return runPlant(args.plant)
  if (args.seed !== undefined)
    return runOne(args.seed, args.trace, args.checksOff, args.machine, args.history)
  const from = args.from ?? Math.floor(Math.random() * 1e9)
  return runMany(args.seeds as number, from, args.checksOff, args.machine, args.stopOnFailure)
}

/** Runs this command line again, without --plant, in a copy of dist/ with the plant in. */
async function runPlant(name: string): Promise<number> {
  const rest = process.argv.slice(2).filter((a) => !a.startsWith('--plant='))
  try {
    const plant = findPlant(name)
    process.stderr.write(`plant ${plant.name}: ${plant.description}\n`)
    const run = await runPlanted(plant, rest)
    return run.status ?? 1
  } catch (e) {
    if (!(e instanceof PlantError)) throw e
    process.stderr.write(`${e.message}\n`)
    return 3
  }
}

// A reader that stops early (`| head`) is not an error worth a stack trace.
process.stdout.on('error', () => process.exit(process.exitCode ?? 0))
process.exitCode = await main()
