/**
 * The part of a server-side HTTP/2 stream that a gRPC call (grpc/rpc-server.ts ServerCall) uses.
 * Our H2Stream has it, and so has node:http2's ServerHttp2Stream, so RpcServer runs on either.
 */

import type { OutgoingHeaders } from './hpack.js'

export interface CallStream {
  readonly destroyed: boolean
  readonly closed: boolean
  readonly session?:
    | { readonly socket?: { readonly remoteAddress?: string; readonly remotePort?: number } }
    | undefined
  respond(
    headers: OutgoingHeaders,
    options?: { endStream?: boolean; waitForTrailers?: boolean },
  ): void
  /** False once the send buffer is over its mark: wait for 'drain' (streaming calls do). */
  write(chunk: Buffer): boolean
  end(chunk?: Buffer): unknown
  /**
   * Ours only: writes what the connection has queued now instead of at the end of the turn (a
   * sender outside a request's turn, such as watch deliveries, saves a turn of the loop).
   */
  flush?(): void
  sendTrailers(headers: OutgoingHeaders): void
  /** RST_STREAM with `code`. */
  close(code?: number): void
  resume(): unknown
  on(event: 'data', listener: (chunk: Buffer) => void): unknown
  on(event: 'end' | 'close' | 'drain', listener: () => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  once(event: 'close' | 'wantTrailers', listener: () => void): unknown
}
