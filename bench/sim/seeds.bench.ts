/**
 * Simulator throughput on one core: seeds per minute, simulated ticks per second and client
 * operations per second over a fixed range of seeds (half of them on WalStorage over SimDisk).
 * The hash of the per-seed result hashes shows that a speed-up did not change the runs.
 */
import { createHash } from 'node:crypto'
import { runSeed } from '../../src/sim/run.js'

export async function runSimBench(size: number): Promise<string> {
  const seeds = Math.max(2, Math.round(100 * size))
  const hash = createHash('sha256')
  let ticks = 0
  let ops = 0
  const t0 = process.hrtime.bigint()
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await runSeed(seed)
    if (r.violation !== null) throw new Error(`seed ${seed} failed: ${r.violation.message}`)
    ticks += r.ticks
    ops += r.opsDone
    hash.update(r.hash.toString(16))
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  return (
    `sim benchmark (node ${process.version}): seeds 1..${seeds} in ${seconds.toFixed(1)} s\n` +
    `${((seeds / seconds) * 60).toFixed(0)} seeds/min, ${(ticks / seconds).toFixed(0)} simulated ticks/s, ` +
    `${(ops / seconds).toFixed(0)} client ops/s, ${ticks} ticks in all; ` +
    `a million ticks take ${(1e6 / (ticks / seconds)).toFixed(0)} s; hash ${hash.digest('hex').slice(0, 12)}\n`
  )
}
