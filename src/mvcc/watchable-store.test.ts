// The watchable store (etcd mvcc/watchable_store.go's behaviour). Goal: every watcher sees exactly
// the committed history of its range from its start revision, in order, each event once, with no
// gap, or is cancelled with the compacted revision; a slow consumer blocks nothing and holds a
// bounded queue. Method: scenario tests of each rule on both backends, the interval tree against
// a list on seeded input, and a model-based property: fast-check draws write txns, watchers
// (keys, ranges, prefixes; past, current and future starts; filters), consumers that stop and
// resume reading, catch-up rounds, compactions and snapshot restores, and each watcher's events
// are compared with the model's history of its range. Catch-up rounds run on a manual scheduler.

import assert from 'node:assert/strict'
import { describe, it, test } from 'node:test'
import fc from 'fast-check'

import { backendKinds, dec, enc } from '../../test-support/mvcc-backends.js'
import { fcParams, testRand } from '../../test-support/seed.js'
import { IntervalTree } from './interval-tree.js'
import {
  MvccStore,
  WatchError,
  WatchableStore,
  type Backend,
  type WatchResponse,
  type WatchStream,
} from './index.js'

/** A consumer that records what it gets; `full` makes it refuse more (StreamCall.send false). */
class Consumer {
  got: WatchResponse[] = []
  full = false
  readonly sink = (r: WatchResponse): boolean => {
    this.got.push(r)
    return !this.full
  }
  events(id: number): string[] {
    return this.got
      .filter((r) => r.watchId === id)
      .flatMap((r) => r.events.map((e) => `${e.type} ${dec(e.kv.key)}@${e.kv.modRevision}`))
  }
}

class Harness {
  readonly tasks: Array<() => void> = []
  readonly ws: WatchableStore
  index = 0
  constructor(
    readonly store: MvccStore,
    opts: { queueMax?: number; recordsPerSync?: number; watchersPerSync?: number } = {},
  ) {
    this.ws = new WatchableStore(store, {
      schedule: (fn) => this.tasks.push(fn),
      streamQueueMax: opts.queueMax,
      recordsPerSyncMax: opts.recordsPerSync,
      watchersPerSyncMax: opts.watchersPerSync,
    })
  }
  put(...kvs: Array<[string, string]>): number {
    const txn = this.store.write(++this.index)
    for (const [k, v] of kvs) txn.put(enc(k), enc(v), 0n)
    txn.end()
    return this.store.currentRevision
  }
  del(key: string, end?: string): number {
    const txn = this.store.write(++this.index)
    txn.deleteRange(enc(key), end === undefined ? undefined : enc(end))
    txn.end()
    return this.store.currentRevision
  }
  /** Runs catch-up rounds and delivers queued responses until nothing is left to do. */
  async settle(): Promise<void> {
    for (let i = 0; i < 10_000; i++) {
      await new Promise((r) => setImmediate(r)) // microtasks: stream flushes
      const t = this.tasks.splice(0)
      if (t.length === 0) return
      for (const f of t) f()
    }
    assert.fail('watchers never settled')
  }
}

