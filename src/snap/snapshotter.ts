/**
 * Snapshot files (etcd server/etcdserver/api/snap/snapshotter.go): one file per snapshot, named
 * `%016x-%016x.snap` from its term and index so that name order is age order, holding etcd's
 * snappb.Snapshot protobuf: a CRC-32C of the data (field 1) and the raftpb.Snapshot (field 2).
 *
 * Saving is atomic where etcd's is not: the bytes go to a temporary file, which is synced,
 * renamed into place, and the directory synced; a crash leaves either no file or a whole one.
 * Only the newest `keep` files are kept (etcd's --max-snapshots, default 5).
 *
 * Loading follows etcd's LoadNewestAvailable: the newest file that the WAL has a marker for and
 * that passes its checksum. A file that fails is reported and skipped for an older one (etcd also
 * renames it to .broken; we leave it where it is: nothing is deleted on bad input). Whether the
 * older one is usable is the caller's question (the WAL must still reach back to it).
 */
import { crc32c } from '@node-rs/crc32'

import { discardLogger, type Logger } from '../raft/index.js'
import { RaftError } from '../raft/index.js'
import { decodeSnapshot, encodeSnapshot } from '../raft/index.js'
import type { Snapshot } from '../raft/index.js'
import { joinPath, mkdirDurable, readAt, type Disk } from '../io/index.js'
import { SnapError, snapCorrupt } from './errors.js'

export const SNAPSHOTS_KEPT_DEFAULT = 5

const SNAP_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/

export interface SnapshotterOptions {
  disk: Disk
  dir: string
  /** How many snapshot files to keep; older ones are deleted after each save. */
  keep?: number
  logger?: Logger
}

export interface SnapshotId {
  term: number
  index: number
}

export function snapName(id: SnapshotId): string {
  const hex = (n: number) => n.toString(16).padStart(16, '0')
  return `${hex(id.term)}-${hex(id.index)}.snap`
}

function parseSnapName(name: string): SnapshotId | undefined {
  const m = SNAP_NAME.exec(name)
  if (m === null) return undefined
  return { term: Number.parseInt(m[1] as string, 16), index: Number.parseInt(m[2] as string, 16) }
}

/** The bytes of `v` (an unsigned 32-bit value or a length) as a protobuf varint. */
function varintBytes(v: number): number {
  let n = 1
  for (; v >= 0x80; n++) v = Math.floor(v / 0x80)
  return n
}

