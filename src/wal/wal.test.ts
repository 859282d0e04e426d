// The WAL on its own: round trips, group commit, rotation, then the recovery rules. Corruption tests
// work on real files in a temporary directory (the brief's "real-file tests"): cut the last segment
// at every byte, flip single bits at seeded offsets; each reopen must return a prefix of what was
// written, with every record before the damage, or throw a typed error naming file and offset.

import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { after, describe, it } from 'node:test'

import type { DiskFile, PreallocateOptions } from '../io/index.js'
import { NodeDisk } from '../io/index.js'
import { discardLogger } from '../raft/index.js'
import { entry, type Entry, type HardState } from '../raft/index.js'
import { SimDisk } from '../io/index.js'
import { slow } from '../../test-support/quick.js'
import { testRand } from '../../test-support/seed.js'
import { WalError } from './errors.js'
import { RecordType, padBytes } from './record.js'
import { Wal, locationSeq, parseSegmentName, type WalOptions } from './wal.js'

const metadata = { nodeId: 1n, clusterId: 0xc1n }
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pontoon-wal-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))
let dirs = 0
const freshDir = () => path.join(tmpRoot, `d${dirs++}`)

function ents(first: number, n: number, term: number, size = 20, fill?: number): Entry[] {
  return Array.from({ length: n }, (_, i) =>
    entry({ index: first + i, term, data: new Uint8Array(size).fill(fill ?? (first + i) % 251) }),
  )
}

/** The offsets where the commit records of a segment end (the ends of its batches), in order. */
function commitEnds(seg: Uint8Array): number[] {
  const out: number[] = []
  const view = new DataView(seg.buffer, seg.byteOffset, seg.length)
  // Bounded by the segment: each pass moves past one frame.
  for (let off = 0; off + 8 <= seg.length;) {
    const recBytes = view.getUint32(off, true)
    if (recBytes === 0) break
    const end = off + 8 + recBytes
    if (seg[off + 9] === RecordType.Commit) out.push(end)
    off = end + padBytes(recBytes)
  }
  return out
}

/** Where the records of a segment end: after its last commit record. */
function logEnd(seg: Uint8Array): number {
  return commitEnds(seg).pop() ?? 0
}

async function replay(opts: WalOptions): Promise<{ wal: Wal; entries: Entry[] }> {
  const entries: Entry[] = []
  const wal = await Wal.open(opts, (e) => {
    // Later records with the same index replace earlier ones (an overwritten suffix).
    entries.length = Math.min(entries.length, e.index - 1)
    entries[e.index - 1] = e
  })
  return { wal, entries }
}

interface Written {
  entries: Entry[]
  /** Per entry: its segment sequence number, and the offset just after its record. */
  seq: number[]
  end: number[]
  hardStates: { hs: HardState; afterEntry: number }[]
}

/** Writes `batches` batches of entries (each with a hard state) and returns where each went. */
/** Each batch's payload size, and whether its payloads are zeros (a weak batch when large). */
type Shape = (batch: number) => { size: number; zeros?: boolean }

async function writeLog(
  opts: WalOptions,
  batches: number,
  perBatch: number,
  shape: Shape = () => ({ size: 20 }),
): Promise<Written> {
  const wal = await Wal.open(opts)
  const w: Written = { entries: [], seq: [], end: [], hardStates: [] }
  wal.onWritten = (es, locs) => {
    es.forEach((e, i) => {
      w.entries.push(e)
      w.seq.push(locationSeq(locs[i] as number))
      w.end.push(-1)
    })
  }
  for (let b = 0; b < batches; b++) {
    const hs = { term: 1 + (b >> 2), vote: 1n, commit: b * perBatch }
    const { size, zeros } = shape(b)
    const batch = ents(b * perBatch + 1, perBatch, hs.term, size, zeros === true ? 0 : undefined)
    await wal.append({ entries: batch, hardState: hs })
    w.hardStates.push({ hs, afterEntry: (b + 1) * perBatch })
  }
  await wal.close()
  return w
}

/** A preallocation standing in for DiskFile.preallocate: `real` is the file's own. */
type FakePreallocate = (
  real: DiskFile['preallocate'],
  size: number,
  prealloc: PreallocateOptions,
  path: string,
) => Promise<void>

