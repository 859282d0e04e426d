/**
 * `npm run bench -- server-lease [options]`: etcd 3.4 and pontoon under the same lease load, one
 * after the other, on fresh single-member servers of real processes (etcd's default timings,
 * data dirs on a real disk), the systems taking turns per repeat; the table shows medians.
 *
 * Rows:
 * - grant: closed-loop LeaseGrant calls (TTL 3600) from `--clients` callers over 8 HTTP/2
 *   connections (the generator's own client, h2-client.ts): grants go through raft, so this is a
 *   write path with fsync.
 * - keepalive: `--clients` LeaseKeepAlive bidi streams (node:http2), each renewing its own lease
 *   in a closed loop (one request, wait for its answer, the next); the leader's lessor answers.
 * - keepalive via a follower: the same streams sent to a follower of a 3-member cluster, which
 *   forwards them to the leader's peer port (etcd: one HTTP POST /leases per keepalive; pontoon:
 *   one POST /pontoon/leases/renew per turn's batch), after 1 s of the same as a warm-up.
 * - memory of 10,000 leases: the growth of the server's live heap after a full GC (liveHeapBytes)
 *   over `--leases` grants, per lease, and of its RSS (rough: garbage not yet collected, heap
 *   headroom); the leases stay idle (pontoon checkpoints them every 2 s, its default).
 *
 * On a 2-core machine the generator and the server share the cores: compare the two systems in
 * one run, not with other machines.
 */
import http2 from 'node:http2'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  LeaseGrantRequestCodec,
  LeaseGrantResponseCodec,
  LeaseKeepAliveRequestCodec,
  LeaseKeepAliveResponseCodec,
  decodeMessage,
  encodeMessage,
} from '../../src/api/index.js'
import { Lessor } from '../../src/server/index.js'
import { startCluster } from '../../test-support/procs.js'
import type { Cluster, Member, MemberKind } from '../../test-support/procs.js'
import { median } from '../harness.js'
import { GRPC_OK, grpcFrame, grpcMethod, unframe } from './grpc-client.js'
import type { UnaryConnection } from './grpc-client.js'
import { H2Connection } from './h2-client.js'
import { warmUpServer } from './load.js'

const GRANT = grpcMethod('/etcdserverpb.Lease/LeaseGrant')

export interface LeaseBenchOptions {
  clients: number
  grants: number
  keepaliveMs: number
  leases: number
  repeat: number
  /** Seconds of 64-client puts before a run; grants and follower keepalives warm up with it. */
  warmupMs: number
  kinds: MemberKind[]
  quiet: boolean
}

export const LEASE_USAGE = `npm run bench -- server-lease [options]
  --clients=N     concurrent grant callers and keepalive streams (64)
  --grants=N      grants per grant run (5000)
  --keepalive=S   seconds of keepalives per run (3)
  --leases=N      leases granted for the memory row (10000)
  --repeat=N      runs per system; the table shows medians (3)
  --warmup=S      seconds of 64-client puts before each run (2); then, not measured either,
                  min(2000, 1000*S) grants and min(1, S/2) s of keepalives via the follower
  --only=etcd|pontoon
  --quiet`

export function parseLeaseOptions(args: readonly string[]): LeaseBenchOptions {
  const raw = new Map<string, string>()
  for (const a of args) {
    if (a === 'server-lease' || a.startsWith('--size=')) continue
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a)
    if (m === null) throw new Error(`unexpected argument ${a}\n${LEASE_USAGE}`)
    raw.set(m[1]!, m[2] ?? 'true')
  }
  for (const k of raw.keys()) {
    if (
      !['clients', 'grants', 'keepalive', 'leases', 'repeat', 'warmup', 'only', 'quiet'].includes(k)
    ) {
      throw new Error(`unknown option --${k}\n${LEASE_USAGE}`)
    }
  }
  const num = (k: string, dflt: number): number => {
    const v = Number(raw.get(k) ?? dflt)
    if (!(v > 0)) throw new Error(`--${k}: expected a positive number`)
    return v
  }
  const only = raw.get('only')
  if (only !== undefined && only !== 'etcd' && only !== 'pontoon') {
    throw new Error(`--only=${only}: expected etcd or pontoon`)
  }
  return {
    clients: num('clients', 64),
    grants: num('grants', 5000),
    keepaliveMs: num('keepalive', 3) * 1000,
    leases: num('leases', 10_000),
    repeat: num('repeat', 3),
    warmupMs: num('warmup', 2) * 1000,
    kinds: only === undefined ? ['etcd', 'pontoon'] : [only],
    quiet: raw.has('quiet'),
  }
}

