/**
 * A gRPC server over HTTP/2 (our own, src/api/h2, by default; node:http2 on request), with
 * HTTP/1.1 on the same plaintext port.
 *
 * Each call is a `ServerCall` (one HTTP/2 stream): it reads length-prefixed messages through a
 * MessageReader and answers with a status in trailers, or in a trailers-only response when it
 * fails before any message was sent. Unary methods are built on it; the server-streaming and
 * bidirectional methods of the next issue (Watch, LeaseKeepAlive) use the same call, sending
 * several messages and reading messages as they arrive.
 *
 * What clients notice is grpc-go's behaviour (1.26, as etcd 3.4 ships it): the texts of
 * UNIMPLEMENTED for an unknown service or method, RESOURCE_EXHAUSTED for a message over
 * maxRecvBytes, the compressed-flag answers, INTERNAL "grpc: error unmarshalling request: ..."
 * for a request that does not decode; a handler's RpcError goes out as it is, any other error
 * as UNKNOWN with its message (grpc-go's status.Convert).
 */

import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import { ApiError } from '../api-error.js'
import { decodeMessage, encodeMessage, type MessageCodec } from '../proto/wire.js'
import {
  MESSAGE_HEADER_BYTES,
  MessageReader,
  encodeGrpcMessage,
  framePrefix,
  parseGrpcTimeout,
} from './message-frames.js'
import { GrpcStatus, RpcError } from './rpc-error.js'
import { sniffConnection } from './sniff.js'
import type { CallStream } from '../h2/call-stream.js'
import { H2Server } from '../h2/h2-server.js'

/** The logger the server reports through (pino's shape: fields, then the message). */
export interface ApiLogger {
  warn(fields: object, message: string): void
  debug(fields: object, message: string): void
}

const silentLogger: ApiLogger = { warn() {}, debug() {} }

export interface RpcServerOptions {
  /** The largest request message accepted (etcd: --max-request-bytes + 512 KiB). */
  maxRecvBytes: number
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection (grpc-go's default: unlimited). */
  maxConcurrentStreams?: number
  /** The HTTP/2 implementation: ours (src/api/h2, the default) or node:http2 (for comparison). */
  http2?: 'own' | 'node'
  logger?: ApiLogger
}

/** What a handler knows about its call. */
export interface CallInfo {
  /** The method's path, '/etcdserverpb.KV/Range'. */
  readonly path: string
  /** The request's headers (gRPC metadata), lower-case names, as node:http2 gives them. */
  readonly metadata: http2.IncomingHttpHeaders
  /** Aborted when the client cancels (RST_STREAM), the deadline passes or the server closes. */
  readonly signal: AbortSignal
  /** The client's deadline (Date.now() milliseconds), from grpc-timeout; undefined if none. */
  readonly deadline: number | undefined
  /** The client's address, "ip:port". */
  readonly peer: string
}

export type UnaryHandler<Q, R> = (req: Q, call: CallInfo) => R | Promise<R>

export interface HttpRequest {
  readonly method: string
  /** The path without the query. */
  readonly path: string
  readonly query: string
  readonly headers: http.IncomingHttpHeaders
}

export interface HttpResponse {
  status: number
  headers?: Record<string, string>
  body: string | Uint8Array
}

export type HttpHandler = (req: HttpRequest) => HttpResponse | Promise<HttpResponse>

interface UnaryMethod {
  readonly kind: 'unary'
  readonly req: MessageCodec<unknown>
  readonly res: MessageCodec<unknown>
  readonly handler: UnaryHandler<unknown, unknown>
}

type Method = UnaryMethod

const GRPC_CONTENT_TYPE = 'application/grpc'

export class RpcServer {
  private readonly maxRecvBytes: number
  private readonly logger: ApiLogger
  private readonly methods = new Map<string, Method>()
  private readonly services = new Set<string>()
  private readonly httpRoutes = new Map<string, HttpHandler>()
  private readonly tcp: net.Server
  private readonly h2: http2.Http2Server | null = null
  private readonly ownH2: H2Server | null = null
  private readonly h1: http.Server
  private readonly sessions = new Set<http2.ServerHttp2Session>()
  private readonly calls = new Set<ServerCall>()
  private listening = false
  private closed = false

