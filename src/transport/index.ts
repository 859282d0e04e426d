/**
 * @module pontoon/transport
 *
 * The peer transport: raft messages between the members of a cluster over TCP. `TcpTransport`
 * keeps one persistent connection per peer for messages (batched: what one send() call or one
 * turn of the event loop hands it goes out in one socket write), a bounded queue per peer (a
 * slow or dead peer drops messages and is reported unreachable, never grows memory), reconnects
 * with capped exponential backoff, streams snapshots in chunks on a connection of their own, and
 * refuses a peer of another cluster or a message meant for another member. It is a node
 * `Transport` by structure (types.ts). It reaches the OS through a `Net` (src/io).
 */
export { TcpTransport, type TcpTransportOptions } from './tcp-transport.js'
export {
  DEFAULT_LIMITS,
  silentLogger,
  type PeerHandler,
  type PeerStats,
  type Transport,
  type TransportLimits,
  type TransportLogger,
} from './types.js'
export { MEMBER_REMOVED_TEXT, type HttpAnswer } from './context.js'
export { TransportError, type TransportErrorCode } from './errors.js'
export { parsePeerUrl, parsePeerUrls, type PeerUrl } from './url.js'