/** snappb.Snapshot: crc (field 1, varint), data (field 2, bytes). */
function encodeFile(data: Uint8Array): Uint8Array {
  const crc = crc32c(data)
  const buf = new Uint8Array(2 + varintBytes(crc) + varintBytes(data.length) + data.length)
  let p = 0
  const varint = (v: number) => {
    while (v >= 0x80) {
      buf[p++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    buf[p++] = v
  }
  buf[p++] = 0x08
  varint(crc)
  buf[p++] = 0x12
  varint(data.length)
  buf.set(data, p)
  return buf
}

function decodeFile(file: string, buf: Uint8Array): Uint8Array {
  let p = 0
  const varint = (): number => {
    let v = 0
    for (let mul = 1, i = 0; i < 8 && p < buf.length; i++, mul *= 0x80) {
      const b = buf[p++] as number
      v += (b & 0x7f) * mul
      if (b < 0x80) return v
    }
    throw snapCorrupt(file, 'snap: failed to unmarshal snappb.Snapshot', 'bad varint')
  }
  if (buf[p++] !== 0x08)
    throw snapCorrupt(file, 'snap: failed to unmarshal snappb.Snapshot', 'no crc field')
  const crc = varint()
  if (buf[p++] !== 0x12)
    throw snapCorrupt(file, 'snap: failed to unmarshal snappb.Snapshot', 'no data field')
  const len = varint()
  if (p + len !== buf.length) {
    throw snapCorrupt(
      file,
      'snap: failed to unmarshal snappb.Snapshot',
      `data length ${len} does not fit the file`,
    )
  }
  const data = buf.subarray(p)
  if (len === 0 || crc === 0) throw snapCorrupt(file, 'snap: empty snapshot')
  const got = crc32c(data)
  if (got !== crc) {
    throw snapCorrupt(file, 'snap: crc mismatch', `stored ${crc}, computed ${got}`)
  }
  return data
}

export class Snapshotter {
  private readonly keep: number
  private readonly logger: Logger

  private constructor(private readonly opts: SnapshotterOptions) {
    this.keep = opts.keep ?? SNAPSHOTS_KEPT_DEFAULT
    this.logger = opts.logger ?? discardLogger
    if (!Number.isSafeInteger(this.keep) || this.keep < 1) {
      throw new RangeError(`snap: keep (${this.keep}) must be a positive integer`)
    }
  }

  /**
   * Creates the directory if needed (durably: a snapshot in a directory a power loss can take
   * away is not durable) and removes temporary files of saves that never finished.
   */
  static async open(opts: SnapshotterOptions): Promise<Snapshotter> {
    const s = new Snapshotter(opts)
    await mkdirDurable(opts.disk, opts.dir)
    for (const name of opts.disk.list(opts.dir).filter((n) => n.endsWith('.snap.tmp'))) {
      opts.disk.unlink(joinPath(opts.dir, name))
      s.logger.info(`snap: removed unfinished ${name}`)
    }
    return s
  }

  /** The directory of the snapshot files. */
  get dir(): string {
    return this.opts.dir
  }

  /** The snapshot files, oldest first. */
  ids(): SnapshotId[] {
    return this.opts.disk
      .list(this.opts.dir)
      .map(parseSnapName)
      .filter((id): id is SnapshotId => id !== undefined)
  }

  /**
   * Writes the snapshot durably (temporary file, sync, rename, directory sync), then purges.
   * Files at or after index `keepFrom` stay whatever `keep` says: the caller passes the newest
   * snapshot whose WAL marker is durable, so a power loss before this one's marker is durable
   * still finds a file for a marker.
   */
  async save(snap: Snapshot, keepFrom = Infinity): Promise<void> {
    const { disk, dir } = this.opts
    const name = snapName(snap.metadata)
    const tmp = joinPath(dir, `${name}.tmp`)
    const file = disk.open(tmp, { create: true })
    try {
      file.truncate(0)
      file.write([encodeFile(encodeSnapshot(snap))], 0)
      await file.sync()
    } finally {
      file.close()
    }
    disk.rename(tmp, joinPath(dir, name))
    await disk.syncDir(dir)
    this.purge(keepFrom)
  }

  /** Loads one snapshot file; throws SNAP_CORRUPT when it fails its checks. */
  load(id: SnapshotId): Snapshot {
    const path = joinPath(this.opts.dir, snapName(id))
    const file = this.opts.disk.open(path)
    let buf: Uint8Array
    try {
      buf = readAt(file, 0, file.size())
    } finally {
      file.close()
    }
    const data = decodeFile(path, buf)
    let snap: Snapshot
    try {
      snap = decodeSnapshot(data)
    } catch (err) {
      if (err instanceof RaftError) {
        throw snapCorrupt(path, 'snap: failed to unmarshal raftpb.Snapshot', err.message)
      }
      throw err
    }
    if (snap.metadata.index !== id.index || snap.metadata.term !== id.term) {
      throw snapCorrupt(
        path,
        'snap: snapshot does not match its file name',
        `holds index ${snap.metadata.index} term ${snap.metadata.term}`,
      )
    }
    return snap
  }

  /**
   * The newest loadable snapshot among `candidates` (the WAL's markers), newest first; files
   * that fail are returned in `failed` (and logged) and skipped for older ones, as etcd does.
   */
  loadNewestAvailable(candidates: readonly SnapshotId[]): {
    snapshot: Snapshot | undefined
    failed: SnapError[]
  } {
    const onDisk = new Set(this.ids().map(snapName))
    const wanted = candidates
      .filter((c) => onDisk.has(snapName(c)))
      .sort((a, b) => b.index - a.index || b.term - a.term)
    const failed: SnapError[] = []
    for (const id of wanted) {
      try {
        return { snapshot: this.load(id), failed }
      } catch (err) {
        if (!SnapError.is(err, 'SNAP_CORRUPT')) throw err
        this.logger.warn(`${err.message}; trying an older snapshot`)
        failed.push(err)
      }
    }
    return { snapshot: undefined, failed }
  }

  private purge(keepFrom: number): void {
    const ids = this.ids()
    for (const id of ids.slice(0, Math.max(0, ids.length - this.keep))) {
      if (id.index >= keepFrom) continue
      this.opts.disk.unlink(joinPath(this.opts.dir, snapName(id)))
      this.logger.info(`snap: purged ${snapName(id)}`)
    }
  }
}
