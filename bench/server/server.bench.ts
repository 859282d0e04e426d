/**
 * `npm run bench -- server [options]`: the same load against etcd 3.4 and against pontoon, one
 * after the other, on fresh clusters of real processes, and both side by side with their ratio.
 *
 * Each case (an op and a cluster size) runs `--repeat` times per system, the systems taking
 * turns (etcd, pontoon, etcd, ...) so that a change in the machine's load falls on both; every
 * run starts a fresh cluster on fresh data dirs on a real disk (os.tmpdir(), not /dev/shm: both
 * servers fsync their WAL, and that cost is part of what is measured), with etcd's default
 * timings on both sides (--heartbeat-interval=100 --election-timeout=1000). The table reports,
 * per figure, the median over the repeats.
 *
 * Before the cases, the generator runs the same load against a no-op gRPC server on node:http2
 * (noop-server.ts, its own process): its ops/s is the ceiling of generator plus node:http2 on
 * this machine, and the generator's CPU per call is printed for every run, so a client-bound
 * figure can be recognised as one.
 *
 * On a 2-core machine the generator and the servers share the cores: the figures are this
 * machine's, for comparing the two systems under the same load, not absolute capacities.
 */
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { startCluster } from '../../test-support/procs.js'
import type { Cluster, MemberKind } from '../../test-support/procs.js'
import { median } from '../harness.js'
import { GRPC_OK } from './grpc-client.js'
import type { Histogram } from './histogram.js'
import { connect, fmtInt, prepare, runLoad, warmUpServer } from './load.js'
import type { ClientKind, LoadResult, LoadSpec, Op } from './load.js'
import { EMPTY_FRAME, STATUS, decodeStatus, keySpaceMax } from './requests.js'

export interface ServerBenchOptions {
  clients: number
  conns: number
  durationMs: number
  total?: number
  warmupMs: number
  /**
   * Before each run (and its own warm-up), this long a put load from 64 clients on the fresh
   * cluster: pontoon is JavaScript, and V8 optimizes its hot path only after some thousands of
   * requests, which a 1-client case would spend its whole window on (etcd, compiled ahead of
   * time, needs none; it gets the same load). 0 skips it.
   */
  serverWarmupMs: number
  repeat: number
  keySize: number
  valSize: number
  keySpace: number
  sequentialKeys: boolean
  /** Keys each range reads (1; issue 13's range cases: 100). */
  rangeKeys: number
  /** Keys written before a delete run and deleted in order (deleteKeysFor). */
  deleteKeys: number
  /** Calls per second over all clients; 0: no limit (closed loop). */
  ratePerSecond: number
  /** Which systems run: both by default. */
  kinds: MemberKind[]
  cases: BenchCase[]
  /** Clients talk to the leader only (default) or are spread over all members. */
  target: 'leader' | 'all'
  /** Where the clusters' data dirs go (a real disk). */
  baseDir: string
  /** Skip the no-op ceiling run. */
  skipCeiling: boolean
  /** No progress lines on stderr. */
  quiet: boolean
  /** The generator's gRPC client: HTTP/2 written here (default) or node:http2. */
  client: ClientKind
}

export interface BenchCase {
  op: Op
  members: number
}

/** The issue's cases: put at 1 and 3 members, both kinds of range at 1 (txn-put, delete: --op). */
export const DEFAULT_CASES: readonly BenchCase[] = [
  { op: 'put', members: 1 },
  { op: 'range-linearizable', members: 1 },
  { op: 'range-serializable', members: 1 },
  { op: 'put', members: 3 },
]

const OPS: Record<string, Op> = {
  put: 'put',
  'txn-put': 'txn-put',
  txn: 'txn-put',
  delete: 'delete',
  'delete-range': 'delete',
  del: 'delete',
  'range-linearizable': 'range-linearizable',
  'range-l': 'range-linearizable',
  range: 'range-linearizable',
  'range-serializable': 'range-serializable',
  'range-s': 'range-serializable',
}

