/**
 * The API layer's own typed error, for input it refuses before a handler sees it: a message
 * that does not decode (MALFORMED). What a client is told comes from the gRPC status table
 * (errors.ts); this error says what was wrong with the bytes.
 */

export type ApiErrorCode =
  /** A protobuf message that does not decode: truncated, a bad wire type, a bad length. */
  'MALFORMED'

const kApiError = Symbol.for('pontoon.api.error')

export class ApiError extends Error {
  readonly code: ApiErrorCode
  readonly [kApiError] = true

  constructor(code: ApiErrorCode, message: string) {
    super(message)
    this.name = 'ApiError'
    this.code = code
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kApiError in value
  }

  static is(err: unknown, code: ApiErrorCode): err is ApiError {
    return err instanceof ApiError && err.code === code
  }
}

/** Go's gogoproto words ("proto: wrong wireType = 0 for field Key"), which grpc-go passes on. */
export function malformed(detail: string): ApiError {
  return new ApiError('MALFORMED', `proto: ${detail}`)
}

/** Truncated input: Go's io.ErrUnexpectedEOF, whose text gogoproto passes on as it is. */
export function truncated(): ApiError {
  return new ApiError('MALFORMED', 'unexpected EOF')
}
