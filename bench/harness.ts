/**
 * A tiny benchmark harness: runs a workload a few times, reports the median per-op time, the
 * throughput and the heap bytes allocated per op, and a hash of the result so that a speed-up
 * that changes the answer shows.
 *
 * Allocation is measured as the growth of the used heap across a run plus what every garbage
 * collection inside the run freed (v8.GCProfiler reports the heap before and after each one):
 * a large young generation (--max-semi-space-size) does not keep scavenges out of a long run,
 * since it starts small and grows only under pressure, and the growth alone then showed a
 * fraction of the real figure. Run node with --expose-gc, as `npm run bench` does, so that each
 * run starts from a collected heap; without it the figure is marked with `~`.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8'

export interface Measurement {
  name: string
  ops: number
  nsPerOpMedian: number
  /** The fastest run: the least disturbed by other processes on a shared machine. */
  nsPerOpMin: number
  /**
   * Process CPU time per op (median): on a shared machine it moves much less than wall time when
   * other processes take the cores, so compare it when the wall figures are noisy.
   */
  cpuNsPerOpMedian: number
  opsPerSecond: number
  heapBytesPerOp: number
  heapExact: boolean
  /** What one op is, singular and plural: `entry`/`entries` unless the benchmark says. */
  unit: [string, string]
  extra: Record<string, number | string>
}

export interface RunOptions {
  name: string
  /** Operations per run. */
  ops: number
  /** Runs; the median is reported. */
  runs: number
  /** What one op is, singular and plural (default `entry`/`entries`). */
  unit?: [string, string]
  /** Builds fresh state and returns the function that performs `ops` operations. */
  setup: () => { run: () => void; extra?: () => Record<string, number | string> }
}

const gc = (globalThis as { gc?: () => void }).gc

export function measure(opts: RunOptions): Measurement {
  const times: number[] = []
  const cpuTimes: number[] = []
  const allocs: number[] = []
  let exact = true
  let extra: Record<string, number | string> = {}
  // Two discarded runs first: otherwise the first benchmark of a process pays for compiling the
  // core (on a busy machine the background compiler lags, and one run was not enough), and its
  // median mostly measured the JIT.
  for (let i = 0; i < 2; i++) opts.setup().run()
  for (let i = 0; i < opts.runs; i++) {
    const { run, extra: getExtra } = opts.setup()
    gc?.()
    const profiler = new GCProfiler()
    profiler.start()
    const heapBefore = getHeapStatistics()
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    run()
    const t1 = process.hrtime.bigint()
    const cpu = process.cpuUsage(cpu0)
    const heapAfter = getHeapStatistics()
    let freed = 0
    for (const c of profiler.stop().statistics) {
      freed += c.beforeGC.heapStatistics.usedHeapSize - c.afterGC.heapStatistics.usedHeapSize
    }
    times.push(Number(t1 - t0) / opts.ops)
    cpuTimes.push(((cpu.user + cpu.system) * 1000) / opts.ops)
    const allocated = heapAfter.used_heap_size - heapBefore.used_heap_size + freed
    if (allocated < 0 || gc === undefined) exact = false
    allocs.push(Math.max(0, allocated) / opts.ops)
    if (getExtra) extra = getExtra()
  }
  const nsPerOpMedian = median(times)
  return {
    name: opts.name,
    ops: opts.ops,
    nsPerOpMedian,
    nsPerOpMin: Math.min(...times),
    cpuNsPerOpMedian: median(cpuTimes),
    opsPerSecond: 1e9 / nsPerOpMedian,
    heapBytesPerOp: median(allocs),
    heapExact: exact,
    unit: opts.unit ?? ['entry', 'entries'],
    extra,
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

export function formatRow(m: Measurement): string {
  const extra = Object.entries(m.extra)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? round(v) : v}`)
    .join(' ')
  const [one, many] = m.unit
  return (
    `${m.name.padEnd(34)} ${fmt(m.opsPerSecond).padStart(12)} ${many}/s ` +
    `${round(m.nsPerOpMedian).toString().padStart(9)} ns/${one} ` +
    `(cpu ${round(m.cpuNsPerOpMedian).toString().padStart(6)}) ` +
    `${(m.heapExact ? '' : '~') + round(m.heapBytesPerOp)} B/${one}  ${extra}`
  )
}

function round(v: number): number {
  return v >= 100 ? Math.round(v) : Math.round(v * 100) / 100
}

function fmt(v: number): string {
  return Math.round(v).toLocaleString('en-US')
}
