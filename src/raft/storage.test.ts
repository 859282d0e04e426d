// MemoryStorage: the scenarios of etcd-io/raft storage_test.go as table tests, then a property test
// that drives random appends and compactions against a plain array of terms and checks that
// term/firstIndex/lastIndex/entries always agree with it.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import fc from 'fast-check'
import { fcParams } from '../../test-support/seed.js'

import type { RaftErrorCode } from './errors.js'
import { emptyConfState, entry, type Entry, type Snapshot } from './raftpb/types.js'
import { MemoryStorage } from './storage.js'
import { errorCode } from './rafttest/network.js'

/** Entries at consecutive indexes from `first`, with the given terms. */
function terms(first: number, ...ts: number[]): Entry[] {
  return ts.map((term, i) => entry({ term, index: first + i }))
}

/** A storage whose array is exactly `ents` (ents[0] being the placeholder), like Go's literal. */
function storageWith(ents: Entry[]): MemoryStorage {
  const s = new MemoryStorage()
  s.ents = ents.slice()
  return s
}

function snapshot(index: number, term: number, voters: bigint[] = []): Snapshot {
  const confState = { ...emptyConfState(), voters }
  return { data: new TextEncoder().encode('data'), metadata: { confState, index, term } }
}

describe('MemoryStorage', () => {
  const ents = terms(3, 3, 4, 5)

  // term(i) and entries(lo, hi, maxSize) over a compacted log, and createSnapshot's result, are in
  // the shared storageSuite (src/wal/storage-suite.ts), which runs against MemoryStorage and
  // WalStorage alike; the tests here look at MemoryStorage's own array.

  it('entries panics when hi is past the last index', () => {
    assert.throws(() => storageWith(ents).entries(4, 7, Infinity), {
      message: "entries' hi(7) is out of bound lastindex(5)",
    })
  })

  it('entries on a storage holding only the placeholder is unavailable', () => {
    assert.equal(
      errorCode(() => new MemoryStorage().entries(1, 1, Infinity)),
      'UNAVAILABLE',
    )
  })

  it('lastIndex', () => {
    const s = storageWith(ents)
    assert.equal(s.lastIndex(), 5)
    s.append(terms(6, 5))
    assert.equal(s.lastIndex(), 6)
  })

  it('firstIndex', () => {
    const s = storageWith(ents)
    assert.equal(s.firstIndex(), 4)
    s.compact(4)
    assert.equal(s.firstIndex(), 5)
  })

  it('compact', () => {
    const table: [number, RaftErrorCode | null, number, number, number][] = [
      [2, 'COMPACTED', 3, 3, 3],
      [3, 'COMPACTED', 3, 3, 3],
      [4, null, 4, 4, 2],
      [5, null, 5, 5, 1],
    ]
    for (const [i, werr, windex, wterm, wlen] of table) {
      const s = storageWith(ents)
      assert.equal(
        errorCode(() => s.compact(i)),
        werr,
      )
      assert.equal(s.ents[0]?.index, windex)
      assert.equal(s.ents[0]?.term, wterm)
      assert.equal(s.ents.length, wlen)
    }
  })

  it('compact panics past the last index', () => {
    assert.throws(() => storageWith(ents).compact(6), {
      message: 'compact 6 is out of bound lastindex(5)',
    })
  })

  it('compact leaves arrays handed out earlier untouched', () => {
    const s = storageWith(ents)
    const before = s.entries(4, 6, Infinity)
    s.compact(4)
    assert.deepEqual(before, terms(4, 4, 5))
  })

  it('createSnapshot refuses an index at or before the current snapshot', () => {
    const s = storageWith(ents)
    s.createSnapshot(4, null, new Uint8Array())
    assert.equal(
      errorCode(() => s.createSnapshot(4, null, new Uint8Array())),
      'SNAP_OUT_OF_DATE',
    )
  })

  it('createSnapshot with a null ConfState keeps the previous one', () => {
    const s = new MemoryStorage()
    s.applySnapshot(snapshot(3, 3, [7n]))
    s.append(terms(4, 4, 4))
    assert.deepEqual(s.createSnapshot(5, null, new Uint8Array()).metadata.confState.voters, [7n])
  })

  it('createSnapshot panics past the last index', () => {
    assert.throws(() => storageWith(ents).createSnapshot(6, null, new Uint8Array()), {
      message: 'snapshot 6 is out of bound lastindex(5)',
    })
  })

  it('append', () => {
    const table: [Entry[], Entry[]][] = [
      [terms(1, 1, 2), terms(3, 3, 4, 5)],
      [terms(3, 3, 4, 5), terms(3, 3, 4, 5)],
      [terms(3, 3, 6, 6), terms(3, 3, 6, 6)],
      [terms(3, 3, 4, 5, 5), terms(3, 3, 4, 5, 5)],
      // Truncate the incoming entries, truncate the existing entries and append.
      [terms(2, 3, 3, 5), terms(3, 3, 5)],
      // Truncate the existing entries and append.
      [terms(4, 5), terms(3, 3, 5)],
      // Direct append.
      [terms(6, 5), terms(3, 3, 4, 5, 5)],
    ]
    for (const [input, want] of table) {
      const s = storageWith(ents)
      s.append(input)
      assert.deepEqual(s.ents, want)
    }
  })

  it('append panics on a gap', () => {
    assert.throws(() => storageWith(ents).append(terms(7, 5)), {
      message: 'missing log entry [last: 5, append at: 7]',
    })
  })

  it('applySnapshot', () => {
    const cases: { name: string; snaps: Snapshot[]; werr: RaftErrorCode | null }[] = [
      { name: 'normal case', snaps: [snapshot(4, 4)], werr: null },
      {
        name: 'snapshot out of date',
        snaps: [snapshot(4, 4), snapshot(3, 3)],
        werr: 'SNAP_OUT_OF_DATE',
      },
      { name: 'bootstrap with confState', snaps: [snapshot(0, 0, [1n, 2n, 3n])], werr: null },
    ]
    for (const { name, snaps, werr } of cases) {
      const s = new MemoryStorage()
      let err: RaftErrorCode | null = null
      for (const snap of snaps) err = errorCode(() => s.applySnapshot(snap))
      assert.equal(err, werr, name)
    }
  })

  it('applySnapshot resets the log to the snapshot', () => {
    const s = storageWith(ents)
    s.applySnapshot(snapshot(10, 7))
    assert.deepEqual(s.ents, [entry({ index: 10, term: 7 })])
    assert.equal(s.firstIndex(), 11)
    assert.equal(s.term(10), 7)
  })

  it('initialState returns copies', () => {
    const s = new MemoryStorage()
    s.setHardState({ term: 2, vote: 1n, commit: 3 })
    s.applySnapshot(snapshot(0, 0, [1n]))
    const first = s.initialState()
    first.hardState.term = 99
    first.confState.voters.push(5n)
    assert.deepEqual(s.initialState(), {
      hardState: { term: 2, vote: 1n, commit: 3 },
      confState: { ...emptyConfState(), voters: [1n] },
    })
  })

  it('counts calls', () => {
    const s = storageWith(ents)
    s.firstIndex()
    s.lastIndex()
    s.lastIndex()
    s.term(4)
    s.entries(4, 5, Infinity)
    s.snapshot()
    s.initialState()
    assert.deepEqual(s.callStats, {
      initialState: 1,
      firstIndex: 1,
      lastIndex: 2,
      entries: 1,
      term: 1,
      snapshot: 1,
    })
  })
})

