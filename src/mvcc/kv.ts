/**
 * The KeyValue record (etcd's mvccpb.KeyValue) and its stored form. etcd stores the protobuf; we
 * store a fixed header and the raw bytes, which is cheaper to write and read and is ours alone
 * (the backend never leaves this layer except as a whole snapshot):
 *
 *     [0]       format (1)
 *     [1, 9)    createRevision   u64 big-endian
 *     [9, 17)   modRevision      u64
 *     [17, 25)  version          u64
 *     [25, 33)  lease            i64 (two's complement)
 *     [33, 37)  key length       u32
 *     [37, ...) key, then value (the rest)
 *
 * A tombstone's record is etcd's: the key alone (every number 0, no value).
 */
import { backendCorrupt } from './errors.js'
import { readU64, writeU64 } from './revision.js'

/** A key's state at a revision (etcd mvccpb.KeyValue). `lease` 0n is none. */
export interface KeyValue {
  key: Uint8Array
  createRevision: number
  modRevision: number
  version: number
  value: Uint8Array
  lease: bigint
}

/**
 * A change to a key (etcd mvccpb.Event): a put carries the key's new state; a delete carries
 * etcd's tombstone kv: the key and `modRevision` the deleting revision, every other field zero
 * (etcd watchable_store_txn.go End and kvsToEvents).
 */
export interface WatchEvent {
  type: 'put' | 'delete'
  kv: KeyValue
}

/** A delete event's kv (see WatchEvent). */
export function tombstoneKv(key: Uint8Array, modRevision: number): KeyValue {
  return { key, createRevision: 0, modRevision, version: 0, value: EMPTY, lease: 0n }
}

const FORMAT = 1
const HEADER_BYTES = 37
const EMPTY = new Uint8Array(0)

export function encodeKeyValue(
  key: Uint8Array,
  value: Uint8Array,
  createRevision: number,
  modRevision: number,
  version: number,
  lease: bigint,
): Uint8Array {
  // From Node's buffer pool: a fresh typed array of this size would get a backing store of its
  // own (slower to make and to collect). Every byte is written below.
  const out = Buffer.allocUnsafe(HEADER_BYTES + key.length + value.length)
  out[0] = FORMAT
  writeU64(out, 1, createRevision)
  writeU64(out, 9, modRevision)
  writeU64(out, 17, version)
  if (lease === 0n) {
    out.fill(0, 25, 33)
  } else {
    const u = BigInt.asUintN(64, lease)
    const hi = Number(u >> 32n)
    const lo = Number(u & 0xffffffffn)
    out[25] = hi >>> 24
    out[26] = (hi >>> 16) & 0xff
    out[27] = (hi >>> 8) & 0xff
    out[28] = hi & 0xff
    out[29] = lo >>> 24
    out[30] = (lo >>> 16) & 0xff
    out[31] = (lo >>> 8) & 0xff
    out[32] = lo & 0xff
  }
  const n = key.length
  out[33] = n >>> 24
  out[34] = (n >>> 16) & 0xff
  out[35] = (n >>> 8) & 0xff
  out[36] = n & 0xff
  out.set(key, HEADER_BYTES)
  out.set(value, HEADER_BYTES + n)
  return out
}

export function encodeTombstone(key: Uint8Array): Uint8Array {
  return encodeKeyValue(key, EMPTY, 0, 0, 0, 0n)
}

/**
 * Decodes a record. `copy` false returns views into `b` (for a backend that hands out fresh
 * buffers); true copies key and value (the memory backend keeps its buffers).
 */
export function decodeKeyValue(src: Uint8Array, copy: boolean, keysOnly = false): KeyValue {
  // One copy of the whole record (from Node's buffer pool) and views into it: key and value of
  // one answer share it, as they would share a decoded protobuf.
  const b = copy ? poolCopy(src) : src
  if (b.length < HEADER_BYTES || b[0] !== FORMAT) {
    throw backendCorrupt(`a record of ${b.length} bytes with format ${b[0]}`)
  }
  const n = ((b[33]! << 24) | (b[34]! << 16) | (b[35]! << 8) | b[36]!) >>> 0
  if (HEADER_BYTES + n > b.length) throw backendCorrupt(`a key of ${n} bytes in ${b.length}`)
  const createRevision = readU64(b, 1)
  const modRevision = readU64(b, 9)
  const version = readU64(b, 17)
  if (Number.isNaN(createRevision) || Number.isNaN(modRevision) || Number.isNaN(version)) {
    throw backendCorrupt('a revision or version above 2^53')
  }
  let lease = 0n
  for (let i = 25; i < 33; i++) {
    if (b[i] !== 0) {
      lease = readLease(b)
      break
    }
  }
  const keyEnd = HEADER_BYTES + n
  // Plain Uint8Arrays whatever the backend hands out (a Buffer's subarray is a Buffer), so both
  // backends' answers compare equal.
  return {
    key: view(b, HEADER_BYTES, keyEnd),
    createRevision,
    modRevision,
    version,
    value: keysOnly ? EMPTY : view(b, keyEnd, b.length),
    lease,
  }
}

/** The key of a record, as a view. */
export function recordKey(b: Uint8Array): Uint8Array {
  if (b.length < HEADER_BYTES || b[0] !== FORMAT) {
    throw backendCorrupt(`a record of ${b.length} bytes with format ${b[0]}`)
  }
  const n = ((b[33]! << 24) | (b[34]! << 16) | (b[35]! << 8) | b[36]!) >>> 0
  if (HEADER_BYTES + n > b.length) throw backendCorrupt(`a key of ${n} bytes in ${b.length}`)
  return b.subarray(HEADER_BYTES, HEADER_BYTES + n)
}

function poolCopy(src: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(src.length)
  out.set(src)
  return out
}

function view(b: Uint8Array, from: number, to: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + from, to - from)
}

function readLease(b: Uint8Array): bigint {
  const hi = ((b[25]! << 24) | (b[26]! << 16) | (b[27]! << 8) | b[28]!) >>> 0
  const lo = ((b[29]! << 24) | (b[30]! << 16) | (b[31]! << 8) | b[32]!) >>> 0
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo))
}
