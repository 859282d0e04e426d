/**
 * One plaintext port for gRPC and HTTP/1.1, as etcd's cmux does on its client port: a
 * connection whose first bytes are HTTP/2's client preface goes to the HTTP/2 server, any other
 * to the HTTP/1.1 server (which answers garbage with 400 and closes).
 */

import type { Server as NetServer, Socket } from 'node:net'

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

/** A connection that sends nothing in this long is closed. */
export const SNIFF_TIMEOUT_MS = 10_000

/**
 * Reads the first bytes of `socket` and hands it to `h2` or `h1`. `pending` holds the socket
 * until then, so that closing the server can end connections that never said anything.
 */
export function sniffConnection(
  socket: Socket,
  h2: NetServer,
  h1: NetServer,
  pending: Set<Socket>,
): void {
  let got: Buffer = Buffer.alloc(0)
  pending.add(socket)
  socket.once('close', () => pending.delete(socket))
  const onError = (): void => {
    socket.destroy()
  }
  const onTimeout = (): void => {
    socket.destroy()
  }
  const onData = (chunk: Buffer): void => {
    got = got.length === 0 ? chunk : Buffer.concat([got, chunk])
    const n = Math.min(got.length, PREFACE.length)
    const isH2 = got.subarray(0, n).equals(PREFACE.subarray(0, n))
    if (isH2 && got.length < PREFACE.length) return
    socket.off('data', onData)
    socket.off('error', onError)
    pending.delete(socket)
    socket.off('timeout', onTimeout)
    socket.setTimeout(0)
    socket.pause()
    socket.unshift(got)
    // node's http2 session feeds a socket's buffered (unshifted) bytes to nghttp2 first. node's
    // http server would instead hand the socket's native handle to its parser ("consume"),
    // which reads past what was unshifted: marking the handle consumed keeps the parser on the
    // socket's 'data' events, which deliver the unshifted bytes first.
    if (isH2) {
      h2.emit('connection', socket)
    } else {
      markConsumed(socket)
      h1.emit('connection', socket)
      socket.resume()
    }
  }
  socket.on('error', onError)
  socket.setTimeout(SNIFF_TIMEOUT_MS, onTimeout)
  socket.on('data', onData)
}

function markConsumed(socket: Socket): void {
  const handle = (socket as unknown as { _handle?: { _consumed?: boolean } | null })._handle
  if (handle !== null && handle !== undefined) handle._consumed = true
}
