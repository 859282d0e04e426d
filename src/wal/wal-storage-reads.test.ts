// Reading evicted entries back through WalStorage's sparse index (entry-index.ts): a read seeks to
// a checkpoint and scans the WAL forward, so the cases that matter are those where the WAL holds
// records that are not the live log: suffixes overwritten after a leader change (written before or
// after the overwrite was queued, in the same segment or an earlier one), compaction that moves the
// first checkpoint, reopening (the index rebuilt from the files), and long ranges read in one scan.
// Method: every write goes to WalStorage (tiny cache, tiny segments, so reads go to disk and cross
// segment ends) and to MemoryStorage, the reference; reads of both must agree, data included.
// Then a fast-check property runs random sequences of the same operations.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'

import { MemoryStorage } from '../raft/index.js'
import { emptyConfState, entry, type Entry, type Snapshot } from '../raft/index.js'
import { SimDisk } from '../io/index.js'
import type { DiskFile } from '../io/index.js'
import { CHECKPOINT_ENTRIES } from './entry-index.js'
import { WalStorage, type WalStorageOptions } from './wal-storage.js'
import { fcParams } from '../../test-support/seed.js'

const base = { dir: '/m', nodeId: 1n, clusterId: 7n, segmentBytes: 1024, cacheEntriesMax: 4 }

/** Entries first .. first + n - 1 in `term`; `tag` makes two versions of an index differ. */
function ents(first: number, n: number, term: number, tag = term, size = 24): Entry[] {
  return Array.from({ length: n }, (_, k) =>
    entry({ index: first + k, term, data: new Uint8Array(size).fill((first + k + tag) & 0xff) }),
  )
}

/** WalStorage and MemoryStorage given the same writes. */
class Pair {
  readonly mem = new MemoryStorage()
  private constructor(
    public wal: WalStorage,
    readonly opts: WalStorageOptions,
  ) {}

  static async open(opts: Partial<WalStorageOptions> = {}): Promise<Pair> {
    const o = { ...base, disk: new SimDisk(), ...opts }
    return new Pair(await WalStorage.open(o), o)
  }

  append(es: Entry[]): Promise<void> {
    this.mem.append(es)
    return this.wal.append(es)
  }

  /** Appends in batches of 10, one flush each, so segments rotate between them. */
  async appendInBatches(es: Entry[]): Promise<void> {
    for (let k = 0; k < es.length; k += 10) await this.append(es.slice(k, k + 10))
  }

  async compact(i: number): Promise<void> {
    this.mem.compact(i)
    await this.wal.compact(i)
  }

  async createSnapshot(i: number): Promise<void> {
    this.mem.createSnapshot(i, null, new Uint8Array([1]))
    await this.wal.createSnapshot(i, null, new Uint8Array([1]))
  }

  async applySnapshot(snap: Snapshot): Promise<void> {
    this.mem.applySnapshot(snap)
    await this.wal.applySnapshot(snap)
  }

  /** Closes and reopens the WAL; both then start from the later of their first indexes. */
  async reopen(): Promise<void> {
    await this.wal.close()
    this.wal = await WalStorage.open(this.opts)
    const first = Math.max(this.mem.firstIndex(), this.wal.firstIndex())
    if (first > this.mem.firstIndex()) this.mem.compact(first - 1)
    if (first > this.wal.firstIndex()) await this.wal.compact(first - 1)
  }

  /** Every read of [lo, hi) agrees, whole and one entry at a time, and under a size limit. */
  check(lo = this.mem.firstIndex(), hi = this.mem.lastIndex() + 1, maxSize = Infinity): void {
    assert.equal(this.wal.firstIndex(), this.mem.firstIndex(), 'firstIndex')
    assert.equal(this.wal.lastIndex(), this.mem.lastIndex(), 'lastIndex')
    if (lo >= hi) return
    assert.deepEqual(this.wal.entries(lo, hi, maxSize), this.mem.entries(lo, hi, maxSize))
    for (let i = lo; i < hi; i++) {
      assert.equal(this.wal.term(i), this.mem.term(i), `term(${i})`)
      assert.deepEqual(this.wal.entries(i, i + 1, Infinity), this.mem.entries(i, i + 1, Infinity))
    }
  }
}