/**
 * Replaces the preallocation of the files of `disk` whose path matches `files` by `fake`.
 * Returns the paths of those files closed so far.
 */
function fakePreallocation(disk: SimDisk, files: RegExp, fake: FakePreallocate): string[] {
  const closed: string[] = []
  const open = disk.open.bind(disk)
  disk.open = (p, o) => {
    const f = open(p, o)
    if (!files.test(p)) return f
    const real = f.preallocate.bind(f)
    f.preallocate = (size, prealloc = {}) => fake(real, size, prealloc, p)
    const close = f.close.bind(f)
    f.close = () => {
      closed.push(p)
      close()
    }
    return f
  }
  return closed
}

/** The next segments' files (`N.tmp`), not the first segment's (`...wal.tmp`). */
const NEXT_SEGMENTS = /\/\d+\.tmp$/

/** Rejects once `signal` aborts: with `err`, or else the signal's reason. */
function untilAborted(signal: AbortSignal | undefined, err?: Error): Promise<void> {
  return new Promise((_resolve, reject) =>
    signal?.addEventListener('abort', () => reject(err ?? (signal.reason as Error))),
  )
}

/** A logger that keeps its info lines. */
function infoLogger() {
  const logs: string[] = []
  return {
    logs,
    logger: { ...discardLogger, info: (...args: unknown[]) => logs.push(args.join(' ')) },
  }
}

const ENOSPC = () =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })

