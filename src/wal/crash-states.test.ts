// Crash states of a traced WalStorage workload, as an auditor would try them. The workload
// (appends of many sizes, some of zeros, overwrites of the unacknowledged tail, hard states,
// snapshots, compaction and so segment release, several saves in flight) runs on a SimDisk
// through a disk that records every call a power loss cares about: each write and truncation,
// the start and end of each fdatasync, each create, rename, unlink and mkdir, the start and end
// of each directory sync, and each acknowledgement.
//
// A crash state is the trace cut after some event, then what a power loss may leave of it, built
// by a model of its own here (not SimDisk's): everything whose sync ended, and of the rest any
// subset of the 512-byte sectors or 4 KiB pages of each unsynced write, in any order, or a prefix
// of them, and any subset of the unsynced name operations (a directory not kept takes everything
// under it). The state is written to a fresh SimDisk and opened with WalStorage.open, which must
// succeed, and then hold, for some save k at or after the last acknowledged one and issued before
// the cut: exactly the log and HardState that saves 1..k left, and at least the newest snapshot
// acknowledged. So nothing acknowledged is lost and nothing never written appears.
//
// CRASH_STATES states run in `npm test` (a few seconds); raise it with WAL_CRASH_STATES=N. The
// workload and the crash choices come from the suite's seed (TEST_SEED, test-support/seed.ts).

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { dirName, type Disk, type DiskFile, type PreallocateOptions } from '../io/index.js'
import { SimDisk } from '../io/index.js'
import { entry, type Entry, type HardState } from '../raft/index.js'
import { slow } from '../../test-support/quick.js'
import { testRand } from '../../test-support/seed.js'
import { WalStorage, type WalStorageOptions } from './wal-storage.js'

const CRASH_STATES = Number(process.env.WAL_CRASH_STATES ?? 2000)
const SECTOR = 512
const PAGE = 4096

type Event =
  | { k: 'mkdir'; path: string }
  | { k: 'create'; path: string; ino: number }
  | { k: 'write'; ino: number; pos: number; data: Uint8Array }
  | { k: 'truncate'; ino: number; size: number }
  | { k: 'sync'; ino: number; id: number }
  | { k: 'synced'; id: number }
  | { k: 'rename'; from: string; to: string; ino: number }
  | { k: 'unlink'; path: string }
  | { k: 'syncDir'; dir: string; id: number }
  | { k: 'syncedDir'; id: number }
  | { k: 'issue'; save: number }
  | { k: 'ack'; save: number }
  | { k: 'ackSnap'; index: number }

/** A Disk over a SimDisk that records what it is asked to do. */
class TracingDisk implements Disk {
  readonly events: Event[] = []
  private readonly inos = new Map<string, number>()
  private nextIno = 0
  private nextSync = 0

  constructor(private readonly inner: SimDisk) {}

  open(path: string, opts: { create?: boolean } = {}): DiskFile {
    const existed = this.inner.exists(path)
    const f = this.inner.open(path, opts)
    if (!existed) {
      const ino = this.nextIno++
      this.inos.set(path, ino)
      this.events.push({ k: 'create', path, ino })
    }
    return new TracingFile(this, f, this.inos.get(path) as number)
  }
  list(dir: string): string[] {
    return this.inner.list(dir)
  }
  exists(path: string): boolean {
    return this.inner.exists(path)
  }
  mkdir(dir: string): void {
    const missing: string[] = []
    for (let d = dir; !this.inner.exists(d); d = dirName(d)) missing.push(d)
    for (const d of missing.reverse()) this.events.push({ k: 'mkdir', path: d })
    this.inner.mkdir(dir)
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to)
    const ino = this.inos.get(from) as number
    this.inos.delete(from)
    this.inos.set(to, ino)
    this.events.push({ k: 'rename', from, to, ino })
  }
  unlink(path: string): void {
    this.inner.unlink(path)
    this.inos.delete(path)
    this.events.push({ k: 'unlink', path })
  }
  async syncDir(dir: string): Promise<void> {
    const id = this.nextSync++
    this.events.push({ k: 'syncDir', dir, id })
    await this.inner.syncDir(dir)
    this.events.push({ k: 'syncedDir', id })
  }
  syncId(): number {
    return this.nextSync++
  }
}

