/**
 * A gRPC server that does nothing, for the load generator's ceiling (in its own process, as the
 * generator runs against etcd and pontoon): with no work behind the calls, the figure is what
 * the generator and the server's HTTP/2 can push.
 *
 *   node dist/bench/server/noop-server.js         node:http2: every call, whatever its method,
 *                                                 answered with an empty message and status 0
 *   node dist/bench/server/noop-server.js api     pontoon's own RpcServer (src/api, its own
 *                                                 HTTP/2): Put and Range decoded and answered
 *                                                 with empty responses
 *
 * Either prints {"port": N} on stdout once it listens.
 */
import http2 from 'node:http2'
import type { ServerHttp2Stream } from 'node:http2'
import {
  PutRequestCodec,
  PutResponseCodec,
  RangeRequestCodec,
  RangeResponseCodec,
  RpcServer,
} from '../../src/api/index.js'

const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0])
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' }
const TRAILERS = { 'grpc-status': '0' }

function listening(port: number): void {
  process.stdout.write(JSON.stringify({ port }) + '\n')
}

if (process.argv[2] === 'api') {
  const api = new RpcServer({ maxRecvBytes: 2 << 20 })
  api.unary('/etcdserverpb.KV/Put', PutRequestCodec, PutResponseCodec, () => ({
    header: null,
    prevKv: null,
  }))
  api.unary('/etcdserverpb.KV/Range', RangeRequestCodec, RangeResponseCodec, () => ({
    header: null,
    kvs: [],
    more: false,
    count: 0,
  }))
  const { port } = await api.listen({ host: '127.0.0.1', port: 0 })
  listening(port)
} else {
  startNodeHttp2()
}

function startNodeHttp2(): void {
  const server = http2.createServer({
    settings: { maxConcurrentStreams: 0xffff_ffff, initialWindowSize: 4 << 20 },
    maxSessionMemory: 64,
  })

  function onEnd(this: ServerHttp2Stream): void {
    if (this.destroyed) return
    this.respond(RESPONSE_HEADERS, { waitForTrailers: true })
    this.end(EMPTY_MESSAGE)
  }

  function onWantTrailers(this: ServerHttp2Stream): void {
    this.sendTrailers(TRAILERS)
  }

  function drop(): void {}

  server.on('stream', (stream) => {
    stream.on('data', drop)
    stream.on('end', onEnd)
    stream.on('wantTrailers', onWantTrailers)
    stream.on('error', drop)
  })
  server.on('session', (session) => session.on('error', drop))

  server.listen({ host: '127.0.0.1', port: 0 }, () => {
    const addr = server.address()
    listening(typeof addr === 'object' && addr !== null ? addr.port : 0)
  })
}

// The parent ends us with SIGTERM; a closed stdin (the parent died) ends us too.
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
process.on('SIGTERM', () => process.exit(0))
