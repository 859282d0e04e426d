// KeyIndex against etcd's key_index_test.go cases: get at every revision across generations,
// tombstones, restore, and compaction at every revision (what is dropped and what is kept).

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { KeyIndex, type DroppedRevision, type KeyIndexGet } from './key-index.js'
import {
  isRevisionKey,
  isTombstoneKey,
  readU64,
  revisionKey,
  revisionMain,
  revisionSub,
} from './revision.js'

const foo = new TextEncoder().encode('foo')

/** etcd's newTestKeyIndex: put 2, 4, tombstone 6, put 8, 10, tombstone 12, put 14, 14.1, tombstone 16. */
function testKeyIndex(): KeyIndex {
  const ki = new KeyIndex(foo)
  ki.put(2, 0)
  ki.put(4, 0)
  assert.ok(ki.tombstone(6, 0))
  ki.put(8, 0)
  ki.put(10, 0)
  assert.ok(ki.tombstone(12, 0))
  ki.put(14, 0)
  ki.put(14, 1)
  assert.ok(ki.tombstone(16, 0))
  return ki
}

function get(ki: KeyIndex, rev: number): KeyIndexGet | undefined {
  const out: KeyIndexGet = { main: 0, sub: 0, createdMain: 0, ver: 0 }
  return ki.get(rev, out) ? { ...out } : undefined
}

function revs(ki: KeyIndex): string[] {
  const out: string[] = []
  ki.forEachRevision((m, s, t) => out.push(`${m}.${s}${t ? 't' : ''}`))
  return out
}

