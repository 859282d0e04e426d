/**
 * gRPC message framing. Goal: messages come out whole and in order however the stream's DATA is
 * cut, refused prefixes are refused before their bodies arrive, and grpc-message is encoded as
 * the gRPC spec says. Method: seeded fast-check over random messages and random cuts.
 */

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { fcParams } from '../../../test-support/seed.js'
import { MessageReader, encodeGrpcMessage, parseGrpcTimeout } from './message-frames.js'
import { GrpcStatus, RpcError } from './rpc-error.js'

function framed(body: Uint8Array, flag = 0, length = body.length): Buffer {
  const b = Buffer.alloc(5 + body.length)
  b[0] = flag
  b.writeUInt32BE(length, 1)
  b.set(body, 5)
  return b
}

test('messages come out whole and in order however the bytes are cut', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 20 }),
      (messages, cuts) => {
        const all = Buffer.concat(messages.map((m) => framed(m)))
        const reader = new MessageReader(300, '')
        const out: Buffer[] = []
        let pos = 0
        for (let i = 0; pos < all.length; i++) {
          const n = cuts[i % cuts.length] as number
          reader.push(all.subarray(pos, pos + n))
          pos += n
          for (let m = reader.next(); m !== null; m = reader.next()) out.push(Buffer.from(m))
        }
        assert.deepEqual(
          out.map((b) => b.toString('hex')),
          messages.map((m) => Buffer.from(m).toString('hex')),
        )
        assert.equal(reader.pendingBytes, 0)
      },
    ),
    fcParams(t, { numRuns: 200 }),
  )
})

test("refused prefixes: grpc-go's codes and texts, from the 5-byte prefix alone", () => {
  const refused = (encoding: string, prefix: Buffer, code: number, text: string): void => {
    const reader = new MessageReader(1000, encoding)
    reader.push(prefix.subarray(0, 5))
    assert.throws(
      () => reader.next(),
      (err: unknown) => err instanceof RpcError && err.code === code && err.message === text,
    )
  }
  const body = new Uint8Array([0x0a, 0x01, 0x61])
  refused(
    '',
    framed(body, 1),
    GrpcStatus.INTERNAL,
    'grpc: compressed flag set with identity or empty encoding',
  )
  refused(
    'identity',
    framed(body, 1),
    GrpcStatus.INTERNAL,
    'grpc: compressed flag set with identity or empty encoding',
  )
  refused(
    'gzip',
    framed(body, 1),
    GrpcStatus.UNIMPLEMENTED,
    'grpc: Decompressor is not installed for grpc-encoding "gzip"',
  )
  refused('', framed(body, 7), GrpcStatus.INTERNAL, 'grpc: received unexpected payload format 7')
  refused(
    '',
    framed(body, 0, 0xffff_ffff),
    GrpcStatus.RESOURCE_EXHAUSTED,
    'grpc: received message larger than max (4294967295 vs. 1000)',
  )
  // At the limit is fine.
  const reader = new MessageReader(3, '')
  reader.push(framed(body))
  assert.deepEqual(reader.next(), Buffer.from(body))
})

test('grpc-message is percent-encoded outside printable ASCII and for %', () => {
  assert.equal(encodeGrpcMessage('etcdserver: key not found'), 'etcdserver: key not found')
  assert.equal(encodeGrpcMessage('100% ä\n'), '100%25 %C3%A4%0A')
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (s) => {
      const e = encodeGrpcMessage(s)
      assert.match(e, /^[\x20-\x7e]*$/)
      assert.equal(decodeURIComponent(e), s)
    }),
    fcParams('grpc-message round trip', { numRuns: 300 }),
  )
})

test('grpc-timeout', () => {
  assert.equal(parseGrpcTimeout('5S'), 5000)
  assert.equal(parseGrpcTimeout('1H'), 3_600_000)
  assert.equal(parseGrpcTimeout('2M'), 120_000)
  assert.equal(parseGrpcTimeout('250m'), 250)
  assert.equal(parseGrpcTimeout('1500u'), 1.5)
  assert.equal(parseGrpcTimeout('2000000n'), 2)
  for (const bad of ['', '5', 'S', '123456789S', '-1S', '1.5S', '5s']) {
    assert.equal(parseGrpcTimeout(bad), undefined, bad)
  }
})
