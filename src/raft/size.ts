/**
 * Encoded entry sizes, for the byte limits on messages and on entries handed to the application
 * (etcd-io/raft `util.go` `entsSize`, `limitSize`).
 *
 * TEMPORARY: util.ts and raftpb/codec.ts will own these; this file exists so the log code does not
 * wait on them, and is to be deduplicated.
 *
 * Sizes follow the protobuf encoding etcd has always put on the wire (gogoproto, non-nullable
 * scalars): type (field 1), term (2) and index (3) are always encoded, even when zero; data (4)
 * only when non-empty. The newest upstream raftpb (protobuf-go, explicit presence) instead omits
 * a scalar that was never set, so an entry built without a type counts 2 bytes less there. Our
 * Entry has no "unset" state, and no conformance transcript depends on exact sizes, so the
 * wire-compatible encoding wins.
 */

import type { Entry } from './raftpb/types.js'

/** Bytes in the base-128 varint encoding of a non-negative safe integer. */
function varintSize(value: number): number {
  let size = 1
  // Division, not shifts: JS bitwise operators truncate to 32 bits.
  for (let v = value; v >= 128; v = Math.floor(v / 128)) size++
  return size
}

/** The protobuf encoded size of one entry: one tag byte per field plus its payload. */
export function entrySize(e: Entry): number {
  let size = 1 + varintSize(e.type) + 1 + varintSize(e.term) + 1 + varintSize(e.index)
  if (e.data.length > 0) size += 1 + varintSize(e.data.length) + e.data.length
  return size
}

export function entsSize(ents: readonly Entry[]): number {
  let size = 0
  for (const e of ents) size += entrySize(e)
  return size
}

/**
 * The longest prefix of `ents` whose total encoded size is at most `maxSize`, but never empty when
 * `ents` is not: a single entry larger than the limit still goes out alone, or nothing would ever
 * make progress. Returns `ents` itself when nothing is cut.
 */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  // "No limit" is common (MaxSizePerMsg unset); skip summing sizes nobody will compare.
  if (ents.length === 0 || maxSize === Infinity) return ents
  let size = 0
  for (let limit = 0; limit < ents.length; limit++) {
    size += entrySize(ents[limit] as Entry)
    if (limit > 0 && size > maxSize) return ents.slice(0, limit)
  }
  return ents
}
