/**
 * The typed errors of src/wal (STYLE.md §4; src/snap has its own SnapError): a stable `code`, a message that says what
 * was found, where, and what to do, and a `Symbol.for` brand so `instanceof` works across copies.
 * `file` and `offset` name the place on disk when there is one.
 */

export type WalErrorCode =
  /** A record before the tail fails its checks; nothing was truncated. */
  | 'WAL_CORRUPT'
  /** The segment names skip a sequence number, or the first segment is gone. */
  | 'WAL_MISSING_SEGMENT'
  /** The data dir belongs to another node or cluster. */
  | 'WAL_METADATA_MISMATCH'
  /** The entries on disk leave a hole (after the snapshot, or between records). */
  | 'WAL_GAP'
  /** Snapshots exist but the WAL does not. */
  | 'WAL_NOT_FOUND'
  /** A write or sync failed; the WAL refuses further appends (it cannot know what is durable). */
  | 'WAL_IO'
  | 'WAL_CLOSED'

const kWalError = Symbol.for('pontoon.wal.error')

export class WalError extends Error {
  readonly code: WalErrorCode
  readonly file: string | undefined
  readonly offset: number | undefined
  readonly [kWalError] = true

  constructor(
    code: WalErrorCode,
    message: string,
    where: { file?: string; offset?: number; cause?: unknown } = {},
  ) {
    super(message, where.cause === undefined ? undefined : { cause: where.cause })
    this.name = 'WalError'
    this.code = code
    this.file = where.file
    this.offset = where.offset
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kWalError in value
  }

  static is(err: unknown, code: WalErrorCode): err is WalError {
    return err instanceof WalError && err.code === code
  }
}

export function corrupt(file: string, offset: number, detail: string): WalError {
  return new WalError(
    'WAL_CORRUPT',
    `wal: corrupt record in ${file} at offset ${offset}: ${detail}; ` +
      'nothing was truncated (only a torn tail is repaired); restore this member from a peer',
    { file, offset },
  )
}

/** An I/O call failed: the WAL cannot know what is durable and accepts no more writes. */
export function ioError(what: string, cause: unknown): WalError {
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new WalError('WAL_IO', `wal: ${what} failed: ${detail}; the WAL accepts no more writes`, {
    cause,
  })
}
