/**
 * `npm run bench -- wal [--size=N]`: the WAL's append path and recovery on the real disk, each
 * beside a raw node:fs baseline of the same bytes.
 *
 * Cost sketch (per commit): one pwrite of the batch (memcpy into the page cache, ~µs per 100 KiB),
 * one fdatasync (the device flush: ~0.1-10 ms depending on the disk, and it dominates small
 * batches), plus our CPU: protobuf encoding and CRC-32C of each entry (~1 µs per KiB). So small
 * batches are fsync-bound for both the WAL and the baseline, and large ones are bandwidth-bound.
 * The WAL's fdatasync is the cheaper of the two where the file system journals: the baseline
 * appends (a new size and new blocks: a journal commit per fdatasync), the WAL overwrites a
 * segment preallocated with written zeros (the data alone), which it wrote once before.
 *
 * Appends: for 1, 16 and 256 entries per batch of 128 B, 1 KiB and 64 KiB, batches are appended
 * one after another (each awaited) and timed from append() to durable. The baseline writes the
 * same number of bytes per batch to a plain file with writeSync + fdatasync. Each WAL is timed
 * once the background preallocation of its next segment has finished, so these rows leave the
 * zeroing out. The wal/raw column is the ratio of the total times, `paired` the median of the
 * per-batch ratios (robust to the outliers of a shared machine). Then: the rows pipelined; 64
 * concurrent appenders (group commit: many appends per fdatasync, never more than one fdatasync
 * per commit); the batched rows three ways (fallocate or zeros, the raw loop appending or
 * overwriting zeros); a bulk load over four segments with the preallocation timed in; the cost
 * of a fresh WAL's preallocation. Recovery: a WAL of 64 MiB x size (--size=16 for 1 GiB) is
 * opened and replayed, beside reading the same files raw; both through a warm page cache.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import { NodeDisk, type Preallocation } from '../../src/io/index.js'
import type { Disk, DiskFile } from '../../src/io/index.js'
import { entry, type Entry } from '../../src/raft/index.js'
import { SEGMENT_BYTES_DEFAULT, Wal } from '../../src/wal/index.js'
import { NodeDiskWrapper } from './node-disk-wrapper.js'

const MiB = 1024 * 1024

/**
 * The benchmark's scale. `quick` (bench.test.ts, so that the benchmark cannot rot) runs every
 * case on 1 MiB segments with a few batches each: its figures mean nothing.
 */
const FULL_SCALE = { quick: false, segmentBytes: SEGMENT_BYTES_DEFAULT, maxBatches: Infinity }
const scale = { ...FULL_SCALE }
const capped = (n: number) => Math.min(n, scale.maxBatches)
const metadata = { nodeId: 1n, clusterId: 1n }

/** A Disk that counts fdatasyncs, to check one per group commit. */
class CountingDisk extends NodeDiskWrapper {
  syncs = 0
  protected adapt(f: DiskFile): DiskFile {
    const sync = f.sync.bind(f)
    f.sync = () => {
      this.syncs++
      return sync()
    }
    return f
  }
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0
}

function batchOf(first: number, n: number, size: number): Entry[] {
  // Never zeros: a batch with a sector of zeros is weak, and waits for one more fdatasync.
  const data = new Uint8Array(size).fill(1 + (first % 255))
  return Array.from({ length: n }, (_, k) => entry({ index: first + k, term: 1, data }))
}

const now = () => Number(process.hrtime.bigint()) / 1e6

function fdatasync(fd: number): Promise<void> {
  return new Promise((res, rej) => fs.fdatasync(fd, (err) => (err ? rej(err) : res())))
}

/**
 * sync(1): writes back whatever the earlier cases left and lets the file system finish freeing
 * their deleted files (with the `discard` mount option, a journal commit after a deletion issues
 * the discards, hundreds of MiB after a few cases), so that a phase timed alone does not pay them.
 */