describe('Wal', () => {
  it('round-trips entries, hard state and snapshot markers', async () => {
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 256 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 1n, commit: 3 } })
    await wal.append({ snapshot: { index: 3, term: 1 }, entries: ents(6, 20, 2, 100) })
    assert.ok(wal.stats.rotations > 0, 'small segments rotate')
    await wal.close()
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, [...ents(1, 5, 1), ...ents(6, 20, 2, 100)])
    assert.deepEqual(again.recovery.hardState, { term: 1, vote: 1n, commit: 3 })
    assert.deepEqual(again.recovery.snapshots, [
      { index: 0, term: 0 },
      { index: 3, term: 1 },
    ])
    assert.deepEqual(again.recovery.repairs, [])
    await again.close()
  })

  it('round-trips large entries (written from their own buffers) beside small ones', async () => {
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 }
    const wal = await Wal.open(opts)
    const mixed = [...ents(1, 2, 1, 20_000), ...ents(3, 3, 1, 7), ...ents(6, 1, 1, 16 * 1024)]
    await wal.append({ entries: mixed, hardState: { term: 1, vote: 1n, commit: 6 } })
    await wal.append({ entries: ents(7, 40, 1, 3000) })
    await wal.close()
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, [...mixed, ...ents(7, 40, 1, 3000)])
    await again.close()
  })

  it('coalesces concurrent appends into one write and one fdatasync, and writes during a sync', async () => {
    const disk = new SimDisk()
    const wal = await Wal.open({ disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 })
    await wal.append({ entries: ents(1, 1, 1) })
    const before = { ...disk.stats }
    const acks = Array.from({ length: 10 }, (_, i) => wal.append({ entries: ents(2 + i, 1, 1) }))
    await Promise.all(acks)
    assert.equal(disk.stats.syncs - before.syncs, 1)
    assert.equal(disk.stats.writes - before.writes, 1)
    // While that sync is in flight, later appends are written at once (together), but their
    // fdatasync waits for it: one in flight at a time. Then they share the next one.
    let release = () => {}
    disk.syncDelay = () => new Promise((r) => (release = r))
    const mid = { ...disk.stats }
    const first = wal.append({ entries: ents(12, 1, 1) })
    await new Promise((r) => setImmediate(r))
    const rest = [wal.append({ entries: ents(13, 1, 1) }), wal.append({ entries: ents(14, 1, 1) })]
    let acked = false
    void rest[1]?.then(() => (acked = true))
    await new Promise((r) => setImmediate(r))
    assert.equal(disk.stats.writes - mid.writes, 2, 'the first append, then the two together')
    assert.equal(disk.stats.syncs - mid.syncs, 1, 'no second fdatasync while one is in flight')
    assert.equal(acked, false)
    disk.syncDelay = () => Promise.resolve()
    release()
    await Promise.all([first, ...rest])
    assert.equal(disk.stats.syncs - mid.syncs, 2)
    // Commits: the first append, the ten, the one in flight, the two that waited for it.
    assert.equal(wal.stats.commits, 4)
    await wal.close()
  })

  it('names a segment cut after a snapshot marker ahead of the log past the marker', async () => {
    // A segment is named from the last index written (etcd's enti): a snapshot from the leader
    // beyond the log moves it, else releaseTo(snapshot) deletes the segment holding the marker.
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 256 }
    const wal = await Wal.open(opts)
    // One group: entries that fill the segment, then the marker (the next group cuts a segment).
    await Promise.all([
      wal.append({ entries: ents(1, 10, 1, 40) }),
      wal.append({ snapshot: { index: 100, term: 2 } }),
    ])
    await wal.append({ entries: ents(101, 1, 2) })
    assert.equal(wal.stats.rotations, 1)
    await wal.releaseTo(100)
    await wal.close()
    const again = await Wal.open(opts)
    assert.ok(
      again.recovery.snapshots.some((s) => s.index === 100),
      `marker of snapshot 100 released with ${again.segmentNames().join(', ')}`,
    )
    await again.close()
  })

  it('after a reopen too, when the marker ahead of the log was the last record', async () => {
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 3, 1) })
    await wal.append({ snapshot: { index: 100, term: 2 } })
    await wal.close()
    // Smaller segments now: the first append after the reopen cuts a segment.
    const reopened = await Wal.open({ ...opts, segmentBytes: 64 })
    await reopened.append({ entries: ents(101, 1, 2) })
    assert.equal(reopened.stats.rotations, 1)
    await reopened.releaseTo(100)
    await reopened.close()
    const again = await Wal.open(opts)
    assert.ok(
      again.recovery.snapshots.some((s) => s.index === 100),
      `marker of snapshot 100 released with ${again.segmentNames().join(', ')}`,
    )
    await again.close()
  })

  it('a record unreadable on read-back names its segment, not the preallocated file', async () => {
    const disk = new SimDisk()
    const wal = await Wal.open({ disk, dir: '/d/wal', metadata, segmentBytes: 256 })
    const at: number[] = []
    wal.onWritten = (_, locs) => at.push(...locs)
    for (let i = 1; i <= 12; i++) await wal.append({ entries: ents(i, 1, 1, 40) })
    assert.ok(wal.stats.rotations > 0)
    // The last entry lives in a segment that was opened as `N.tmp` and renamed into place.
    const last = at[at.length - 1] as number
    const name = wal.segmentNames()[wal.segmentNames().length - 1] as string
    const path = `/d/wal/${name}`
    const bytes = disk.contents(path)
    const offset = last - locationSeq(last) * 2 ** 32
    bytes.fill(0xff, offset, offset + 12)
    disk.setContents(path, bytes)
    assert.throws(
      () => wal.readEntries(last, () => false),
      (err) => WalError.is(err, 'WAL_CORRUPT') && err.message.includes(name),
    )
    await wal.close()
  })

  it('a failed fdatasync fails its commit and every later append (WAL_IO)', async () => {
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 3, 1) })
    disk.syncDelay = () => Promise.reject(new Error('EIO: i/o error, fdatasync'))
    const failed = wal.append({ entries: ents(4, 1, 1) })
    const queued = wal.append({ entries: ents(5, 1, 1) })
    await assert.rejects(failed, (err) => WalError.is(err, 'WAL_IO') && /EIO/.test(err.message))
    await assert.rejects(queued, (err) => WalError.is(err, 'WAL_IO'))
    disk.syncDelay = () => Promise.resolve()
    // Once a sync failed nobody knows what is durable (fsyncgate): no more writes.
    await assert.rejects(wal.append({ entries: ents(6, 1, 1) }), (err) =>
      WalError.is(err, 'WAL_IO'),
    )
    await wal.close()
    disk.crash()
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, ents(1, 3, 1))
    await again.close()
  })

  it('a first open removes a preallocated file left by a crash before the first segment', async () => {
    const disk = new SimDisk()
    disk.mkdir('/d/wal')
    // A crash while the first segment was being cut leaves its temporary file (any content).
    const leftovers = ['0000000000000000-0000000000000000.wal.tmp', '1.tmp']
    for (const name of leftovers) {
      disk.open(`/d/wal/${name}`, { create: true }).write([new Uint8Array(300).fill(0xee)], 0)
    }
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 3, 1) })
    await wal.close()
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, ents(1, 3, 1))
    assert.deepEqual(again.recovery.repairs, [])
    await again.close()
    assert.deepEqual(
      disk.list('/d/wal').filter((n) => n.endsWith('.tmp')),
      ['1.tmp'],
      'only the preallocation of the reopened WAL',
    )
  })

  it('close stops a preallocation still running and closes its file', async () => {
    const disk = new SimDisk()
    const closed = fakePreallocation(disk, NEXT_SEGMENTS, (_real, _size, { signal }) =>
      untilAborted(signal),
    )
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 3, 1) })
    await wal.close()
    assert.deepEqual(closed, ['/d/wal/1.tmp'])
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, ents(1, 3, 1))
    await again.close()
  })

  it('a rotation close() flushes starts no preallocation, and each file is closed once', async () => {
    const disk = new SimDisk()
    const closes = new Map<string, number>()
    const open = disk.open.bind(disk)
    disk.open = (p, o) => {
      const f = open(p, o)
      const close = f.close.bind(f)
      f.close = () => {
        closes.set(f.path, (closes.get(f.path) ?? 0) + 1)
        close()
      }
      return f
    }
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 256 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 3, 1, 100) }) // fills segment 0
    const rotating = wal.append({ entries: ents(4, 3, 1, 100) })
    await wal.close()
    await rotating
    assert.equal(wal.stats.rotations, 1)
    assert.deepEqual(disk.list('/d/wal'), [
      '0000000000000000-0000000000000000.wal',
      '0000000000000001-0000000000000004.wal',
    ])
    assert.ok(
      [...closes.values()].every((n) => n === 1),
      JSON.stringify(Object.fromEntries(closes)),
    )
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, ents(1, 6, 1, 100))
    await again.close()
  })

  it('a failed preallocation fails the rotation that needs it (WAL_IO), keeping what was acked', async () => {
    const disk = new SimDisk()
    const closed = fakePreallocation(disk, NEXT_SEGMENTS, () => Promise.reject(ENOSPC()))
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 256 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 1, 1) })
    assert.deepEqual(closed, ['/d/wal/1.tmp'], 'the file is closed at once')
    // This one fills the segment; the next must rotate into the preallocated file.
    await wal.append({ entries: ents(2, 4, 1, 100) })
    await assert.rejects(
      wal.append({ entries: ents(6, 1, 1) }),
      (err) =>
        WalError.is(err, 'WAL_IO') &&
        /^wal: preallocating \/d\/wal\/1\.tmp failed: ENOSPC/.test(err.message),
    )
    await wal.close()
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, [...ents(1, 1, 1), ...ents(2, 4, 1, 100)])
    await again.close()
  })

  it('zero-fills the next segment unless segments fill faster than 4x the zeroing takes', async () => {
    const disk = new SimDisk()
    // A clock the test moves: each zero-filling preallocation takes 10 ms of it.
    let clock = 0
    const asked: [string, boolean][] = []
    fakePreallocation(disk, /\.tmp$/, async (real, size, prealloc, p) => {
      asked.push([p.slice('/d/wal/'.length), prealloc.reserveOnly === true])
      clock += prealloc.reserveOnly === true ? 1 : 10
      await real(size, prealloc)
    })
    const { logger, logs } = infoLogger()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 256, clock: () => clock, logger }
    const wal = await Wal.open(opts)
    await wal.preallocated()
    // Each batch fills a segment, so each append after the first rotates.
    const fill = (first: number) => wal.append({ entries: ents(first, 3, 1, 100) })
    const before = wal.stats.bytesWritten
    await fill(1)
    // A fill writes about 400 bytes, so a 256-byte segment fills in about 0.64 of a fill's time.
    const perFill = wal.stats.bytesWritten - before
    const segmentMs = (fillMs: number) => Math.round((fillMs * 256) / perFill)
    clock += 5 // segment 0 filled in 15 ms (a segment in about 10), under 4 x 10: reserve
    await fill(4)
    await wal.preallocated()
    clock += 29 // segment 1 in 30 ms with the 1 ms reservation (about 19): still under 4 x 10
    await fill(7)
    await wal.preallocated()
    clock += 99 // segment 2 in 100 ms (about 64): zeros again for segment 4
    await fill(10)
    await wal.preallocated()
    await wal.close()
    assert.deepEqual(asked, [
      ['0000000000000000-0000000000000000.wal.tmp', false],
      ['1.tmp', false],
      ['2.tmp', true],
      ['3.tmp', true],
      ['4.tmp', false],
    ])
    assert.deepEqual(
      logs.filter((l) => l.includes('preallocating segments')),
      [
        `wal: segments fill in ${segmentMs(15)} ms, zeroing one took 10 ms: preallocating segments by reserving their blocks, without zeros`,
        `wal: segments fill in ${segmentMs(100)} ms, zeroing one took 10 ms: preallocating segments with zeros again`,
      ],
    )
    assert.deepEqual([wal.stats.preallocations, wal.stats.zeroFilled, wal.stats.hurried], [4, 2, 0])
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, ents(1, 12, 1, 100))
    await again.close()
  })

  it('a rotation that needs the next segment before its zeros are written reserves the rest', async () => {
    const disk = new SimDisk()
    const asked: boolean[] = []
    // Zero-filling 1.tmp never ends by itself (a slow disk); reserving its blocks works.
    fakePreallocation(disk, /\/1\.tmp$/, (real, size, prealloc) => {
      asked.push(prealloc.reserveOnly === true)
      return prealloc.reserveOnly === true ? real(size, prealloc) : untilAborted(prealloc.signal)
    })
    const { logger, logs } = infoLogger()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 256, logger }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 3, 1, 100) })
    await wal.append({ entries: ents(4, 3, 1, 100) }) // rotates into 1.tmp
    assert.equal(wal.stats.rotations, 1)
    assert.deepEqual(asked, [false, true])
    assert.ok(
      logs.includes(
        'wal: /d/wal/1.tmp was needed before its zeros were written; reserved the rest',
      ),
    )
    assert.deepEqual([wal.stats.zeroFilled, wal.stats.hurried], [0, 1])
    await wal.close()
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, ents(1, 6, 1, 100))
    assert.deepEqual(again.recovery.repairs, [])
    await again.close()
  })

  it('an I/O error in a preallocation the rotation hurries fails the rotation, not retried', async () => {
    const disk = new SimDisk()
    const asked: boolean[] = []
    // The zeroing fails with EIO just as the rotation stops it.
    fakePreallocation(disk, /\/1\.tmp$/, (_real, _size, prealloc) => {
      asked.push(prealloc.reserveOnly === true)
      const eio = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
      return untilAborted(prealloc.signal, eio)
    })
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 256 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 3, 1, 100) })
    await assert.rejects(
      wal.append({ entries: ents(4, 3, 1, 100) }),
      (err) =>
        WalError.is(err, 'WAL_IO') &&
        /^wal: preallocating \/d\/wal\/1\.tmp failed: EIO/.test(err.message),
    )
    assert.deepEqual(asked, [false])
    await wal.close()
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, ents(1, 3, 1, 100))
    await again.close()
  })

  it('refuses a data dir of another node or cluster, changing nothing', async () => {
    const disk = new SimDisk()
    await writeLog({ disk, dir: '/d/wal', metadata, segmentBytes: 256 }, 4, 3)
    const names = disk.list('/d/wal')
    for (const other of [
      { nodeId: 2n, clusterId: 0xc1n },
      { nodeId: 1n, clusterId: 0xc2n },
    ]) {
      await assert.rejects(Wal.open({ disk, dir: '/d/wal', metadata: other }), (err) => {
        assert.ok(WalError.is(err, 'WAL_METADATA_MISMATCH'))
        assert.match(err.message, /belongs to node 1 of cluster c1/)
        return true
      })
    }
    assert.deepEqual(disk.list('/d/wal'), names)
  })

  it('refuses a missing segment in the middle, changing nothing', async () => {
    const disk = new SimDisk()
    await writeLog({ disk, dir: '/d/wal', metadata, segmentBytes: 128 }, 6, 3)
    const names = disk.list('/d/wal')
    assert.ok(names.length >= 3)
    disk.unlink(`/d/wal/${names[1]}`)
    await assert.rejects(Wal.open({ disk, dir: '/d/wal', metadata }), (err) => {
      assert.ok(WalError.is(err, 'WAL_MISSING_SEGMENT'))
      assert.match(err.message, /sequence 1 is missing/)
      return true
    })
    assert.equal(disk.list('/d/wal').length, names.length - 1)
  })

  it('segments a crash left before a gap are skipped when a snapshot marker covers the gap', async () => {
    // A release unlinks the segments wholly before a snapshot, then syncs the directory once; a
    // power loss may keep any subset of the unlinks, here all but the first.
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 256 }
    const wal = await Wal.open(opts)
    for (let i = 0; i < 10; i++) await wal.append({ entries: ents(1 + i * 3, 3, 1, 40) })
    await wal.append({ snapshot: { index: 25, term: 1 } })
    await wal.close()
    const names = wal.segmentNames()
    const starts = names.map((n) => parseSegmentName(n)?.index as number)
    const released = names.filter((_, i) => i + 1 < names.length && (starts[i + 1] as number) <= 25)
    assert.ok(released.length >= 3)
    for (const n of released.slice(1)) disk.unlink(`/d/wal/${n}`)
    await disk.syncDir('/d/wal')
    const { wal: again, entries } = await replay(opts)
    const first = starts[released.length] as number
    assert.deepEqual(
      entries.filter((e) => e !== undefined),
      ents(first, 30 - first + 1, 1, 40),
    )
    assert.match(again.recovery.repairs.join(), /1 segment\(s\) before .*, left by a release/)
    assert.ok(again.recovery.snapshots.some((m) => m.index === 25))
    // The next release removes the leftover.
    await again.releaseTo(25)
    assert.ok(!disk.exists(`/d/wal/${released[0]}`))
    await again.close()
    const { wal: third } = await replay(opts)
    assert.deepEqual(third.recovery.repairs, [])
    await third.close()
  })

  it(
    'keeps every batch that ends before a cut at any byte of the last segment, and none after',
    slow('a cut at every byte'),
    async () => {
      // A cut file models appends whose writes never reached the disk: bytes past the end read as
      // zeros. A batch (one group commit) is all or nothing: its entries survive exactly when its
      // commit record lies wholly before the cut.
      const dir = freshDir()
      const disk = new NodeDisk()
      const opts = { disk, dir, metadata, segmentBytes: 512 }
      const w = await writeLog(opts, 8, 3)
      const names = fs.readdirSync(dir).filter((n) => n.endsWith('.wal'))
      const lastName = names[names.length - 1] as string
      const lastSeq = Number.parseInt(lastName.slice(0, 16), 16)
      const full = fs.readFileSync(path.join(dir, lastName))
      // Where each entry record of the last segment starts, and where each batch ends.
      const starts = new Map<number, number>()
      const clean = await Wal.open(opts, (e, loc) => {
        if (locationSeq(loc) === lastSeq) starts.set(e.index, loc - lastSeq * 2 ** 32)
      })
      await clean.close()
      const batchEnds = commitEnds(full)
      const dataEnd = (batchEnds[batchEnds.length - 1] as number) + 64
      assert.ok(starts.size >= 3, 'the last segment holds several entries')
      for (let cut = 0; cut <= dataEnd; cut++) {
        fs.writeFileSync(path.join(dir, lastName), full.subarray(0, cut))
        // The header batch is synced before the segment is renamed into place: a cut into it is
        // not a torn write but a damaged segment.
        if (cut < (batchEnds[0] as number)) {
          await assert.rejects(replay(opts), (err) => WalError.is(err, 'WAL_CORRUPT'), `cut ${cut}`)
          continue
        }
        const { wal, entries } = await replay(opts)
        const kept = Math.max(...batchEnds.filter((e) => e <= cut))
        const want = w.entries.filter((e, i) => {
          const start = starts.get(e.index)
          return w.seq[i] !== lastSeq || (start !== undefined && start < kept)
        })
        assert.deepEqual(
          entries.map((e) => e.index),
          want.map((e) => e.index),
          `cut at ${cut}`,
        )
        assert.deepEqual(entries, want)
        const torn = full.subarray(kept, cut).some((b) => b !== 0)
        assert.equal(wal.recovery.repairs.length, torn ? 1 : 0, `cut at ${cut}`)
        await wal.close()
      }
    },
  )

  it(
    'a flipped bit in written data is a typed error naming file and offset, never a cut',
    slow('400 bit flips on real files'),
    async (t) => {
      // Bit rot in synced bytes. Large payloads, some of them zeros (weak batches: acknowledged
      // once a later batch proved them durable), so that sectors inside payloads are tried too.
      const dir = freshDir()
      const disk = new NodeDisk()
      const opts = { disk, dir, metadata, segmentBytes: 4096 }
      const shape: Shape = (b) => ({ size: b % 3 === 0 ? 1200 : 20, zeros: b % 4 === 1 })
      const w = await writeLog(opts, 12, 3, shape)
      const names = fs.readdirSync(dir).filter((n) => n.endsWith('.wal'))
      assert.ok(names.length >= 3, 'several segments')
      const originals = names.map((n) => fs.readFileSync(path.join(dir, n)))
      const dataEnds = originals.map((o) => commitEnds(o).pop() as number)
      const r = testRand(t)
      const rand = { intn: (n: number) => r.int(n) }
      const outcomes = { error: 0, cutAfterTheLog: 0 }
      for (let trial = 0; trial < 400; trial++) {
        const f = rand.intn(names.length)
        const original = originals[f] as Buffer
        const damaged = Buffer.from(original)
        const dataEnd = dataEnds[f] as number
        // Mostly within the records; sometimes in the preallocated zeros after them.
        const offset = rand.intn(Math.min(original.length, dataEnd + 64))
        damaged[offset] = (damaged[offset] as number) ^ (1 << rand.intn(8))
        names.forEach((n, i) =>
          fs.writeFileSync(path.join(dir, n), i === f ? damaged : originals[i]!),
        )
        const what = `flip at ${names[f]}:${offset} (data ends at ${dataEnd})`
        const inTheLog = offset < dataEnd || f < names.length - 1
        try {
          const { wal, entries } = await replay(opts)
          await wal.close()
          assert.ok(!inTheLog, `${what}: opened`)
          // Past the end of the last segment's records: cut, and nothing lost.
          assert.deepEqual(entries, w.entries, what)
          assert.equal(wal.recovery.repairs.length, 1, what)
          outcomes.cutAfterTheLog++
        } catch (err) {
          assert.ok(err instanceof WalError, `${what}: ${String(err)}`)
          assert.ok(inTheLog, `${what}: ${err.message}`)
          assert.equal(err.code, 'WAL_CORRUPT')
          assert.equal(err.file, path.join(dir, names[f] as string))
          assert.ok(err.offset !== undefined && err.offset <= offset, `${err.offset} <= ${offset}`)
          outcomes.error++
        }
      }
      assert.ok(outcomes.error > 300 && outcomes.cutAfterTheLog > 0, JSON.stringify(outcomes))
      t.diagnostic(`bit flips: ${JSON.stringify(outcomes)}`)
    },
  )

  it('a torn batch whose sectors reached the disk out of order is cut, not refused', async () => {
    // The case: a large batch, unsynced, with one sector in the middle missing and the
    // sectors after it written. Everything acknowledged before it stays.
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 }
    const wal = await Wal.open(opts)
    for (let b = 0; b < 4; b++) await wal.append({ entries: ents(1 + b * 10, 10, 1, 300) })
    const seg = `/d/wal/${wal.segmentNames()[0]}`
    const start = logEnd(disk.contents(seg))
    disk.syncDelay = () => new Promise(() => {}) // the next fdatasync never returns
    void wal.append({ entries: ents(41, 140, 1, 1000) }) // about 143 KB
    await new Promise((r) => setImmediate(r))
    const bytes = disk.contents(seg)
    const hole = (Math.floor(start / 512) + 100) * 512
    bytes.fill(0, hole, hole + 512)
    disk.setContents(seg, bytes)
    disk.crash()
    disk.syncDelay = () => Promise.resolve()
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(entries, ents(1, 40, 1, 300))
    assert.equal(again.recovery.repairs.length, 1)
    assert.match(
      again.recovery.repairs[0] as string,
      /sector piece at offset \d+ was never written/,
    )
    await again.append({ entries: ents(41, 1, 1) })
    await again.close()
    const { wal: third, entries: after } = await replay(opts)
    assert.deepEqual(after, [...ents(1, 40, 1, 300), ...ents(41, 1, 1)])
    assert.deepEqual(third.recovery.repairs, [])
    await third.close()
  })

  it('a sector of synced data that reads as zeros is corruption when a later batch proves it durable', async () => {
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 }
    const wal = await Wal.open(opts)
    const seg = `/d/wal/${wal.segmentNames()[0]}`
    let before = 0
    for (let b = 0; b < 6; b++) {
      if (b === 3) before = logEnd(disk.contents(seg))
      await wal.append({ entries: ents(1 + b * 10, 10, 1, 300) })
    }
    await wal.close()
    const bytes = disk.contents(seg)
    // A whole sector inside batch 3 (acknowledged; batches 4 and 5 were written after).
    const hole = (Math.floor(before / 512) + 2) * 512
    bytes.fill(0, hole, hole + 512)
    disk.setContents(seg, bytes)
    await assert.rejects(replay(opts), (err) => {
      assert.ok(WalError.is(err, 'WAL_CORRUPT'))
      assert.match(err.message, /shows the segment was durable up to offset \d+/)
      assert.equal(err.file, seg)
      return true
    })
  })

  it('a weak batch is acknowledged once a later batch is durable: one more fdatasync', async () => {
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 2, 1, 100) })
    let syncs = disk.stats.syncs
    await wal.append({ entries: ents(3, 2, 1, 2048, 0) }) // 2 KiB of zeros: weak
    assert.equal(disk.stats.syncs - syncs, 2, 'its own fdatasync, then an empty batch')
    syncs = disk.stats.syncs
    await wal.append({ entries: ents(5, 2, 1, 2048) })
    assert.equal(disk.stats.syncs - syncs, 1)
    // Appends behind a weak one resolve after it, in order.
    const order: number[] = []
    await Promise.all([
      wal.append({ entries: ents(7, 1, 1, 4096, 0) }).then(() => order.push(7)),
      wal.append({ entries: ents(8, 1, 1) }).then(() => order.push(8)),
    ])
    assert.deepEqual(order, [7, 8])
    await wal.close()
    const { wal: again, entries } = await replay(opts)
    assert.deepEqual(
      entries.map((e) => e.index),
      [1, 2, 3, 4, 5, 6, 7, 8],
    )
    await again.close()
  })

  it('damage in a weak batch never proven durable is cut; once proven, it is corruption', async () => {
    const disk = new SimDisk()
    const opts = { disk, dir: '/d/wal', metadata, segmentBytes: 1 << 20 }
    const wal = await Wal.open(opts)
    await wal.append({ entries: ents(1, 2, 1, 100) })
    const seg = `/d/wal/${wal.segmentNames()[0]}`
    const start = logEnd(disk.contents(seg))
    // Its own fdatasync returns; the proof's never does: the append is not acknowledged.
    let syncs = 0
    disk.syncDelay = () => (syncs++ === 0 ? Promise.resolve() : new Promise(() => {}))
    let acked = false
    void wal.append({ entries: ents(3, 1, 1, 2048, 0) }).then(() => (acked = true))
    for (let k = 0; k < 10; k++) await new Promise((r) => setImmediate(r))
    assert.equal(acked, false)
    disk.crash() // keeps the weak batch (synced), loses the empty batch that would prove it
    disk.syncDelay = () => Promise.resolve()
    // A flipped bit among its zeros: a lost sector there would read the same.
    const flipped = disk.contents(seg)
    assert.ok(logEnd(flipped) - start > 2048, 'the weak batch is there')
    assert.equal(commitEnds(flipped).length, 3, 'header, batch, weak batch: no proof')
    flipped[start + 1024] = 0x10
    disk.setContents(seg, flipped)
    const { wal: cut, entries } = await replay(opts)
    assert.deepEqual(entries, ents(1, 2, 1, 100))
    assert.match(cut.recovery.repairs.join(), /in a weak batch never proven durable/)
    await cut.close()
    // The same damage once an append there was acknowledged (so proven): refused.
    const again = await Wal.open(opts)
    await again.append({ entries: ents(3, 1, 1, 2048, 0) })
    await again.close()
    const proven = disk.contents(seg)
    proven[start + 1024] = 0x10
    disk.setContents(seg, proven)
    await assert.rejects(replay(opts), (err) => {
      assert.ok(WalError.is(err, 'WAL_CORRUPT'))
      assert.match(err.message, /shows the segment was durable/)
      return true
    })
  })
})
