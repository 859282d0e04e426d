// MvccStore's behaviour, one suite run on every backend (MemoryBackend, LmdbBackend on a real
// file): revisions and sub revisions, create/mod revision and version, a write txn reading its
// own writes, range ends (etcd's), limit/count, historic reads and etcd's errors, compaction
// (rules, physical removal, batches, resumption after a stop), the consistent index, reopen,
// and snapshots (round trip across backends; a corrupt one changes nothing).

import assert from 'node:assert/strict'
import fs from 'node:fs'
import { describe, it } from 'node:test'

import { backendKinds, dec, enc, freshLmdbPath } from '../../test-support/mvcc-backends.js'
import {
  LmdbBackend,
  MemoryBackend,
  MvccStore,
  MvccError,
  type Backend,
  type KeyValue,
} from './index.js'
import { revisionKey } from './revision.js'

const ALL = new Uint8Array([0])

function put(s: MvccStore, index: number, ...kvs: Array<[string, string]>): void {
  const t = s.write(index)
  for (const [k, v] of kvs) t.put(enc(k), enc(v), 0n)
  t.end()
}

function del(s: MvccStore, index: number, key: string, end?: string | Uint8Array): number {
  const t = s.write(index)
  const n = t.deleteRange(enc(key), typeof end === 'string' ? enc(end) : end)
  t.end()
  return n
}

function brief(kv: KeyValue): string {
  return `${dec(kv.key)}=${dec(kv.value)} c${kv.createRevision} m${kv.modRevision} v${kv.version}`
}

function rangeAll(s: MvccStore, rev = 0): string[] {
  return s.range(enc('\0'), ALL, { rev }).kvs.map(brief)
}

function records(b: Backend): string[] {
  const out: string[] = []
  b.scan('key', (k) => {
    const main = Buffer.from(k).readUIntBE(2, 6)
    const sub = Buffer.from(k).readUIntBE(11, 6)
    out.push(`${main}.${sub}${k.length === 18 ? 't' : ''}`)
  })
  return out
}

function throwsCode(f: () => unknown, code: string, message?: string): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof MvccError, `not an MvccError: ${String(err)}`)
    assert.equal(err.code, code)
    if (message !== undefined) assert.equal(err.message, message)
    return true
  })
}

