/**
 * Our HTTP/2 connection at the frame level, driven by a raw socket that writes the frames a test
 * builds: valid requests cut at seeded random points, seeded garbage (raw bytes, and frames of
 * random type, flags, stream and payload) that must end in a clean connection error or be
 * ignored, never a throw, each protocol error answered with the code RFC 9113 gives it, flow
 * control towards a client with a zero window, concurrency limits, graceful close, and the
 * batching of one turn's frames into one socket write.
 *
 * The application behind is an echo: on the request's end it answers 200, the request's bytes
 * and a trailer; '/hold' answers only when the test says; '/big:N' answers N bytes at once.
 */

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { testRand } from '../../../test-support/seed.js'
import {
  CLIENT_PREFACE,
  ErrorCode,
  FRAME_HEADER_BYTES,
  Flag,
  FrameType,
  Setting,
  putFrameHeader,
} from './frame.js'
import { HpackDecoder, encodeHeaders, encodedSizeMax, type OutgoingHeaders } from './hpack.js'
import { H2Server } from './h2-server.js'
import type { H2Stream } from './connection.js'

interface Frame {
  readonly type: number
  readonly flags: number
  readonly id: number
  readonly payload: Buffer
}

function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_BYTES + payload.length)
  putFrameHeader(out, 0, payload.length, type, flags, id)
  payload.copy(out, FRAME_HEADER_BYTES)
  return out
}

function block(headers: OutgoingHeaders): Buffer {
  const buf = Buffer.alloc(encodedSizeMax(headers))
  return buf.subarray(0, encodeHeaders(buf, 0, headers, false))
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(v >>> 0)
  return b
}

function settings(pairs: [number, number][]): Buffer {
  const p = Buffer.alloc(6 * pairs.length)
  pairs.forEach(([k, v], i) => {
    p.writeUInt16BE(k, 6 * i)
    p.writeUInt32BE(v >>> 0, 6 * i + 2)
  })
  return frame(FrameType.SETTINGS, 0, 0, p)
}

// The preface, and windows large enough that the echo never waits for us.
const HELLO = Buffer.concat([
  CLIENT_PREFACE,
  settings([[Setting.INITIAL_WINDOW_SIZE, 1 << 30]]),
  frame(FrameType.WINDOW_UPDATE, 0, 0, u32(1 << 30)),
])

function request(id: number, path: string, body: Buffer | null): Buffer {
  const h = block({
    ':method': 'POST',
    ':scheme': 'http',
    ':path': path,
    ':authority': 'http://127.0.0.1:2379',
    'content-type': 'application/grpc',
    te: 'trailers',
  })
  if (body === null) return frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, h)
  const out = [frame(FrameType.HEADERS, Flag.END_HEADERS, id, h)]
  for (let at = 0; at < body.length || at === 0; at += 16384) {
    const last = at + 16384 >= body.length
    out.push(frame(FrameType.DATA, last ? Flag.END_STREAM : 0, id, body.subarray(at, at + 16384)))
  }
  return Buffer.concat(out)
}

/** A client socket that parses what the server sends into frames. */
class Peer {
  readonly frames: Frame[] = []
  closed = false
  private buf = Buffer.alloc(0)
  private wake: (() => void) | null = null
  readonly decoder = new HpackDecoder(4096, 1 << 20)

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c])
      while (this.buf.length >= FRAME_HEADER_BYTES) {
        const len = this.buf.readUIntBE(0, 3)
        if (this.buf.length < FRAME_HEADER_BYTES + len) break
        this.frames.push({
          type: this.buf[3] as number,
          flags: this.buf[4] as number,
          id: this.buf.readUInt32BE(5) & 0x7fff_ffff,
          payload: Buffer.from(this.buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len)),
        })
        this.buf = this.buf.subarray(FRAME_HEADER_BYTES + len)
      }
      this.poke()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      this.closed = true
      this.poke()
    })
  }

  static connect(port: number): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Peer(s)))
      s.once('error', reject)
    })
  }

  private poke(): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  send(b: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(b)
  }

  /** Waits until `pred` holds of the frames so far (or the socket closed: then null). */
  async until(pred: (frames: Frame[]) => boolean): Promise<Frame[] | null> {
    while (!pred(this.frames)) {
      if (this.closed) return null
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
    return this.frames
  }

  async goaway(): Promise<{ last: number; code: number } | null> {
    await this.until(() => false)
    const g = this.frames.find((f) => f.type === FrameType.GOAWAY)
    if (g === undefined) return null
    return { last: g.payload.readUInt32BE(0), code: g.payload.readUInt32BE(4) }
  }

  async rst(id: number): Promise<number | null> {
    const isRst = (f: Frame): boolean => f.type === FrameType.RST_STREAM && f.id === id
    const got = await this.until((frames) => frames.some(isRst))
    const f = got?.find(isRst)
    return f === undefined ? null : f.payload.readUInt32BE(0)
  }

  /** The header list of a HEADERS frame (no CONTINUATION in these tests). */
  headers(f: Frame): Record<string, string> {
    const out: Record<string, string> = {}
    const { fields } = this.decoder.decode(f.payload)
    for (let i = 0; i < fields.length; i += 2) out[fields[i] as string] = fields[i + 1] as string
    return out
  }

  destroy(): void {
    this.socket.destroy()
  }
}

