/**
 * The core's typed errors. Each has a stable `code`, etcd-io/raft's exact message text (callers and
 * the conformance files match it) and a `Symbol.for` brand so that `instanceof` works across
 * copies of the package (undici lib/core/errors.js).
 */

export type RaftErrorCode =
  | 'PROPOSAL_DROPPED'
  | 'STOPPED'
  | 'STEP_LOCAL_MSG'
  | 'STEP_PEER_NOT_FOUND'
  | 'COMPACTED'
  | 'SNAP_OUT_OF_DATE'
  | 'UNAVAILABLE'
  | 'SNAPSHOT_TEMPORARILY_UNAVAILABLE'
  | 'INVALID_CONFIG'
  | 'CONF_CHANGE'
  | 'MALFORMED'

const kRaftError = Symbol.for('pontoon.raft.error')

export class RaftError extends Error {
  readonly code: RaftErrorCode
  readonly [kRaftError] = true

  constructor(code: RaftErrorCode, message: string) {
    super(message)
    this.name = 'RaftError'
    this.code = code
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kRaftError in value
  }

  /** True when `err` is a RaftError with the given code. */
  static is(err: unknown, code: RaftErrorCode): err is RaftError {
    return err instanceof RaftError && err.code === code
  }
}

export const errorText = {
  PROPOSAL_DROPPED: 'raft proposal dropped',
  STOPPED: 'raft: stopped',
  STEP_LOCAL_MSG: 'raft: cannot step raft local message',
  STEP_PEER_NOT_FOUND: 'raft: cannot step as peer not found',
  COMPACTED: 'requested index is unavailable due to compaction',
  SNAP_OUT_OF_DATE: 'requested index is older than the existing snapshot',
  UNAVAILABLE: 'requested entry at index is unavailable',
  SNAPSHOT_TEMPORARILY_UNAVAILABLE: 'snapshot is temporarily unavailable',
} as const

export const errProposalDropped = (): RaftError =>
  new RaftError('PROPOSAL_DROPPED', errorText.PROPOSAL_DROPPED)
export const errStepLocalMsg = (): RaftError =>
  new RaftError('STEP_LOCAL_MSG', errorText.STEP_LOCAL_MSG)
export const errStepPeerNotFound = (): RaftError =>
  new RaftError('STEP_PEER_NOT_FOUND', errorText.STEP_PEER_NOT_FOUND)
export const errCompacted = (): RaftError => new RaftError('COMPACTED', errorText.COMPACTED)
export const errSnapOutOfDate = (): RaftError =>
  new RaftError('SNAP_OUT_OF_DATE', errorText.SNAP_OUT_OF_DATE)
export const errUnavailable = (): RaftError => new RaftError('UNAVAILABLE', errorText.UNAVAILABLE)
export const errSnapshotTemporarilyUnavailable = (): RaftError =>
  new RaftError('SNAPSHOT_TEMPORARILY_UNAVAILABLE', errorText.SNAPSHOT_TEMPORARILY_UNAVAILABLE)
export const errInvalidConfig = (message: string): RaftError =>
  new RaftError('INVALID_CONFIG', message)