interface Rates {
  opsPerSecond: number
  p50Ms: number
  p99Ms: number
}

interface LeaseRun {
  kind: MemberKind
  grant: Rates
  keepalive: Rates
  /** Keepalives sent to a follower of 3 members, which forwards them to the leader. */
  followerKeepalive: Rates
  bytesPerLease: number
  /** Live heap after a full GC, growth per lease (liveHeapBytes). */
  heapBytesPerLease: number
  rssMiB: number
}

export async function runLeaseBench(args: readonly string[]): Promise<string> {
  let o: LeaseBenchOptions
  try {
    o = parseLeaseOptions(args)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    process.exit(2)
  }
  return leaseBench(o)
}

export async function leaseBench(o: LeaseBenchOptions): Promise<string> {
  const out: string[] = [
    `lease benchmark, ${new Date().toISOString()}, Node ${process.version}`,
    `1 member, --heartbeat-interval=100 --election-timeout=1000, data dirs under ${tmpdir()}; ` +
      `${o.clients} clients; ${o.grants} grants, ${o.keepaliveMs / 1000} s of keepalives, ` +
      `${o.leases} idle leases per run; ${o.repeat} runs per system, medians; ` +
      `${o.warmupMs / 1000} s of puts to warm up`,
    '',
  ]
  const runs: LeaseRun[] = []
  for (let rep = 1; rep <= o.repeat; rep++) {
    for (const kind of o.kinds) {
      const r = await leaseRun(o, kind)
      runs.push(r)
      const line =
        `${kind.padEnd(7)} #${rep}  grant ${fmt(r.grant)}  keepalive ${fmt(r.keepalive)}  ` +
        `via a follower ${fmt(r.followerKeepalive)}  ` +
        `${Math.round(r.bytesPerLease)} B/lease (rss ${r.rssMiB.toFixed(0)} MiB), ` +
        `live heap ${Math.round(r.heapBytesPerLease)} B/lease`
      out.push(line)
      if (!o.quiet) process.stderr.write(line + '\n')
    }
  }
  const med = (kind: MemberKind, f: (r: LeaseRun) => number): number | null => {
    const rs = runs.filter((r) => r.kind === kind)
    return rs.length === 0 ? null : median(rs.map(f))
  }
  const row = (what: string, f: (r: LeaseRun) => number, unit: string, higherBetter: boolean) => {
    const e = med('etcd', f)
    const p = med('pontoon', f)
    const show = (v: number | null): string =>
      v === null ? '—' : `${Math.round(v).toLocaleString('en-US')} ${unit}`
    const ratio = e !== null && p !== null ? (p / e).toFixed(2) : '—'
    return `| ${what.padEnd(34)} | ${show(e).padStart(14)} | ${show(p).padStart(14)} | ${ratio.padStart(5)} ${higherBetter ? '(higher is better)' : '(lower is better)'} |`
  }
  out.push(
    '',
    `| row (medians of ${o.repeat})`.padEnd(36) +
      ` | ${'etcd 3.4'.padStart(14)} | ${'pontoon'.padStart(14)} | pontoon/etcd |`,
    row('lease grant', (r) => r.grant.opsPerSecond, '/s', true),
    row('lease grant p99', (r) => r.grant.p99Ms * 1000, 'µs', false),
    row('keepalive (streams, closed loop)', (r) => r.keepalive.opsPerSecond, '/s', true),
    row('keepalive p99', (r) => r.keepalive.p99Ms * 1000, 'µs', false),
    row(
      'keepalive via a follower (3 members)',
      (r) => r.followerKeepalive.opsPerSecond,
      '/s',
      true,
    ),
    row('keepalive via a follower p99', (r) => r.followerKeepalive.p99Ms * 1000, 'µs', false),
    row(`live heap per idle lease (${o.leases})`, (r) => r.heapBytesPerLease, 'B', false),
    row(`RSS growth per idle lease (${o.leases})`, (r) => r.bytesPerLease, 'B', false),
  )
  const heap = lessorHeapPerLease(o.leases)
  if (heap !== null) {
    out.push(
      '',
      `pontoon's Lessor alone, in this process after a GC: ${Math.round(heap)} B per lease ` +
        `(${o.leases} leases, leader state and checkpoint schedule included; the server's RSS ` +
        `above also counts the backend's records and garbage not yet collected)`,
    )
  }
  return out.join('\n') + '\n'
}

