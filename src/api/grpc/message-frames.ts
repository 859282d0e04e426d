/**
 * gRPC's length-prefixed messages (grpc/doc/PROTOCOL-HTTP2.md): a compressed flag byte, a 4-byte
 * big-endian length, then the message. `MessageReader` takes a stream's DATA as it arrives and
 * hands out whole messages; it refuses what grpc-go (1.26, the version etcd 3.4 ships) refuses,
 * with grpc-go's status and text, before buffering any of it.
 */

import { GrpcStatus, RpcError } from './rpc-error.js'

export const MESSAGE_HEADER_BYTES = 5

export class MessageReader {
  private readonly chunks: Buffer[] = []
  private buffered = 0
  /** The length of the message being received, once its header is in; -1 before. */
  private want = -1

  /**
   * `compression` is the request's grpc-encoding header ('' or 'identity' when there is none
   * worth the name); no decompressor is installed, as in etcd 3.4.
   */
  constructor(
    private readonly maxRecvBytes: number,
    private readonly compression: string,
  ) {}

  /** Bytes received and not yet handed out as a message. */
  get pendingBytes(): number {
    return this.buffered
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /** The next whole message, or null until one has arrived. Throws RpcError on refused input. */
  next(): Buffer | null {
    if (this.want < 0) {
      if (this.buffered < MESSAGE_HEADER_BYTES) return null
      const header = this.take(MESSAGE_HEADER_BYTES)
      const flag = header[0] as number
      const length = header.readUInt32BE(1)
      this.check(flag, length)
      this.want = length
    }
    if (this.buffered < this.want) return null
    const message = this.take(this.want)
    this.want = -1
    return message
  }

  private check(flag: number, length: number): void {
    // grpc-go's checkRecvPayload, then the parser's size check (rpc_util.go).
    if (flag === 1) {
      if (this.compression === '' || this.compression === 'identity') {
        throw new RpcError(
          GrpcStatus.INTERNAL,
          'grpc: compressed flag set with identity or empty encoding',
        )
      }
      throw new RpcError(
        GrpcStatus.UNIMPLEMENTED,
        `grpc: Decompressor is not installed for grpc-encoding "${this.compression}"`,
      )
    }
    if (flag !== 0) {
      throw new RpcError(GrpcStatus.INTERNAL, `grpc: received unexpected payload format ${flag}`)
    }
    if (length > this.maxRecvBytes) {
      throw new RpcError(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `grpc: received message larger than max (${length} vs. ${this.maxRecvBytes})`,
      )
    }
  }

  /** Removes and returns the first n buffered bytes (n <= buffered); copies only across chunks. */
  private take(n: number): Buffer {
    const first = this.chunks[0]
    if (first !== undefined && first.length >= n) {
      this.buffered -= n
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    while (filled < n) {
      const c = this.chunks[0] as Buffer
      const k = Math.min(c.length, n - filled)
      c.copy(out, filled, 0, k)
      filled += k
      if (k === c.length) this.chunks.shift()
      else this.chunks[0] = c.subarray(k)
    }
    this.buffered -= n
    return out
  }
}

/** Writes the 5-byte prefix in front of a message encoded with 5 bytes of headroom. */
export function framePrefix(frame: Buffer): Buffer {
  frame[0] = 0
  frame.writeUInt32BE(frame.length - MESSAGE_HEADER_BYTES, 1)
  return frame
}

/**
 * grpc-message's percent-encoding (PROTOCOL-HTTP2.md): bytes outside printable ASCII, and '%',
 * as %XX of their UTF-8 encoding.
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false
      break
    }
  }
  if (plain) return message
  let out = ''
  for (const b of Buffer.from(message, 'utf8')) {
    out +=
      b < 0x20 || b > 0x7e || b === 0x25
        ? '%' + b.toString(16).toUpperCase().padStart(2, '0')
        : String.fromCharCode(b)
  }
  return out
}

/** grpc-timeout (PROTOCOL-HTTP2.md: up to 8 digits and a unit) in milliseconds; undefined if bad. */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value)
  if (m === null) return undefined
  const n = Number(m[1])
  switch (m[2]) {
    case 'H':
      return n * 3_600_000
    case 'M':
      return n * 60_000
    case 'S':
      return n * 1000
    case 'm':
      return n
    case 'u':
      return n / 1000
    default:
      return n / 1_000_000
  }
}
