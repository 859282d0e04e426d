/**
 * RpcServer on our HTTP/2 (src/api/h2) against real clients: node:http2 (the :authority that
 * node's own server refuses, many concurrent streams, big messages both ways, a small client
 * window), @grpc/grpc-js (unary calls, error statuses with their texts, deadlines, cancel; run on
 * both HTTP/2 implementations, which must agree), Debian's etcdctl 3.4 (put/get, endpoint status
 * and endpoint health, the per-endpoint calls that send "http://host:port" as :authority) and the
 * etcd3 npm client. The server behind is a tiny in-memory KV: the point is the transport.
 */

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import * as grpc from '@grpc/grpc-js'
import { Etcd3 } from 'etcd3'
import { etcdctl } from '../../../test-support/etcdctl.js'
import {
  GrpcStatus,
  PutRequestCodec,
  PutResponseCodec,
  RangeRequestCodec,
  RangeResponseCodec,
  RpcError,
  RpcServer,
  StatusRequestCodec,
  StatusResponseCodec,
  decodeMessage,
  encodeMessage,
  keyValue,
  putRequest,
  rangeRequest,
  statusResponse,
  type KeyValue,
  type MessageCodec,
  type RangeResponse,
  type ResponseHeader,
} from '../index.js'

interface Fixture {
  readonly server: RpcServer
  readonly port: number
  /** The abort reasons of the calls whose signal fired, by key of the request. */
  readonly aborted: Map<string, unknown>
  /** Resolves when a '/test.Test/Wait' call for the key has arrived. */
  arrived(key: string): Promise<void>
}

/** A KV of one revision counter and a map; '/test.Test/*' methods for errors and waiting. */
async function startFixture(impl: 'own' | 'node'): Promise<Fixture> {
  const server = new RpcServer({ maxRecvBytes: 4 << 20, http2: impl })
  const store = new Map<string, KeyValue>()
  let revision = 1
  const header = (): ResponseHeader => ({ clusterId: 7n, memberId: 9n, revision, raftTerm: 2 })
  const aborted = new Map<string, unknown>()
  const waiters = new Map<string, () => void>()
  const arrivals = new Map<string, Promise<void>>()
  const arrived = (key: string): Promise<void> => {
    let p = arrivals.get(key)
    if (p === undefined) {
      p = new Promise((resolve) => waiters.set(key, resolve))
      arrivals.set(key, p)
    }
    return p
  }

  server.unary('/etcdserverpb.KV/Range', RangeRequestCodec, RangeResponseCodec, (q) => {
    const key = Buffer.from(q.key).toString('latin1')
    // "big:N" answers with a value of N bytes (for big responses).
    if (key.startsWith('big:')) {
      const n = Number(key.slice(4))
      const value = Buffer.alloc(n, 'v')
      const kvs = [keyValue({ key: q.key, value, createRevision: 1, modRevision: 1, version: 1 })]
      return { header: header(), kvs, more: false, count: 1 }
    }
    const kv = store.get(key)
    return { header: header(), kvs: kv === undefined ? [] : [kv], more: false, count: kv ? 1 : 0 }
  })
  server.unary('/etcdserverpb.KV/Put', PutRequestCodec, PutResponseCodec, (q) => {
    const key = Buffer.from(q.key).toString('latin1')
    const prev = store.get(key)
    revision++
    store.set(key, {
      key: q.key,
      value: q.value,
      createRevision: prev?.createRevision ?? revision,
      modRevision: revision,
      version: (prev?.version ?? 0) + 1,
      lease: 0n,
    })
    return { header: header(), prevKv: null }
  })
  server.unary('/etcdserverpb.Maintenance/Status', StatusRequestCodec, StatusResponseCodec, () =>
    statusResponse({
      header: header(),
      version: '3.4.23',
      dbSize: 20480,
      dbSizeInUse: 16384,
      leader: 9n,
      raftIndex: revision + 3,
      raftTerm: 2,
      raftAppliedIndex: revision + 3,
    }),
  )
  server.unary('/test.Test/Fail', RangeRequestCodec, RangeResponseCodec, (q) => {
    throw new RpcError(GrpcStatus.FAILED_PRECONDITION, Buffer.from(q.key).toString('utf8'))
  })
  server.unary('/test.Test/Wait', RangeRequestCodec, RangeResponseCodec, (q, call) => {
    const key = Buffer.from(q.key).toString('latin1')
    void arrived(key)
    waiters.get(key)?.()
    return new Promise<RangeResponse>((resolve) => {
      call.signal.addEventListener('abort', () => {
        aborted.set(key, call.signal.reason)
        resolve({ header: header(), kvs: [], more: false, count: 0 })
      })
    })
  })
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  return { server, port, aborted, arrived }
}

