/**
 * RpcServer with real clients. Goal: the gRPC framing, trailers and errors are right for the
 * clients Pontoon must serve, and bad input never hurts the server. Method: a tiny KV handler (a
 * Map) behind the server; Debian's etcdctl 3.4 (grpc-go) and the etcd3 package (grpc-js) talk to
 * it; a raw node:http2 client sends what well-behaved clients do not, and its answers are
 * compared with what etcd 3.4.23 answers to the same bytes (probed once, recorded below).
 */

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import * as grpc from '@grpc/grpc-js'
import { Etcd3 } from 'etcd3'
import { keyValue, type KeyValue } from '../proto/kv.js'
import { MemberListRequestCodec, MemberListResponseCodec } from '../proto/rpc-cluster.js'
import {
  CompactionRequestCodec,
  CompactionResponseCodec,
  DeleteRangeRequestCodec,
  DeleteRangeResponseCodec,
  PutRequestCodec,
  PutResponseCodec,
  RangeRequestCodec,
  RangeResponseCodec,
  TxnRequestCodec,
  TxnResponseCodec,
  rangeRequest,
  type RangeRequest,
  type RangeResponse,
  type ResponseHeader,
  type ResponseOp,
} from '../proto/rpc-kv.js'
import { StatusRequestCodec, StatusResponseCodec } from '../proto/rpc-maintenance.js'
import { Reader, encodeMessage } from '../proto/wire.js'
import { testRand } from '../../../test-support/seed.js'
import { GrpcStatus, RpcError } from './rpc-error.js'
import { pino } from 'pino'
import { RpcServer, type ApiLogger, type CallInfo } from './rpc-server.js'

const run = promisify(execFile)
const MAX_RECV = 4096

// ---------------------------------------------------------------------------------------------
// A tiny KV behind the server: enough of etcd's semantics for the clients' happy paths.

class TinyKv {
  readonly data = new Map<string, KeyValue>()
  revision = 1

  header(): ResponseHeader {
    return { clusterId: 0x1234n, memberId: 0xabcdn, revision: this.revision, raftTerm: 2 }
  }

