/**
 * The leader's per-peer bookkeeping: replication state (Progress), flow control (Inflights) and
 * the active configuration with the votes and commit index derived from it (ProgressTracker).
 */

export { StateType, stateTypeName } from './state.js'
export { Inflights } from './inflights.js'
export { Progress, ProgressMap } from './progress.js'
export type { ProgressInit } from './progress.js'
export { ProgressTracker, TrackerConfig } from './tracker.js'
export type { TallyResult } from './tracker.js'