for (const kind of backendKinds) {
  describe(`WatchableStore on ${kind.name}`, () => {
    const open = (): { h: Harness; b: Backend } => {
      const b = kind.make()
      return { h: new Harness(MvccStore.open(b)), b }
    }

    it('a synced watcher gets puts and deletes of its key, a delete as etcd tombstone kv', async () => {
      const { h } = open()
      const c = new Consumer()
      const s = h.ws.newWatchStream(c.sink)
      const id = s.watch({ key: enc('a') })
      assert.equal(id, 0)
      h.put(['a', '1'])
      h.put(['b', 'x'])
      h.del('a')
      await h.settle()
      assert.deepEqual(c.events(id), ['put a@2', 'delete a@4'])
      const del = c.got[1]!.events[0]!
      assert.deepEqual(
        { ...del.kv, key: dec(del.kv.key), value: dec(del.kv.value) },
        { key: 'a', createRevision: 0, modRevision: 4, version: 0, value: '', lease: 0n },
      )
      const put = c.got[0]!
      assert.equal(put.revision, 2)
      assert.deepEqual(
        { ...put.events[0]!.kv, key: 'a', value: dec(put.events[0]!.kv.value) },
        { key: 'a', createRevision: 2, modRevision: 2, version: 1, value: '1', lease: 0n },
      )
    })

    it('ranges, from-key and one txn of several changes in sub-revision order', async () => {
      const { h } = open()
      const c = new Consumer()
      const s = h.ws.newWatchStream(c.sink)
      const r = s.watch({ key: enc('b'), end: enc('c') })
      const all = s.watch({ key: enc('b'), end: new Uint8Array([0]) })
      h.put(['a', '1'], ['b1', '2'], ['c', '3'], ['b0', '4'])
      h.del('a', 'z')
      await h.settle()
      assert.deepEqual(c.events(r), ['put b1@2', 'put b0@2', 'delete b0@3', 'delete b1@3'])
      assert.deepEqual(c.events(all), [
        'put b1@2',
        'put c@2',
        'put b0@2',
        'delete b0@3',
        'delete b1@3',
        'delete c@3',
      ])
      // One response per watcher per revision when synced.
      assert.equal(c.got.filter((x) => x.watchId === r).length, 2)
    })

    it('a past start replays history from the backend, then goes live', async () => {
      const { h } = open()
      h.put(['a', '1'])
      h.put(['a', '2'], ['b', '1'])
      h.del('a')
      const c = new Consumer()
      const s = h.ws.newWatchStream(c.sink)
      const id = s.watch({ key: enc('a'), end: enc('c'), startRevision: 3 })
      assert.deepEqual(h.ws.counts(), { synced: 0, unsynced: 1 })
      await h.settle()
      assert.deepEqual(h.ws.counts(), { synced: 1, unsynced: 0 })
      h.put(['b', '2'])
      await h.settle()
      assert.deepEqual(c.events(id), ['put a@3', 'put b@3', 'delete a@4', 'put b@5'])
    })

    it('catch-up in rounds of whole revisions, a bounded read each', async () => {
      const b = kind.make()
      const h = new Harness(MvccStore.open(b), { recordsPerSync: 2 })
      for (let i = 0; i < 10; i++) h.put([`k${i}`, 'v'], [`k${i}x`, 'v'])
      const c = new Consumer()
      const s = h.ws.newWatchStream(c.sink)
      const id = s.watch({ key: enc('k'), end: enc('l'), startRevision: 1 })
      await h.settle()
      assert.equal(c.events(id).length, 20)
      assert.ok(c.got.length >= 10, 'one revision (two records) per round at most')
    })

    it('a compacted start gets the compact revision and is cancelled; at the compaction it replays', async () => {
      const { h } = open()
      for (let i = 0; i < 5; i++) h.put(['a', `${i}`])
      await h.store.compact(4).done
      const c = new Consumer()
      const s = h.ws.newWatchStream(c.sink)
      const old = s.watch({ key: enc('a'), startRevision: 2 })
      const at = s.watch({ key: enc('a'), startRevision: 4 })
      await h.settle()
      const cancel = c.got.find((r) => r.watchId === old)!
      assert.deepEqual(cancel, { watchId: old, events: [], revision: 0, compactRevision: 4 })
      assert.deepEqual(c.events(at), ['put a@4', 'put a@5', 'put a@6'])
      h.put(['a', 'x'])
      await h.settle()
      assert.equal(c.got.filter((r) => r.watchId === old).length, 1, 'nothing after the cancel')
      assert.equal(s.cancel(old), false, 'the compacted watcher is gone')
    })

    it('a future start waits for its revision', async () => {
      const { h } = open()
      const c = new Consumer()
      const s = h.ws.newWatchStream(c.sink)
      const id = s.watch({ key: enc('a'), startRevision: 4 })
      h.put(['a', '1'])
      h.put(['a', '2'])
      h.put(['a', '3'])
      h.put(['a', '4'])
      await h.settle()
      assert.deepEqual(c.events(id), ['put a@4', 'put a@5'])
    })

    it('filters, ids, errors, cancel, progress', async () => {
      const { h } = open()
      const c = new Consumer()
      const s = h.ws.newWatchStream(c.sink)
      assert.equal(s.watch({ key: enc('a'), id: 1, noPut: true }), 1)
      assert.throws(
        () => s.watch({ key: enc('a'), id: 1 }),
        (e: unknown) =>
          e instanceof WatchError &&
          e.message === 'mvcc: duplicate watch ID provided on the WatchStream',
      )
      assert.throws(
        () => s.watch({ key: enc('b'), end: enc('a') }),
        (e: unknown) => e instanceof WatchError && e.message === 'mvcc: watcher range is empty',
      )
      assert.equal(s.watch({ key: enc('a'), noDelete: true }), 0)
      assert.equal(s.watch({ key: enc('a') }), 2, 'auto ids skip the ones in use')
      h.put(['a', '1'])
      h.del('a')
      await h.settle()
      assert.deepEqual(c.events(1), ['delete a@3'])
      assert.deepEqual(c.events(0), ['put a@2'])
      s.requestProgress(2)
      await h.settle()
      assert.deepEqual(c.got.at(-1), { watchId: 2, events: [], revision: 3, compactRevision: 0 })
      assert.equal(s.cancel(2), true)
      assert.equal(s.cancel(2), false)
      h.put(['a', '2'])
      await h.settle()
      assert.deepEqual(c.events(2), ['put a@2', 'delete a@3'])
    })

    it('a slow consumer: writes go on, its queue stays bounded, it catches up once it drains', async () => {
      const b = kind.make()
      const h = new Harness(MvccStore.open(b), { queueMax: 4 })
      const slow = new Consumer()
      const fast = new Consumer()
      const ss = h.ws.newWatchStream(slow.sink)
      const fs = h.ws.newWatchStream(fast.sink)
      const sid = ss.watch({ key: enc('k'), end: enc('l') })
      const fid = fs.watch({ key: enc('k'), end: enc('l') })
      slow.full = true
      for (let i = 0; i < 50; i++) {
        h.put([`k${i % 7}`, `${i}`])
        await h.settle()
        assert.ok(ss.queued <= 4, `queue ${ss.queued}`)
      }
      assert.equal(fast.events(fid).length, 50)
      assert.equal(slow.got.length, 1, 'it took one response and said it was full')
      assert.deepEqual(h.ws.counts(), { synced: 1, unsynced: 1 })
      slow.full = false
      ss.resume()
      await h.settle()
      assert.deepEqual(slow.events(sid), fast.events(fid))
      assert.deepEqual(h.ws.counts(), { synced: 2, unsynced: 0 })
    })

    it('restore: watchers carry on from where they were, once each', async () => {
      const { h } = open()
      h.put(['a', '1'])
      const c = new Consumer()
      const s = h.ws.newWatchStream(c.sink)
      const id = s.watch({ key: enc('a'), end: enc('b') })
      const fut = s.watch({ key: enc('a'), startRevision: 50 })
      h.put(['a', '2'])
      await h.settle()
      // A leader's snapshot, ahead of us.
      const other = new Harness(MvccStore.open(kind.make()))
      other.put(['a', '1'])
      other.put(['a', '2'])
      other.put(['a', '3'], ['ab', '1'])
      other.del('ab')
      h.store.restore(other.store.snapshot())
      h.index = other.index
      await h.settle()
      h.put(['a', '4'])
      await h.settle()
      assert.deepEqual(c.events(id), ['put a@3', 'put a@4', 'put ab@4', 'delete ab@5', 'put a@6'])
      assert.deepEqual(c.events(fut), [])
      assert.deepEqual(h.ws.counts(), { synced: 2, unsynced: 0 })
    })
  })
}

