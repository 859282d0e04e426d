// Encoded entry sizes and limitSize (etcd-io/raft util_test.go TestLimitSize), plus byte counts
// worked out by hand from the protobuf encoding.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { EntryType, entry, type Entry } from './raftpb/types.js'
import { encodeEntry } from './raftpb/codec.js'
import { entrySize, entsSize, limitSize } from './size.js'

describe('entrySize', () => {
  it('is the protobuf encoded size: a tag and a varint per non-zero scalar, data when present', () => {
    // All fields zero: nothing is encoded.
    assert.equal(entrySize(entry({})), 0)
    // term 1 (two bytes) and index 300 (a tag and a two-byte varint).
    assert.equal(entrySize(entry({ term: 1, index: 300 })), 5)
    // data "ab": tag, length, two bytes, beside term and index of two bytes each.
    const data = new TextEncoder().encode('ab')
    assert.equal(entrySize(entry({ term: 1, index: 2, data })), 8)
    // a term beyond 32 bits: 2^35 needs six varint bytes; type 2 takes two.
    const big = entry({ term: 2 ** 35, type: EntryType.EntryConfChangeV2 })
    assert.equal(entrySize(big), 9)
    for (const e of [entry({}), entry({ term: 1, index: 300 }), entry({ data }), big]) {
      assert.equal(entrySize(e), encodeEntry(e).length)
    }
  })
})

describe('limitSize', () => {
  const ents = [4, 5, 6].map((i) => entry({ index: i, term: i }))
  const prefix = (n: number): Entry[] => ents.slice(0, n)
  const sizeOf = (n: number): number => entsSize(prefix(n))

  it('keeps the longest prefix within the limit, and at least one entry', () => {
    const table: [number, Entry[]][] = [
      [Infinity, prefix(3)],
      // Even if maxSize is zero, the first entry is returned.
      [0, prefix(1)],
      [sizeOf(2), prefix(2)],
      [sizeOf(2) + entrySize(ents[2] as Entry) / 2, prefix(2)],
      [sizeOf(3) - 1, prefix(2)],
      [sizeOf(3), prefix(3)],
    ]
    for (const [maxSize, want] of table) assert.deepEqual(limitSize(ents, maxSize), want)
    assert.deepEqual(limitSize([], 0), [])
  })
})
