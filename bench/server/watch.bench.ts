/**
 * `npm run bench -- watch [--quick] [--repeat=N]`: watch fan-out, etcd 3.4 and pontoon in the same run, on
 * fresh single-member clusters (real processes, data dirs on os.tmpdir(), etcd's default timings
 * on both: --heartbeat-interval=100 --election-timeout=1000).
 *
 * Per system and case: N watchers (1,000 or 10,000) spread over 4 Watch streams (4 HTTP/2
 * connections), all on one key or each on its own key; then one writer (the load generator's
 * HTTP/2 client) puts sequentially, each put awaiting its acknowledgement: first the case's
 * warm-up puts, their events awaited and not counted, then the measured ones, until the
 * watchers have received every event. Reported:
 * events delivered per second (from the first put to the last event), and the p99 delay from
 * a write's acknowledgement to each of its events (0 for an event that arrived before the ack),
 * the server's CPU time per event (from /proc: steadier than rates on a shared machine), and
 * the server's RSS growth for 10,000 idle watchers on distinct keys.
 *
 * The watch client is node:http2 with our own protobuf decoding (src/api's WatchResponseCodec),
 * counting events without copying them: on this 2-core machine the client shares the cores with
 * the server, so its cost is kept small and equal for both systems.
 */
import http2 from 'node:http2'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import {
  PutRequestCodec,
  WatchRequestCodec,
  WatchResponseCodec,
  decodeMessage,
  encodeMessage,
  putRequest,
  watchCreateRequest,
} from '../../src/api/index.js'
import { startCluster, type MemberKind } from '../../test-support/procs.js'
import { median } from '../harness.js'
import { GRPC_OK, grpcFrame } from './grpc-client.js'
import { H2Connection } from './h2-client.js'
import { warmUpServer } from './load.js'
import { PUT, decodePut } from './requests.js'
import { Histogram } from './histogram.js'

const STREAMS = 4

interface CaseSpec {
  watchers: number
  /** One key for all, or a key each. */
  shared: boolean
  /** Puts before the measured ones, their events awaited and not counted. */
  warmWrites: number
  writes: number
}

interface CaseResult {
  spec: CaseSpec
  eventsPerSec: number
  /** The server's CPU time per event delivered, in microseconds (the load-independent figure). */
  cpuUsPerEvent: number
  p99Ms: number
  events: number
}

/** One Watch call over its own HTTP/2 session, counting events per revision as they come. */
class WatchStreamClient {
  private readonly session: http2.ClientHttp2Session
  private readonly req: http2.ClientHttp2Stream
  private buf: Buffer = Buffer.alloc(0)
  created = 0
  events = 0
  lastEventAt = 0
  constructor(
    url: string,
    private readonly onEvents: (rev: number, n: number) => void,
  ) {
    this.session = http2.connect(url)
    this.session.on('error', () => {})
    this.req = this.session.request({
      ':method': 'POST',
      ':path': '/etcdserverpb.Watch/Watch',
      'content-type': 'application/grpc',
      te: 'trailers',
    })
    this.req.on('error', () => {})
    this.req.on('data', (chunk: Buffer) => this.onData(chunk))
  }

  create(key: string): void {
    const body = encodeMessage(WatchRequestCodec, {
      type: 'createRequest',
      createRequest: watchCreateRequest({ key: Buffer.from(key) }),
    })
    const head = Buffer.alloc(5)
    head.writeUInt32BE(body.length, 1)
    this.req.write(Buffer.concat([head, body]))
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    let at = 0
    while (this.buf.length - at >= 5) {
      const n = this.buf.readUInt32BE(at + 1)
      if (this.buf.length - at - 5 < n) break
      const r = decodeMessage(WatchResponseCodec, this.buf.subarray(at + 5, at + 5 + n))
      at += 5 + n
      if (r.created) this.created++
      if (r.events.length > 0) {
        this.events += r.events.length
        this.lastEventAt = performance.now()
        // A response holds one revision when its watcher is synced (every case here).
        this.onEvents(r.events[0]!.kv!.modRevision, r.events.length)
      }
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at)
  }

  close(): void {
    this.req.close()
    this.session.destroy()
  }
}