const isEnd = (id: number) => (f: Frame) =>
  f.id === id && (f.flags & Flag.END_STREAM) !== 0 && f.type !== FrameType.RST_STREAM

describe('h2 connection', () => {
  let h2: H2Server
  let tcp: net.Server
  let port: number
  const held: H2Stream[] = []
  let writes = 0
  const drainLog: string[] = []
  let countWrites = false

  before(async () => {
    h2 = new H2Server({
      maxConcurrentStreams: 4,
      onStream(stream, headers) {
        const path = String(headers[':path'])
        if (path === '/hold') {
          held.push(stream)
          return
        }
        if (path === '/drain') {
          stream.respond({ ':status': 200 })
          drainLog.push(`write ${stream.write(Buffer.alloc(2 << 20, 'd'))}`)
          stream.on('drain', () => {
            drainLog.push('drain')
            stream.end()
          })
          return
        }
        if (path.startsWith('/big:')) {
          stream.respond({ ':status': 200 })
          stream.write(Buffer.alloc(Number(path.slice(5)), 'b'))
          stream.end()
          return
        }
        const chunks: Buffer[] = []
        stream.on('data', (c: Buffer) => chunks.push(c))
        stream.on('end', () => {
          const body = Buffer.concat(chunks)
          stream.respond({ ':status': 200, 'x-path': path }, { waitForTrailers: true })
          stream.write(body)
          stream.once('wantTrailers', () => stream.sendTrailers({ 'x-bytes': body.length }))
          stream.end()
        })
      },
    })
    tcp = net.createServer((socket) => {
      const write = socket.write.bind(socket) as (b: Buffer) => boolean
      socket.write = ((b: Buffer) => {
        if (countWrites) writes++
        return write(b)
      }) as typeof socket.write
      h2.accept(socket)
    })
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r))
    port = (tcp.address() as net.AddressInfo).port
  })
  after(async () => {
    h2.destroy()
    await new Promise((r) => tcp.close(r))
  })

  test('requests cut at random points are answered', async (t) => {
    const rand = testRand(t)
    for (let round = 0; round < 30; round++) {
      const bodies = [1, 3, 5].map((id) => Buffer.alloc(rand.int(40_000), id))
      const bytes = Buffer.concat([
        HELLO,
        ...[1, 3, 5].map((id, i) => request(id, `/echo${id}`, bodies[i] as Buffer)),
      ])
      const peer = await Peer.connect(port)
      for (let at = 0; at < bytes.length;) {
        const n = 1 + rand.int(rand.int(2) === 0 ? 16 : 5000)
        peer.send(bytes.subarray(at, at + n))
        at += n
        if (rand.int(4) === 0) await new Promise((r) => setImmediate(r))
      }
      const fs = await peer.until((fs) => [1, 3, 5].every((id) => fs.some(isEnd(id))))
      if (fs === null) {
        const g = peer.frames.find((f) => f.type === FrameType.GOAWAY)
        assert.fail(
          `closed early: ${g?.payload.readUInt32BE(4)} ${g?.payload.subarray(8).toString()}`,
        )
      }
      for (const [i, id] of [1, 3, 5].entries()) {
        const data = Buffer.concat(
          fs.filter((f) => f.id === id && f.type === FrameType.DATA).map((f) => f.payload),
        )
        assert.deepEqual(data, bodies[i])
        const hs: Frame[] = fs.filter((f) => f.id === id && f.type === FrameType.HEADERS)
        assert.equal(hs.length, 2)
        assert.equal(peer.headers(hs[0]!)['x-path'], `/echo${id}`)
        assert.equal(peer.headers(hs[1]!)['x-bytes'], String(bodies[i]!.length))
      }
      peer.destroy()
    }
  })

  test('seeded garbage: always a clean connection error, never a throw', async (t) => {
    const rand = testRand(t)
    const codes = new Set<number>(Object.values(ErrorCode))
    for (let round = 0; round < 300; round++) {
      const peer = await Peer.connect(port)
      const parts: Buffer[] = []
      const mode = rand.int(3)
      if (mode > 0) parts.push(HELLO)
      for (let k = 0; k < 1 + rand.int(8); k++) {
        if (mode === 2) {
          // A frame of random type, flags, stream and payload, with a length that fits.
          const p = Buffer.alloc(rand.int(3) === 0 ? rand.int(9) : rand.int(300))
          for (let i = 0; i < p.length; i++) p[i] = rand.int(256)
          parts.push(frame(rand.int(11), rand.int(256), rand.int(8), p))
        } else {
          const p = Buffer.alloc(rand.int(64))
          for (let i = 0; i < p.length; i++) p[i] = rand.int(256)
          parts.push(p)
        }
      }
      // Then zeros: they complete any frame the garbage left unfinished, and then parse as
      // DATA on stream 0, a connection error, so every round must end in a GOAWAY.
      parts.push(Buffer.alloc(16384 + 2 * FRAME_HEADER_BYTES))
      const bytes = Buffer.concat(parts)
      for (let at = 0; at < bytes.length;) {
        const n = 1 + rand.int(rand.int(2) === 0 ? 100 : 20_000)
        peer.send(bytes.subarray(at, at + n))
        at += n
      }
      const g = await peer.goaway()
      assert.ok(g !== null, `round ${round}: closed without GOAWAY`)
      assert.ok(codes.has(g.code), `round ${round}: code ${g.code}`)
      assert.notEqual(g.code, ErrorCode.INTERNAL_ERROR, `round ${round}`)
      assert.ok(peer.closed)
    }
    // The server still serves.
    const peer = await Peer.connect(port)
    peer.send(Buffer.concat([HELLO, request(1, '/after', Buffer.from('ok'))]))
    assert.ok((await peer.until((fs) => fs.some(isEnd(1)))) !== null)
    peer.destroy()
  })

  const connectionErrors: [string, Buffer, number][] = [
    ['bad preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), ErrorCode.PROTOCOL_ERROR],
    [
      'first frame not SETTINGS',
      Buffer.concat([CLIENT_PREFACE, frame(FrameType.PING, 0, 0, Buffer.alloc(8))]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    ['DATA on stream 0', frame(FrameType.DATA, 0, 0, Buffer.from('x')), ErrorCode.PROTOCOL_ERROR],
    [
      'a frame past 16384 bytes',
      frame(FrameType.DATA, 0, 1, Buffer.alloc(16385)),
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    [
      'HPACK index 0',
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x80])),
      ErrorCode.COMPRESSION_ERROR,
    ],
    [
      'HPACK string past the block',
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x00, 0x7e, 0x61])),
      ErrorCode.COMPRESSION_ERROR,
    ],
    [
      'a frame between HEADERS and CONTINUATION',
      Buffer.concat([
        frame(FrameType.HEADERS, 0, 1, Buffer.from([0x82])),
        frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
      ]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'CONTINUATION without HEADERS',
      frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.from([0x82])),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'an endless header block',
      Buffer.concat([
        frame(FrameType.HEADERS, 0, 1, Buffer.alloc(16384, 0x82)),
        ...Array.from({ length: 20 }, () =>
          frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16384, 0x82)),
        ),
      ]),
      ErrorCode.ENHANCE_YOUR_CALM,
    ],
    [
      'WINDOW_UPDATE of 0 on the connection',
      frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0)),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'connection window past 2^31-1',
      frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0x7fff_ffff)),
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    ['PING of 7 bytes', frame(FrameType.PING, 0, 0, Buffer.alloc(7)), ErrorCode.FRAME_SIZE_ERROR],
    [
      'SETTINGS_INITIAL_WINDOW_SIZE 2^31',
      settings([[Setting.INITIAL_WINDOW_SIZE, 0x8000_0000]]),
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    [
      'SETTINGS_MAX_FRAME_SIZE 100',
      settings([[Setting.MAX_FRAME_SIZE, 100]]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'SETTINGS of 5 bytes',
      frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)),
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    [
      'SETTINGS ack with a payload',
      frame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(6)),
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    [
      'RST_STREAM on an idle stream',
      frame(FrameType.RST_STREAM, 0, 5, u32(8)),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'DATA on an idle stream',
      frame(FrameType.DATA, 0, 7, Buffer.from('x')),
      ErrorCode.PROTOCOL_ERROR,
    ],
    ['HEADERS on an even stream', request(2, '/echo', null), ErrorCode.PROTOCOL_ERROR],
    [
      'PUSH_PROMISE from a client',
      frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'HEADERS padding past the frame',
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, Buffer.from([5, 0x82])),
      ErrorCode.PROTOCOL_ERROR,
    ],
  ]
  for (const [name, bytes, code] of connectionErrors) {
    test(`connection error: ${name}`, async () => {
      const peer = await Peer.connect(port)
      const preface = name === 'bad preface' || name === 'first frame not SETTINGS'
      peer.send(preface ? bytes : Buffer.concat([HELLO, bytes]))
      const g = await peer.goaway()
      assert.deepEqual(g?.code, code)
      assert.ok(peer.closed)
    })
  }

  const selfDependent = Buffer.concat([
    Buffer.from([0, 0, 0, 1, 16]), // depends on stream 1, weight 16
    block({ ':method': 'POST', ':scheme': 'http', ':path': '/echo' }),
  ])
  const streamErrors: [string, Buffer, number][] = [
    [
      'HEADERS whose priority names its own stream',
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM | Flag.PRIORITY,
        1,
        selfDependent,
      ),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'PRIORITY naming its own stream',
      Buffer.concat([
        frame(
          FrameType.HEADERS,
          Flag.END_HEADERS,
          1,
          block({ ':method': 'POST', ':scheme': 'http', ':path': '/echo' }),
        ),
        frame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 1, 16])),
      ]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'an upper-case header name',
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        1,
        block({ ':method': 'POST', ':scheme': 'http', ':path': '/', Foo: 'x' }),
      ),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'a connection header',
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        1,
        block({ ':method': 'POST', ':scheme': 'http', ':path': '/', connection: 'close' }),
      ),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'a pseudo header after a regular one',
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        1,
        block({ ':method': 'POST', a: 'b', ':scheme': 'http', ':path': '/' }),
      ),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'no :path',
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        1,
        block({ ':method': 'POST', ':scheme': 'http' }),
      ),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'trailers without END_STREAM',
      Buffer.concat([
        frame(
          FrameType.HEADERS,
          Flag.END_HEADERS,
          1,
          block({ ':method': 'POST', ':scheme': 'http', ':path': '/echo' }),
        ),
        frame(FrameType.HEADERS, Flag.END_HEADERS, 1, block({ a: 'b' })),
      ]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'WINDOW_UPDATE of 0 on a stream',
      Buffer.concat([
        frame(
          FrameType.HEADERS,
          Flag.END_HEADERS,
          1,
          block({ ':method': 'POST', ':scheme': 'http', ':path': '/echo' }),
        ),
        frame(FrameType.WINDOW_UPDATE, 0, 1, u32(0)),
      ]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      'PRIORITY of 4 bytes',
      frame(FrameType.PRIORITY, 0, 1, Buffer.alloc(4)),
      ErrorCode.FRAME_SIZE_ERROR,
    ],
  ]
  for (const [name, bytes, code] of streamErrors) {
    test(`stream error: ${name}`, async () => {
      const peer = await Peer.connect(port)
      peer.send(Buffer.concat([HELLO, bytes]))
      assert.equal(await peer.rst(1), code)
      // The connection goes on.
      peer.send(request(3, '/echo', Buffer.from('still here')))
      assert.ok((await peer.until((fs) => fs.some(isEnd(3)))) !== null)
      peer.destroy()
    })
  }

  test('PING is answered with its payload; SETTINGS with an ack', async () => {
    const peer = await Peer.connect(port)
    peer.send(Buffer.concat([HELLO, frame(FrameType.PING, 0, 0, Buffer.from('12345678'))]))
    const fs = await peer.until((fs) => fs.some((f) => f.type === FrameType.PING))
    const ping = fs!.find((f) => f.type === FrameType.PING)!
    assert.equal(ping.flags, Flag.ACK)
    assert.equal(ping.payload.toString(), '12345678')
    assert.ok(fs!.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK))
    // Our SETTINGS come first.
    assert.equal(fs![0]!.type, FrameType.SETTINGS)
    peer.destroy()
  })

  test('a zero client window holds DATA until WINDOW_UPDATEs arrive', async () => {
    const peer = await Peer.connect(port)
    peer.send(
      Buffer.concat([
        CLIENT_PREFACE,
        settings([[Setting.INITIAL_WINDOW_SIZE, 0]]),
        request(1, '/big:100000', null),
      ]),
    )
    await peer.until((fs) => fs.some((f) => f.type === FrameType.HEADERS && f.id === 1))
    // Nothing may come: send a PING and see its ack arrive with no DATA before it.
    peer.send(frame(FrameType.PING, 0, 0, Buffer.alloc(8)))
    let fs = await peer.until((fs) => fs.some((f) => f.type === FrameType.PING))
    assert.ok(!fs!.some((f) => f.type === FrameType.DATA))
    // 30000 bytes of stream credit: exactly that much comes (frames of at most 16384).
    peer.send(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(30_000)))
    const dataBytes = (fs: Frame[]): number =>
      fs.filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0)
    fs = await peer.until((fs) => dataBytes(fs) >= 30_000)
    assert.ok(fs!.filter((f) => f.type === FrameType.DATA).every((f) => f.payload.length <= 16384))
    // The connection window (65535) is the limit now.
    peer.send(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(1 << 20)))
    fs = await peer.until((fs) => dataBytes(fs) >= 65_535)
    peer.send(frame(FrameType.PING, 0, 0, Buffer.alloc(8, 1)))
    fs = await peer.until((fs) => fs.filter((f) => f.type === FrameType.PING).length === 2)
    assert.equal(dataBytes(fs!), 65_535)
    peer.send(frame(FrameType.WINDOW_UPDATE, 0, 0, u32(1 << 20)))
    fs = await peer.until((fs) => fs.some(isEnd(1)))
    assert.equal(dataBytes(fs!), 100_000)
    peer.destroy()
  })

  test("write() says false past 1 MiB queued; 'drain' when the window took it", async () => {
    const peer = await Peer.connect(port)
    peer.send(
      Buffer.concat([
        CLIENT_PREFACE,
        settings([[Setting.INITIAL_WINDOW_SIZE, 0]]),
        request(1, '/drain', null),
      ]),
    )
    await peer.until((fs) => fs.some((f) => f.type === FrameType.HEADERS && f.id === 1))
    assert.deepEqual(drainLog, ['write false'])
    peer.send(
      Buffer.concat([
        frame(FrameType.WINDOW_UPDATE, 0, 1, u32(4 << 20)),
        frame(FrameType.WINDOW_UPDATE, 0, 0, u32(4 << 20)),
      ]),
    )
    const fs = await peer.until((fs) => fs.some(isEnd(1)))
    assert.deepEqual(drainLog, ['write false', 'drain'])
    const n = fs!.filter((f) => f.type === FrameType.DATA).reduce((k, f) => k + f.payload.length, 0)
    assert.equal(n, 2 << 20)
    peer.destroy()
  })

  test('streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused', async () => {
    const peer = await Peer.connect(port)
    held.length = 0
    peer.send(Buffer.concat([HELLO, ...[1, 3, 5, 7, 9].map((id) => request(id, '/hold', null))]))
    assert.equal(await peer.rst(9), ErrorCode.REFUSED_STREAM)
    assert.equal(held.length, 4)
    // A finished stream frees a place.
    held[0]!.respond({ ':status': 200 }, { endStream: true })
    peer.send(request(11, '/echo', Buffer.from('x')))
    assert.ok((await peer.until((fs) => fs.some(isEnd(11)))) !== null)
    for (const s of held) s.close()
    peer.destroy()
  })

  test('graceful close: GOAWAY, the open stream finishes, then the socket ends', async () => {
    const peer = await Peer.connect(port)
    held.length = 0
    peer.send(Buffer.concat([HELLO, request(1, '/hold', null)]))
    while (held.length === 0) await new Promise((r) => setImmediate(r))
    h2.close()
    const fs = await peer.until((fs) => fs.some((f) => f.type === FrameType.GOAWAY))
    const g = fs!.find((f) => f.type === FrameType.GOAWAY)!
    assert.equal(g.payload.readUInt32BE(0), 1)
    assert.equal(g.payload.readUInt32BE(4), ErrorCode.NO_ERROR)
    // A new stream after the GOAWAY is refused; the held one still answers.
    peer.send(request(3, '/echo', Buffer.from('late')))
    assert.equal(await peer.rst(3), ErrorCode.REFUSED_STREAM)
    held[0]!.respond({ ':status': 200 }, { endStream: true })
    await peer.until(() => false)
    assert.ok(peer.frames.some(isEnd(1)))
    assert.ok(peer.closed)
  })

  test("one turn's responses leave in one socket write", async () => {
    const peer = await Peer.connect(port)
    peer.send(HELLO)
    await peer.until((fs) => fs.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK))
    const ids = Array.from({ length: 20 }, (_, i) => 1 + 2 * i)
    writes = 0
    countWrites = true
    peer.send(Buffer.concat(ids.map((id) => request(id, '/echo', Buffer.from(`m${id}`)))))
    await peer.until((fs) => ids.every((id) => fs.some(isEnd(id))))
    countWrites = false
    assert.equal(writes, 1)
    peer.destroy()
  })
})
