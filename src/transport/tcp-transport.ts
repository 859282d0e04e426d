/**
 * TcpTransport: see index.ts. (Skeleton: the bodies follow.)
 */
import type { Message, NodeId } from '../raft/index.js'
import { tcpNet, type Net } from '../io/index.js'
import { TransportError } from './errors.js'
import type {
  PeerHandler,
  PeerStats,
  Transport,
  TransportLimits,
  TransportLogger,
} from './types.js'

export interface TcpTransportOptions {
  /** This member's id. */
  readonly id: NodeId
  /** The cluster's id: a peer presenting another is refused ("request cluster ID mismatch"). */
  readonly clusterId: bigint
  /** Where to accept peers (etcd's --listen-peer-urls): http://host:port; port 0 = any free. */
  readonly listenUrls: readonly string[]
  /** The other members' peer URLs (etcd's --initial-cluster without this member). */
  readonly peers: ReadonlyMap<NodeId, readonly string[]>
  readonly logger?: TransportLogger
  /** The network (default tcpNet, node:net). */
  readonly net?: Net
  readonly limits?: Partial<TransportLimits>
}

export class TcpTransport implements Transport {
  constructor(private readonly opts: TcpTransportOptions) {
    void tcpNet
  }

  /** Binds the listen URLs; resolves with the bound addresses (`http://host:port`). */
  async listen(): Promise<string[]> {
    throw new TransportError('STOPPED', 'not yet')
  }

  start(_handler: PeerHandler): void {}
  send(_messages: readonly Message[]): void {}
  stop(): void {}
  /** Stops and resolves once every socket and listener is closed. */
  async close(): Promise<void> {}
  setPeer(_id: NodeId, _urls: readonly string[]): void {}
  removePeer(_id: NodeId): void {}
  stats(_peer?: NodeId): PeerStats {
    throw new Error('not yet')
  }
}
