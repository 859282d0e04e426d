/**
 * What the transport's parts share: this member's identity, the network, the limits, the log and
 * the node's handler (null before start() and after stop(): nothing reaches the node then).
 */
import type { NodeId, SnapshotStatus } from '../raft/index.js'
import type { Net } from '../io/index.js'
import type { PeerHandler, TransportLimits, TransportLogger } from './types.js'

export interface TransportContext {
  readonly id: NodeId
  readonly clusterId: bigint
  readonly net: Net
  readonly limits: Readonly<TransportLimits>
  readonly log: TransportLogger
  handler: PeerHandler | null
  stopped: boolean
  /** Snapshot data being reassembled now, all senders together (bounded by snapshotBytesMax). */
  snapshotBytesReceiving: number
  /**
   * Refusals already logged at error level, by a key naming the peer and the reason: a
   * misconfigured peer redials every backoffMaxMs, and its later refusals are logged at debug.
   */
  readonly refusalsLogged: Set<string>
  /** Whether a member id was removed from the cluster (its connections are refused). */
  readonly isRemoved: (id: NodeId) => boolean
  /** A peer refused us because we were removed from the cluster. */
  readonly onRemoved: () => void
  /** Answers an HTTP/1.1 GET on the peer port (etcd's /members), or undefined: not found. */
  readonly httpGet: (path: string) => HttpAnswer | undefined
  /** Answers an HTTP/1.1 POST on the peer port (etcd's /leases), or undefined: not found. */
  readonly httpPost: (path: string, body: Uint8Array) => Promise<HttpAnswer> | undefined
}

export interface HttpAnswer {
  status: number
  headers: Record<string, string>
  /** Text (sent as UTF-8) or bytes (a protobuf body of etcd's leasehttp). */
  body: string | Uint8Array
}

/** The largest POST body the peer port reads (etcd's leasehttp bodies are a few bytes). */
export const HTTP_POST_BODY_BYTES_MAX = 64 * 1024

/** etcd's text (rafthttp's errMemberRemoved), sent to and recognised from a removed member. */
export const MEMBER_REMOVED_TEXT = 'the member has been permanently removed from the cluster'

/** Logs a refusal at error the first time for `key`, then at debug. */
export function logRefusal(
  ctx: TransportContext,
  key: string,
  f: Record<string, unknown>,
  message: string,
): void {
  if (ctx.refusalsLogged.has(key)) {
    ctx.log.debug(f, message)
    return
  }
  // Bounded: one entry per distinct peer and reason; a flood of distinct ones is cut off.
  if (ctx.refusalsLogged.size < 1024) ctx.refusalsLogged.add(key)
  ctx.log.error(f, message)
}

/** Ids as etcd prints them (types.ID.String()): hex, no prefix. */
export function hex(id: bigint): string {
  return id.toString(16)
}

/** The fields every log line of this member carries, with the peer's when there is one. */
export function fields(
  ctx: TransportContext,
  peer?: NodeId,
  more: Record<string, unknown> = {},
): Record<string, unknown> {
  const f: Record<string, unknown> = { 'local-member-id': hex(ctx.id) }
  if (peer !== undefined) f['remote-peer-id'] = hex(peer)
  return Object.assign(f, more)
}

/**
 * The handler's calls are the node's code: one that throws must not take a socket's event
 * handler down with it (the connection would die for the node's sake), so it is logged.
 */
export function reportUnreachable(ctx: TransportContext, peer: NodeId): void {
  const h = ctx.handler
  if (h === null) return
  try {
    h.unreachable(peer)
  } catch (err) {
    ctx.log.error(
      fields(ctx, peer, { error: String(err) }),
      'node failed to take an unreachable report',
    )
  }
}

export function reportSnapshot(ctx: TransportContext, peer: NodeId, status: SnapshotStatus): void {
  const h = ctx.handler
  if (h === null) return
  try {
    h.snapshotStatus(peer, status)
  } catch (err) {
    ctx.log.error(
      fields(ctx, peer, { error: String(err) }),
      'node failed to take a snapshot status',
    )
  }
}
