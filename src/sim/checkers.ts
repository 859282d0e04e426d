/**
 * Safety checkers that stand outside the code under test: they see only what an observer of the
 * cluster could record (who claimed leadership in which term, what each node persisted and
 * applied, each node's commit index) and know nothing of Raft's internals. The cluster reports
 * events here; the first broken property throws a Violation naming it.
 *
 * Properties (Raft paper §5.2-§5.4, Figure 3):
 * - election safety: at most one leader per term;
 * - log matching: an (index, term) pair ever persisted by any node always carries the same data
 *   and follows the same previous term, so two logs agreeing on an entry agree on every earlier
 *   one (by induction on the index);
 * - leader completeness: a new leader's log holds every entry any node has known committed or
 *   applied, and no node ever commits a different term at an index committed elsewhere;
 * - state machine safety: every node applies the same entry at each index, and the state machine
 *   hash after index i is the same everywhere (this also covers state installed by snapshots);
 * - no committed entry lost: the above hold across crashes, because the records are global and
 *   never forgotten when a node restarts;
 * - commit rule: a leader's commit index only ever advances to an entry of its own term
 *   (§5.4.2); visible from outside as the HardState a leader persists, with the log beside it;
 * - monotonicity: on a live node the applied index grows by exactly one per entry (a snapshot
 *   may jump forward) and the commit index never goes backwards;
 * - commit quorum: when a leader advances its commit index, a quorum of its configuration (a
 *   majority of each half, when joint: Raft thesis §4.3) has persisted that entry, or a snapshot
 *   covering it;
 * - election quorum: a node becomes leader only with votes granted by a quorum of its
 *   configuration (itself included; learners never count).
 */
import type { ConfState } from '../raft/index.js'

export type ViolationKind =
  | 'election-safety'
  | 'log-matching'
  | 'leader-completeness'
  | 'commit-rule'
  | 'state-machine-safety'
  | 'monotonic'
  | 'stale-read'
  | 'linearizability'
  | 'liveness'
  | 'raft-panic'
  | 'membership'
  | 'durability'
  | 'runaway'
  | 'commit-quorum'
  | 'election-quorum'
  | 'read-quorum'
  /** Server machine: a response that contradicts its request (server-workload.ts). */
  | 'response'
  /** Server machine: revisions that do not follow the log (server-workload.ts). */
  | 'revision'
  /** Server machine: a watcher that missed, repeated or reordered an event (watchers.ts). */
  | 'watch'
  /** Server machine: lease keys that differ from the lease model, or a lease expired early (leases.ts). */
  | 'lease'

export class Violation extends Error {
  override readonly name = 'Violation'
  constructor(
    readonly kind: ViolationKind,
    message: string,
  ) {
    super(`${kind}: ${message}`)
  }
}

/** Terms are packed with indexes into one number key; runs never get near this many terms. */
const TERM_LIMIT = 0x1_0000

/** A node's view of its log, enough to compare a new leader's log with what was applied. */
export interface LogView {
  firstIndex: number
  lastIndex: number
  /** The term at `i`, for firstIndex <= i <= lastIndex. */
  termAt(i: number): number
}

export class Checker {
  private readonly leaderOfTerm = new Map<number, number>()
  /** (index, term) key -> data hash of the entry, over every entry any node persisted. */
  private readonly persistedHash = new Map<number, number>()
  /** (index, term) key -> term of the entry before it (-1 when the writer could not tell). */
  private readonly persistedPrevTerm = new Map<number, number>()
  /** (index, term) key -> the nodes that persisted it, one bit per node id. */
  private readonly persistedBy = new Map<number, number>()
  /** Per node id: the highest snapshot index it persisted. */
  private readonly snapshotIndex: number[]
  /** By log index: the term and data hash of the first application anywhere; -1 unknown. */
  private readonly appliedTerm: number[] = []
  private readonly appliedHash: number[] = []
  /** By log index: the state machine hash after applying that index, wherever first seen. */
  private readonly smHashAt: number[] = []
  /** Per node id: the applied and commit index of the live incarnation; -1 while crashed. */
  private readonly nodeApplied: number[]
  private readonly nodeCommitted: number[]
  /** By log index: the term of the entry any node first reported committed there; -1 unknown. */
  private readonly committedTerm: number[] = []
  /** The highest index any node has applied. */
  maxApplied = 0
  /** The highest index any node has known committed. */
  maxCommitted = 0

  constructor(nodeCount: number) {
    this.nodeApplied = new Array<number>(nodeCount + 1).fill(-1)
    this.nodeCommitted = new Array<number>(nodeCount + 1).fill(-1)
    this.snapshotIndex = new Array<number>(nodeCount + 1).fill(0)
    if (nodeCount > 30) throw new RangeError(`${nodeCount} nodes: the checker keeps one bit each`)
  }

