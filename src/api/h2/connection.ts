/**
 * One server-side HTTP/2 connection over cleartext with prior knowledge ("h2c", as gRPC clients
 * speak it): RFC 9113's framing, stream states, flow control both ways and error handling, with
 * HPACK from hpack.ts. It owns the socket it is given; the application sees `H2Stream`s.
 *
 * What we accept: any :authority (etcdctl 3.4 sends "http://127.0.0.1:2379", which nghttp2
 * refuses; grpc-go takes it). What we refuse is answered as RFC 9113 §5.4 says: a connection error
 * is a GOAWAY with its code and the socket's end; a stream error an RST_STREAM. Nothing the peer
 * sends makes us throw out of the socket's handler or buffer without bound: input is held only
 * up to one frame (SETTINGS_MAX_FRAME_SIZE) or one header block (4x the header list cap, see
 * `headerBlockBytesMax`), and reading stops while our output is backed up (a peer that sends
 * PINGs and never reads).
 *
 * Writes: every frame goes into one output buffer, flushed once per turn of the event loop
 * (setImmediate), so the responses to all the requests read in one turn leave in one write.
 */

import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http2'
import {
  CLIENT_PREFACE,
  DEFAULT_HEADER_TABLE_SIZE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  FRAME_HEADER_BYTES,
  Flag,
  FrameType,
  H2Error,
  MAX_FRAME_SIZE_LIMIT,
  MAX_WINDOW,
  Setting,
  connectionError,
  putFrameHeader,
  type ErrorCodeValue,
} from './frame.js'
import { HpackDecoder, encodeHeaders, encodedSizeMax, type OutgoingHeaders } from './hpack.js'

export interface H2Options {
  /** SETTINGS_MAX_CONCURRENT_STREAMS; streams past it are refused (REFUSED_STREAM). */
  readonly maxConcurrentStreams: number
  /** Our SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on a stream before we ack. */
  readonly streamWindowBytes: number
  /** Our connection receive window (raised from 65,535 by a WINDOW_UPDATE at the start). */
  readonly connectionWindowBytes: number
  /** SETTINGS_MAX_HEADER_LIST_SIZE: a request's decoded headers (RFC 9113 §6.5.2 sizes). */
  readonly maxHeaderListBytes: number
}

export const DEFAULT_H2_OPTIONS: H2Options = {
  maxConcurrentStreams: 0xffff_ffff,
  streamWindowBytes: 1 << 20,
  connectionWindowBytes: 16 << 20,
  maxHeaderListBytes: 64 << 10,
}

export interface H2Handlers {
  /** A new request: its stream and its decoded headers. */
  onStream(stream: H2Stream, headers: IncomingHttpHeaders): void
  /** A connection error we raised or a socket error (for debug logs). */
  onError?(err: Error): void
}

/** Our frames are at most this big; we never raise SETTINGS_MAX_FRAME_SIZE. */
const OUR_MAX_FRAME_SIZE = DEFAULT_MAX_FRAME_SIZE
/** Output buffer allocation unit. */
const OUT_CHUNK_BYTES = 16 * 1024
/** Payloads shorter than this are copied into the output buffer instead of queued by reference. */
const COPY_BELOW_BYTES = 2048
/** Output of several chunks up to this size is copied into one buffer for one write. */
const CONCAT_BELOW_BYTES = 64 * 1024
/** Reading pauses while the socket holds more than this unsent. */
const OUT_PAUSE_BYTES = 4 << 20

const EMPTY = Buffer.alloc(0)

/** Headers that RFC 9113 §8.2.2 bans in HTTP/2. */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
])
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':protocol'])

/**
 * One request stream, with the part of node:http2's ServerHttp2Stream that a gRPC server uses:
 * respond / write / end (with waitForTrailers and sendTrailers) / close(code), and the events
 * 'data', 'end', 'close', 'wantTrailers'. It never emits 'error'.
 */
/** Queued DATA above which write() asks the writer to wait for 'drain'. */
const STREAM_HIGH_WATER_BYTES = 64 * 1024

export class H2Stream extends EventEmitter {
  /** Credit we may still send on (the peer's window for this stream; may go negative). */
  sendWindow: number
  /** What the peer may still send before we ack. */
  recvWindow: number
  /** Received bytes not yet acked by a WINDOW_UPDATE. */
  recvUnacked = 0
  /** DATA waiting for flow-control credit. */
  readonly queue: Buffer[] = []
  queueBytes = 0
  remoteEnded = false
  localEnded = false
  headersSent = false
  endRequested = false
  waitForTrailers = false
  /** Closed both ways or reset: no more frames go out, no more events but 'close'. */
  isClosed = false
  /** write() returned false: 'drain' is due once the queue empties. */
  needDrain = false