  constructor(opts: RpcServerOptions) {
    if (!Number.isSafeInteger(opts.maxRecvBytes) || opts.maxRecvBytes <= 0) {
      throw new RangeError(`maxRecvBytes (${opts.maxRecvBytes}) must be a positive integer`)
    }
    this.maxRecvBytes = opts.maxRecvBytes
    this.logger = opts.logger ?? silentLogger
    if (opts.http2 === 'node') {
      this.h2 = http2.createServer({
        settings: {
          maxConcurrentStreams: opts.maxConcurrentStreams ?? 0xffff_ffff,
        },
        // The frame reader holds a stream's bytes until a message is whole; HTTP/2 flow control
        // bounds what a client may send ahead of us.
        maxSessionMemory: 64,
      })
      this.h2.on('session', (session) => this.onSession(session))
      this.h2.on('stream', (stream, headers) => this.onStream(stream, headers))
      this.h2.on('sessionError', (err) => this.logger.debug({ err }, 'http2 session error'))
    } else {
      // node:http2 refuses an :authority that is not host[:port], and etcdctl 3.4 sends
      // "http://127.0.0.1:2379" for per-endpoint calls (endpoint status, endpoint health).
      this.ownH2 = new H2Server({
        maxConcurrentStreams: opts.maxConcurrentStreams ?? 0xffff_ffff,
        onStream: (stream, headers) => this.onStream(stream, headers),
        onError: (err) => this.logger.debug({ err }, 'http2 connection error'),
      })
    }
    const h2 = this.ownH2?.netServer ?? (this.h2 as http2.Http2Server)
    this.h1 = http.createServer((req, res) => this.onHttp(req, res))
    this.h1.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
      else socket.destroy()
    })
    this.tcp = net.createServer((socket) => sniffConnection(socket, h2, this.h1))
  }

  /** Registers a unary method, e.g. '/etcdserverpb.KV/Range'. */
  unary<Q, R>(
    path: string,
    req: MessageCodec<Q>,
    res: MessageCodec<R>,
    handler: UnaryHandler<Q, R>,
  ): void {
    const service = serviceOf(path)
    if (service === undefined) throw new RangeError(`method path "${path}" is not /Service/Method`)
    if (this.methods.has(path)) throw new RangeError(`method ${path} registered twice`)
    this.methods.set(path, {
      kind: 'unary',
      req: req as MessageCodec<unknown>,
      res: res as MessageCodec<unknown>,
      handler: handler as UnaryHandler<unknown, unknown>,
    })
    this.services.add(service)
  }

  /** Registers an HTTP/1.1 GET path on the same port ('/health', '/version'). */
  http(path: string, handler: HttpHandler): void {
    if (this.httpRoutes.has(path)) throw new RangeError(`http path ${path} registered twice`)
    this.httpRoutes.set(path, handler)
  }

  /** Binds the port; port 0 picks a free one, which the result names. */
  async listen(opts: { host: string; port: number }): Promise<{ port: number }> {
    if (this.listening || this.closed) throw new Error('RpcServer.listen called twice')
    this.listening = true
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject)
      this.tcp.listen(opts.port, opts.host, () => {
        this.tcp.off('error', reject)
        resolve()
      })
    })
    const addr = this.tcp.address()
    if (addr === null || typeof addr === 'string') throw new Error('RpcServer: no TCP address')
    return { port: addr.port }
  }

  /** Stops accepting, cancels the calls in progress and closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const stopped = this.listening
      ? new Promise<void>((resolve) => this.tcp.close(() => resolve()))
      : Promise.resolve()
    for (const call of this.calls) call.cancel('server closing')
    for (const session of this.sessions) session.destroy()
    this.ownH2?.destroy()
    this.h1.closeAllConnections()
    await stopped
  }

  // -------------------------------------------------------------------------------------------

  private onSession(session: http2.ServerHttp2Session): void {
    this.sessions.add(session)
    session.on('close', () => this.sessions.delete(session))
    // A protocol error from the peer destroys the session; nothing else to do but log it.
    session.on('error', (err) => this.logger.debug({ err }, 'http2 session error'))
  }

  private onStream(stream: CallStream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', (err) => this.logger.debug({ err }, 'http2 stream error'))
    const path = headers[':path'] ?? ''
    const contentType = headers['content-type'] ?? ''
    if (headers[':method'] !== 'POST' || !isGrpcContentType(contentType)) {
      // grpc-go answers a non-gRPC request on its HTTP/2 port with an HTTP error and a status.
      const bad = headers[':method'] !== 'POST' ? 405 : 415
      const message =
        bad === 405
          ? `invalid gRPC request method "${headers[':method'] ?? ''}"`
          : `invalid gRPC request content-type "${contentType}"`
      respondEarly(stream, bad, GrpcStatus.INTERNAL, message)
      return
    }
    const call = new ServerCall(this, stream, headers, path)
    const method = this.methods.get(path)
    if (method === undefined) {
      call.finish(this.unknownMethod(path))
      return
    }
    this.calls.add(call)
    stream.once('close', () => this.calls.delete(call))
    void this.runUnary(call, method)
  }

  /** grpc-go's handleStream: which of the two texts depends on whether the service is known. */
  private unknownMethod(path: string): RpcError {
    const sm = path.startsWith('/') ? path.slice(1) : path
    const pos = sm.lastIndexOf('/')
    if (pos < 0) {
      return new RpcError(GrpcStatus.UNIMPLEMENTED, `malformed method name: "${path}"`)
    }
    const service = sm.slice(0, pos)
    const method = sm.slice(pos + 1)
    return new RpcError(
      GrpcStatus.UNIMPLEMENTED,
      this.services.has(service)
        ? `unknown method ${method} for service ${service}`
        : `unknown service ${service}`,
    )
  }

  private async runUnary(call: ServerCall, method: UnaryMethod): Promise<void> {
    let bytes: Buffer
    try {
      bytes = await call.receiveOne()
    } catch (err) {
      call.finish(toRpcError(err, this.logger, call.path))
      return
    }
    let req: unknown
    try {
      req = decodeMessage(method.req, bytes)
    } catch (err) {
      if (err instanceof ApiError) {
        call.finish(
          new RpcError(GrpcStatus.INTERNAL, `grpc: error unmarshalling request: ${err.message}`),
        )
      } else call.finish(toRpcError(err, this.logger, call.path))
      return
    }
    let res: unknown
    try {
      res = await method.handler(req, call)
    } catch (err) {
      call.finish(toRpcError(err, this.logger, call.path))
      return
    }
    call.sendMessage(method.res, res)
    call.finish(null)
  }

  private onHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const handler = this.httpRoutes.get(path)
    req.resume()
    if (handler === undefined) {
      // Go's http.NotFound.
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' })
      res.end('404 page not found\n')
      return
    }
    const request: HttpRequest = {
      method: req.method ?? 'GET',
      path,
      query: q < 0 ? '' : url.slice(q + 1),
      headers: req.headers,
    }
    Promise.resolve()
      .then(() => handler(request))
      .then(
        (out) => {
          res.writeHead(out.status, out.headers)
          res.end(out.body)
        },
        (err: unknown) => {
          this.logger.warn({ err, path }, 'http handler failed')
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' })
          res.end('internal error\n')
        },
      )
  }

  /** @internal */
  get maxRecv(): number {
    return this.maxRecvBytes
  }
}

