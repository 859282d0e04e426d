// WalStorage: first the shared Storage suite, run against MemoryStorage (the reference) and
// WalStorage on a SimDisk with tiny segments and a tiny cache (so reads go to disk and segments
// rotate); then what only a durable store has: reopening, bounded memory, snapshot files, and
// power loss at seeded random points, after which nothing acknowledged may be missing.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { MemoryStorage } from '../raft/index.js'
import { emptyConfState, entry, type Entry, type HardState } from '../raft/index.js'
import type { DiskFile } from '../io/index.js'
import { SimDisk } from '../io/index.js'
import { SnapError } from '../snap/index.js'
import { WalError } from './errors.js'
import {
  mulberry32,
  storageSuite,
  type StorageUnderTest,
} from '../../test-support/storage-suite.js'
import { WalStorage, type WalStorageOptions } from './wal-storage.js'
import { seedFor } from '../../test-support/seed.js'

function memory(): Promise<StorageUnderTest> {
  const s = new MemoryStorage()
  return Promise.resolve({
    storage: s,
    append: async (ents) => s.append(ents),
    setHardState: async (hs) => s.setHardState(hs),
    compact: async (i) => s.compact(i),
    applySnapshot: async (snap) => s.applySnapshot(snap),
    createSnapshot: async (i, cs, data) => s.createSnapshot(i, cs, data),
    close: async () => {},
  })
}

const base = { dir: '/m', nodeId: 1n, clusterId: 7n, segmentBytes: 512, cacheEntriesMax: 4 }

function adapt(s: WalStorage): StorageUnderTest {
  return {
    storage: s,
    append: (ents) => s.append(ents),
    setHardState: (hs) => s.setHardState(hs),
    compact: (i) => s.compact(i),
    applySnapshot: (snap) => s.applySnapshot(snap),
    createSnapshot: (i, cs, data) => s.createSnapshot(i, cs, data),
    close: () => s.close(),
  }
}

async function walStorage(): Promise<StorageUnderTest> {
  return adapt(await WalStorage.open({ ...base, disk: new SimDisk() }))
}

storageSuite('MemoryStorage', memory)
storageSuite('WalStorage on SimDisk', walStorage)

function ents(first: number, n: number, term: number, size = 24): Entry[] {
  return Array.from({ length: n }, (_, k) =>
    entry({ index: first + k, term, data: new Uint8Array(size).fill((first + k) & 0xff) }),
  )
}