function settle(): void {
  if (scale.quick) return // no figures to protect, and sync(1) would slow the test suite
  execFileSync('sync')
}

/**
 * Opens a fresh WAL and waits for the background preallocation of its next segment, so that a
 * row times the appends alone (preallocationCost and bulkLoadCase time the zeroing), then lets
 * the disk settle.
 */
async function openSettled(disk: Disk, dir: string): Promise<Wal> {
  const wal = await Wal.open({ disk, dir, metadata, segmentBytes: scale.segmentBytes })
  await wal.preallocated()
  settle()
  return wal
}

/** Where the raw baseline writes: appended to a new file, or over a file of written zeros. */
type RawTarget = 'append' | 'zeros'

/** The raw baseline's file; for 'zeros', `bytes` of zeros written and synced first. */
async function rawFile(file: string, target: RawTarget, bytes: number): Promise<number> {
  if (target === 'zeros') {
    const f = new NodeDisk({ preallocation: 'zeros' }).open(file, { create: true })
    await f.preallocate(bytes)
    f.close()
  }
  return fs.openSync(file, target === 'zeros' ? 'r+' : 'w')
}

/**
 * One case: `batches` appends to the WAL, each followed by a raw write+fdatasync of the same
 * number of bytes to a plain file. Interleaving them makes both see the same disk (other
 * processes share it), so their ratio means something on a noisy machine.
 */
async function appendCase(
  dir: string,
  perBatch: number,
  size: number,
  batches: number,
  preallocation: Preallocation = 'zeros',
  rawTarget: RawTarget = 'append',
) {
  const disk = new CountingDisk({ preallocation })
  const wal = await openSettled(disk, dir)
  // Room for every batch: a record head, entry head and padding take less than 64 bytes each.
  const rawBytes = batches * (perBatch * (size + 64) + 64)
  const rawFd = await rawFile(path.join(dir, 'raw.dat'), rawTarget, rawBytes)
  settle()
  const walMs: number[] = []
  const rawMs: number[] = []
  const syncsBefore = disk.syncs
  let rawPos = 0
  let rawBuf = new Uint8Array(0)
  for (let b = 0; b < batches; b++) {
    const ents = batchOf(1 + b * perBatch, perBatch, size)
    const bytesBefore = wal.stats.bytesWritten
    let t = now()
    await wal.append({ entries: ents, hardState: { term: 1, vote: 1n, commit: b * perBatch } })
    walMs.push(now() - t)
    const n = wal.stats.bytesWritten - bytesBefore
    if (rawBuf.length !== n) rawBuf = new Uint8Array(n).fill(7)
    t = now()
    fs.writeSync(rawFd, rawBuf, 0, n, rawPos)
    rawPos += n
    await fdatasync(rawFd)
    rawMs.push(now() - t)
  }
  fs.closeSync(rawFd)
  const { commits, rotations } = wal.stats
  await wal.close()
  return {
    walMs,
    rawMs,
    commits,
    rotations,
    // Counted by the disk. A rotation syncs the new segment's header once, outside any commit.
    commitSyncs: disk.syncs - syncsBefore - rotations,
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)

/**
 * The throughput case: two batches in flight, as a raft node with AsyncStorageWrites keeps its
 * disk busy. Each batch is appended (or, raw, written) while the previous one's fdatasync runs,
 * and the next fdatasync starts when that one returns; one fdatasync per batch either way. The
 * WAL's encoding and crc then overlap the device flush, as the raw baseline's write does. Rounds
 * of `perRound` batches alternate between the two, so both see the same disk.
 */
async function pipelinedCase(
  dir: string,
  perBatch: number,
  size: number,
  rounds: number,
  perRound: number,
) {
  const disk = new CountingDisk()
  const wal = await openSettled(disk, dir)
  const rawFd = fs.openSync(path.join(dir, 'raw.dat'), 'w')
  const walMs: number[] = []
  const rawMs: number[] = []
  const commitsBefore = wal.stats.commits
  let next = 1
  let rawPos = 0
  for (let round = 0; round < rounds; round++) {
    const batches = Array.from({ length: perRound }, () => {
      const b = batchOf(next, perBatch, size)
      next += perBatch
      return b
    })
    const bytesBefore = wal.stats.bytesWritten
    let t = now()
    let prev: Promise<void> | undefined
    for (const entries of batches) {
      const p = wal.append({ entries, hardState: { term: 1, vote: 1n, commit: next } })
      await prev
      prev = p
    }
    await prev
    walMs.push(now() - t)
    const n = Math.round((wal.stats.bytesWritten - bytesBefore) / perRound)
    const rawBuf = new Uint8Array(n).fill(7)
    t = now()
    let syncing: Promise<void> | undefined
    for (let b = 0; b < perRound; b++) {
      fs.writeSync(rawFd, rawBuf, 0, n, rawPos)
      rawPos += n
      await syncing
      syncing = fdatasync(rawFd)
    }
    await syncing
    rawMs.push(now() - t)
  }
  fs.closeSync(rawFd)
  const commits = wal.stats.commits - commitsBefore
  await wal.close()
  return { walMs, rawMs, commits }
}

/**
 * The median over batches of raw time / WAL time, each WAL batch against the raw write that
 * follows it. On a shared machine a few batches that waited for the CPU or the disk swing the
 * ratio of sums (the wal/raw column); the median of pairs is what a typical batch costs.
 */
function pairedRatio(walMs: number[], rawMs: number[]): number {
  return percentile(
    walMs.map((w, i) => (rawMs[i] as number) / w),
    50,
  )
}

async function concurrentAppends(dir: string, appenders: number, perAppender: number) {
  const disk = new CountingDisk()
  const wal = await openSettled(disk, dir)
  const before = disk.syncs
  const t0 = now()
  let next = 1
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      for (let i = 0; i < perAppender; i++) await wal.append({ entries: batchOf(next++, 1, 128) })
    }),
  )
  const seconds = (now() - t0) / 1000
  const { commits } = wal.stats
  await wal.close()
  return {
    seconds,
    commits,
    fdatasyncs: disk.syncs - before,
    appends: appenders * perAppender,
  }
}