/**
 * One call: an HTTP/2 stream carrying gRPC. Reading is message by message; writing sends the
 * response headers before the first message and the status last.
 */
export class ServerCall implements CallInfo {
  readonly metadata: http2.IncomingHttpHeaders
  readonly deadline: number | undefined
  readonly peer: string
  private readonly controller = new AbortController()
  private readonly reader: MessageReader
  private headersSent = false
  private done = false
  private timer: NodeJS.Timeout | undefined
  /** The reader waiting in receiveOne, if any. */
  private waiter: ((err: RpcError | null) => void) | null = null
  private ended = false
  private failed: RpcError | null = null

  constructor(
    server: RpcServer,
    private readonly stream: CallStream,
    headers: http2.IncomingHttpHeaders,
    readonly path: string,
  ) {
    this.metadata = headers
    const session = stream.session
    const socket = session?.socket
    this.peer =
      socket === undefined ? '' : `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`
    const encoding = headers['grpc-encoding']
    this.reader = new MessageReader(server.maxRecv, typeof encoding === 'string' ? encoding : '')
    const timeout = headers['grpc-timeout']
    const ms = typeof timeout === 'string' ? parseGrpcTimeout(timeout) : undefined
    this.deadline = ms === undefined ? undefined : Date.now() + ms
    if (ms !== undefined) {
      this.timer = setTimeout(() => {
        this.finish(new RpcError(GrpcStatus.DEADLINE_EXCEEDED, 'context deadline exceeded'))
      }, ms)
      this.timer.unref()
    }
    stream.on('data', (chunk: Buffer) => this.onData(chunk))
    stream.on('end', () => {
      this.ended = true
      this.wake(null)
    })
    // A client's RST_STREAM, or the connection going away: the call is over, nothing is sent.
    stream.on('close', () => {
      if (!this.done) this.cancel('client cancelled')
    })
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** Ends the call without an answer (the stream is gone or the server is closing). */
  cancel(reason: string): void {
    if (this.done) return
    this.done = true
    this.clearTimer()
    this.controller.abort(new RpcError(GrpcStatus.CANCELLED, reason))
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL)
    this.wake(new RpcError(GrpcStatus.CANCELLED, reason))
  }

