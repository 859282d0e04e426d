/**
 * The requests the load generator sends, encoded once with the project's own codecs (src/api)
 * and then only patched: a put's, a txn-put's or a delete's key is rewritten in place in a copy
 * of the template frame, a range's frame is shared by every call. What the generator checks in responses is decoded with
 * the same codecs.
 */
import {
  DeleteRangeRequestCodec,
  DeleteRangeResponseCodec,
  PutRequestCodec,
  PutResponseCodec,
  RangeRequestCodec,
  RangeResponseCodec,
  StatusResponseCodec,
  TxnRequestCodec,
  TxnResponseCodec,
  decodeMessage,
  deleteRangeRequest,
  encodeMessage,
  putRequest,
  rangeRequest,
} from '../../src/api/index.js'
import type {
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeResponse,
  StatusResponse,
  TxnResponse,
} from '../../src/api/index.js'
import { grpcFrame, grpcMethod } from './grpc-client.js'

export const PUT = grpcMethod('/etcdserverpb.KV/Put')
export const RANGE = grpcMethod('/etcdserverpb.KV/Range')
export const TXN = grpcMethod('/etcdserverpb.KV/Txn')
export const DELETE_RANGE = grpcMethod('/etcdserverpb.KV/DeleteRange')
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
 * Frames of one request shape for keys of one size: `frame(n)` is a fresh buffer (a call's frame
 * must stay unchanged until it completes) holding the message `encode` builds around key n.
 * Every key of the space has the same length, so only the key's bytes differ between frames.
 */
export class KeyFrames {
  private readonly template: Buffer
  private readonly keyOffset: number

  constructor(
    private readonly keySize: number,
    encode: (key: Buffer) => Uint8Array,
  ) {
    const key = keyBytes(0, keySize)
    this.template = grpcFrame(encode(key))
    // Values are letters (putValue), so the key's digits occur once: where the codec wrote it.
    this.keyOffset = this.template.indexOf(key, 5)
    if (this.keyOffset < 0) throw new Error('key not found in frame')
    if (this.template.indexOf(key, this.keyOffset + 1) >= 0) throw new Error('key found twice')
    // Patching must give what the codec gives: the last key of the space, both ways.
    const last = Math.min(keySpaceMax(keySize), 10 ** 6) - 1
    if (!this.frame(last).equals(grpcFrame(encode(keyBytes(last, keySize))))) {
      throw new Error('a patched frame differs from the encoded one')
    }
  }

  frame(n: number): Buffer {
    const b = Buffer.allocUnsafe(this.template.length)
    this.template.copy(b)
    writeKey(b, this.keyOffset, this.keySize, n)
    return b
  }
}

/**
 * The value every put writes: not all one byte, so that no layer below can get away with
 * compressing it, and letters, so that it never contains a key's digits.
 */
function putValue(valSize: number): Buffer {
  const value = Buffer.alloc(valSize)
  for (let i = 0; i < valSize; i++) value[i] = 0x61 + (i % 26)
  return value
}

function putOf(key: Uint8Array, value: Uint8Array): PutRequest {
  return putRequest({ key, value })
}

/** PutRequest{key n, value}. */
export function putFrames(keySize: number, valSize: number): KeyFrames {
  const value = putValue(valSize)
  return new KeyFrames(keySize, (key) => encodeMessage(PutRequestCodec, putOf(key, value)))
}

/**
 * TxnRequest{success: [put key n]}: no compares, so the txn always succeeds (etcd's benchmark
 * txn-put: `Txn().Then(OpPut(k, v))`).
 */
export function txnPutFrames(keySize: number, valSize: number): KeyFrames {
  const value = putValue(valSize)
  return new KeyFrames(keySize, (key) =>
    encodeMessage(TxnRequestCodec, {
      compare: [],
      success: [{ type: 'put', put: putOf(key, value) }],
      failure: [],
    }),
  )
}

/** DeleteRangeRequest{key n}: one key. */
export function deleteFrames(keySize: number): KeyFrames {
  return new KeyFrames(keySize, (key) =>
    encodeMessage(DeleteRangeRequestCodec, deleteRangeRequest({ key })),
  )
}

/**
 * TxnRequest{success: puts of keys lo..hi-1}: `prepare` writes many keys per request with it
 * (hi - lo at most the servers' --max-txn-ops, 128 by default on both).
 */
export function txnPutsFrame(o: {
  lo: number
  hi: number
  keySize: number
  valSize: number
}): Buffer {
  const value = putValue(o.valSize)
  const success = []
  for (let n = o.lo; n < o.hi; n++) {
    success.push({ type: 'put' as const, put: putOf(keyBytes(n, o.keySize), value) })
  }
  return grpcFrame(encodeMessage(TxnRequestCodec, { compare: [], success, failure: [] }))
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

export function decodeTxn(body: Buffer): TxnResponse {
  return decodeMessage(TxnResponseCodec, body)
}

export function decodeDeleteRange(body: Buffer): DeleteRangeResponse {
  return decodeMessage(DeleteRangeResponseCodec, body)
}