class TracingFile implements DiskFile {
  constructor(
    private readonly disk: TracingDisk,
    private readonly inner: DiskFile,
    private readonly ino: number,
  ) {}
  get path(): string {
    return this.inner.path
  }
  size(): number {
    return this.inner.size()
  }
  read(buf: Uint8Array, position: number): number {
    return this.inner.read(buf, position)
  }
  write(chunks: readonly Uint8Array[], position: number): void {
    this.inner.write(chunks, position)
    this.disk.events.push({ k: 'write', ino: this.ino, pos: position, data: Buffer.concat(chunks) })
  }
  truncate(size: number): void {
    this.inner.truncate(size)
    this.disk.events.push({ k: 'truncate', ino: this.ino, size })
  }
  async sync(): Promise<void> {
    const id = this.disk.syncId()
    this.disk.events.push({ k: 'sync', ino: this.ino, id })
    await this.inner.sync()
    this.disk.events.push({ k: 'synced', id })
  }
  /** The Disk contract's preallocation: extend (reading as zeros), then sync. */
  async preallocate(size: number, _opts?: PreallocateOptions): Promise<void> {
    if (this.size() >= size) return
    this.truncate(size)
    await this.sync()
  }
  close(): void {
    this.inner.close()
  }
}

// --- The workload -------------------------------------------------------------------------------

interface Workload {
  events: Event[]
  /** logs[k]: "term/data" of each entry 1..last after save k; hardStates[k]: the HardState. */
  logs: string[][]
  hardStates: HardState[]
  snapshots: Map<number, Uint8Array>
}

const tag = (e: Entry) => `${e.term}/${Buffer.from(e.data).toString('base64')}`

async function runWorkload(rand: (n: number) => number): Promise<Workload> {
  const sim = new SimDisk()
  const disk = new TracingDisk(sim)
  const opts: WalStorageOptions = {
    disk,
    dir: '/data/member',
    nodeId: 1n,
    clusterId: 7n,
    segmentBytes: 4096,
    cacheEntriesMax: 8,
    snapshotsKept: 2,
  }
  const s = await WalStorage.open(opts)
  const logs: string[][] = [[]]
  const hardStates: HardState[] = [{ term: 0, vote: 0n, commit: 0 }]
  const snapshots = new Map<number, Uint8Array>()
  let term = 1
  let commit = 0
  let snapIndex = 0
  const inflight: Promise<unknown>[] = []
  for (let k = 1; k <= 70; k++) {
    const log = logs[k - 1] as string[]
    const hs = { ...(hardStates[k - 1] as HardState) }
    const op = rand(10)
    let w: { entries?: Entry[]; hardState?: HardState } = {}
    let next = log
    if (op < 8) {
      // Entries: mostly appended, sometimes overwriting the uncommitted tail.
      const from =
        rand(4) === 0 ? commit + 1 + rand(Math.max(1, log.length - commit)) : log.length + 1
      const start = Math.min(from, log.length + 1)
      if (start <= log.length) term++
      const sizes = [0, 16, 100, 700, 1500, 3000]
      const batch = Array.from({ length: 1 + rand(6) }, (_, j) => {
        const size = sizes[rand(sizes.length)] as number
        // Some payloads are zeros (weak batches), the rest a byte pattern.
        const fill = rand(5) === 0 ? 0 : 1 + ((k * 7 + j) % 250)
        return entry({ index: start + j, term, data: new Uint8Array(size).fill(fill) })
      })
      next = log.slice(0, start - 1).concat(batch.map(tag))
      w.entries = batch
      if (rand(2) === 0) {
        commit = Math.max(commit, Math.min(start - 1, next.length - rand(3)))
        Object.assign(hs, { term, vote: 1n, commit })
      }
      if (rand(2) === 0 || hs.term !== (hardStates[k - 1] as HardState).term)
        w.hardState = { ...hs }
    } else {
      term++
      Object.assign(hs, { term, vote: BigInt(1 + rand(3)) })
      w = { hardState: { ...hs } }
    }
    const hardState = w.hardState ?? (hardStates[k - 1] as HardState)
    logs.push(next)
    hardStates.push({ ...hardState })
    disk.events.push({ k: 'issue', save: k })
    inflight.push(s.save(w).then(() => disk.events.push({ k: 'ack', save: k })))
    if (rand(6) === 0 && commit > snapIndex) {
      snapIndex = commit
      const data = new Uint8Array([k, snapIndex & 0xff])
      snapshots.set(snapIndex, data)
      const at = snapIndex
      inflight.push(
        s.createSnapshot(at, null, data).then(() => disk.events.push({ k: 'ackSnap', index: at })),
      )
      if (rand(2) === 0) inflight.push(s.compact(at))
    }
    if (rand(3) === 0) await Promise.all(inflight.splice(0))
  }
  await Promise.all(inflight)
  await s.close()
  return { events: disk.events, logs, hardStates, snapshots }
}

// --- What a power loss leaves of a trace prefix --------------------------------------------------