  constructor(
    private readonly conn: H2Connection,
    readonly id: number,
    sendWindow: number,
    recvWindow: number,
  ) {
    super()
    this.sendWindow = sendWindow
    this.recvWindow = recvWindow
  }

  get destroyed(): boolean {
    return this.isClosed
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** The connection's socket, as node:http2's `stream.session.socket`. */
  get session(): { readonly socket: Socket } {
    return this.conn
  }

  /** Sends the response headers; endStream makes it the whole response (trailers-only). */
  respond(
    headers: OutgoingHeaders,
    options?: { endStream?: boolean; waitForTrailers?: boolean },
  ): void {
    if (this.isClosed || this.headersSent) return
    this.headersSent = true
    const endStream = options?.endStream === true
    this.waitForTrailers = options?.waitForTrailers === true
    this.conn.sendHeaders(this, headers, endStream)
  }

  /**
   * Queues DATA; it goes out as the peer's windows allow. Returns false once more than
   * STREAM_HIGH_WATER_BYTES wait for credit: the writer should wait for 'drain' (as with a
   * node stream; the data is queued either way).
   */
  write(chunk: Buffer): boolean {
    if (this.isClosed || this.endRequested || chunk.length === 0) return true
    this.queue.push(chunk)
    this.queueBytes += chunk.length
    this.conn.sendQueued(this)
    if (this.queueBytes <= STREAM_HIGH_WATER_BYTES) return true
    this.needDrain = true
    return false
  }

  /**
   * Ends our side after the queued DATA (and `chunk`, if given): with 'wantTrailers' (the
   * listener calls sendTrailers) if respond() asked for trailers, else with an empty DATA frame
   * carrying END_STREAM.
   */
  end(chunk?: Buffer): void {
    if (this.isClosed || this.endRequested) return
    if (chunk !== undefined && chunk.length > 0) {
      this.queue.push(chunk)
      this.queueBytes += chunk.length
    }
    this.endRequested = true
    this.conn.sendQueued(this)
  }

  /** Writes what the connection has queued now (CallStream.flush). */
  flush(): void {
    this.conn.flushNow()
  }

  sendTrailers(headers: OutgoingHeaders): void {
    if (this.isClosed || this.localEnded) return
    this.conn.sendHeaders(this, headers, true)
  }

  /** Resets the stream (RST_STREAM with `code`, CANCEL by default). */
  close(code: number = ErrorCode.CANCEL): void {
    if (this.isClosed) return
    this.conn.resetStream(this, code as ErrorCodeValue)
  }

  /** node:http2 compatibility: our streams always flow. */
  resume(): this {
    return this
  }

  pause(): this {
    return this
  }
}

export class H2Connection {
  readonly socket: Socket
  private readonly streams = new Map<number, H2Stream>()
  private readonly decoder: HpackDecoder
  private readonly opts: H2Options
  private readonly handlers: H2Handlers

  // Input.
  private prefaceDone = false
  private gotSettings = false
  private input: Buffer = EMPTY
  private parked: Buffer[] = []
  private parkedBytes = 0
  /** Bytes `input` must hold before parsing can go on. */
  private need: number = CLIENT_PREFACE.length
  /** The stream whose header block is being continued (CONTINUATION), 0 if none. */
  private continuing = 0
  private continuingFlags = 0
  private fragments: Buffer[] = []
  private fragmentBytes = 0
  private readonly headerBlockBytesMax: number
  private lastPeerStreamId = 0
  /** The header block being read came with a priority that names its own stream. */
  private selfDependent = false
  private activeStreams = 0

  // Flow control.
  private connRecvWindow: number
  private connRecvUnacked = 0
  private connSendWindow = DEFAULT_WINDOW
  private peerInitialWindow = DEFAULT_WINDOW
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE
  /** Streams with queued DATA waiting for connection credit, in arrival order. */
  private readonly blocked = new Set<H2Stream>()
  /** Say "table size 0" at the start of our next header block (the peer lowered its table). */
  private sizeUpdatePending = false

