/**
 * A gRPC server over HTTP/2 (our own, src/api/h2, by default; node:http2 on request), with
 * HTTP/1.1 on the same plaintext port.
 *
 * Each call is a `ServerCall` (one HTTP/2 stream): it reads length-prefixed messages through a
 * MessageReader and answers with a status in trailers, or in a trailers-only response when it
 * fails before any message was sent. Unary methods (`unary`) and streaming ones (`stream`:
 * server-streaming and bidirectional, for Watch and LeaseKeepAlive) are both built on it.
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
  logger?: ApiLogger
  /** The HTTP/2 implementation: ours (src/api/h2, the default) or node:http2 (for comparison). */
  http2?: 'own' | 'node'
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

/** A server-streaming or bidirectional method: the handler drives the call. */
interface StreamMethod {
  readonly kind: 'stream'
  readonly req: MessageCodec<unknown>
  readonly res: MessageCodec<unknown>
  readonly handler: (call: StreamCall<unknown, unknown>) => void
}

type Method = UnaryMethod | StreamMethod

/**
 * A streaming call (Watch, LeaseKeepAlive): the handler sets the callbacks it needs, in the turn
 * it is called (messages may follow at once), sends with `send`, and ends with `finish`.
 */
export interface StreamCall<Q, R> extends CallInfo {
  /** Each request message, decoded, in order; one that does not decode ends the call INTERNAL. */
  onMessage: ((req: Q) => void) | null
  /** The client has sent its last message (END_STREAM); the call stays open for sending. */
  onHalfClose: (() => void) | null
  /** The send buffer has room again after `send` returned false. */
  onDrain: (() => void) | null
  /** Sends one message; false when the stream's buffer is full (wait for onDrain) or it ended. */
  send(res: R): boolean
  /** As `send`, for messages already encoded as gRPC frames (5-byte prefixes included). */
  sendFrame(frame: Buffer): boolean
  /**
   * Writes what was sent now, not at the end of the turn: for sends outside a request's turn
   * (watch deliveries run in their own), which would otherwise wait for the loop's next round.
   */
  flush(): void
  /** Ends the call: OK with no argument or null, or the error's status. */
  finish(err?: RpcError | null): void
}

const GRPC_CONTENT_TYPE = 'application/grpc'
const HTTP1_IDLE_TIMEOUT_MS = 30_000

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
  /** Connections whose first bytes have not come yet. */
  private readonly sniffing = new Set<net.Socket>()
  /**
   * HTTP/1.1 connections. The http.Server never listens itself (the sniffer hands it sockets),
   * so its own tracking, which closeAllConnections and its request timeouts rely on, is off.
   */
  private readonly h1Sockets = new Set<net.Socket>()
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
    // An idle HTTP/1.1 connection (none sent, or one that stopped mid-request) is closed.
    this.h1.timeout = HTTP1_IDLE_TIMEOUT_MS
    this.h1.on('connection', (socket: net.Socket) => {
      this.h1Sockets.add(socket)
      socket.once('close', () => this.h1Sockets.delete(socket))
    })
    this.h1.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
      else socket.destroy()
    })
    this.tcp = net.createServer((socket) => sniffConnection(socket, h2, this.h1, this.sniffing))
  }

  /** Registers a unary method, e.g. '/etcdserverpb.KV/Range'. */
  unary<Q, R>(
    path: string,
    req: MessageCodec<Q>,
    res: MessageCodec<R>,
    handler: UnaryHandler<Q, R>,
  ): void {
    this.register(path, {
      kind: 'unary',
      req: req as MessageCodec<unknown>,
      res: res as MessageCodec<unknown>,
      handler: handler as UnaryHandler<unknown, unknown>,
    })
  }

  /**
   * Registers a server-streaming or bidirectional method, e.g. '/etcdserverpb.Watch/Watch'. The
   * handler is called when the call opens, before any request message.
   */
  stream<Q, R>(
    path: string,
    req: MessageCodec<Q>,
    res: MessageCodec<R>,
    handler: (call: StreamCall<Q, R>) => void,
  ): void {
    this.register(path, {
      kind: 'stream',
      req: req as MessageCodec<unknown>,
      res: res as MessageCodec<unknown>,
      handler: handler as (call: StreamCall<unknown, unknown>) => void,
    })
  }

  private register(path: string, method: Method): void {
    const service = serviceOf(path)
    if (service === undefined) throw new RangeError(`method path "${path}" is not /Service/Method`)
    if (this.methods.has(path)) throw new RangeError(`method ${path} registered twice`)
    this.methods.set(path, method)
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
    for (const socket of this.sniffing) socket.destroy()
    for (const socket of this.h1Sockets) socket.destroy()
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
    const method = this.methods.get(path)
    const call = new ServerCall(stream, headers, path, this.maxRecvBytes)
    if (method === undefined) {
      call.finish(this.unknownMethod(path))
      return
    }
    this.calls.add(call)
    call.onDone = () => this.calls.delete(call)
    if (method.kind === 'unary') this.runUnary(call, method)
    else this.runStream(call, method)
  }

  private runStream(call: ServerCall, method: StreamMethod): void {
    const sc = new StreamCallImpl(call, method.res)
    call.onMessage = (bytes) => {
      let req: unknown
      try {
        req = decodeMessage(method.req, bytes)
      } catch (err) {
        call.finish(
          err instanceof ApiError
            ? new RpcError(GrpcStatus.INTERNAL, `grpc: error unmarshalling request: ${err.message}`)
            : toRpcError(err, this.logger, call.path),
        )
        return
      }
      this.guard(call, () => sc.onMessage?.(req))
    }
    call.onHalfClose = () => this.guard(call, () => sc.onHalfClose?.())
    call.onDrain = () => this.guard(call, () => sc.onDrain?.())
    call.listenDrain()
    this.guard(call, () => method.handler(sc))
  }

  /** A streaming handler's callback that throws ends its call with the error's status. */
  private guard(call: ServerCall, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      call.finish(toRpcError(err, this.logger, call.path))
    }
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

  /**
   * A unary call starts its handler as soon as the request message is whole (as grpc-go does,
   * without waiting for the client's END_STREAM; a second message is ignored). A sync handler's
   * answer is sent in the same turn; an async one's when it settles.
   */
  private runUnary(call: ServerCall, method: UnaryMethod): void {
    call.onMessage = (bytes) => {
      call.onMessage = null
      let req: unknown
      try {
        req = decodeMessage(method.req, bytes)
      } catch (err) {
        call.finish(
          err instanceof ApiError
            ? new RpcError(GrpcStatus.INTERNAL, `grpc: error unmarshalling request: ${err.message}`)
            : toRpcError(err, this.logger, call.path),
        )
        return
      }
      let res: unknown
      try {
        res = method.handler(req, call)
      } catch (err) {
        call.finish(toRpcError(err, this.logger, call.path))
        return
      }
      if (!isThenable(res)) {
        call.sendLast(method.res, res)
        return
      }
      res.then(
        (r) => call.sendLast(method.res, r),
        (err: unknown) => call.finish(toRpcError(err, this.logger, call.path)),
      )
    }
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
}

