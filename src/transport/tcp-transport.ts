/**
 * TcpTransport: raft messages between the members of one cluster over TCP (see index.ts for what
 * it promises). It owns the listeners (accepted connections: inbound.ts), one PeerLink per peer
 * (the outbound message stream: peer-link.ts) and the snapshot connections in flight
 * (snapshot-sender.ts). Messages travel in raftpb's protobuf encoding in our own frames
 * (frame.ts).
 *
 * The direction of a connection is the direction of its messages: a member dials each peer and
 * writes its messages to it, and reads its peers' messages from the connections they dialed. So
 * between two members there are two message connections, each with one writer, and no ordering
 * question between writers (etcd's rafthttp also keeps one stream per direction).
 */
import {
  encodeMessage,
  MessageType,
  SnapshotStatus,
  type Message,
  type NodeId,
} from '../raft/index.js'
import { tcpNet, type Net, type NetServer, type NetSocket } from '../io/index.js'
import { TransportError } from './errors.js'
import {
  fields,
  hex,
  reportSnapshot,
  reportUnreachable,
  type HttpAnswer,
  type TransportContext,
} from './context.js'
import { acceptConnection } from './inbound.js'
import { PeerLink } from './peer-link.js'
import { sendSnapshot } from './snapshot-sender.js'
import {
  DEFAULT_LIMITS,
  silentLogger,
  type PeerHandler,
  type PeerStats,
  type Transport,
  type TransportLimits,
  type TransportLogger,
} from './types.js'
import { netHost, parsePeerUrls, type PeerUrl } from './url.js'

export interface TcpTransportOptions {
  /** This member's id. */
  readonly id: NodeId
  /** The cluster's id: a peer presenting another is refused ("request cluster ID mismatch"). */
  readonly clusterId: bigint
  /**
   * Where to accept peers (etcd's --listen-peer-urls): http://host:port; port 0 = any free port;
   * "localhost" binds 127.0.0.1.
   */
  readonly listenUrls: readonly string[]
  /** The other members' peer URLs (etcd's --initial-cluster; this member's own entry is skipped). */
  readonly peers: ReadonlyMap<NodeId, readonly string[]>
  readonly logger?: TransportLogger
  /** The network (default tcpNet, node:net). */
  readonly net?: Net
  readonly limits?: Partial<TransportLimits>
  /** Whether a member id was removed from the cluster: its connections are refused with etcd's
   * "the member has been permanently removed from the cluster". */
  readonly isRemoved?: (id: NodeId) => boolean
  /** Called when a peer refuses us because this member was removed. */
  readonly onRemoved?: () => void
  /**
   * Answers an HTTP/1.1 GET on the peer port, recognised before the handshake (etcd's peer
   * handler serves GET /members there; a joining member reads the cluster from it). Undefined:
   * 404.
   */
  readonly httpGet?: (path: string) => HttpAnswer | undefined
  /**
   * Answers an HTTP/1.1 POST on the peer port (etcd's leasehttp: POST /leases and
   * /leases/internal, a follower forwarding a keepalive or a TimeToLive to the leader), its body
   * read whole first (at most 64 KiB). Undefined: 404.
   */
  readonly httpPost?: (path: string, body: Uint8Array) => Promise<HttpAnswer> | undefined
}

export class TcpTransport implements Transport {
  private readonly ctx: TransportContext
  private readonly listenUrls: PeerUrl[]
  private readonly links = new Map<NodeId, PeerLink>()
  private readonly servers: NetServer[] = []
  /** Accepted connections and snapshot connections, closed by stop(). */
  private readonly sockets = new Set<NetSocket>()
  /** Peers a message was addressed to without a known URL: warned about once each. */
  private readonly unknownWarned = new Set<NodeId>()
  private started = false
  private stopping: Promise<void> | null = null

