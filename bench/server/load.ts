/**
 * The load itself: `clients` closed-loop clients (each sends its next request when its previous
 * one completes, as etcd's tools/benchmark does) spread round-robin over `conns` HTTP/2
 * connections, for a warm-up and then a measured window of `durationMs` (or `total` requests).
 *
 * Only completions inside the window count: ops/s is those completions over the window's
 * length, and their latencies (send to completion, microseconds) go into the histogram (with
 * `total`, only the calls sent in the window: exactly `total` of them). Calls still in flight
 * at the end are awaited, not counted. Every client's first successful response
 * in the window is decoded and checked (a put has a revision; a range finds its key with its
 * value), so a server that answers fast but wrong does not pass for fast.
 */
import { GRPC_OK, GrpcConnection } from './grpc-client.js'
import type { UnaryConnection } from './grpc-client.js'
import { H2Connection } from './h2-client.js'
import { Histogram } from './histogram.js'
import { PUT, PutFrames, RANGE, decodePut, decodeRange, keyBytes, rangeFrame } from './requests.js'

/** How long a stopped load waits for the calls still in flight. */
const DRAIN_MS_MAX = 10_000

/** The gRPC client: HTTP/2 written here (h2-client.ts) or node:http2 (grpc-client.ts). */
export type ClientKind = 'raw' | 'node'

export function connect(kind: ClientKind, url: string): Promise<UnaryConnection> {
  return kind === 'raw' ? H2Connection.connect(url) : GrpcConnection.connect(url)
}

export type Op = 'put' | 'range-linearizable' | 'range-serializable'

export interface LoadSpec {
  op: Op
  client: ClientKind
  /** Client URLs; connection i goes to endpoints[i % length]. */
  endpoints: readonly string[]
  clients: number
  conns: number
  /** The measured window; ignored when `total` is set. */
  durationMs: number
  /** When set: exactly this many requests after the warm-up, however long they take. */
  total?: number
  warmupMs: number
  keySize: number
  valSize: number
  /** Puts: keys 0..keySpace-1. Ranges read keys 0..rangeKeys-1, written first by `prepare`. */
  keySpace: number
  /** Keys each range reads (default 1; issue 13's range cases read 100). */
  rangeKeys?: number
  sequentialKeys: boolean
  /** Skip the response checks (the no-op server answers every call with an empty message). */
  noCheck?: boolean
  seed?: number
  /** Called when the measured window starts and when it ends (e.g. to read servers' CPU). */
  onWindowStart?: () => void
  onWindowEnd?: () => void
  /** Called about every 500 ms with a one-line summary of the window so far. */
  progress?: (line: string) => void
}

export interface LoadResult {
  ops: number
  seconds: number
  opsPerSecond: number
  /** Latencies of the counted calls, microseconds. */
  hist: Histogram
  /** Failed calls in the window and warm-up, by "status: message". */
  errors: Map<string, number>
  errorCount: number
  /** Responses that decoded but did not say what they should. */
  checkFailures: string[]
  /** The generator's CPU time over the window, in percent of one core. */
  clientCpuPercent: number
}

/** Writes keys 0..rangeKeys-1 (the keys the range loads read), waiting until a put succeeds. */
export async function prepare(spec: LoadSpec, timeoutMs = 15_000): Promise<void> {
  const conn = await connect(spec.client, spec.endpoints[0]!)
  try {
    const frames = new PutFrames(spec.keySize, spec.valSize)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const r = await conn.call(PUT, frames.frame(0))
      if (r.status === GRPC_OK) break
      if (Date.now() > deadline) {
        throw new Error(`the first put still fails after ${timeoutMs} ms: ${r.status} ${r.message}`)
      }
      // Waiting for an outside process to accept writes (a leader, a published member).
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // Bounded by rangeKeys; each put either succeeds or fails the run.
    for (let k = 1; k < (spec.rangeKeys ?? 1); k++) {
      const r = await conn.call(PUT, frames.frame(k))
      if (r.status !== GRPC_OK) throw new Error(`put of key ${k} failed: ${r.status} ${r.message}`)
    }
  } finally {
    await conn.close()
  }
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const conns = await Promise.all(
    Array.from({ length: spec.conns }, (_, i) =>
      connect(spec.client, spec.endpoints[i % spec.endpoints.length]!),
    ),
  )
  try {
    return await drive(spec, conns)
  } finally {
    await Promise.all(conns.map((c) => c.close()))
  }
}

