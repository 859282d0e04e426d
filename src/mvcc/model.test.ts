// MvccStore against a model, on both backends (etcd-io/raft quorum/quick_test.go's method: the
// optimised code against a dumb version on seeded input). The model keeps every record ever
// written in a list and answers a read by scanning it; fast-check draws sequences of write txns
// (puts, deletes and reads inside), ranges (historic, limited, count-only, keys-only), markApplied,
// compactions, reopens and snapshot round trips into the other backend, and every answer must be
// equal: kvs, counts, revisions, errors. After the run, once compactions finished, the records
// left in the backend must be exactly those etcd's compaction keeps.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'

import { backendKinds, dec, enc, type BackendKind } from '../../test-support/mvcc-backends.js'
import { fcParams } from '../../test-support/seed.js'
import { MvccError, MvccStore, type Backend, type RangeOptions, type RangeResult } from './index.js'

interface Rec {
  key: string
  main: number
  sub: number
  tomb: boolean
  value: string
  create: number
  ver: number
  lease: bigint
}

const ALL = '\u0000ALL' // the from-key end, [0x00]

class Model {
  recs: Rec[] = []
  current = 1
  compacted = -1
  index = 0

  latest(key: string, rev: number): Rec | undefined {
    for (let i = this.recs.length - 1; i >= 0; i--) {
      const r = this.recs[i]!
      if (r.key === key && r.main <= rev) return r
    }
    return undefined
  }

  live(key: string, rev: number): Rec | undefined {
    const r = this.latest(key, rev)
    return r === undefined || r.tomb ? undefined : r
  }

  keysIn(key: string, end: string | undefined, rev: number): string[] {
    if (end === undefined) return this.live(key, rev) ? [key] : []
    const keys = [...new Set(this.recs.map((r) => r.key))].sort()
    return keys.filter((k) => k >= key && (end === ALL || k < end) && this.live(k, rev))
  }

  range(key: string, end: string | undefined, o: RangeOptions, curRev: number): string {
    let rev = o.rev ?? 0
    if (rev > curRev) return 'FUTURE_REV'
    if (rev <= 0) rev = curRev
    if (rev < this.compacted) return 'COMPACTED'
    const keys = this.keysIn(key, end, rev)
    const limit = o.limit !== undefined && o.limit > 0 ? o.limit : Infinity
    const kvs = o.countOnly
      ? []
      : keys.slice(0, limit).map((k) => {
          const r = this.live(k, rev)!
          return `${k}=${o.keysOnly ? '' : r.value} c${r.create} m${r.main} v${r.ver} l${r.lease}`
        })
    return JSON.stringify({ kvs, count: keys.length, rev: curRev })
  }

  /** What etcd's compactions leave in the backend. */
  kept(): string[] {
    const c = this.compacted
    return this.recs
      .filter((r) => r.main > c || (this.latest(r.key, c) === r && !r.tomb))
      .map((r) => `${r.main}.${r.sub}${r.tomb ? 't' : ''}`)
  }
}

function show(r: RangeResult): string {
  return JSON.stringify({
    kvs: r.kvs.map(
      (kv) =>
        `${dec(kv.key)}=${dec(kv.value)} c${kv.createRevision} m${kv.modRevision} v${kv.version} l${kv.lease}`,
    ),
    count: r.count,
    rev: r.rev,
  })
}

function attempt(f: () => RangeResult): string {
  try {
    return show(f())
  } catch (err) {
    if (err instanceof MvccError) return err.code
    throw err
  }
}

