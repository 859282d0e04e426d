/**
 * The node driver's typed errors: what a proposal or a read can fail with. Each code says
 * whether the operation may still take effect, so a caller knows whether a retry is safe; the
 * texts are etcd's (etcdserver/errors.go), which etcd's clients match and the server will pass
 * on unchanged.
 */

export type NodeErrorCode =
  /** Certainly not applied: raft refused it (no leader, a transfer in progress) or a leader lost it. */
  | 'PROPOSAL_DROPPED'
  /** Certainly not applied: a queue of the node is full. */
  | 'TOO_MANY_REQUESTS'
  /** Outcome unknown: no answer within the request timeout. */
  | 'TIMEOUT'
  /** Outcome unknown: the leader changed while the proposal was in flight, and it timed out. */
  | 'LEADER_LOST'
  /** A read: the leader changed before it was confirmed (retry it). */
  | 'LEADER_CHANGED'
  /** Outcome unknown: the node stopped (or failed) first. */
  | 'STOPPED'
  /** The node's storage or state machine failed: it stops (etcd exits). */
  | 'FATAL'
  /** A bad argument or option, named in the message. */
  | 'INVALID'

const kNodeError = Symbol.for('pontoon.node.error')

export class NodeError extends Error {
  readonly code: NodeErrorCode
  readonly [kNodeError] = true

  constructor(code: NodeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'NodeError'
    this.code = code
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kNodeError in value
  }

  static is(err: unknown, code: NodeErrorCode): err is NodeError {
    return err instanceof NodeError && err.code === code
  }
}

export const nodeErrorText = {
  PROPOSAL_DROPPED: 'raft proposal dropped',
  TOO_MANY_REQUESTS: 'etcdserver: too many requests',
  TIMEOUT: 'etcdserver: request timed out',
  LEADER_LOST: 'etcdserver: request timed out, possibly due to previous leader failure',
  LEADER_CHANGED: 'etcdserver: leader changed',
  STOPPED: 'etcdserver: server stopped',
} as const

export const errProposalDropped = (): NodeError =>
  new NodeError('PROPOSAL_DROPPED', nodeErrorText.PROPOSAL_DROPPED)
export const errTooManyRequests = (): NodeError =>
  new NodeError('TOO_MANY_REQUESTS', nodeErrorText.TOO_MANY_REQUESTS)
export const errTimeout = (): NodeError => new NodeError('TIMEOUT', nodeErrorText.TIMEOUT)
export const errLeaderLost = (): NodeError =>
  new NodeError('LEADER_LOST', nodeErrorText.LEADER_LOST)
export const errLeaderChanged = (): NodeError =>
  new NodeError('LEADER_CHANGED', nodeErrorText.LEADER_CHANGED)
export const errStopped = (cause?: unknown): NodeError =>
  new NodeError('STOPPED', nodeErrorText.STOPPED, cause === undefined ? undefined : { cause })