export const USAGE = `npm run bench -- server [options]
  --clients=N          concurrent closed-loop clients (64)
  --conns=N            HTTP/2 connections they share (8)
  --duration=S         measured seconds per run (4), after --warmup=S (1)
  --server-warmup=S    before each run, S seconds of puts from 64 clients (2), so that V8 has
                       optimized pontoon's hot path (a fresh member runs its first thousands of
                       requests unoptimized); etcd gets the same; 0 skips it
  --total=N            instead of --duration: N requests per run
  --repeat=N           runs per case and system; the table shows medians (3)
  --members=1|3        run every op (or --op) at this cluster size only
  --op=LIST            put, txn-put (txn), delete (del), range-linearizable (range-l),
                       range-serializable (range-s); txn-put and delete run only when named
  --rate=N             calls per second over all clients, latency from each call's due time
                       (0: no limit, a closed loop)
  --only=etcd|pontoon  one system only
  --key-size=N         bytes per key, ASCII digits (8); --val-size=N bytes per value (256)
  --key-space=N        puts write keys 0..N-1 (100000), random or --sequential-keys; deletes
                       delete keys 0..N-1 in order, written before the run (default: sized
                       from --rate or 50,000/s, and --duration or --total)
  --range-keys=N       keys each range reads (1): keys 0..N-1, written before the load
  --target=leader|all  clients talk to the leader (default) or to every member round-robin
  --data-dir=PATH      parent of the clusters' data dirs (os.tmpdir(): a real disk, not tmpfs)
  --no-ceiling         skip the generator's ceiling against the no-op server
  --client=raw|node    the generator's HTTP/2: written here (raw, default) or node:http2
  --quiet              no progress lines on stderr`

const KNOWN_OPTIONS = [
  'clients',
  'conns',
  'duration',
  'total',
  'warmup',
  'server-warmup',
  'repeat',
  'members',
  'op',
  'only',
  'key-size',
  'val-size',
  'key-space',
  'sequential-keys',
  'range-keys',
  'rate',
  'target',
  'data-dir',
  'no-ceiling',
  'quiet',
  'client',
  'size', // npm run bench's own flag, meaningless here
]

