/**
 * One behavioural suite for every raft Storage with a write side (STYLE.md §6, hono's
 * common.case.test.ts): the scenarios of etcd-io/raft storage_test.go, then a seeded random
 * workload checked against a plain model. `storageSuite(name, factory)` registers it; the factory
 * gives a fresh, empty storage. Writes are awaited, so synchronous and durable stores run alike.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  RaftError,
  emptyConfState,
  entry,
  entrySize,
  type ConfState,
  type Entry,
  type HardState,
  type RaftErrorCode,
  type Snapshot,
  type Storage,
} from '../src/raft/index.js'

export interface StorageUnderTest {
  storage: Storage
  append(entries: Entry[]): Promise<void>
  setHardState(hs: HardState): Promise<void>
  compact(i: number): Promise<void>
  applySnapshot(snap: Snapshot): Promise<void>
  createSnapshot(i: number, cs: ConfState | null, data: Uint8Array): Promise<Snapshot>
  close(): Promise<void>
}

/** Entries at consecutive indexes from `first`, with the given terms. */
export function terms(first: number, ...ts: number[]): Entry[] {
  return ts.map((term, i) => entry({ term, index: first + i }))
}

async function errorCode(fn: () => unknown): Promise<RaftErrorCode | null> {
  try {
    await fn()
    return null
  } catch (err) {
    if (err instanceof RaftError) return err.code
    throw err
  }
}

function snapshotAt(index: number, term: number, voters: bigint[] = [1n]): Snapshot {
  const confState = { ...emptyConfState(), voters }
  return { data: new TextEncoder().encode('data'), metadata: { confState, index, term } }
}

/** The (index, term) pairs of the storage's whole log, placeholder first. */
function logOf(s: Storage): [number, number][] {
  const out: [number, number][] = []
  for (let i = s.firstIndex() - 1; i <= s.lastIndex(); i++) out.push([i, s.term(i)])
  return out
}

