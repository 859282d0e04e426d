/**
 * The Disk that the WAL and the snapshot store write through. Only src/io (the real one, over
 * node:fs) and src/sim (SimDisk, in memory, with power loss and torn writes) implement it, so the
 * durability rules of src/wal and src/snap are testable without a real crash.
 *
 * The split between synchronous and asynchronous calls is deliberate:
 * - Reads, writes, truncation and namespace changes are synchronous. A write lands in the page
 *   cache in microseconds, a syscall on the main thread is cheaper than a thread-pool hop, and
 *   program order is then write order (no two writes of one file can race). The raft Storage
 *   interface is synchronous too, so reading an old entry back cannot await.
 * - `sync`, `syncDir` and `preallocate` are asynchronous. They wait for the device, which takes
 *   hundreds of microseconds to milliseconds; running them on the libuv pool leaves the event loop
 *   free to accept the appends that the next group commit will carry.
 *
 * Durability contract (what SimDisk enforces and what POSIX promises): file content is durable
 * only once `sync` of that file has resolved; the existence of a name (create, rename, unlink,
 * and a directory made by mkdir) is durable only once `syncDir` of the directory holding it has
 * resolved. Before that a power loss may keep any part of it: any sectors of unsynced writes, in
 * any order, and any subset of unsynced name operations (SimDisk.crash).
 */

export interface PreallocateOptions {
  /**
   * Once it aborts, preallocation may stop early and reject with the signal's reason, leaving the
   * file partly extended.
   */
  signal?: AbortSignal
  /**
   * Reserve the blocks without writing them (fallocate), even where the disk would write zeros:
   * half the device writes, but a journal commit at nearly every later fdatasync into them. The
   * WAL asks for it when it fills segments too fast for the zeros to be worth the device's time.
   */
  reserveOnly?: boolean
}

export interface DiskFile {
  readonly path: string
  /** The current size in bytes, including writes not yet synced. */
  size(): number
  /** Reads up to `buf.length` bytes at `position`; returns how many were read (0 at the end). */
  read(buf: Uint8Array, position: number): number
  /**
   * Writes the chunks back to back at `position` (one pwritev), growing the file if needed. The
   * caller may reuse the chunks once this returns.
   */
  write(chunks: readonly Uint8Array[], position: number): void
  truncate(size: number): void
  /** Makes the content and size durable (fdatasync). */
  sync(): Promise<void>
  /**
   * Extends the file with zeros up to `size` bytes (no-op if already as large), then syncs, so
   * that later appends neither allocate blocks nor change the size that fdatasync must persist.
   */
  preallocate(size: number, opts?: PreallocateOptions): Promise<void>
  close(): void
}

export interface Disk {
  /** Opens a file for reading and writing; throws ENOENT unless `create`. */
  open(path: string, opts?: { create?: boolean }): DiskFile
  /** The names in `dir`, sorted; [] if the directory does not exist. */
  list(dir: string): string[]
  exists(path: string): boolean
  /**
   * Creates the directory and its parents (no-op if it exists). Each one created is durable only
   * once its parent is synced: see mkdirDurable.
   */
  mkdir(dir: string): void
  /** Atomically replaces `to` by `from` (POSIX rename). */
  rename(from: string, to: string): void
  unlink(path: string): void
  /** Makes the creations, renames and unlinks in `dir` durable (fsync of the directory). */
  syncDir(dir: string): Promise<void>
}

/** Joins a directory and a name with '/', the only separator the Disk paths use. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`
}

/** The directory part of a path ('.' when there is none). */
export function dirName(path: string): string {
  const i = path.lastIndexOf('/')
  if (i < 0) return '.'
  return i === 0 ? '/' : path.slice(0, i)
}

/**
 * Creates `dir` and its missing parents, then makes their names durable: syncs the parent of
 * each directory created, and the parent of `dir` whether or not this call created it (a process
 * that crashed after creating it may not have synced it). Without this a power loss can take the
 * whole directory, and everything written and synced in it, away.
 */
export async function mkdirDurable(disk: Disk, dir: string): Promise<void> {
  const parents = [dirName(dir)]
  // Bounded by the path's depth: the root exists.
  for (let d = dir; !disk.exists(d); d = dirName(d)) parents.push(dirName(d))
  disk.mkdir(dir)
  // Outermost first, each once.
  for (const p of [...new Set(parents)].reverse()) await disk.syncDir(p)
}

/**
 * Reads exactly `length` bytes at `position`, or fewer at the end of the file. The result is a
 * Buffer (a Uint8Array): native checksums take it through a faster path than a plain Uint8Array.
 */
export function readAt(file: DiskFile, position: number, length: number): Uint8Array {
  const buf = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const n = file.read(buf.subarray(done), position + done)
    if (n === 0) break
    done += n
  }
  return done === length ? buf : buf.subarray(0, done)
}