describe('WalStorage', () => {
  it('reopens with the same hard state, entries and snapshot', async () => {
    const disk = new SimDisk()
    const opts: WalStorageOptions = { ...base, disk }
    const s = await WalStorage.open(opts)
    await s.save({ entries: ents(1, 40, 1), hardState: { term: 1, vote: 1n, commit: 30 } })
    const cs = { ...emptyConfState(), voters: [1n, 2n, 3n] }
    await s.createSnapshot(30, cs, new Uint8Array([9, 9]))
    await s.save({ entries: ents(35, 20, 2), hardState: { term: 2, vote: 3n, commit: 50 } })
    assert.ok(s.walStats().rotations > 0)
    await s.close()
    const r = await WalStorage.open(opts)
    assert.deepEqual(r.initialState(), {
      hardState: { term: 2, vote: 3n, commit: 50 },
      confState: cs,
    })
    assert.equal(r.firstIndex(), 31)
    assert.equal(r.lastIndex(), 54)
    assert.deepEqual(r.entries(31, 55, Infinity), [...ents(31, 4, 1), ...ents(35, 20, 2)])
    assert.deepEqual(r.snapshot().data, new Uint8Array([9, 9]))
    assert.deepEqual(r.warnings, [])
    await r.close()
  })

  it('writes records in save order when a save comes while others wait behind a snapshot', async () => {
    // Found by the cluster simulator (seed 143): the snapshot barrier was cleared as soon as the
    // marker was queued, so a save made then went to the WAL before the saves still waiting for
    // the marker's fsync; the replay saw entry 60 before 59 and dropped the log before 60.
    // Issue the third save after each number of microtasks, so one of them hits that window.
    for (let delay = 0; delay < 40; delay++) {
      const disk = new SimDisk()
      const opts: WalStorageOptions = { ...base, disk }
      const s = await WalStorage.open(opts)
      await s.save({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 1n, commit: 5 } })
      const done = [s.createSnapshot(3, null, new Uint8Array([3])), s.append(ents(6, 1, 1))]
      for (let k = 0; k < delay; k++) await Promise.resolve()
      done.push(s.append(ents(7, 1, 1)))
      await Promise.all(done)
      await s.close()
      const r = await WalStorage.open(opts)
      assert.equal(r.lastIndex(), 7, `third save after ${delay} microtasks`)
      assert.deepEqual(r.entries(4, 8, Infinity), ents(4, 4, 1))
      await r.close()
    }
  })

  it('resolves saves in call order when one waited behind a snapshot and the next did not', async () => {
    // persistStorageAppend promises its responses in call order. A save queued behind a snapshot
    // resolves through an extra promise; the save after it, sent to the WAL directly once the
    // barrier was gone, must still not resolve first. Issue it after each number of microtasks.
    for (let delay = 0; delay < 40; delay++) {
      const s = await WalStorage.open({ ...base, disk: new SimDisk() })
      await s.save({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 1n, commit: 5 } })
      const acks: number[] = []
      const done: Promise<unknown>[] = [
        s.createSnapshot(3, null, new Uint8Array([3])),
        s.append(ents(6, 1, 1)).then(() => acks.push(6)),
      ]
      for (let k = 0; k < delay; k++) await Promise.resolve()
      done.push(s.append(ents(7, 1, 1)).then(() => acks.push(7)))
      await Promise.all(done)
      assert.deepEqual(acks, [6, 7], `second save after ${delay} microtasks`)
      await s.close()
    }
  })

  it('a HardState that changes only the commit index is not synced; it resolves in call order', async () => {
    // raft's MustSync: the commit index alone need not be durable. The save resolves once the
    // saves before it are durable, is written with the next batch, and by close().
    const disk = new SimDisk()
    const opts: WalStorageOptions = { ...base, disk }
    const s = await WalStorage.open(opts)
    await s.save({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 1n, commit: 3 } })
    const commits = s.walStats().commits
    const acks: string[] = []
    const done = [
      s.save({ entries: ents(6, 1, 1) }).then(() => acks.push('entry 6')),
      s.save({ hardState: { term: 1, vote: 1n, commit: 6 } }).then(() => acks.push('commit 6')),
    ]
    await Promise.all(done)
    assert.deepEqual(acks, ['entry 6', 'commit 6'])
    assert.equal(s.walStats().commits, commits + 1, 'one fdatasync, for the entry')
    assert.deepEqual(s.initialState().hardState, { term: 1, vote: 1n, commit: 6 })
    disk.crash()
    let r = await WalStorage.open(opts)
    assert.deepEqual(r.initialState().hardState, { term: 1, vote: 1n, commit: 3 }, 'not synced')
    assert.equal(r.lastIndex(), 6)
    // The next batch carries it; a term change is synced at once.
    await r.save({ hardState: { term: 1, vote: 1n, commit: 6 } })
    await r.save({ entries: ents(7, 1, 1) })
    await r.save({ hardState: { term: 2, vote: 0n, commit: 6 } })
    disk.crash()
    r = await WalStorage.open(opts)
    assert.deepEqual(r.initialState().hardState, { term: 2, vote: 0n, commit: 6 })
    await r.save({ hardState: { term: 2, vote: 0n, commit: 7 } })
    await r.close()
    r = await WalStorage.open(opts)
    assert.deepEqual(
      r.initialState().hardState,
      { term: 2, vote: 0n, commit: 7 },
      'close writes it',
    )
    await r.close()
  })

  it('reopens to the same log after random appends, overwrites, snapshots and compactions', async (t) => {
    for (let seed = 1; seed <= 20; seed++) {
      const rand = mulberry32(seedFor(`${t.name} ${seed}`))
      const disk = new SimDisk()
      const opts: WalStorageOptions = { ...base, disk, segmentBytes: 200 + rand(600) }
      let s = await WalStorage.open(opts)
      let model: number[] = [0] // model[i]: the term of entry i
      let term = 1
      for (let step = 0; step < 60; step++) {
        const first = s.firstIndex()
        const last = s.lastIndex()
        const op = rand(10)
        if (op < 7) {
          const from = Math.max(first, s.initialState().hardState.commit + 1) + rand(3)
          const start = Math.min(from, last + 1)
          if (rand(3) === 0) term++
          const batch = ents(start, 1 + rand(6), term, rand(40))
          await s.save({ entries: batch, hardState: { term, vote: 1n, commit: start - 1 } })
          model = model.slice(0, start).concat(batch.map((e) => e.term))
        } else if (op < 8 && last > first) {
          const commit = s.initialState().hardState.commit
          if (commit > s.snapshot().metadata.index)
            await s.createSnapshot(commit, null, new Uint8Array([1]))
        } else if (op < 9) {
          const snapIndex = s.snapshot().metadata.index
          if (snapIndex >= first) await s.compact(snapIndex)
        } else {
          await s.close()
          s = await WalStorage.open(opts)
        }
        assert.equal(s.lastIndex(), model.length - 1, `seed ${seed} step ${step}`)
        const lo = s.firstIndex()
        if (lo <= s.lastIndex()) {
          const got = s.entries(lo, s.lastIndex() + 1, Infinity).map((e) => e.term)
          assert.deepEqual(got, model.slice(lo), `seed ${seed} step ${step}`)
        }
      }
      await s.close()
    }
  })

  it('keeps memory bounded: a small cache, older entries read back from the segments', async () => {
    const disk = new SimDisk()
    const s = await WalStorage.open({ ...base, disk, segmentBytes: 64 * 1024, cacheEntriesMax: 16 })
    for (let i = 0; i < 50; i++) await s.append(ents(1 + i * 40, 40, 1, 100))
    assert.ok(s.cachedEntries() <= 16, `${s.cachedEntries()} cached`)
    assert.deepEqual(s.entries(1, 2001, Infinity), ents(1, 2000, 1, 100))
    await s.close()
    const r = await WalStorage.open({ ...base, disk, segmentBytes: 64 * 1024, cacheEntriesMax: 16 })
    assert.ok(r.cachedEntries() <= 16)
    assert.deepEqual(r.entries(1000, 1010, Infinity), ents(1000, 10, 1, 100))
    await r.close()
  })

  it('releases segments only up to a durable snapshot and the compaction point', async () => {
    const disk = new SimDisk()
    const s = await WalStorage.open({ ...base, disk })
    for (let i = 0; i < 10; i++) await s.append(ents(1 + i * 10, 10, 1))
    const startOf = (name: string | undefined) => Number.parseInt(name?.slice(17, 33) ?? 'ff', 16)
    const before = s.walSegments()
    await s.compact(50) // no snapshot yet: nothing may go
    assert.deepEqual(s.walSegments(), before)
    await s.createSnapshot(60, null, new Uint8Array([1])) // compacted to 50 only: up to 50
    assert.ok(startOf(s.walSegments()[1]) > 50)
    assert.deepEqual(s.entries(51, 101, Infinity), ents(51, 50, 1))
    await s.compact(60)
    const after = s.walSegments()
    assert.ok(after.length < before.length, 'segments before the snapshot released')
    assert.ok(startOf(after[0]) <= 60, 'the segment holding the snapshot index stays')
    assert.ok(startOf(after[1]) > 60, 'every segment wholly before it went')
    await s.close()
    const r = await WalStorage.open({ ...base, disk })
    assert.equal(r.firstIndex(), 61)
    assert.deepEqual(r.entries(61, 101, Infinity), ents(61, 40, 1))
    await r.close()
  })

  it('a snapshot without compaction keeps every entry readable', async () => {
    const disk = new SimDisk()
    const s = await WalStorage.open({ ...base, disk })
    for (let i = 0; i < 10; i++) await s.append(ents(1 + i * 10, 10, 1))
    await s.createSnapshot(90, null, new Uint8Array([1]))
    assert.deepEqual(s.entries(1, 101, Infinity), ents(1, 100, 1))
    await s.close()
  })

  it('refuses a data dir of another member; nothing deleted', async () => {
    const disk = new SimDisk()
    const s = await WalStorage.open({ ...base, disk })
    await s.append(ents(1, 30, 1))
    await s.close()
    const names = disk.list('/m/wal')
    await assert.rejects(WalStorage.open({ ...base, disk, nodeId: 2n }), (err) =>
      WalError.is(err, 'WAL_METADATA_MISMATCH'),
    )
    await assert.rejects(WalStorage.open({ ...base, disk, clusterId: 8n }), (err) =>
      WalError.is(err, 'WAL_METADATA_MISMATCH'),
    )
    assert.deepEqual(disk.list('/m/wal'), names)
  })

  it('a corrupt snapshot: falls back to an older one if the WAL reaches it, else a typed error', async () => {
    const disk = new SimDisk()
    const s = await WalStorage.open({ ...base, disk, segmentBytes: 1 << 20 })
    await s.append(ents(1, 30, 1))
    await s.createSnapshot(10, null, new Uint8Array([1]))
    await s.createSnapshot(20, null, new Uint8Array([2]))
    await s.close()
    const newest = '/m/snap/0000000000000001-0000000000000014.snap'
    const bytes = disk.contents(newest)
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x10
    disk.setContents(newest, bytes)
    // One big segment: the WAL still holds entry 11 on, so snapshot 10 serves (etcd's fallback).
    const r = await WalStorage.open({ ...base, disk, segmentBytes: 1 << 20 })
    assert.equal(r.snapshot().metadata.index, 10)
    assert.equal(r.lastIndex(), 30)
    assert.match(
      r.warnings.join('\n'),
      /^snap: crc mismatch in \/m\/snap\/0000000000000001-0000000000000014\.snap \(stored \d+, computed \d+\); the file is left in place/m,
    )
    await r.close()
    assert.ok(disk.exists(newest), 'the corrupt file is left in place')

    // Small segments, released up to 50: the older snapshot cannot serve; a typed error.
    const d2 = new SimDisk()
    const s2 = await WalStorage.open({ ...base, disk: d2 })
    for (let i = 0; i < 6; i++) await s2.append(ents(1 + i * 10, 10, 1))
    await s2.createSnapshot(10, null, new Uint8Array([1]))
    await s2.createSnapshot(50, null, new Uint8Array([2]))
    await s2.compact(50)
    await s2.close()
    const newest2 = '/m/snap/0000000000000001-0000000000000032.snap'
    const b2 = d2.contents(newest2)
    b2[3] = (b2[3] as number) ^ 0x01
    d2.setContents(newest2, b2)
    const names = d2.list('/m/wal')
    await assert.rejects(WalStorage.open({ ...base, disk: d2 }), (err) => {
      assert.ok(SnapError.is(err, 'SNAP_CORRUPT'))
      assert.equal(err.file, newest2)
      return true
    })
    assert.deepEqual(d2.list('/m/wal'), names)
  })

  it('keeps the newest N snapshot files', async () => {
    const disk = new SimDisk()
    const s = await WalStorage.open({ ...base, disk, snapshotsKept: 2 })
    await s.append(ents(1, 40, 1))
    for (const i of [10, 20, 30, 40]) await s.createSnapshot(i, null, new Uint8Array([i]))
    assert.deepEqual(disk.list('/m/snap'), [
      '0000000000000001-000000000000001e.snap',
      '0000000000000001-0000000000000028.snap',
    ])
    await s.close()
    const r = await WalStorage.open({ ...base, disk, snapshotsKept: 2 })
    assert.deepEqual(r.snapshot().data, new Uint8Array([40]))
    await r.close()
  })

  it('purges no snapshot file whose WAL marker is the newest durable one', async () => {
    // Snapshot 10's file may go only once a newer marker is durable: a power loss between the
    // purge and that fdatasync otherwise leaves no file for any marker (keep 1 makes it easy).
    const disk = new WalSyncHoldingDisk()
    const opts = { ...base, disk, snapshotsKept: 1 }
    const s = await WalStorage.open(opts)
    for (let i = 1; i <= 20; i += 2) await s.append(ents(i, 2, 1))
    await s.createSnapshot(10, null, new Uint8Array([10]))
    await s.compact(10)
    assert.ok(!s.walSegments().some((n) => n.startsWith('0000000000000000-')), 'segment 0 gone')
    disk.holding = true
    void s.createSnapshot(20, null, new Uint8Array([20])).catch(() => {})
    for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r))
    assert.ok(disk.exists('/m/snap/0000000000000001-0000000000000014.snap'), 'file 20 saved')
    // The disk keeps the directory operations made since the last sync, not the WAL's bytes.
    disk.crash({ intn: (n) => (disk.namesDecided++ === 0 ? n - 1 : 0) })
    disk.holding = false
    const r = await WalStorage.open(opts)
    assert.deepEqual(r.snapshot().data, new Uint8Array([10]))
    await r.close()
  })

  it('the member directory and its wal and snap directories survive a power loss', async () => {
    const disk = new SimDisk()
    const opts: WalStorageOptions = { ...base, dir: '/data/members/m1', disk }
    const s = await WalStorage.open(opts)
    await s.append(ents(1, 3, 1))
    await s.createSnapshot(2, null, new Uint8Array([1]))
    disk.crash() // keeps only what was synced
    const r = await WalStorage.open({ ...opts, disk: disk.incarnation() })
    assert.equal(r.lastIndex(), 3)
    assert.equal(r.snapshot().metadata.index, 2)
    await r.close()
  })

  it('a flipped bit in a synced record stops start-up with WAL_CORRUPT and changes nothing', async () => {
    const disk = new SimDisk()
    const s = await WalStorage.open({ ...base, disk, segmentBytes: 1 << 20 })
    for (let i = 0; i < 5; i++) {
      await s.save({ entries: ents(1 + i * 4, 4, 1), hardState: { term: 1, vote: 1n, commit: i } })
    }
    await s.close()
    const seg = `/m/wal/${disk.list('/m/wal').find((n) => n.endsWith('.wal'))}`
    const files = () => disk.list('/m/wal').map((n) => [n, disk.contents(`/m/wal/${n}`)])
    const bytes = disk.contents(seg)
    // In the last batch: its payloads are the last bytes before its commit record.
    const last = bytes.length - [...bytes].reverse().findIndex((b) => b !== 0) - 56 - 10
    bytes[last] = (bytes[last] as number) ^ 0x04
    disk.setContents(seg, bytes)
    const before = files()
    await assert.rejects(WalStorage.open({ ...base, disk, segmentBytes: 1 << 20 }), (err) => {
      assert.ok(WalError.is(err, 'WAL_CORRUPT'))
      assert.equal(err.file, seg)
      assert.match(
        err.message,
        /at offset \d+: crc mismatch, in a batch whose sectors were all written/,
      )
      return true
    })
    assert.deepEqual(files(), before)
  })

  it('refuses snapshots without a WAL', async () => {
    const disk = new SimDisk()
    const s = await WalStorage.open({ ...base, disk })
    await s.append(ents(1, 5, 1))
    await s.createSnapshot(5, null, new Uint8Array([1]))
    await s.close()
    for (const n of disk.list('/m/wal')) disk.unlink(`/m/wal/${n}`)
    await assert.rejects(WalStorage.open({ ...base, disk }), (err) =>
      WalError.is(err, 'WAL_NOT_FOUND'),
    )
  })
})

