/**
 * NodeDisk with its files adapted by a subclass: the WAL benchmarks' instrumented disks (one
 * counting fdatasyncs, one whose data calls do nothing).
 */
import type { Disk, DiskFile } from '../../src/io/index.js'
import { NodeDisk, type NodeDiskOptions } from '../../src/io/index.js'

export abstract class NodeDiskWrapper implements Disk {
  private readonly inner: NodeDisk

  constructor(opts: NodeDiskOptions = {}) {
    this.inner = new NodeDisk(opts)
  }

  /** Changes a file just opened (its methods may be replaced) and returns it. */
  protected abstract adapt(f: DiskFile): DiskFile

  open(p: string, opts?: { create?: boolean }): DiskFile {
    return this.adapt(this.inner.open(p, opts))
  }
  list(dir: string): string[] {
    return this.inner.list(dir)
  }
  exists(p: string): boolean {
    return this.inner.exists(p)
  }
  mkdir(dir: string): void {
    this.inner.mkdir(dir)
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to)
  }
  unlink(p: string): void {
    this.inner.unlink(p)
  }
  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir)
  }
}
