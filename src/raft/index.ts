/**
 * @module pontoon/raft
 *
 * A pure, deterministic Raft consensus library with etcd-io/raft's behaviour. The application
 * owns all I/O: it calls `tick()` on a timer, `step()` for each message received, and drains
 * `ready()` (persist, send, apply, then `advance()`). See README.md and ARCHITECTURE.md.
 */
export { RawNode, SnapshotStatus, ProgressType, mustSync, type Peer } from './raw-node.js'
export { ReadOnlyOption, validateConfig, seededRand, type Config, type Rand } from './config.js'
export { MemoryStorage, type Storage } from './storage.js'
export { RaftError, type RaftErrorCode } from './errors.js'
export { AssertionError } from './assert.js'
export { LevelLogger, LogLevel, discardLogger, type Logger } from './logger.js'
export {
  StateType,
  stateTypeName,
  isEmptyReady,
  type Ready,
  type ReadState,
  type SoftState,
} from './ready.js'
export type { BasicStatus, Status } from './status.js'
export { Progress } from './tracker/progress.js'
export { StateType as ProgressStateType } from './tracker/state.js'
export {
  isLocalMsg,
  isResponseMsg,
  isLocalMsgTarget,
  describeEntry,
  describeEntries,
  describeMessage,
  describeReady,
  describeSnapshot,
  describeConfChange,
  type EntryFormatter,
} from './util.js'
export * from './raftpb/types.js'
export * from './raftpb/codec.js'
export {
  asV2,
  enterJoint,
  leaveJoint,
  marshalConfChange,
  unmarshalConfChange,
  unmarshalConfChangeV2,
  confChangesFromString,
  confChangesToString,
  confStateEquivalent,
} from './raftpb/confchange.js'
