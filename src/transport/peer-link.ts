/**
 * The message stream to one peer: a persistent connection, the bounded queue in front of it,
 * batching, and reconnection with capped exponential backoff.
 *
 * States: `connecting` (dialing, or waiting for the peer's ACCEPT: messages queue, up to the
 * bounds), `active` (messages are written), `down` (the last attempt failed and a retry is
 * timed: messages are dropped at once and the peer reported unreachable, as etcd's rafthttp does
 * for an inactive peer, so raft probes instead of piling up appends), `closed` (removed or
 * stopped). Only the changes active → down and down → active are logged at warn/info ("peer
 * became inactive", "peer became active"), never each failed retry or each dropped message: a
 * member down for an hour writes two lines.
 *
 * Memory per peer is bounded by queueBytesMax (the queue) plus socketBufferBytesMax and one
 * batch (what the socket holds that the kernel has not taken): a peer that stops reading makes
 * the socket fill, then the queue, then drops.
 */
import type { NetSocket } from '../io/index.js'
import { MessageType, type NodeId } from '../raft/index.js'
import {
  encodeHello,
  FRAME_HEADER_BYTES,
  FrameReader,
  FrameType,
  HANDSHAKE_FRAME_BYTES_MAX,
  StreamKind,
  writeFrameHeader,
} from './frame.js'
import {
  fields,
  hex,
  logRefusal,
  MEMBER_REMOVED_TEXT,
  reportUnreachable,
  type TransportContext,
} from './context.js'
import { netHost, type PeerUrl } from './url.js'
import type { PeerStats } from './types.js'

type LinkState = 'idle' | 'connecting' | 'active' | 'down' | 'closed'

export class PeerLink {
  state: LinkState = 'idle'
  private socket: NetSocket | null = null
  private urlIndex = 0
  private backoffMs: number
  private cancelTimer: (() => void) | null = null
  /** Armed while the socket holds more than its bound: the peer must drain it in time. */
  private cancelStall: (() => void) | null = null
  /** Encoded messages waiting, oldest first; `head` is the first one still queued. */
  private queue: Uint8Array[] = []
  private head = 0
  private queueBytes = 0
  private flushScheduled = false
  /** Whether the peer was ever reached: the first failure is logged even before that. */
  private wasActive = false
  private loggedDown = false
  /** The current episode of drops (queue full or peer down): logged once when it starts. */
  private droppedInEpisode = 0
  private downReason = ''
  /** Why the stall timer closed the socket, for the close handler's log line. */
  private stallReason: string | null = null
  readonly stats = { sentMessages: 0, writes: 0, sentBytes: 0, droppedMessages: 0 }

  constructor(
    private readonly ctx: TransportContext,
    readonly peer: NodeId,
    public urls: PeerUrl[],
  ) {
    this.backoffMs = ctx.limits.backoffMinMs
  }

  /** Starts the first connection. */
  open(): void {
    if (this.state === 'idle') this.connect()
  }

  /**
   * Queues one encoded message; false when it was dropped (the caller reports the peer
   * unreachable, once per send() call).
   */
  enqueue(encoded: Uint8Array, type: MessageType): boolean {
    const lim = this.ctx.limits
    if (this.state === 'closed' || this.state === 'idle')
      return this.drop(type, 'transport not started')
    if (this.state === 'down') return this.drop(type, 'peer is inactive')
    const queued = this.queue.length - this.head
    if (queued >= lim.queueMessagesMax || this.queueBytes + encoded.length > lim.queueBytesMax) {
      return this.drop(type, 'sending buffer is full (overloaded network)')
    }
    this.queue.push(encoded)
    this.queueBytes += encoded.length
    if (this.state === 'active' && !this.flushScheduled) {
      // Everything handed to us in this turn of the event loop goes out in one write.
      this.flushScheduled = true
      queueMicrotask(() => {
        this.flushScheduled = false
        this.flush()
      })
    }
    return true
  }

