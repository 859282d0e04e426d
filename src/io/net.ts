/**
 * The network the peer transport runs on: a connection to an address, a listener on one, and a
 * one-shot timer for reconnect backoff. The transport sees only the narrow `NetSocket` and
 * `NetServer` below, not node:net's classes, so a simulated network can hand it sockets of its
 * own (a pair of in-memory pipes that drop, delay or cut) without imitating node:net. `tcpNet` is
 * node:net with Nagle's algorithm off (raft messages are small and wait for nothing). TLS
 * (etcd's --peer-cert-file and --peer-key-file) will be a second Net over node:tls, whose
 * sockets are node:net's, so the transport above it does not change.
 */
import { createConnection, createServer } from 'node:net'

export interface NetAddress {
  /** A host name or an IP address (an IPv6 address without brackets). */
  readonly host: string
  readonly port: number
}

/**
 * A byte stream to a peer, with node:net's events and back-pressure accounting: 'data' for each
 * chunk read, 'drain' once written bytes were taken, 'end' when the peer finished sending,
 * 'error' before 'close', which comes exactly once.
 */
export interface NetSocket {
  /** Queues bytes; the return value is node's hint and may be ignored (see writableLength). */
  write(data: Uint8Array): boolean
  /** Finishes our side (after writing `data`); the socket closes once both sides did. */
  end(): void
  end(data: Uint8Array): void
  /** Closes at once, dropping what is not written yet. */
  destroy(): void
  readonly destroyed: boolean
  /** Bytes written but not yet taken by the OS (or the simulated link). */
  readonly writableLength: number
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
  setKeepAlive(enable: boolean, initialDelayMs: number): void
  on(event: 'data', listener: (chunk: Uint8Array) => void): this
  on(event: 'drain' | 'end' | 'close', listener: () => void): this
  on(event: 'error', listener: (err: Error) => void): this
  once(event: 'close', listener: () => void): this
}

export interface NetServer {
  /** Starts accepting; resolves with the bound address (port 0 becomes the chosen port). */
  listen(address: NetAddress): Promise<NetAddress>
  /** Stops accepting; resolves once every accepted connection has closed too. */
  close(): Promise<void>
  /** Errors after listen() resolved (rare: the socket of the listener itself failed). */
  onError(listener: (err: Error) => void): void
}

export interface Net {
  /** Starts connecting; a socket that cannot connect emits 'error', then 'close'. */
  connect(address: NetAddress): NetSocket
  /** A server that hands each accepted connection to `onConnection`; listen() starts it. */
  createServer(onConnection: (socket: NetSocket) => void): NetServer
  /**
   * Calls `fn` once after `ms` milliseconds unless the returned function is called first: the
   * transport's reconnect backoff and timeouts, so that a simulated network owns that time too.
   */
  after(ms: number, fn: () => void): () => void
}

export const tcpNet: Net = {
  connect({ host, port }) {
    return createConnection({ host, port, noDelay: true })
  },
  createServer(onConnection) {
    const server = createServer({ noDelay: true }, onConnection)
    return {
      listen: (address) =>
        new Promise((resolve, reject) => {
          server.once('error', reject)
          server.listen({ host: address.host, port: address.port }, () => {
            server.off('error', reject)
            const bound = server.address()
            const port = typeof bound === 'object' && bound !== null ? bound.port : address.port
            resolve({ host: address.host, port })
          })
        }),
      close: () => new Promise((resolve) => server.close(() => resolve())),
      onError: (listener) => void server.on('error', listener),
    }
  },
  after(ms, fn) {
    const timer = setTimeout(fn, ms)
    return () => clearTimeout(timer)
  },
}
