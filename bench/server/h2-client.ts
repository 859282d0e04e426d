/**
 * A gRPC unary client that speaks HTTP/2 itself over a TCP socket (h2c with prior knowledge, as
 * gRPC does): the load generator's default, because node:http2's client costs tens of
 * microseconds of CPU per call (a Duplex stream, header validation and copies, AsyncResources
 * per request), which on this 2-core machine is CPU the servers under test need. Measured side
 * by side by `npm run bench -- server` (`--client=node` selects grpc-client.ts instead).
 *
 * What it does: the connection preface and SETTINGS (a large stream window, no push), one
 * connection-level WINDOW_UPDATE up front and more as responses arrive; per call one buffer
 * holding HEADERS (a literal header block built once per method, hpack.ts) and DATA with
 * END_STREAM, writes of one event-loop turn coalesced into one socket write. Responses: HEADERS,
 * DATA, trailers (HPACK-decoded, dynamic table kept), SETTINGS acked, PING answered,
 * WINDOW_UPDATE honoured for the connection's send window (requests wait when it is spent),
 * RST_STREAM and GOAWAY fail the calls they end. Not implemented (a benchmark needs none of it):
 * priorities, server push, padding in what it sends, request bodies larger than the peer's
 * initial stream window.
 */
import net from 'node:net'
import { GRPC_INTERNAL, GRPC_OK, GRPC_UNAVAILABLE, GRPC_UNKNOWN, unframe } from './grpc-client.js'
import type { GrpcMethod, UnaryConnection, UnaryDone } from './grpc-client.js'
import { HpackDecoder, encodeHeaders, encodedSizeMax } from '../../src/api/index.js'

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

const DATA = 0x0
const HEADERS = 0x1
const RST_STREAM = 0x3
const SETTINGS = 0x4
const PUSH_PROMISE = 0x5
const PING = 0x6
const GOAWAY = 0x7
const WINDOW_UPDATE = 0x8
const CONTINUATION = 0x9

const END_STREAM = 0x1
const ACK = 0x1
const END_HEADERS = 0x4
const PADDED = 0x8
const PRIORITY_FLAG = 0x20

const SETTINGS_INITIAL_WINDOW_SIZE = 0x4
const SETTINGS_ENABLE_PUSH = 0x2

/** Our stream window: responses never wait for a stream WINDOW_UPDATE. */
const STREAM_WINDOW = 1 << 30
/** The connection window we keep open; topped up once half of it is used. */
const CONNECTION_WINDOW = 1 << 30
const DEFAULT_WINDOW = 65_535

interface Call {
  keepBody: boolean
  chunks: Buffer[] | null
  status: number
  message: string
  done: UnaryDone
}

interface Pending {
  block: Buffer
  frame: Buffer
  call: Call
}

export class H2Connection implements UnaryConnection {
  private readonly calls = new Map<number, Call>()
  /** The decoder of src/api/h2 (the server's), with HTTP/2's default table and no list limit. */
  private readonly hpack = new HpackDecoder(4096, 0x7fff_ffff)
  private readonly blocks = new Map<string, Buffer>()
  private nextStreamId = 1
  private out: Buffer[] = []
  private flushScheduled = false
  private rest: Buffer | null = null
  /** A header block in CONTINUATIONs: its stream, flags and pieces so far. */
  private continued: { stream: number; endStream: boolean; parts: Buffer[] } | null = null
  private sendWindow = DEFAULT_WINDOW
  private peerStreamWindow = DEFAULT_WINDOW
  private readonly blocked: Pending[] = []
  private received = 0
  private failed: string | null = null

