/**
 * Revisions and their byte form (etcd server/mvcc/revision.go). A revision is (main, sub): main
 * is the store's revision, one per write transaction; sub orders the writes inside it. In the
 * backend a revision is a key of 17 bytes, main and sub as big-endian 64-bit integers with '_'
 * between them, so the byte order of keys is the order of revisions; a deletion (tombstone)
 * appends 't' (etcd's markTombstone), 18 bytes.
 *
 * Revisions are JS numbers, asserted safe integers; the 64-bit fields are written as two 32-bit
 * halves (no BigInt on the hot path).
 */
import assert from 'node:assert/strict'

export const REV_BYTES = 17
export const MARKED_REV_BYTES = 18
const TOMBSTONE_MARK = 0x74 // 't'
const SEPARATOR = 0x5f // '_'
const TWO_32 = 2 ** 32

/** Writes (main, sub) into out[0..17) (and, for a tombstone, 't' at out[17]). */
export function putRevision(out: Uint8Array, main: number, sub: number, tombstone: boolean): void {
  writeU64(out, 0, main)
  out[8] = SEPARATOR
  writeU64(out, 9, sub)
  if (tombstone) out[17] = TOMBSTONE_MARK
}

/** A fresh revision key; `tombstone` marks it (18 bytes). */
export function revisionKey(main: number, sub: number, tombstone = false): Uint8Array {
  const out = new Uint8Array(tombstone ? MARKED_REV_BYTES : REV_BYTES)
  putRevision(out, main, sub, tombstone)
  return out
}

export function isRevisionKey(key: Uint8Array): boolean {
  if (key.length === REV_BYTES) return key[8] === SEPARATOR
  return key.length === MARKED_REV_BYTES && key[8] === SEPARATOR && key[17] === TOMBSTONE_MARK
}

export function revisionMain(key: Uint8Array): number {
  return readU64(key, 0)
}

export function revisionSub(key: Uint8Array): number {
  return readU64(key, 9)
}

export function isTombstoneKey(key: Uint8Array): boolean {
  return key.length === MARKED_REV_BYTES && key[17] === TOMBSTONE_MARK
}

/** Big-endian unsigned 64-bit write of a safe integer. */
export function writeU64(out: Uint8Array, at: number, v: number): void {
  if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER && Math.floor(v) === v)) {
    assert.fail(`not a non-negative safe integer: ${v}`)
  }
  const hi = Math.floor(v / TWO_32)
  const lo = v >>> 0
  out[at] = hi >>> 24
  out[at + 1] = (hi >>> 16) & 0xff
  out[at + 2] = (hi >>> 8) & 0xff
  out[at + 3] = hi & 0xff
  out[at + 4] = lo >>> 24
  out[at + 5] = (lo >>> 16) & 0xff
  out[at + 6] = (lo >>> 8) & 0xff
  out[at + 7] = lo & 0xff
}

/** Big-endian unsigned 64-bit read; a value above 2^53 - 1 is not ours: NaN (callers check). */
export function readU64(b: Uint8Array, at: number): number {
  const hi = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
  const lo = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0
  if (hi >= 0x200000) return NaN
  return hi * TWO_32 + lo
}