/**
 * One call: an HTTP/2 stream carrying gRPC. Messages come in through `onMessage` as each is
 * whole; the response headers go out before the first message sent, the status last. Unary
 * methods set onMessage once; the streaming methods of the next issue keep it, and send several
 * messages (`send`) before `finish`.
 */
export class ServerCall implements CallInfo {
  readonly deadline: number | undefined
  /** Called with each whole request message; null drops them (after a unary's first). */
  onMessage: ((message: Buffer) => void) | null = null
  /** Called once when the call is over, however it ended. */
  onDone: (() => void) | null = null
  /** Streaming calls: the client's END_STREAM with no partial message left. */
  onHalfClose: (() => void) | null = null
  /** Streaming calls: the send buffer has room again. */
  onDrain: (() => void) | null = null
  private readonly reader: MessageReader
  /** Made on first use of `signal`: most handlers never look. */
  private controller: AbortController | null = null
  private abortReason: RpcError | null = null
  private headersSent = false
  private done = false
  /** The client sent END_STREAM. */
  private ended = false
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly stream: CallStream,
    readonly metadata: http2.IncomingHttpHeaders,
    readonly path: string,
    maxRecvBytes: number,
  ) {
    const encoding = metadata['grpc-encoding']
    this.reader = new MessageReader(maxRecvBytes, typeof encoding === 'string' ? encoding : '')
    const timeout = metadata['grpc-timeout']
    const ms = typeof timeout === 'string' ? parseGrpcTimeout(timeout) : undefined
    this.deadline = ms === undefined ? undefined : Date.now() + ms
    if (ms !== undefined) {
      this.timer = setTimeout(() => {
        this.finish(new RpcError(GrpcStatus.DEADLINE_EXCEEDED, 'context deadline exceeded'))
      }, ms)
      this.timer.unref()
    }
    stream.on('data', (chunk: Buffer) => this.onData(chunk))
    stream.on('end', () => this.onEnd())
    // A client's RST_STREAM, or the connection going away: the call is over, nothing is sent.
    stream.on('close', () => {
      if (!this.done) this.cancel('client cancelled')
    })
  }

  /** Streaming calls: calls onDrain when the send buffer has room again (unary ones never wait). */
  listenDrain(): void {
    this.stream.on('drain', () => {
      if (!this.done) this.onDrain?.()
    })
  }

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController()
      if (this.abortReason !== null) this.controller.abort(this.abortReason)
    }
    return this.controller.signal
  }

  get peer(): string {
    const socket = this.stream.session?.socket
    return socket === undefined ? '' : `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`
  }

  /** Ends the call without an answer (the stream is gone or the server is closing). */
  cancel(reason: string): void {
    if (this.done) return
    this.end(new RpcError(GrpcStatus.CANCELLED, reason))
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL)
  }

  private onData(chunk: Buffer): void {
    // After a unary call's message, more data is dropped unread (grpc-go ignores it too): kept,
    // it would pile up while the handler runs, since reading it reopens the flow-control window.
    if (this.done || this.onMessage === null) return
    this.reader.push(chunk)
    for (;;) {
      if (this.onMessage === null || this.done) return
      let message: Buffer | null
      try {
        message = this.reader.next()
      } catch (err) {
        this.finish(err as RpcError)
        return
      }
      if (message === null) return
      this.onMessage(message)
    }
  }

  private onEnd(): void {
    this.ended = true
    if (this.done) return
    if (this.onHalfClose !== null && this.reader.pendingBytes === 0) {
      this.onHalfClose()
      return
    }
    if (this.onMessage === null) return
    // A unary call whose message never came whole: grpc-go passes the parser's io error on as
    // UNKNOWN (etcd 3.4 answers so).
    this.finish(
      new RpcError(GrpcStatus.UNKNOWN, this.reader.pendingBytes === 0 ? 'EOF' : 'unexpected EOF'),
    )
  }

  private encode<R>(codec: MessageCodec<R>, value: R): Buffer | null {
    try {
      return framePrefix(encodeMessage(codec, value, MESSAGE_HEADER_BYTES) as Buffer)
    } catch (err) {
      this.finish(new RpcError(GrpcStatus.INTERNAL, `grpc: error while marshaling: ${String(err)}`))
      return null
    }
  }

  private sendHeaders(): void {
    if (this.headersSent) return
    this.headersSent = true
    this.stream.respond(
      { ':status': 200, 'content-type': GRPC_CONTENT_TYPE },
      { waitForTrailers: true },
    )
  }

  /** Sends one message of a streaming response; false when the buffer is full or it ended. */
  send<R>(codec: MessageCodec<R>, value: R): boolean {
    if (this.done || this.stream.destroyed) return false
    const frame = this.encode(codec, value)
    if (frame === null) return false
    return this.sendFrame(frame)
  }

  /** `send` of messages already framed (5-byte prefixes included), one or several. */
  sendFrame(frame: Buffer): boolean {
    if (this.done || this.stream.destroyed) return false
    this.sendHeaders()
    return this.stream.write(frame)
  }

  /** See StreamCall.flush (node:http2's streams have no such thing: a no-op there). */
  flush(): void {
    if (!this.done) this.stream.flush?.()
  }

  /** Sends the one message of a unary response, then the OK status. */
  sendLast<R>(codec: MessageCodec<R>, value: R): void {
    if (this.done) return
    const frame = this.encode(codec, value)
    if (frame === null) return
    this.sendHeaders()
    this.end(null)
    const stream = this.stream
    if (stream.destroyed) return
    stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS))
    stream.end(frame)
  }

  /** Ends the call with OK (null) or an error status; later calls do nothing. */
  finish(err: RpcError | null): void {
    if (this.done) return
    this.end(err)
    const stream = this.stream
    if (stream.destroyed || stream.closed) return
    const code = err === null ? '0' : String(err.code)
    const message = err === null ? '' : encodeGrpcMessage(err.message)
    if (!this.headersSent) {
      // Trailers-only: the status rides in the only HEADERS frame, with END_STREAM.
      this.headersSent = true
      stream.respond(
        {
          ':status': 200,
          'content-type': GRPC_CONTENT_TYPE,
          'grpc-status': code,
          'grpc-message': message,
        },
        { endStream: true },
      )
    } else {
      stream.once('wantTrailers', () => {
        stream.sendTrailers({ 'grpc-status': code, 'grpc-message': message })
      })
      stream.end()
    }
  }

  /** Marks the call over: timer off, signal aborted on failure, what the client sends dropped. */
  private end(err: RpcError | null): void {
    this.done = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (err !== null) {
      this.abortReason = err
      this.controller?.abort(err)
    }
    // A client still sending is not reset: its data is read and dropped until it ends or
    // cancels on seeing our status (an RST_STREAM here could overtake the trailers).
    if (!this.ended) this.stream.resume()
    this.onDone?.()
  }
}

class StreamCallImpl<Q, R> implements StreamCall<Q, R> {
  onMessage: ((req: Q) => void) | null = null
  onHalfClose: (() => void) | null = null
  onDrain: (() => void) | null = null

  constructor(
    private readonly call: ServerCall,
    private readonly codec: MessageCodec<R>,
  ) {}

  get path(): string {
    return this.call.path
  }
  get metadata(): http2.IncomingHttpHeaders {
    return this.call.metadata
  }
  get signal(): AbortSignal {
    return this.call.signal
  }
  get deadline(): number | undefined {
    return this.call.deadline
  }
  get peer(): string {
    return this.call.peer
  }

  flush(): void {
    this.call.flush()
  }

  sendFrame(frame: Buffer): boolean {
    return this.call.sendFrame(frame)
  }

  send(res: R): boolean {
    return this.call.send(this.codec, res)
  }

  finish(err: RpcError | null = null): void {
    this.call.finish(err)
  }
}

const OK_TRAILERS = { 'grpc-status': '0', 'grpc-message': '' }

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'
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