/**
 * What preallocation costs: opening a fresh WAL zeroes its first segment (awaited), then the next
 * one in the background. Each segment's bytes are written twice, once as zeros.
 */
async function preallocationCost(dir: string) {
  let t = now()
  const wal = await Wal.open({
    disk: new NodeDisk(),
    dir,
    metadata,
    segmentBytes: scale.segmentBytes,
  })
  const openMs = now() - t
  t = now()
  await wal.preallocated()
  const nextMs = now() - t
  await wal.close()
  return { openMs, nextMs }
}

/**
 * A bulk load, pipelined: the WAL over `segments` segments with its preallocation timed in, from open on (the
 * second segment is zero-filled in the background meanwhile; later ones as the WAL chooses, see
 * SegmentPipeline.choose in src/wal/segments.ts) until the last batch is durable and the last preallocation is done.
 * Then, not interleaved (the zeroing would slow it too), the raw loop appends the same batches to
 * a new file. `rounds` alternations; each returns both times.
 */
async function bulkLoadCase(
  dir: string,
  perBatch: number,
  size: number,
  segments: number,
  rounds: number,
) {
  const out: {
    walMs: number
    rawMs: number
    bytes: number
    rotations: number
    zeroFilled: number
    hurried: number
  }[] = []
  for (let round = 0; round < rounds; round++) {
    const walDir = path.join(dir, `w${round}`)
    settle()
    const wal = await Wal.open({
      disk: new NodeDisk(),
      dir: walDir,
      metadata,
      segmentBytes: scale.segmentBytes,
    })
    const end = segments * scale.segmentBytes - perBatch * (size + 64) - 4096
    let batches = 0
    let t = now()
    // Two batches in flight, as a raft node with AsyncStorageWrites keeps its disk busy.
    let prev: Promise<void> | undefined
    while (batches === 0 || wal.stats.bytesWritten < end) {
      const p = wal.append({ entries: batchOf(1 + batches * perBatch, perBatch, size) })
      batches++
      await prev
      prev = p
    }
    await prev
    await wal.preallocated()
    const walMs = now() - t
    const { rotations, bytesWritten, zeroFilled, hurried } = wal.stats
    await wal.close()
    fs.rmSync(walDir, { recursive: true })
    const rawPath = path.join(dir, `raw${round}.dat`)
    const fd = fs.openSync(rawPath, 'w')
    const n = Math.round(bytesWritten / batches)
    const buf = new Uint8Array(n).fill(7)
    settle()
    t = now()
    let syncing: Promise<void> | undefined
    for (let b = 0; b < batches; b++) {
      fs.writeSync(fd, buf, 0, n, b * n)
      await syncing
      syncing = fdatasync(fd)
    }
    await syncing
    const rawMs = now() - t
    fs.closeSync(fd)
    fs.rmSync(rawPath)
    out.push({ walMs, rawMs, bytes: bytesWritten, rotations, zeroFilled, hurried })
  }
  return out
}