/** Parses `--name=value` and `--name value` (and bare flags); throws on anything unknown. */
export function parseOptions(args: readonly string[]): ServerBenchOptions {
  const raw = new Map<string, string>()
  const bare = new Set(['sequential-keys', 'no-ceiling', 'quiet'])
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === 'server') continue
    if (a === '--help' || a === '-h') throw new Error(USAGE)
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${USAGE}`)
    const eq = a.indexOf('=')
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq)
    if (!KNOWN_OPTIONS.includes(name)) throw new Error(`unknown option --${name}\n${USAGE}`)
    if (eq >= 0) raw.set(name, a.slice(eq + 1))
    else if (bare.has(name)) raw.set(name, 'true')
    else if (i + 1 < args.length) raw.set(name, args[++i]!)
    else throw new Error(`--${name} needs a value\n${USAGE}`)
  }
  const num = (name: string, dflt: number, min: number, int = true): number => {
    const s = raw.get(name)
    if (s === undefined) return dflt
    const v = Number(s)
    if (!Number.isFinite(v) || v < min || (int && !Number.isInteger(v))) {
      throw new Error(`--${name}=${s}: expected ${int ? 'an integer' : 'a number'} >= ${min}`)
    }
    return v
  }
  const only = raw.get('only')
  if (only !== undefined && only !== 'etcd' && only !== 'pontoon') {
    throw new Error(`--only=${only}: expected etcd or pontoon`)
  }
  const client = raw.get('client') ?? 'raw'
  if (client !== 'raw' && client !== 'node') {
    throw new Error(`--client=${client}: expected raw or node`)
  }
  const target = raw.get('target') ?? 'leader'
  if (target !== 'leader' && target !== 'all') {
    throw new Error(`--target=${target}: expected leader or all`)
  }
  let ops: Op[] | undefined
  const opList = raw.get('op')
  if (opList !== undefined) {
    ops = opList.split(',').map((o) => {
      const op = OPS[o]
      if (op === undefined)
        throw new Error(`--op: unknown op ${o} (${Object.keys(OPS).join(', ')})`)
      return op
    })
  }
  const membersArg = raw.get('members')
  if (membersArg !== undefined && membersArg !== '1' && membersArg !== '3') {
    throw new Error(`--members=${membersArg}: expected 1 or 3`)
  }
  let cases: BenchCase[]
  if (membersArg !== undefined) {
    const members = Number(membersArg)
    const defaultOps: Op[] = ['put', 'range-linearizable', 'range-serializable']
    cases = (ops ?? defaultOps).map((op) => ({
      op,
      members,
    }))
  } else if (ops !== undefined) {
    // The default cases of the ops named; an op with none (txn-put, delete) runs at 1 member.
    const named = DEFAULT_CASES.filter((c) => ops.includes(c.op))
    const others = ops.filter((op) => !named.some((c) => c.op === op))
    cases = [...named, ...others.map((op) => ({ op, members: 1 }))]
  } else {
    cases = [...DEFAULT_CASES]
  }
  const keySize = num('key-size', 8, 1)
  const keySpace = num('key-space', 100_000, 1)
  if (keySpace > keySpaceMax(keySize)) {
    throw new Error(`--key-space=${keySpace} needs keys longer than --key-size=${keySize} digits`)
  }
  const rangeKeys = num('range-keys', 1, 1)
  if (rangeKeys > keySpaceMax(keySize)) {
    throw new Error(`--range-keys=${rangeKeys} needs keys longer than --key-size=${keySize} digits`)
  }
  const totalArg = raw.get('total')
  const total = totalArg === undefined ? undefined : num('total', 0, 1)
  const durationMs = num('duration', 4, 0.1, false) * 1000
  const warmupMs = num('warmup', 1, 0, false) * 1000
  const ratePerSecond = num('rate', 0, 0, false)
  const clients = num('clients', 64, 1)
  const deleteKeys = raw.has('key-space')
    ? keySpace
    : Math.min(
        keySpaceMax(keySize),
        deleteKeysFor({ ratePerSecond, warmupMs, durationMs, total, clients }),
      )
  return {
    clients,
    conns: num('conns', 8, 1),
    durationMs,
    total,
    warmupMs,
    serverWarmupMs: num('server-warmup', 2, 0, false) * 1000,
    repeat: num('repeat', 3, 1),
    keySize,
    valSize: num('val-size', 256, 0),
    keySpace,
    sequentialKeys: raw.has('sequential-keys'),
    rangeKeys,
    deleteKeys,
    ratePerSecond,
    kinds: only === undefined ? ['etcd', 'pontoon'] : [only],
    cases,
    target,
    baseDir: raw.get('data-dir') ?? tmpdir(),
    skipCeiling: raw.has('no-ceiling'),
    quiet: raw.has('quiet'),
    client,
  }
}

/**
 * An upper bound on the deletes of one run (warm-up and window), above what either server
 * deletes per second on this 2-core machine with no --rate: a 1-member etcd puts about 33k/s at
 * 256 clients (issue 13). A run that deletes more than it prepared says so in its line.
 */
const DELETES_PER_SECOND_MAX = 50_000

/**
 * Keys a delete run prepares when --key-space is not given: its calls at --rate (or at
 * DELETES_PER_SECOND_MAX) over the warm-up and the window, or the warm-up's and --total, with
 * one call per client and 10% to spare.
 */
export function deleteKeysFor(o: {
  ratePerSecond: number
  warmupMs: number
  durationMs: number
  total: number | undefined
  clients: number
}): number {
  const perSecond = o.ratePerSecond > 0 ? o.ratePerSecond : DELETES_PER_SECOND_MAX
  const warmup = (perSecond * o.warmupMs) / 1000
  const window = o.total ?? (perSecond * o.durationMs) / 1000
  return Math.ceil((warmup + window + o.clients) * 1.1)
}

/** One measured run of one system. */
export interface RunRecord {
  kind: MemberKind | 'no-op'
  caseLabel: string
  repeat: number
  ops: number
  opsPerSecond: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  errors: number
  errorSamples: string[]
  checkFailures: string[]
  /** The rate asked (--rate), calls per second; 0: none. */
  ratePerSecond: number
  /** Deletes past the keys prepared (they deleted nothing); 0 for other ops. */
  deletesUnprepared: number
  deleteKeys: number
  clientCpuPercent: number
  /** Server CPU over the window, all members summed, percent of one core. */
  serverCpuPercent: number
  /** VmRSS of each member at the end of the window, KiB; the first is the leader. */
  rssKiB: number[]
}

export interface ServerBenchReport {
  text: string
  runs: RunRecord[]
}

/** `npm run bench -- server ...`: the whole suite; the text is the report (stdout). */
export async function runServerBench(args: readonly string[]): Promise<string> {
  let opts: ServerBenchOptions
  try {
    opts = parseOptions(args)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    process.exit(2)
  }
  return (await serverBench(opts)).text
}

export async function serverBench(o: ServerBenchOptions): Promise<ServerBenchReport> {
  const out: string[] = []
  const runs: RunRecord[] = []
  const log = (line: string): void => {
    if (!o.quiet) process.stderr.write(line + '\n')
  }
  const load0 = loadavg()
  const started = new Date()
  out.push(...describeSetup(o, started))
  for (const line of out) log(line)

  if (!o.skipCeiling) {
    for (const server of ['node', 'api'] as const) {
      const r = await ceilingRun(o, server)
      runs.push(r)
      const perCall = usPerCall(r)
      const perCore = r.opsPerSecond > 0 ? fmtInt(1e6 / Number(perCall)) : '-'
      const line =
        `generator ceiling, no-op ${server === 'node' ? 'node:http2' : "pontoon's RpcServer"} ` +
        `server: ${fmtInt(r.opsPerSecond)} ops/s, p50 ${ms(r.p50)} p99 ${ms(r.p99)} ms; ` +
        `generator cpu ${r.clientCpuPercent.toFixed(0)}% (${perCall} µs/call, so ~${perCore} ` +
        `calls/s per core), no-op server cpu ${r.serverCpuPercent.toFixed(0)}%`
      out.push(line)
      log(line)
    }
    out.push(
      `  (${o.client === 'raw' ? 'own HTTP/2 client' : 'node:http2 client'}, ${o.clients} clients / ` +
        `${o.conns} conns, put frames, servers in their own process; where a no-op server's cpu ` +
        `is near 100%, the figure is that server's limit and the generator's is its calls/s per core)`,
      '',
    )
  }

  out.push('runs (ms; cpu in % of one core; gen µs/call = generator CPU per call):')
  for (const c of o.cases) {
    for (let rep = 1; rep <= o.repeat; rep++) {
      for (const kind of o.kinds) {
        const r = await serverRun(o, kind, c, rep, log)
        runs.push(r)
        const line = runLine(r)
        out.push(line)
        log(line)
      }
    }
  }

  out.push('', ...table(o, runs))
  const load1 = loadavg()
  out.push(
    '',
    `load average at start ${load0.map((l) => l.toFixed(2)).join(' ')}, at end ` +
      `${load1.map((l) => l.toFixed(2)).join(' ')}; ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s in all`,
  )
  return { text: out.join('\n') + '\n', runs }
}