for (const kind of backendKinds) {
  describe(`MvccStore on ${kind.name}`, () => {
    it('an empty store is at revision 1; each writing txn takes the next revision', () => {
      const s = MvccStore.open(kind.make())
      assert.equal(s.currentRevision, 1)
      assert.equal(s.compactedRevision, 0)
      assert.equal(s.consistentIndex(), 0)
      put(s, 1, ['a', '1'])
      assert.equal(s.currentRevision, 2)
      put(s, 2, ['b', '2'], ['c', '3'], ['b', '4'])
      assert.equal(s.currentRevision, 3, 'one main revision per txn')
      assert.deepEqual(rangeAll(s), ['a=1 c2 m2 v1', 'b=4 c3 m3 v2', 'c=3 c3 m3 v1'])
      assert.equal(s.consistentIndex(), 2)
    })

    it('sub revisions order the writes of a txn in the backend', () => {
      const b = kind.make()
      const s = MvccStore.open(b)
      put(s, 1, ['x', '1'], ['y', '2'])
      assert.equal(del(s, 2, 'x', 'z'), 2)
      assert.deepEqual(records(b), ['2.0', '2.1', '3.0t', '3.1t'])
    })

    it('a txn that writes nothing leaves the revision but moves the consistent index', () => {
      const s = MvccStore.open(kind.make())
      put(s, 1, ['a', '1'])
      const t = s.write(2)
      assert.equal(t.deleteRange(enc('nope'), undefined), 0)
      assert.equal(t.range(enc('a'), undefined).rev, 2)
      t.end()
      assert.equal(s.currentRevision, 2)
      assert.equal(s.consistentIndex(), 2)
      s.markApplied(5)
      assert.equal(s.consistentIndex(), 5)
      assert.equal(s.currentRevision, 2)
      assert.throws(() => s.markApplied(5), /above the consistent index/)
      assert.throws(() => s.write(4), /above the consistent index/)
    })

    it('create revision and version across generations', () => {
      const s = MvccStore.open(kind.make())
      put(s, 1, ['k', 'a'])
      put(s, 2, ['k', 'b'])
      assert.deepEqual(rangeAll(s), ['k=b c2 m3 v2'])
      assert.equal(del(s, 3, 'k'), 1)
      assert.deepEqual(rangeAll(s), [])
      put(s, 4, ['k', 'c'])
      assert.deepEqual(rangeAll(s), ['k=c c5 m5 v1'])
      assert.deepEqual(rangeAll(s, 3), ['k=b c2 m3 v2'])
      assert.deepEqual(rangeAll(s, 4), [])
    })

    it('a write txn reads its own writes (etcd TxnWrite)', () => {
      const s = MvccStore.open(kind.make())
      put(s, 1, ['a', '1'])
      const t = s.write(2)
      assert.equal(t.range(enc('a'), undefined).rev, 2)
      t.put(enc('a'), enc('2'), 9n)
      const r = t.range(enc('a'), undefined)
      assert.equal(r.rev, 3)
      assert.deepEqual(r.kvs.map(brief), ['a=2 c2 m3 v2'])
      assert.equal(r.kvs[0]!.lease, 9n)
      assert.equal(t.deleteRange(enc('a'), undefined), 1)
      assert.equal(t.range(enc('a'), undefined).count, 0)
      t.put(enc('a'), enc('3'), 0n)
      assert.deepEqual(t.range(enc('a'), undefined).kvs.map(brief), ['a=3 c3 m3 v1'])
      // Outside the txn, until it ends, the store reads the revision before it.
      assert.deepEqual(rangeAll(s), ['a=1 c2 m2 v1'])
      t.end()
      assert.deepEqual(rangeAll(s), ['a=3 c3 m3 v1'])
      assert.equal(s.currentRevision, 3)
    })

    it("range ends: none = the key, [0] = from the key, else [key, end) (etcd's)", () => {
      const s = MvccStore.open(kind.make())
      put(s, 1, ['a', '1'], ['ab', '2'], ['b', '3'], ['b\0', '4'], ['\xff', '5'], ['\xff\xff', '6'])
      const keys = (key: string, end: string | Uint8Array | undefined): string[] =>
        s.range(enc(key), typeof end === 'string' ? enc(end) : end).kvs.map((kv) => dec(kv.key))
      assert.deepEqual(keys('a', undefined), ['a'])
      assert.deepEqual(keys('a', new Uint8Array(0)), ['a'])
      assert.deepEqual(keys('aa', undefined), [])
      assert.deepEqual(keys('ab', ALL), ['ab', 'b', 'b\0', '\xff', '\xff\xff'])
      assert.deepEqual(keys('\0', ALL), ['a', 'ab', 'b', 'b\0', '\xff', '\xff\xff'])
      assert.deepEqual(keys('a', 'b'), ['a', 'ab'])
      assert.deepEqual(keys('b', 'c'), ['b', 'b\0'])
      assert.deepEqual(keys('\xff', '\xff\xff'), ['\xff'])
      assert.deepEqual(keys('b', 'a'), [], 'end before key: nothing')
      assert.deepEqual(keys('b', 'b'), [], 'end = key: nothing')
    })

    it('limit, count, countOnly, keysOnly', () => {
      const s = MvccStore.open(kind.make())
      put(s, 1, ['a', '1'], ['b', '2'], ['c', '3'], ['d', '4'])
      const r = s.range(enc('a'), ALL, { limit: 2 })
      assert.deepEqual(r.kvs.map(brief), ['a=1 c2 m2 v1', 'b=2 c2 m2 v1'])
      assert.equal(r.count, 4)
      const c = s.range(enc('b'), enc('d'), { countOnly: true })
      assert.deepEqual(c, { kvs: [], count: 2, rev: 2 })
      const k = s.range(enc('a'), ALL, { keysOnly: true, limit: 1 })
      assert.equal(k.kvs.length, 1)
      assert.equal(k.kvs[0]!.value.length, 0)
      assert.equal(k.kvs[0]!.version, 1)
      assert.equal(s.range(enc('a'), ALL, { limit: 0 }).kvs.length, 4, 'limit 0: no limit')
      assert.equal(s.range(enc('zz'), undefined).count, 0)
    })

    it('historic reads; a future revision and a compacted one fail with etcd texts', async () => {
      const s = MvccStore.open(kind.make())
      put(s, 1, ['a', '1'])
      put(s, 2, ['a', '2'])
      put(s, 3, ['b', '3'])
      assert.deepEqual(rangeAll(s, 2), ['a=1 c2 m2 v1'])
      assert.equal(s.range(enc('a'), undefined, { rev: 2 }).rev, 4, 'rev is the current one')
      throwsCode(
        () => s.range(enc('a'), undefined, { rev: 5 }),
        'FUTURE_REV',
        'mvcc: required revision is a future revision',
      )
      await s.compact(3).done
      assert.equal(s.compactedRevision, 3)
      throwsCode(
        () => s.range(enc('a'), undefined, { rev: 2 }),
        'COMPACTED',
        'mvcc: required revision has been compacted',
      )
      assert.deepEqual(rangeAll(s, 3), ['a=2 c2 m3 v2'], 'the compacted revision itself reads')
      throwsCode(() => s.range(enc('a'), undefined, { rev: 9 }), 'FUTURE_REV')
      const t = s.write(4)
      throwsCode(() => t.range(enc('a'), undefined, { rev: 5 }), 'FUTURE_REV')
      t.put(enc('c'), enc('4'), 0n)
      assert.equal(t.range(enc('c'), undefined, { rev: 5 }).count, 1)
      t.end()
    })

    it('answers as etcd 3.4.23 does to an etcdctl session (run by hand against etcd)', async () => {
      // etcdctl compact 0; compact 0; compact 1; put a 1; compact 2; get a --rev=2; compact 4;
      // put b 2; del a; compact 4; get a --rev=4; get a --rev=3; get --from-key '' --limit 1;
      // get b --rev=9: etcd answered each as asserted here.
      const s = MvccStore.open(kind.make())
      await s.compact(0, { index: 1 }).done
      throwsCode(() => s.compact(0), 'COMPACTED')
      s.markApplied(2)
      await s.compact(1, { index: 3 }).done
      put(s, 4, ['a', '1'])
      await s.compact(2, { index: 5 }).done
      const r2 = s.range(enc('a'), undefined, { rev: 2 })
      assert.deepEqual([r2.kvs.map(brief), r2.count, r2.rev], [['a=1 c2 m2 v1'], 1, 2])
      throwsCode(() => s.compact(4), 'FUTURE_REV')
      s.markApplied(6)
      put(s, 7, ['b', '2'])
      assert.equal(del(s, 8, 'a'), 1)
      await s.compact(4, { index: 9 }).done
      assert.deepEqual(s.range(enc('a'), undefined, { rev: 4 }), { kvs: [], count: 0, rev: 4 })
      throwsCode(() => s.range(enc('a'), undefined, { rev: 3 }), 'COMPACTED')
      const from = s.range(new Uint8Array([0]), ALL, { limit: 1 })
      assert.deepEqual([from.kvs.map(brief), from.count, from.rev], [['b=2 c3 m3 v1'], 1, 4])
      throwsCode(() => s.range(enc('b'), undefined, { rev: 9 }), 'FUTURE_REV')
      await s.close()
    })

    it("compact: etcd's errors; at 0 once; the revision must exist", async () => {
      const s = MvccStore.open(kind.make())
      throwsCode(() => s.compact(2), 'FUTURE_REV')
      await s.compact(0).done
      throwsCode(() => s.compact(0), 'COMPACTED')
      put(s, 1, ['a', '1'])
      await s.compact(2).done
      throwsCode(() => s.compact(2), 'COMPACTED', 'mvcc: required revision has been compacted')
      throwsCode(() => s.compact(1), 'COMPACTED')
      throwsCode(() => s.compact(3), 'FUTURE_REV', 'mvcc: required revision is a future revision')
    })

    it('compaction keeps the latest revision <= rev of each key unless a tombstone', async () => {
      const b = kind.make()
      const s = MvccStore.open(b)
      put(s, 1, ['a', '1'], ['b', '1']) // 2
      put(s, 2, ['a', '2']) // 3
      del(s, 3, 'b') // 4
      put(s, 4, ['c', '1']) // 5
      put(s, 5, ['a', '3'], ['c', '2']) // 6
      del(s, 6, 'c') // 7
      assert.deepEqual(records(b), ['2.0', '2.1', '3.0', '4.0t', '5.0', '6.0', '6.1', '7.0t'])
      await s.compact(4).done
      assert.deepEqual(records(b), ['3.0', '5.0', '6.0', '6.1', '7.0t'])
      await s.compact(6).done
      assert.deepEqual(records(b), ['6.0', '6.1', '7.0t'])
      await s.compact(7).done
      assert.deepEqual(records(b), ['6.0'])
      assert.deepEqual(rangeAll(s), ['a=3 c2 m6 v3'])
      assert.deepEqual(rangeAll(s, 7), ['a=3 c2 m6 v3'])
      put(s, 7, ['c', 'again'])
      assert.deepEqual(rangeAll(s), ['a=3 c2 m6 v3', 'c=again c8 m8 v1'])
    })

    it('compaction deletes in batches; reads go on meanwhile', async () => {
      const b = kind.make()
      const s = MvccStore.open(b, { compactionBatchLimit: 3 })
      for (let i = 1; i <= 20; i++) put(s, i, [`k${i % 4}`, `${i}`])
      const c = s.compact(18)
      assert.deepEqual(rangeAll(s, 18).length, 4)
      assert.ok(records(b).length > 7, 'the deletion has not run yet')
      await c.done
      await s.compactionsDone()
      // Each key's latest at or below 18 (k3@15, k0@16, k1@17, k2@18) and everything above.
      assert.deepEqual(records(b), ['15.0', '16.0', '17.0', '18.0', '19.0', '20.0', '21.0'])
    })

    it('a compaction stopped halfway resumes when the store opens again', async () => {
      const b = kind.make()
      const s = MvccStore.open(b, { compactionBatchLimit: 2 })
      for (let i = 1; i <= 12; i++) put(s, i, [`k${i % 3}`, `${i}`])
      del(s, 13, 'k0')
      const before = rangeAll(s)
      void s.compact(12).done.catch(() => undefined)
      // The store stops (memory: dropped as by a crash; lmdb: closed) before the batches ran.
      const b2 = await kind.reopen(s, b)
      const s2 = MvccStore.open(b2, { compactionBatchLimit: 2 })
      assert.equal(s2.compactedRevision, 12)
      assert.deepEqual(rangeAll(s2), before)
      await s2.compactionsDone()
      // k0@10 (its tombstone at 14 is above 12), k1@11, k2@12; then 13 and the tombstone.
      assert.deepEqual(records(b2), ['10.0', '11.0', '12.0', '13.0', '14.0t'])
      await s2.close()
    })

    it('reopen restores revisions, the consistent index and the key index', async () => {
      const b = kind.make()
      const s = MvccStore.open(b)
      put(s, 1, ['a', '1'], ['b', '2'])
      put(s, 2, ['a', '3'])
      del(s, 3, 'b')
      s.markApplied(4)
      await s.compact(3).done
      const all = rangeAll(s)
      const hash = s.hash()
      await s.flushed()
      const b2 = await kind.reopen(s, b)
      const s2 = MvccStore.open(b2)
      assert.equal(s2.currentRevision, 4)
      assert.equal(s2.compactedRevision, 3)
      assert.equal(s2.consistentIndex(), 4)
      assert.deepEqual(rangeAll(s2), all)
      assert.equal(s2.hash(), hash)
      put(s2, 5, ['b', 'x'])
      assert.deepEqual(rangeAll(s2), ['a=3 c2 m3 v2', 'b=x c5 m5 v1'])
      await s2.close()
    })

    it('a store whose newest records were all compacted reopens at the compacted revision', async () => {
      const b = kind.make()
      const s = MvccStore.open(b)
      put(s, 1, ['a', '1'])
      del(s, 2, 'a')
      await s.compact(3).done
      assert.deepEqual(records(b), [])
      const s2 = MvccStore.open(await kind.reopen(s, b))
      assert.equal(s2.currentRevision, 3)
      put(s2, 3, ['a', '2'])
      assert.deepEqual(rangeAll(s2), ['a=2 c4 m4 v1'])
      await s2.close()
    })

    for (const other of backendKinds) {
      it(`snapshot and restore into ${other.name}: the same content, and writes go on`, async () => {
        const s = MvccStore.open(kind.make())
        put(s, 1, ['a', '1'], ['b', '2'])
        put(s, 2, ['a', '3'])
        del(s, 3, 'b')
        await s.compact(3).done
        put(s, 4, ['c', '4'])
        const t = s.write(5)
        t.put(enc('d'), enc('5'), -3n)
        t.end()
        const snap = s.snapshot()
        const r = MvccStore.open(other.make())
        put(r, 1, ['zzz', 'old'])
        r.restore(snap)
        assert.equal(r.hash(), s.hash())
        assert.equal(r.currentRevision, s.currentRevision)
        assert.equal(r.compactedRevision, 3)
        assert.equal(r.consistentIndex(), 5)
        for (let rev = 3; rev <= s.currentRevision; rev++) {
          assert.deepEqual(rangeAll(r, rev), rangeAll(s, rev), `at ${rev}`)
        }
        assert.equal(r.range(enc('d'), undefined).kvs[0]!.lease, -3n)
        throwsCode(() => r.range(enc('a'), undefined, { rev: 2 }), 'COMPACTED')
        put(r, 6, ['a', 'new'])
        put(s, 6, ['a', 'new'])
        assert.equal(r.hash(), s.hash())
        await r.flushed()
        assert.equal(r.durableIndex(), 6)
        await r.close()
        await s.close()
      })
    }

    it('restoring an empty snapshot empties the store at once', async () => {
      const empty = MvccStore.open(new MemoryBackend()).snapshot()
      const r = MvccStore.open(kind.make())
      put(r, 1, ['a', '1'])
      r.markApplied(2)
      await r.flushed()
      put(r, 3, ['b', '2'])
      r.restore(empty)
      assert.deepEqual(r.snapshot(), empty, 'before the restore is durable')
      assert.equal(r.currentRevision, 1)
      assert.equal(r.consistentIndex(), 0)
      await r.flushed()
      assert.deepEqual(r.snapshot(), empty)
      await r.close()
    })

    it('a corrupt snapshot is refused and changes nothing', async () => {
      const s = MvccStore.open(kind.make())
      put(s, 1, ['a', '1'])
      const snap = s.snapshot()
      const r = MvccStore.open(kind.make())
      put(r, 1, ['b', '2'])
      const hash = r.hash()
      const bad: Uint8Array[] = []
      for (const at of [0, 9, 14, 20, Math.floor(snap.length / 2), snap.length - 1]) {
        const b = snap.slice()
        b[at]! ^= 0x10
        bad.push(b)
      }
      bad.push(snap.subarray(0, snap.length - 3), new Uint8Array(0), snap.subarray(0, 19))
      for (const b of bad) {
        throwsCode(() => r.restore(b), 'SNAPSHOT_CORRUPT')
        assert.equal(r.hash(), hash)
        assert.deepEqual(rangeAll(r), ['b=2 c2 m2 v1'])
      }
      await r.close()
      await s.close()
    })

    it('a snapshot that checks but does not decode is refused too', async () => {
      // A record whose revision key is malformed, in a well-formed snapshot.
      const m = new MemoryBackend()
      m.put('key', new Uint8Array([1, 2, 3]), new Uint8Array([1]))
      m.commit(0)
      const snap = MvccStore.open(new MemoryBackend()).snapshot()
      const forged = () => {
        const src = MvccStore.open(m)
        return src.snapshot()
      }
      assert.throws(forged, (e: unknown) => MvccError.is(e, 'BACKEND_CORRUPT'))
      const r = MvccStore.open(kind.make())
      put(r, 1, ['a', '1'])
      const entries = Buffer.from(snap)
      assert.ok(entries.length > 0)
      // Build by hand: one entry in bucket key with a 3-byte key.
      const { encodeSnapshot } = await import('./snapshot.js')
      const bad = encodeSnapshot([
        { bucket: 'key', key: new Uint8Array([1, 2, 3]), value: new Uint8Array([1]) },
      ])
      throwsCode(() => r.restore(bad), 'SNAPSHOT_CORRUPT')
      const bad2 = encodeSnapshot([
        { bucket: 'key', key: revisionKey(2, 0), value: new Uint8Array([9, 9]) },
      ])
      throwsCode(() => r.restore(bad2), 'SNAPSHOT_CORRUPT')
      assert.deepEqual(rangeAll(r), ['a=1 c2 m2 v1'])
      await r.close()
    })

    it("keeps copies, not views of the caller's buffers (a Buffer's slice is a view)", () => {
      const s = MvccStore.open(kind.make())
      const request = Buffer.from('xxkeyvaluexx', 'latin1')
      const t = s.write(1)
      t.put(request.subarray(2, 5), request.subarray(5, 10), 0n)
      t.end()
      request.fill(0)
      assert.deepEqual(rangeAll(s), ['key=value c2 m2 v1'])
      const got = s.range(enc('key'), undefined).kvs[0]!
      assert.equal(got.key.constructor, Uint8Array)
      got.value.fill(0)
      assert.deepEqual(rangeAll(s), ['key=value c2 m2 v1'], "a result is the caller's to change")
    })

    it('server metadata goes with its entry: reopened, snapshotted, restored', async () => {
      const b = kind.make()
      const s = MvccStore.open(b)
      assert.equal(s.getMeta('members'), undefined)
      s.setMeta('members', enc('m1,m2'))
      s.markApplied(1)
      const t = s.write(2)
      t.put(enc('a'), enc('1'), 0n)
      s.setMeta('clusterVersion', enc('3.4.0'))
      t.end()
      s.setMeta('members', undefined)
      s.setMeta('members', enc('m1'))
      s.markApplied(3)
      assert.equal(dec(s.getMeta('members')!), 'm1')
      const snap = s.snapshot()
      await s.flushed()
      const s2 = MvccStore.open(await kind.reopen(s, b))
      assert.equal(dec(s2.getMeta('members')!), 'm1')
      assert.equal(dec(s2.getMeta('clusterVersion')!), '3.4.0')
      const r = MvccStore.open(new MemoryBackend())
      r.restore(snap)
      assert.equal(dec(r.getMeta('members')!), 'm1')
      assert.equal(r.consistentIndex(), 3)
      await s2.close()
    })

    it('dbSize and dbSizeInUse report the backend', async () => {
      const s = MvccStore.open(kind.make())
      const empty = s.dbSizeInUse()
      for (let i = 1; i <= 50; i++) put(s, i, [`key-${i}`, 'x'.repeat(200)])
      await s.flushed()
      assert.ok(s.dbSize() > 0)
      assert.ok(s.dbSizeInUse() > empty, `${s.dbSizeInUse()} > ${empty}`)
      assert.ok(s.dbSizeInUse() <= s.dbSize())
      await s.close()
    })
  })
}