  range(q: RangeRequest): RangeResponse {
    const key = Buffer.from(q.key).toString('latin1')
    const end = Buffer.from(q.rangeEnd).toString('latin1')
    const kvs = [...this.data.entries()]
      .filter(([k]) => (end === '' ? k === key : k >= key && (end === '\0' || k < end)))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, kv]) => kv)
    return { header: this.header(), kvs, more: false, count: kvs.length }
  }

  put(key: Uint8Array, value: Uint8Array): void {
    const k = Buffer.from(key).toString('latin1')
    const old = this.data.get(k)
    this.revision++
    this.data.set(
      k,
      keyValue({
        key: new Uint8Array(key),
        value: new Uint8Array(value),
        createRevision: old?.createRevision ?? this.revision,
        modRevision: this.revision,
        version: (old?.version ?? 0) + 1,
      }),
    )
  }

  register(server: RpcServer): void {
    server.unary('/etcdserverpb.KV/Range', RangeRequestCodec, RangeResponseCodec, (q) =>
      this.range(q),
    )
    server.unary('/etcdserverpb.KV/Put', PutRequestCodec, PutResponseCodec, (q) => {
      this.put(q.key, q.value)
      return { header: this.header(), prevKv: null }
    })
    server.unary(
      '/etcdserverpb.KV/DeleteRange',
      DeleteRangeRequestCodec,
      DeleteRangeResponseCodec,
      (q) => {
        const found = this.range({ ...q, limit: 0 } as unknown as RangeRequest).kvs
        for (const kv of found) this.data.delete(Buffer.from(kv.key).toString('latin1'))
        if (found.length > 0) this.revision++
        return { header: this.header(), deleted: found.length, prevKvs: [] }
      },
    )
    // Txn: compares on value only, ops put and range: what the tests below send.
    server.unary('/etcdserverpb.KV/Txn', TxnRequestCodec, TxnResponseCodec, (q) => {
      const ok = q.compare.every((c) => {
        const kv = this.data.get(Buffer.from(c.key).toString('latin1'))
        return c.targetUnion.type === 'value' && kv !== undefined
          ? Buffer.from(kv.value).equals(c.targetUnion.value) === (c.result === 0)
          : false
      })
      const responses: ResponseOp[] = (ok ? q.success : q.failure).map((op) => {
        if (op.type === 'put') {
          this.put(op.put.key, op.put.value)
          return { type: 'put', put: { header: this.header(), prevKv: null } }
        }
        if (op.type === 'range') return { type: 'range', range: this.range(op.range) }
        throw new RpcError(GrpcStatus.UNIMPLEMENTED, 'tiny kv: op not supported')
      })
      return { header: this.header(), succeeded: ok, responses }
    })
    server.unary(
      '/etcdserverpb.KV/Compact',
      CompactionRequestCodec,
      CompactionResponseCodec,
      (q) => {
        if (q.revision > this.revision) {
          throw new RpcError(
            GrpcStatus.OUT_OF_RANGE,
            'etcdserver: mvcc: required revision is a future revision',
          )
        }
        return { header: this.header() }
      },
    )
    server.unary(
      '/etcdserverpb.Maintenance/Status',
      StatusRequestCodec,
      StatusResponseCodec,
      () => ({
        header: this.header(),
        version: '3.4.23',
        dbSize: 20480,
        leader: 0xabcdn,
        raftIndex: 7,
        raftTerm: 2,
        raftAppliedIndex: 7,
        errors: [],
        dbSizeInUse: 16384,
        isLearner: false,
      }),
    )
    server.unary(
      '/etcdserverpb.Cluster/MemberList',
      MemberListRequestCodec,
      MemberListResponseCodec,
      () => ({
        header: this.header(),
        members: [
          {
            id: 0xabcdn,
            name: 'p1',
            peerUrls: ['http://127.0.0.1:2380'],
            clientUrls: ['http://127.0.0.1:2379'],
            isLearner: false,
          },
        ],
      }),
    )
  }
}

// Test-only methods: a handler that waits for its call to be cancelled, and error texts.
function deferred<T>(): { resolve: (v: T) => void; promise: Promise<T> } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { resolve, promise }
}
const started = deferred<void>()
const cancelled = deferred<unknown>()

let server: RpcServer
let port: number
const kv = new TinyKv()

before(async () => {
  server = new RpcServer({ maxRecvBytes: MAX_RECV })
  kv.register(server)
  server.unary(
    '/test.Test/WaitForCancel',
    RangeRequestCodec,
    RangeResponseCodec,
    (_q, call: CallInfo) =>
      new Promise<RangeResponse>((_resolve, reject) => {
        started.resolve()
        call.signal.addEventListener('abort', () => {
          cancelled.resolve(call.signal.reason)
          reject(call.signal.reason)
        })
      }),
  )
  server.unary('/test.Test/Never', RangeRequestCodec, RangeResponseCodec, (_q, call) => {
    assert.notEqual(call.deadline, undefined)
    return new Promise<RangeResponse>(() => {})
  })
  server.unary('/test.Test/Fail', RangeRequestCodec, RangeResponseCodec, (q) => {
    const text = Buffer.from(q.key).toString('utf8')
    if (q.limit === 1) throw new Error(text)
    throw new RpcError(GrpcStatus.FAILED_PRECONDITION, text)
  })
  // Bidirectional: one answer per request (count = the request's limit), OK on half-close; a
  // request with limit -1 fails the call from onMessage.
  server.stream('/test.Test/Echo', RangeRequestCodec, RangeResponseCodec, (call) => {
    call.onMessage = (q) => {
      if (q.limit === -1) throw new RpcError(GrpcStatus.ABORTED, 'echo: told to fail')
      call.send({ header: null, kvs: [], more: false, count: q.limit })
    }
    call.onHalfClose = () => call.finish()
  })
  // Server-streaming: `limit` answers for the one request, then OK.
  server.stream('/test.Test/Count', RangeRequestCodec, RangeResponseCodec, (call) => {
    call.onMessage = (q) => {
      for (let i = 1; i <= q.limit; i++) call.send({ header: null, kvs: [], more: false, count: i })
      call.finish()
    }
  })
  server.http('/health', () => ({
    status: 200,
    headers: { 'Content-Type': 'application/json' },
    body: '{"health":"true"}',
  }))
  ;({ port } = await server.listen({ host: '127.0.0.1', port: 0 }))
})

