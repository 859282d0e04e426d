/**
 * SimDisk: an in-memory Disk that models what survives a power loss, so the WAL's crash safety is
 * tested by crashing it (TigerBeetle's storage fault model, reduced to what POSIX promises).
 *
 * Each file (an inode) keeps its durable bytes, as of its last completed `sync`, and its volatile
 * bytes, what reads see now, plus the list of operations between the two. Each directory keeps
 * its durable name table, as of its last `syncDir`, and the pending name operations. `crash()`
 * throws away everything volatile. Given a PRNG it may instead keep a random prefix of the pending
 * operations of each file, the last kept write cut at a random byte (a torn write), and a random
 * prefix of the pending name operations: a real disk may persist some unsynced data, in order
 * within a file, and code that is correct must not depend on it either way.
 */
import { dirName, type Disk, type DiskFile, type PreallocateOptions } from './disk.js'

/** What SimDisk needs of a PRNG: a uniform integer in [0, n). */
export interface IntRand {
  intn(n: number): number
}

type FileOp =
  { kind: 'write'; position: number; data: Uint8Array } | { kind: 'truncate'; size: number }

/** Invariant: durable and volatile never share a buffer (writes change volatile in place). */
class Inode {
  durable: Uint8Array = new Uint8Array(0)
  volatile: Uint8Array = new Uint8Array(0)
  pending: FileOp[] = []
  /** How many operations have left `pending` (made durable) since the inode was created. */
  retired = 0
}

type NameOp = { dir: string; apply: (names: Map<string, Inode>) => void }

export interface SimDiskStats {
  writes: number
  bytesWritten: number
  syncs: number
  dirSyncs: number
}

function resized(buf: Uint8Array, size: number): Uint8Array {
  if (size === buf.length) return buf
  const out = new Uint8Array(size)
  out.set(size < buf.length ? buf.subarray(0, size) : buf)
  return out
}

function applyOp(buf: Uint8Array, op: FileOp, bytesMax = Infinity): Uint8Array {
  if (op.kind === 'truncate') return resized(buf, op.size)
  const data = bytesMax < op.data.length ? op.data.subarray(0, bytesMax) : op.data
  const end = op.position + data.length
  const out = end > buf.length ? resized(buf, end) : buf
  out.set(data, op.position)
  return out
}

class SimFile implements DiskFile {
  private closed = false

  constructor(
    readonly path: string,
    private readonly inode: Inode,
    private readonly disk: SimDisk,
  ) {}

  size(): number {
    this.checkOpen()
    return this.inode.volatile.length
  }

  read(buf: Uint8Array, position: number): number {
    this.checkOpen()
    const src = this.inode.volatile
    if (position >= src.length) return 0
    const n = Math.min(buf.length, src.length - position)
    buf.set(src.subarray(position, position + n))
    return n
  }

  write(chunks: readonly Uint8Array[], position: number): void {
    this.checkOpen()
    let total = 0
    for (const c of chunks) total += c.length
    const data = new Uint8Array(total)
    let at = 0
    for (const c of chunks) {
      data.set(c, at)
      at += c.length
    }
    this.record({ kind: 'write', position, data })
    this.disk.stats.writes++
    this.disk.stats.bytesWritten += total
  }

  truncate(size: number): void {
    this.checkOpen()
    this.record({ kind: 'truncate', size })
  }

  async sync(): Promise<void> {
    this.checkOpen()
    // What was written when sync is called becomes durable when it returns, unless the machine
    // crashed meanwhile (the epoch tells). Replaying the operations onto the durable bytes costs
    // what was written, not the size of the file.
    const epoch = this.disk.epoch
    const inode = this.inode
    const end = inode.retired + inode.pending.length
    this.disk.stats.syncs++
    await this.disk.syncDelay()
    if (epoch !== this.disk.epoch) throw new Error(`sim: crashed during sync of ${this.path}`)
    // A sync that overlapped this one may have made some of these operations durable already.
    const ops = inode.pending.splice(0, Math.max(0, end - inode.retired))
    for (const op of ops) inode.durable = applyOp(inode.durable, op)
    inode.retired += ops.length
  }

  /**
   * In two steps, each synced, as NodeDisk's zeroing syncs every few MiB: a crash between them
   * leaves a file extended part of the way. `reserveOnly` changes nothing here: SimDisk models
   * what is durable, not how blocks are allocated.
   */
  async preallocate(size: number, opts: PreallocateOptions = {}): Promise<void> {
    const from = this.size()
    if (from >= size) return
    this.truncate(from + Math.ceil((size - from) / 2))
    await this.sync()
    opts.signal?.throwIfAborted()
    this.truncate(size)
    await this.sync()
  }

  close(): void {
    this.closed = true
  }

  private record(op: FileOp): void {
    this.inode.volatile = applyOp(this.inode.volatile, op)
    this.inode.pending.push(op)
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`sim: ${this.path} is closed`)
    if (this.disk.isStale(this.inode))
      throw new Error(`sim: ${this.path} was opened before a crash`)
  }
}