const OP_LABELS: Record<Op, string> = {
  put: 'put',
  'txn-put': 'txn-put',
  delete: 'delete',
  'range-linearizable': 'range linearizable',
  'range-serializable': 'range serializable',
}

function caseLabel(c: BenchCase, o: ServerBenchOptions): string {
  const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`
  const rate = o.ratePerSecond > 0 ? `, ${fmtInt(o.ratePerSecond)}/s` : ''
  return `${OP_LABELS[c.op]}, ${plural(c.members, 'member')}, ${plural(o.clients, 'client')}${rate}`
}

function describeSetup(o: ServerBenchOptions, at: Date): string[] {
  const cpu = cpus()
  const window = o.total === undefined ? `${o.durationMs / 1000} s` : `${fmtInt(o.total)} requests`
  return [
    `server benchmark, ${at.toISOString()}`,
    `machine: ${cpu.length} x ${cpu[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
      `Node ${process.version}; ${etcdVersion()}; pontoon ${gitCommit()}`,
    `data dirs under ${o.baseDir} (${fsType(o.baseDir)}; fsync is real unless that is tmpfs)`,
    `load: ${o.clients} clients over ${o.conns} HTTP/2 conns (${
      o.client === 'raw' ? 'own HTTP/2 client' : 'node:http2 client'
    }) to ${
      o.target === 'leader' ? 'the leader' : 'every member'
    }; keys ${o.keySize} B (${o.sequentialKeys ? 'sequential' : 'random'} over ${fmtInt(
      o.keySpace,
    )}), values ${o.valSize} B; ranges read ${
      o.rangeKeys === 1 ? 'one key' : `${fmtInt(o.rangeKeys)} keys`
    }${
      o.cases.some((c) => c.op === 'delete')
        ? `; deletes delete keys 0..${fmtInt(o.deleteKeys - 1)} in order, written before each run`
        : ''
    }${
      o.ratePerSecond > 0
        ? `; at most ${fmtInt(o.ratePerSecond)} calls/s in all, latency from each call's due time`
        : '; closed loop'
    }; ${
      o.serverWarmupMs > 0
        ? `servers warmed by ${o.serverWarmupMs / 1000} s of puts from 64 clients, then `
        : ''
    }${o.warmupMs / 1000} s warm-up, then ${window}; ` +
      `${o.repeat} run${o.repeat === 1 ? '' : 's'} per case and system, medians`,
    `servers: fresh cluster and data dirs per run, --heartbeat-interval=100 --election-timeout=1000, ` +
      `other flags default; one system at a time`,
    '',
  ]
}

async function ceilingRun(o: ServerBenchOptions, server: 'node' | 'api'): Promise<RunRecord> {
  const entry = fileURLToPath(new URL('./noop-server.js', import.meta.url))
  const args = server === 'api' ? [entry, 'api'] : [entry]
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let buf = ''
      proc.stdout.setEncoding('utf8')
      proc.stdout.on('data', (chunk: string) => {
        buf += chunk
        const nl = buf.indexOf('\n')
        if (nl >= 0) resolve((JSON.parse(buf.slice(0, nl)) as { port: number }).port)
      })
      proc.once('exit', (code) => reject(new Error(`the no-op server exited (${code})`)))
    })
    const spec = loadSpec(o, 'put', [`http://127.0.0.1:${port}`], `no-op ${server}`, o.quiet)
    spec.noCheck = true
    // The ceiling is the most the generator pushes: never rate-limited.
    spec.ratePerSecond = 0
    return await measured(spec, [proc.pid!], 'no-op', `generator ceiling, ${server}`, 1)
  } finally {
    proc.kill('SIGTERM')
  }
}

