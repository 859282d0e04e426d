/**
 * Sends one MsgSnap on a connection of its own, so that the many megabytes of its data never
 * queue in front of heartbeats and appends (etcd's rafthttp snapshotSender does the same over an
 * HTTP POST of its own): HELLO as a SNAPSHOT stream, then a SNAP_HEAD with the message without
 * its data, then the data in chunks, written only while the socket holds less than its bound
 * (so a slow receiver costs one socket buffer, not a second copy of the snapshot). The receiver
 * answers SNAP_ACK once it has handed the whole message to its node: only then is the outcome
 * SnapshotFinish. Anything else (refused, cut off, closed) is SnapshotFailure, and the peer is
 * reported unreachable, as etcd does, so raft probes before it sends another.
 */
import type { NetSocket } from '../io/index.js'
import { EMPTY_BYTES, SnapshotStatus, encodeMessage, type Message } from '../raft/index.js'
import {
  encodeHello,
  encodeSnapHead,
  FRAME_HEADER_BYTES,
  FrameReader,
  FrameType,
  HANDSHAKE_FRAME_BYTES_MAX,
  StreamKind,
  writeFrameHeader,
} from './frame.js'
import { fields, reportSnapshot, reportUnreachable, type TransportContext } from './context.js'
import { netHost, type PeerUrl } from './url.js'

/** Streams `m` (a MsgSnap) to `url`; `sockets` holds the connection while it is open. */
export function sendSnapshot(
  ctx: TransportContext,
  url: PeerUrl,
  m: Message,
  sockets: Set<NetSocket>,
): void {
  const snap = m.snapshot
  const data = snap === null ? EMPTY_BYTES : snap.data
  const peer = m.to
  const socket = ctx.net.connect({ host: netHost(url), port: url.port })
  sockets.add(socket)
  let reason = 'connection closed before the snapshot was acknowledged'
  let done = false
  let offset = 0
  let streaming = false
  const info = {
    'remote-peer-url': url.url,
    'snapshot-index': snap?.metadata.index ?? 0,
    'snapshot-size-bytes': data.length,
  }

  const finish = (ok: boolean): void => {
    if (done) return
    done = true
    cancelHandshake()
    cancelStall()
    if (ctx.stopped) return
    if (ok) {
      ctx.log.info(fields(ctx, peer, info), 'sent database snapshot')
      reportSnapshot(ctx, peer, SnapshotStatus.SnapshotFinish)
    } else {
      ctx.log.warn(
        fields(ctx, peer, { ...info, error: reason }),
        'failed to send database snapshot',
      )
      reportUnreachable(ctx, peer)
      reportSnapshot(ctx, peer, SnapshotStatus.SnapshotFailure)
    }
  }
  const cancelHandshake = ctx.net.after(ctx.limits.handshakeTimeoutMs, () => {
    if (streaming) return
    reason = `no handshake answer within ${ctx.limits.handshakeTimeoutMs} ms`
    socket.destroy()
  })

  // Re-armed whenever the stream moves (a drain); the acknowledgement must come in time too.
  let cancelStall = (): void => {}
  const armStall = (): void => {
    cancelStall()
    const ms = ctx.limits.stallTimeoutMs
    cancelStall = ctx.net.after(ms, () => {
      reason = `the snapshot stream did not move for ${ms} ms`
      socket.destroy()
    })
  }

  const pump = (): void => {
    armStall()
    const lim = ctx.limits
    // Bounded by the data: every pass writes one chunk.
    while (offset < data.length && socket.writableLength < lim.socketBufferBytesMax) {
      const n = Math.min(lim.snapshotChunkBytes, data.length - offset)
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
      writeFrameHeader(header, 0, FrameType.SNAP_CHUNK, n)
      socket.write(header)
      socket.write(data.subarray(offset, offset + n))
      offset += n
    }
  }

  socket.setKeepAlive(true, 5000)
  socket.write(
    encodeHello({ kind: StreamKind.SNAPSHOT, clusterId: ctx.clusterId, from: ctx.id, to: peer }),
  )
  const reader = new FrameReader(HANDSHAKE_FRAME_BYTES_MAX)
  socket.on('data', (chunk: Uint8Array) => {
    const bad = reader.push(chunk, (type, payload) => {
      if (type === FrameType.ACCEPT && !streaming) {
        streaming = true
        cancelHandshake()
        const head = snap === null ? m : { ...m, snapshot: { ...snap, data: EMPTY_BYTES } }
        socket.write(encodeSnapHead(data.length, encodeMessage(head)))
        pump()
        return true
      }
      if (type === FrameType.SNAP_ACK && streaming && offset === data.length) {
        finish(true)
        socket.end()
        return false
      }
      reason =
        type === FrameType.REJECT
          ? `refused by the peer: ${new TextDecoder().decode(payload)}`
          : `unexpected frame type ${type} from the peer`
      socket.destroy()
      return false
    })
    if (bad !== null) {
      reason = bad
      socket.destroy()
    }
  })
  socket.on('drain', pump)
  socket.on('error', (err) => {
    reason = err.message
  })
  socket.on('close', () => {
    sockets.delete(socket)
    finish(false)
  })
}
