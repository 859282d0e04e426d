/**
 * @module pontoon/wal
 *
 * Durable raft storage: a segmented write-ahead log with group commit (`Wal`), snapshot files
 * (`Snapshotter`, from src/snap), and the raft `Storage` over both (`WalStorage`). All file access
 * goes through an injected `Disk` (src/io: `NodeDisk`; src/sim: `SimDisk`).
 */
export { WalStorage, type WalStorageOptions, type StorageWrite } from './wal-storage.js'
export {
  Wal,
  SEGMENT_BYTES_DEFAULT,
  segmentName,
  parseSegmentName,
  type WalOptions,
  type WalBatch,
  type WalRecovery,
  type WalStats,
} from './wal.js'
export { WalError, type WalErrorCode } from './errors.js'
export { SnapError, type SnapErrorCode } from '../snap/index.js'
export { RecordType, type WalMetadata, type WalSnapshot } from './record.js'
export { Snapshotter, SNAPSHOTS_KEPT_DEFAULT, snapName } from '../snap/index.js'
export type { Disk, DiskFile } from '../io/index.js'
