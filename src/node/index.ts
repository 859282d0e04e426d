/**
 * @module pontoon/node
 *
 * The node driver: runs a Raft member over a storage, a state machine, a transport and a clock.
 * See RaftNode (node.ts) and the README's three-node example.
 */
export { RaftNode, type NodeStatus } from './node.js'
export type { NodeOptions, NodeObserver } from './options.js'
export { NodeError, nodeErrorText, type NodeErrorCode } from './errors.js'
export type { StateMachine, AppliedConfChange } from './state-machine.js'
export { MemoryNodeStorage, type NodeStorage, type StorageWrite } from './storage.js'
export { LocalNetwork, type Transport, type PeerHandler } from './transport.js'
export { ManualClock, systemClock, type Clock } from '../io/index.js'