after(async () => {
  await server.close()
})

// ---------------------------------------------------------------------------------------------
// etcdctl (grpc-go 1.26).

async function etcdctl(
  ...args: string[]
): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(
      '/usr/bin/etcdctl',
      [`--endpoints=127.0.0.1:${port}`, '--command-timeout=5s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    )
    return { stdout, stderr, code: 0 }
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number }
    return { stdout: e.stdout, stderr: e.stderr, code: e.code }
  }
}

test('etcdctl: put, get -w json, del, txn, endpoint status, member list', async () => {
  assert.deepEqual(await etcdctl('put', 'ctl/a', '1'), { stdout: 'OK\n', stderr: '', code: 0 })
  const got = JSON.parse((await etcdctl('get', 'ctl/a', '-w', 'json')).stdout)
  assert.equal(got.header.cluster_id, 0x1234)
  assert.equal(got.header.member_id, 0xabcd)
  assert.equal(got.count, 1)
  assert.equal(Buffer.from(got.kvs[0].key, 'base64').toString(), 'ctl/a')
  assert.equal(Buffer.from(got.kvs[0].value, 'base64').toString(), '1')
  assert.equal(got.kvs[0].version, 1)
  assert.equal((await etcdctl('get', 'ctl/', '--prefix', '--print-value-only')).stdout, '1\n')
  assert.equal((await etcdctl('del', 'ctl/a')).stdout, '1\n')
  assert.equal((await etcdctl('get', 'ctl/a')).stdout, '')

  await etcdctl('put', 'ctl/t', 'x')
  const txn = await run(
    'sh',
    [
      '-c',
      `printf 'value("ctl/t") = "x"\\n\\nput ctl/t y\\n\\nput ctl/t z\\n\\n' | /usr/bin/etcdctl --endpoints=127.0.0.1:${port} txn`,
    ],
    { env: { ...process.env, ETCDCTL_API: '3' } },
  )
  assert.equal(txn.stdout, 'SUCCESS\n\nOK\n')
  assert.equal((await etcdctl('get', 'ctl/t', '--print-value-only')).stdout, 'y\n')

  const status = JSON.parse((await etcdctl('endpoint', 'status', '-w', 'json')).stdout)
  assert.equal(status[0].Status.version, '3.4.23')
  assert.equal(status[0].Status.dbSize, 20480)
  const members = JSON.parse((await etcdctl('member', 'list', '-w', 'json')).stdout)
  assert.equal(members.members[0].name, 'p1')
  assert.deepEqual(members.members[0].clientURLs, ['http://127.0.0.1:2379'])
})

test("etcdctl: a handler's RpcError arrives with its code and text", async () => {
  const r = await etcdctl('compaction', '1000000')
  assert.notEqual(r.code, 0)
  assert.match(r.stderr, /Error: etcdserver: mvcc: required revision is a future revision\n$/)
})

// ---------------------------------------------------------------------------------------------
// The etcd3 package (grpc-js).

test('etcd3 client: put, get, prefix, delete, txn', async () => {
  const client = new Etcd3({ hosts: `127.0.0.1:${port}` })
  try {
    await client.put('js/a').value('1')
    await client.put('js/b').value('2')
    assert.equal(await client.get('js/a').string(), '1')
    assert.deepEqual(await client.getAll().prefix('js/').strings(), { 'js/a': '1', 'js/b': '2' })
    const txn = await client
      .if('js/a', 'Value', '==', '1')
      .then(client.put('js/a').value('3'))
      .commit()
    assert.equal(txn.succeeded, true)
    assert.equal(await client.get('js/a').string(), '3')
    await client.delete().key('js/b')
    assert.equal(await client.get('js/b').string(), null)
  } finally {
    client.close()
  }
})

