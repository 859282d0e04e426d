/**
 * gRPC status codes, and the error a handler throws to answer with one. The server sends `code`
 * as grpc-status and `message` as grpc-message (percent-encoded on the wire), exactly.
 */

/** The gRPC status codes (grpc/doc/statuscodes.md), by their canonical names. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const

export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus]

const kRpcError = Symbol.for('pontoon.api.rpc-error')

export class RpcError extends Error {
  /** The gRPC status code (GrpcStatus). */
  readonly code: number
  readonly [kRpcError] = true

  constructor(code: number, message: string) {
    super(message)
    this.name = 'RpcError'
    this.code = code
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kRpcError in value
  }
}
