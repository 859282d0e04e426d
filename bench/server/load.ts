/**
 * The load itself: `clients` closed-loop clients (each sends its next request when its previous
 * one completes, as etcd's tools/benchmark does) spread round-robin over `conns` HTTP/2
 * connections, for a warm-up and then a measured window of `durationMs` (or `total` requests).
 *
 * With `ratePerSecond`, the clients share one schedule, as etcd's tools/benchmark shares one
 * rate limiter among its closed-loop clients: call k is due at start + k / rate. A client that
 * is free takes the next slot if it is due, and otherwise waits for the interval timer (every
 * TICK_MS), which hands out the slots due before its next tick, so a call is sent at most one
 * tick early and the rate stays exact over any window longer than a tick. A call's latency runs
 * from the earlier of its due time and its send time: when every client is busy and the server
 * falls behind, the calls that should have gone out meanwhile count their wait, so a slow
 * server shows in p99 instead of hiding behind fewer requests (no coordinated omission, Gil
 * Tene's wrk2); a call sent early counts from its send. The schedule keeps its backlog: a
 * server slower than the rate sees ever longer latencies and an achieved rate below the asked.
 * The window starts the schedule afresh (the warm-up's backlog is dropped).
 *
 * Only completions inside the window count: ops/s is those completions over the window's
 * length, and their latencies (send, or due time, to completion, microseconds) go into the
 * histogram (with `total`, only the calls sent in the window: exactly `total` of them). Calls
 * still in flight at the end are awaited, not counted. Every client's first successful response
 * in the window is decoded and checked (a put or txn-put has a revision, the txn succeeded; a
 * range finds its key with its value; a delete deleted one key), so a server that answers fast
 * but wrong does not pass for fast.
 *
 * Deletes take keys 0, 1, 2, ... in order, across clients, warm-up and window: `prepare` has
 * written keys 0..deleteKeys-1, so each delete removes a key that exists (a delete of a missing
 * key makes no revision in etcd: no write, nothing to measure). Deletes past the prepared keys
 * are counted (`deletesUnprepared`) and the run says so.
 */
import { GRPC_OK, GrpcConnection } from './grpc-client.js'
import type { UnaryConnection } from './grpc-client.js'
import { H2Connection } from './h2-client.js'
import { Histogram } from './histogram.js'
import { assertNever } from '../../src/raft/assert.js'
import {
  DELETE_RANGE,
  PUT,
  RANGE,
  TXN,
  decodeDeleteRange,
  decodePut,
  decodeRange,
  decodeTxn,
  deleteFrames,
  keyBytes,
  putFrames,
  rangeFrame,
  txnPutFrames,
  txnPutsFrame,
} from './requests.js'
import type { KeyFrames } from './requests.js'

/** How long a stopped load waits for the calls still in flight. */
const DRAIN_MS_MAX = 10_000

/**
 * The interval timer's period with a rate: Node's smallest. It also bounds how early a call can
 * go out (one tick) and how bursty the schedule is (rate x 1 ms calls per tick).
 */
const TICK_MS = 1

/** Without a rate the timer only checks the window and prints progress. */
const TICK_IDLE_MS = 50

/**
 * `prepare` writes delete's keys in txns of at most this many puts (etcd's default
 * --max-txn-ops, pontoon's too), and at most this many bytes: h2-client.ts sends a request in
 * one DATA frame, and 16,384 B is HTTP/2's default SETTINGS_MAX_FRAME_SIZE (a GOAWAY
 * FRAME_SIZE_ERROR beyond it). With 256-byte values that is 58 puts per txn.
 */
const PREPARE_TXN_PUTS_MAX = 128
const PREPARE_TXN_BYTES_MAX = 16_384 - 64

/** Txns in flight while preparing. */
const PREPARE_TXNS_IN_FLIGHT = 16

/** The gRPC client: HTTP/2 written here (h2-client.ts) or node:http2 (grpc-client.ts). */
export type ClientKind = 'raw' | 'node'

export function connect(kind: ClientKind, url: string): Promise<UnaryConnection> {
  return kind === 'raw' ? H2Connection.connect(url) : GrpcConnection.connect(url)
}

export type Op = 'put' | 'txn-put' | 'delete' | 'range-linearizable' | 'range-serializable'

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
  /** Deletes: keys 0..deleteKeys-1 are written by `prepare`, then deleted in order. */
  deleteKeys?: number
  /** Calls per second over all clients; undefined or 0: no limit (a pure closed loop). */
  ratePerSecond?: number
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
  /** Deletes sent for keys past the prepared ones (they found no key): 0 unless a run ran out. */
  deletesUnprepared: number
}

/**
 * Waits until a put succeeds, then writes the keys the load needs: keys 0..rangeKeys-1 for the
 * ranges, 0..deleteKeys-1 for the deletes (many puts per txn, several txns in flight).
 */