async function serverRun(
  o: ServerBenchOptions,
  kind: MemberKind,
  c: BenchCase,
  rep: number,
  log: (line: string) => void,
): Promise<RunRecord> {
  const label = caseLabel(c, o)
  let cluster: Cluster | undefined
  try {
    cluster = await startCluster({
      kind,
      size: c.members,
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      baseDir: o.baseDir,
      readyTimeoutMs: 30_000,
    })
    const leader = await findLeader(o.client, cluster.clientUrls)
    // Leader first: rssKiB[0] is the leader's.
    const members = [...cluster.members].sort(
      (a, b) => Number(b.clientUrl === leader) - Number(a.clientUrl === leader),
    )
    const endpoints = o.target === 'leader' ? [leader] : cluster.clientUrls
    if (o.serverWarmupMs > 0) await warmUpServer(endpoints, o.serverWarmupMs, o.client)
    const spec = loadSpec(o, c.op, endpoints, `${kind} ${label} #${rep}`, o.quiet)
    await prepare(spec)
    const pids = members.map((m) => m.pid!)
    const r = await measured(spec, pids, kind, label, rep)
    const dead = members.filter((m) => !m.running)
    if (dead.length > 0)
      throw new Error(`${dead.map((m) => m.name).join(', ')} exited during the run`)
    return r
  } catch (err) {
    log(`${kind} ${label} #${rep} failed: ${(err as Error).message}`)
    throw err
  } finally {
    await cluster?.close()
  }
}