  /** Replaces the peer's URLs; a connection to a URL no longer listed is dropped. */
  setUrls(urls: PeerUrl[]): void {
    const current = this.urls[this.urlIndex]?.url
    this.urls = urls
    const still = urls.findIndex((u) => u.url === current)
    this.urlIndex = still >= 0 ? still : 0
    if (still >= 0) return
    if (this.socket !== null) this.socket.destroy()
    else if (this.state === 'down') {
      // New addresses deserve a try now, not at the end of a backoff meant for the old ones.
      this.cancelTimer?.()
      this.cancelTimer = null
      this.backoffMs = this.ctx.limits.backoffMinMs
      this.connect()
    }
  }

  /** The URL the link dials now (a snapshot goes there too). */
  currentUrl(): PeerUrl {
    return this.urls[this.urlIndex % this.urls.length] as PeerUrl
  }

  close(): void {
    this.state = 'closed'
    this.cancelStall?.()
    this.cancelStall = null
    this.cancelTimer?.()
    this.cancelTimer = null
    this.socket?.destroy()
    this.socket = null
    this.clearQueue()
  }

  /** Resolves when the link's socket (if any) has closed. */
  closed(): Promise<void> {
    const s = this.socket
    if (s === null || s.destroyed) return Promise.resolve()
    return new Promise((resolve) => s.once('close', () => resolve()))
  }

  snapshotStats(): PeerStats {
    return {
      ...this.stats,
      queuedMessages: this.queue.length - this.head,
      queuedBytes: this.queueBytes,
      active: this.state === 'active',
    }
  }

  private drop(type: MessageType, why: string): false {
    this.stats.droppedMessages++
    if (this.droppedInEpisode++ === 0) {
      this.ctx.log.warn(
        fields(this.ctx, this.peer, {
          'message-type': MessageType[type],
          'remote-peer-active': this.state === 'active',
          reason: why,
        }),
        'dropped internal Raft message (more are not logged until the peer catches up)',
      )
    }
    return false
  }

  private connect(): void {
    const url = this.urls[this.urlIndex % this.urls.length] as PeerUrl
    this.state = 'connecting'
    const ctx = this.ctx
    const socket = ctx.net.connect({ host: netHost(url), port: url.port })
    this.socket = socket
    socket.setKeepAlive(true, 5000)
    let reason = 'connection closed'
    const reader = new FrameReader(HANDSHAKE_FRAME_BYTES_MAX)
    const cancelHandshake = ctx.net.after(ctx.limits.handshakeTimeoutMs, () => {
      reason = `no handshake answer within ${ctx.limits.handshakeTimeoutMs} ms`
      socket.destroy()
    })
    socket.write(
      encodeHello({
        kind: StreamKind.MESSAGES,
        clusterId: ctx.clusterId,
        from: ctx.id,
        to: this.peer,
      }),
    )
    socket.on('data', (chunk: Uint8Array) => {
      const bad = reader.push(chunk, (type, payload) => {
        if (this.state === 'connecting' && type === FrameType.ACCEPT) {
          cancelHandshake()
          this.becomeActive(url)
          return true
        }
        if (type === FrameType.REJECT) {
          const text = new TextDecoder().decode(payload)
          reason = `refused by the peer: ${text}`
          if (text === MEMBER_REMOVED_TEXT) ctx.onRemoved()
          logRefusal(
            ctx,
            `reject ${this.peer} ${reason}`,
            fields(ctx, this.peer, {
              'remote-peer-url': url.url,
              'local-member-cluster-id': hex(ctx.clusterId),
              reason,
            }),
            reason.includes('cluster ID mismatch')
              ? 'request sent was ignored by remote peer due to cluster ID mismatch'
              : 'request sent was ignored by remote peer',
          )
        } else {
          reason = `unexpected frame type ${type} from the peer`
        }
        socket.destroy()
        return false
      })
      if (bad !== null) {
        reason = bad
        socket.destroy()
      }
    })
    socket.on('drain', () => {
      this.cancelStall?.()
      this.cancelStall = null
      this.flush()
    })
    socket.on('error', (err) => {
      reason = err.message
    })
    socket.on('close', () => {
      if (this.stallReason !== null) reason = this.stallReason
      this.stallReason = null
      cancelHandshake()
      this.cancelStall?.()
      this.cancelStall = null
      if (this.socket === socket) this.socket = null
      this.becomeDown(url, reason)
    })
  }