export async function prepare(spec: LoadSpec, timeoutMs = 15_000): Promise<void> {
  const conn = await connect(spec.client, spec.endpoints[0]!)
  try {
    const frames = putFrames(spec.keySize, spec.valSize)
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
    if (spec.op === 'delete') {
      await prepareDeletes(conn, spec)
      return
    }
    if (spec.op !== 'range-linearizable' && spec.op !== 'range-serializable') return
    // Bounded by rangeKeys; each put either succeeds or fails the run.
    for (let k = 1; k < (spec.rangeKeys ?? 1); k++) {
      const r = await conn.call(PUT, frames.frame(k))
      if (r.status !== GRPC_OK) throw new Error(`put of key ${k} failed: ${r.status} ${r.message}`)
    }
  } finally {
    await conn.close()
  }
}

async function prepareDeletes(conn: UnaryConnection, spec: LoadSpec): Promise<void> {
  const keys = spec.deleteKeys ?? 0
  // A put inside a txn: RequestOp and PutRequest tags and lengths, about 12 bytes with the key's.
  const putBytes = spec.keySize + spec.valSize + 12
  const batch = Math.max(
    1,
    Math.min(PREPARE_TXN_PUTS_MAX, Math.floor(PREPARE_TXN_BYTES_MAX / putBytes)),
  )
  let next = 0
  // PREPARE_TXNS_IN_FLIGHT workers, each taking the next batch until all keys are written.
  const worker = async (): Promise<void> => {
    while (next < keys) {
      const lo = next
      const hi = Math.min(keys, lo + batch)
      next = hi
      const frame = txnPutsFrame({ lo, hi, keySize: spec.keySize, valSize: spec.valSize })
      const r = await conn.call(TXN, frame)
      if (r.status !== GRPC_OK) {
        throw new Error(`txn putting keys ${lo}..${hi - 1} failed: ${r.status} ${r.message}`)
      }
      const t = r.body === null ? null : decodeTxn(r.body)
      if (t === null || !t.succeeded || t.responses.length !== hi - lo) {
        throw new Error(`txn putting keys ${lo}..${hi - 1} answered ${JSON.stringify(t)}`)
      }
    }
  }
  await Promise.all(Array.from({ length: PREPARE_TXNS_IN_FLIGHT }, worker))
}

/**
 * Unmeasured puts from 64 clients for `durationMs`, so that a fresh pontoon member has run its
 * hot path through V8's optimizing compiler before a measured run (the server and watch
 * benchmarks give etcd the same). Any failed call throws.
 */
