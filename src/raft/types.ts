/**
 * Small value types shared by the log code: EntryID names one log entry by (term, index), LogSlice
 * is a run of entries in the context of one leader's term (etcd-io/raft `types.go`). Also the
 * copy helpers for snapshots, used where a snapshot crosses an ownership boundary (Storage,
 * Unstable, RaftLog).
 *
 * Nothing here logs or throws: validation results are returned so the caller picks the reaction.
 */

import type { ConfState, Entry, Snapshot } from './raftpb/types.js'

/**
 * Identifies one entry. A leader issues at most one entry per index in its term, and only one
 * leader exists per term, so (term, index) is unique across the group.
 */
export interface EntryID {
  term: number
  index: number
}

export function pbEntryID(entry: Entry): EntryID {
  return { term: entry.term, index: entry.index }
}

function describeID(id: EntryID): string {
  // Go's %+v of the entryID struct, so error texts read like etcd's.
  return `{term:${id.term} index:${id.index}}`
}

/**
 * A contiguous run of entries following `prev`, as seen by the leader of `term`.
 *
 * Well-formed slices satisfy: entries[i].index == prev.index + 1 + i; terms never decrease from
 * prev through the entries; and no entry's term exceeds `term` (a leader's log holds nothing from
 * later terms). Code that builds a LogSlice from outside input (a message, Storage, a test) checks
 * this with valid(); everything downstream relies on it.
 */
export class LogSlice {
  constructor(
    readonly term: number,
    readonly prev: EntryID,
    readonly entries: Entry[],
  ) {}

  /** The index of the last entry, or prev.index when there are none. */
  lastIndex(): number {
    return this.prev.index + this.entries.length
  }

  /** The ID of the last entry, or prev when there are none. */
  lastEntryID(): EntryID {
    // Length first: entries[-1] of an empty array is a slow named-property lookup.
    const n = this.entries.length
    return n === 0 ? this.prev : pbEntryID(this.entries[n - 1] as Entry)
  }

  /** Null when the slice is well-formed, otherwise a description of the first violation. */
  valid(): string | null {
    let prev = this.prev
    for (const entry of this.entries) {
      const id = pbEntryID(entry)
      if (id.term < prev.term || id.index !== prev.index + 1) {
        const pair = `${describeID(prev)} and ${describeID(id)}`
        return `leader term ${this.term}: entries ${pair} not consistent`
      }
      prev = id
    }
    if (this.term < prev.term) {
      return `leader term ${this.term}: entry ${describeID(prev)} has a newer term`
    }
    return null
  }
}

export function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: cs.voters.slice(),
    learners: cs.learners.slice(),
    votersOutgoing: cs.votersOutgoing.slice(),
    learnersNext: cs.learnersNext.slice(),
    autoLeave: cs.autoLeave,
  }
}

/**
 * Copies the snapshot's structure so neither side can change the other's view. The data bytes are
 * shared: byte payloads are never mutated once handed to the core, and a snapshot's data can be
 * large.
 */
export function cloneSnapshot(snap: Snapshot): Snapshot {
  const m = snap.metadata
  return {
    data: snap.data,
    metadata: { confState: cloneConfState(m.confState), index: m.index, term: m.term },
  }
}

/**
 * A copy of ents[lo..hi), like ents.slice(lo, hi). A range of one entry (one per unbatched
 * proposal, the common case) is built as a literal: Array.prototype.slice with bounds is a call
 * into V8's generic builtin, which cost more than the rest of a log read.
 */
export function copyEntries(ents: readonly Entry[], lo: number, hi: number): Entry[] {
  if (hi - lo === 1 && lo >= 0 && lo < ents.length) return [ents[lo] as Entry]
  return ents.slice(lo, hi)
}
