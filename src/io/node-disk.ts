/**
 * The real Disk over node:fs. Data calls use the synchronous fd API (pread, pwritev, ftruncate)
 * and the flush calls use the callback API, which runs on the libuv thread pool; disk.ts explains
 * why. File descriptors are used directly rather than fs.promises FileHandles: a FileHandle
 * allocates a promise per call and its writes would have to be awaited to keep their order.
 */
import { execFile } from 'node:child_process'
import * as fs from 'node:fs'
import { promisify } from 'node:util'

import type { Disk, DiskFile } from './disk.js'

const execFileAsync = promisify(execFile)

/** Extensions up to this size are written as zeros; larger ones go to fallocate(1). */
const ZEROS_WRITTEN_BYTES_MAX = 1024 * 1024

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())),
  )
}

function fsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())))
}

class NodeFile implements DiskFile {
  constructor(
    readonly path: string,
    private readonly fd: number,
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

  async preallocate(size: number): Promise<void> {
    const from = this.size()
    if (from >= size) return
    if (size - from <= ZEROS_WRITTEN_BYTES_MAX) {
      // A small extension: writing the zeros costs less than starting a process.
      fs.writeSync(this.fd, new Uint8Array(size - from), 0, size - from, from)
      return fdatasync(this.fd)
    }
    // Node has no fallocate binding. Writing zeros would double the bytes the device writes over
    // the WAL's life, so call fallocate(1) (util-linux) on the descriptor: real blocks, reading as
    // zeros, as etcd's fileutil.Preallocate gets from fallocate(2). One process per segment, off
    // the commit path. Where that fails, extend with ftruncate, etcd's own fallback.
    try {
      await execFileAsync('fallocate', ['-l', String(size), this.procPath()])
    } catch {
      fs.ftruncateSync(this.fd, size)
    }
    await fdatasync(this.fd)
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
  open(path: string, opts: { create?: boolean } = {}): DiskFile {
    const flags = opts.create === true ? fs.constants.O_RDWR | fs.constants.O_CREAT : 'r+'
    return new NodeFile(path, fs.openSync(path, flags, 0o600))
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
