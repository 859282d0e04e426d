/**
 * Status snapshots of a Raft instance for the application: BasicStatus allocates little;
 * Status adds the configuration and, on a leader, a copy of every peer's Progress.
 */
import type { Raft } from './raft.js'
import type { Progress } from './tracker/progress.js'
import type { TrackerConfig } from './tracker/tracker.js'
import { StateType, type SoftState } from './ready.js'
import type { HardState, NodeId } from './raftpb/types.js'

export interface BasicStatus {
  id: NodeId
  hardState: HardState
  softState: SoftState
  applied: number
  leadTransferee: NodeId
}

export interface Status extends BasicStatus {
  config: TrackerConfig
  /** Only on the leader: a copy of each peer's progress, by id. */
  progress: Map<NodeId, Progress>
}

export function getBasicStatus(r: Raft): BasicStatus {
  return {
    id: r.id,
    hardState: r.hardState(),
    softState: r.softState(),
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  }
}

export function getStatus(r: Raft): Status {
  const progress = new Map<NodeId, Progress>()
  if (r.state === StateType.StateLeader) {
    r.trk.visit((id, pr) => progress.set(id, pr.clone()))
  }
  return { ...getBasicStatus(r), config: r.trk.config.clone(), progress }
}