function loadSpec(
  o: ServerBenchOptions,
  op: Op,
  endpoints: string[],
  what: string,
  quiet: boolean,
): LoadSpec {
  const tty = process.stderr.isTTY === true
  let ticks = 0
  return {
    op,
    client: o.client,
    endpoints,
    clients: o.clients,
    conns: o.conns,
    durationMs: o.durationMs,
    total: o.total,
    warmupMs: o.warmupMs,
    keySize: o.keySize,
    valSize: o.valSize,
    keySpace: o.keySpace,
    sequentialKeys: o.sequentialKeys,
    rangeKeys: o.rangeKeys,
    deleteKeys: o.deleteKeys,
    ratePerSecond: o.ratePerSecond,
    progress: quiet
      ? undefined
      : (line) => {
          // On a terminal one line rewritten in place; in a log, one line every 2 s.
          if (tty) process.stderr.write(`\r\x1b[K${what}: ${line}`)
          else if (++ticks % 4 === 0) process.stderr.write(`${what}: ${line}\n`)
        },
  }
}

async function measured(
  spec: LoadSpec,
  pids: number[],
  kind: RunRecord['kind'],
  caseLabel: string,
  repeat: number,
): Promise<RunRecord> {
  let cpu0: number[] = []
  let cpu1: number[] = []
  let t0 = 0
  let t1 = 0
  spec.onWindowStart = () => {
    cpu0 = pids.map(cpuTicks)
    t0 = performance.now()
  }
  spec.onWindowEnd = () => {
    cpu1 = pids.map(cpuTicks)
    t1 = performance.now()
  }
  const r: LoadResult = await runLoad(spec)
  if (spec.progress !== undefined && process.stderr.isTTY === true) process.stderr.write('\r\x1b[K')
  const rssKiB = pids.map(rss)
  const ticks = cpu1.reduce((s, v, i) => s + v - (cpu0[i] ?? 0), 0)
  const h: Histogram = r.hist
  return {
    kind,
    caseLabel,
    repeat,
    ops: r.ops,
    opsPerSecond: r.opsPerSecond,
    p50: h.percentile(50),
    p90: h.percentile(90),
    p99: h.percentile(99),
    p999: h.percentile(99.9),
    max: h.max,
    errors: r.errorCount,
    errorSamples: [...r.errors].map(([k, n]) => `${n} x ${k}`).slice(0, 5),
    checkFailures: r.checkFailures,
    ratePerSecond: spec.ratePerSecond ?? 0,
    deletesUnprepared: r.deletesUnprepared,
    deleteKeys: spec.deleteKeys ?? 0,
    clientCpuPercent: r.clientCpuPercent,
    serverCpuPercent: t1 > t0 ? ((ticks / CLOCK_TICKS) * 100) / ((t1 - t0) / 1000) : 0,
    rssKiB,
  }
}