async function recovery(dir: string, totalBytes: number) {
  const wal = await Wal.open({
    disk: new NodeDisk(),
    dir,
    metadata,
    segmentBytes: scale.segmentBytes,
  })
  const perBatch = 256
  const size = 1024
  let written = 0
  for (let b = 0; written < totalBytes; b++) {
    await wal.append({ entries: batchOf(1 + b * perBatch, perBatch, size) })
    written += perBatch * size
  }
  const logBytes = wal.stats.bytesWritten
  await wal.close()
  const files = fs.readdirSync(dir).filter((n) => n.endsWith('.wal'))
  const t0 = now()
  let rawBytes = 0
  for (const f of files) rawBytes += fs.readFileSync(path.join(dir, f)).length
  const rawMs = now() - t0
  const hash = createHash('sha256')
  let count = 0
  const t1 = now()
  const reopened = await Wal.open(
    { disk: new NodeDisk(), dir, metadata, segmentBytes: scale.segmentBytes },
    (e) => {
      count++
      if ((e.index & 0xfff) === 0) hash.update(`${e.index}:${e.term}:${e.data.length};`)
    },
  )
  const openMs = now() - t1
  await reopened.close()
  return {
    files: files.length,
    logBytes,
    rawBytes,
    rawMs,
    openMs,
    count,
    hash: hash.digest('hex').slice(0, 12),
  }
}

function fmtBytes(n: number): string {
  const r = (x: number) => Math.round(x * 10) / 10
  return n >= MiB ? `${r(n / MiB)} MiB` : n >= 1024 ? `${r(n / 1024)} KiB` : `${n} B`
}

const fmt = (v: number, digits = 0) =>
  v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

