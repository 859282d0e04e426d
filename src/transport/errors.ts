/**
 * The peer transport's typed errors: what its API throws at the caller. A peer's misbehaviour
 * is never thrown: a bad frame or handshake closes that connection with a logged reason, and a
 * message that cannot be delivered is reported to raft as unreachable (etcd's rafthttp does the
 * same).
 */

export type TransportErrorCode =
  /** A peer or listen URL that is not `http://host:port`, named in the message. */
  | 'INVALID_URL'
  /** A bad option or argument, named in the message with its value. */
  | 'INVALID'
  /** A listener could not be opened (the address is in use, not local, ...). */
  | 'LISTEN_FAILED'
  /** The transport was stopped; it does not start again (make a new one). */
  | 'STOPPED'

const kTransportError = Symbol.for('pontoon.transport.error')

export class TransportError extends Error {
  readonly code: TransportErrorCode
  readonly [kTransportError] = true

  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TransportError'
    this.code = code
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kTransportError in value
  }

  static is(err: unknown, code: TransportErrorCode): err is TransportError {
    return err instanceof TransportError && err.code === code
  }
}