/** Asks every member for Maintenance.Status until all name the same leader; its client URL. */
async function findLeader(
  client: ClientKind,
  urls: readonly string[],
  timeoutMs = 20_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs
  const conns = await Promise.all(urls.map((u) => connect(client, u)))
  let last = ''
  try {
    while (Date.now() < deadline) {
      const answers = await Promise.all(conns.map((c) => c.call(STATUS, EMPTY_FRAME)))
      const statuses = answers.map((a) =>
        a.status === GRPC_OK && a.body !== null ? decodeStatus(a.body) : null,
      )
      last = answers.map((a) => `${a.status} ${a.message}`).join('; ')
      const leaders = new Set(statuses.map((s) => s?.leader))
      const id = statuses[0]?.leader
      if (leaders.size === 1 && id !== undefined && id !== 0n) {
        const i = statuses.findIndex((s) => s?.header?.memberId === id)
        if (i >= 0) return urls[i]!
      }
      // Polling outside processes for an election's outcome: there is no event to wait on.
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`no leader agreed by all members within ${timeoutMs} ms (last: ${last})`)
  } finally {
    await Promise.all(conns.map((c) => c.close()))
  }
}

function runLine(r: RunRecord): string {
  const head = `${r.kind.padEnd(7)} ${r.caseLabel.padEnd(42)} #${r.repeat}`
  const errs =
    r.errors === 0 && r.checkFailures.length === 0
      ? 'errors 0'
      : `errors ${r.errors} [${[...r.errorSamples, ...r.checkFailures].join('; ')}]`
  // 2% below the rate asked: more than the calls in flight at the window's end explain.
  const short =
    r.ratePerSecond > 0 && r.opsPerSecond < r.ratePerSecond * 0.98
      ? `  BELOW --rate=${r.ratePerSecond} (${((r.opsPerSecond / r.ratePerSecond) * 100).toFixed(0)}%)`
      : ''
  const unprepared =
    r.deletesUnprepared > 0
      ? `  ${fmtInt(r.deletesUnprepared)} DELETES PAST THE ${fmtInt(r.deleteKeys)} KEYS ` +
        `PREPARED (they deleted nothing: raise --key-space)`
      : ''
  return (
    `${head} ${fmtInt(r.opsPerSecond).padStart(8)} ops/s${short}  p50 ${ms(r.p50)} ` +
    `p90 ${ms(r.p90)} p99 ${ms(r.p99)} p99.9 ${ms(r.p999)} max ${ms(r.max)}  n=${r.ops}  ${errs}${unprepared}  ` +
    `gen cpu ${r.clientCpuPercent.toFixed(0)}% (${usPerCall(r)} µs/call)  server cpu ` +
    `${r.serverCpuPercent.toFixed(0)}%  rss ${r.rssKiB.map((k) => (k / 1024).toFixed(0)).join('/')} MiB`
  )
}

