/**
 * HTTP/2's wire constants (RFC 9113 §6, §7, §11) and the typed error the connection raises on a
 * peer's protocol violation. A connection error goes out as GOAWAY, a stream error as RST_STREAM
 * (RFC 9113 §5.4).
 */

export const FRAME_HEADER_BYTES = 9

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const

/** RFC 9113 §7. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode]

/** RFC 9113 §6.5.2. */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const

export const DEFAULT_WINDOW = 65_535
export const MAX_WINDOW = 0x7fff_ffff
export const DEFAULT_MAX_FRAME_SIZE = 16_384
export const MAX_FRAME_SIZE_LIMIT = 0xff_ffff
export const DEFAULT_HEADER_TABLE_SIZE = 4096

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

const kH2Error = Symbol.for('pontoon.api.h2.error')

/**
 * A peer's violation of HTTP/2 or HPACK. `streamId` 0 is a connection error (GOAWAY and close),
 * any other a stream error (RST_STREAM on that stream; the connection goes on).
 */
export class H2Error extends Error {
  readonly code: ErrorCodeValue
  readonly streamId: number
  readonly [kH2Error] = true

  constructor(code: ErrorCodeValue, message: string, streamId = 0) {
    super(message)
    this.name = 'H2Error'
    this.code = code
    this.streamId = streamId
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kH2Error in value
  }
}

export function connectionError(code: ErrorCodeValue, message: string): H2Error {
  return new H2Error(code, message, 0)
}

/** Writes a frame header at `at`; returns the offset after it. */
export function putFrameHeader(
  buf: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): number {
  buf[at] = (length >>> 16) & 0xff
  buf[at + 1] = (length >>> 8) & 0xff
  buf[at + 2] = length & 0xff
  buf[at + 3] = type
  buf[at + 4] = flags
  buf.writeUInt32BE(streamId & 0x7fff_ffff, at + 5)
  return at + FRAME_HEADER_BYTES
}
