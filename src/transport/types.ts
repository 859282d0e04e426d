/**
 * The shapes the transport shares with its users. `Transport` and `PeerHandler` are declared here
 * structurally identical to the node driver's (src/node/transport.ts), so that src/transport
 * depends on src/raft and src/io only, and a `TcpTransport` is a node `Transport` by structure:
 * the server hands one to `RaftNode.start` without either layer importing the other.
 */
import type { Message, NodeId, SnapshotStatus } from '../raft/index.js'

/** What the transport hands to the node (src/node's PeerHandler, by structure). */
export interface PeerHandler {
  /** A message from a peer, for the node to step. */
  receive(m: Message): void
  /** A message to `peer` could not be delivered: raft slows down its replication to it. */
  unreachable(peer: NodeId): void
  /** How the delivery of a MsgSnap to `peer` ended. */
  snapshotStatus(peer: NodeId, status: SnapshotStatus): void
}

/** The node's view of a transport (src/node's Transport, by structure). */
export interface Transport {
  start(handler: PeerHandler): void
  send(messages: readonly Message[]): void
  stop(): void
}

/**
 * A structured logger, pino's call shape (`log.warn({ 'remote-peer-id': 'a1' }, 'text')`), so
 * the server passes a pino child as it is. Field names are etcd's ('local-member-id',
 * 'remote-peer-id', 'local-member-cluster-id', 'remote-peer-cluster-id'), ids in hex as etcd
 * prints them.
 */
export interface TransportLogger {
  debug(fields: Record<string, unknown>, message: string): void
  info(fields: Record<string, unknown>, message: string): void
  warn(fields: Record<string, unknown>, message: string): void
  error(fields: Record<string, unknown>, message: string): void
}

/** Logs nothing. */
export const silentLogger: TransportLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
}

/**
 * The bounds that keep a transport's memory finite whatever its peers do. Every queue, buffer
 * and frame has one; what would exceed it is dropped (and raft told) or refused (and logged).
 */
export interface TransportLimits {
  /**
   * Messages waiting for one peer's connection; beyond it new messages are dropped and the peer
   * reported unreachable. etcd's rafthttp buffers 4096 (streamBufSize).
   */
  queueMessagesMax: number
  /** The same bound in encoded bytes. */
  queueBytesMax: number
  /**
   * Bytes handed to one socket that the kernel has not taken yet: above it the transport stops
   * writing to that socket (its queue fills instead) until the socket drains.
   */
  socketBufferBytesMax: number
  /**
   * The largest message frame either side accepts (a MsgApp carries up to raft's
   * maxSizePerMsg, but one entry may be larger). A bigger frame closes the connection.
   */
  messageBytesMax: number
  /** The largest snapshot (its data) a receiver reassembles; a larger one is refused. */
  snapshotBytesMax: number
  /** The size of the chunks a snapshot's data is streamed in. */
  snapshotChunkBytes: number
  /** The first reconnect delay after a connection failed; it doubles on each failure... */
  backoffMinMs: number
  /**
   * ...up to this. etcd redials a broken stream every 100 ms; a second at most keeps a restarted
   * member's wait for the leader's messages within an election timeout or so, at one dial per
   * second per down peer.
   */
  backoffMaxMs: number
  /** A connection that has not completed its handshake by then is closed. */
  handshakeTimeoutMs: number
  /**
   * A peer that takes none of the bytes waiting for it for this long (a host gone without a
   * reset, a process stopped) has its connection closed and redialed; a snapshot stream that
   * moves neither data nor its acknowledgement for this long fails. TCP alone would wait for its
   * retransmission timeout, many minutes, with raft's progress stuck in the meantime.
   */
  stallTimeoutMs: number
  /**
   * The most messages one socket write carries. Batching is the default; 1 writes each message
   * on its own (the benchmark's "unbatched" row).
   */
  writeMessagesMax: number
}

export const DEFAULT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  queueMessagesMax: 4096,
  queueBytesMax: 64 * 1024 * 1024,
  socketBufferBytesMax: 4 * 1024 * 1024,
  messageBytesMax: 64 * 1024 * 1024,
  snapshotBytesMax: 1024 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  backoffMinMs: 100,
  backoffMaxMs: 1000,
  handshakeTimeoutMs: 10_000,
  stallTimeoutMs: 30_000,
  writeMessagesMax: 65_536,
})

/** What `stats()` reports, per peer and in total (tests, the bench, a future metrics endpoint). */
export interface PeerStats {
  /** Messages handed to the socket. */
  sentMessages: number
  /** Socket writes: sentMessages / writes is the batching. */
  writes: number
  sentBytes: number
  /** Messages dropped because the queue was full, the peer down or unknown. */
  droppedMessages: number
  /** Messages and bytes waiting now. */
  queuedMessages: number
  queuedBytes: number
  /** Whether a connection to the peer is established now. */
  active: boolean
}
