/**
 * @module pontoon/snap (reached through pontoon/wal)
 *
 * Snapshot files: saved atomically with a checksum, the newest N kept, read back against the
 * WAL's markers; SnapError for what cannot be read.
 */
export {
  Snapshotter,
  SNAPSHOTS_KEPT_DEFAULT,
  snapName,
  type SnapshotId,
  type SnapshotterOptions,
} from './snapshotter.js'
export { SnapError, snapCorrupt, snapNotFound, type SnapErrorCode } from './errors.js'
