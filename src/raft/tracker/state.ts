/** How the leader replicates to one follower (etcd-io/raft tracker/state.go, design.md). */

export enum StateType {
  /**
   * The follower's last index is unknown: the leader sends one append at a time and waits for
   * the reply, narrowing down where the logs match.
   */
  StateProbe = 0,
  /** The steady state: the leader streams appends optimistically, bounded by Inflights. */
  StateReplicate = 1,
  /**
   * The follower needs entries the leader has compacted away; appends stop until a snapshot
   * reconnects it.
   */
  StateSnapshot = 2,
}

export function stateTypeName(state: StateType): string {
  return StateType[state]
}