// ---------------------------------------------------------------------------------------------
// A gRPC call by hand over node:http2.

interface RawResult {
  readonly headers: http2.IncomingHttpHeaders
  readonly trailers: http2.IncomingHttpHeaders
  readonly body: Buffer
}

function grpcFrame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length)
  out.writeUInt32BE(message.length, 1)
  out.set(message, 5)
  return out
}

function rawCall(
  session: http2.ClientHttp2Session,
  path: string,
  message: Uint8Array,
  authority: string,
  opts: { pauseMs?: number } = {},
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    })
    let headers: http2.IncomingHttpHeaders = {}
    let trailers: http2.IncomingHttpHeaders = {}
    const chunks: Buffer[] = []
    req.on('response', (h) => {
      headers = h
      // A reader that stops for a while: the server must wait for our window.
      if (opts.pauseMs !== undefined) {
        req.pause()
        setTimeout(() => req.resume(), opts.pauseMs)
      }
    })
    req.on('trailers', (t) => (trailers = t))
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve({ headers, trailers, body: Buffer.concat(chunks) }))
    req.on('error', reject)
    req.end(grpcFrame(message))
  })
}

function decodeFrames<T>(codec: MessageCodec<T>, body: Buffer): T[] {
  const out: T[] = []
  let at = 0
  while (at < body.length) {
    const n = body.readUInt32BE(at + 1)
    out.push(decodeMessage(codec, body.subarray(at + 5, at + 5 + n)))
    at += 5 + n
  }
  return out
}

const key = (s: string): Uint8Array => Buffer.from(s, 'latin1')

describe('node:http2 client', () => {
  let fx: Fixture
  let session: http2.ClientHttp2Session
  before(async () => {
    fx = await startFixture('own')
    session = http2.connect(`http://127.0.0.1:${fx.port}`, {
      // A small window: our server must respect it and wait for updates.
      settings: { initialWindowSize: 16_384 },
    })
  })
  after(async () => {
    session.close()
    await fx.server.close()
  })

  test('an :authority that is a URL (etcdctl 3.4) is served', async () => {
    const put = await rawCall(
      session,
      '/etcdserverpb.KV/Put',
      encodeMessage(PutRequestCodec, putRequest({ key: key('a'), value: key('1') })),
      `http://127.0.0.1:${fx.port}`,
    )
    assert.equal(put.trailers['grpc-status'], '0')
    const got = await rawCall(
      session,
      '/etcdserverpb.KV/Range',
      encodeMessage(RangeRequestCodec, rangeRequest({ key: key('a') })),
      `http://127.0.0.1:${fx.port}`,
    )
    assert.equal(got.headers[':status'], 200)
    assert.equal(got.headers['content-type'], 'application/grpc')
    assert.equal(got.trailers['grpc-status'], '0')
    const [res] = decodeFrames(RangeResponseCodec, got.body)
    assert.equal(Buffer.from(res!.kvs[0]!.value).toString(), '1')
  })

  test('200 concurrent streams on one connection', async () => {
    const calls = []
    for (let i = 0; i < 200; i++) {
      const size = (i * 997) % 40_000
      calls.push(
        rawCall(
          session,
          '/etcdserverpb.KV/Range',
          encodeMessage(RangeRequestCodec, rangeRequest({ key: key(`big:${size}`) })),
          'x',
        ).then((r) => {
          assert.equal(r.trailers['grpc-status'], '0')
          const [res] = decodeFrames(RangeResponseCodec, r.body)
          assert.equal(res!.kvs[0]!.value.length, size)
        }),
      )
    }
    await Promise.all(calls)
  })

  test('a 3 MiB response through a 16 KiB window, the reader pausing', async () => {
    const r = await rawCall(
      session,
      '/etcdserverpb.KV/Range',
      encodeMessage(RangeRequestCodec, rangeRequest({ key: key(`big:${3 << 20}`) })),
      'x',
      { pauseMs: 50 },
    )
    assert.equal(r.trailers['grpc-status'], '0')
    const [res] = decodeFrames(RangeResponseCodec, r.body)
    assert.equal(res!.kvs[0]!.value.length, 3 << 20)
    assert.ok(res!.kvs[0]!.value.every((b) => b === 0x76))
  })

  test('a 3 MiB request', async () => {
    const value = Buffer.alloc(3 << 20, 'p')
    const r = await rawCall(
      session,
      '/etcdserverpb.KV/Put',
      encodeMessage(PutRequestCodec, putRequest({ key: key('huge'), value })),
      'x',
    )
    assert.equal(r.trailers['grpc-status'], '0')
    const got = await rawCall(
      session,
      '/etcdserverpb.KV/Range',
      encodeMessage(RangeRequestCodec, rangeRequest({ key: key('huge') })),
      'x',
    )
    const [res] = decodeFrames(RangeResponseCodec, got.body)
    assert.deepEqual(Buffer.from(res!.kvs[0]!.value), value)
  })

  test('a message over maxRecvBytes is RESOURCE_EXHAUSTED, trailers-only', async () => {
    const value = Buffer.alloc(5 << 20, 'p')
    const r = await rawCall(
      session,
      '/etcdserverpb.KV/Put',
      encodeMessage(PutRequestCodec, putRequest({ key: key('huge'), value })),
      'x',
    )
    assert.equal(r.headers['grpc-status'], String(GrpcStatus.RESOURCE_EXHAUSTED))
    assert.match(String(r.headers['grpc-message']), /^grpc: received message larger than max/)
    // The connection goes on.
    const got = await rawCall(
      session,
      '/etcdserverpb.KV/Range',
      encodeMessage(RangeRequestCodec, rangeRequest({ key: key('a') })),
      'x',
    )
    assert.equal(got.trailers['grpc-status'], '0')
  })
})