describe('WalStorage reads evicted entries through the sparse index', () => {
  it('after a leader change truncated the suffix, in a later segment', async () => {
    const p = await Pair.open()
    await p.appendInBatches(ents(1, 150, 1))
    await p.appendInBatches(ents(60, 40, 2)) // 100..150 gone, 60..99 rewritten after them
    await p.appendInBatches(ents(100, 30, 2))
    assert.ok(p.wal.walStats().rotations > 3)
    assert.ok(p.wal.cachedEntries() <= 4)
    p.check()
    // Overwrite again at a checkpoint boundary and just after one.
    await p.append(ents(1 + CHECKPOINT_ENTRIES, 10, 3))
    await p.append(ents(2 + CHECKPOINT_ENTRIES, 10, 4))
    p.check()
    await p.wal.close()
  })

  it('when the overwrite was queued before the overwritten records were written', async () => {
    const p = await Pair.open()
    // Not awaited in between: the three batches go out in one flush, dead records in the middle.
    await Promise.all([
      p.append(ents(1, 100, 1)),
      p.append(ents(50, 20, 2)),
      p.append(ents(55, 100, 3)),
    ])
    p.check()
    await p.wal.close()
  })

  it('same-term overwrites with other data read back the newer record', async () => {
    // Raft never does this (same index and term means same entry), but the index must not care.
    const p = await Pair.open()
    await p.append(ents(1, 100, 1, 0))
    await p.append(ents(40, 100, 1, 7))
    p.check()
    await p.wal.close()
  })

  it('after compaction inside a run, and inside an overwritten region', async () => {
    const p = await Pair.open()
    await p.appendInBatches(ents(1, 200, 1))
    await p.createSnapshot(150)
    await p.compact(37) // not a checkpoint: the first one moves to 38
    p.check()
    await p.append(ents(120, 50, 2))
    await p.compact(130)
    p.check()
    const segments = p.wal.walSegments().length
    await p.compact(150) // the WAL before the snapshot may go
    assert.ok(p.wal.walSegments().length < segments, 'segments released')
    p.check()
    await p.wal.close()
  })

  it('compaction of entries not yet written moves the first checkpoint when they are', async () => {
    const p = await Pair.open()
    await p.append(ents(1, 10, 1))
    const pending = p.append(ents(11, 100, 1))
    await p.compact(20)
    await pending
    p.check()
    await p.wal.close()
  })

  it('after reopening: the index rebuilt from the records, overwrites and all', async () => {
    const p = await Pair.open()
    await p.appendInBatches(ents(1, 150, 1))
    await p.appendInBatches(ents(60, 40, 2))
    await p.createSnapshot(70)
    await p.append(ents(90, 70, 3))
    await p.reopen()
    assert.equal(p.wal.firstIndex(), 71)
    p.check()
    await p.append(ents(150, 20, 4)) // a new run after the replayed ones
    p.check()
    await p.reopen()
    p.check()
    await p.wal.close()
  })

  it('entries() over many evicted entries: one scan per run, size limits as MemoryStorage', async () => {
    const p = await Pair.open({ segmentBytes: 4096 })
    for (let k = 0; k < 30; k++) await p.append(ents(1 + k * 100, 100, 1))
    await p.append(ents(1000, 500, 2))
    await p.append(ents(1200, 500, 3))
    const last = p.mem.lastIndex()
    p.check(1, last + 1)
    p.check(3, last - 10)
    for (const maxSize of [0, 100, 1000, 5000, 100_000]) p.check(5, last + 1, maxSize)
    await p.wal.close()
  })

  it('a batch that never reached the WAL stops every later save', async () => {
    // Records must be written in put order; a dropped batch would leave a hole in the log.
    const disk = new SnapFailingDisk()
    const s = await WalStorage.open({ ...base, disk })
    await s.append(ents(1, 10, 1))
    disk.failing = true
    const snap: Snapshot = {
      data: new Uint8Array([1]),
      metadata: { confState: { ...emptyConfState(), voters: [1n] }, index: 20, term: 2 },
    }
    await assert.rejects(s.save({ snapshot: snap, entries: ents(21, 5, 2) }), /injected/)
    disk.failing = false
    await assert.rejects(s.append(ents(26, 5, 2)), /injected/)
    await s.close()
  })
})