function drive(spec: LoadSpec, conns: UnaryConnection[]): Promise<LoadResult> {
  const isPut = spec.op === 'put'
  const headers = isPut ? PUT : RANGE
  const puts = new PutFrames(spec.keySize, spec.valSize)
  const rangeKeys = spec.rangeKeys ?? 1
  const range = isPut
    ? null
    : rangeFrame(
        keyBytes(0, spec.keySize),
        spec.op === 'range-serializable',
        rangeKeys > 1 ? keyBytes(rangeKeys, spec.keySize) : undefined,
      )
  let rand = (spec.seed ?? 1) >>> 0 || 1
  let nextSeq = 0
  const nextFrame = (): Buffer => {
    if (range !== null) return range
    if (spec.sequentialKeys) return puts.frame(nextSeq++ % spec.keySpace)
    // xorshift32: keys need spread, not quality (and test-support's seed module would print
    // its replay line when this process exits).
    rand ^= rand << 13
    rand ^= rand >>> 17
    rand ^= rand << 5
    rand >>>= 0
    const n = Math.floor((rand / 2 ** 32) * spec.keySpace)
    return puts.frame(n)
  }

  const hist = new Histogram()
  const errors = new Map<string, number>()
  const checkFailures: string[] = []
  let errorCount = 0
  let counted = 0
  /** Calls sent in the window that completed, with or without success (for `total`). */
  let finishedInWindow = 0
  /** 0 warm-up, 1 measuring, 2 stopped (no new calls). */
  let phase = spec.warmupMs > 0 ? 0 : 1
  let windowStart = 0
  let windowEnd = 0
  let cpuStart = process.cpuUsage()
  let issuedInWindow = 0
  let inFlight = 0
  let resolveDone: () => void = () => {}
  const allDone = new Promise<void>((resolve) => (resolveDone = resolve))
  const checked = new Array<boolean>(spec.clients).fill(spec.noCheck === true)

  const startWindow = (): void => {
    phase = 1
    spec.onWindowStart?.()
    windowStart = performance.now()
    cpuStart = process.cpuUsage()
  }
  const stop = (): void => {
    if (phase === 2) return
    phase = 2
    windowEnd = performance.now()
    cpuUsed = process.cpuUsage(cpuStart)
    spec.onWindowEnd?.()
    if (inFlight === 0) resolveDone()
    // A server that stopped answering must not hang the run: the calls left are not counted.
    else setTimeout(resolveDone, DRAIN_MS_MAX).unref()
  }
  let cpuUsed: NodeJS.CpuUsage = { user: 0, system: 0 }

  const check = (client: number, body: Buffer | null): void => {
    checked[client] = true
    try {
      if (body === null) throw new Error('no response message')
      if (isPut) {
        const r = decodePut(body)
        if (r.header === null || r.header.revision < 2) {
          throw new Error(`put answered revision ${r.header?.revision}`)
        }
      } else {
        const r = decodeRange(body)
        const kv = r.kvs[0]
        if (r.kvs.length !== rangeKeys || kv === undefined || kv.value.length !== spec.valSize) {
          throw new Error(`range answered ${r.kvs.length} kvs (count ${r.count})`)
        }
      }
    } catch (err) {
      if (checkFailures.length < 10) checkFailures.push((err as Error).message)
    }
  }

  const send = (client: number): void => {
    if (phase === 2) return
    if (phase === 1 && spec.total !== undefined) {
      if (issuedInWindow >= spec.total) return
      issuedInWindow++
    }
    const sentIn = phase
    const conn = conns[client % conns.length]!
    const t0 = performance.now()
    inFlight++
    conn.unary(headers, nextFrame(), !checked[client], (status, message, body) => {
      inFlight--
      const t1 = performance.now()
      if (sentIn === 1) finishedInWindow++
      if (status !== GRPC_OK) {
        errorCount++
        const k = `${status}: ${message}`
        errors.set(k, (errors.get(k) ?? 0) + 1)
      } else if (phase === 1 && (spec.total === undefined || sentIn === 1)) {
        hist.record((t1 - t0) * 1000)
        counted++
        if (!checked[client]) check(client, body)
      }
      if (spec.total !== undefined && finishedInWindow >= spec.total) stop()
      if (phase === 2) {
        if (inFlight === 0) resolveDone()
        return
      }
      // A failing server must not turn the loop into a busy spin: back off a little.
      if (status !== GRPC_OK) setTimeout(() => send(client), 10)
      else send(client)
    })
  }

  const t00 = performance.now()
  if (phase === 1) startWindow()
  for (let c = 0; c < spec.clients; c++) send(c)

  let lastCounted = 0
  let lastTick = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    if (phase === 0 && now - t00 >= spec.warmupMs) startWindow()
    if (phase === 1 && spec.total === undefined && now - windowStart >= spec.durationMs) stop()
    if (spec.progress !== undefined && now - lastTick >= 500) {
      const rate = ((counted - lastCounted) * 1000) / (now - lastTick)
      lastCounted = counted
      lastTick = now
      const at =
        phase === 0
          ? `warm-up ${((now - t00) / 1000).toFixed(1)} s`
          : `${((now - windowStart) / 1000).toFixed(1)} s`
      spec.progress(
        `${at}  ${fmtInt(rate)} ops/s now  ${fmtInt(counted)} done  p99 ` +
          `${(hist.percentile(99) / 1000).toFixed(2)} ms  errors ${errorCount}`,
      )
    }
  }, 50)

  return allDone.then(() => {
    clearInterval(timer)
    const seconds = (windowEnd - windowStart) / 1000
    return {
      ops: counted,
      seconds,
      opsPerSecond: seconds > 0 ? counted / seconds : 0,
      hist,
      errors,
      errorCount,
      checkFailures,
      clientCpuPercent: seconds > 0 ? ((cpuUsed.user + cpuUsed.system) / 1e6 / seconds) * 100 : 0,
    }
  })
}

export function fmtInt(v: number): string {
  return Math.round(v).toLocaleString('en-US')
}
