/**
 * The requests the load generator sends, encoded once with the project's own codecs (src/api)
 * and then only patched: a put's key is rewritten in place in a copy of the template frame, a
 * range's frame is shared by every call. What the generator checks in responses is decoded with
 * the same codecs.
 */
import {
  PutRequestCodec,
  PutResponseCodec,
  RangeRequestCodec,
  RangeResponseCodec,
  StatusResponseCodec,
  decodeMessage,
  encodeMessage,
  putRequest,
  rangeRequest,
} from '../../src/api/index.js'
import type { PutResponse, RangeResponse, StatusResponse } from '../../src/api/index.js'
import { grpcFrame, grpcMethod } from './grpc-client.js'

export const PUT = grpcMethod('/etcdserverpb.KV/Put')
export const RANGE = grpcMethod('/etcdserverpb.KV/Range')
export const STATUS = grpcMethod('/etcdserverpb.Maintenance/Status')

/** An empty message (StatusRequest has no fields). */
export const EMPTY_FRAME = grpcFrame(new Uint8Array(0))

/**
 * Keys are `keySize` ASCII digits, the key's number zero-padded ("00004711"): readable in
 * etcdctl, and every key of the space has the same size.
 */
export function keyBytes(n: number, keySize: number): Buffer {
  const key = Buffer.alloc(keySize, 0x30)
  writeKey(key, 0, keySize, n)
  return key
}

/** The largest key space `keySize` digits can number. */
export function keySpaceMax(keySize: number): number {
  return keySize >= 15 ? Number.MAX_SAFE_INTEGER : 10 ** keySize
}

function writeKey(buf: Buffer, offset: number, keySize: number, n: number): void {
  for (let p = offset + keySize - 1; p >= offset; p--) {
    buf[p] = 0x30 + (n % 10)
    n = Math.floor(n / 10)
  }
}

/**
 * Put frames for keys of one size and one value: `frame(n)` is a fresh buffer (a call's frame
 * must stay unchanged until it completes) holding PutRequest{key: key n, value}.
 */
export class PutFrames {
  private readonly template: Buffer
  private readonly keyOffset: number

  constructor(
    private readonly keySize: number,
    valSize: number,
  ) {
    // The value is not all one byte, so that no layer below can get away with compressing it.
    const value = Buffer.alloc(valSize)
    for (let i = 0; i < valSize; i++) value[i] = 0x61 + (i % 26)
    const key = keyBytes(0, keySize)
    this.template = grpcFrame(encodeMessage(PutRequestCodec, putRequest({ key, value })))
    // Field 1 comes first (tag, length varint, key): find the key where the codec wrote it.
    this.keyOffset = this.template.indexOf(key, 5)
    if (this.keyOffset < 0 || this.keyOffset > 5 + 3) throw new Error('key not found in frame')
  }

  frame(n: number): Buffer {
    const b = Buffer.allocUnsafe(this.template.length)
    this.template.copy(b)
    writeKey(b, this.keyOffset, this.keySize, n)
    return b
  }
}

/**
 * A Range of one key, or of [key, rangeEnd) when rangeEnd is given; linearizable (etcd's
 * default) or serializable.
 */
export function rangeFrame(key: Uint8Array, serializable: boolean, rangeEnd?: Uint8Array): Buffer {
  const q = rangeRequest({ key, serializable })
  if (rangeEnd !== undefined) q.rangeEnd = rangeEnd
  return grpcFrame(encodeMessage(RangeRequestCodec, q))
}

export function decodePut(body: Buffer): PutResponse {
  return decodeMessage(PutResponseCodec, body)
}

export function decodeRange(body: Buffer): RangeResponse {
  return decodeMessage(RangeResponseCodec, body)
}

export function decodeStatus(body: Buffer): StatusResponse {
  return decodeMessage(StatusResponseCodec, body)
}
