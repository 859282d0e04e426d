/**
 * The Ready record RawNode hands to the application: what to persist, send and apply in one
 * batch (etcd-io/raft node.go `Ready`, `SoftState`, `ReadState`). RawNode builds it; util.ts
 * describes it.
 */

import {
  isEmptyHardState,
  isEmptySnap,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
} from './raftpb/types.js'

/** A node's role. The numbering matches etcd-io/raft's StateType. */
export enum StateType {
  StateFollower = 0,
  StateCandidate = 1,
  StateLeader = 2,
  StatePreCandidate = 3,
}

const stateTypeNames: Record<StateType, string> = {
  [StateType.StateFollower]: 'StateFollower',
  [StateType.StateCandidate]: 'StateCandidate',
  [StateType.StateLeader]: 'StateLeader',
  [StateType.StatePreCandidate]: 'StatePreCandidate',
}

export function stateTypeName(s: StateType): string {
  return stateTypeNames[s]
}

/** Volatile state, not persisted: who leads and our role. */
export interface SoftState {
  lead: NodeId
  raftState: StateType
}

/** The answer to a ReadIndex request: reads at `index` are linearizable once it is applied. */
export interface ReadState {
  index: number
  requestCtx: Uint8Array
}

export interface Ready {
  /** Non-null only when the leader or our role changed. */
  softState: SoftState | null
  /** Null when unchanged (never an empty HardState). */
  hardState: HardState | null
  /** Read-only: when empty it may be an array shared by every Ready (frozen). */
  readStates: ReadState[]
  /**
   * Entries to persist before the messages are sent. Read-only: it may be the unstable log's
   * own array (as in Go, a slice of it), or when empty an array shared by every Ready (frozen).
   */
  entries: Entry[]
  /** Null when there is no snapshot to persist and apply. */
  snapshot: Snapshot | null
  /** Entries to apply, already persisted. Read-only: when empty it may be shared (frozen). */
  committedEntries: Entry[]
  /** Read-only: when empty it may be an array shared by every Ready (frozen, see NO_MESSAGES). */
  messages: Message[]
  /** Whether the writes must be fsynced: entries, or a changed term or vote. */
  mustSync: boolean
}

/** True when the Ready carries nothing to do (etcd-io/raft `containsUpdates`, negated). */
export function isEmptyReady(rd: Ready): boolean {
  return (
    rd.softState === null &&
    (rd.hardState === null || isEmptyHardState(rd.hardState)) &&
    isEmptySnap(rd.snapshot) &&
    rd.entries.length === 0 &&
    rd.committedEntries.length === 0 &&
    rd.messages.length === 0 &&
    rd.readStates.length === 0
  )
}
