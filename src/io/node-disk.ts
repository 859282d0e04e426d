/**
 * The real Disk over node:fs. Data calls use the synchronous fd API (pread, pwritev, ftruncate)
 * and the flush calls use the callback API, which runs on the libuv thread pool; disk.ts explains
 * why. File descriptors are used directly rather than fs.promises FileHandles: a FileHandle
 * allocates a promise per call and its writes would have to be awaited to keep their order.
 */
import { execFile } from 'node:child_process'
import * as fs from 'node:fs'
import { promisify } from 'node:util'

import type { Disk, DiskFile, PreallocateOptions } from './disk.js'

const execFileAsync = promisify(execFile)

/**
 * How NodeFile.preallocate extends a file:
 * - `zeros` (the default) writes the zeros. The blocks are then allocated and written, so a later
 *   write into them changes no metadata and its fdatasync is a data flush alone. A fallocated or
 *   a plainly appended file needs a journal commit for nearly every fdatasync (converting
 *   unwritten extents, or a new size): on ext4, write + fdatasync into written zeros is faster
 *   from a few KiB on (`npm run bench -- wal-fsync`; figures in bench/README.md). The cost: the
 *   file is written twice, once as zeros; a caller that cannot spare the device time passes
 *   `reserveOnly` (the WAL does in bulk loads). PostgreSQL zero-fills by default (wal_init_zero).
 * - `fallocate` calls fallocate(1) (Node has no binding): blocks reserved but unwritten, as etcd's
 *   fileutil.Preallocate does. Half the device writes. Right for copy-on-write file systems
 *   (btrfs, ZFS), where written zeros gain nothing; XFS, which also journals the conversion of
 *   unwritten extents, was not measured.
 */
export type Preallocation = 'zeros' | 'fallocate'

export interface NodeDiskOptions {
  preallocation?: Preallocation
  /** Where warnings go (a fallocate that failed); console by default. */
  logger?: { warn(message: string): void }
}

/** Extensions up to this size are written as zeros, whatever the mode. */
const ZEROS_WRITTEN_BYTES_MAX = 1024 * 1024
/** The zeros preallocation writes per call: one thread-pool job each, so the loop stays free. */
const ZERO_CHUNK_BYTES = 1024 * 1024
/**
 * Zeroing syncs after this many bytes: the dirty pages it leaves for writeback stay few, so that
 * a journal commit of another file (ext4's data=ordered flushes them first) never waits for 64 MiB.
 */
const ZERO_SYNC_BYTES = 8 * 1024 * 1024

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())),
  )
}

function pwrite(fd: number, buf: Uint8Array, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.write(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  )
}

function fsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())))
}

class NodeFile implements DiskFile {
  constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly preallocation: Preallocation,
    private readonly logger: { warn(message: string): void },
  ) {}

  size(): number {
    return fs.fstatSync(this.fd).size
  }

  read(buf: Uint8Array, position: number): number {
    return fs.readSync(this.fd, buf, 0, buf.length, position)
  }

  write(chunks: readonly Uint8Array[], position: number): void {
    let done = fs.writevSync(this.fd, chunks as Uint8Array[], position)
    // writev may write less than asked (signals, quotas): finish the rest chunk by chunk.
    let skip = done
    for (const c of chunks) {
      if (skip >= c.length) {
        skip -= c.length
        continue
      }
      for (let off = skip; off < c.length;) {
        const n = fs.writeSync(this.fd, c, off, c.length - off, position + done)
        off += n
        done += n
      }
      skip = 0
    }
  }

  truncate(size: number): void {
    fs.ftruncateSync(this.fd, size)
  }

  sync(): Promise<void> {
    return fdatasync(this.fd)
  }

  async preallocate(size: number, opts: PreallocateOptions = {}): Promise<void> {
    const from = this.size()
    if (from >= size) return
    const zeros = this.preallocation === 'zeros' && opts.reserveOnly !== true
    // A small extension: writing costs less than starting a process.
    if (zeros || size - from <= ZEROS_WRITTEN_BYTES_MAX) {
      await this.writeZeros(from, size, opts.signal)
    } else {
      await this.fallocate(size)
    }
    await fdatasync(this.fd)
  }

  /**
   * Writes zeros over [from, to) on the thread pool, a chunk at a time, syncing every few MiB;
   * stops between chunks once `signal` aborts.
   */
  private async writeZeros(from: number, to: number, signal?: AbortSignal): Promise<void> {
    const zeros = new Uint8Array(Math.min(ZERO_CHUNK_BYTES, to - from))
    let unsynced = 0
    // Bounded by the range: each pass writes at least one byte or throws.
    for (let pos = from; pos < to;) {
      signal?.throwIfAborted()
      const n = await pwrite(this.fd, zeros, Math.min(zeros.length, to - pos), pos)
      if (n === 0) {
        const err = new Error(`pwrite wrote 0 of ${to - pos} bytes at ${pos} of ${this.path}`)
        throw Object.assign(err, { code: 'EIO' })
      }
      pos += n
      unsynced += n
      if (unsynced >= ZERO_SYNC_BYTES && pos < to) {
        await fdatasync(this.fd)
        unsynced = 0
      }
    }
  }

  /**
   * fallocate(1) (util-linux) on the descriptor: real blocks, reading as zeros, as etcd's
   * fileutil.Preallocate gets from fallocate(2). One process per segment, off the commit path.
   * Where that fails (no fallocate(1), a file system without it), extend with ftruncate, etcd's
   * own fallback, and say so: the blocks are then not reserved, and a full disk shows at a later
   * write instead of here.
   */
  private async fallocate(size: number): Promise<void> {
    try {
      await execFileAsync('fallocate', ['-l', String(size), this.procPath()])
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err)
      this.logger.warn(
        `disk: fallocate of ${this.path} to ${size} bytes failed (${why}); extended it with ` +
          'ftruncate instead, so its blocks are not reserved',
      )
      fs.ftruncateSync(this.fd, size)
    }
  }

  /** A path to this very file even after a rename: the descriptor's entry in /proc. */
  private procPath(): string {
    const proc = `/proc/${process.pid}/fd/${this.fd}`
    return fs.existsSync(proc) ? proc : this.path
  }

  close(): void {
    fs.closeSync(this.fd)
  }
}

export class NodeDisk implements Disk {
  private readonly preallocation: Preallocation
  private readonly logger: { warn(message: string): void }

  constructor(opts: NodeDiskOptions = {}) {
    this.preallocation = opts.preallocation ?? 'zeros'
    this.logger = opts.logger ?? console
  }

  open(path: string, opts: { create?: boolean } = {}): DiskFile {
    const flags = opts.create === true ? fs.constants.O_RDWR | fs.constants.O_CREAT : 'r+'
    return new NodeFile(path, fs.openSync(path, flags, 0o600), this.preallocation, this.logger)
  }

  list(dir: string): string[] {
    if (!fs.existsSync(dir)) return []
    return fs.readdirSync(dir).sort()
  }

  exists(path: string): boolean {
    return fs.existsSync(path)
  }

  mkdir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  }

  rename(from: string, to: string): void {
    fs.renameSync(from, to)
  }

  unlink(path: string): void {
    fs.unlinkSync(path)
  }

  async syncDir(dir: string): Promise<void> {
    const fd = fs.openSync(dir, 'r')
    try {
      await fsync(fd)
    } finally {
      fs.closeSync(fd)
    }
  }
}
