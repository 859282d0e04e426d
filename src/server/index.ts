/**
 * The server's public surface for the layers that run its code outside a process: the simulator
 * runs the same apply path (ServerStateMachine over an MvccStore) under its faults, and proposes
 * the same encoded requests.
 */
export {
  ServerStateMachine,
  MEMBERS_META,
  type ApplyResult,
  type ServerStateMachineOptions,
} from './state-machine.js'
export { encodeRequest, decodeRequest, type MemberAttributes, type RaftRequest } from './request.js'
export { applyRange } from './apply-kv.js'
export { Members, type Member } from './members.js'
export { ServerError } from './errors.js'
export {
  Lessor,
  minLeaseTtlSeconds,
  type KeyDeleter,
  type LeaseInfo,
  type LessorOptions,
} from './lessor.js'