it('LmdbBackend keeps a write group of 5,000 writes whole (a delete of 5,000 keys) and durable', async () => {
  const p = freshLmdbPath()
  const s = MvccStore.open(LmdbBackend.open(p))
  const kvs: Array<[string, string]> = []
  for (let i = 0; i < 5000; i++) kvs.push([`k/${String(i).padStart(5, '0')}`, 'v'])
  put(s, 1, ...kvs)
  assert.equal(del(s, 2, 'k/', 'k0'), 5000)
  await s.flushed()
  await s.close()
  const again = MvccStore.open(LmdbBackend.open(p))
  assert.deepEqual(rangeAll(again), [])
  assert.equal(again.consistentIndex(), 2)
  assert.equal(again.currentRevision, 3)
  await again.close()
})

it('LmdbBackend refuses a file that is not LMDB, and leaves it as it is', () => {
  const p = freshLmdbPath()
  const junk = Buffer.alloc(20000, 0x5a)
  fs.writeFileSync(p, junk)
  assert.throws(
    () => LmdbBackend.open(p),
    (e: unknown) => MvccError.is(e, 'BACKEND_CORRUPT') && /not an LMDB file/.test(e.message),
  )
  assert.deepEqual(fs.readFileSync(p), junk)
})

it('LmdbBackend: a batch of thousands of write groups is one transaction; reads see it before', async () => {
  // Written one per call in one event turn, lmdb-js split such a batch across transactions
  // when its write buffer filled (the server hit it at 9k puts/s): handed over as one batch().
  const p = freshLmdbPath()
  const b = LmdbBackend.open(p, { noSync: true, batchIntervalMs: 60_000, batchLimit: 1_000_000 })
  const s = MvccStore.open(b)
  const value = 'v'.repeat(300)
  for (let i = 1; i <= 20_000; i++) put(s, i, [`key-${i % 5000}`, `${value}${i}`])
  assert.equal(b.durableMark(), 0, 'nothing handed over before the interval')
  assert.equal(dec(s.range(enc('key-7'), undefined).kvs[0]!.value), `${value}15007`)
  await s.flushed()
  assert.equal(b.durableMark(), 20_000)
  await s.close()
  const r = MvccStore.open(LmdbBackend.open(p))
  assert.equal(r.consistentIndex(), 20_000)
  assert.equal(r.currentRevision, 20_001)
  assert.equal(dec(r.range(enc('key-7'), undefined).kvs[0]!.value), `${value}15007`)
  await r.close()
})