/** A fresh cluster of `size` with etcd's default timings, data under os.tmpdir(). */
function benchCluster(kind: MemberKind, size: number, heapDir?: string): Promise<Cluster> {
  return startCluster({
    kind,
    size,
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    baseDir: tmpdir(),
    readyTimeoutMs: 30_000,
    // What liveHeapBytes asks each system with.
    ...(heapDir === undefined
      ? {}
      : kind === 'etcd'
        ? { extraArgs: ['--enable-pprof'] }
        : { env: { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${heapDir}` } }),
  })
}

/**
 * The server's live heap after a full garbage collection, in bytes: etcd's Go heap (HeapAlloc
 * of /debug/pprof/heap?gc=1, with --enable-pprof), pontoon's V8 heap (the objects' self sizes
 * in a heap snapshot, which V8 takes after a full GC; SIGUSR2 with --heapsnapshot-signal).
 * Mapped files (bbolt's, LMDB's) are in neither.
 */
async function liveHeapBytes(kind: MemberKind, m: Member, heapDir: string): Promise<number> {
  if (kind === 'etcd') {
    const res = await fetch(`${m.clientUrl}/debug/pprof/heap?debug=1&gc=1`)
    const text = await res.text()
    const alloc = /^# HeapAlloc = (\d+)$/m.exec(text)
    if (alloc === null) throw new Error(`no HeapAlloc in etcd's /debug/pprof/heap (${res.status})`)
    return Number(alloc[1])
  }
  const seen = new Set(readdirSync(heapDir))
  process.kill(m.pid!, 'SIGUSR2')
  const deadline = performance.now() + 120_000
  // The server writes the snapshot while its loop waits; polled until a new file parses whole.
  for (;;) {
    if (performance.now() > deadline) throw new Error('no heap snapshot from pontoon in 120 s')
    await new Promise((r) => setTimeout(r, 200))
    const file = readdirSync(heapDir).find((f) => !seen.has(f) && f.endsWith('.heapsnapshot'))
    if (file === undefined) continue
    let snap: HeapSnapshot
    try {
      snap = JSON.parse(readFileSync(join(heapDir, file), 'utf8')) as HeapSnapshot
    } catch {
      continue
    }
    rmSync(join(heapDir, file))
    const fields = snap.snapshot.meta.node_fields
    const size = fields.indexOf('self_size')
    let total = 0
    for (let i = size; i < snap.nodes.length; i += fields.length) total += snap.nodes[i]!
    return total
  }
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[] } }
  nodes: number[]
}

async function leaseRun(o: LeaseBenchOptions, kind: MemberKind): Promise<LeaseRun> {
  const heapDir = mkdtempSync(join(tmpdir(), 'pontoon-lease-heap-'))
  const cluster = await benchCluster(kind, 1, heapDir)
  try {
    const url = cluster.member(0).clientUrl
    const pid = cluster.member(0).pid!
    const conns = await Promise.all(Array.from({ length: 8 }, () => H2Connection.connect(url)))
    try {
      // The warm-up, as the server benchmark's --server-warmup: 2 s of 64-client puts, then
      // grants, so that both run their steady state, not V8's first thousands of calls.
      await warmUpServer([url], o.warmupMs)
      await grants(conns, o.clients, Math.min(2000, Math.ceil(o.warmupMs)))
      const grant = await grants(conns, o.clients, o.grants)
      const ids = (await grants(conns, o.clients, o.clients)).ids
      const keepalive = await keepalives(url, ids, o.keepaliveMs)
      const before = rssKiB(pid)
      await grants(conns, o.clients, o.leases)
      // Let a checkpoint round (every 2 s on pontoon) and the allocator settle.
      await new Promise((r) => setTimeout(r, 3000))
      const after = rssKiB(pid)
      // The live heap over as many leases again, measured after the RSS: pontoon's heap
      // snapshot grows its RSS by hundreds of MiB for a while.
      const heapBefore = await liveHeapBytes(kind, cluster.member(0), heapDir)
      await grants(conns, o.clients, o.leases)
      await new Promise((r) => setTimeout(r, 3000))
      const heapAfter = await liveHeapBytes(kind, cluster.member(0), heapDir)
      return {
        kind,
        grant: grant.rates,
        keepalive,
        followerKeepalive: await followerKeepalives(o, kind),
        bytesPerLease: ((after - before) * 1024) / o.leases,
        heapBytesPerLease: (heapAfter - heapBefore) / o.leases,
        rssMiB: after / 1024,
      }
    } finally {
      await Promise.all(conns.map((c) => c.close()))
    }
  } finally {
    await cluster.close()
    rmSync(heapDir, { recursive: true, force: true })
  }
}

/** Keepalives through a follower of a fresh 3-member cluster (etcd and pontoon forward them). */
async function followerKeepalives(o: LeaseBenchOptions, kind: MemberKind): Promise<Rates> {
  const cluster = await benchCluster(kind, 3)
  try {
    const { leader } = await cluster.waitForLeader(20_000)
    const follower = cluster.members.find((m) => m !== leader)!
    const conns = [await H2Connection.connect(leader.clientUrl)]
    try {
      const ids = (await grants(conns, o.clients, o.clients)).ids
      await keepalives(follower.clientUrl, ids, Math.min(1000, o.warmupMs / 2)) // warm-up
      return await keepalives(follower.clientUrl, ids, o.keepaliveMs)
    } finally {
      await Promise.all(conns.map((c) => c.close()))
    }
  } finally {
    await cluster.close()
  }
}

/** `total` LeaseGrant calls (TTL 3600) from `clients` closed-loop callers. */
async function grants(
  conns: UnaryConnection[],
  clients: number,
  total: number,
): Promise<{ rates: Rates; ids: bigint[] }> {
  const frame = grpcFrame(encodeMessage(LeaseGrantRequestCodec, { ttl: 3600, id: 0n }))
  const lat: number[] = []
  const ids: bigint[] = []
  let started = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: Math.min(clients, total) }, async (_, i) => {
      const conn = conns[i % conns.length]!
      while (started < total) {
        started++
        const s = performance.now()
        const r = await conn.call(GRANT, frame)
        if (r.status !== GRPC_OK || r.body === null) throw new Error(`grant: ${r.message}`)
        lat.push(performance.now() - s)
        ids.push(decodeMessage(LeaseGrantResponseCodec, r.body).id)
      }
    }),
  )
  return { rates: rates(lat, performance.now() - t0), ids }
}