/** A SimDisk whose snapshot files cannot be created while `failing`. */
class SnapFailingDisk extends SimDisk {
  failing = false
  override open(path: string, opts?: { create?: boolean }): DiskFile {
    if (this.failing && path.startsWith('/m/snap/')) throw new Error('injected: no space')
    return super.open(path, opts)
  }
}

type Op =
  | {
      kind: 'append'
      at: number
      near: boolean
      n: number
      newTerm: boolean
      size: number
      wait: boolean
    }
  | { kind: 'compact'; at: number }
  | { kind: 'snapshot'; at: number; compact: boolean }
  | { kind: 'applySnapshot'; ahead: number }
  | { kind: 'reopen' }
  | { kind: 'read'; at: number; n: number; maxSize: number }

/** A point in [0, 1), unbiased: fast-check favours the ends otherwise, and overwrites then replace
 * the whole log or nothing. */
const unit = fc.noBias(fc.integer({ min: 0, max: 999 })).map((k) => k / 1000)

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      at: unit,
      near: fc.boolean(),
      n: fc.integer({ min: 1, max: 150 }),
      newTerm: fc.boolean(),
      size: fc.integer({ min: 0, max: 300 }),
      wait: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('compact' as const),
      at: unit,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('snapshot' as const),
      at: unit,
      compact: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('applySnapshot' as const),
      ahead: fc.integer({ min: 1, max: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      at: unit,
      n: fc.integer({ min: 1, max: 400 }),
      maxSize: fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 20_000 })),
    }),
  },
)

/** Runs one sequence; appends not awaited stay in flight until a later op needs the WAL idle. */
async function run(ops: Op[], segmentBytes: number): Promise<void> {
  const p = await Pair.open({ segmentBytes, cacheBytesMax: 2048 })
  let term = 1
  let tag = 0
  let inflight: Promise<void>[] = []
  const settle = async (): Promise<void> => {
    await Promise.all(inflight)
    inflight = []
  }
  const pick = (at: number, lo: number, hi: number): number =>
    lo + Math.min(hi - lo, Math.floor(at * (hi - lo + 1)))
  for (const o of ops) {
    const first = p.mem.firstIndex()
    const last = p.mem.lastIndex()
    switch (o.kind) {
      case 'append': {
        if (o.newTerm) term++
        // Anywhere in the log, or (as raft mostly does) within 20 entries of its end.
        const from = o.near
          ? Math.max(first, last + 1 - Math.floor(o.at * 20))
          : pick(o.at, first, last + 1)
        const batch = ents(from, o.n, term, ++tag, o.size)
        inflight.push(p.append(batch))
        if (o.wait) await settle()
        break
      }
      case 'compact':
        if (last >= first) await p.compact(pick(o.at, first, last))
        break
      case 'snapshot': {
        const lo = Math.max(first, p.mem.snapshot().metadata.index + 1)
        if (lo > last) break
        const i = pick(o.at, lo, last)
        await p.createSnapshot(i)
        if (o.compact) await p.compact(i)
        break
      }
      case 'applySnapshot': {
        term++
        const index = last + o.ahead
        const confState = { ...emptyConfState(), voters: [1n] }
        await p.applySnapshot({ data: new Uint8Array([2]), metadata: { confState, index, term } })
        break
      }
      case 'reopen':
        await settle()
        await p.reopen()
        break
      case 'read': {
        if (last < first) break
        const lo = pick(o.at, first, last)
        p.check(lo, Math.min(last + 1, lo + o.n), o.maxSize)
        break
      }
    }
  }
  await settle()
  p.check()
  await p.wal.close()
}

it('property: WalStorage reads equal MemoryStorage reads under random writes and reopens', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(op, { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 512, max: 8192 }),
      run,
    ),
    fcParams(t, { numRuns: 150 }),
  )
})