function enoent(op: string, path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${op} '${path}'`), {
    code: 'ENOENT',
  })
}

export class SimDisk implements Disk {
  readonly stats: SimDiskStats = { writes: 0, bytesWritten: 0, syncs: 0, dirSyncs: 0 }
  /** Bumped by crash(); syncs started before a crash fail instead of completing. */
  epoch = 0
  /**
   * Awaited inside every sync, after it started and before it completes; a test can make it
   * slow (to crash while a sync is in flight) or count it. Defaults to one microtask.
   */
  syncDelay: () => Promise<void> = () => Promise.resolve()

  private names = new Map<string, Inode>()
  private durableNames = new Map<string, Inode>()
  private pendingNames: NameOp[] = []
  /** Per directory: name operations made, and those that left `pendingNames` (as Inode.retired). */
  private nameOpsMade = new Map<string, number>()
  private nameOpsRetired = new Map<string, number>()
  private dirs = new Set<string>(['/', '.'])
  private live = new Set<Inode>()

  open(path: string, opts: { create?: boolean } = {}): DiskFile {
    let inode = this.names.get(path)
    if (inode === undefined) {
      if (opts.create !== true || !this.dirs.has(dirName(path))) throw enoent('open', path)
      const fresh = new Inode()
      inode = fresh
      this.live.add(fresh)
      this.nameOp(path, (names) => names.set(path, fresh))
    }
    return new SimFile(path, inode, this)
  }

  list(dir: string): string[] {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`
    const out: string[] = []
    for (const path of this.names.keys()) {
      if (path.startsWith(prefix) && !path.slice(prefix.length).includes('/')) {
        out.push(path.slice(prefix.length))
      }
    }
    return out.sort()
  }

  exists(path: string): boolean {
    return this.names.has(path) || this.dirs.has(path)
  }

  /** Directories are durable at once: the WAL creates them before it relies on anything. */
  mkdir(dir: string): void {
    for (let d = dir; !this.dirs.has(d); d = dirName(d)) this.dirs.add(d)
  }

  rename(from: string, to: string): void {
    const inode = this.names.get(from)
    if (inode === undefined) throw enoent('rename', from)
    this.nameOp(from, (names) => names.delete(from))
    this.nameOp(to, (names) => names.set(to, inode))
  }

  unlink(path: string): void {
    if (!this.names.has(path)) throw enoent('unlink', path)
    this.nameOp(path, (names) => names.delete(path))
  }

  async syncDir(dir: string): Promise<void> {
    const epoch = this.epoch
    const end = this.nameOpsMade.get(dir) ?? 0
    this.stats.dirSyncs++
    await this.syncDelay()
    if (epoch !== this.epoch) throw new Error(`sim: crashed during sync of directory ${dir}`)
    // A sync that overlapped this one and finished first may have made some of them durable
    // already: only the operations made before this call and still pending become durable.
    const upTo = end - (this.nameOpsRetired.get(dir) ?? 0)
    let done = 0
    this.pendingNames = this.pendingNames.filter((op) => {
      if (op.dir !== dir || done >= upTo) return true
      op.apply(this.durableNames)
      done++
      return false
    })
    this.retireNameOps(dir, done)
  }

  /**
   * Power loss. Without `rand` only what was synced survives. With it, each file keeps a random
   * prefix of its unsynced operations, the last kept write torn at a random byte, and the
   * directories keep a random prefix of their unsynced name operations.
   */
  crash(rand?: IntRand): void {
    this.epoch++
    if (rand !== undefined) {
      const keep = rand.intn(this.pendingNames.length + 1)
      for (const op of this.pendingNames.slice(0, keep)) op.apply(this.durableNames)
    }
    for (const op of this.pendingNames) this.retireNameOps(op.dir, 1)
    this.pendingNames = []
    for (const inode of this.live) this.crashFile(inode, rand)
    this.names = new Map(this.durableNames)
    // Handles opened before the crash are stale: new inodes replace the surviving ones.
    const fresh = new Map<Inode, Inode>()
    for (const [path, inode] of this.names) {
      let copy = fresh.get(inode)
      if (copy === undefined) {
        copy = new Inode()
        copy.durable = inode.durable
        copy.volatile = inode.durable.slice()
        fresh.set(inode, copy)
      }
      this.names.set(path, copy)
    }
    this.durableNames = new Map(this.names)
    this.live = new Set(fresh.values())
  }

  /** The volatile content of a file, for tests. */
  contents(path: string): Uint8Array {
    const inode = this.names.get(path)
    if (inode === undefined) throw enoent('read', path)
    return inode.volatile.slice()
  }

  /** Replaces a file's content, durably: a test's way to corrupt or cut a file. */
  setContents(path: string, data: Uint8Array): void {
    const inode = this.names.get(path)
    if (inode === undefined) throw enoent('write', path)
    inode.volatile = data.slice()
    inode.durable = data.slice()
    inode.pending = []
  }

  isStale(inode: Inode): boolean {
    return !this.live.has(inode)
  }

  private crashFile(inode: Inode, rand: IntRand | undefined): void {
    let buf: Uint8Array = inode.durable.slice()
    if (rand !== undefined && inode.pending.length > 0) {
      const keep = rand.intn(inode.pending.length + 1)
      for (let i = 0; i < keep; i++) {
        const op = inode.pending[i] as FileOp
        const torn = i === keep - 1 && op.kind === 'write'
        buf = applyOp(buf, op, torn ? rand.intn(op.data.length + 1) : Infinity)
      }
    }
    inode.durable = buf
    inode.volatile = buf.slice()
    inode.pending = []
  }

  private nameOp(path: string, apply: (names: Map<string, Inode>) => void): void {
    apply(this.names)
    const dir = dirName(path)
    this.pendingNames.push({ dir, apply })
    this.nameOpsMade.set(dir, (this.nameOpsMade.get(dir) ?? 0) + 1)
  }

  private retireNameOps(dir: string, n: number): void {
    this.nameOpsRetired.set(dir, (this.nameOpsRetired.get(dir) ?? 0) + n)
  }
}
