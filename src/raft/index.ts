/**
 * @module pontoon/raft
 *
 * A pure, deterministic Raft consensus library with etcd-io/raft's behaviour. The application
 * owns all I/O: it calls `tick()` on a timer, `step()` for each message received, and drains
 * `ready()` (persist, send, apply, then `advance()`). See README.md and ARCHITECTURE.md.
 *
 * This is the whole public surface, for two kinds of user: an embedder driving a RawNode, and a
 * Storage author persisting what it hands out (entries, HardState, snapshots) and serving it
 * back, with the errors the core expects from a Storage. Every name is listed, none re-exported
 * wholesale, so that an addition is a decision (index.test.ts pins the list). Not exported: the
 * Raft state machine (observers read `RawNode.view`), the log internals, the quorum and tracker
 * arithmetic, and the codec's field-level helpers (varints, field tags, per-record sizes).
 */

// The node and its configuration.
export { RawNode, SnapshotStatus, ProgressType, mustSync, type Peer } from './raw-node.js'
export type { RaftView } from './raft-view.js'
export {
  ReadOnlyOption,
  validateConfig,
  seededRand,
  type Config,
  type Rand,
  type ValidConfig,
} from './config.js'
export {
  StateType,
  stateTypeName,
  isEmptyReady,
  type Ready,
  type ReadState,
  type SoftState,
} from './ready.js'
export { statusToJSON, type BasicStatus, type Status } from './status.js'
export { Progress } from './tracker/progress.js'
export { StateType as ProgressStateType } from './tracker/state.js'

// Storage: the interface, the in-memory implementation, and what a Storage throws (etcd-io/raft
// ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, ErrSnapshotTemporarilyUnavailable, with their
// texts): the core reacts to these four codes and treats any other error as fatal.
export { MemoryStorage, type Storage, type StorageCallStats } from './storage.js'
export {
  RaftError,
  errCompacted,
  errSnapOutOfDate,
  errUnavailable,
  errSnapshotTemporarilyUnavailable,
  type RaftErrorCode,
} from './errors.js'
export { AssertionError, assert } from './assert.js'
export { LevelLogger, LogLevel, discardLogger, type Logger } from './logger.js'

// The records (raftpb), their constructors and predicates.
export {
  None,
  LocalAppendThread,
  LocalApplyThread,
  EMPTY_BYTES,
  EntryType,
  MessageType,
  ConfChangeType,
  ConfChangeTransition,
  newMessage,
  message,
  entry,
  emptyConfState,
  emptySnapshot,
  emptyHardState,
  isEmptyHardState,
  isEmptySnap,
  hardStateEqual,
  type NodeId,
  type Entry,
  type HardState,
  type ConfState,
  type SnapshotMetadata,
  type Snapshot,
  type Message,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
} from './raftpb/types.js'
// Copies that share only the payload bytes, for a Storage handing snapshots across its boundary.
export { cloneConfState, cloneSnapshot } from './types.js'

// Record-level protobuf encoding with etcd's field numbers (etcd's raftpb Marshal/Unmarshal): what
// a Storage persists and a transport sends. Decoding throws RaftError MALFORMED on any defect.
// entrySize is the encoded size the byte limits count (Storage.entries' maxSize; Go's Size()).
export {
  encodeEntry,
  decodeEntry,
  encodeHardState,
  decodeHardState,
  encodeConfState,
  decodeConfState,
  encodeSnapshot,
  decodeSnapshot,
  encodeMessage,
  decodeMessage,
  encodeConfChange,
  decodeConfChange,
  encodeConfChangeV2,
  decodeConfChangeV2,
  entrySize,
  entsSize,
} from './raftpb/codec.js'

// Conf changes.
export {
  asV1,
  asV2,
  isConfChangeV1,
  enterJoint,
  leaveJoint,
  confChangeFromEntry,
  marshalConfChange,
  unmarshalConfChange,
  unmarshalConfChangeV2,
  confChangesFromString,
  confChangesToString,
  confStateEquivalent,
} from './raftpb/confchange.js'

// Message classification and etcd's Describe functions (the conformance files' text format).
export {
  isLocalMsg,
  isResponseMsg,
  isLocalMsgTarget,
  describeEntry,
  describeEntries,
  describeHardState,
  describeSoftState,
  describeConfState,
  describeMessage,
  describeReady,
  describeSnapshot,
  describeConfChange,
  type EntryFormatter,
} from './util.js'