type FileOp = { k: 'write'; pos: number; data: Uint8Array } | { k: 'truncate'; size: number }
type NameOp = { dir: string } & (
  | { k: 'link'; path: string; ino: number }
  | { k: 'unlink'; path: string }
  | { k: 'rename'; from: string; to: string; ino: number }
  | { k: 'mkdir'; path: string }
)

interface Fs {
  files: Map<string, number>
  dirs: Set<string>
}

function applyFileOp(buf: Uint8Array, op: FileOp): Uint8Array {
  if (op.k === 'truncate') {
    const out = new Uint8Array(op.size)
    out.set(buf.subarray(0, Math.min(op.size, buf.length)))
    return out
  }
  let out = buf
  if (op.pos + op.data.length > buf.length) {
    out = new Uint8Array(op.pos + op.data.length)
    out.set(buf)
  }
  out.set(op.data, op.pos)
  return out
}

function applyNameOp(fs: Fs, op: NameOp): void {
  if (op.k === 'link') fs.files.set(op.path, op.ino)
  else if (op.k === 'unlink') fs.files.delete(op.path)
  else if (op.k === 'rename') {
    fs.files.delete(op.from)
    fs.files.set(op.to, op.ino)
  } else fs.dirs.add(op.path)
}

/** Splits a write at `unit` boundaries of the file. */
function split(op: FileOp, unit: number): FileOp[] {
  if (op.k === 'truncate') return [op]
  const out: FileOp[] = []
  const end = op.pos + op.data.length
  for (let at = op.pos; at < end;) {
    const next = Math.min(end, (Math.floor(at / unit) + 1) * unit)
    out.push({ k: 'write', pos: at, data: op.data.subarray(at - op.pos, next - op.pos) })
    at = next
  }
  return out
}

/** The files and directories a power loss after events[0, cut) may leave. */
function crashState(events: readonly Event[], cut: number, rand: (n: number) => number) {
  const durable = new Map<number, Uint8Array>()
  const pending = new Map<number, { seq: number; op: FileOp }[]>()
  const syncs = new Map<number, { ino: number; upTo: number }>()
  const fs: Fs = { files: new Map(), dirs: new Set(['/']) }
  let names: { seq: number; op: NameOp }[] = []
  const dirSyncs = new Map<number, { dir: string; upTo: number }>()
  let seq = 0
  const nameOp = (op: NameOp) => names.push({ seq: seq++, op })
  for (const ev of events.slice(0, cut)) {
    switch (ev.k) {
      case 'mkdir':
        nameOp({ dir: dirName(ev.path), k: 'mkdir', path: ev.path })
        break
      case 'create':
        durable.set(ev.ino, new Uint8Array(0))
        pending.set(ev.ino, [])
        nameOp({ dir: dirName(ev.path), k: 'link', path: ev.path, ino: ev.ino })
        break
      case 'write':
        pending.get(ev.ino)?.push({ seq: seq++, op: { k: 'write', pos: ev.pos, data: ev.data } })
        break
      case 'truncate':
        pending.get(ev.ino)?.push({ seq: seq++, op: { k: 'truncate', size: ev.size } })
        break
      case 'sync':
        syncs.set(ev.id, { ino: ev.ino, upTo: seq++ })
        break
      case 'synced': {
        const { ino, upTo } = syncs.get(ev.id) as { ino: number; upTo: number }
        const ops = pending.get(ino) ?? []
        let buf = durable.get(ino) as Uint8Array
        for (const p of ops) if (p.seq < upTo) buf = applyFileOp(buf, p.op)
        durable.set(ino, buf)
        pending.set(
          ino,
          ops.filter((p) => p.seq >= upTo),
        )
        break
      }
      case 'rename':
        nameOp({ dir: dirName(ev.to), k: 'rename', from: ev.from, to: ev.to, ino: ev.ino })
        break
      case 'unlink':
        nameOp({ dir: dirName(ev.path), k: 'unlink', path: ev.path })
        break
      case 'syncDir':
        dirSyncs.set(ev.id, { dir: ev.dir, upTo: seq++ })
        break
      case 'syncedDir': {
        const { dir, upTo } = dirSyncs.get(ev.id) as { dir: string; upTo: number }
        for (const n of names) if (n.op.dir === dir && n.seq < upTo) applyNameOp(fs, n.op)
        names = names.filter((n) => !(n.op.dir === dir && n.seq < upTo))
        break
      }
      default:
        break
    }
  }
  // The power loss: any part of what was not synced.
  const nameMode = rand(2)
  const keepNames = rand(names.length + 1)
  names.forEach((n, i) => {
    if (nameMode === 0 ? i < keepNames : rand(2) === 1) applyNameOp(fs, n.op)
  })
  const contents = new Map<number, Uint8Array>()
  for (const [ino, base] of durable) {
    let buf = base
    const ops = (pending.get(ino) ?? []).map((p) => p.op)
    const mode = rand(3)
    if (mode === 0) {
      const whole = rand(ops.length + 1)
      for (const op of ops.slice(0, whole)) buf = applyFileOp(buf, op)
      const next = ops[whole]
      if (next !== undefined) {
        const parts = split(next, SECTOR)
        for (const p of parts.slice(0, rand(parts.length + 1))) buf = applyFileOp(buf, p)
      }
    } else {
      for (const op of ops) {
        for (const p of split(op, mode === 1 ? SECTOR : PAGE)) {
          if (rand(2) === 1) buf = applyFileOp(buf, p)
        }
      }
    }
    contents.set(ino, buf)
  }
  // A directory whose creation was lost takes everything under it.
  for (const d of [...fs.dirs].sort((a, b) => a.length - b.length)) {
    if (d !== '/' && !fs.dirs.has(dirName(d))) fs.dirs.delete(d)
  }
  for (const path of [...fs.files.keys()]) if (!fs.dirs.has(dirName(path))) fs.files.delete(path)
  return { fs, contents }
}