function endBytes(end: string | undefined): Uint8Array | undefined {
  if (end === undefined) return undefined
  return end === ALL ? new Uint8Array([0]) : enc(end)
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

const keyArb = fc.constantFrom('a', 'ab', 'b', 'b\u0000', 'c', '\u00ff', '\u0000x')
const endArb = fc.option(fc.constantFrom(ALL, 'a', 'b', 'b\u0000', 'c', 'd', '\u00ff'), {
  nil: undefined,
})
const rangeOptsArb = fc.record({
  revDelta: fc.integer({ min: -8, max: 1 }),
  limit: fc.constantFrom(0, 0, 1, 2),
  countOnly: fc.boolean(),
  keysOnly: fc.boolean(),
})
const txnOpArb = fc.oneof(
  fc.record({
    t: fc.constant('put' as const),
    key: keyArb,
    value: fc.string({ maxLength: 3 }),
    lease: fc.constantFrom(0n, 7n, 2n ** 62n),
  }),
  fc.record({ t: fc.constant('del' as const), key: keyArb, end: endArb }),
  fc.record({ t: fc.constant('range' as const), key: keyArb, end: endArb, o: rangeOptsArb }),
)
const opArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('txn' as const),
      ops: fc.array(txnOpArb, { maxLength: 4 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('range' as const),
      key: keyArb,
      end: endArb,
      o: rangeOptsArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('compact' as const),
      revDelta: fc.integer({ min: -6, max: 1 }),
      wait: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('mark' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('snapshot' as const) }) },
  // Let the event loop turn (LMDB commits a batch meanwhile) or wait for durability.
  { weight: 3, arbitrary: fc.record({ t: fc.constant('yield' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('flush' as const) }) },
)
type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never

function opts(
  o: { revDelta: number; limit: number; countOnly: boolean; keysOnly: boolean },
  cur: number,
): RangeOptions {
  return {
    rev: o.revDelta === 1 ? cur + 1 : Math.max(0, cur + o.revDelta),
    limit: o.limit,
    countOnly: o.countOnly,
    keysOnly: o.keysOnly,
  }
}

async function runOps(kind: BackendKind, other: BackendKind, ops: Op[]): Promise<void> {
  const m = new Model()
  let backend = kind.make()
  let s = MvccStore.open(backend, { compactionBatchLimit: 2 })
  try {
    for (const op of ops) {
      switch (op.t) {
        case 'txn': {
          const t = s.write(++m.index)
          const main = m.current + 1
          let sub = 0
          for (const x of op.ops) {
            if (x.t === 'put') {
              const prev = m.live(x.key, main)
              m.recs.push({
                key: x.key,
                main,
                sub: sub++,
                tomb: false,
                value: x.value,
                create: prev ? prev.create : main,
                ver: prev ? prev.ver + 1 : 1,
                lease: x.lease,
              })
              t.put(enc(x.key), enc(x.value), x.lease)
            } else if (x.t === 'del') {
              const keys = m.keysIn(x.key, x.end, sub > 0 ? main : m.current)
              for (const k of keys)
                m.recs.push({
                  key: k,
                  main,
                  sub: sub++,
                  tomb: true,
                  value: '',
                  create: 0,
                  ver: 0,
                  lease: 0n,
                })
              assert.equal(t.deleteRange(enc(x.key), endBytes(x.end)), keys.length)
            } else {
              const cur = sub > 0 ? main : m.current
              const o = opts(x.o, cur)
              assert.equal(
                attempt(() => t.range(enc(x.key), endBytes(x.end), o)),
                m.range(x.key, x.end, o, cur),
                `txn range ${JSON.stringify(x)}`,
              )
            }
          }
          t.end()
          if (sub > 0) m.current++
          break
        }
        case 'range': {
          const o = opts(op.o, m.current)
          assert.equal(
            attempt(() => s.range(enc(op.key), endBytes(op.end), o)),
            m.range(op.key, op.end, o, m.current),
            `range ${JSON.stringify(op)}`,
          )
          break
        }
        case 'compact': {
          const rev = op.revDelta === 1 ? m.current + 1 : Math.max(0, m.current + op.revDelta)
          const want = rev <= m.compacted ? 'COMPACTED' : rev > m.current ? 'FUTURE_REV' : 'ok'
          let got = 'ok'
          try {
            const c = s.compact(rev)
            if (op.wait) await c.done
          } catch (err) {
            if (!(err instanceof MvccError)) throw err
            got = err.code
          }
          assert.equal(got, want, `compact ${rev}`)
          if (want === 'ok') m.compacted = rev
          break
        }
        case 'mark':
          s.markApplied(++m.index)
          break
        case 'reopen': {
          await s.flushed()
          backend = await kind.reopen(s, backend)
          s = MvccStore.open(backend, { compactionBatchLimit: 2 })
          break
        }
        case 'yield':
          await new Promise((resolve) => setImmediate(resolve))
          break
        case 'flush':
          await s.flushed()
          assert.equal(s.durableIndex(), m.index)
          break
        case 'snapshot': {
          const r = MvccStore.open(other.make())
          r.restore(s.snapshot())
          assert.equal(r.hash(), s.hash())
          assert.equal(r.currentRevision, s.currentRevision)
          assert.equal(r.compactedRevision, s.compactedRevision)
          assert.equal(r.consistentIndex(), s.consistentIndex())
          await r.close()
          break
        }
      }
      assert.equal(s.currentRevision, m.current)
      assert.equal(s.consistentIndex(), m.index)
      assert.equal(s.compactedRevision, Math.max(0, m.compacted))
    }
    // Every revision still readable, then the physical content.
    for (let rev = Math.max(1, m.compacted); rev <= m.current; rev++) {
      const o = { rev }
      assert.equal(
        attempt(() => s.range(enc('\u0000'), new Uint8Array([0]), o)),
        m.range('\u0000', ALL, o, m.current),
        `final range at ${rev}`,
      )
    }
    await s.compactionsDone()
    assert.deepEqual(records(backend), m.kept())
  } finally {
    await s.close()
  }
}

for (const kind of backendKinds) {
  const other = backendKinds.find((k) => k.name !== kind.name)!
  describe(`MvccStore model on ${kind.name}`, () => {
    it('agrees with the model on random sequences', async (t) => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60, size: 'max' }), (ops) =>
          runOps(kind, other, ops),
        ),
        fcParams(`${t.name} on ${kind.name}`, { numRuns: kind.name === 'memory' ? 300 : 80 }),
      )
    })
  })
}