test('10,000 watchers on distinct keys: a change reaches only its key, through a map', async () => {
  const h = new Harness(MvccStore.open(backendKinds[0]!.make()))
  const c = new Consumer()
  const s: WatchStream = h.ws.newWatchStream(c.sink)
  for (let i = 0; i < 10_000; i++) s.watch({ key: enc(`key-${i}`) })
  for (let i = 0; i < 100; i++) s.watch({ key: enc(`key-${i}`), end: enc(`key-${i}~`) })
  h.put(['key-5', 'v'])
  await h.settle()
  assert.deepEqual(
    c.got.map((r) => r.watchId),
    [5, 10_005],
  )
})

test('IntervalTree: stabbing queries equal a scan of a list, under inserts and deletes', (t) => {
  const key = fc.constantFrom('', 'a', 'ab', 'b', 'ba', 'c', 'd')
  const op = fc.record({
    add: fc.boolean(),
    start: key,
    end: fc.option(key, { nil: undefined }),
  })
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const tree = new IntervalTree<string>()
      const list = new Map<string, [string, string | undefined]>()
      for (const o of ops) {
        if (o.end !== undefined && o.end <= o.start) continue
        const name = `${o.start}|${o.end ?? '∞'}`
        if (o.add && !list.has(name)) {
          tree.insert(o.start, o.end, name)
          list.set(name, [o.start, o.end])
        } else if (!o.add) {
          assert.equal(tree.delete(o.start, o.end), list.delete(name))
        }
        assert.equal(tree.size, list.size)
        for (const p of ['', 'a', 'aa', 'ab', 'b', 'bz', 'c', 'cc', 'd', 'e']) {
          const got: string[] = []
          tree.stab(p, (v) => got.push(v))
          const want = [...list]
            .filter(([, [s, e]]) => s <= p && (e === undefined || p < e))
            .map(([n]) => n)
          assert.deepEqual(got.sort(), want.sort(), `stab ${p}`)
        }
      }
    }),
    fcParams(t, { numRuns: 200 }),
  )
})