/** A SimDisk holding exactly the given files and directories. */
function diskOf(state: ReturnType<typeof crashState>): SimDisk {
  const disk = new SimDisk()
  for (const d of [...state.fs.dirs].sort((a, b) => a.length - b.length)) disk.mkdir(d)
  for (const [path, ino] of state.fs.files) {
    const f = disk.open(path, { create: true })
    f.write([state.contents.get(ino) as Uint8Array], 0)
    f.close()
  }
  return disk
}

it(
  `${CRASH_STATES} crash states of a traced WalStorage workload all recover, losing nothing acknowledged`,
  slow(`${CRASH_STATES} crash states`),
  async (t) => {
    const r = testRand(t)
    const rand = (n: number) => r.int(n)
    const w = await runWorkload(rand)
    const cuts = w.events.length + 1
    const counts = { states: 0, repaired: 0, lostUnacked: 0 }
    for (let n = 0; n < CRASH_STATES; n++) {
      // Every cut point in turn, then again, each time with new choices of what survives.
      const cut = n % cuts
      const disk = diskOf(crashState(w.events, cut, rand))
      const before = w.events.slice(0, cut)
      let acked = 0
      let issued = 0
      let snapAcked = 0
      for (const ev of before) {
        if (ev.k === 'ack') acked = Math.max(acked, ev.save)
        if (ev.k === 'issue') issued = ev.save
        if (ev.k === 'ackSnap') snapAcked = Math.max(snapAcked, ev.index)
      }
      const where = `crash state ${n} (after event ${cut} of ${w.events.length})`
      let s: WalStorage
      try {
        s = await WalStorage.open({
          disk,
          dir: '/data/member',
          nodeId: 1n,
          clusterId: 7n,
          segmentBytes: 4096,
        })
      } catch (err) {
        // Before the first directory sync nothing was acknowledged; otherwise it must open.
        throw new Error(`${where}: ${String(err)}`, { cause: err })
      }
      const first = s.firstIndex()
      const last = s.lastIndex()
      const got = last >= first ? s.entries(first, last + 1, Infinity).map(tag) : []
      const hs = s.initialState().hardState
      const snap = s.snapshot()
      let match = -1
      for (let k = acked; k <= issued && match < 0; k++) {
        const log = w.logs[k] as string[]
        const want = w.hardStates[k] as HardState
        const same =
          log.length === last &&
          got.every((x, j) => x === log[first - 1 + j]) &&
          hs.term === want.term &&
          hs.vote === want.vote &&
          hs.commit === want.commit
        if (same) match = k
      }
      assert.ok(
        match >= 0,
        `${where}: recovered log ${first}..${last} and HardState term ${hs.term} commit ` +
          `${hs.commit} are not what saves 1..k left for any k in ${acked}..${issued}`,
      )
      assert.ok(
        snap.metadata.index >= snapAcked,
        `${where}: acknowledged snapshot ${snapAcked} lost`,
      )
      if (snap.metadata.index > 0) {
        assert.deepEqual(snap.data, w.snapshots.get(snap.metadata.index), `${where}: snapshot data`)
      }
      counts.states++
      if (s.warnings.length > 0) counts.repaired++
      if (match < issued) counts.lostUnacked++
      await s.close()
    }
    t.diagnostic(`${w.events.length} events; ${JSON.stringify(counts)}`)
    // Not vacuous: torn tails were cut, and unacknowledged saves lost.
    assert.ok(counts.repaired > CRASH_STATES / 20, JSON.stringify(counts))
    assert.ok(counts.lostUnacked > CRASH_STATES / 20, JSON.stringify(counts))
  },
)