// A raw grpc-js client, to see codes and texts without etcd3's error mapping.
function grpcJsCall(
  path: string,
  body: Uint8Array,
  options: grpc.CallOptions = {},
): Promise<{ code: number; details: string }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      body,
      options,
      (err) => {
        client.close()
        resolve(err === null ? { code: 0, details: '' } : { code: err.code, details: err.details })
      },
    )
  })
}

test('grpc-js: handler errors, percent-encoded texts, oversized messages, unknown methods', async () => {
  const text = 'präcondition 100% failed: ключ\n'
  const fail = (limit: number): Uint8Array =>
    encodeMessage(RangeRequestCodec, rangeRequest({ key: Buffer.from(text), limit }))
  assert.deepEqual(await grpcJsCall('/test.Test/Fail', fail(0)), {
    code: GrpcStatus.FAILED_PRECONDITION,
    details: text,
  })
  // Not an RpcError: UNKNOWN with its message, as grpc-go's status.Convert does.
  assert.deepEqual(await grpcJsCall('/test.Test/Fail', fail(1)), {
    code: GrpcStatus.UNKNOWN,
    details: text,
  })
  const big = encodeMessage(PutRequestCodec, {
    key: Buffer.from('k'),
    value: new Uint8Array(MAX_RECV * 4),
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  })
  assert.deepEqual(await grpcJsCall('/etcdserverpb.KV/Put', big), {
    code: GrpcStatus.RESOURCE_EXHAUSTED,
    details: `grpc: received message larger than max (${big.length} vs. ${MAX_RECV})`,
  })
  assert.deepEqual(await grpcJsCall('/etcdserverpb.KV/Nope', new Uint8Array()), {
    code: GrpcStatus.UNIMPLEMENTED,
    details: 'unknown method Nope for service etcdserverpb.KV',
  })
  const deadline = await grpcJsCall('/test.Test/Never', new Uint8Array(), {
    deadline: Date.now() + 100,
  })
  assert.equal(deadline.code, GrpcStatus.DEADLINE_EXCEEDED)
  // The server still serves.
  assert.deepEqual(await grpcJsCall('/etcdserverpb.KV/Range', new Uint8Array()), {
    code: 0,
    details: '',
  })
})

// ---------------------------------------------------------------------------------------------
// Raw HTTP/2: what etcd 3.4.23 answers to the same bytes (probed with this client: every one is
// a trailers-only response, :status 200).

function frame(body: number[], flag = 0, length = body.length): Buffer {
  const b = Buffer.alloc(5 + body.length)
  b[0] = flag
  b.writeUInt32BE(length, 1)
  Buffer.from(body).copy(b, 5)
  return b
}

const etcdAnswers: [string, string, Buffer, Record<string, string>, number, string][] = [
  ['unknown service', '/foo.Bar/Baz', Buffer.alloc(0), {}, 12, 'unknown service foo.Bar'],
  [
    'unknown method',
    '/etcdserverpb.KV/Nope',
    Buffer.alloc(0),
    {},
    12,
    'unknown method Nope for service etcdserverpb.KV',
  ],
  [
    'truncated protobuf',
    '/etcdserverpb.KV/Range',
    frame([0x0a, 0x05, 0x61]),
    {},
    13,
    'grpc: error unmarshalling request: unexpected EOF',
  ],
  [
    'wrong wire type',
    '/etcdserverpb.KV/Range',
    frame([0x08, 0x01]),
    {},
    13,
    'grpc: error unmarshalling request: proto: wrong wireType = 0 for field Key',
  ],
  [
    'compressed flag, no encoding',
    '/etcdserverpb.KV/Range',
    frame([0x0a, 0x01, 0x61], 1),
    {},
    13,
    'grpc: compressed flag set with identity or empty encoding',
  ],
  [
    'compressed flag, gzip',
    '/etcdserverpb.KV/Range',
    frame([0x0a, 0x01, 0x61], 1),
    { 'grpc-encoding': 'gzip' },
    12,
    'grpc: Decompressor is not installed for grpc-encoding "gzip"',
  ],
  [
    'payload format 2',
    '/etcdserverpb.KV/Range',
    frame([0x0a, 0x01, 0x61], 2),
    {},
    13,
    'grpc: received unexpected payload format 2',
  ],
  ['no message', '/etcdserverpb.KV/Range', Buffer.alloc(0), {}, 2, 'EOF'],
  [
    'truncated frame',
    '/etcdserverpb.KV/Range',
    Buffer.from([0, 0, 0, 0, 9, 0x0a]),
    {},
    2,
    'unexpected EOF',
  ],
  [
    'oversized',
    '/etcdserverpb.KV/Range',
    frame([0, 0, 0], 0, 100 * 1024 * 1024),
    {},
    8,
    `grpc: received message larger than max (104857600 vs. ${MAX_RECV})`,
  ],
]