  /** `node` was seen as leader of `term`. */
  leader(term: number, node: number): void {
    const seen = this.leaderOfTerm.get(term)
    if (seen === undefined) this.leaderOfTerm.set(term, node)
    else if (seen !== node) {
      throw new Violation('election-safety', `term ${term} has two leaders: ${seen} and ${node}`)
    }
  }

  /** `node` made the entry (index, term) with data hash `hash` durable after `prevTerm`. */
  persisted(node: number, index: number, term: number, hash: number, prevTerm: number): void {
    if (term >= TERM_LIMIT) throw new RangeError(`term ${term} beyond the checker's key space`)
    const key = index * TERM_LIMIT + term
    this.persistedBy.set(key, (this.persistedBy.get(key) ?? 0) | (1 << node))
    const seenHash = this.persistedHash.get(key)
    if (seenHash === undefined) {
      this.persistedHash.set(key, hash)
      this.persistedPrevTerm.set(key, prevTerm)
      return
    }
    if (seenHash !== hash) {
      throw new Violation(
        'log-matching',
        `node ${node} persisted index ${index} term ${term} with data ${hex(hash)}, ` +
          `another node with ${hex(seenHash)}`,
      )
    }
    const seenPrev = this.persistedPrevTerm.get(key) as number
    if (seenPrev === -1) this.persistedPrevTerm.set(key, prevTerm)
    else if (prevTerm !== -1 && seenPrev !== prevTerm) {
      throw new Violation(
        'log-matching',
        `node ${node} persisted index ${index} term ${term} after term ${prevTerm}, ` +
          `another node after term ${seenPrev}`,
      )
    }
  }

  /** `node` applied the entry (index, term, data hash); its state machine hash is now `smHash`. */
  applied(node: number, index: number, term: number, hash: number, smHash: number): void {
    const last = this.nodeApplied[node] as number
    if (last !== -1 && index !== last + 1) {
      throw new Violation('monotonic', `node ${node} applied ${index} right after ${last}`)
    }
    this.nodeApplied[node] = index
    const seenTerm = this.appliedTerm[index]
    if (seenTerm === undefined || seenTerm === -1) {
      this.fillTo(index)
      this.appliedTerm[index] = term
      this.appliedHash[index] = hash
    } else if (seenTerm !== term || this.appliedHash[index] !== hash) {
      throw new Violation(
        'state-machine-safety',
        `node ${node} applied index ${index} term ${term} data ${hex(hash)}, another node ` +
          `applied term ${seenTerm} data ${hex(this.appliedHash[index] as number)}`,
      )
    }
    this.stateHash(node, index, smHash)
    if (index > this.maxApplied) this.maxApplied = index
  }

  /** `node` installed a snapshot at `index`; its state machine hash is now `smHash`. */
  snapshotApplied(node: number, index: number, smHash: number): void {
    const last = this.nodeApplied[node] as number
    if (last !== -1 && index <= last) {
      throw new Violation(
        'monotonic',
        `node ${node} installed snapshot ${index} after applying ${last}`,
      )
    }
    this.nodeApplied[node] = index
    this.fillTo(index)
    this.stateHash(node, index, smHash)
    if (index > this.maxApplied) this.maxApplied = index
  }

  /**
   * `node`'s commit index is now `committed`; `termAt` reads its log (0 when compacted). Every
   * index newly committed there is recorded with its term: a committed entry is forever, so a
   * node that later commits another term at that index, or a leader without it, is a violation.
   */
  committed(node: number, committed: number, termAt: (i: number) => number): void {
    const last = this.nodeCommitted[node] as number
    if (committed < last) {
      throw new Violation(
        'monotonic',
        `node ${node} commit index went from ${last} to ${committed}`,
      )
    }
    this.nodeCommitted[node] = committed
    this.fillTo(committed)
    for (let i = Math.max(last + 1, 1); i <= committed; i++) {
      const term = termAt(i)
      if (term === 0) continue
      const seen = this.committedTerm[i] as number
      if (seen === -1) this.committedTerm[i] = term
      else if (seen !== term) {
        throw new Violation(
          'state-machine-safety',
          `node ${node} committed index ${i} at term ${term}, another node at term ${seen}`,
        )
      }
    }
    if (committed > this.maxCommitted) this.maxCommitted = committed
  }

  /**
   * Leader `node` of `term` reports commit index `commit`, whose entry has term `entryTerm`. A
   * leader advances its commit index only by counting replicas of an entry of its own term
   * (Raft paper §5.4.2, Figure 8); committing an older entry that way could later be undone.
   */
  leaderCommitted(
    node: number,
    term: number,
    commit: number,
    entryTerm: number,
    confs: readonly ConfState[] = [],
  ): void {
    const last = this.nodeCommitted[node] as number
    if (last === -1 || commit <= last) return
    if (entryTerm === term) {
      if (confs.length > 0) this.leaderCommitQuorum(node, term, commit, entryTerm, confs)
      return
    }
    throw new Violation(
      'commit-rule',
      `leader ${node} of term ${term} advanced its commit index from ${last} to ${commit}, ` +
        `an entry of term ${entryTerm}`,
    )
  }

