/**
 * A bounded write load for fault tests (test support): clients put distinct keys through raw gRPC
 * clients, spread over a cluster's endpoints, and record which puts were acknowledged; afterwards
 * `missingWrites` reads every acknowledged key back from each member. "Nothing acknowledged is
 * lost" is then one assertion, whatever was killed in between.
 *
 * Each client writes its own keys in order ("<prefix><client>/<n>", zero-padded), one put in
 * flight at a time; a failed put (leader lost, member killed, deadline) is recorded as failed,
 * never retried (a retry could apply twice), and the client moves to the next endpoint. The load
 * stops at `putsMax` puts or `durationMs`, whichever comes first, or when `stop()` is called.
 */

import { KvClient } from './kv-client.js'

export interface WriteLoadOptions {
  /** Client URLs to spread the clients over (client i starts on endpoint i mod n). */
  readonly endpoints: readonly string[]
  /** Concurrent clients (default 4). */
  readonly clients?: number
  /** Total puts at most (default 2000) and time at most (default 10 s): the load is bounded. */
  readonly putsMax?: number
  readonly durationMs?: number
  /** Key prefix (default "load/"). */
  readonly prefix?: string
  /** Per-put deadline (default 2 s): a put to a dead member fails within it. */
  readonly deadlineMs?: number
}

export interface WriteLoadResult {
  /** Acknowledged puts: key and the revision the server answered. */
  readonly acked: { key: string; value: string; revision: number }[]
  /** Puts that failed, with the gRPC code and details (their outcome is unknown). */
  readonly failed: { key: string; code: number; details: string }[]
}

export interface WriteLoad {
  /** Resolves when every client stopped (bound reached or stop()). */
  readonly done: Promise<WriteLoadResult>
  /** Acknowledged puts so far. */
  ackedCount(): number
  /** Resolves once at least `n` puts were acknowledged (or the load ended). */
  waitForAcked(n: number): Promise<void>
  stop(): void
}

/** Starts the load; see the module comment. */
export function startWriteLoad(opts: WriteLoadOptions): WriteLoad {
  if (opts.endpoints.length === 0) throw new Error('startWriteLoad: no endpoints')
  const clientsN = opts.clients ?? 4
  const putsMax = opts.putsMax ?? 2000
  const deadline = Date.now() + (opts.durationMs ?? 10_000)
  const prefix = opts.prefix ?? 'load/'
  const channels = opts.endpoints.map(
    (e) => new KvClient(e, { deadlineMs: opts.deadlineMs ?? 2000 }),
  )
  const result: WriteLoadResult = { acked: [], failed: [] }
  let issued = 0
  let stopped = false
  const waiters: { n: number; resolve: () => void }[] = []
  const wake = (): void => {
    for (const w of [...waiters]) {
      if (result.acked.length >= w.n || stopped) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  }
  const client = async (c: number): Promise<void> => {
    let at = c % channels.length
    for (let n = 0; !stopped && issued < putsMax && Date.now() < deadline; n++) {
      issued++
      const key = `${prefix}${c}/${String(n).padStart(6, '0')}`
      const value = `v${n}`
      const r = await channels[at]!.call('put', {
        key: Buffer.from(key),
        value: Buffer.from(value),
      })
      if (r.ok) {
        const header = r.response.header as { revision: string }
        result.acked.push({ key, value, revision: Number(header.revision) })
        wake()
      } else {
        result.failed.push({ key, code: r.code, details: r.details })
        at = (at + 1) % channels.length
      }
    }
  }
  const done = Promise.all(Array.from({ length: clientsN }, (_, c) => client(c))).then(() => {
    stopped = true
    wake()
    for (const ch of channels) ch.close()
    return result
  })
  return {
    done,
    ackedCount: () => result.acked.length,
    waitForAcked: (n) =>
      new Promise((resolve) => {
        waiters.push({ n, resolve })
        wake()
      }),
    stop: () => {
      stopped = true
      wake()
    },
  }
}

/**
 * Reads every acknowledged key from `endpoint` (linearizable ranges, one per client prefix) and
 * returns the acknowledged writes it does not hold with their value, as readable lines (empty
 * when nothing acknowledged is lost). Rejects when the endpoint does not answer.
 */
export async function missingWrites(
  endpoint: string,
  acked: WriteLoadResult['acked'],
  prefix = 'load/',
): Promise<string[]> {
  const kv = new KvClient(endpoint)
  try {
    const r = await kv.call('range', { key: Buffer.from(prefix), range_end: prefixEndOf(prefix) })
    if (!r.ok) throw new Error(`${endpoint}: range ${prefix}*: ${r.code} ${r.details}`)
    const held = new Map<string, string>()
    for (const kvp of r.response.kvs as { key: Buffer; value: Buffer }[]) {
      held.set(kvp.key.toString(), kvp.value.toString())
    }
    return acked
      .filter((w) => held.get(w.key) !== w.value)
      .map((w) => `${endpoint}: ${w.key}=${w.value} (acked at revision ${w.revision}) is missing`)
  } finally {
    kv.close()
  }
}

function prefixEndOf(prefix: string): Buffer {
  const b = Buffer.from(prefix)
  b[b.length - 1] = b[b.length - 1]! + 1 // ASCII prefixes only (ours end in '/')
  return b
}