// ---------------------------------------------------------------------------------------------
// The model: the history of changes, and what each watcher must see.

interface Change {
  rev: number
  type: 'put' | 'delete'
  key: string
  value: string
}

type Op =
  | { t: 'write'; ops: Array<{ del: boolean; key: string; end?: string; value: string }> }
  | {
      t: 'watch'
      stream: number
      key: string
      end: string | undefined
      start: 'now' | 'past' | 'future'
      back: number
      noPut: boolean
      noDelete: boolean
    }
  | { t: 'cancel'; stream: number; nth: number }
  | { t: 'slow'; stream: number; full: boolean }
  | { t: 'sync' }
  | { t: 'compact'; back: number }
  | { t: 'restore' }

const KEYS = ['a', 'ab', 'b', 'b/1', 'b/2', 'c']
const keyArb = fc.constantFrom(...KEYS)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('write' as const),
      ops: fc.array(
        fc.record({
          del: fc.boolean(),
          key: keyArb,
          end: fc.option(fc.constantFrom('b', 'b0', 'c', 'd', '\u0000'), { nil: undefined }),
          value: fc.constantFrom('x', 'y', ''),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('watch' as const),
      stream: fc.nat(2),
      key: keyArb,
      end: fc.option(fc.constantFrom('b', 'b0', 'c', 'd', '\u0000'), { nil: undefined }),
      start: fc.constantFrom('now' as const, 'past' as const, 'future' as const),
      back: fc.nat(8),
      noPut: fc.boolean(),
      noDelete: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('cancel' as const), stream: fc.nat(2), nth: fc.nat(5) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('slow' as const),
      stream: fc.nat(2),
      full: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ t: 'sync' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.nat(6) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'restore' as const }) },
)

interface ModelWatcher {
  stream: number
  id: number
  key: string
  end: string | undefined
  start: number
  noPut: boolean
  noDelete: boolean
  cancelled: boolean
}