  /** `node` persisted a snapshot at `index`: it holds every entry up to there. */
  snapshotPersisted(node: number, index: number): void {
    if (index > (this.snapshotIndex[node] as number)) this.snapshotIndex[node] = index
  }

  /**
   * Leader `node` of `term` advanced its commit index to `commit`, an entry of `entryTerm`: a
   * quorum of one of `confs` (the configurations it held lately; raft counts in the one it has
   * when the ack arrives) must have persisted that entry, or a snapshot covering it.
   */
  leaderCommitQuorum(
    node: number,
    term: number,
    commit: number,
    entryTerm: number,
    confs: readonly ConfState[],
  ): void {
    const mask = this.persistedBy.get(commit * TERM_LIMIT + entryTerm) ?? 0
    const holds = (id: number): boolean =>
      (mask & (1 << id)) !== 0 || (this.snapshotIndex[id] ?? 0) >= commit
    if (confs.some((cs) => hasQuorum(cs, holds))) return
    const cs = confs[0] as ConfState
    const holders = [...cs.voters, ...cs.votersOutgoing].map(Number).filter(holds)
    throw new Violation(
      'commit-quorum',
      `leader ${node} of term ${term} committed index ${commit} (term ${entryTerm}), which only ` +
        `{${[...new Set(holders)].sort((a, b) => a - b)}} of ${describeVoters(cs)} had persisted`,
    )
  }

  /**
   * `node` became leader of `term` with votes granted by `granted` (itself apart): with itself, a
   * quorum of one of `confs` (the configurations it held during the campaign).
   */
  leaderVotes(
    node: number,
    term: number,
    granted: ReadonlySet<number>,
    confs: readonly ConfState[],
  ): void {
    const voted = (id: number): boolean => id === node || granted.has(id)
    if (confs.some((cs) => hasQuorum(cs, voted))) return
    throw new Violation(
      'election-quorum',
      `node ${node} became leader of term ${term} with votes from ` +
        `{${[node, ...granted].sort((a, b) => a - b)}}, not a quorum of ` +
        describeVoters(confs[0] as ConfState),
    )
  }

  crashed(node: number): void {
    this.nodeApplied[node] = -1
    this.nodeCommitted[node] = -1
  }

  /** `node` restarted with this applied index (from its state machine) and commit (HardState). */
  restarted(node: number, applied: number, committed: number): void {
    this.nodeApplied[node] = applied
    this.nodeCommitted[node] = committed
  }

  /** `node` just became leader of `term`: its log must hold every committed or applied entry. */
  leaderLog(node: number, term: number, log: LogView): void {
    this.leader(term, node)
    const known = Math.max(this.maxApplied, this.maxCommitted)
    if (log.lastIndex < known) {
      throw new Violation(
        'leader-completeness',
        `leader ${node} of term ${term} has last index ${log.lastIndex}, ` +
          `but index ${known} was committed`,
      )
    }
    for (let i = Math.max(log.firstIndex, 1); i <= known; i++) {
      let want = this.committedTerm[i]
      if (want === undefined || want === -1) want = this.appliedTerm[i]
      if (want === undefined || want === -1) continue
      const got = log.termAt(i)
      if (got !== want) {
        throw new Violation(
          'leader-completeness',
          `leader ${node} of term ${term} has term ${got} at index ${i}, committed was term ${want}`,
        )
      }
    }
  }

  private stateHash(node: number, index: number, smHash: number): void {
    const seen = this.smHashAt[index]
    if (seen === undefined || seen === -1) this.smHashAt[index] = smHash
    else if (seen !== smHash) {
      throw new Violation(
        'state-machine-safety',
        `node ${node} has state ${hex(smHash)} after index ${index}, another node ${hex(seen)}`,
      )
    }
  }

  /** Keeps the per-index arrays dense (no holes), so the engine keeps them packed. */
  private fillTo(index: number): void {
    while (this.appliedTerm.length <= index) {
      this.appliedTerm.push(-1)
      this.appliedHash.push(-1)
      this.smHashAt.push(-1)
      this.committedTerm.push(-1)
    }
  }
}

/** A majority of the voters of `cs` satisfy `has`: of each half, when joint. */
export function hasQuorum(cs: ConfState, has: (id: number) => boolean): boolean {
  const majority = (voters: readonly bigint[]): boolean => {
    if (voters.length === 0) return true
    let n = 0
    for (const v of voters) if (has(Number(v))) n++
    return n > voters.length / 2
  }
  return majority(cs.voters) && majority(cs.votersOutgoing)
}

function describeVoters(cs: ConfState): string {
  const ids = (xs: readonly bigint[]): string => `(${xs.map(String).join(' ')})`
  return (
    `voters ${ids(cs.voters)}` + (cs.votersOutgoing.length > 0 ? `&&${ids(cs.votersOutgoing)}` : '')
  )
}

function hex(h: number): string {
  return (h >>> 0).toString(16).padStart(8, '0')
}