interface RawAnswer {
  headers: http2.IncomingHttpHeaders
  trailers: http2.IncomingHttpHeaders | null
  data: Buffer
}

function rawCall(
  session: http2.ClientHttp2Session,
  path: string,
  body: Buffer,
  extra: Record<string, string> = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extra,
    })
    let headers: http2.IncomingHttpHeaders = {}
    let trailers: http2.IncomingHttpHeaders | null = null
    const chunks: Buffer[] = []
    req.on('response', (h) => (headers = h))
    req.on('trailers', (t) => (trailers = t))
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('error', reject)
    req.on('close', () => resolve({ headers, trailers, data: Buffer.concat(chunks) }))
    req.end(body)
  })
}

test("raw HTTP/2: etcd 3.4's answers to bad requests, all trailers-only", async () => {
  const session = http2.connect(`http://127.0.0.1:${port}`)
  try {
    for (const [name, path, body, extra, code, message] of etcdAnswers) {
      const a = await rawCall(session, path, body, extra)
      assert.equal(a.headers[':status'], 200, name)
      assert.equal(a.headers['content-type'], 'application/grpc', name)
      assert.equal(a.headers['grpc-status'], String(code), name)
      assert.equal(decodeURIComponent(String(a.headers['grpc-message'])), message, name)
      assert.equal(a.trailers, null, name)
      assert.equal(a.data.length, 0, name)
    }
    // A good call on the same connection: headers, one message, trailers with status 0.
    const ok = await rawCall(session, '/etcdserverpb.KV/Range', frame([0x0a, 0x01, 0x61]))
    assert.equal(ok.headers['grpc-status'], undefined)
    assert.deepEqual(ok.trailers?.['grpc-status'], '0')
    assert.equal(ok.data.readUInt32BE(1), ok.data.length - 5)
  } finally {
    session.close()
  }
})

/** Splits a response body into its messages' counts (RangeResponse.count). */
function counts(data: Buffer): number[] {
  const out: number[] = []
  for (let pos = 0; pos < data.length;) {
    const len = data.readUInt32BE(pos + 1)
    out.push(RangeResponseCodec.read(new Reader(data, pos + 5, pos + 5 + len)).count)
    pos += 5 + len
  }
  return out
}

const rangeFrame = (limit: number): Buffer =>
  frame([...encodeMessage(RangeRequestCodec, rangeRequest({ limit }))])

