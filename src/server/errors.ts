/**
 * The one table from the server's error codes to what an etcd client sees: a gRPC status code and
 * etcd's exact text (etcd api/v3rpc/rpctypes/error.go). Clients match on these texts (clientv3
 * turns them back into typed errors by string), so they are facts, copied letter for letter.
 *
 * Everything the server refuses or fails is a ServerError with one of these codes; the gRPC edge
 * (services.ts) turns it into an RpcError, and node and mvcc errors are mapped here too
 * (fromNodeError, fromMvccError), so no text is written twice.
 */

import { GrpcStatus as Status } from '../api/index.js'
import { MvccError } from '../mvcc/index.js'

const table = {
  EMPTY_KEY: [Status.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  KEY_NOT_FOUND: [Status.INVALID_ARGUMENT, 'etcdserver: key not found'],
  VALUE_PROVIDED: [Status.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  LEASE_PROVIDED: [Status.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  TOO_MANY_OPS: [Status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  DUPLICATE_KEY: [Status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  INVALID_SORT_OPTION: [Status.INVALID_ARGUMENT, 'etcdserver: invalid sort option'],
  COMPACTED: [Status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  FUTURE_REV: [Status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  NO_SPACE: [Status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],
  LEASE_NOT_FOUND: [Status.NOT_FOUND, 'etcdserver: requested lease not found'],
  LEASE_EXIST: [Status.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  LEASE_TTL_TOO_LARGE: [Status.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],
  MEMBER_NOT_FOUND: [Status.NOT_FOUND, 'etcdserver: member not found'],
  MEMBER_EXIST: [Status.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  PEER_URL_EXIST: [Status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  MEMBER_BAD_URLS: [Status.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  /** etcd 3.4 does not map this one in togRPCError: clients see code Unknown (2). */
  MEMBER_NOT_ENOUGH_STARTED: [
    Status.UNKNOWN,
    'etcdserver: re-configuration failed due to not enough started members',
  ],
  MEMBER_NOT_LEARNER: [Status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  LEARNER_NOT_READY: [
    Status.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ],
  REQUEST_TOO_LARGE: [Status.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  TOO_MANY_REQUESTS: [Status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],
  NO_LEADER: [Status.UNAVAILABLE, 'etcdserver: no leader'],
  NOT_LEADER: [Status.FAILED_PRECONDITION, 'etcdserver: not leader'],
  LEADER_CHANGED: [Status.UNAVAILABLE, 'etcdserver: leader changed'],
  STOPPED: [Status.UNAVAILABLE, 'etcdserver: server stopped'],
  TIMEOUT: [Status.UNAVAILABLE, 'etcdserver: request timed out'],
  TIMEOUT_LEADER_FAIL: [
    Status.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to previous leader failure',
  ],
  UNHEALTHY: [Status.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
  CORRUPT: [Status.DATA_LOSS, 'etcdserver: corrupt cluster'],
  NOT_SUPPORTED_FOR_LEARNER: [Status.UNAVAILABLE, 'etcdserver: rpc not supported for learner'],
  /** Not etcd's: an internal failure (a bug or a broken disk); the text says what. */
  INTERNAL: [Status.INTERNAL, 'etcdserver: internal error'],
} as const satisfies Record<string, readonly [number, string]>

export type ServerErrorCode = keyof typeof table

const kServerError = Symbol.for('pontoon.server.error')

export class ServerError extends Error {
  override readonly name = 'ServerError'
  readonly code: ServerErrorCode
  /** The gRPC status code a client receives. */
  readonly status: number
  readonly [kServerError] = true

  constructor(code: ServerErrorCode, message?: string) {
    const [status, text] = table[code]
    super(message ?? text)
    this.code = code
    this.status = status
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kServerError in value
  }

  static is(err: unknown, code: ServerErrorCode): err is ServerError {
    return err instanceof ServerError && err.code === code
  }
}

/** The gRPC status and text a client sees for `code`. */
export function statusOf(code: ServerErrorCode): readonly [number, string] {
  return table[code]
}

export const serverErrorCodes = Object.keys(table) as ServerErrorCode[]

/**
 * The node driver's error codes, as the client of etcd sees the same situation. One divergence
 * (docs/divergence.md): a proposal raft drops because there is no leader fails at once with "no
 * leader", where etcd's raft blocks the proposal until its request timeout.
 */
export function fromNodeErrorCode(code: string): ServerErrorCode {
  switch (code) {
    case 'PROPOSAL_DROPPED':
      return 'NO_LEADER'
    case 'TOO_MANY_REQUESTS':
      return 'TOO_MANY_REQUESTS'
    case 'TIMEOUT':
      return 'TIMEOUT'
    case 'LEADER_LOST':
      return 'TIMEOUT_LEADER_FAIL'
    case 'LEADER_CHANGED':
      return 'LEADER_CHANGED'
    case 'STOPPED':
      return 'STOPPED'
    default:
      return 'INTERNAL'
  }
}

/** The store's refusals as the client's errors; anything else is a bug and is thrown again. */
export function fromMvccError(err: unknown): ServerError {
  if (MvccError.is(err, 'COMPACTED')) return new ServerError('COMPACTED')
  if (MvccError.is(err, 'FUTURE_REV')) return new ServerError('FUTURE_REV')
  throw err
}