  // Output.
  private out: Buffer = Buffer.allocUnsafe(OUT_CHUNK_BYTES)
  private outStart = 0
  private outAt = 0
  private outChunks: Buffer[] = []
  /**
   * Where in `out` the last frame starts if it is a DATA frame without flags that more DATA of
   * its stream may join (-1: none): a stream's messages written in one turn leave as one frame
   * (a watch stream sends many small ones), so the peer handles one frame, not one per message.
   * Only while the frame is still in the part of `out` not yet handed to the socket.
   */
  private openDataAt = -1
  private openDataId = 0
  private flushScheduled = false
  private readonly flushBound = (): void => this.flush()
  private pausedForOutput = false

  // Lifetime.
  private goawaySent = false
  private dead = false
  private closeListeners: (() => void)[] = []

  constructor(socket: Socket, opts: H2Options, handlers: H2Handlers) {
    this.socket = socket
    this.opts = opts
    this.handlers = handlers
    this.decoder = new HpackDecoder(DEFAULT_HEADER_TABLE_SIZE, opts.maxHeaderListBytes)
    // Huffman text may take up to 30 bits per byte of decoded text, and size updates decode to
    // nothing, so the compressed block gets 4x the decoded cap, and a little.
    this.headerBlockBytesMax = 4 * opts.maxHeaderListBytes + 1024
    this.connRecvWindow = opts.connectionWindowBytes
    socket.setNoDelay(true)
    this.sendPreface()
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err) => this.handlers.onError?.(err))
    socket.on('close', () => this.onSocketClose())
    socket.on('drain', () => {
      if (this.pausedForOutput) {
        this.pausedForOutput = false
        socket.resume()
      }
    })
    // The sniffer paused the socket after unshifting the preface: 'data' resumes it only if we ask.
    socket.resume()
  }

  /** The peer's address, for node:http2's `stream.session.socket`. */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress
  }

  /** Streams open now (for tests and stats). */
  get streamCount(): number {
    return this.streams.size
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener)
  }

  /** Graceful close: GOAWAY now, the socket's end once the open streams finish. */
  close(): void {
    if (this.dead) return
    if (!this.goawaySent) this.sendGoaway(ErrorCode.NO_ERROR, '')
    if (this.streams.size === 0) this.endSocket()
  }

  /** Closes at once: every open stream sees 'close'. */
  destroy(): void {
    this.socket.destroy()
    this.onSocketClose()
  }

  // -------------------------------------------------------------------------------------------
  // Input.

  private onData(chunk: Buffer): void {
    if (this.dead) return
    if (this.input.length === 0) {
      this.input = chunk
    } else {
      this.parked.push(chunk)
      this.parkedBytes += chunk.length
      if (this.input.length + this.parkedBytes < this.need) return
      this.input = Buffer.concat([this.input, ...this.parked])
      this.parked = []
      this.parkedBytes = 0
    }
    try {
      this.parse()
    } catch (err) {
      if (err instanceof H2Error) {
        this.fail(err)
      } else {
        // A bug, or a listener that threw: the connection cannot go on in a known state.
        this.handlers.onError?.(err as Error)
        this.fail(connectionError(ErrorCode.INTERNAL_ERROR, 'internal error'))
      }
    }
  }

  private parse(): void {
    let buf = this.input
    let at = 0
    while (!this.dead) {
      if (!this.prefaceDone) {
        if (buf.length - at < CLIENT_PREFACE.length) {
          this.need = CLIENT_PREFACE.length
          break
        }
        if (buf.compare(CLIENT_PREFACE, 0, CLIENT_PREFACE.length, at, at + 24) !== 0) {
          throw connectionError(ErrorCode.PROTOCOL_ERROR, 'bad connection preface')
        }
        at += CLIENT_PREFACE.length
        this.prefaceDone = true
        continue
      }
      if (buf.length - at < FRAME_HEADER_BYTES) {
        this.need = FRAME_HEADER_BYTES
        break
      }
      const length =
        ((buf[at] as number) << 16) | ((buf[at + 1] as number) << 8) | (buf[at + 2] as number)
      if (length > OUR_MAX_FRAME_SIZE) {
        throw connectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes`)
      }
      if (buf.length - at < FRAME_HEADER_BYTES + length) {
        this.need = FRAME_HEADER_BYTES + length
        break
      }
      const type = buf[at + 3] as number
      const flags = buf[at + 4] as number
      const streamId = buf.readUInt32BE(at + 5) & 0x7fff_ffff
      const payload = buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length)
      at += FRAME_HEADER_BYTES + length
      this.onFrame(type, flags, streamId, payload)
      // A frame handler may have parked input (never): buf stays the buffer we walk.
      buf = this.input
    }
    this.input = at >= buf.length ? EMPTY : buf.subarray(at)
    if (this.input.length === 0) this.need = 0
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.continuing !== 0 && type !== FrameType.CONTINUATION) {
      throw connectionError(ErrorCode.PROTOCOL_ERROR, 'expected CONTINUATION')
    }
    if (!this.gotSettings && type !== FrameType.SETTINGS) {
      throw connectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS')
    }
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, id, payload)
      case FrameType.HEADERS:
        return this.onHeadersFrame(flags, id, payload)
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, id, payload)
      case FrameType.PRIORITY:
        if (id === 0) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0')
        if (payload.length !== 5) this.streamError(id, ErrorCode.FRAME_SIZE_ERROR)
        // RFC 9113 §5.3.1: a stream cannot depend on itself.
        else if ((payload.readUInt32BE(0) & 0x7fff_ffff) === id) {
          this.streamError(id, ErrorCode.PROTOCOL_ERROR)
        }
        return // RFC 9113 §5.3.2: the priority signals are deprecated; we ignore them.
      case FrameType.RST_STREAM:
        return this.onRstStream(id, payload)
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, payload)
      case FrameType.PUSH_PROMISE:
        throw connectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client')
      case FrameType.PING:
        if (id !== 0) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream')
        if (payload.length !== 8) throw connectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING size')
        if ((flags & Flag.ACK) === 0) this.writeFrame(FrameType.PING, Flag.ACK, 0, payload)
        return
      case FrameType.GOAWAY:
        if (id !== 0) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream')
        if (payload.length < 8) throw connectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY size')
        // The peer opens no more streams; the ones it has finish. Close when they have.
        if (!this.goawaySent) this.sendGoaway(ErrorCode.NO_ERROR, '')
        if (this.streams.size === 0) this.endSocket()
        return
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload)
      default:
        return // RFC 9113 §5.5: unknown frame types are ignored.
    }
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0')
    const flowBytes = payload.length
    let data = payload
    if (flags & Flag.PADDED) {
      const pad = payload.length === 0 ? 256 : (payload[0] as number)
      if (pad >= payload.length) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA padding')
      data = payload.subarray(1, payload.length - pad)
    }
    this.connRecvWindow -= flowBytes
    if (this.connRecvWindow < 0) {
      throw connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA past the connection window')
    }
    // The connection's credit comes back as soon as the frame is read: the stream's reader (or
    // nobody, for a closed stream) holds the bytes, and the stream's window bounds that.
    this.ackConnection(flowBytes)
    const stream = this.streams.get(id)
    if (stream === undefined) {
      if (id > this.lastPeerStreamId) {
        throw connectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`)
      }
      return // a stream we closed: frames in flight are dropped (RFC 9113 §5.1, "closed")
    }
    if (stream.remoteEnded) return this.streamError(id, ErrorCode.STREAM_CLOSED)
    stream.recvWindow -= flowBytes
    if (stream.recvWindow < 0) return this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR)
    const endStream = (flags & Flag.END_STREAM) !== 0
    if (endStream) stream.remoteEnded = true
    if (data.length > 0) stream.emit('data', data)
    if (stream.isClosed) return
    if (endStream) {
      stream.emit('end')
      this.maybeClose(stream)
      return
    }
    stream.recvUnacked += flowBytes
    if (stream.recvUnacked >= this.opts.streamWindowBytes / 2) {
      this.writeWindowUpdate(id, stream.recvUnacked)
      stream.recvWindow += stream.recvUnacked
      stream.recvUnacked = 0
    }
  }

  private ackConnection(bytes: number): void {
    this.connRecvUnacked += bytes
    if (this.connRecvUnacked >= this.opts.connectionWindowBytes / 2) {
      this.writeWindowUpdate(0, this.connRecvUnacked)
      this.connRecvWindow += this.connRecvUnacked
      this.connRecvUnacked = 0
    }
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0')
    let start = 0
    let pad = 0
    this.selfDependent = false
    if (flags & Flag.PADDED) {
      if (payload.length < 1) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding')
      pad = payload[0] as number
      start = 1
    }
    if (flags & Flag.PRIORITY) {
      if (payload.length < start + 5) {
        throw connectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS priority fields')
      }
      this.selfDependent = (payload.readUInt32BE(start) & 0x7fff_ffff) === id
      start += 5
    }
    if (start + pad > payload.length) {
      throw connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding past the frame')
    }
    const fragment = payload.subarray(start, payload.length - pad)
    if (flags & Flag.END_HEADERS) {
      this.onHeaderBlock(id, flags, fragment)
      return
    }
    this.continuing = id
    this.continuingFlags = flags
    // Copied: the input buffer is reused once this turn's parsing ends.
    this.fragments = [Buffer.from(fragment)]
    this.fragmentBytes = fragment.length
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    if (this.continuing === 0 || id !== this.continuing) {
      throw connectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION out of place')
    }
    this.fragmentBytes += payload.length
    if (this.fragmentBytes > this.headerBlockBytesMax) {
      throw connectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large')
    }
    this.fragments.push(Buffer.from(payload))
    if ((flags & Flag.END_HEADERS) === 0) return
    const block = Buffer.concat(this.fragments)
    this.fragments = []
    this.fragmentBytes = 0
    this.continuing = 0
    this.onHeaderBlock(id, this.continuingFlags, block)
  }

  private onHeaderBlock(id: number, flags: number, block: Buffer): void {
    const selfDependent = this.selfDependent
    this.selfDependent = false
    // Decode first, whatever becomes of the stream: the dynamic table must stay in step.
    const decoded = this.decoder.decode(block)
    const endStream = (flags & Flag.END_STREAM) !== 0
    const existing = this.streams.get(id)
    if (existing !== undefined) {
      // Trailers (RFC 9113 §8.1): they must end the stream.
      if (existing.remoteEnded) return this.streamError(id, ErrorCode.STREAM_CLOSED)
      if (!endStream) return this.streamError(id, ErrorCode.PROTOCOL_ERROR)
      existing.remoteEnded = true
      existing.emit('end')
      this.maybeClose(existing)
      return
    }
    if (id % 2 === 0) throw connectionError(ErrorCode.PROTOCOL_ERROR, `even stream id ${id}`)
    if (id <= this.lastPeerStreamId) return // a stream we reset: the peer had not seen it yet
    this.lastPeerStreamId = id
    if (this.goawaySent || this.activeStreams >= this.opts.maxConcurrentStreams) {
      return this.writeRst(id, ErrorCode.REFUSED_STREAM)
    }
    if (selfDependent) return this.writeRst(id, ErrorCode.PROTOCOL_ERROR)
    // grpc-go's answer to a header list past the limit.
    if (decoded.oversize) return this.writeRst(id, ErrorCode.FRAME_SIZE_ERROR)
    const headers = requestHeaders(decoded.fields)
    if (headers === null) return this.writeRst(id, ErrorCode.PROTOCOL_ERROR)
    const stream = new H2Stream(this, id, this.peerInitialWindow, this.opts.streamWindowBytes)
    this.streams.set(id, stream)
    this.activeStreams++
    stream.remoteEnded = endStream
    this.handlers.onStream(stream, headers)
    if (endStream && !stream.isClosed) {
      stream.emit('end')
      this.maybeClose(stream)
    }
  }

  private onRstStream(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw connectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM size')
    if (id === 0) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0')
    if (id > this.lastPeerStreamId) {
      throw connectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`)
    }
    const stream = this.streams.get(id)
    if (stream !== undefined) this.closeStream(stream)
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream')
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ack')
      return
    }
    if (payload.length % 6 !== 0) {
      throw connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS size')
    }
    this.gotSettings = true
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at)
      const value = payload.readUInt32BE(at + 2)
      switch (key) {
        case Setting.HEADER_TABLE_SIZE:
          if (value < DEFAULT_HEADER_TABLE_SIZE) this.sizeUpdatePending = true
          break
        case Setting.ENABLE_PUSH:
          if (value > 1) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'ENABLE_PUSH')
          break
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) {
            throw connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE')
          }
          // RFC 9113 §6.9.2: the change applies to every open stream's window.
          const delta = value - this.peerInitialWindow
          this.peerInitialWindow = value
          for (const stream of this.streams.values()) {
            stream.sendWindow += delta
            if (stream.sendWindow > MAX_WINDOW) {
              throw connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'window overflow')
            }
          }
          if (delta > 0) for (const stream of this.streams.values()) this.sendQueued(stream)
          break
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) {
            throw connectionError(ErrorCode.PROTOCOL_ERROR, 'MAX_FRAME_SIZE')
          }
          this.peerMaxFrameSize = value
          break
        default:
          break // MAX_CONCURRENT_STREAMS (we push nothing), MAX_HEADER_LIST_SIZE, unknown ones
      }
    }
    this.writeFrame(FrameType.SETTINGS, Flag.ACK, 0, EMPTY)
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) {
      throw connectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE size')
    }
    const increment = payload.readUInt32BE(0) & 0x7fff_ffff
    if (id === 0) {
      if (increment === 0) throw connectionError(ErrorCode.PROTOCOL_ERROR, 'zero WINDOW_UPDATE')
      this.connSendWindow += increment
      if (this.connSendWindow > MAX_WINDOW) {
        throw connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window overflow')
      }
      for (const stream of this.blocked) {
        if (this.connSendWindow <= 0) break
        this.blocked.delete(stream)
        this.sendQueued(stream)
      }
      return
    }
    if (id > this.lastPeerStreamId) {
      throw connectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`)
    }
    const stream = this.streams.get(id)
    if (stream === undefined) return
    if (increment === 0) return this.streamError(id, ErrorCode.PROTOCOL_ERROR)
    stream.sendWindow += increment
    if (stream.sendWindow > MAX_WINDOW) return this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR)
    this.sendQueued(stream)
  }

  // -------------------------------------------------------------------------------------------
  // Streams.

  /** @internal H2Stream.respond / sendTrailers. */
  sendHeaders(stream: H2Stream, headers: OutgoingHeaders, endStream: boolean): void {
    this.writeHeaders(stream.id, headers, endStream)
    if (endStream) {
      stream.localEnded = true
      this.maybeClose(stream)
    }
  }

  /** @internal Sends what the windows allow of a stream's queue, then its end if asked. */
  sendQueued(stream: H2Stream): void {
    if (stream.isClosed) return
    while (stream.queue.length > 0) {
      const credit = Math.min(stream.sendWindow, this.connSendWindow, this.peerMaxFrameSize)
      if (credit <= 0) {
        if (this.connSendWindow <= 0) this.blocked.add(stream)
        return
      }
      const head = stream.queue[0] as Buffer
      let chunk = head
      if (head.length > credit) {
        chunk = head.subarray(0, credit)
        stream.queue[0] = head.subarray(credit)
      } else {
        stream.queue.shift()
      }
      stream.queueBytes -= chunk.length
      stream.sendWindow -= chunk.length
      this.connSendWindow -= chunk.length
      this.writeFrame(FrameType.DATA, 0, stream.id, chunk)
    }
    if (stream.needDrain && stream.queueBytes === 0) {
      stream.needDrain = false
      // Later, not from inside a writer's own write() or a WINDOW_UPDATE being read.
      queueMicrotask(() => {
        if (!stream.isClosed) stream.emit('drain')
      })
    }
    if (!stream.endRequested || stream.localEnded) return
    if (stream.waitForTrailers) {
      stream.emit('wantTrailers')
      // A listener that sent no trailers: end with an empty DATA frame, as node:http2 does.
      if (!stream.isClosed && !stream.localEnded) this.endWithData(stream)
    } else {
      this.endWithData(stream)
    }
  }

  private endWithData(stream: H2Stream): void {
    this.writeFrame(FrameType.DATA, Flag.END_STREAM, stream.id, EMPTY)
    stream.localEnded = true
    this.maybeClose(stream)
  }

  /** @internal H2Stream.close: RST_STREAM and close. */
  resetStream(stream: H2Stream, code: ErrorCodeValue): void {
    this.writeRst(stream.id, code)
    this.closeStream(stream)
  }

  private maybeClose(stream: H2Stream): void {
    if (stream.isClosed || !stream.localEnded) return
    if (!stream.remoteEnded) {
      // Our response is complete while the client still sends: RST_STREAM NO_ERROR asks it to
      // stop (RFC 9113 §8.1), after our END_STREAM in the same ordered output (grpc-go does so).
      this.writeRst(stream.id, ErrorCode.NO_ERROR)
    }
    this.closeStream(stream)
  }

  private closeStream(stream: H2Stream): void {
    if (stream.isClosed) return
    stream.isClosed = true
    stream.queue.length = 0
    stream.queueBytes = 0
    this.blocked.delete(stream)
    this.streams.delete(stream.id)
    this.activeStreams--
    // The peer's unacked DATA on this stream still counts for the connection, which we acked
    // as it came; nothing more to return.
    stream.emit('close')
    if (this.goawaySent && this.streams.size === 0) this.endSocket()
  }

  private streamError(id: number, code: ErrorCodeValue): void {
    const stream = this.streams.get(id)
    if (stream !== undefined) this.resetStream(stream, code)
    else this.writeRst(id, code)
  }

  // -------------------------------------------------------------------------------------------
  // Output.

  private sendPreface(): void {
    // SETTINGS: what differs from the defaults, then the connection window raised.
    const settings: [number, number][] = [
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, this.opts.streamWindowBytes],
      [Setting.MAX_HEADER_LIST_SIZE, this.opts.maxHeaderListBytes],
    ]
    if (this.opts.maxConcurrentStreams < 0xffff_ffff) {
      settings.push([Setting.MAX_CONCURRENT_STREAMS, this.opts.maxConcurrentStreams])
    }
    const payload = Buffer.allocUnsafe(6 * settings.length)
    settings.forEach(([key, value], i) => {
      payload.writeUInt16BE(key, 6 * i)
      payload.writeUInt32BE(value, 6 * i + 2)
    })
    this.writeFrame(FrameType.SETTINGS, 0, 0, payload)
    const raise = this.opts.connectionWindowBytes - DEFAULT_WINDOW
    if (raise > 0) this.writeWindowUpdate(0, raise)
    this.connRecvWindow = this.opts.connectionWindowBytes
  }

  private reserve(n: number): Buffer {
    if (this.out.length - this.outAt < n) {
      this.openDataAt = -1
      if (this.outAt > this.outStart)
        this.outChunks.push(this.out.subarray(this.outStart, this.outAt))
      this.out = Buffer.allocUnsafe(Math.max(OUT_CHUNK_BYTES, n))
      this.outStart = 0
      this.outAt = 0
    }
    return this.out
  }

  private writeFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.dead) return
    const n = payload.length
    const plainData = type === FrameType.DATA && flags === 0
    if (plainData && this.openDataAt >= 0 && this.openDataId === id) {
      const at = this.openDataAt
      const length = (this.out[at]! << 16) | (this.out[at + 1]! << 8) | this.out[at + 2]!
      if (length + n <= this.peerMaxFrameSize && this.out.length - this.outAt >= n) {
        payload.copy(this.out, this.outAt)
        this.outAt += n
        this.out[at] = ((length + n) >>> 16) & 0xff
        this.out[at + 1] = ((length + n) >>> 8) & 0xff
        this.out[at + 2] = (length + n) & 0xff
        this.scheduleFlush()
        return
      }
    }
    this.openDataAt = -1
    if (n < COPY_BELOW_BYTES) {
      const buf = this.reserve(FRAME_HEADER_BYTES + n)
      const start = this.outAt
      const at = putFrameHeader(buf, this.outAt, n, type, flags, id)
      payload.copy(buf, at)
      this.outAt = at + n
      if (plainData) {
        this.openDataAt = start
        this.openDataId = id
      }
    } else {
      const buf = this.reserve(FRAME_HEADER_BYTES)
      this.outAt = putFrameHeader(buf, this.outAt, n, type, flags, id)
      this.outChunks.push(this.out.subarray(this.outStart, this.outAt))
      this.outStart = this.outAt
      this.outChunks.push(payload)
    }
    this.scheduleFlush()
  }

  private writeHeaders(id: number, headers: OutgoingHeaders, endStream: boolean): void {
    if (this.dead) return
    this.openDataAt = -1
    const max = encodedSizeMax(headers)
    const buf = this.reserve(FRAME_HEADER_BYTES + max)
    const start = this.outAt + FRAME_HEADER_BYTES
    const end = encodeHeaders(buf, start, headers, this.sizeUpdatePending)
    this.sizeUpdatePending = false
    const length = end - start
    const endFlag = endStream ? Flag.END_STREAM : 0
    if (length <= this.peerMaxFrameSize) {
      putFrameHeader(buf, this.outAt, length, FrameType.HEADERS, Flag.END_HEADERS | endFlag, id)
      this.outAt = end
    } else {
      // Rare (a long grpc-message): HEADERS then CONTINUATIONs of at most the peer's frame size.
      const block = Buffer.from(buf.subarray(start, end))
      let at = 0
      let type: number = FrameType.HEADERS
      while (at < block.length) {
        const piece = block.subarray(at, at + this.peerMaxFrameSize)
        at += piece.length
        const last = at >= block.length
        const flags = (type === FrameType.HEADERS ? endFlag : 0) | (last ? Flag.END_HEADERS : 0)
        this.writeFrame(type, flags, id, piece)
        type = FrameType.CONTINUATION
      }
    }
    this.scheduleFlush()
  }

  private writeRst(id: number, code: ErrorCodeValue): void {
    const payload = Buffer.allocUnsafe(4)
    payload.writeUInt32BE(code, 0)
    this.writeFrame(FrameType.RST_STREAM, 0, id, payload)
  }

  private writeWindowUpdate(id: number, increment: number): void {
    const payload = Buffer.allocUnsafe(4)
    payload.writeUInt32BE(increment, 0)
    this.writeFrame(FrameType.WINDOW_UPDATE, 0, id, payload)
  }

  private sendGoaway(code: ErrorCodeValue, debug: string): void {
    this.goawaySent = true
    const text = Buffer.from(debug.slice(0, 256), 'utf8')
    const payload = Buffer.allocUnsafe(8 + text.length)
    payload.writeUInt32BE(this.lastPeerStreamId, 0)
    payload.writeUInt32BE(code, 4)
    text.copy(payload, 8)
    this.writeFrame(FrameType.GOAWAY, 0, 0, payload)
  }

  /**
   * @internal H2Stream.flush: the queued frames go out now; the turn's scheduled flush then
   * finds nothing (or what was queued after).
   */
  flushNow(): void {
    if (this.flushScheduled && !this.dead) this.flush()
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(this.flushBound)
  }

  private flush(): void {
    this.flushScheduled = false
    this.openDataAt = -1
    if (this.outAt > this.outStart) {
      this.outChunks.push(this.out.subarray(this.outStart, this.outAt))
      this.outStart = this.outAt
    }
    const chunks = this.outChunks
    if (chunks.length === 0) return
    this.outChunks = []
    const socket = this.socket
    if (socket.destroyed || !socket.writable) return
    if (chunks.length === 1) {
      socket.write(chunks[0] as Buffer)
    } else if (this.outChunksBytes(chunks) <= CONCAT_BELOW_BYTES) {
      // One copy is cheaper than a write request per chunk for small responses.
      socket.write(Buffer.concat(chunks))
    } else {
      socket.cork()
      for (const c of chunks) socket.write(c)
      socket.uncork()
    }
    if (socket.writableLength > OUT_PAUSE_BYTES && !this.pausedForOutput) {
      this.pausedForOutput = true
      socket.pause()
    }
  }

  private outChunksBytes(chunks: readonly Buffer[]): number {
    let n = 0
    for (const c of chunks) n += c.length
    return n
  }

  // -------------------------------------------------------------------------------------------
  // Lifetime.

  /** A connection error: GOAWAY with its code, then the socket's end; streams are closed. */
  private fail(err: H2Error): void {
    if (this.dead) return
    this.handlers.onError?.(err)
    this.sendGoaway(err.code, err.message)
    this.endSocket()
  }

  private endSocket(): void {
    if (this.dead) return
    this.flush()
    this.dead = true
    this.socket.end()
    // The peer has 5 s to close its side after our FIN; then the socket goes.
    setTimeout(() => this.socket.destroy(), 5000).unref()
    this.closeAllStreams()
  }

  private onSocketClose(): void {
    this.dead = true
    this.closeAllStreams()
    const listeners = this.closeListeners
    this.closeListeners = []
    for (const l of listeners) l()
  }

  private closeAllStreams(): void {
    for (const stream of [...this.streams.values()]) this.closeStream(stream)
  }
}