// ---------------------------------------------------------------------------------------------
// @grpc/grpc-js, on both implementations.

function unary<Q, R>(
  client: grpc.Client,
  path: string,
  qc: MessageCodec<Q>,
  rc: MessageCodec<R>,
  req: Q,
  opts: grpc.CallOptions = {},
  onCall?: (call: grpc.ClientUnaryCall) => void,
): Promise<R> {
  return new Promise((resolve, reject) => {
    const call = client.makeUnaryRequest(
      path,
      (v: Q) => Buffer.from(encodeMessage(qc, v)),
      (b: Buffer) => decodeMessage(rc, b),
      req,
      new grpc.Metadata(),
      opts,
      (err, res) => (err !== null ? reject(err) : resolve(res as R)),
    )
    onCall?.(call)
  })
}

for (const impl of ['own', 'node'] as const) {
  describe(`@grpc/grpc-js client, ${impl} HTTP/2`, () => {
    let fx: Fixture
    let client: grpc.Client
    before(async () => {
      fx = await startFixture(impl)
      client = new grpc.Client(`127.0.0.1:${fx.port}`, grpc.credentials.createInsecure())
    })
    after(async () => {
      client.close()
      await fx.server.close()
    })

    test('unary put and range', async () => {
      for (let i = 0; i < 50; i++) {
        await unary(
          client,
          '/etcdserverpb.KV/Put',
          PutRequestCodec,
          PutResponseCodec,
          putRequest({ key: key(`k${i}`), value: key(`v${i}`) }),
        )
      }
      const res = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          unary(
            client,
            '/etcdserverpb.KV/Range',
            RangeRequestCodec,
            RangeResponseCodec,
            rangeRequest({ key: key(`k${i}`) }),
          ),
        ),
      )
      res.forEach((r, i) => assert.equal(Buffer.from(r.kvs[0]!.value).toString(), `v${i}`))
      assert.equal(res[0]!.header!.revision, 51)
    })

    test('an RpcError arrives with its code and exact text', async () => {
      const text = 'etcdserver: nö 100% "quoted"\nline'
      await assert.rejects(
        unary(
          client,
          '/test.Test/Fail',
          RangeRequestCodec,
          RangeResponseCodec,
          rangeRequest({ key: Buffer.from(text, 'utf8') }),
        ),
        (err: grpc.ServiceError) => {
          assert.equal(err.code, GrpcStatus.FAILED_PRECONDITION)
          assert.equal(err.details, text)
          return true
        },
      )
    })

    test('unknown service and method: grpc-go texts', async () => {
      await assert.rejects(
        unary(client, '/nope.Svc/M', RangeRequestCodec, RangeResponseCodec, rangeRequest()),
        (err: grpc.ServiceError) =>
          err.code === GrpcStatus.UNIMPLEMENTED && err.details === 'unknown service nope.Svc',
      )
      await assert.rejects(
        unary(
          client,
          '/etcdserverpb.KV/Nope',
          RangeRequestCodec,
          RangeResponseCodec,
          rangeRequest(),
        ),
        (err: grpc.ServiceError) =>
          err.code === GrpcStatus.UNIMPLEMENTED &&
          err.details === 'unknown method Nope for service etcdserverpb.KV',
      )
    })

    test('a deadline aborts the handler', async () => {
      await assert.rejects(
        unary(
          client,
          '/test.Test/Wait',
          RangeRequestCodec,
          RangeResponseCodec,
          rangeRequest({ key: key('deadline') }),
          { deadline: Date.now() + 100 },
        ),
        (err: grpc.ServiceError) => err.code === GrpcStatus.DEADLINE_EXCEEDED,
      )
      await fx.arrived('deadline')
      while (!fx.aborted.has('deadline')) await new Promise((r) => setImmediate(r))
    })

    test('a client cancel aborts the handler with CANCELLED', async () => {
      let call: grpc.ClientUnaryCall | undefined
      const done = unary(
        client,
        '/test.Test/Wait',
        RangeRequestCodec,
        RangeResponseCodec,
        rangeRequest({ key: key('cancel') }),
        {},
        (c) => (call = c),
      )
      await fx.arrived('cancel')
      call!.cancel()
      await assert.rejects(done, (err: grpc.ServiceError) => err.code === GrpcStatus.CANCELLED)
      while (!fx.aborted.has('cancel')) await new Promise((r) => setImmediate(r))
      const reason = fx.aborted.get('cancel') as RpcError
      assert.equal(reason.code, GrpcStatus.CANCELLED)
    })
  })
}