export function storageSuite(name: string, factory: () => Promise<StorageUnderTest>): void {
  /** A storage holding the placeholder (3, 3) and entries (4, 4), (5, 5), like the Go tests. */
  async function with345(): Promise<StorageUnderTest> {
    const t = await factory()
    await t.applySnapshot(snapshotAt(3, 3))
    await t.append(terms(4, 4, 5))
    return t
  }

  describe(`Storage suite: ${name}`, () => {
    it('term', async () => {
      const table: [number, RaftErrorCode | null, number][] = [
        [2, 'COMPACTED', 0],
        [3, null, 3],
        [4, null, 4],
        [5, null, 5],
        [6, 'UNAVAILABLE', 0],
      ]
      const t = await with345()
      for (const [i, werr, wterm] of table) {
        let got = 0
        assert.equal(await errorCode(() => (got = t.storage.term(i))), werr, `term(${i})`)
        assert.equal(got, wterm)
      }
      await t.close()
    })

    it('entries', async () => {
      const t = await with345()
      await t.append(terms(6, 6))
      const four = terms(3, 3, 4, 5, 6)
      const size = (i: number) => entrySize(four[i] as Entry)
      const table: [number, number, number, RaftErrorCode | null, Entry[]][] = [
        [2, 6, Infinity, 'COMPACTED', []],
        [3, 4, Infinity, 'COMPACTED', []],
        [4, 5, Infinity, null, terms(4, 4)],
        [4, 6, Infinity, null, terms(4, 4, 5)],
        [4, 7, Infinity, null, terms(4, 4, 5, 6)],
        [4, 7, 0, null, terms(4, 4)],
        [4, 7, size(1) + size(2), null, terms(4, 4, 5)],
        [4, 7, size(1) + size(2) + size(3) / 2, null, terms(4, 4, 5)],
        [4, 7, size(1) + size(2) + size(3) - 1, null, terms(4, 4, 5)],
        [4, 7, size(1) + size(2) + size(3), null, terms(4, 4, 5, 6)],
      ]
      for (const [lo, hi, maxSize, werr, want] of table) {
        let got: Entry[] = []
        assert.equal(await errorCode(() => (got = t.storage.entries(lo, hi, maxSize))), werr)
        assert.deepEqual(got, want, `entries(${lo}, ${hi}, ${maxSize})`)
      }
      assert.throws(() => t.storage.entries(4, 8, Infinity), {
        message: "entries' hi(8) is out of bound lastindex(6)",
      })
      await t.close()
    })

    it('an empty storage: index 0, entries unavailable, empty initial state', async () => {
      const t = await factory()
      assert.equal(t.storage.firstIndex(), 1)
      assert.equal(t.storage.lastIndex(), 0)
      assert.equal(t.storage.term(0), 0)
      assert.equal(await errorCode(() => t.storage.entries(1, 1, Infinity)), 'UNAVAILABLE')
      assert.deepEqual(t.storage.initialState().hardState, { term: 0, vote: 0n, commit: 0 })
      await t.close()
    })

    it('compact', async () => {
      const table: [number, RaftErrorCode | null, number, number][] = [
        [2, 'COMPACTED', 3, 3],
        [3, 'COMPACTED', 3, 3],
        [4, null, 4, 4],
        [5, null, 5, 5],
      ]
      for (const [i, werr, windex, wterm] of table) {
        const t = await with345()
        assert.equal(await errorCode(() => t.compact(i)), werr, `compact(${i})`)
        assert.equal(t.storage.firstIndex(), windex + 1)
        assert.equal(t.storage.term(windex), wterm)
        assert.equal(t.storage.lastIndex(), 5)
        await t.close()
      }
      const t = await with345()
      await assert.rejects(async () => t.compact(6), {
        message: 'compact 6 is out of bound lastindex(5)',
      })
      await t.close()
    })

    it('createSnapshot', async () => {
      const cs = { ...emptyConfState(), voters: [1n, 2n, 3n] }
      const data = new TextEncoder().encode('data')
      for (const i of [4, 5]) {
        const t = await with345()
        const snap = await t.createSnapshot(i, cs, data)
        assert.deepEqual(snap, { data, metadata: { confState: cs, index: i, term: i } })
        assert.deepEqual(t.storage.snapshot(), snap)
        assert.deepEqual(t.storage.initialState().confState, cs)
        assert.equal(await errorCode(() => t.createSnapshot(i, cs, data)), 'SNAP_OUT_OF_DATE')
        await t.close()
      }
    })

    it('append', async () => {
      const table: [Entry[], [number, number][]][] = [
        [
          terms(1, 1, 2),
          [
            [3, 3],
            [4, 4],
            [5, 5],
          ],
        ],
        [
          terms(3, 3, 4, 5),
          [
            [3, 3],
            [4, 4],
            [5, 5],
          ],
        ],
        [
          terms(3, 3, 6, 6),
          [
            [3, 3],
            [4, 6],
            [5, 6],
          ],
        ],
        [
          terms(3, 3, 4, 5, 5),
          [
            [3, 3],
            [4, 4],
            [5, 5],
            [6, 5],
          ],
        ],
        // Overlapping the placeholder: the compacted part is skipped.
        [
          terms(2, 3, 3, 5),
          [
            [3, 3],
            [4, 5],
          ],
        ],
        [
          terms(4, 5),
          [
            [3, 3],
            [4, 5],
          ],
        ],
        [
          terms(6, 5),
          [
            [3, 3],
            [4, 4],
            [5, 5],
            [6, 5],
          ],
        ],
      ]
      for (const [ents, want] of table) {
        const t = await with345()
        await t.append(ents)
        assert.deepEqual(
          logOf(t.storage),
          want,
          `append ${JSON.stringify(ents.map((e) => e.index))}`,
        )
        await t.close()
      }
      const t = await with345()
      await assert.rejects(async () => t.append(terms(7, 5)), {
        message: 'missing log entry [last: 5, append at: 7]',
      })
      await t.close()
    })

    it('applySnapshot replaces the log and refuses an older snapshot', async () => {
      const t = await with345()
      await t.applySnapshot(snapshotAt(10, 7, [1n, 2n]))
      assert.deepEqual(logOf(t.storage), [[10, 7]])
      assert.deepEqual(t.storage.initialState().confState.voters, [1n, 2n])
      assert.equal(await errorCode(() => t.applySnapshot(snapshotAt(9, 7))), 'SNAP_OUT_OF_DATE')
      await t.close()
    })

    it('hard state', async () => {
      const t = await factory()
      await t.setHardState({ term: 3, vote: 2n, commit: 0 })
      assert.deepEqual(t.storage.initialState().hardState, { term: 3, vote: 2n, commit: 0 })
      await t.close()
    })

    it('random appends, overwrites and compactions agree with a plain model', async () => {
      const rand = mulberry32(7)
      const t = await factory()
      // model[i] is the term of index i; first is the first index present.
      let model: number[] = [0]
      let first = 1
      let term = 1
      for (let step = 0; step < 300; step++) {
        const last = model.length - 1
        const op = rand(10)
        if (op < 7) {
          // Append 1..8 entries from a random point in [first, last+1] (overwriting the rest).
          const from = first + rand(last + 2 - first)
          if (rand(4) === 0) term++
          const n = 1 + rand(8)
          const ents = Array.from({ length: n }, (_, k) =>
            entry({ index: from + k, term, data: new Uint8Array(rand(64)).fill(from + k) }),
          )
          await t.append(ents)
          model = model.slice(0, from).concat(ents.map((e) => e.term))
        } else if (op < 9 && last > first) {
          const i = first + rand(last - first)
          await t.compact(i)
          first = i + 1
        } else if (last >= first) {
          const snapIndex = t.storage.snapshot().metadata.index
          if (last > snapIndex) {
            const i =
              Math.max(snapIndex + 1, first) + rand(last - Math.max(snapIndex + 1, first) + 1)
            await t.createSnapshot(i, null, new Uint8Array([step & 0xff]))
          }
        }
        const s = t.storage
        assert.equal(s.firstIndex(), first, `step ${step}: firstIndex`)
        assert.equal(s.lastIndex(), model.length - 1, `step ${step}: lastIndex`)
        const lo = first + rand(model.length - first)
        const hi = Math.min(model.length, lo + 1 + rand(20))
        if (lo < hi) {
          const got = s.entries(lo, hi, Infinity)
          assert.deepEqual(
            got.map((e) => [e.index, e.term]),
            model.slice(lo, hi).map((tm, k) => [lo + k, tm]),
            `step ${step}: entries(${lo}, ${hi})`,
          )
          for (const e of got)
            assert.equal(e.data.length === 0 || e.data[0] === (e.index & 0xff), true)
        }
      }
      await t.close()
    })
  })
}

/** A seeded PRNG returning integers in [0, n) (mulberry32). */
export function mulberry32(seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n) | 0
  }
}
