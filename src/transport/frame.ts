/**
 * The wire format between members: our own, not etcd's HTTP (Pontoon members talk to Pontoon
 * members only). Every connection carries frames, each a 4-byte big-endian length (of what
 * follows it), a 1-byte type and a payload:
 *
 *     HELLO      dialer → acceptor, first frame: magic "PNTN", version, stream kind, cluster id,
 *                sender id, receiver id (u64 each, big-endian)
 *     ACCEPT     acceptor → dialer: the handshake holds; frames may follow
 *     REJECT     acceptor → dialer: why not (UTF-8), then the acceptor closes
 *     MSG        one raft Message, raftpb's protobuf encoding (etcd's Marshal)
 *     SNAP_HEAD  a MsgSnap without its snapshot data, and that data's length (u64)
 *     SNAP_CHUNK the next piece of that data
 *     SNAP_ACK   receiver → sender: the whole snapshot arrived and was handed to the node
 *
 * A message stream (kind MESSAGES) carries MSG frames one way; a snapshot stream (kind
 * SNAPSHOT) carries one SNAP_HEAD, its chunks and one SNAP_ACK back, then closes. The length
 * is checked against the connection's limit before anything is buffered, so a garbage length
 * (an HTTP request's "GET " reads as 1.2 GB) closes the connection instead of allocating.
 */

export const FrameType = {
  HELLO: 1,
  ACCEPT: 2,
  REJECT: 3,
  MSG: 4,
  SNAP_HEAD: 5,
  SNAP_CHUNK: 6,
  SNAP_ACK: 7,
} as const
export type FrameType = (typeof FrameType)[keyof typeof FrameType]

export const StreamKind = { MESSAGES: 1, SNAPSHOT: 2 } as const
export type StreamKind = (typeof StreamKind)[keyof typeof StreamKind]

/** "PNTN". */
export const HELLO_MAGIC = 0x504e544e
export const PROTOCOL_VERSION = 1
/** Length prefix and type byte. */
export const FRAME_HEADER_BYTES = 5
const HELLO_PAYLOAD_BYTES = 4 + 1 + 1 + 8 + 8 + 8
/** The largest frame before the handshake completes (HELLO, ACCEPT, a REJECT's reason). */
export const HANDSHAKE_FRAME_BYTES_MAX = 1024

export interface Hello {
  readonly version: number
  readonly kind: number
  readonly clusterId: bigint
  readonly from: bigint
  readonly to: bigint
}

/** A frame header for a payload of `payloadBytes`, written into `out` at `at`. */
export function writeFrameHeader(
  out: Uint8Array,
  at: number,
  type: FrameType,
  payloadBytes: number,
): void {
  // By hand, not through a DataView: this runs once per message on the send path.
  const length = payloadBytes + 1
  out[at] = length >>> 24
  out[at + 1] = (length >>> 16) & 0xff
  out[at + 2] = (length >>> 8) & 0xff
  out[at + 3] = length & 0xff
  out[at + 4] = type
}

/** A whole frame: header and payload in one buffer. */
export function frame(type: FrameType, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length)
  writeFrameHeader(out, 0, type, payload.length)
  out.set(payload, FRAME_HEADER_BYTES)
  return out
}

export function encodeHello(h: Omit<Hello, 'version'>): Uint8Array {
  const p = new Uint8Array(HELLO_PAYLOAD_BYTES)
  const view = new DataView(p.buffer)
  view.setUint32(0, HELLO_MAGIC)
  p[4] = PROTOCOL_VERSION
  p[5] = h.kind
  view.setBigUint64(6, h.clusterId)
  view.setBigUint64(14, h.from)
  view.setBigUint64(22, h.to)
  return frame(FrameType.HELLO, p)
}

/** Decodes a HELLO payload, or says why it is not one. */
export function decodeHello(payload: Uint8Array): Hello | string {
  if (payload.length !== HELLO_PAYLOAD_BYTES) {
    return `handshake of ${payload.length} bytes, expected ${HELLO_PAYLOAD_BYTES}`
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  if (view.getUint32(0) !== HELLO_MAGIC) return 'handshake without the protocol magic'
  const version = payload[4] as number
  if (version !== PROTOCOL_VERSION) {
    return `protocol version ${version}, this member speaks ${PROTOCOL_VERSION}`
  }
  return {
    version,
    kind: payload[5] as number,
    clusterId: view.getBigUint64(6),
    from: view.getBigUint64(14),
    to: view.getBigUint64(22),
  }
}

export function encodeReject(reason: string): Uint8Array {
  return frame(FrameType.REJECT, new TextEncoder().encode(reason.slice(0, 512)))
}

export function encodeSnapHead(dataBytes: number, message: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + message.length)
  new DataView(p.buffer).setBigUint64(0, BigInt(dataBytes))
  p.set(message, 8)
  return frame(FrameType.SNAP_HEAD, p)
}