  private constructor(
    readonly url: string,
    private readonly socket: net.Socket,
    private readonly authority: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err) => this.fail(err.message))
    socket.on('close', () => this.fail('connection closed'))
  }

  static connect(url: string, timeoutMs = 10_000): Promise<H2Connection> {
    const u = new URL(url)
    if (u.protocol !== 'http:') throw new Error(`${url}: only http:// (h2c) is supported`)
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: u.hostname, port: Number(u.port || 80) })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error(`${url}: no connection within ${timeoutMs} ms`))
      }, timeoutMs)
      socket.once('error', (err) => {
        clearTimeout(timer)
        reject(new Error(`${url}: ${err.message}`))
      })
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.setNoDelay(true)
        const settings = Buffer.alloc(12)
        settings.writeUInt16BE(SETTINGS_ENABLE_PUSH, 0)
        settings.writeUInt32BE(0, 2)
        settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 6)
        settings.writeUInt32BE(STREAM_WINDOW, 8)
        const increment = Buffer.alloc(4)
        increment.writeUInt32BE(CONNECTION_WINDOW - DEFAULT_WINDOW, 0)
        socket.write(
          Buffer.concat([
            PREFACE,
            frame(SETTINGS, 0, 0, settings),
            frame(WINDOW_UPDATE, 0, 0, increment),
          ]),
        )
        resolve(new H2Connection(url, socket, u.host))
      })
    })
  }

  /**
   * Starts a unary call of `method` with the request DATA `body` (a gRPC frame, grpcFrame). The
   * buffer is copied into the outgoing frames at once; it may be reused.
   */
  unary(method: GrpcMethod, body: Buffer, keepBody: boolean, done: UnaryDone): void {
    const path = method.path
    const call: Call = { keepBody, chunks: null, status: -1, message: '', done }
    if (this.failed !== null) {
      const msg = this.failed
      queueMicrotask(() => done(GRPC_UNAVAILABLE, msg, null))
      return
    }
    if (body.length > this.peerStreamWindow) {
      queueMicrotask(() => done(GRPC_INTERNAL, 'request larger than the stream window', null))
      return
    }
    let block = this.blocks.get(path)
    if (block === undefined) {
      block = requestBlock(path, this.authority)
      this.blocks.set(path, block)
    }
    if (this.blocked.length > 0 || body.length > this.sendWindow) {
      this.blocked.push({ block, frame: body, call })
      return
    }
    this.send(block, body, call)
  }

  /** Convenience for setup steps: one call, resolved with its status, message and body. */
  call(
    method: GrpcMethod,
    body: Buffer,
  ): Promise<{ status: number; message: string; body: Buffer | null }> {
    return new Promise((resolve) =>
      this.unary(method, body, true, (status, message, b) => resolve({ status, message, body: b })),
    )
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve()
      this.socket.once('close', () => resolve())
      // GOAWAY (last stream 0, NO_ERROR), then end: servers close their side in turn.
      const payload = Buffer.alloc(8)
      this.socket.end(frame(GOAWAY, 0, 0, payload))
      setTimeout(() => this.socket.destroy(), 2000).unref()
    })
  }

  destroy(): void {
    this.socket.destroy()
  }

  private send(block: Buffer, body: Buffer, call: Call): void {
    const id = this.nextStreamId
    this.nextStreamId += 2
    this.calls.set(id, call)
    this.sendWindow -= body.length
    const buf = Buffer.allocUnsafe(18 + block.length + body.length)
    writeHead(buf, 0, block.length, HEADERS, END_HEADERS, id)
    block.copy(buf, 9)
    const d = 9 + block.length
    writeHead(buf, d, body.length, DATA, END_STREAM, id)
    body.copy(buf, d + 9)
    this.write(buf)
  }

  private write(buf: Buffer): void {
    this.out.push(buf)
    if (this.flushScheduled) return
    this.flushScheduled = true
    // Every call started while handling one read goes out in one write.
    queueMicrotask(() => this.flush())
  }

  private flush(): void {
    this.flushScheduled = false
    const out = this.out
    if (out.length === 0 || this.socket.destroyed) return
    this.out = []
    this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out))
  }

  private onData(chunk: Buffer): void {
    let buf = chunk
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk])
      this.rest = null
    }
    let pos = 0
    try {
      while (buf.length - pos >= 9) {
        const len = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!
        if (buf.length - pos < 9 + len) break
        const type = buf[pos + 3]!
        const flags = buf[pos + 4]!
        const stream = buf.readUInt32BE(pos + 5) & 0x7fff_ffff
        this.onFrame(type, flags, stream, buf.subarray(pos + 9, pos + 9 + len))
        pos += 9 + len
      }
    } catch (err) {
      this.fail(`protocol error: ${(err as Error).message}`)
      this.socket.destroy()
      return
    }
    if (pos < buf.length) this.rest = buf.subarray(pos)
  }

  private onFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    if (this.continued !== null && type !== CONTINUATION) {
      throw new Error(`frame type ${type} inside a header block`)
    }
    switch (type) {
      case DATA: {
        this.received += payload.length
        if (this.received >= CONNECTION_WINDOW / 2) {
          const inc = Buffer.allocUnsafe(4)
          inc.writeUInt32BE(this.received, 0)
          this.received = 0
          this.write(frame(WINDOW_UPDATE, 0, 0, inc))
        }
        const call = this.calls.get(stream)
        if (call === undefined) return
        if (call.keepBody) {
          const data = flags & PADDED ? unpad(payload) : payload
          // The socket's buffer is not ours to keep: copy what we keep.
          const copy = Buffer.from(data)
          if (call.chunks === null) call.chunks = [copy]
          else call.chunks.push(copy)
        }
        if (flags & END_STREAM) this.complete(stream, call)
        return
      }
      case HEADERS: {
        let block = flags & PADDED ? unpad(payload) : payload
        if (flags & PRIORITY_FLAG) block = block.subarray(5)
        if (flags & END_HEADERS) this.onHeaders(stream, (flags & END_STREAM) !== 0, block)
        else
          this.continued = {
            stream,
            endStream: (flags & END_STREAM) !== 0,
            parts: [Buffer.from(block)],
          }
        return
      }
      case CONTINUATION: {
        const c = this.continued
        if (c === null || c.stream !== stream) throw new Error('unexpected CONTINUATION')
        c.parts.push(Buffer.from(payload))
        if (flags & END_HEADERS) {
          this.continued = null
          this.onHeaders(stream, c.endStream, Buffer.concat(c.parts))
        }
        return
      }
      case RST_STREAM: {
        const call = this.calls.get(stream)
        if (call === undefined) return
        if (call.status === -1) {
          call.status = GRPC_UNAVAILABLE
          call.message = `stream reset (code ${payload.readUInt32BE(0)})`
        }
        this.complete(stream, call)
        return
      }
      case SETTINGS: {
        if (flags & ACK) return
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          if (payload.readUInt16BE(i) === SETTINGS_INITIAL_WINDOW_SIZE) {
            this.peerStreamWindow = payload.readUInt32BE(i + 2)
          }
        }
        this.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)))
        return
      }
      case PING: {
        if (!(flags & ACK)) this.write(frame(PING, ACK, 0, Buffer.from(payload)))
        return
      }
      case GOAWAY: {
        const last = payload.readUInt32BE(0) & 0x7fff_ffff
        const code = payload.readUInt32BE(4)
        this.failed = `GOAWAY (code ${code})`
        for (const [id, call] of [...this.calls]) {
          if (id > last) {
            call.status = GRPC_UNAVAILABLE
            call.message = this.failed
            this.complete(id, call)
          }
        }
        return
      }
      case WINDOW_UPDATE: {
        if (stream !== 0) return // our requests fit the stream window whole
        this.sendWindow += payload.readUInt32BE(0) & 0x7fff_ffff
        while (this.blocked.length > 0 && this.blocked[0]!.frame.length <= this.sendWindow) {
          const p = this.blocked.shift()!
          this.send(p.block, p.frame, p.call)
        }
        return
      }
      case PUSH_PROMISE:
        throw new Error('PUSH_PROMISE though push is disabled')
      default:
        return // PRIORITY and unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  private onHeaders(stream: number, endStream: boolean, block: Buffer): void {
    // Decoded even when the call is gone: the dynamic table must see every block.
    const { fields } = this.hpack.decode(block)
    const call = this.calls.get(stream)
    if (call === undefined) return
    takeFields(call, fields)
    if (endStream) this.complete(stream, call)
  }

  private complete(stream: number, call: Call): void {
    this.calls.delete(stream)
    let status = call.status
    let message = call.message
    if (status === -1) {
      status = GRPC_UNAVAILABLE
      message = 'response ended without grpc-status'
    }
    let body: Buffer | null = null
    if (status === GRPC_OK && call.keepBody) {
      const data =
        call.chunks === null
          ? Buffer.alloc(0)
          : call.chunks.length === 1
            ? call.chunks[0]!
            : Buffer.concat(call.chunks)
      body = unframe(data)
      if (body === null) {
        status = GRPC_INTERNAL
        message = `malformed response DATA (${data.length} bytes)`
      }
    }
    call.done(status, message, body)
  }

  private fail(message: string): void {
    if (this.failed === null) this.failed = message
    const calls = [...this.calls]
    this.calls.clear()
    const blocked = this.blocked.splice(0)
    for (const [, call] of calls) call.done(GRPC_UNAVAILABLE, this.failed, null)
    for (const p of blocked) p.call.done(GRPC_UNAVAILABLE, this.failed, null)
  }
}

