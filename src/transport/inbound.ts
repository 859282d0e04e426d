/**
 * One accepted connection: the handshake, then a message stream or one snapshot.
 *
 * The first frame must be a HELLO of our protocol; anything else (an HTTP request, random
 * bytes, a length above the handshake bound) closes the connection with a logged reason. A HELLO
 * of another cluster is refused as etcd refuses it ("request cluster ID mismatch", naming both
 * ids), one addressed to another member id too ("ignored streaming request; ID mismatch"): the
 * dialer gets a REJECT with the reason, and the connection closes. After the handshake, a frame
 * that does not decode, a message for another member, an unknown frame type or a stream that ends
 * inside a frame close the connection, logged; the member and its other connections carry on.
 */
import type { NetSocket } from '../io/index.js'
import { decodeMessage, MessageType, type Message } from '../raft/index.js'
import {
  decodeHello,
  decodeSnapHead,
  encodeReject,
  frame,
  FrameReader,
  FrameType,
  HANDSHAKE_FRAME_BYTES_MAX,
  StreamKind,
  type Hello,
} from './frame.js'
import {
  fields,
  hex,
  HTTP_POST_BODY_BYTES_MAX,
  logRefusal,
  MEMBER_REMOVED_TEXT,
  type HttpAnswer,
  type TransportContext,
} from './context.js'

/** The largest HTTP request head read on the peer port. */
const HTTP_HEAD_BYTES_MAX = 8192

const HTTP_STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  500: 'Internal Server Error',
}

