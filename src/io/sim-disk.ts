/**
 * SimDisk: an in-memory Disk that models what survives a power loss, so the WAL's crash safety is
 * tested by crashing it (TigerBeetle's storage fault model, reduced to what POSIX promises).
 *
 * Each file (an inode) keeps its durable bytes, as of its last completed `sync`, and its volatile
 * bytes, what reads see now, plus the list of operations between the two. The namespace (files
 * and directories) keeps its durable state, as of the last `syncDir` of each directory, and the
 * name operations made since (create, rename, unlink, mkdir), each made durable by a sync of the
 * directory that holds the name.
 *
 * `crash()` throws away everything volatile. Given a PRNG it instead keeps part of it, as a disk
 * and a file system may (nothing is promised about unsynced data, in what order it reaches the
 * device, or which of several name operations does):
 * - of each file's unsynced operations, either a prefix, the write after it kept in a prefix of
 *   its sectors; or any subset of the 512-byte sectors of its writes (and of its truncations);
 *   or any subset of their 4 KiB pages. A sector is what a disk writes atomically, so a write
 *   never tears inside one; a sector not kept reads as it did before the write.
 * - of the unsynced name operations, a prefix or any subset. A rename is atomic. A directory
 *   whose creation was not kept is gone, and with it every name under it.
 * Correct code depends on none of it either way.
 */
import { dirName, type Disk, type DiskFile, type PreallocateOptions } from './disk.js'

/** What SimDisk needs of a PRNG: a uniform integer in [0, n). */
export interface IntRand {
  intn(n: number): number
}

/** The unit a disk writes atomically, and the page cache's unit of writeback. */
export const SECTOR_BYTES = 512
export const PAGE_BYTES = 4096

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

/** A name operation; `dir` is the directory whose sync makes it durable. */
type NameOp = { dir: string } & (
  | { kind: 'link'; path: string; inode: Inode }
  | { kind: 'unlink'; path: string }
  | { kind: 'rename'; from: string; to: string; inode: Inode }
  | { kind: 'mkdir'; path: string }
)

/** Files by path and the set of directories: one state of the namespace. */
interface Namespace {
  names: Map<string, Inode>
  dirs: Set<string>
}

const ROOTS = ['/', '.']

function applyNameOp(ns: Namespace, op: NameOp): void {
  switch (op.kind) {
    case 'link':
      ns.names.set(op.path, op.inode)
      return
    case 'unlink':
      ns.names.delete(op.path)
      return
    case 'rename':
      ns.names.delete(op.from)
      ns.names.set(op.to, op.inode)
      return
    case 'mkdir':
      ns.dirs.add(op.path)
      return
  }
}

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

function applyOp(buf: Uint8Array, op: FileOp): Uint8Array {
  if (op.kind === 'truncate') return resized(buf, op.size)
  const end = op.position + op.data.length
  const out = end > buf.length ? resized(buf, end) : buf
  out.set(op.data, op.position)
  return out
}