/** A request's header block, encoded once per method and reused for every call. */
function requestBlock(path: string, authority: string): Buffer {
  const headers = {
    ':method': 'POST',
    ':scheme': 'http',
    ':path': path,
    ':authority': authority,
    'content-type': 'application/grpc',
    te: 'trailers',
  }
  const buf = Buffer.allocUnsafe(encodedSizeMax(headers))
  return buf.subarray(0, encodeHeaders(buf, 0, headers, false))
}

/** Fields flat, name then value (the decoder's DecodedHeaders.fields). */
function takeFields(call: Call, fields: readonly string[]): void {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i] as string
    const value = fields[i + 1] as string
    if (name === 'grpc-status') call.status = Number(value)
    else if (name === 'grpc-message') {
      try {
        call.message = decodeURIComponent(value)
      } catch {
        call.message = value
      }
    } else if (name === ':status' && value !== '200' && call.status === -1) {
      call.status = GRPC_UNKNOWN
      call.message = `HTTP status ${value}`
    }
  }
}

function writeHead(
  buf: Buffer,
  at: number,
  len: number,
  type: number,
  flags: number,
  id: number,
): void {
  buf[at] = (len >>> 16) & 0xff
  buf[at + 1] = (len >>> 8) & 0xff
  buf[at + 2] = len & 0xff
  buf[at + 3] = type
  buf[at + 4] = flags
  buf.writeUInt32BE(id, at + 5)
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(9 + payload.length)
  writeHead(buf, 0, payload.length, type, flags, stream)
  payload.copy(buf, 9)
  return buf
}

function unpad(payload: Buffer): Buffer {
  const pad = payload[0]!
  if (pad + 1 > payload.length) throw new Error('padding longer than the frame')
  return payload.subarray(1, payload.length - pad)
}