/**
 * Power loss at seeded random points of a random workload (appends, overwrites of the unacked
 * tail are not generated: raft never overwrites what it acknowledged as committed; hard state
 * changes; snapshots). After each crash (dropping unsynced data, or keeping any part of it:
 * SimDisk.crash) the store reopens, and everything acknowledged must be there. Each incarnation
 * sees the disk through SimDisk.incarnation, so the dead one's pending promises cannot write.
 */
describe('WalStorage under power loss', () => {
  for (let seed = 1; seed <= 40; seed++) {
    it(`seed ${seed}: no acknowledged entry, vote or term is lost`, async (t) => {
      const rand = mulberry32(seedFor(t))
      const disk = new SimDisk()
      const opts: WalStorageOptions = { ...base, disk, segmentBytes: 256 + rand(1024) }
      let s = await WalStorage.open({ ...opts, disk: disk.incarnation() })
      // What was acknowledged: entries by index, and the newest hard state.
      const acked = new Map<number, Entry>()
      const issued = new Map<number, Entry[]>()
      let ackedHs: HardState = { term: 0, vote: 0n, commit: 0 }
      let last = 0
      let hs: HardState = { term: 1, vote: 0n, commit: 0 }
      let snapIndex = 0
      for (let round = 0; round < 4; round++) {
        const steps = 1 + rand(30)
        const inflight: Promise<void>[] = []
        for (let step = 0; step < steps; step++) {
          const op = rand(10)
          if (op < 6) {
            const batch = ents(last + 1, 1 + rand(6), hs.term, rand(80))
            last += batch.length
            for (const e of batch) issued.set(e.index, [...(issued.get(e.index) ?? []), e])
            if (rand(2) === 0) hs = { ...hs, commit: Math.max(hs.commit, last - rand(3)) }
            const hsNow = { ...hs }
            inflight.push(
              s.save({ entries: batch, hardState: hsNow }).then(() => {
                for (const e of batch) acked.set(e.index, e)
                ackedHs = newer(ackedHs, hsNow)
              }),
            )
          } else if (op < 8) {
            hs = { term: hs.term + 1, vote: BigInt(1 + rand(3)), commit: hs.commit }
            const hsNow = { ...hs }
            inflight.push(
              s.setHardState(hsNow).then(() => {
                ackedHs = newer(ackedHs, hsNow)
              }),
            )
          } else if (hs.commit > snapIndex && hs.commit <= last) {
            snapIndex = hs.commit
            inflight.push(s.createSnapshot(snapIndex, null, new Uint8Array([round])).then(() => {}))
          }
          if (rand(3) === 0) await settle(inflight.splice(0))
        }
        // Let a random number of microtask turns pass, then pull the plug.
        for (let k = rand(20); k > 0; k--) await Promise.resolve()
        disk.crash({ intn: rand })
        await settle(inflight)
        s = await WalStorage.open({ ...opts, disk: disk.incarnation() })
        const got = s.initialState().hardState
        assert.ok(
          !olderThan(got, ackedHs),
          `hard state ${show(got)} older than acked ${show(ackedHs)}`,
        )
        const first = s.firstIndex()
        for (const [i, e] of acked) {
          if (i < first) continue
          assert.ok(i <= s.lastIndex(), `acked entry ${i} lost (last ${s.lastIndex()})`)
          assert.deepEqual(s.entries(i, i + 1, Infinity)[0], e, `entry ${i}`)
        }
        // Anything beyond what was acked is something that was issued, never garbage.
        for (let i = first; i <= s.lastIndex(); i++) {
          const e = s.entries(i, i + 1, Infinity)[0] as Entry
          assert.ok(
            issued.get(i)?.some((x) => sameEntry(x, e)),
            `entry ${i} was never written`,
          )
        }
        // Carry on from what survived, as a restarted node does.
        last = s.lastIndex()
        for (const i of [...acked.keys()]) if (i > last) acked.delete(i)
        for (const i of [...issued.keys()]) if (i > last) issued.delete(i)
        hs = { ...got, term: Math.max(got.term, 1), commit: Math.min(got.commit, last) }
        snapIndex = s.snapshot().metadata.index
      }
      await s.close()
    })
  }
})