function table(o: ServerBenchOptions, runs: readonly RunRecord[]): string[] {
  const cols = (kind: MemberKind, label: string): Summary | null => {
    const rs = runs.filter((r) => r.kind === kind && r.caseLabel === label)
    if (rs.length === 0) return null
    return {
      opsPerSecond: median(rs.map((r) => r.opsPerSecond)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      serverCpu: median(rs.map((r) => r.serverCpuPercent)),
      rssMiB: (rs[0]?.rssKiB ?? []).map((_, i) => median(rs.map((r) => r.rssKiB[i] ?? 0)) / 1024),
      errors: rs.reduce((s, r) => s + r.errors + r.checkFailures.length, 0),
    }
  }
  const W = Math.max(42, ...o.cases.map((c) => caseLabel(c, o).length))
  const cell = (s: Summary | null): string =>
    s === null
      ? '—'.padStart(8) + ' '.repeat(31)
      : [
          fmtInt(s.opsPerSecond).padStart(8),
          ms(s.p50).padStart(6),
          ms(s.p99).padStart(7),
          `${s.serverCpu.toFixed(0)}%`.padStart(5),
          s.rssMiB
            .map((m) => m.toFixed(0))
            .join('/')
            .padStart(9),
        ].join(' ')
  const sub = ['ops/s'.padStart(8), 'p50'.padStart(6), 'p99'.padStart(7), 'cpu'.padStart(5)]
  const subHead = [...sub, 'rss MiB'.padStart(9)].join(' ')
  const lines = [
    `medians of ${o.repeat} (p50, p99 in ms; cpu: the servers' CPU, % of one core; rss: per ` +
      `member, leader first; ratio: pontoon/etcd ops/s)`,
    `${''.padEnd(W)} | ${'etcd 3.4'.padEnd(subHead.length)} | ${'pontoon'.padEnd(subHead.length)} |`,
    `${'case'.padEnd(W)} | ${subHead} | ${subHead} | ratio`,
  ]
  lines.push('-'.repeat(lines[2]!.length))
  for (const c of o.cases) {
    const label = caseLabel(c, o)
    const e = o.kinds.includes('etcd') ? cols('etcd', label) : null
    const p = o.kinds.includes('pontoon') ? cols('pontoon', label) : null
    const ratio = e !== null && p !== null ? (p.opsPerSecond / e.opsPerSecond).toFixed(2) : '—'
    const errs = (e?.errors ?? 0) + (p?.errors ?? 0)
    lines.push(
      `${label.padEnd(W)} | ${cell(e)} | ${cell(p)} | ${ratio}${errs > 0 ? `  (${errs} errors)` : ''}`,
    )
  }
  return lines
}

interface Summary {
  opsPerSecond: number
  p50: number
  p99: number
  serverCpu: number
  rssMiB: number[]
  errors: number
}

/** Microseconds to milliseconds, 2 decimals below 10 ms, 1 above. */
function ms(us: number): string {
  const v = us / 1000
  return v < 10 ? v.toFixed(2) : v.toFixed(1)
}

function usPerCall(r: RunRecord): string {
  return r.opsPerSecond > 0 ? ((r.clientCpuPercent / 100 / r.opsPerSecond) * 1e6).toFixed(1) : '-'
}

// --- the machine -----------------------------------------------------------------------------

const CLOCK_TICKS = 100 // sysconf(_SC_CLK_TCK) on Linux x86-64 and arm64

/** utime + stime of a process (all its threads), in clock ticks; 0 once it is gone. */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12]) // fields 14 and 15 of proc(5)
  } catch {
    return 0
  }
}

/** VmRSS of a process in KiB; 0 once it is gone. */
function rss(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1])
  } catch {
    return 0
  }
}

function etcdVersion(): string {
  try {
    const v = execFileSync(process.env.ETCD_BIN ?? '/usr/bin/etcd', ['--version'], {
      encoding: 'utf8',
    })
    return `etcd ${/etcd Version: (\S+)/.exec(v)?.[1] ?? '?'}`
  } catch {
    return 'etcd not found'
  }
}

function gitCommit(): string {
  try {
    const opts = {
      encoding: 'utf8' as const,
      stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'],
    }
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts)
    return dirty.trim() === '' ? head : `${head} + uncommitted changes`
  } catch {
    return 'commit unknown'
  }
}

/** The file system type of the mount holding `dir`, from /proc/mounts. */
function fsType(dir: string): string {
  try {
    let best = { at: '', type: '?' }
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, at, type] = line.split(' ')
      if (at === undefined || type === undefined) continue
      const prefix = at.endsWith('/') ? at : at + '/'
      if ((dir + '/').startsWith(prefix) && at.length > best.at.length) best = { at, type }
    }
    return `${best.type} mounted on ${best.at}`
  } catch {
    return 'file system unknown'
  }
}
