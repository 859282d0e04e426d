/**
 * Status snapshots of a Raft instance for the application: BasicStatus allocates little;
 * Status adds the configuration and, on a leader, a copy of every peer's Progress.
 */
import type { Raft } from './raft.js'
import type { Progress } from './tracker/progress.js'
import type { TrackerConfig } from './tracker/tracker.js'
import { StateType, stateTypeName, type SoftState } from './ready.js'
import { stateTypeName as stateName } from './tracker/state.js'
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

/**
 * etcd-io/raft's Status JSON (etcd serves it at /debug/vars): ids in hex, progress by peer
 * (sorted here, where Go's map order is random).
 */
export function statusToJSON(s: Status): string {
  const hex = (id: NodeId): string => id.toString(16)
  const progress = [...s.progress.keys()]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((id) => {
      const pr = s.progress.get(id) as Progress
      return `"${hex(id)}":{"match":${pr.match},"next":${pr.next},"state":${JSON.stringify(stateName(pr.state))}}`
    })
    .join(',')
  return (
    `{"id":"${hex(s.id)}","term":${s.hardState.term},"vote":"${hex(s.hardState.vote)}",` +
    `"commit":${s.hardState.commit},"lead":"${hex(s.softState.lead)}",` +
    `"raftState":${JSON.stringify(stateTypeName(s.softState.raftState))},"applied":${s.applied},` +
    `"progress":{${progress}},"leadtransferee":"${hex(s.leadTransferee)}"}`
  )
}