test('streams: bidirectional echo, server-streaming, failures after messages go in trailers', async () => {
  const session = http2.connect(`http://127.0.0.1:${port}`)
  try {
    const echo = await rawCall(
      session,
      '/test.Test/Echo',
      Buffer.concat([rangeFrame(1), rangeFrame(2), rangeFrame(3)]),
    )
    assert.deepEqual(counts(echo.data), [1, 2, 3])
    assert.equal(echo.trailers?.['grpc-status'], '0')

    const failed = await rawCall(
      session,
      '/test.Test/Echo',
      Buffer.concat([rangeFrame(7), rangeFrame(-1), rangeFrame(8)]),
    )
    assert.deepEqual(counts(failed.data), [7])
    assert.equal(failed.trailers?.['grpc-status'], String(GrpcStatus.ABORTED))
    assert.equal(failed.trailers?.['grpc-message'], 'echo: told to fail')

    const malformed = await rawCall(
      session,
      '/test.Test/Echo',
      Buffer.concat([rangeFrame(5), frame([0x08, 0x01]), rangeFrame(6)]),
    )
    assert.deepEqual(counts(malformed.data), [5])
    assert.equal(malformed.trailers?.['grpc-status'], String(GrpcStatus.INTERNAL))
    assert.equal(
      malformed.trailers?.['grpc-message'],
      'grpc: error unmarshalling request: proto: wrong wireType = 0 for field Key',
    )

    const cut = await rawCall(
      session,
      '/test.Test/Echo',
      Buffer.concat([rangeFrame(4), Buffer.from([0, 0, 0])]),
    )
    assert.deepEqual(counts(cut.data), [4])
    assert.equal(cut.trailers?.['grpc-status'], String(GrpcStatus.UNKNOWN))
    assert.equal(cut.trailers?.['grpc-message'], 'unexpected EOF')
  } finally {
    session.close()
  }

  // grpc-js as a server-streaming client.
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  try {
    const got: number[] = []
    await new Promise<void>((resolve, reject) => {
      const call = client.makeServerStreamRequest(
        '/test.Test/Count',
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => RangeResponseCodec.read(new Reader(new Uint8Array(b))).count,
        encodeMessage(RangeRequestCodec, rangeRequest({ limit: 50 })),
      )
      call.on('data', (n: number) => got.push(n))
      call.on('error', reject)
      call.on('status', (st: grpc.StatusObject) =>
        st.code === 0 ? resolve() : reject(new Error(st.details)),
      )
    })
    assert.deepEqual(
      got,
      Array.from({ length: 50 }, (_, i) => i + 1),
    )
  } finally {
    client.close()
  }
})

test('raw HTTP/2: a client RST_STREAM cancels the call, its signal says why', async () => {
  const session = http2.connect(`http://127.0.0.1:${port}`)
  try {
    const req = session.request({
      ':method': 'POST',
      ':path': '/test.Test/WaitForCancel',
      'content-type': 'application/grpc',
    })
    req.on('error', () => {})
    req.end(frame([]))
    // The server answers nothing until cancelled.
    await started.promise
    req.close(http2.constants.NGHTTP2_CANCEL)
    const reason = await cancelled.promise
    assert.ok(reason instanceof RpcError)
    assert.equal(reason.code, GrpcStatus.CANCELLED)
  } finally {
    session.close()
  }
})

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 on the same port, and garbage.

function httpGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      .on('error', reject)
  })
}

test('HTTP/1.1 GET /health on the gRPC port; unknown paths are 404', async () => {
  assert.deepEqual(await httpGet('/health'), { status: 200, body: '{"health":"true"}' })
  assert.deepEqual(await httpGet('/health?serializable=true'), {
    status: 200,
    body: '{"health":"true"}',
  })
  assert.deepEqual(await httpGet('/nope'), { status: 404, body: '404 page not found\n' })
})

function rawSocket(bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const s = net.connect(port, '127.0.0.1', () => s.end(bytes))
    s.on('data', (d) => chunks.push(d))
    s.on('error', reject)
    s.on('close', () => resolve(Buffer.concat(chunks)))
  })
}

test('garbage on the port is answered 400 or dropped, and the server keeps serving', async () => {
  const h1 = await rawSocket(Buffer.from('\x00\x01garbage\r\n\r\n'))
  assert.match(h1.toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n/)
  // The HTTP/2 preface, then frames that are not: nghttp2 sends GOAWAY and closes.
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
  await rawSocket(Buffer.concat([preface, Buffer.from('garbage garbage garbage garbage')]))
  // A truncated frame header, then the connection ends.
  await rawSocket(Buffer.concat([preface, Buffer.from([0, 0, 9, 4])]))
  // Only part of the preface.
  await rawSocket(preface.subarray(0, 10))
  assert.deepEqual(await httpGet('/health'), { status: 200, body: '{"health":"true"}' })
  assert.equal((await etcdctl('put', 'after/garbage', 'ok')).stdout, 'OK\n')
})