/** One LeaseKeepAlive stream per lease, each renewing in a closed loop for `ms`. */
async function keepalives(url: string, ids: bigint[], ms: number): Promise<Rates> {
  const sessions = Array.from({ length: 8 }, () =>
    http2.connect(url, { settings: { enablePush: false } }),
  )
  const lat: number[] = []
  const end = performance.now() + ms
  const t0 = performance.now()
  try {
    await Promise.all(
      ids.map(
        (id, i) =>
          new Promise<void>((resolve, reject) => {
            const stream = sessions[i % sessions.length]!.request(
              {
                ':method': 'POST',
                ':path': '/etcdserverpb.Lease/LeaseKeepAlive',
                'content-type': 'application/grpc',
                te: 'trailers',
              },
              { endStream: false },
            )
            const frame = grpcFrame(encodeMessage(LeaseKeepAliveRequestCodec, { id }))
            let buf: Buffer = Buffer.alloc(0)
            let sent = performance.now()
            stream.on('data', (chunk: Buffer) => {
              buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
              while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
                const len = 5 + buf.readUInt32BE(1)
                const body = unframe(buf.subarray(0, len))
                buf = buf.subarray(len)
                if (body === null || decodeMessage(LeaseKeepAliveResponseCodec, body).ttl <= 0) {
                  reject(new Error('keepalive answered TTL 0'))
                  return
                }
                const now = performance.now()
                lat.push(now - sent)
                if (now >= end) {
                  stream.end()
                  continue
                }
                sent = now
                stream.write(frame)
              }
            })
            stream.on('error', reject)
            stream.on('close', () => resolve())
            stream.write(frame)
          }),
      ),
    )
  } finally {
    for (const s of sessions) s.close()
  }
  return rates(lat, performance.now() - t0)
}

function rates(latMs: number[], elapsedMs: number): Rates {
  latMs.sort((a, b) => a - b)
  const at = (p: number): number =>
    latMs[Math.min(latMs.length - 1, Math.floor(latMs.length * p))] ?? 0
  return { opsPerSecond: (latMs.length * 1000) / elapsedMs, p50Ms: at(0.5), p99Ms: at(0.99) }
}

function fmt(r: Rates): string {
  return `${Math.round(r.opsPerSecond).toLocaleString('en-US').padStart(7)}/s p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} ms`
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1])
}

/** The heap a Lessor holds per lease, as leader (expiry heap, checkpoints scheduled). */
function lessorHeapPerLease(n: number): number | null {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return null
  let now = 0
  const lessor = new Lessor({
    now: () => now,
    clock: { every: () => () => {} },
    minTtlSeconds: 2,
    checkpointIntervalMs: 2000,
    onExpired: () => {},
    onCheckpoint: () => {},
  })
  lessor.promote(0)
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 1; i <= n; i++) lessor.grant(0x694d_0000_0000_0000n + BigInt(i), 3600)
  now = 1
  gc()
  const after = process.memoryUsage().heapUsed
  if (lessor.size !== n) throw new Error('lessor lost leases')
  return (after - before) / n
}