/**
 * The request's header list as node:http2 gives it (lower-case names, repeated names joined by
 * ", "), or null if it is malformed (RFC 9113 §8.2, §8.3): upper-case or empty names, a pseudo
 * header after a regular one, an unknown or repeated pseudo header, connection-specific headers,
 * "te" other than "trailers", no :method or (but for CONNECT) no :path or :scheme. Any
 * :authority is taken.
 */
function requestHeaders(fields: readonly string[]): IncomingHttpHeaders | null {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>
  let regular = false
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string
    const value = fields[i + 1] as string
    if (name.length === 0) return null
    for (let k = 0; k < name.length; k++) {
      const c = name.charCodeAt(k)
      if (c >= 0x41 && c <= 0x5a) return null
    }
    if (name.charCodeAt(0) === 0x3a) {
      if (regular || !REQUEST_PSEUDO.has(name) || headers[name] !== undefined) return null
      headers[name] = value
      continue
    }
    regular = true
    if (CONNECTION_HEADERS.has(name)) return null
    if (name === 'te' && value !== 'trailers') return null
    const prev = headers[name]
    headers[name] = prev === undefined ? value : `${prev}, ${value}`
  }
  const method = headers[':method']
  if (method === undefined) return null
  if (
    method !== 'CONNECT' &&
    (headers[':path'] === undefined || headers[':scheme'] === undefined)
  ) {
    return null
  }
  return headers as IncomingHttpHeaders
}
