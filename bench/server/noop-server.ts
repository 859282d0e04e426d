/**
 * A gRPC server on node:http2 that does nothing: every call, whatever its method, is answered
 * with an empty message and grpc-status 0 once its request has arrived. The load generator runs
 * against it (in its own process, as it runs against etcd and pontoon) to show its own ceiling:
 * with no work behind the calls, the figure is what the generator and node:http2 can push.
 *
 *   node dist/bench/server/noop-server.js     prints {"port": N} on stdout once it listens
 */
import http2 from 'node:http2'
import type { ServerHttp2Stream } from 'node:http2'

const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0])
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' }
const TRAILERS = { 'grpc-status': '0' }

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
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  process.stdout.write(JSON.stringify({ port }) + '\n')
})

// The parent ends us with SIGTERM; a closed stdin (the parent died) ends us too.
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
process.on('SIGTERM', () => process.exit(0))