/**
 * Power loss with overwrites of the uncommitted tail. Durability is a prefix of the record
 * stream, so after the crash the log must be the log as some write at or after the last
 * acknowledged one left it, possibly with only a prefix of the next write's entries.
 */
describe('WalStorage under power loss, with overwrites', () => {
  for (let seed = 1; seed <= 30; seed++) {
    it(`seed ${seed}: the log is the log of a write at or after the last acknowledged one`, async (t) => {
      const rand = mulberry32(seedFor(t))
      const disk = new SimDisk()
      const opts: WalStorageOptions = { ...base, disk, segmentBytes: 256 + rand(512) }
      const s = await WalStorage.open({ ...opts, disk: disk.incarnation() })
      // logs[k]: the log (terms by index, data tags) after issued write k; batches[k]: its entries.
      const logs: string[][] = [[]]
      const batches: Entry[][] = [[]]
      let acked = 0
      let term = 1
      let commit = 0
      const inflight: Promise<void>[] = []
      for (let k = 1; k <= 25; k++) {
        const log = logs[k - 1] as string[]
        const from = commit + 1 + rand(Math.max(1, log.length - commit + 1))
        if (rand(3) === 0) term++
        const batch = ents(Math.min(from, log.length + 1), 1 + rand(5), term, 1 + rand(30))
        const start = (batch[0] as Entry).index
        logs.push(log.slice(0, start - 1).concat(batch.map(tag)))
        batches.push(batch)
        commit = Math.max(commit, Math.min(start - 1, commit + rand(3)))
        const hs = { term, vote: 1n, commit }
        inflight.push(s.save({ entries: batch, hardState: hs }).then(() => void (acked = k)))
        if (rand(4) === 0) await Promise.allSettled(inflight.splice(0))
      }
      for (let n = rand(12); n > 0; n--) await Promise.resolve()
      disk.crash({ intn: rand })
      await Promise.allSettled(inflight)
      const r = await WalStorage.open({ ...opts, disk: disk.incarnation() })
      const got = r.lastIndex() === 0 ? [] : r.entries(1, r.lastIndex() + 1, Infinity).map(tag)
      const ok = logs.some((log, k) => {
        if (k < acked) return false
        if (sameLog(got, log)) return true
        // A prefix of write k+1 on top of write k's log.
        const next = batches[k + 1] ?? []
        const start = (next[0]?.index ?? 1) - 1
        return next.some((_, j) =>
          sameLog(got, log.slice(0, start).concat(next.slice(0, j + 1).map(tag))),
        )
      })
      assert.ok(
        ok,
        `recovered ${JSON.stringify(got)}; acked write ${acked}: ${JSON.stringify(logs[acked])}`,
      )
      await r.close()
    })
  }
})