// ---------------------------------------------------------------------------------------------
// etcdctl 3.4 and the etcd3 client.

describe('etcdctl 3.4 and etcd3', () => {
  let fx: Fixture
  let endpoint: string
  before(async () => {
    fx = await startFixture('own')
    endpoint = `http://127.0.0.1:${fx.port}`
  })
  after(async () => {
    await fx.server.close()
  })

  test('etcdctl put and get', async () => {
    const put = await etcdctl(endpoint, ['put', 'foo', 'bar'])
    assert.equal(put.code, 0, put.stderr)
    assert.equal(put.stdout, 'OK\n')
    const get = await etcdctl(endpoint, ['get', 'foo'])
    assert.equal(get.code, 0, get.stderr)
    assert.equal(get.stdout, 'foo\nbar\n')
  })

  test('etcdctl endpoint status (the :authority node:http2 refuses)', async () => {
    const r = await etcdctl(endpoint, ['endpoint', 'status', '-w', 'json'])
    assert.equal(r.code, 0, r.stderr)
    const [status] = JSON.parse(r.stdout) as {
      Endpoint: string
      Status: { version: string; dbSize: number; leader: number; raftTerm: number }
    }[]
    assert.equal(status!.Endpoint, endpoint)
    assert.equal(status!.Status.version, '3.4.23')
    assert.equal(status!.Status.dbSize, 20480)
    assert.equal(status!.Status.leader, 9)
    const table = await etcdctl(endpoint, ['endpoint', 'status'])
    assert.equal(table.code, 0, table.stderr)
    assert.match(table.stdout, /^http:\/\/127\.0\.0\.1:\d+, 9, 3\.4\.23, 20 kB, true, false, 2, /)
  })

  test('etcdctl endpoint health', async () => {
    const r = await etcdctl(endpoint, ['endpoint', 'health'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout + r.stderr, /is healthy: successfully committed proposal/)
  })

  test('the etcd3 client', async () => {
    const client = new Etcd3({ hosts: endpoint })
    try {
      await client.put('e3').value('hello')
      assert.equal(await client.get('e3').string(), 'hello')
    } finally {
      client.close()
    }
  })
})