  constructor(opts: TcpTransportOptions) {
    const limits = { ...DEFAULT_LIMITS, ...opts.limits }
    validateLimits(limits)
    if (opts.id === 0n) throw new TransportError('INVALID', 'member id 0 is raft\'s "none"')
    this.ctx = {
      id: opts.id,
      clusterId: opts.clusterId,
      net: opts.net ?? tcpNet,
      limits,
      log: opts.logger ?? silentLogger,
      handler: null,
      stopped: false,
      snapshotBytesReceiving: 0,
      refusalsLogged: new Set(),
      isRemoved: opts.isRemoved ?? (() => false),
      onRemoved: opts.onRemoved ?? (() => {}),
      httpGet: opts.httpGet ?? (() => undefined),
      httpPost: opts.httpPost ?? (() => undefined),
    }
    this.listenUrls = parsePeerUrls(opts.listenUrls, { listen: true })
    for (const [id, urls] of opts.peers) {
      if (id !== opts.id) this.links.set(id, new PeerLink(this.ctx, id, parsePeerUrls(urls)))
    }
  }

  /**
   * Binds every listen URL; resolves with the bound URLs in the same order (a port 0 becomes
   * the port the OS chose). Throws TransportError LISTEN_FAILED naming the URL when one cannot be
   * bound (the others are closed again).
   */
  async listen(): Promise<string[]> {
    if (this.ctx.stopped) throw new TransportError('STOPPED', 'the transport was stopped')
    if (this.servers.length > 0) throw new TransportError('INVALID', 'listen() was called already')
    const bound: string[] = []
    for (const u of this.listenUrls) {
      const server = this.ctx.net.createServer((socket) => {
        if (this.ctx.stopped) socket.destroy()
        else acceptConnection(this.ctx, socket, this.sockets)
      })
      const host = netHost(u)
      let port: number
      try {
        port = (await server.listen({ host, port: u.port })).port
      } catch (err) {
        await Promise.all(this.servers.map((s) => s.close()))
        this.servers.length = 0
        throw new TransportError('LISTEN_FAILED', `cannot listen on ${u.url}: ${String(err)}`, {
          cause: err,
        })
      }
      server.onError((err) => {
        this.ctx.log.error(
          fields(this.ctx, undefined, { address: u.url, error: String(err) }),
          'peer listener failed',
        )
      })
      this.servers.push(server)
      const shown = host.includes(':') ? `[${host}]` : host
      bound.push(`http://${shown}:${port}`)
    }
    this.ctx.log.info(
      fields(this.ctx, undefined, {
        'listen-peer-urls': bound,
        'cluster-id': hex(this.ctx.clusterId),
      }),
      'listening for peers',
    )
    return bound
  }

  /** Starts delivering what arrives to `handler` and connects to every peer. */
  start(handler: PeerHandler): void {
    if (this.ctx.stopped) throw new TransportError('STOPPED', 'the transport was stopped')
    this.ctx.handler = handler
    this.started = true
    for (const link of this.links.values()) link.open()
  }

  /**
   * Queues each message for its peer. A message that cannot be queued (peer down, queue full,
   * peer unknown, message too large) is dropped and its peer reported unreachable, once per call;
   * a MsgSnap goes on a connection of its own and ends in a snapshotStatus report.
   */
  send(messages: readonly Message[]): void {
    if (!this.started || this.ctx.stopped) return
    let unreachable: NodeId[] | null = null
    for (const m of messages) {
      if (m.to === this.ctx.id) continue // raft's local messages never reach a transport
      const link = this.links.get(m.to)
      let ok: boolean
      if (link === undefined) {
        ok = false
        if (!this.unknownWarned.has(m.to)) {
          this.unknownWarned.add(m.to)
          this.ctx.log.warn(
            fields(this.ctx, m.to, { 'message-type': MessageType[m.type] }),
            'ignored message send request; unknown remote peer target',
          )
        }
        if (m.type === MessageType.MsgSnap)
          reportSnapshot(this.ctx, m.to, SnapshotStatus.SnapshotFailure)
      } else if (m.type === MessageType.MsgSnap) {
        sendSnapshot(this.ctx, link.currentUrl(), m, this.sockets)
        ok = true
      } else {
        const encoded = encodeMessage(m)
        if (encoded.length > this.ctx.limits.messageBytesMax) {
          this.ctx.log.error(
            fields(this.ctx, m.to, {
              'message-type': MessageType[m.type],
              'message-size-bytes': encoded.length,
              limit: this.ctx.limits.messageBytesMax,
            }),
            'dropped internal Raft message: larger than messageBytesMax',
          )
          link.stats.droppedMessages++
          ok = false
        } else {
          ok = link.enqueue(encoded, m.type)
        }
      }
      if (!ok && !(unreachable ?? []).includes(m.to)) (unreachable ??= []).push(m.to)
    }
    if (unreachable !== null) for (const peer of unreachable) reportUnreachable(this.ctx, peer)
  }