function tag(e: Entry): string {
  return `${e.index}/${e.term}/${e.data.length}`
}

function sameLog(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

async function settle(ps: Promise<unknown>[]): Promise<void> {
  await Promise.allSettled(ps)
}

function olderThan(a: HardState, b: HardState): boolean {
  if (a.term !== b.term) return a.term < b.term
  return a.commit < b.commit || (b.vote !== 0n && a.vote !== b.vote)
}

function newer(a: HardState, b: HardState): HardState {
  return olderThan(a, b) ? b : a
}

function sameEntry(a: Entry, b: Entry): boolean {
  return a.term === b.term && a.index === b.index && Buffer.compare(a.data, b.data) === 0
}

function show(hs: HardState): string {
  return `{term ${hs.term} vote ${hs.vote} commit ${hs.commit}}`
}

/** A SimDisk whose WAL fdatasyncs do not complete while `holding` (other syncs do). */
class WalSyncHoldingDisk extends SimDisk {
  holding = false
  namesDecided = 0

  override open(path: string, opts?: { create?: boolean }): DiskFile {
    const f = super.open(path, opts)
    if (!path.startsWith('/m/wal/')) return f
    const sync = f.sync.bind(f)
    f.sync = () => (this.holding ? new Promise<void>(() => {}) : sync())
    return f
  }
}
