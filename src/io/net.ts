/**
 * The network the peer transport runs on: a connection to an address, a listener on one. `tcpNet`
 * is node:net with Nagle's algorithm off (raft messages are small and wait for nothing). TLS
 * (etcd's --peer-cert-file and --peer-key-file) will be a second Net over node:tls, whose sockets
 * and servers are node:net's subclasses, so the transport above it does not change; a test wraps
 * a Net to count or break what passes through it.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net'

export interface NetAddress {
  /** A host name or an IP address (an IPv6 address without brackets). */
  readonly host: string
  readonly port: number
}

export interface Net {
  /** Starts connecting; a socket that cannot connect emits 'error', then 'close'. */
  connect(address: NetAddress): Socket
  /** A server that hands each accepted connection to `onConnection`; listen() starts it. */
  createServer(onConnection: (socket: Socket) => void): Server
  /**
   * Calls `fn` once after `ms` milliseconds unless the returned function is called first: the
   * transport's reconnect backoff, so that a simulated network owns that time too.
   */
  after(ms: number, fn: () => void): () => void
}

export const tcpNet: Net = {
  connect({ host, port }) {
    return createConnection({ host, port, noDelay: true })
  },
  createServer(onConnection) {
    return createServer({ noDelay: true }, onConnection)
  },
  after(ms, fn) {
    const timer = setTimeout(fn, ms)
    return () => clearTimeout(timer)
  },
}
