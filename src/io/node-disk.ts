/**
 * The real Disk over node:fs. Data calls use the synchronous fd API (pread, pwritev, ftruncate)
 * and the flush calls use the callback API, which runs on the libuv thread pool; disk.ts explains
 * why. File descriptors are used directly rather than fs.promises FileHandles: a FileHandle
 * allocates a promise per call and its writes would have to be awaited to keep their order.
 */
import * as fs from 'node:fs'

import type { Disk, DiskFile } from './disk.js'

/** Zeros written per call while preallocating: large enough to be cheap, small enough to share. */
const ZERO_CHUNK = new Uint8Array(1 << 20)

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())),
  )
}

function fsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())))
}

function writeAsync(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.write(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))),
  )
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
    // Node has no fallocate. ftruncate alone would make a sparse file, whose blocks are then
    // allocated by the appends and make each fdatasync write metadata too; writing real zeros
    // gives the same allocated, zero-filled file that fallocate(2) does (etcd fileutil.Preallocate).
    let pos = this.size()
    while (pos < size) {
      const n = Math.min(ZERO_CHUNK.length, size - pos)
      pos += await writeAsync(this.fd, ZERO_CHUNK.subarray(0, n), pos)
    }
    await fdatasync(this.fd)
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