export function decodeSnapHead(payload: Uint8Array): { dataBytes: number; message: Uint8Array } {
  if (payload.length < 8) throw new Error(`snapshot head of ${payload.length} bytes`)
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  const n = view.getBigUint64(0)
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`snapshot of ${n} bytes`)
  return { dataBytes: Number(n), message: payload.subarray(8) }
}

/**
 * Cuts a byte stream into frames. `push` each chunk the socket reads; it calls `onFrame` for
 * every complete frame, in order, with the payload (a view that stays valid: a frame is never
 * overwritten). It returns a reason string when the stream is bad (a frame above the limit, an
 * empty frame), after which the caller closes the connection; `pending` says whether a partial
 * frame is held (a stream that ends then was truncated).
 *
 * Small frames are cut from the chunk they arrived in without copying; a frame that spans
 * chunks is assembled in one buffer of its announced size, so a large frame costs one copy.
 */
export class FrameReader {
  /** The largest length field accepted now (it changes after the handshake). */
  frameBytesMax: number
  private head = new Uint8Array(FRAME_HEADER_BYTES)
  private headFill = 0
  private body: Uint8Array | null = null
  private bodyFill = 0
  private bodyType = 0

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax
  }

  get pending(): boolean {
    return this.headFill > 0 || this.body !== null
  }

  /** Returns null when all is well, else why the stream is bad. */
  push(chunk: Uint8Array, onFrame: (type: number, payload: Uint8Array) => boolean): string | null {
    let at = 0
    // Bounded by the chunk: every pass consumes at least one byte or returns.
    while (at < chunk.length) {
      if (this.body !== null) {
        const take = Math.min(this.body.length - this.bodyFill, chunk.length - at)
        this.body.set(chunk.subarray(at, at + take), this.bodyFill)
        this.bodyFill += take
        at += take
        if (this.bodyFill < this.body.length) return null
        const body = this.body
        this.body = null
        if (!onFrame(this.bodyType, body)) return null
        continue
      }
      if (this.headFill === 0 && chunk.length - at >= FRAME_HEADER_BYTES) {
        // The common case: the header is whole in this chunk.
        const length = readU32(chunk, at)
        const why = this.checkLength(length)
        if (why !== null) return why
        const type = chunk[at + 4] as number
        const payloadBytes = length - 1
        at += FRAME_HEADER_BYTES
        if (chunk.length - at >= payloadBytes) {
          const payload = chunk.subarray(at, at + payloadBytes)
          at += payloadBytes
          if (!onFrame(type, payload)) return null
          continue
        }
        this.startBody(type, payloadBytes)
        continue
      }
      const take = Math.min(FRAME_HEADER_BYTES - this.headFill, chunk.length - at)
      this.head.set(chunk.subarray(at, at + take), this.headFill)
      this.headFill += take
      at += take
      if (this.headFill < FRAME_HEADER_BYTES) return null
      this.headFill = 0
      const length = readU32(this.head, 0)
      const why = this.checkLength(length)
      if (why !== null) return why
      this.startBody(this.head[4] as number, length - 1)
      if (length - 1 === 0) {
        this.body = null
        if (!onFrame(this.bodyType, new Uint8Array(0))) return null
      }
    }
    return null
  }

  private startBody(type: number, payloadBytes: number): void {
    this.bodyType = type
    this.body = payloadBytes === 0 ? null : new Uint8Array(payloadBytes)
    this.bodyFill = 0
  }

  private checkLength(length: number): string | null {
    if (length === 0) return 'frame of length 0 (no type byte)'
    if (length - 1 > this.frameBytesMax) {
      return `frame of ${length - 1} bytes exceeds the limit of ${this.frameBytesMax}`
    }
    return null
  }
}

function readU32(b: Uint8Array, at: number): number {
  return (
    ((b[at] as number) * 0x1000000 +
      (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number))) >>>
    0
  )
}