  private onData(chunk: Buffer): void {
    if (this.failed !== null || this.done) return
    this.reader.push(chunk)
    this.wake(null)
  }

  private wake(err: RpcError | null): void {
    const w = this.waiter
    if (w === null) return
    this.waiter = null
    w(err)
  }

  /**
   * The one request message of a unary call: it resolves as soon as the message is whole (as
   * grpc-go does, without waiting for the client's END_STREAM); a stream that ends first is
   * grpc-go's INTERNAL.
   */
  receiveOne(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const attempt = (err: RpcError | null): void => {
        if (err !== null) return reject(err)
        if (this.done) return reject(new RpcError(GrpcStatus.CANCELLED, 'call cancelled'))
        let message: Buffer | null
        try {
          message = this.reader.next()
        } catch (e) {
          this.failed = e as RpcError
          return reject(e)
        }
        if (message !== null) return resolve(message)
        if (this.ended) {
          return reject(
            new RpcError(
              GrpcStatus.INTERNAL,
              this.reader.pendingBytes === 0
                ? 'grpc: error while receiving message: EOF'
                : 'grpc: error while receiving message: unexpected EOF',
            ),
          )
        }
        this.waiter = attempt
      }
      attempt(null)
    })
  }

  /** Sends one message (the response headers first, if not yet sent). */
  sendMessage<R>(codec: MessageCodec<R>, value: R): void {
    if (this.done) return
    let frame: Buffer
    try {
      frame = framePrefix(encodeMessage(codec, value, MESSAGE_HEADER_BYTES) as Buffer)
    } catch (err) {
      this.finish(new RpcError(GrpcStatus.INTERNAL, `grpc: error while marshaling: ${String(err)}`))
      return
    }
    if (!this.headersSent) {
      this.headersSent = true
      this.stream.respond(
        { ':status': 200, 'content-type': GRPC_CONTENT_TYPE },
        { waitForTrailers: true },
      )
    }
    this.stream.write(frame)
  }

  /** Ends the call with OK (null) or an error status; later calls do nothing. */
  finish(err: RpcError | null): void {
    if (this.done) return
    this.done = true
    this.clearTimer()
    const stream = this.stream
    if (stream.destroyed || stream.closed) return
    const code = err === null ? GrpcStatus.OK : err.code
    const message = err === null ? '' : encodeGrpcMessage(err.message)
    if (err !== null) this.controller.abort(err)
    if (!this.headersSent) {
      // Trailers-only: the status rides in the only HEADERS frame, with END_STREAM.
      this.headersSent = true
      stream.respond(
        {
          ':status': 200,
          'content-type': GRPC_CONTENT_TYPE,
          'grpc-status': String(code),
          'grpc-message': message,
        },
        { endStream: true },
      )
    } else {
      stream.once('wantTrailers', () => {
        stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': message })
      })
      stream.end()
    }
    // A client still sending is not reset: its data is read and dropped until it ends or
    // cancels on seeing our status (an RST_STREAM here could overtake the trailers).
    if (!this.ended) stream.resume()
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}

function respondEarly(stream: CallStream, httpStatus: number, code: number, message: string): void {
  if (stream.destroyed) return
  stream.respond(
    {
      ':status': httpStatus,
      'content-type': GRPC_CONTENT_TYPE,
      'grpc-status': String(code),
      'grpc-message': encodeGrpcMessage(message),
    },
    { endStream: true },
  )
  stream.resume()
}

function isGrpcContentType(ct: string): boolean {
  // application/grpc, application/grpc+proto, application/grpc;...
  if (!ct.startsWith(GRPC_CONTENT_TYPE)) return false
  const rest = ct.charAt(GRPC_CONTENT_TYPE.length)
  return rest === '' || rest === '+' || rest === ';'
}

function serviceOf(path: string): string | undefined {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path)
  return m === null ? undefined : m[1]
}

function toRpcError(err: unknown, logger: ApiLogger, path: string): RpcError {
  if (err instanceof RpcError) return err
  logger.warn({ err, path }, 'handler failed with an error that is not an RpcError')
  return new RpcError(GrpcStatus.UNKNOWN, err instanceof Error ? err.message : String(err))
}
