/**
 * The typed errors of src/mvcc (STYLE.md §4): a stable `code`, etcd's text where etcd has one
 * (server/mvcc/kvstore.go: ErrCompacted "mvcc: required revision has been compacted",
 * ErrFutureRev "mvcc: required revision is a future revision"), and a `Symbol.for` brand so
 * `instanceof` works across copies of the package. The server maps the codes to gRPC statuses and
 * etcd's "etcdserver: ..." texts (src/server/errors.ts); clients match those texts.
 */

export type MvccErrorCode =
  /** A read or a compaction at a revision at or below the last compaction (etcd ErrCompacted). */
  | 'COMPACTED'
  /** A read or a compaction at a revision above the current one (etcd ErrFutureRev). */
  | 'FUTURE_REV'
  /** Snapshot bytes that fail their checks; the store is left as it was. */
  | 'SNAPSHOT_CORRUPT'
  /** What the backend holds does not decode (a bad record, meta value or layout). */
  | 'BACKEND_CORRUPT'
  /** The backend could not write (a failed commit): the member must stop. */
  | 'BACKEND_FAILED'
  /** The store or backend was used after close(). */
  | 'CLOSED'

/** etcd's texts, word for word (server/mvcc/kvstore.go). */
export const ERR_COMPACTED_TEXT = 'mvcc: required revision has been compacted'
export const ERR_FUTURE_REV_TEXT = 'mvcc: required revision is a future revision'

const kMvccError = Symbol.for('pontoon.mvcc.error')

export class MvccError extends Error {
  readonly code: MvccErrorCode
  readonly [kMvccError] = true

  constructor(code: MvccErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MvccError'
    this.code = code
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kMvccError in value
  }

  static is(err: unknown, code: MvccErrorCode): err is MvccError {
    return err instanceof MvccError && err.code === code
  }
}

export function errCompacted(): MvccError {
  return new MvccError('COMPACTED', ERR_COMPACTED_TEXT)
}

export function errFutureRev(): MvccError {
  return new MvccError('FUTURE_REV', ERR_FUTURE_REV_TEXT)
}

export function snapshotCorrupt(detail: string): MvccError {
  return new MvccError(
    'SNAPSHOT_CORRUPT',
    `mvcc: snapshot is corrupt (${detail}); the store was not changed`,
  )
}

export function backendCorrupt(detail: string): MvccError {
  return new MvccError(
    'BACKEND_CORRUPT',
    `mvcc: backend content does not decode (${detail}); restore this member from a snapshot or a peer`,
  )
}

export function errClosed(what: string): MvccError {
  return new MvccError('CLOSED', `mvcc: ${what} used after close()`)
}