export function acceptConnection(
  ctx: TransportContext,
  socket: NetSocket,
  sockets: Set<NetSocket>,
): void {
  sockets.add(socket)
  const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`
  const reader = new FrameReader(HANDSHAKE_FRAME_BYTES_MAX)
  let hello: Hello | null = null
  let closedWhy: string | null = null
  let snapshot: { message: Message; data: Uint8Array; fill: number } | null = null
  let snapshotDone = false
  /** Gives the reassembly buffer's bytes back to the transport-wide bound. */
  const release = (): void => {
    if (snapshot !== null) ctx.snapshotBytesReceiving -= snapshot.data.length
    snapshot = null
  }

  /** Closes the connection for a reason worth a log line (the peer misbehaved). */
  const refuse = (why: string, reject?: string): false => {
    if (closedWhy !== null) return false
    closedWhy = why
    ctx.log.warn(
      fields(ctx, hello?.from, { 'remote-addr': remote, reason: why }),
      'closed peer connection',
    )
    if (reject !== undefined) socket.end(encodeReject(reject))
    else socket.destroy()
    return false
  }
  const cancelHandshake = ctx.net.after(ctx.limits.handshakeTimeoutMs, () => {
    if (hello === null) refuse(`no handshake within ${ctx.limits.handshakeTimeoutMs} ms`)
  })

  const onHello = (payload: Uint8Array): boolean => {
    const h = decodeHello(payload)
    if (typeof h === 'string') return refuse(`bad handshake: ${h}`)
    cancelHandshake()
    if (h.clusterId !== ctx.clusterId) {
      const text = 'request cluster ID mismatch'
      logRefusal(
        ctx,
        `cluster ${h.from} ${h.clusterId}`,
        fields(ctx, undefined, {
          'local-member-cluster-id': hex(ctx.clusterId),
          'remote-peer-id': hex(h.from),
          'remote-peer-cluster-id': hex(h.clusterId),
          'remote-addr': remote,
        }),
        text,
      )
      closedWhy = text
      socket.end(
        encodeReject(
          `${text} (local member ${hex(ctx.id)} is in cluster ${hex(ctx.clusterId)}, ` +
            `remote peer ${hex(h.from)} in cluster ${hex(h.clusterId)})`,
        ),
      )
      return false
    }
    if (ctx.isRemoved(h.from)) {
      logRefusal(
        ctx,
        `removed ${h.from}`,
        fields(ctx, h.from, { 'remote-addr': remote }),
        'rejected stream from remote peer because it was removed',
      )
      closedWhy = MEMBER_REMOVED_TEXT
      socket.end(encodeReject(MEMBER_REMOVED_TEXT))
      return false
    }
    if (h.to !== ctx.id) {
      const text = 'ignored streaming request; ID mismatch'
      logRefusal(
        ctx,
        `to ${h.from} ${h.to}`,
        fields(ctx, h.from, {
          'remote-peer-id-header': hex(h.to),
          'cluster-id': hex(ctx.clusterId),
          'remote-addr': remote,
        }),
        text,
      )
      closedWhy = text
      socket.end(
        encodeReject(
          `to field mismatch: this member is ${hex(ctx.id)}, the request is for ${hex(h.to)}`,
        ),
      )
      return false
    }
    if (h.kind !== StreamKind.MESSAGES && h.kind !== StreamKind.SNAPSHOT) {
      hello = h
      return refuse(`unknown stream kind ${h.kind}`, `unknown stream kind ${h.kind}`)
    }
    hello = h
    reader.frameBytesMax = ctx.limits.messageBytesMax
    socket.write(frame(FrameType.ACCEPT))
    ctx.log.debug(
      fields(ctx, h.from, {
        'remote-addr': remote,
        stream: h.kind === StreamKind.MESSAGES ? 'message' : 'snapshot',
      }),
      'accepted peer connection',
    )
    return true
  }

  const decode = (payload: Uint8Array): Message | null => {
    let m: Message
    try {
      m = decodeMessage(payload)
    } catch (err) {
      refuse(`frame does not decode: ${err instanceof Error ? err.message : String(err)}`)
      return null
    }
    if (m.to !== ctx.id) {
      refuse(`message for member ${hex(m.to)} on a connection to ${hex(ctx.id)}`)
      return null
    }
    return m
  }

  const deliver = (m: Message): boolean => {
    if (ctx.isRemoved(m.from)) {
      // Removed while connected: told as a new connection would be, and closed.
      closedWhy = MEMBER_REMOVED_TEXT
      socket.end(encodeReject(MEMBER_REMOVED_TEXT))
      return false
    }
    const h = ctx.handler
    if (h === null) return true // not started or stopped: raft resends what matters
    try {
      h.receive(m)
    } catch (err) {
      ctx.log.error(fields(ctx, m.from, { error: String(err) }), 'node failed to take a message')
    }
    return closedWhy === null
  }

  const onSnapshotFrame = (type: number, payload: Uint8Array): boolean => {
    const lim = ctx.limits
    if (type === FrameType.SNAP_HEAD && snapshot === null && !snapshotDone) {
      let head: { dataBytes: number; message: Uint8Array }
      try {
        head = decodeSnapHead(payload)
      } catch (err) {
        return refuse(`bad snapshot head: ${String(err)}`)
      }
      if (head.dataBytes > lim.snapshotBytesMax) {
        const why = `snapshot of ${head.dataBytes} bytes exceeds the limit of ${lim.snapshotBytesMax}`
        return refuse(why, why)
      }
      if (ctx.snapshotBytesReceiving + head.dataBytes > lim.snapshotBytesMax) {
        // Several senders at once (or one retrying while its old stream lingers): their sum is
        // what memory holds, so the sum is bounded. The sender reports Failure; raft retries.
        const why =
          `snapshot of ${head.dataBytes} bytes would take the snapshots being received to ` +
          `${ctx.snapshotBytesReceiving + head.dataBytes} bytes, above ${lim.snapshotBytesMax}`
        return refuse(why, why)
      }
      const m = decode(head.message)
      if (m === null) return false
      if (m.type !== MessageType.MsgSnap || m.snapshot === null) {
        return refuse(`a snapshot stream carried ${MessageType[m.type]}`)
      }
      snapshot = { message: m, data: new Uint8Array(head.dataBytes), fill: 0 }
      ctx.snapshotBytesReceiving += head.dataBytes
      ctx.log.info(
        fields(ctx, m.from, {
          'snapshot-index': m.snapshot.metadata.index,
          'snapshot-size-bytes': head.dataBytes,
        }),
        'receiving database snapshot',
      )
    } else if (type === FrameType.SNAP_CHUNK && snapshot !== null) {
      if (snapshot.fill + payload.length > snapshot.data.length) {
        return refuse(`snapshot chunk beyond the announced ${snapshot.data.length} bytes`)
      }
      snapshot.data.set(payload, snapshot.fill)
      snapshot.fill += payload.length
    } else {
      return refuse(`unexpected frame type ${type} on a snapshot stream`)
    }
    if (snapshot.fill < snapshot.data.length) return true
    const s = snapshot
    release()
    snapshotDone = true
    if (ctx.handler === null) return refuse('snapshot arrived while the transport is not running')
    const m = {
      ...s.message,
      snapshot: { ...(s.message.snapshot as NonNullable<Message['snapshot']>), data: s.data },
    }
    ctx.log.info(
      fields(ctx, m.from, {
        'snapshot-index': m.snapshot.metadata.index,
        'snapshot-size-bytes': s.data.length,
      }),
      'received database snapshot',
    )
    deliver(m)
    if (closedWhy === null) socket.end(frame(FrameType.SNAP_ACK))
    return false
  }

  const onFrame = (type: number, payload: Uint8Array): boolean => {
    if (closedWhy !== null) return false
    if (hello === null) {
      if (type !== FrameType.HELLO) return refuse(`bad handshake: first frame of type ${type}`)
      return onHello(payload)
    }
    if (hello.kind === StreamKind.SNAPSHOT) return onSnapshotFrame(type, payload)
    if (type !== FrameType.MSG) return refuse(`unexpected frame type ${type} on a message stream`)
    // The decoded entries are views into the payload and live on in raft's log: a payload cut
    // from a socket read that carried other frames is copied, so it does not keep that read's
    // whole buffer alive (a frame the reader assembled has a buffer of its own).
    const own = payload.byteLength === payload.buffer.byteLength ? payload : payload.slice()
    const m = decode(own)
    if (m === null) return false
    return deliver(m)
  }

  /** Bytes of an HTTP request being read (null: not HTTP, or decided). */
  let http: Buffer | null = null
  let sniffed = false
  /** A POST is being answered: later requests on the connection wait in `http`. */
  let httpBusy = false
  let cancelIdle: (() => void) | null = null
  const onHttp = (chunk: Uint8Array | null): void => {
    if (chunk !== null) {
      http = http === null || http.length === 0 ? Buffer.from(chunk) : Buffer.concat([http, chunk])
    }
    if (httpBusy || http === null || http.length === 0) return
    const end = http.indexOf('\r\n\r\n')
    if (end < 0) {
      if (http.length > HTTP_HEAD_BYTES_MAX) refuse('HTTP request head too large')
      return
    }
    const headText = http.subarray(0, end).toString('latin1')
    const lines = headText.split('\r\n')
    const [method = '', target = '/'] = (lines[0] ?? '').split(' ')
    const path = target.split('?')[0] ?? target
    let answer: HttpAnswer | Promise<HttpAnswer> | undefined
    // A POST keeps its connection for the next one (a follower forwards every keepalive of its
    // clients), unless it asks to close; a GET is answered and closed.
    let keepAlive = false
    if (method === 'POST') {
      // A POST (etcd's leasehttp) carries a body of Content-Length bytes, read whole first.
      const lengthLine = lines.find((l) => l.toLowerCase().startsWith('content-length:'))
      const length = Number((lengthLine ?? '').slice('content-length:'.length).trim())
      if (!Number.isSafeInteger(length) || length < 0 || length > HTTP_POST_BODY_BYTES_MAX) {
        refuse('HTTP POST without a valid Content-Length')
        return
      }
      if (http.length < end + 4 + length) return
      cancelHandshake()
      cancelIdle?.()
      cancelIdle = null
      keepAlive = !lines.some((l) => /^connection:\s*close\s*$/i.test(l))
      const body = new Uint8Array(http.subarray(end + 4, end + 4 + length))
      http = http.subarray(end + 4 + length)
      httpBusy = true
      if (!keepAlive) closedWhy = 'http'
      answer = ctx.httpPost(path, body)
    } else {
      cancelHandshake()
      closedWhy = 'http'
      answer = ctx.httpGet(path)
    }
    const respond = (a: HttpAnswer | undefined): void => {
      a ??= {
        status: 404,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: '404 page not found\n',
      }
      const body = typeof a.body === 'string' ? Buffer.from(a.body, 'utf8') : Buffer.from(a.body)
      const head = [
        `HTTP/1.1 ${a.status} ${HTTP_STATUS_TEXT[a.status] ?? 'Error'}`,
        ...Object.entries(a.headers).map(([k, v]) => `${k}: ${v}`),
        `Content-Length: ${body.length}`,
        `Connection: ${keepAlive ? 'keep-alive' : 'close'}`,
        '',
        '',
      ].join('\r\n')
      const out = Buffer.concat([Buffer.from(head, 'latin1'), body])
      if (!keepAlive || closedWhy !== null || socket.destroyed) {
        if (!socket.destroyed) socket.end(out)
        return
      }
      socket.write(out)
      httpBusy = false
      // An idle kept-alive connection closes after the handshake timeout.
      cancelIdle = ctx.net.after(ctx.limits.handshakeTimeoutMs, () => {
        if (!httpBusy && closedWhy === null) {
          closedWhy = 'http idle'
          socket.end()
        }
      })
      onHttp(null)
    }
    if (answer instanceof Promise) {
      answer.then(respond, (err: unknown) =>
        respond({
          status: 500,
          headers: { 'content-type': 'text/plain; charset=utf-8' },
          body: `${(err as Error).message ?? String(err)}\n`,
        }),
      )
    } else respond(answer)
  }

  socket.on('data', (chunk: Uint8Array) => {
    if (!sniffed) {
      // An HTTP GET or POST (etcd's peer handler answers GET /members and POST /leases on the
      // peer port) is told apart from our handshake by its first bytes: a frame starts with a
      // length and the HELLO type.
      sniffed = true
      const first = Buffer.from(chunk.subarray(0, 5)).toString('latin1')
      if (first.startsWith('GET ') || first === 'POST ') http = Buffer.alloc(0)
    }
    if (http !== null) {
      if (closedWhy === null) onHttp(chunk)
      return
    }
    const bad = reader.push(chunk, onFrame)
    if (bad !== null) refuse(hello === null ? `bad handshake: ${bad}` : bad)
  })
  socket.on('end', () => {
    if (closedWhy !== null) return
    if (reader.pending) refuse('truncated frame: the stream ended inside a frame')
    else if (snapshot !== null) {
      refuse(`snapshot stream ended after ${snapshot.fill} of ${snapshot.data.length} bytes`)
    } else socket.end()
  })
  socket.on('error', (err) => {
    if (closedWhy === null) {
      closedWhy = err.message
      ctx.log.debug(
        fields(ctx, hello?.from, { 'remote-addr': remote, error: err.message }),
        'peer connection error',
      )
    }
  })
  socket.on('close', () => {
    cancelHandshake()
    cancelIdle?.()
    release()
    sockets.delete(socket)
  })
}
