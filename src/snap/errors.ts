/**
 * The typed errors of src/snap (STYLE.md §4): a stable `code`, a message that starts with etcd's
 * text (server/etcdserver/api/snap: ErrCRCMismatch "snap: crc mismatch", ErrEmptySnapshot "snap:
 * empty snapshot", ErrNoSnapshot "snap: no available snapshot") and then says which file and what
 * to do, and a `Symbol.for` brand so `instanceof` works across copies of the package.
 */

export type SnapErrorCode =
  /** A snapshot file fails its checksum, is empty, or does not decode; it is left in place. */
  | 'SNAP_CORRUPT'
  /** The WAL names snapshots, but no snapshot file for any of them loads. */
  | 'SNAP_NOT_FOUND'

const kSnapError = Symbol.for('pontoon.snap.error')

export class SnapError extends Error {
  readonly code: SnapErrorCode
  /** The snapshot file (or, for SNAP_NOT_FOUND, the directory) concerned. */
  readonly file: string | undefined
  readonly [kSnapError] = true

  constructor(
    code: SnapErrorCode,
    message: string,
    where: { file?: string; cause?: unknown } = {},
  ) {
    super(message, where.cause === undefined ? undefined : { cause: where.cause })
    this.name = 'SnapError'
    this.code = code
    this.file = where.file
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kSnapError in value
  }

  static is(err: unknown, code: SnapErrorCode): err is SnapError {
    return err instanceof SnapError && err.code === code
  }
}

/** A snapshot file that fails its checks: `etcdText` is etcd's error for it ("snap: ..."). */
export function snapCorrupt(file: string, etcdText: string, detail = ''): SnapError {
  return new SnapError(
    'SNAP_CORRUPT',
    `${etcdText} in ${file}${detail === '' ? '' : ` (${detail})`}; the file is left in place`,
    { file },
  )
}

/** No snapshot file in `dir` loads for any of the snapshots the WAL names. */
export function snapNotFound(dir: string, markers: number): SnapError {
  return new SnapError(
    'SNAP_NOT_FOUND',
    `snap: no available snapshot: no file in ${dir} loads for any of the ${markers} snapshot(s) ` +
      'the WAL names; restore this member from a peer',
    { file: dir },
  )
}