test('random frames after the HTTP/2 preface, and random bytes without it, hurt nothing', async (t) => {
  const rand = testRand(t)
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
  const randomBytes = (n: number): Buffer =>
    Buffer.from(Array.from({ length: n }, () => rand.int(256)))
  // Frames with plausible headers: a random type (gRPC clients send 0-9), flags and stream id,
  // a payload of the declared length or not.
  const randomFrame = (): Buffer => {
    const payload = randomBytes(rand.int(40))
    const declared = rand.int(4) === 0 ? rand.int(1 << 24) : payload.length
    const header = Buffer.alloc(9)
    header.writeUIntBE(declared, 0, 3)
    header[3] = rand.int(12)
    header[4] = rand.int(256)
    header.writeUInt32BE(rand.int(8) === 0 ? rand.int(2 ** 32) : 1 + 2 * rand.int(5), 5)
    return Buffer.concat([header, payload])
  }
  for (let i = 0; i < 40; i++) {
    const frames = Array.from({ length: 1 + rand.int(6) }, randomFrame)
    await rawSocket(Buffer.concat([preface, ...frames]))
    await rawSocket(randomBytes(1 + rand.int(200)))
  }
  assert.deepEqual(await httpGet('/health'), { status: 200, body: '{"health":"true"}' })
  const session = http2.connect(`http://127.0.0.1:${port}`)
  try {
    const ok = await rawCall(session, '/etcdserverpb.KV/Range', frame([0x0a, 0x01, 0x61]))
    assert.equal(ok.trailers?.['grpc-status'], '0')
  } finally {
    session.close()
  }
})

test('close() ends idle, sniffing, HTTP/1.1 keep-alive and HTTP/2 connections', async () => {
  const s = new RpcServer({ maxRecvBytes: MAX_RECV })
  s.http('/health', () => ({ status: 200, body: 'ok' }))
  const p = (await s.listen({ host: '127.0.0.1', port: 0 })).port
  const closed = (sock: net.Socket): Promise<void> =>
    new Promise((resolve) => sock.on('close', () => resolve()))
  const silent = net.connect(p, '127.0.0.1')
  silent.on('error', () => {})
  await new Promise((resolve) => silent.on('connect', resolve))
  const silentClosed = closed(silent)
  const keepAlive = new http.Agent({ keepAlive: true })
  await new Promise<void>((resolve, reject) =>
    http
      .get({ host: '127.0.0.1', port: p, path: '/health', agent: keepAlive }, (res) => {
        res.resume()
        res.on('end', () => resolve())
      })
      .on('error', reject),
  )
  const session = http2.connect(`http://127.0.0.1:${p}`)
  session.on('error', () => {})
  await new Promise((resolve) => session.on('connect', resolve))
  const sessionClosed = new Promise((resolve) => session.on('close', resolve))
  await s.close()
  await silentClosed
  await sessionClosed
  keepAlive.destroy()
})

test("a pino logger is an ApiLogger; a handler's plain error is logged", async () => {
  const lines: string[] = []
  const logger: ApiLogger = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(line) },
  )
  const s = new RpcServer({ maxRecvBytes: MAX_RECV, logger })
  s.unary('/test.Test/Fail', RangeRequestCodec, RangeResponseCodec, () => {
    throw new Error('boom')
  })
  const p = (await s.listen({ host: '127.0.0.1', port: 0 })).port
  const session = http2.connect(`http://127.0.0.1:${p}`)
  try {
    const a = await rawCall(session, '/test.Test/Fail', frame([]))
    assert.equal(a.headers['grpc-status'], String(GrpcStatus.UNKNOWN))
    assert.equal(a.headers['grpc-message'], 'boom')
  } finally {
    session.close()
    await s.close()
  }
  const warned = lines.map((l) => JSON.parse(l) as { msg: string; path?: string })
  assert.ok(warned.some((l) => l.path === '/test.Test/Fail' && /not an RpcError/.test(l.msg)))
})