for (const kind of backendKinds) {
  test(`model: each watcher sees its range's history from its start, in order, once, no gap (${kind.name})`, async (t) => {
    const rand = testRand(t)
    // What the runs went through, so the property is known to reach each path.
    const seen = { compactCancels: 0, fellBehind: 0, caughtUp: 0, events: 0 }
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 80 }), async (ops) => {
        const h = new Harness(MvccStore.open(kind.make()), {
          queueMax: 3,
          recordsPerSync: 3,
          watchersPerSync: 2,
        })
        const history: Change[] = []
        /** Revisions whose txn deleted something: a compaction there drops the tombstone (etcd). */
        const deletedAt = new Set<number>()
        const consumers = [new Consumer(), new Consumer(), new Consumer()]
        const streams = consumers.map((c) => h.ws.newWatchStream(c.sink))
        const watchers: ModelWatcher[] = []
        for (const op of ops) {
          switch (op.t) {
            case 'write': {
              const txn = h.store.write(++h.index)
              const rev = h.store.currentRevision + 1
              // One change per key per txn, as etcd's txn checks demand.
              const touched = new Set<string>()
              for (const o of op.ops) {
                if (o.del) {
                  const end = o.end === undefined ? undefined : enc(o.end)
                  const live = txn.range(enc(o.key), end).kvs.map((kv) => dec(kv.key))
                  if (live.some((k) => touched.has(k))) continue
                  for (const k of live) touched.add(k)
                  txn.deleteRange(enc(o.key), end)
                  for (const k of live) history.push({ rev, type: 'delete', key: k, value: '' })
                  if (live.length > 0) deletedAt.add(rev)
                } else {
                  if (touched.has(o.key)) continue
                  touched.add(o.key)
                  txn.put(enc(o.key), enc(o.value), 0n)
                  history.push({ rev, type: 'put', key: o.key, value: o.value })
                }
              }
              txn.end()
              break
            }
            case 'watch': {
              const cur = h.store.currentRevision
              const start =
                op.start === 'now'
                  ? 0
                  : op.start === 'past'
                    ? Math.max(1, cur - op.back)
                    : cur + 1 + (op.back % 3)
              const end = op.end === undefined ? undefined : enc(op.end)
              if (op.end !== undefined && op.end !== '\u0000' && op.end <= op.key) break
              const id = streams[op.stream]!.watch({
                key: enc(op.key),
                end,
                startRevision: start,
                noPut: op.noPut,
                noDelete: op.noDelete,
              })
              watchers.push({
                stream: op.stream,
                id,
                key: op.key,
                end: op.end,
                start: start === 0 ? cur + 1 : start,
                noPut: op.noPut,
                noDelete: op.noDelete,
                cancelled: false,
              })
              break
            }
            case 'cancel': {
              const mine = watchers.filter((w) => w.stream === op.stream && !w.cancelled)
              const w = mine[op.nth % Math.max(1, mine.length)]
              if (w === undefined) break
              w.cancelled = streams[op.stream]!.cancel(w.id)
              break
            }
            case 'slow':
              consumers[op.stream]!.full = op.full
              if (!op.full) streams[op.stream]!.resume()
              break
            case 'sync':
              await h.settle()
              break
            case 'compact': {
              const rev = h.store.currentRevision - op.back
              if (rev <= h.store.compactMainRevision || rev < 1 || deletedAt.has(rev)) break
              await h.store.compact(rev).done
              break
            }
            case 'restore':
              // The same content again (a snapshot of ourselves): every synced watcher re-syncs.
              h.store.restore(h.store.snapshot())
              break
          }
          for (const s of streams) assert.ok(s.queued <= 3, `a queue of ${s.queued}`)
          if (h.ws.counts().unsynced > 0) seen.fellBehind++
          if (rand.next() < 0.3) await new Promise((r) => setImmediate(r))
        }
        for (const [i, c] of consumers.entries()) {
          c.full = false
          streams[i]!.resume()
        }
        await h.settle()
        // Every consumer reads again: no watcher is left behind, and the counts add up.
        let compactCancelled = 0
        for (const w of watchers) {
          const rs = consumers[w.stream]!.got.filter((r) => r.watchId === w.id)
          if (!w.cancelled && rs.some((r) => r.compactRevision !== 0)) compactCancelled++
        }
        const live = watchers.filter((w) => !w.cancelled).length - compactCancelled
        assert.deepEqual(h.ws.counts(), { synced: live, unsynced: 0 })
        for (const w of watchers) {
          if (w.cancelled) continue
          const inRange = (k: string): boolean =>
            w.end === undefined ? k === w.key : k >= w.key && (w.end === '\u0000' || k < w.end)
          const want = history
            .filter((c) => c.rev >= w.start && inRange(c.key))
            .filter((c) => (c.type === 'put' ? !w.noPut : !w.noDelete))
            .map((c) => `${c.type} ${c.key}@${c.rev}`)
          const got = consumers[w.stream]!.events(w.id)
          const rs = consumers[w.stream]!.got.filter((r) => r.watchId === w.id)
          const cancel = rs.find((r) => r.compactRevision !== 0)
          seen.events += got.length
          if (rs.length > 1 && w.start < rs[0]!.revision) seen.caughtUp++
          if (cancel === undefined) {
            assert.deepEqual(got, want, `watcher ${w.stream}/${w.id} from ${w.start}`)
            continue
          }
          assert.equal(rs.at(-1), cancel, 'the compaction cancel is the last response')
          assert.deepEqual(got, want.slice(0, got.length), 'a prefix of the history')
          const lastRev = rs.flatMap((r) => r.events).at(-1)?.kv.modRevision ?? 0
          assert.ok(lastRev < cancel.compactRevision)
          assert.ok(w.start < cancel.compactRevision)
          seen.compactCancels++
        }
        await h.store.close()
      }),
      fcParams(t, { numRuns: kind.name === 'memory' ? 300 : 60 }),
    )
    for (const [what, n] of Object.entries(seen)) assert.ok(n > 0, `no run saw ${what}`)
    t.diagnostic(JSON.stringify(seen))
  })
}