export async function runWalBench(size: number, quick = false): Promise<string> {
  Object.assign(scale, quick ? { quick, segmentBytes: MiB, maxBatches: 3 } : FULL_SCALE)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pontoon-wal-bench-'))
  const out: string[] = []
  try {
    out.push(
      `${'case'.padEnd(20)} ${'entries/s'.padStart(11)} ${'MiB/s'.padStart(8)} ` +
        `${'fsyncs/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}  ` +
        `${'raw MiB/s'.padStart(9)} ${'raw p50'.padStart(8)} ${'wal/raw'.padStart(8)} ` +
        `${'paired'.padStart(7)}  fdatasyncs/commit`,
    )
    let n = 0
    for (const perBatch of [1, 16, 256]) {
      for (const entryBytes of [128, 1024, 64 * 1024]) {
        const batchBytes = perBatch * entryBytes
        const batches = capped(Math.max(10, Math.min(1000, Math.floor((32 * MiB) / batchBytes))))
        const dir = path.join(root, `a${n++}`)
        const r = await appendCase(dir, perBatch, entryBytes, batches)
        fs.rmSync(dir, { recursive: true })
        const seconds = sum(r.walMs) / 1000
        const rawSeconds = sum(r.rawMs) / 1000
        const entries = batches * perBatch
        const payloadMiB = (entries * entryBytes) / MiB
        const name = `${perBatch} x ${fmtBytes(entryBytes)}`
        out.push(
          `${name.padEnd(20)} ${fmt(entries / seconds).padStart(11)} ${fmt(payloadMiB / seconds, 1).padStart(8)} ` +
            `${fmt(r.commitSyncs / seconds).padStart(9)} ${fmt(percentile(r.walMs, 50), 2).padStart(8)} ` +
            `${fmt(percentile(r.walMs, 99), 2).padStart(8)}  ${fmt(payloadMiB / rawSeconds, 1).padStart(9)} ` +
            `${fmt(percentile(r.rawMs, 50), 2).padStart(8)} ${fmt(rawSeconds / seconds, 2).padStart(8)} ` +
            `${fmt(pairedRatio(r.walMs, r.rawMs), 2).padStart(7)}  ` +
            `${fmt(r.commitSyncs / r.commits, 2)} (+${r.rotations} for ${r.rotations} rotations)`,
        )
      }
    }
    out.push(
      'pipelined (two batches in flight: each written while the previous fdatasync runs)',
      `${'case'.padEnd(20)} ${'entries/s'.padStart(11)} ${'MiB/s'.padStart(8)} ` +
        `${'raw MiB/s'.padStart(9)} ${'wal/raw'.padStart(8)} ${'paired'.padStart(7)}  commits/batches`,
    )
    for (const perBatch of [16, 256]) {
      for (const entryBytes of [128, 1024, 64 * 1024]) {
        const batchBytes = perBatch * entryBytes
        const perRound = capped(Math.max(4, Math.min(20, Math.floor((2 * MiB) / batchBytes))))
        const rounds = capped(
          Math.max(3, Math.min(10, Math.floor((32 * MiB) / (batchBytes * perRound)))),
        )
        const dir = path.join(root, `p${n++}`)
        const r = await pipelinedCase(dir, perBatch, entryBytes, rounds, perRound)
        fs.rmSync(dir, { recursive: true })
        const seconds = sum(r.walMs) / 1000
        const rawSeconds = sum(r.rawMs) / 1000
        const entries = rounds * perRound * perBatch
        const payloadMiB = (entries * entryBytes) / MiB
        const name = `${perBatch} x ${fmtBytes(entryBytes)}`
        out.push(
          `${name.padEnd(20)} ${fmt(entries / seconds).padStart(11)} ${fmt(payloadMiB / seconds, 1).padStart(8)} ` +
            `${fmt(payloadMiB / rawSeconds, 1).padStart(9)} ${fmt(rawSeconds / seconds, 2).padStart(8)} ` +
            `${fmt(pairedRatio(r.walMs, r.rawMs), 2).padStart(7)}  ${r.commits}/${rounds * perRound}`,
        )
      }
    }
    const c = await concurrentAppends(path.join(root, 'c'), 64, capped(16))
    out.push(
      `group commit: ${c.appends} appends of 1 x 128 B from 64 concurrent callers -> ` +
        `${c.commits} commits, ${c.fdatasyncs} fdatasyncs (${fmt(c.fdatasyncs / c.commits, 2)} per commit), ` +
        `${fmt(c.appends / c.commits, 1)} appends per commit, ${fmt(c.appends / c.seconds)} appends/s`,
    )
    out.push(
      'the batched sequential rows three ways in one run (wal/raw, paired): the WAL preallocating by',
      "fallocate (etcd's way: unwritten blocks) or by written zeros (the default), against the raw",
      'loop appending to a new file, and the WAL with zeros against the raw loop overwriting zeros',
      "(the same device work: what is left is the WAL's own cost)",
      `${'case'.padEnd(14)} ${'fallocate/append'.padStart(16)} ${'zeros/append'.padStart(13)} ${'zeros/zeros'.padStart(12)}`,
    )
    for (const perBatch of [16, 256]) {
      for (const entryBytes of [128, 1024]) {
        const cells = []
        for (const [mode, target] of [
          ['fallocate', 'append'],
          ['zeros', 'append'],
          ['zeros', 'zeros'],
        ] as const) {
          const dir = path.join(root, `f${n++}`)
          const r = await appendCase(dir, perBatch, entryBytes, capped(200), mode, target)
          fs.rmSync(dir, { recursive: true })
          const ratio = sum(r.rawMs) / sum(r.walMs)
          cells.push(`${fmt(ratio, 2)}, ${fmt(pairedRatio(r.walMs, r.rawMs), 2)}`)
        }
        const [a, b, c] = cells as [string, string, string]
        out.push(
          `${`${perBatch} x ${fmtBytes(entryBytes)}`.padEnd(14)} ${a.padStart(16)} ` +
            `${b.padStart(13)} ${c.padStart(12)}`,
        )
      }
    }
    out.push(
      'bulk load: four segments of pipelined batches from open on, the background preallocation',
      'timed in (the next segment zero-filling from open on; later ones as the WAL chooses), then the raw loop',
      'appending the same batches; two rounds',
    )
    for (const [perBatch, entryBytes] of [
      [256, 1024],
      [256, 64 * 1024],
    ] as const) {
      const dir = path.join(root, `s${n++}`)
      fs.mkdirSync(dir)
      const rounds = await bulkLoadCase(dir, perBatch, entryBytes, 4, capped(2))
      fs.rmSync(dir, { recursive: true })
      const cells = rounds.map(
        (r) =>
          `${fmt(r.bytes / MiB / (r.walMs / 1000))} against ${fmt(r.bytes / MiB / (r.rawMs / 1000))} MiB/s ` +
          `(${fmt(r.rawMs / r.walMs, 2)}; ${r.rotations} rotations, ${r.zeroFilled} zero-filled, ` +
          `${r.hurried} hurried)`,
      )
      out.push(`${`${perBatch} x ${fmtBytes(entryBytes)}`.padEnd(14)} ${cells.join('; ')}`)
    }
    const pre = await preallocationCost(path.join(root, 'z'))
    out.push(
      `preallocation: opening a fresh WAL (zeroing its first ${fmtBytes(scale.segmentBytes)} segment) ` +
        `${fmt(pre.openMs)} ms, then the next segment's, in the background, done ${fmt(pre.nextMs)} ms later ` +
        `(${fmt(scale.segmentBytes / MiB / (pre.nextMs / 1000))} MiB/s)`,
    )
    const rec = await recovery(path.join(root, 'r'), scale.segmentBytes * size)
    out.push(
      `recovery: ${fmtBytes(rec.logBytes)} of records in ${rec.files} segment files ` +
        `(${fmtBytes(rec.rawBytes)} with preallocation), ${fmt(rec.count)} entries: ` +
        `open+replay ${fmt(rec.openMs)} ms (${fmt(rec.rawBytes / MiB / (rec.openMs / 1000))} MiB/s), ` +
        `raw read ${fmt(rec.rawMs)} ms (${fmt(rec.rawBytes / MiB / (rec.rawMs / 1000))} MiB/s), ` +
        `ratio ${fmt(rec.openMs / rec.rawMs, 1)}x; warm page cache; hash=${rec.hash}`,
    )
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
  return out.join('\n') + '\n'
}
