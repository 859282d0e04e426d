/**
 * A minimal gRPC unary client on node:http2, for the load generator: one HTTP/2 session per
 * connection, any number of concurrent streams on it, request frames encoded by the caller
 * (usually once, up front), responses either dropped or kept whole.
 *
 * Why not @grpc/grpc-js: it costs tens of microseconds per call on the client too (channel,
 * interceptors, serialisers, per-call objects), and a generator that spends a core on itself
 * measures itself. Here a call is one `session.request`, the frame written with `end`, and four
 * listeners that are module-level functions (no closures per call): the per-call state rides on
 * the stream object. The generator's ceiling against a no-op server is measured in every run
 * (server.bench.ts), so what is left of this cost shows.
 *
 * gRPC over HTTP/2, as grpc-go answers: HEADERS (:status 200, content-type application/grpc),
 * DATA frames carrying 5-byte-prefixed messages, then trailers with grpc-status and grpc-message
 * (percent-encoded). An error may come as a trailers-only response: grpc-status in the headers.
 */
import http2 from 'node:http2'
import type { ClientHttp2Session, ClientHttp2Stream, OutgoingHttpHeaders } from 'node:http2'

/** gRPC status codes the client itself assigns. */
export const GRPC_OK = 0
export const GRPC_UNKNOWN = 2
export const GRPC_INTERNAL = 13
export const GRPC_UNAVAILABLE = 14

/** The outcome of one call: status 0 and the response message, or a status and its message. */
export type UnaryDone = (status: number, message: string, body: Buffer | null) => void

/** A gRPC method: its path, and its request headers for node:http2 (built once). */
export interface GrpcMethod {
  readonly path: string
  readonly headers: OutgoingHttpHeaders
}

export function grpcMethod(path: string): GrpcMethod {
  return {
    path,
    headers: {
      [http2.constants.HTTP2_HEADER_METHOD]: 'POST',
      [http2.constants.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc',
      te: 'trailers',
    },
  }
}

/** What the load needs of a connection; GrpcConnection (node:http2) and H2Connection (raw). */
export interface UnaryConnection {
  readonly url: string
  unary(method: GrpcMethod, frame: Buffer, keepBody: boolean, done: UnaryDone): void
  call(
    method: GrpcMethod,
    frame: Buffer,
  ): Promise<{ status: number; message: string; body: Buffer | null }>
  close(): Promise<void>
}

/** A gRPC message frame: the 5-byte prefix (not compressed, big-endian length) and the body. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length)
  frame[0] = 0
  frame.writeUInt32BE(message.length, 1)
  frame.set(message, 5)
  return frame
}

/** The message inside a response's DATA: the first frame's body, or null when malformed. */
export function unframe(data: Buffer): Buffer | null {
  if (data.length < 5 || data[0] !== 0) return null
  const len = data.readUInt32BE(1)
  return data.length >= 5 + len ? data.subarray(5, 5 + len) : null
}

interface CallState {
  status: number
  message: string
  keepBody: boolean
  chunks: Buffer[] | null
  done: UnaryDone
}

type CallStream = ClientHttp2Stream & { call: CallState }

const REQUEST_OPTIONS = { endStream: false } as const

export class GrpcConnection implements UnaryConnection {
  private constructor(
    readonly url: string,
    private readonly session: ClientHttp2Session,
  ) {}

  /** Opens the HTTP/2 session (plain TCP, h2c with prior knowledge, as gRPC does). */
  static connect(url: string, timeoutMs = 10_000): Promise<GrpcConnection> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(url, {
        // Large windows: flow control must not pace a benchmark; the default 10 MB of session
        // memory is enough for thousands of small streams, but not if a peer stalls.
        settings: { enablePush: false, initialWindowSize: 4 << 20 },
        maxSessionMemory: 64,
      })
      const timer = setTimeout(() => {
        session.destroy()
        reject(new Error(`${url}: no HTTP/2 connection within ${timeoutMs} ms`))
      }, timeoutMs)
      session.once('error', (err) => {
        clearTimeout(timer)
        reject(new Error(`${url}: ${err.message}`))
      })
      session.once('connect', () => {
        clearTimeout(timer)
        session.setLocalWindowSize(64 << 20)
        // Later session errors fail the calls in flight through their streams' 'close'.
        session.on('error', () => {})
        resolve(new GrpcConnection(url, session))
      })
    })
  }

  /**
   * Starts a unary call: `frame` is the whole request DATA (grpcFrame), which must not change
   * until `done` runs (it may be shared by any number of calls). `keepBody` collects the
   * response message; without it the response bytes are dropped as they arrive.
   */
  unary(method: GrpcMethod, frame: Buffer, keepBody: boolean, done: UnaryDone): void {
    let stream: CallStream
    try {
      stream = this.session.request(method.headers, REQUEST_OPTIONS) as CallStream
    } catch (err) {
      // A closed or destroyed session throws synchronously.
      queueMicrotask(() => done(GRPC_UNAVAILABLE, (err as Error).message, null))
      return
    }
    stream.call = { status: -1, message: '', keepBody, chunks: null, done }
    stream.on('response', onResponse)
    stream.on('data', onData)
    stream.on('trailers', onTrailers)
    stream.on('error', onError)
    stream.on('close', onClose)
    stream.end(frame)
  }

  /** Convenience for setup steps: one call, resolved with its status, message and body. */
  call(
    method: GrpcMethod,
    frame: Buffer,
  ): Promise<{ status: number; message: string; body: Buffer | null }> {
    return new Promise((resolve) =>
      this.unary(method, frame, true, (status, message, body) =>
        resolve({ status, message, body }),
      ),
    )
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.session.closed || this.session.destroyed) return resolve()
      const timer = setTimeout(() => this.session.destroy(), 2000)
      this.session.close(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  destroy(): void {
    this.session.destroy()
  }
}

function takeStatus(call: CallState, headers: http2.IncomingHttpHeaders): boolean {
  const s = headers['grpc-status']
  if (s === undefined) return false
  call.status = Number(s)
  const m = headers['grpc-message']
  if (typeof m === 'string' && m.length > 0) {
    try {
      call.message = decodeURIComponent(m)
    } catch {
      call.message = m
    }
  }
  return true
}

function onResponse(this: CallStream, headers: http2.IncomingHttpHeaders): void {
  const call = this.call
  if (takeStatus(call, headers)) return // trailers-only
  const httpStatus = Number(headers[':status'])
  if (httpStatus !== 200) {
    call.status = GRPC_UNKNOWN
    call.message = `HTTP status ${httpStatus}`
  }
}

function onData(this: CallStream, chunk: Buffer): void {
  const call = this.call
  if (!call.keepBody) return
  if (call.chunks === null) call.chunks = [chunk]
  else call.chunks.push(chunk)
}

function onTrailers(this: CallStream, headers: http2.IncomingHttpHeaders): void {
  takeStatus(this.call, headers)
}

function onError(this: CallStream, err: Error): void {
  const call = this.call
  if (call.message === '') call.message = err.message
}

function onClose(this: CallStream): void {
  const call = this.call
  let status = call.status
  let message = call.message
  if (status === -1) {
    status = GRPC_UNAVAILABLE
    if (message === '') message = `stream closed without a status (rst code ${this.rstCode})`
  }
  let body: Buffer | null = null
  if (status === GRPC_OK && call.keepBody) {
    const data = call.chunks === null ? Buffer.alloc(0) : Buffer.concat(call.chunks)
    body = unframe(data)
    if (body === null) {
      status = GRPC_INTERNAL
      message = `malformed response DATA (${data.length} bytes)`
    }
  }
  call.done(status, message, body)
}
