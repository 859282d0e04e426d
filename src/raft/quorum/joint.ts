/**
 * A joint configuration: two majority configurations that must both agree, used while the
 * membership moves from the outgoing to the incoming set (Raft thesis §4.3; etcd-io/raft
 * quorum/joint.go).
 */

import type { NodeId } from '../raftpb/types.js'
import { MajorityConfig } from './majority.js'
import { VoteResult } from './types.js'
import type { AckedIndexer, Index } from './types.js'

export class JointConfig {
  /**
   * `incoming` is the configuration being moved to (the only one when not joint); `outgoing` is
   * empty unless the configuration is joint.
   */
  constructor(
    public incoming: MajorityConfig = new MajorityConfig(),
    public outgoing: MajorityConfig = new MajorityConfig(),
  ) {}

  clone(): JointConfig {
    return new JointConfig(this.incoming.clone(), this.outgoing.clone())
  }

  /** `(1 2 3)`, or `(1 2 3)&&(1 2 4)` when joint. */
  toString(): string {
    if (this.outgoing.size > 0) return `${this.incoming}&&${this.outgoing}`
    return this.incoming.toString()
  }

  /** A fresh set of the voters of both halves. */
  ids(): Set<NodeId> {
    const ids = new Set<NodeId>(this.incoming)
    for (const id of this.outgoing) ids.add(id)
    return ids
  }

  describe(l: AckedIndexer): string {
    return new MajorityConfig(this.ids()).describe(l)
  }

  /** An index is committed jointly once both halves have committed it. */
  committedIndex(l: AckedIndexer): Index {
    const idx0 = this.incoming.committedIndex(l)
    const idx1 = this.outgoing.committedIndex(l)
    return idx0 < idx1 ? idx0 : idx1
  }

  /** Won only if both halves won; lost as soon as either half lost. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const r1 = this.incoming.voteResult(votes)
    const r2 = this.outgoing.voteResult(votes)
    if (r1 === r2) return r1
    if (r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost) return VoteResult.VoteLost
    return VoteResult.VotePending
  }
}
