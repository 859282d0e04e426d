// MemoryBackend's power-loss model (durability 'flush', for the simulator) and the store over a
// backend a crash left behind: after crash(), the backend holds exactly the groups a flushed()
// covered, and a store opened over it is the workload applied up to its consistent index (the
// same workload as the LMDB crash test, compared with a replica); detach() stops a store without
// touching its backend. Also what open() makes of a compaction a crash cut short: a tombstone
// left without its generation is deleted on resume, and one above the scheduled compaction is
// corruption.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { applyEntry } from '../../test-support/mvcc-crash-child.js'
import { backendKinds, enc } from '../../test-support/mvcc-backends.js'
import { testRand } from '../../test-support/seed.js'
import { MemoryBackend, MvccError, MvccStore } from './index.js'
import { revisionKey } from './revision.js'

const ALL = new Uint8Array([0])

function replica(upTo: number): MvccStore {
  const s = MvccStore.open(new MemoryBackend(), { compactionBatchLimit: 5 })
  for (let i = 1; i <= upTo; i++) applyEntry(s, i)
  return s
}

describe('MemoryBackend with durability "flush"', () => {
  it('crash() forgets every group after the last flushed one', async () => {
    const b = new MemoryBackend({ durability: 'flush' })
    b.put('key', enc('a'), enc('1'))
    b.commit(1)
    await b.flushed()
    assert.equal(b.durableMark(), 1)
    b.put('key', enc('a'), enc('2'))
    b.put('key', enc('b'), enc('3'))
    b.commit(2)
    const f = b.flushed()
    b.delete('key', enc('a'))
    b.commit(3)
    await f
    assert.equal(b.durableMark(), 2)
    b.put('meta', enc('m'), enc('open group, never committed'))
    b.crash()
    const seen: string[] = []
    b.scan('key', (k, v) => seen.push(`${Buffer.from(k)}=${Buffer.from(v)}`))
    assert.deepEqual(seen, ['a=2', 'b=3'])
    assert.equal(b.get('meta', enc('m')), undefined)
    assert.equal(b.durableMark(), 2)
    assert.equal(b.sizeBytes(), 4)
  })

  it('a store over a crashed backend is the workload up to its consistent index', async (t) => {
    const rand = testRand(t)
    for (let round = 0; round < 20; round++) {
      const b = new MemoryBackend({ durability: 'flush' })
      let s = MvccStore.open(b, { compactionBatchLimit: 5 })
      let i = 0
      let durable = 0
      for (let crashes = 0; crashes < 3; crashes++) {
        const turns = 1 + rand.int(8)
        for (let turn = 0; turn < turns; turn++) {
          for (let n = rand.int(30); n > 0; n--) applyEntry(s, ++i)
          if (rand.int(3) === 0) {
            await s.flushed()
            durable = i
          } else {
            await new Promise((resolve) => setImmediate(resolve))
          }
        }
        s.detach()
        b.crash()
        s = MvccStore.open(b, { compactionBatchLimit: 5 })
        assert.equal(s.consistentIndex(), durable, 'the store is back at the last durable index')
        i = durable
        const want = replica(i)
        assert.equal(s.hash(), want.hash())
        assert.deepEqual(s.range(ALL, ALL), want.range(ALL, ALL))
        await s.compactionsDone()
        assert.equal(s.hash(), want.hash())
      }
    }
  })
})

for (const kind of backendKinds) {
  describe(`open() after a compaction cut short, on ${kind.name}`, () => {
    it('deletes a tombstone whose generation the compaction had deleted', async () => {
      const b = kind.make()
      const s = MvccStore.open(b)
      let t = s.write(1)
      t.put(enc('a'), enc('1'), 0n) // 2
      t.end()
      t = s.write(2)
      t.deleteRange(enc('a'), undefined) // 3
      t.end()
      t = s.write(3)
      t.put(enc('b'), enc('2'), 0n) // 4
      t.end()
      // What a crash leaves halfway through compact(3): scheduled, 2.0 deleted, 3.0t not yet.
      b.put('meta', enc('scheduledCompactRev'), revisionKey(3, 0))
      b.delete('key', revisionKey(2, 0))
      b.commit(3)
      await s.flushed()
      const b2 = await kind.reopen(s, b)
      const s2 = MvccStore.open(b2)
      assert.equal(s2.compactedRevision, 3)
      assert.equal(s2.currentRevision, 4)
      assert.deepEqual(
        s2.range(ALL, ALL).kvs.map((kv) => Buffer.from(kv.key).toString()),
        ['b'],
      )
      await s2.compactionsDone()
      const left: number[] = []
      b2.scan('key', (k) => left.push(k.length))
      assert.deepEqual(left, [17], 'only 4.0 is left')
      assert.ok(b2.get('meta', enc('finishedCompactRev')) !== undefined)
      await s2.close()
    })

    it('a tombstone that ends no generation above the scheduled compaction is corruption', async () => {
      const b = kind.make()
      const s = MvccStore.open(b)
      const t = s.write(1)
      t.put(enc('a'), enc('1'), 0n)
      t.end()
      b.delete('key', revisionKey(2, 0))
      b.put(
        'key',
        revisionKey(3, 0, true),
        new Uint8Array(
          Buffer.from(
            // A tombstone record of key "a" (format 1, zeros, key length 1, "a").
            [1, ...new Array(32).fill(0), 0, 0, 0, 1, 0x61],
          ),
        ),
      )
      b.commit(2)
      await s.flushed()
      const b2 = await kind.reopen(s, b)
      assert.throws(
        () => MvccStore.open(b2),
        (e: unknown) => MvccError.is(e, 'BACKEND_CORRUPT') && /ends no generation/.test(e.message),
      )
      await b2.close()
    })
  })
}