  /** Adds a peer or replaces its URLs (a membership change). Throws INVALID_URL on a bad URL. */
  setPeer(id: NodeId, urls: readonly string[]): void {
    const parsed = parsePeerUrls(urls)
    if (id === this.ctx.id || this.ctx.stopped) return
    const link = this.links.get(id)
    if (link !== undefined) {
      link.setUrls(parsed)
      return
    }
    const fresh = new PeerLink(this.ctx, id, parsed)
    this.links.set(id, fresh)
    this.unknownWarned.delete(id)
    if (this.started) fresh.open()
  }

  /** Forgets a peer: its connection closes and its queued messages are dropped. */
  removePeer(id: NodeId): void {
    const link = this.links.get(id)
    if (link === undefined) return
    this.links.delete(id)
    link.close()
  }

  /**
   * Stops both directions: nothing reaches the handler any more, every listener and connection
   * closes. The promise resolves once they all have (a caller may ignore it, as the node driver
   * does); it never rejects.
   */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping
    this.ctx.stopped = true
    this.ctx.handler = null
    const waits: Promise<unknown>[] = []
    for (const link of this.links.values()) {
      waits.push(link.closed())
      link.close()
    }
    for (const s of this.sockets) {
      waits.push(new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r()))))
      s.destroy()
    }
    for (const server of this.servers) waits.push(server.close())
    this.stopping = Promise.all(waits).then(() => undefined)
    return this.stopping
  }

  /** Counters for one peer, or summed over all peers. */
  stats(peer?: NodeId): PeerStats {
    const all: PeerStats[] = []
    for (const [id, link] of this.links)
      if (peer === undefined || id === peer) all.push(link.snapshotStats())
    const sum: PeerStats = {
      sentMessages: 0,
      writes: 0,
      sentBytes: 0,
      droppedMessages: 0,
      queuedMessages: 0,
      queuedBytes: 0,
      active: all.length > 0,
    }
    for (const s of all) {
      sum.sentMessages += s.sentMessages
      sum.writes += s.writes
      sum.sentBytes += s.sentBytes
      sum.droppedMessages += s.droppedMessages
      sum.queuedMessages += s.queuedMessages
      sum.queuedBytes += s.queuedBytes
      sum.active &&= s.active
    }
    return sum
  }
}

function validateLimits(l: TransportLimits): void {
  for (const [name, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new TransportError('INVALID', `limits.${name} (${v}) must be a positive integer`)
    }
  }
  if (l.backoffMaxMs < l.backoffMinMs) {
    throw new TransportError(
      'INVALID',
      `limits.backoffMaxMs (${l.backoffMaxMs}) is below backoffMinMs (${l.backoffMinMs})`,
    )
  }
  if (l.snapshotChunkBytes > l.messageBytesMax) {
    throw new TransportError(
      'INVALID',
      `limits.snapshotChunkBytes (${l.snapshotChunkBytes}) exceeds messageBytesMax (${l.messageBytesMax}): a receiver would refuse the chunks`,
    )
  }
}