/** The process's CPU time (user + system) in milliseconds, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

function rssKiB(pid: number | undefined): number {
  if (pid === undefined) return 0
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1])
}

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  // Polling the client's counters: the events arrive on sockets, no single event to await.
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function runCase(
  url: string,
  pid: number | undefined,
  spec: CaseSpec,
  tag: string,
): Promise<CaseResult> {
  const acks = new Map<number, number>()
  const early = new Map<number, number[]>()
  const delays = new Histogram()
  let measuring = false
  const onEvents = (rev: number, n: number): void => {
    if (!measuring) return
    const now = performance.now()
    const ack = acks.get(rev)
    if (ack === undefined) {
      let list = early.get(rev)
      if (list === undefined) early.set(rev, (list = []))
      for (let i = 0; i < n; i++) list.push(now)
      return
    }
    for (let i = 0; i < n; i++) delays.record((now - ack) * 1000)
  }
  const streams = Array.from({ length: STREAMS }, () => new WatchStreamClient(url, onEvents))
  // The writer is the load generator's own HTTP/2 client, its requests encoded before the clock
  // starts: @grpc/grpc-js spent 1.4-1.7 ms of CPU per put here, on a core the servers need.
  const kv = await H2Connection.connect(url)
  try {
    for (let i = 0; i < spec.watchers; i++) {
      streams[i % STREAMS]!.create(spec.shared ? `${tag}/k` : `${tag}/k${i}`)
    }
    await until(
      () => streams.reduce((n, s) => n + s.created, 0) >= spec.watchers,
      60_000,
      'created',
    )
    const value = Buffer.alloc(16, 'v')
    const keys = spec.shared ? 1 : spec.watchers
    const frames = Array.from({ length: Math.min(keys, spec.warmWrites + spec.writes) }, (_, i) =>
      grpcFrame(
        encodeMessage(
          PutRequestCodec,
          putRequest({ key: Buffer.from(spec.shared ? `${tag}/k` : `${tag}/k${i}`), value }),
        ),
      ),
    )
    const total = (): number => streams.reduce((n, s) => n + s.events, 0)
    const eventsPerPut = spec.shared ? spec.watchers : 1
    let n = 0
    const put = async (): Promise<number> => {
      const r = await kv.call(PUT, frames[n++ % frames.length]!)
      if (r.status !== GRPC_OK || r.body === null) throw new Error(`put: ${r.message}`)
      return decodePut(r.body).header!.revision
    }
    // The warm-up: a fresh pontoon's sequential puts get faster over their first few thousand
    // (1,000 at a time after the 64-client warm-up: 0.72, 0.57, 0.56, 0.53, 0.50 ms per put; V8
    // optimizing this path, and the warm-up's garbage collected), as a long-running server is.
    for (let i = 0; i < spec.warmWrites; i++) await put()
    await until(() => total() >= spec.warmWrites * eventsPerPut, 120_000, 'warm-up events')
    measuring = true
    const base = total()
    const expected = base + spec.writes * eventsPerPut
    const cpuBefore = cpuMs(pid)
    const started = performance.now()
    for (let i = 0; i < spec.writes; i++) {
      const rev = await put()
      const now = performance.now()
      acks.set(rev, now)
      const list = early.get(rev)
      if (list !== undefined) {
        for (const _ of list) delays.record(0)
        early.delete(rev)
      }
    }
    await until(() => total() >= expected, 120_000, `${expected} events`)
    const last = Math.max(...streams.map((s) => s.lastEventAt))
    const cpu = cpuMs(pid) - cpuBefore
    return {
      spec,
      cpuUsPerEvent: (cpu * 1000) / (total() - base),
      events: total() - base,
      eventsPerSec: (total() - base) / ((last - started) / 1000),
      p99Ms: delays.percentile(99) / 1000,
    }
  } finally {
    for (const s of streams) s.close()
    kv.destroy()
  }
}

interface SystemResult {
  kind: MemberKind
  cases: CaseResult[]
  idleKiBPer10k: number
}

async function runSystem(
  kind: MemberKind,
  specs: CaseSpec[],
  idleWatchers: number,
  log: (s: string) => void,
) {
  const cluster = await startCluster({
    kind,
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    baseDir: tmpdir(),
    readyTimeoutMs: 30_000,
  })
  try {
    const m = cluster.member(0)
    const url = m.clientUrl
    // As the server benchmark's --server-warmup: 2 s of puts from 64 clients first, so that the
    // cases' single writer meets pontoon's optimized path, not V8's first thousands of calls.
    await warmUpServer([url], 2000)
    // Memory of 10,000 idle watchers on distinct keys (after a warm-up call).
    const warm = await H2Connection.connect(url)
    const put = encodeMessage(
      PutRequestCodec,
      putRequest({ key: Buffer.from('warm'), value: Buffer.from('x') }),
    )
    await warm.call(PUT, grpcFrame(put))
    warm.destroy()
    const before = rssKiB(m.pid)
    const idle = Array.from({ length: STREAMS }, () => new WatchStreamClient(url, () => {}))
    for (let i = 0; i < idleWatchers; i++) idle[i % STREAMS]!.create(`idle/k${i}`)
    await until(
      () => idle.reduce((n, s) => n + s.created, 0) >= idleWatchers,
      60_000,
      'idle created',
    )
    const idleKiBPer10k = ((rssKiB(m.pid) - before) * 10_000) / idleWatchers
    for (const s of idle) s.close()
    const cases: CaseResult[] = []
    for (const [i, spec] of specs.entries()) {
      const r = await runCase(url, m.pid, spec, `c${i}`)
      log(
        `${kind} ${spec.watchers} watchers ${spec.shared ? 'one key' : 'distinct keys'}: ` +
          `${Math.round(r.eventsPerSec)} events/s, p99 ${r.p99Ms.toFixed(1)} ms`,
      )
      cases.push(r)
    }
    return { kind, cases, idleKiBPer10k }
  } finally {
    await cluster.close()
  }
}

export async function runWatchBench(args: string[]): Promise<string> {
  const quick = args.includes('--quick')
  // --tiny: the test suite's check that the benchmark still runs (no figure means anything).
  const tiny = args.includes('--tiny')
  const repeatArg = args.find((a) => a.startsWith('--repeat='))
  const repeat = repeatArg === undefined ? 1 : Number(repeatArg.slice('--repeat='.length))
  if (!Number.isSafeInteger(repeat) || repeat < 1) {
    throw new Error(`${repeatArg}: expected a positive whole number of runs`)
  }
  const specs: CaseSpec[] = tiny
    ? [
        { watchers: 20, shared: true, warmWrites: 1, writes: 3 },
        { watchers: 20, shared: false, warmWrites: 1, writes: 3 },
      ]
    : [
        { watchers: 1_000, shared: true, warmWrites: 50, writes: quick ? 50 : 300 },
        { watchers: 1_000, shared: false, warmWrites: 6_000, writes: quick ? 300 : 2_000 },
        { watchers: 10_000, shared: true, warmWrites: 10, writes: quick ? 10 : 60 },
        { watchers: 10_000, shared: false, warmWrites: 6_000, writes: quick ? 300 : 2_000 },
      ]
  const idleWatchers = tiny ? 100 : 10_000
  const log = (s: string): void => {
    if (!tiny) process.stderr.write(`${s}\n`)
  }
  // The systems take turns, so that a slow spell of this shared machine falls on both.
  const runs: SystemResult[] = []
  for (let rep = 0; rep < repeat; rep++) {
    for (const kind of ['etcd', 'pontoon'] as const) {
      runs.push(await runSystem(kind, specs, idleWatchers, log))
    }
  }
  const of = (kind: MemberKind): SystemResult[] => runs.filter((r) => r.kind === kind)
  const med = (kind: MemberKind, f: (r: SystemResult) => number): number => median(of(kind).map(f))
  const lines = [
    ...(repeat > 1 ? [`medians of ${repeat} runs per system, taking turns`, ''] : []),
    '| case | etcd 3.4 events/s | pontoon events/s | ratio | etcd p99 (ms) | pontoon p99 (ms) | etcd CPU µs/event | pontoon CPU µs/event |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const [i, s] of specs.entries()) {
    const rate = (k: MemberKind): number => med(k, (r) => r.cases[i]!.eventsPerSec)
    const p99 = (k: MemberKind): number => med(k, (r) => r.cases[i]!.p99Ms)
    const cpu = (k: MemberKind): number => med(k, (r) => r.cases[i]!.cpuUsPerEvent)
    lines.push(
      `| ${s.watchers.toLocaleString('en')} watchers, ${s.shared ? 'one key' : 'distinct keys'} (${s.writes} puts) ` +
        `| ${Math.round(rate('etcd')).toLocaleString('en')} | ${Math.round(rate('pontoon')).toLocaleString('en')} ` +
        `| ${(rate('pontoon') / rate('etcd')).toFixed(2)} | ${p99('etcd').toFixed(1)} | ${p99('pontoon').toFixed(1)} ` +
        `| ${cpu('etcd').toFixed(1)} | ${cpu('pontoon').toFixed(1)} |`,
    )
  }
  const idle = (k: MemberKind): string => (med(k, (r) => r.idleKiBPer10k) / 1024).toFixed(1)
  lines.push(
    `| RSS of 10,000 idle watchers (MiB) | ${idle('etcd')} | ${idle('pontoon')} | | | | | |`,
  )
  return lines.join('\n') + '\n'
}
