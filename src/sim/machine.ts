/**
 * What a member's process applies committed entries to, as the simulator sees it: the register
 * machine (kv.ts, the default) or the server's own apply path (server-machine.ts, `--machine=
 * server`). The incarnation's StateMachine (sim-node.ts) wraps it with the crash points; the
 * checkers read `applied` and `hash`, the clients read keys through `read`.
 */
import type { Entry, Snapshot } from '../raft/index.js'
import type { AppliedConfChange } from '../node/index.js'
import type { ApplyResult } from '../server/index.js'
import type { Value } from './history.js'
import type { Prng } from './prng.js'

/** Which state machine a run's members apply to. */
export type MachineKind = 'register' | 'server'

/** What a client's command returned: applied at `index`, and whether its compare held. */
export interface KvResult {
  index: number
  ok: boolean
  /** Server machine: the apply path's own result, as the server hands it to its gRPC handler. */
  server?: ApplyResult
}

/** A read of one key on a member's state: the value (null: absent) and the store's revision. */
export interface ReadResult {
  value: Value
  /** The response header's revision (0 for the register machine, which has none). */
  revision: number
}

export interface Machine {
  /** Invariant: every entry up to `applied` is reflected, none after it. */
  readonly applied: number
  /**
   * A fingerprint of the state after `applied`: members at equal applied indexes must agree
   * (the checker's state machine safety).
   */
  readonly hash: number
  /** Applies the next normal entry (an empty one only advances the index). */
  applyEntry(e: Entry): KvResult
  /** A conf change: the index advances, the state does not change. */
  applyConfChange(c: AppliedConfChange): void
  snapshot(): Uint8Array | Promise<Uint8Array>
  /**
   * StateMachine.compactionSnapshot: a durable server machine's local snapshots, which hold no
   * state (the real ServerStateMachine's); absent where the state must come from the snapshot.
   */
  compactionSnapshot?(): Uint8Array | Promise<Uint8Array>
  /** Takes a snapshot's state; returns the machine to use from now on (this one, or a new one). */
  restore(snap: Snapshot): Machine
  /** A linearizable read's local half: key `key` (0-based) as the member holds it now. */
  read(key: number): ReadResult
  /** The process died: nothing of this life may touch the state again (it survives or not). */
  crashed(rand: Prng): void
  /** Once a tick while the process lives: work the machine does in the background (server). */
  background(rand: Prng): void
  /** The machine a restarted process opens on the state that survived (when it is durable). */
  reopen(): Machine
  /** For traces: what the entry just applied was. */
  describeLast(): string
}