export async function warmUpServer(
  endpoints: readonly string[],
  durationMs: number,
  client: ClientKind = 'raw',
): Promise<void> {
  const r = await runLoad({
    op: 'put',
    client,
    endpoints,
    clients: 64,
    conns: 8,
    durationMs,
    warmupMs: 0,
    keySize: 8,
    valSize: 256,
    keySpace: 100_000,
    sequentialKeys: false,
  })
  if (r.errorCount > 0) {
    throw new Error(`the server warm-up failed ${r.errorCount} calls: ${[...r.errors.keys()][0]}`)
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
  const op = spec.op
  const isRange = op === 'range-linearizable' || op === 'range-serializable'
  const headers =
    op === 'put' ? PUT : op === 'txn-put' ? TXN : op === 'delete' ? DELETE_RANGE : RANGE
  const keyed: KeyFrames =
    op === 'txn-put'
      ? txnPutFrames(spec.keySize, spec.valSize)
      : op === 'delete'
        ? deleteFrames(spec.keySize)
        : putFrames(spec.keySize, spec.valSize)
  const rangeKeys = spec.rangeKeys ?? 1
  const range = !isRange
    ? null
    : rangeFrame(
        keyBytes(0, spec.keySize),
        op === 'range-serializable',
        rangeKeys > 1 ? keyBytes(rangeKeys, spec.keySize) : undefined,
      )
  const deleteKeys = spec.deleteKeys ?? 0
  if (op === 'delete' && deleteKeys < 1) throw new Error('delete needs deleteKeys >= 1')
  let deletesUnprepared = 0
  let rand = (spec.seed ?? 1) >>> 0 || 1
  let nextSeq = 0
  const nextFrame = (): Buffer => {
    if (range !== null) return range
    if (op === 'delete') {
      // In order. Past the prepared keys the numbers wrap to keys deleted already (a number
      // past them might not fit the key's digits): those deletes find nothing, and are counted.
      const n = nextSeq++
      if (n >= deleteKeys) deletesUnprepared++
      return keyed.frame(n % deleteKeys)
    }
    if (spec.sequentialKeys) return keyed.frame(nextSeq++ % spec.keySpace)
    // xorshift32: keys need spread, not quality (and test-support's seed module would print
    // its replay line when this process exits).
    rand ^= rand << 13
    rand ^= rand >>> 17
    rand ^= rand << 5
    rand >>>= 0
    const n = Math.floor((rand / 2 ** 32) * spec.keySpace)
    return keyed.frame(n)
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
    // The window starts a fresh schedule: a backlog left by the warm-up (a cold JIT, a server
    // still starting) is not the window's to pay, and would take long to work off at a rate
    // near the server's capacity.
    scheduleStart = windowStart
    slot = 0
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
      switch (op) {
        case 'put': {
          const r = decodePut(body)
          if (r.header === null || r.header.revision < 2) {
            throw new Error(`put answered revision ${r.header?.revision}`)
          }
          break
        }
        case 'txn-put': {
          const r = decodeTxn(body)
          if (r.header === null || r.header.revision < 2) {
            throw new Error(`txn-put answered revision ${r.header?.revision}`)
          }
          if (!r.succeeded || r.responses.length !== 1 || r.responses[0]?.type !== 'put') {
            throw new Error(`txn-put answered succeeded ${r.succeeded}, ${r.responses.length} ops`)
          }
          break
        }
        case 'delete': {
          const r = decodeDeleteRange(body)
          if (r.header === null || r.header.revision < 2 || r.deleted !== 1) {
            throw new Error(`delete answered deleted ${r.deleted}, revision ${r.header?.revision}`)
          }
          break
        }
        case 'range-linearizable':
        case 'range-serializable': {
          const r = decodeRange(body)
          const kv = r.kvs[0]
          if (r.kvs.length !== rangeKeys || kv === undefined || kv.value.length !== spec.valSize) {
            throw new Error(`range answered ${r.kvs.length} kvs (count ${r.count})`)
          }
          break
        }
        default:
          assertNever(op, 'op')
      }
    } catch (err) {
      if (checkFailures.length < 10) checkFailures.push((err as Error).message)
    }
  }

  const rate = spec.ratePerSecond ?? 0
  const slotMs = rate > 0 ? 1000 / rate : 0
  /** With a rate: the next slot of the schedule; slot k is due at scheduleStart + k * slotMs. */
  let slot = 0
  let scheduleStart = 0
  /** With a rate: free clients waiting for a slot (at most `clients`). */
  const idle: number[] = []

  /** A client is free: it sends now, or (with a rate) when the schedule has a slot for it. */
  const ready = (client: number): void => {
    if (phase === 2) return
    if (rate === 0) return send(client, performance.now())
    const due = scheduleStart + slot * slotMs
    if (due > performance.now()) {
      idle.push(client)
      return
    }
    // Behind the schedule (every client was busy when this slot came due): the call's latency
    // starts at its due time.
    slot++
    send(client, due)
  }

  /** The timer's part with a rate: idle clients take the slots due before the next tick. */
  const release = (now: number): void => {
    const horizon = now + TICK_MS
    while (idle.length > 0 && phase !== 2) {
      const due = scheduleStart + slot * slotMs
      if (due >= horizon) break
      slot++
      // A slot due already was late by the timer's lag alone: counted from its due time.
      send(idle.pop()!, Math.min(due, now))
    }
  }

  /** Sends one call; its latency runs from t0 (now, or earlier when the schedule says so). */
  const send = (client: number, t0: number): void => {
    if (phase === 2) return
    if (phase === 1 && spec.total !== undefined) {
      if (issuedInWindow >= spec.total) return
      issuedInWindow++
    }
    const sentIn = phase
    const conn = conns[client % conns.length]!
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
      if (status !== GRPC_OK) setTimeout(() => ready(client), 10)
      else ready(client)
    })
  }

  const t00 = performance.now()
  scheduleStart = t00
  if (phase === 1) startWindow()
  for (let c = 0; c < spec.clients; c++) ready(c)

  let lastCounted = 0
  let lastTick = performance.now()
  const timer = setInterval(
    () => {
      const now = performance.now()
      if (phase === 0 && now - t00 >= spec.warmupMs) startWindow()
      if (phase === 1 && spec.total === undefined && now - windowStart >= spec.durationMs) stop()
      if (rate > 0) release(now)
      if (spec.progress !== undefined && now - lastTick >= 500) {
        const opsNow = ((counted - lastCounted) * 1000) / (now - lastTick)
        lastCounted = counted
        lastTick = now
        const at =
          phase === 0
            ? `warm-up ${((now - t00) / 1000).toFixed(1)} s`
            : `${((now - windowStart) / 1000).toFixed(1)} s`
        // Slots due and not yet sent: the schedule's backlog.
        const behind =
          rate > 0 ? Math.max(0, Math.floor((now - scheduleStart) / slotMs) + 1 - slot) : 0
        spec.progress(
          `${at}  ${fmtInt(opsNow)} ops/s now  ${fmtInt(counted)} done  p99 ` +
            `${(hist.percentile(99) / 1000).toFixed(2)} ms  errors ${errorCount}` +
            (rate > 0 ? `  behind the schedule by ${fmtInt(behind)} calls` : ''),
        )
      }
    },
    rate > 0 ? TICK_MS : TICK_IDLE_MS,
  )

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
      deletesUnprepared,
    }
  })
}

export function fmtInt(v: number): string {
  return Math.round(v).toLocaleString('en-US')
}
