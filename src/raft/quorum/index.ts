/**
 * Quorum arithmetic: which index a majority (or a joint pair of majorities) has acknowledged, and
 * who won an election. Pure functions of a configuration; the tracker owns the configurations.
 */

export { MajorityConfig } from './majority.js'
export { JointConfig } from './joint.js'
export {
  MapAckIndexer,
  VoteResult,
  compareIds,
  formatIdSet,
  indexString,
  sortedIds,
  voteResultName,
} from './types.js'
export type { AckedIndexer, Index } from './types.js'