/** The parts of a write that fall in separate units of `unitBytes` (by file offset), in order. */
function pieces(op: FileOp, unitBytes: number): FileOp[] {
  if (op.kind === 'truncate') return [op]
  const out: FileOp[] = []
  const end = op.position + op.data.length
  // Bounded by the write's length: each pass takes at least one byte.
  for (let at = op.position; at < end;) {
    const next = Math.min(end, (Math.floor(at / unitBytes) + 1) * unitBytes)
    out.push({
      kind: 'write',
      position: at,
      data: op.data.subarray(at - op.position, next - op.position),
    })
    at = next
  }
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

  private ns: Namespace = { names: new Map(), dirs: new Set(ROOTS) }
  private durable: Namespace = { names: new Map(), dirs: new Set(ROOTS) }
  private pendingNames: NameOp[] = []
  /** Per directory: name operations made, and those that left `pendingNames` (as Inode.retired). */
  private nameOpsMade = new Map<string, number>()
  private nameOpsRetired = new Map<string, number>()
  /** Inodes in creation order (the order crash() draws for them in: a Set keeps it). */
  private live = new Set<Inode>()

  open(path: string, opts: { create?: boolean } = {}): DiskFile {
    let inode = this.ns.names.get(path)
    if (inode === undefined) {
      if (opts.create !== true || !this.ns.dirs.has(dirName(path))) throw enoent('open', path)
      inode = new Inode()
      this.live.add(inode)
      this.nameOp({ dir: dirName(path), kind: 'link', path, inode })
    }
    return new SimFile(path, inode, this)
  }

  list(dir: string): string[] {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`
    const out: string[] = []
    for (const path of this.ns.names.keys()) {
      if (path.startsWith(prefix) && !path.slice(prefix.length).includes('/')) {
        out.push(path.slice(prefix.length))
      }
    }
    return out.sort()
  }

  exists(path: string): boolean {
    return this.ns.names.has(path) || this.ns.dirs.has(path)
  }

  /** Each directory created is durable once its parent is synced. */
  mkdir(dir: string): void {
    const missing: string[] = []
    // Bounded by the path's depth: the roots always exist.
    for (let d = dir; !this.ns.dirs.has(d); d = dirName(d)) missing.push(d)
    for (const d of missing.reverse()) this.nameOp({ dir: dirName(d), kind: 'mkdir', path: d })
  }

  /** Atomic, within one directory (the WAL and the snapshot store rename nothing across). */
  rename(from: string, to: string): void {
    const inode = this.ns.names.get(from)
    if (inode === undefined) throw enoent('rename', from)
    if (dirName(from) !== dirName(to)) {
      throw new Error(`sim: rename across directories (${from} to ${to}) is not modelled`)
    }
    this.nameOp({ dir: dirName(to), kind: 'rename', from, to, inode })
  }

  unlink(path: string): void {
    if (!this.ns.names.has(path)) throw enoent('unlink', path)
    this.nameOp({ dir: dirName(path), kind: 'unlink', path })
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
      applyNameOp(this.durable, op)
      done++
      return false
    })
    this.retireNameOps(dir, done)
  }

  /**
   * Power loss. Without `rand` only what was synced survives. With it, part of the rest does
   * too (see the module comment). The draws, in order, so that a test can script them: the name
   * operations' mode (0: a prefix of them, then their count; 1: each one, 1 keeping it); then
   * for each file with unsynced operations, in creation order, its mode (0: a prefix, then the
   * operations kept whole and the sectors kept of the next one if it is a write; 1: sectors and
   * 2: pages, each one, 1 keeping it, truncations drawn the same way).
   */
  crash(rand?: IntRand): void {
    this.epoch++
    const ns: Namespace = { names: new Map(this.durable.names), dirs: new Set(this.durable.dirs) }
    if (rand !== undefined) {
      for (const op of keptNameOps(this.pendingNames, rand)) applyNameOp(ns, op)
    }
    for (const op of this.pendingNames) this.retireNameOps(op.dir, 1)
    this.pendingNames = []
    for (const inode of this.live) crashFile(inode, rand)
    pruneOrphans(ns)
    // Handles opened before the crash are stale: new inodes replace the surviving ones.
    const fresh = new Map<Inode, Inode>()
    for (const [path, inode] of ns.names) {
      let copy = fresh.get(inode)
      if (copy === undefined) {
        copy = new Inode()
        copy.durable = inode.durable
        copy.volatile = inode.durable.slice()
        fresh.set(inode, copy)
      }
      ns.names.set(path, copy)
    }
    this.durable = ns
    this.ns = { names: new Map(ns.names), dirs: new Set(ns.dirs) }
    this.live = new Set(fresh.values())
  }

  /**
   * This disk as one incarnation of a process sees it: once the machine crashed, every call
   * through it fails, so the continuations of a dead process's promises cannot touch what the
   * next one recovers. (Files it opened are stale already: crash() replaces the inodes.)
   */
  incarnation(): Disk {
    const epoch = this.epoch
    const check = (): void => {
      if (epoch !== this.epoch) throw new Error('sim: the process that used this disk crashed')
    }
    return {
      open: (path, opts) => (check(), this.open(path, opts)),
      list: (dir) => (check(), this.list(dir)),
      exists: (path) => (check(), this.exists(path)),
      mkdir: (dir) => (check(), this.mkdir(dir)),
      rename: (from, to) => (check(), this.rename(from, to)),
      unlink: (path) => (check(), this.unlink(path)),
      syncDir: async (dir) => (check(), this.syncDir(dir)),
    }
  }

  /** The volatile content of a file, for tests. */
  contents(path: string): Uint8Array {
    const inode = this.ns.names.get(path)
    if (inode === undefined) throw enoent('read', path)
    return inode.volatile.slice()
  }

  /** Replaces a file's content, durably: a test's way to corrupt or cut a file. */
  setContents(path: string, data: Uint8Array): void {
    const inode = this.ns.names.get(path)
    if (inode === undefined) throw enoent('write', path)
    inode.volatile = data.slice()
    inode.durable = data.slice()
    inode.pending = []
  }

  isStale(inode: Inode): boolean {
    return !this.live.has(inode)
  }

  private nameOp(op: NameOp): void {
    applyNameOp(this.ns, op)
    this.pendingNames.push(op)
    this.nameOpsMade.set(op.dir, (this.nameOpsMade.get(op.dir) ?? 0) + 1)
  }

  private retireNameOps(dir: string, n: number): void {
    this.nameOpsRetired.set(dir, (this.nameOpsRetired.get(dir) ?? 0) + n)
  }
}

function keptNameOps(ops: readonly NameOp[], rand: IntRand): NameOp[] {
  if (ops.length === 0) return []
  if (rand.intn(2) === 0) return ops.slice(0, rand.intn(ops.length + 1))
  return ops.filter(() => rand.intn(2) === 1)
}

/** What a power loss leaves of one file (see SimDisk.crash for the draws). */
function crashFile(inode: Inode, rand: IntRand | undefined): void {
  let buf: Uint8Array = inode.durable.slice()
  const ops = inode.pending
  if (rand !== undefined && ops.length > 0) {
    const mode = rand.intn(3)
    if (mode === 0) {
      const whole = rand.intn(ops.length + 1)
      for (const op of ops.slice(0, whole)) buf = applyOp(buf, op)
      const next = ops[whole]
      if (next?.kind === 'write') {
        const parts = pieces(next, SECTOR_BYTES)
        for (const p of parts.slice(0, rand.intn(parts.length + 1))) buf = applyOp(buf, p)
      }
    } else {
      const unit = mode === 1 ? SECTOR_BYTES : PAGE_BYTES
      for (const op of ops) {
        for (const p of pieces(op, unit)) if (rand.intn(2) === 1) buf = applyOp(buf, p)
      }
    }
  }
  inode.durable = buf
  inode.volatile = buf.slice()
  inode.pending = []
}

/** Removes the directories whose parent is gone, and the names in directories that are gone. */
function pruneOrphans(ns: Namespace): void {
  // Parents before children: a shorter path cannot be a child of a longer one.
  for (const d of [...ns.dirs].sort((a, b) => a.length - b.length)) {
    if (!ROOTS.includes(d) && !ns.dirs.has(dirName(d))) ns.dirs.delete(d)
  }
  for (const path of [...ns.names.keys()]) {
    if (!ns.dirs.has(dirName(path))) ns.names.delete(path)
  }
}
