// Goal: the generator's own HTTP/2 client reads what real HTTP/2 servers send (its HPACK is
// src/api/h2's, tested there against RFC 7541). Method: calls through H2Connection to an
// in-process node:http2 server (nghttp2 encodes with Huffman and indexes into its dynamic table)
// answering OK with a body, an error with a percent-encoded message, a trailers-only error and a
// reset stream, many calls at once.
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { GRPC_OK, grpcFrame, grpcMethod } from './grpc-client.js'
import { H2Connection } from './h2-client.js'

test('H2Connection: OK with body, errors, trailers-only, reset, 200 concurrent calls', async (t) => {
  const server = http2.createServer()
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = []
    stream.on('error', () => {}) // the reset stream's own error, expected
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => {
      const body = Buffer.concat(chunks)
      switch (headers[':path']) {
        case '/echo':
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc' },
            {
              waitForTrailers: true,
            },
          )
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
          stream.end(body) // the request frame, echoed
          return
        case '/fail':
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc' },
            {
              waitForTrailers: true,
            },
          )
          stream.on('wantTrailers', () =>
            stream.sendTrailers({
              'grpc-status': '11',
              'grpc-message': encodeURIComponent(
                'etcdserver: mvcc: required revision is a future revision',
              ),
            }),
          )
          stream.end()
          return
        case '/trailers-only':
          stream.respond(
            {
              ':status': 200,
              'content-type': 'application/grpc',
              'grpc-status': '3',
              'grpc-message': 'bad',
            },
            { endStream: true },
          )
          return
        default:
          stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => server.close())
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const conn = await H2Connection.connect(url)
  t.after(() => conn.close())

  const msg = grpcFrame(Buffer.from('hello'))
  const ok = await conn.call(grpcMethod('/echo'), msg)
  assert.equal(ok.status, GRPC_OK)
  assert.equal(ok.body?.toString(), 'hello')
  const fail = await conn.call(grpcMethod('/fail'), msg)
  assert.deepEqual(
    [fail.status, fail.message],
    [11, 'etcdserver: mvcc: required revision is a future revision'],
  )
  const only = await conn.call(grpcMethod('/trailers-only'), msg)
  assert.deepEqual([only.status, only.message], [3, 'bad'])
  const reset = await conn.call(grpcMethod('/nowhere'), msg)
  assert.equal(reset.status, 14)
  assert.match(reset.message, /stream reset \(code 7\)/)

  // Many at once, with bodies larger than a few frames' worth of window in all.
  const big = grpcFrame(Buffer.alloc(4000, 0x61))
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      conn.call(grpcMethod(i % 2 === 0 ? '/echo' : '/fail'), big),
    ),
  )
  results.forEach((r, i) => {
    if (i % 2 === 0) {
      assert.equal(r.status, GRPC_OK)
      assert.equal(r.body?.length, 4000)
    } else assert.equal(r.status, 11)
  })
})
