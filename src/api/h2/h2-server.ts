/**
 * Our HTTP/2 server: a connection per socket (connection.ts), and the set of them so that the
 * server can close them all. It does not listen: the gRPC port's sniffer (grpc/sniff.ts) hands it
 * the sockets that start with HTTP/2's preface, through `netServer.emit('connection', socket)`,
 * as it does to node:http2's server.
 */

import net from 'node:net'
import type { IncomingHttpHeaders } from 'node:http2'
import { DEFAULT_H2_OPTIONS, H2Connection, type H2Options, type H2Stream } from './connection.js'

export interface H2ServerOptions extends Partial<H2Options> {
  onStream(stream: H2Stream, headers: IncomingHttpHeaders): void
  onError?(err: Error): void
}

export class H2Server {
  /** Never listens: 'connection' is emitted on it by whoever accepted the socket. */
  readonly netServer: net.Server
  private readonly connections = new Set<H2Connection>()
  private readonly opts: H2Options

  constructor(private readonly handlers: H2ServerOptions) {
    this.opts = {
      maxConcurrentStreams:
        handlers.maxConcurrentStreams ?? DEFAULT_H2_OPTIONS.maxConcurrentStreams,
      streamWindowBytes: handlers.streamWindowBytes ?? DEFAULT_H2_OPTIONS.streamWindowBytes,
      connectionWindowBytes:
        handlers.connectionWindowBytes ?? DEFAULT_H2_OPTIONS.connectionWindowBytes,
      maxHeaderListBytes: handlers.maxHeaderListBytes ?? DEFAULT_H2_OPTIONS.maxHeaderListBytes,
    }
    this.netServer = net.createServer((socket) => this.accept(socket))
  }

  /** Serves HTTP/2 on a socket whose first bytes (if already read) were unshifted back. */
  accept(socket: net.Socket): H2Connection {
    const conn = new H2Connection(socket, this.opts, this.handlers)
    this.connections.add(conn)
    conn.onClose(() => this.connections.delete(conn))
    return conn
  }

  get connectionCount(): number {
    return this.connections.size
  }

  /** GOAWAY on every connection; each closes when its streams are done. */
  close(): void {
    for (const conn of this.connections) conn.close()
  }

  /** Closes every connection now. */
  destroy(): void {
    for (const conn of [...this.connections]) conn.destroy()
  }
}