describe('KeyIndex', () => {
  it('get at each revision (etcd TestKeyIndexGet)', () => {
    const ki = testKeyIndex()
    const want: Array<[number, [number, number, number, number] | undefined]> = [
      [17, undefined],
      [16, undefined],
      [15, [14, 1, 14, 2]],
      [14, [14, 1, 14, 2]],
      [13, undefined],
      [12, undefined],
      [11, [10, 0, 8, 2]],
      [10, [10, 0, 8, 2]],
      [9, [8, 0, 8, 1]],
      [8, [8, 0, 8, 1]],
      [7, undefined],
      [6, undefined],
      [5, [4, 0, 2, 2]],
      [4, [4, 0, 2, 2]],
      [3, [2, 0, 2, 1]],
      [2, [2, 0, 2, 1]],
      [1, undefined],
      [0, undefined],
    ]
    for (const [rev, w] of want) {
      const got = get(ki, rev)
      const exp =
        w === undefined ? undefined : { main: w[0], sub: w[1], createdMain: w[2], ver: w[3] }
      assert.deepEqual(got, exp, `get at ${rev}`)
    }
  })

  it('tombstone of a key that is not live records nothing', () => {
    const ki = new KeyIndex(foo)
    assert.equal(ki.tombstone(1, 0), false)
    ki.put(5, 0)
    assert.ok(ki.tombstone(7, 0))
    assert.equal(ki.tombstone(8, 0), false)
    assert.deepEqual(revs(ki), ['5.0', '7.0t'])
    assert.equal(ki.isLive(), false)
  })

  it('put below the last revision is a bug', () => {
    const ki = new KeyIndex(foo)
    ki.put(5, 1)
    assert.throws(() => ki.put(5, 1), /not above/)
    assert.throws(() => ki.put(4, 9), /not above/)
  })

  it('restore starts a generation at a stored record (etcd keyIndex.restore)', () => {
    const ki = new KeyIndex(foo)
    ki.restore(3, 7, 0, 4)
    assert.deepEqual(get(ki, 7), { main: 7, sub: 0, createdMain: 3, ver: 4 })
    ki.put(9, 0)
    assert.deepEqual(get(ki, 9), { main: 9, sub: 0, createdMain: 3, ver: 5 })
    assert.equal(get(ki, 6), undefined)
  })

  it('compact at each revision drops what etcd drops (etcd TestKeyIndexCompactAndKeep)', () => {
    // [compact rev, revisions left, dropped]
    const cases: Array<[number, string[], string[]]> = [
      [1, ['2.0', '4.0', '6.0t', '8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t'], []],
      [2, ['2.0', '4.0', '6.0t', '8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t'], []],
      [3, ['2.0', '4.0', '6.0t', '8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t'], []],
      [4, ['4.0', '6.0t', '8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t'], ['2.0']],
      [5, ['4.0', '6.0t', '8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t'], ['2.0']],
      [6, ['8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t'], ['2.0', '4.0', '6.0t']],
      [7, ['8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t'], ['2.0', '4.0', '6.0t']],
      [8, ['8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t'], ['2.0', '4.0', '6.0t']],
      [10, ['10.0', '12.0t', '14.0', '14.1', '16.0t'], ['2.0', '4.0', '6.0t', '8.0']],
      [12, ['14.0', '14.1', '16.0t'], ['2.0', '4.0', '6.0t', '8.0', '10.0', '12.0t']],
      [14, ['14.1', '16.0t'], ['2.0', '4.0', '6.0t', '8.0', '10.0', '12.0t', '14.0']],
      [15, ['14.1', '16.0t'], ['2.0', '4.0', '6.0t', '8.0', '10.0', '12.0t', '14.0']],
      [16, [], ['2.0', '4.0', '6.0t', '8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t']],
      [17, [], ['2.0', '4.0', '6.0t', '8.0', '10.0', '12.0t', '14.0', '14.1', '16.0t']],
    ]
    for (const [rev, left, dropped] of cases) {
      const ki = testKeyIndex()
      const d: DroppedRevision[] = []
      ki.compact(rev, d)
      assert.deepEqual(revs(ki), left, `left after compact ${rev}`)
      const ds = d
        .map((x) => `${x.main}.${x.sub}${x.tombstone ? 't' : ''}`)
        .sort((a, b) => parseFloat(a) - parseFloat(b))
      assert.deepEqual(ds, dropped, `dropped by compact ${rev}`)
      if (left.length === 0) assert.ok(ki.isEmpty())
      // Reads at or above the compacted revision answer as before.
      const full = testKeyIndex()
      for (let r = rev; r <= 18; r++)
        assert.deepEqual(get(ki, r), get(full, r), `get ${r} after compact ${rev}`)
    }
  })

  it('compacting twice drops nothing twice', () => {
    const ki = testKeyIndex()
    const d: DroppedRevision[] = []
    ki.compact(10, d)
    const n = d.length
    ki.compact(10, d)
    assert.equal(d.length, n)
    ki.compact(13, d)
    assert.deepEqual(revs(ki), ['14.0', '14.1', '16.0t'])
  })
})

describe('revision keys', () => {
  it("are etcd's 17 bytes, big-endian, '_' between; a tombstone appends 't'", () => {
    const k = revisionKey(0x0102030405, 7)
    assert.deepEqual([...k], [0, 0, 0, 1, 2, 3, 4, 5, 0x5f, 0, 0, 0, 0, 0, 0, 0, 7])
    assert.ok(isRevisionKey(k))
    assert.ok(!isTombstoneKey(k))
    const t = revisionKey(2 ** 53 - 1, 0, true)
    assert.equal(t.length, 18)
    assert.equal(t[17], 0x74)
    assert.ok(isTombstoneKey(t))
    assert.equal(revisionMain(t), 2 ** 53 - 1)
    assert.equal(revisionSub(k), 7)
    assert.ok(Number.isNaN(readU64(new Uint8Array([0, 0x20, 0, 0, 0, 0, 0, 0]), 0)), 'above 2^53')
  })

  it('sort as their revisions', () => {
    const pairs: Array<[number, number]> = [
      [1, 0],
      [1, 1],
      [255, 0],
      [256, 0],
      [2 ** 32, 0],
      [2 ** 32 + 1, 300],
    ]
    const keys = pairs.map(([m, s]) => Buffer.from(revisionKey(m, s)))
    const sorted = [...keys].sort(Buffer.compare)
    assert.deepEqual(sorted, keys)
  })
})
