/**
 * Rebuilding a configuration from a ConfState, at start-up and when a snapshot is applied
 * (etcd-io/raft confchange/restore.go).
 */

import { ConfChangeType } from '../raftpb/types.js'
import type { ConfChangeSingle, ConfState } from '../raftpb/types.js'
import { Changer } from './confchange.js'
import type { ConfChangeResult, TrackerState } from './confchange.js'

/**
 * Turns a ConfState into two lists of changes: `outgoing` builds (one voter at a time) the
 * configuration that becomes the outgoing half, and `incoming`, applied on top of it while
 * entering the joint state, yields the ConfState. For example voters=(1 2 3) learners=(5)
 * outgoing=(1 2 4 6) learners_next=(4) gives
 *
 *   outgoing: add 1, add 2, add 4, add 6
 *   incoming: remove 1, remove 2, remove 4, remove 6, add 1, add 2, add 3,
 *             add-learner 5, add-learner 4
 *
 * Whether 5 was a learner before the joint state began cannot be told, and does not matter.
 */
export function toConfChangeSingle(cs: ConfState): {
  outgoing: ConfChangeSingle[]
  incoming: ConfChangeSingle[]
} {
  const change = (type: ConfChangeType, nodeId: bigint): ConfChangeSingle => ({ type, nodeId })
  const outgoing = cs.votersOutgoing.map((id) => change(ConfChangeType.ConfChangeAddNode, id))
  const incoming = [
    ...cs.votersOutgoing.map((id) => change(ConfChangeType.ConfChangeRemoveNode, id)),
    ...cs.voters.map((id) => change(ConfChangeType.ConfChangeAddNode, id)),
    ...cs.learners.map((id) => change(ConfChangeType.ConfChangeAddLearnerNode, id)),
    // Demotions staged while joint: applying them in the joint state puts them in learnersNext.
    ...cs.learnersNext.map((id) => change(ConfChangeType.ConfChangeAddLearnerNode, id)),
  ]
  return { outgoing, incoming }
}

/**
 * Runs the changes that turn the Changer's configuration (which must be empty) into `cs`. Throws
 * the Changer's RaftError if a step fails. The Changer's tracker is not modified.
 */
export function restore(chg: Changer, cs: ConfState): ConfChangeResult {
  const { outgoing, incoming } = toConfChangeSingle(cs)
  let state: TrackerState = chg.tracker
  const step = (op: (c: Changer) => ConfChangeResult): void => {
    const { config, progress } = op(new Changer(state, chg.lastIndex))
    state = { ...state, config, progress }
  }
  if (outgoing.length === 0) {
    // Not joint: apply the incoming changes one by one.
    for (const cc of incoming) step((c) => c.simple([cc]))
  } else {
    // Joint: first build the outgoing config as if it were the only one, e.g. (2 3 4)&&(), then
    // enter the joint state with the incoming changes, giving (1 2 3)&&(2 3 4).
    for (const cc of outgoing) step((c) => c.simple([cc]))
    step((c) => c.enterJoint(cs.autoLeave, incoming))
  }
  return { config: state.config, progress: state.progress }
}
