/**
 * @module pontoon/mvcc
 *
 * etcd's multi-version KV store (server/mvcc): revisions (main, sub), a key index with
 * generations and tombstones, ranges at any revision not compacted, one write transaction per
 * raft entry, physical compaction, the consistent (applied raft) index persisted with the data,
 * and snapshots of the whole content. Over a Backend: MemoryBackend (simulator, tests) or
 * LmdbBackend (the server).
 */
export {
  MvccStore,
  type Compaction,
  type MvccStoreOptions,
  type RangeOptions,
  type ChangesResult,
  type RangeResult,
  type StoreObserver,
  type WriteTxn,
} from './store.js'
export type { KeyValue, WatchEvent } from './kv.js'
export {
  ERR_EMPTY_WATCHER_RANGE_TEXT,
  ERR_WATCHER_DUPLICATE_ID_TEXT,
  WatchError,
  WatchStream,
  WatchableStore,
  type WatchErrorCode,
  type WatchRequest,
  type WatchResponse,
  type WatchSink,
  type WatchableStoreOptions,
  type WatcherCounts,
} from './watchable-store.js'
export {
  MemoryBackend,
  type Backend,
  type BackendEntry,
  type Bucket,
  type MemoryBackendOptions,
} from './backend.js'
export { LmdbBackend, type LmdbBackendOptions } from './lmdb-backend.js'
export { ERR_COMPACTED_TEXT, ERR_FUTURE_REV_TEXT, MvccError, type MvccErrorCode } from './errors.js'