// The model: index offset + k has term modelTerms[k]; modelTerms[0] is the compacted placeholder.
interface Model {
  offset: number
  terms: number[]
}

type Op =
  | { kind: 'append'; at: number; terms: number[] }
  | { kind: 'compact'; at: number }
  | { kind: 'snapshot'; skip: number; term: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      // Where to start, as a fraction of [firstIndex - 3, lastIndex + 1].
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      terms: fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 6 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('compact' as const),
      // As a fraction of [offset - 1, lastIndex + 1], so refusals and panics happen too.
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('snapshot' as const),
      skip: fc.integer({ min: -2, max: 5 }),
      term: fc.integer({ min: 1, max: 9 }),
    }),
  },
)

function pick(fraction: number, lo: number, hi: number): number {
  return Math.max(0, lo + Math.floor(fraction * (hi - lo + 1) - 1e-9))
}

function applyOp(s: MemoryStorage, m: Model, op: Op): void {
  const last = m.offset + m.terms.length - 1
  if (op.kind === 'append') {
    const at = Math.max(1, pick(op.at, m.offset - 2, last + 1))
    s.append(op.terms.map((term, i) => entry({ term, index: at + i })))
    const kept = op.terms.filter((_, i) => at + i > m.offset)
    const from = Math.max(at, m.offset + 1)
    if (kept.length > 0) m.terms = m.terms.slice(0, from - m.offset).concat(kept)
  } else if (op.kind === 'compact') {
    const at = pick(op.at, m.offset - 1, last + 1)
    if (at <= m.offset) {
      assert.equal(
        errorCode(() => s.compact(at)),
        'COMPACTED',
      )
    } else if (at > last) {
      assert.throws(() => s.compact(at), /out of bound/)
    } else {
      s.compact(at)
      m.terms = m.terms.slice(at - m.offset)
      m.offset = at
    }
  } else {
    const index = Math.max(0, last + op.skip)
    if (index <= m.offset && m.offset !== 0) {
      assert.equal(
        errorCode(() => s.applySnapshot(snapshot(index, op.term))),
        'SNAP_OUT_OF_DATE',
      )
    } else {
      s.applySnapshot(snapshot(index, op.term))
      m.offset = index
      m.terms = [op.term]
    }
  }
}

function checkAgainstModel(s: MemoryStorage, m: Model): void {
  const last = m.offset + m.terms.length - 1
  assert.equal(s.firstIndex(), m.offset + 1)
  assert.equal(s.lastIndex(), last)
  for (let i = Math.max(0, m.offset - 2); i <= last + 2; i++) {
    if (i < m.offset)
      assert.equal(
        errorCode(() => s.term(i)),
        'COMPACTED',
      )
    else if (i > last)
      assert.equal(
        errorCode(() => s.term(i)),
        'UNAVAILABLE',
      )
    else assert.equal(s.term(i), m.terms[i - m.offset])
  }
  if (last === m.offset) {
    assert.equal(
      errorCode(() => s.entries(m.offset + 1, last + 1, Infinity)),
      'UNAVAILABLE',
    )
    return
  }
  const got = s.entries(m.offset + 1, last + 1, Infinity)
  assert.deepEqual(
    got.map((e) => [e.index, e.term]),
    m.terms.slice(1).map((t, k) => [m.offset + 1 + k, t]),
  )
}

describe('MemoryStorage against an array model', () => {
  it('append, compact and applySnapshot keep term/index/entries consistent', (t) => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const s = new MemoryStorage()
        const m: Model = { offset: 0, terms: [0] }
        for (const op of ops) {
          applyOp(s, m, op)
          checkAgainstModel(s, m)
        }
      }),
      fcParams(t, { numRuns: 200 }),
    )
  })
})
