/**
 * `npm run bench -- api [--size=N]`: which gRPC server to build on, by measurement. Each server
 * (grpc-js's; our RpcServer on node:http2; our RpcServer on our own HTTP/2, src/api/h2) runs in
 * a child process (server-child.ts) and answers the same Range through the same codecs; the load
 * is a real HTTP/2 gRPC client in this process (many concurrent streams over a few node:http2
 * connections), a raw HTTP/2 client in its own process (raw-client.ts: cheap enough per call
 * that the server is the limit), then a check with @grpc/grpc-js as the client.
 *
 * Columns: calls/s (wall, median of the runs), the server's CPU per call (its process's user +
 * system time over the run divided by the calls: the figure that decides, since on a shared
 * machine wall time moves with other processes' load) and the client's CPU per call.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import http2 from 'node:http2'
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import { RangeRequestCodec, encodeMessage, rangeRequest } from '../../src/api/index.js'
import { median } from '../harness.js'
import { RANGE_PATH } from './server-child.js'

const CHILD = fileURLToPath(new URL('./server-child.js', import.meta.url))
const KINDS = ['grpc-js', 'node-http2', 'own-h2'] as const
const RAW_CLIENT = fileURLToPath(new URL('./raw-client.js', import.meta.url))
type Kind = (typeof KINDS)[number]

interface Child {
  proc: ChildProcess
  port: number
}

function startChild(kind: Kind): Promise<Child> {
  const proc = fork(CHILD, [kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    proc.once('error', reject)
    proc.once('message', (m) => resolve({ proc, port: (m as { port: number }).port }))
  })
}

function childCpuMicros(c: Child): Promise<number> {
  return new Promise((resolve) => {
    c.proc.once('message', (m) => {
      const cpu = (m as { cpu: NodeJS.CpuUsage }).cpu
      resolve(cpu.user + cpu.system)
    })
    c.proc.send('cpu')
  })
}

const REQUEST = (() => {
  const body = encodeMessage(RangeRequestCodec, rangeRequest({ key: Buffer.from('bench/key') }))
  const f = Buffer.alloc(5 + body.length)
  f.writeUInt32BE(body.length, 1)
  Buffer.from(body).copy(f, 5)
  return f
})()

/** `calls` Range calls over `connections` sessions with `concurrency` streams in flight. */
async function loadHttp2(
  port: number,
  calls: number,
  connections: number,
  concurrency: number,
): Promise<void> {
  const sessions = Array.from({ length: connections }, () =>
    http2.connect(`http://127.0.0.1:${port}`),
  )
  let started = 0
  let failed = 0
  const one = (session: http2.ClientHttp2Session): Promise<void> =>
    new Promise((resolve) => {
      const req = session.request({
        ':method': 'POST',
        ':path': RANGE_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      })
      let bytes = 0
      let status: string | undefined
      req.on('data', (d: Buffer) => (bytes += d.length))
      req.on('trailers', (t) => (status = t['grpc-status'] as string | undefined))
      req.on('close', () => {
        if (status !== '0' || bytes === 0) failed++
        resolve()
      })
      req.on('error', () => {})
      req.end(REQUEST)
    })
  const worker = async (i: number): Promise<void> => {
    const session = sessions[i % connections] as http2.ClientHttp2Session
    while (started < calls) {
      started++
      await one(session)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)))
  for (const s of sessions) s.close()
  if (failed > 0) throw new Error(`${failed} of ${calls} calls failed`)
}

async function loadGrpcJs(port: number, calls: number, concurrency: number): Promise<void> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  const body = REQUEST.subarray(5)
  let started = 0
  const one = (): Promise<void> =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        RANGE_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        (err) => (err === null ? resolve() : reject(err)),
      ),
    )
  const worker = async (): Promise<void> => {
    while (started < calls) {
      started++
      await one()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  client.close()
}

/**
 * `calls` Range calls from raw-client.ts (its own process): `connections` x `depth` in flight,
 * precomputed frames; a load that costs far less per call than the servers do.
 */
function loadRaw(port: number, calls: number, connections: number, depth: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [RAW_CLIENT, String(port), String(connections), String(depth), String(calls)],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    )
    child.on('error', reject)
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`raw client exited with ${code}`)),
    )
  })
}

interface Row {
  name: string
  callsPerSecond: number
  serverMicrosPerCall: number
  clientMicrosPerCall: number
}

interface Sample {
  rate: number
  server: number
  client: number
}

async function sample(child: Child, calls: number, load: () => Promise<void>): Promise<Sample> {
  const s0 = await childCpuMicros(child)
  const c0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await load()
  const t1 = process.hrtime.bigint()
  const c = process.cpuUsage(c0)
  const s1 = await childCpuMicros(child)
  return {
    rate: (calls * 1e9) / Number(t1 - t0),
    server: (s1 - s0) / calls,
    client: (c.user + c.system) / calls,
  }
}

interface Load {
  name: string
  calls: number
  run: (port: number) => Promise<void>
}

/**
 * Both servers run side by side and their runs alternate, so a burst of load from other
 * processes on the shared machine falls on both alike.
 */
export async function runApiBench(size: number): Promise<string> {
  const calls = Math.max(200, Math.round(20_000 * size))
  const runs = size < 0.1 ? 1 : 5
  const loads: Load[] = [
    {
      name: 'h2 client, 4 conns x 64 streams',
      calls,
      run: (port) => loadHttp2(port, calls, 4, 64),
    },
    {
      name: 'h2 client, 1 conn x 1 stream',
      calls: calls / 4,
      run: (port) => loadHttp2(port, calls / 4, 1, 1),
    },
    {
      // The client's CPU (its own process) is not in the last column of these rows.
      name: 'raw h2 client, 16 conns x 64 streams',
      calls: calls * 4,
      run: (port) => loadRaw(port, calls * 4, 16, 64),
    },
    {
      name: 'grpc-js client, 64 in flight',
      calls: calls / 4,
      run: (port) => loadGrpcJs(port, calls / 4, 64),
    },
  ]
  const children = new Map<Kind, Child>()
  const rows: Row[] = []
  try {
    for (const kind of KINDS) children.set(kind, await startChild(kind))
    for (const load of loads) {
      const samples = new Map<Kind, Sample[]>(KINDS.map((k) => [k, []]))
      for (const [, child] of children) await load.run(child.port) // warm-up: JIT on both sides
      for (let i = 0; i < runs; i++) {
        for (const [kind, child] of children) {
          samples.get(kind)?.push(await sample(child, load.calls, () => load.run(child.port)))
        }
      }
      for (const [kind, xs] of samples) {
        rows.push({
          name: `${kind}, ${load.name}`,
          callsPerSecond: median(xs.map((x) => x.rate)),
          serverMicrosPerCall: median(xs.map((x) => x.server)),
          clientMicrosPerCall: median(xs.map((x) => x.client)),
        })
      }
    }
  } finally {
    for (const [, child] of children) child.proc.send('exit')
  }
  let out = `api: ${calls} Range calls per run (a quarter in the 1-stream and grpc-js rows), median of ${runs}\n`
  out += `${'server, load'.padEnd(50)} ${'calls/s'.padStart(9)}  server µs/call  client µs/call\n`
  for (const r of rows) {
    out +=
      `${r.name.padEnd(50)} ${Math.round(r.callsPerSecond).toLocaleString('en-US').padStart(9)}` +
      `  ${r.serverMicrosPerCall.toFixed(1).padStart(14)}  ${r.clientMicrosPerCall.toFixed(1).padStart(14)}\n`
  }
  return out
}
