// Goal: the generator's own HTTP/2 client and its HPACK decoder read what real HTTP/2 servers
// send. Method: the Huffman code against RFC 7541's known codes and its canonical structure
// (a complete prefix code), HPACK blocks from the RFC's examples (C.4: Huffman, dynamic table),
// then calls through H2Connection to an in-process node:http2 server (nghttp2 encodes with
// Huffman and indexes into its dynamic table) answering OK with a body, an error with a
// percent-encoded message, a trailers-only error and a reset stream, many calls at once.
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { GRPC_OK, grpcFrame, grpcMethod } from './grpc-client.js'
import { H2Connection } from './h2-client.js'
import { HUFFMAN_LENGTHS, HpackDecoder, huffmanCode, huffmanDecode } from './hpack.js'

test('Huffman code: RFC 7541 Appendix B codes, complete and canonical', () => {
  assert.deepEqual(huffmanCode(0), [0x1ff8, 13])
  assert.deepEqual(huffmanCode(10), [0x3ffffffc, 30])
  assert.deepEqual(huffmanCode(32), [0x14, 6])
  assert.deepEqual(huffmanCode(48), [0x0, 5])
  assert.deepEqual(huffmanCode(97), [0x3, 5])
  assert.deepEqual(huffmanCode(255), [0x3ffffee, 26])
  assert.deepEqual(huffmanCode(256), [0x3fffffff, 30]) // EOS
  assert.equal(HUFFMAN_LENGTHS.length, 257)
  // Kraft: a complete prefix code's 2^-length sum to exactly 1.
  assert.equal(
    HUFFMAN_LENGTHS.reduce((s, l) => s + 2 ** (30 - l), 0),
    2 ** 30,
  )
})

test('Huffman decoding of RFC 7541 C.4.1 and of every byte value', () => {
  const www = Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex')
  assert.equal(huffmanDecode(www, 0, www.length), 'www.example.com')
  // Encode all 256 symbols with the table, pad with ones, decode.
  let bits = ''
  for (let s = 0; s < 256; s++) {
    const [code, len] = huffmanCode(s)
    bits += code.toString(2).padStart(len, '0')
  }
  bits += '1'.repeat((8 - (bits.length % 8)) % 8)
  const bytes = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)))
  const text = huffmanDecode(bytes, 0, bytes.length)
  assert.deepEqual(
    [...text].map((c) => c.charCodeAt(0)),
    Array.from({ length: 256 }, (_, i) => i),
  )
})

test('HPACK: RFC 7541 C.4 requests, decoded in order through the dynamic table', () => {
  const d = new HpackDecoder()
  const blocks = [
    '828684418cf1e3c2e5f23a6ba0ab90f4ff',
    '828684be5886a8eb10649cbf',
    '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
  ]
  const [a, b, c] = blocks.map((h) => {
    const buf = Buffer.from(h, 'hex')
    return d.decode(buf, 0, buf.length)
  })
  assert.deepEqual(a, [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ])
  assert.deepEqual(b![4], ['cache-control', 'no-cache'])
  assert.deepEqual(b![3], [':authority', 'www.example.com'])
  assert.deepEqual(c![3], [':authority', 'www.example.com'])
  assert.deepEqual(c![4], ['custom-key', 'custom-value'])
})

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