  private becomeActive(url: PeerUrl): void {
    this.state = 'active'
    this.backoffMs = this.ctx.limits.backoffMinMs
    this.wasActive = true
    this.loggedDown = false
    this.ctx.log.info(
      fields(this.ctx, this.peer, { 'remote-peer-url': url.url }),
      'peer became active',
    )
    this.flush()
  }

  private becomeDown(url: PeerUrl, reason: string): void {
    if (this.state === 'closed' || this.ctx.stopped) return
    const wasActive = this.state === 'active'
    // What was queued for a connection that is gone is stale: raft resends what matters, and
    // learns through the unreachable report to probe.
    const hadQueued = this.queue.length - this.head > 0
    this.stats.droppedMessages += this.queue.length - this.head
    this.clearQueue()
    this.state = 'down'
    if (!this.loggedDown) {
      this.loggedDown = true
      this.downReason = reason
      this.ctx.log.warn(
        fields(this.ctx, this.peer, { 'remote-peer-url': url.url, error: reason }),
        this.wasActive
          ? 'peer became inactive (message send to peer failed)'
          : 'failed to reach the peer (retrying with backoff)',
      )
    }
    if (hadQueued || wasActive) reportUnreachable(this.ctx, this.peer)
    this.urlIndex = (this.urlIndex + 1) % this.urls.length
    const delay = this.backoffMs
    this.backoffMs = Math.min(this.backoffMs * 2, this.ctx.limits.backoffMaxMs)
    this.cancelTimer = this.ctx.net.after(delay, () => {
      this.cancelTimer = null
      if (this.state === 'down' && !this.ctx.stopped) this.connect()
    })
  }

  /** The reason of the last logged failure (tests). */
  get lastDownReason(): string {
    return this.downReason
  }

  /**
   * Writes queued messages as one buffer per batch while the socket holds less than its bound.
   * One copy per message (into the batch) buys one write call and one TCP push for the lot.
   */
  private flush(): void {
    const socket = this.socket
    if (this.state !== 'active' || socket === null) return
    const ctx = this.ctx
    const lim = ctx.limits
    // Bounded by the queue: every pass takes at least one message or returns.
    while (this.head < this.queue.length) {
      const room = lim.socketBufferBytesMax - socket.writableLength
      if (room <= 0) {
        if (this.cancelStall === null) {
          const ms = lim.stallTimeoutMs
          this.cancelStall = ctx.net.after(ms, () => {
            this.cancelStall = null
            this.stallReason = `the peer took nothing for ${ms} ms`
            socket.destroy()
          })
        }
        // 'drain' calls us again. Drop the sent prefix now and then, so the array stays small.
        if (this.head > 1024) {
          this.queue = this.queue.slice(this.head)
          this.head = 0
        }
        return
      }
      let end = this.head
      let bytes = 0
      while (end < this.queue.length && end - this.head < lim.writeMessagesMax) {
        const n = FRAME_HEADER_BYTES + (this.queue[end] as Uint8Array).length
        if (bytes > 0 && bytes + n > room) break
        bytes += n
        end++
      }
      const batch = Buffer.allocUnsafe(bytes)
      let at = 0
      for (let i = this.head; i < end; i++) {
        const m = this.queue[i] as Uint8Array
        writeFrameHeader(batch, at, FrameType.MSG, m.length)
        batch.set(m, at + FRAME_HEADER_BYTES)
        at += FRAME_HEADER_BYTES + m.length
        this.queueBytes -= m.length
      }
      this.stats.sentMessages += end - this.head
      this.stats.writes++
      this.stats.sentBytes += bytes
      this.head = end
      socket.write(batch)
    }
    this.clearQueue()
    if (this.droppedInEpisode > 0) {
      this.ctx.log.info(
        fields(this.ctx, this.peer, { dropped: this.droppedInEpisode }),
        'peer caught up; messages flow again',
      )
      this.droppedInEpisode = 0
    }
  }

  private clearQueue(): void {
    this.queue = []
    this.head = 0
    this.queueBytes = 0
  }
}
