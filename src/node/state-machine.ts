/**
 * What the driver applies committed entries to: the application's replicated state (etcd's
 * MVCC backend, the simulator's KV registers, an embedder's own structure). The driver calls it
 * from one place at a time, in log order, and never calls it again before a returned promise has
 * settled; a method may return its result directly (no microtask, the common case) or a promise
 * (a backend that commits a transaction).
 */
import type { ConfChangeV2, ConfState, Entry, Snapshot } from '../raft/index.js'

/** A committed conf change, applied to raft already: `confState` is the configuration after it. */
export interface AppliedConfChange {
  index: number
  term: number
  change: ConfChangeV2
  confState: ConfState
}

export interface StateMachine<R = unknown> {
  /**
   * The index of the last entry the machine reflects, read once when the node starts: 0 for a
   * new machine, the index it last persisted for a durable one (etcd's consistent index). The
   * driver restores the storage snapshot into a machine behind it, and skips the entries a
   * machine ahead of it already holds.
   */
  appliedIndex(): number
  /**
   * Applies committed normal entries in log order, the first following the last one applied;
   * returns one result per entry, handed to the caller that proposed it. An entry's data is the
   * proposer's payload; an empty entry (each new leader appends one) only advances the index.
   */
  apply(entries: readonly Entry[]): readonly R[] | Promise<readonly R[]>
  /** A committed conf change at `index` took effect; the machine advances past it. */
  applyConfChange(change: AppliedConfChange): void | Promise<void>
  /** The state as of the last entry applied, serialized; it travels in snapshots. */
  snapshot(): Uint8Array | Promise<Uint8Array>
  /**
   * Optional, for a machine durable on its own (the server's MVCC store, as etcd's v3 backend):
   * the data of the snapshots the driver takes every `snapshotCount` entries to compact the log,
   * in place of snapshot(). Resolving promises that the machine's state up to now is durable, so
   * that at the next start its appliedIndex() covers the snapshot, which is then never restored:
   * the data need not hold the state (a few bytes, where snapshot() copies all of it, on the
   * apply lane, every snapshotCount entries). Followers still get snapshot()'s data.
   */
  compactionSnapshot?(): Uint8Array | Promise<Uint8Array>
  /** Replaces the whole state by a snapshot's (from the leader, or from storage at start). */
  restore(snapshot: Snapshot): void | Promise<void>
}
