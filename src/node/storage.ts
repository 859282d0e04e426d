/**
 * The storage the driver persists through: the raft Storage (synchronous reads) plus writes that
 * resolve once durable. WalStorage is the real one; MemoryNodeStorage keeps everything in memory
 * (tests, examples, and nodes whose durability comes from elsewhere).
 *
 * The write contract: save() may be called again before an earlier call resolved; the writes
 * become durable, and their promises resolve, in call order. A rejected write is fatal: the log
 * can no longer be trusted to hold what raft was told it holds.
 */
import { MemoryStorage } from '../raft/index.js'
import type { ConfState, Entry, HardState, Snapshot, Storage } from '../raft/index.js'

/** What one Ready (or MsgStorageAppend) asks to persist, in this order: snapshot, entries, state. */
export interface StorageWrite {
  snapshot?: Snapshot
  entries?: readonly Entry[]
  hardState?: HardState
}

export interface NodeStorage extends Storage {
  save(w: StorageWrite): Promise<void>
  /** Records a snapshot of the state machine at `index` (<= lastIndex); durable on resolve. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<unknown>
  /** Drops the entries up to `index` (<= the newest snapshot's index) from the log. */
  compact(index: number): Promise<void>
}

/** A MemoryStorage with the driver's write contract: every write is done when it returns. */
export class MemoryNodeStorage implements NodeStorage {
  constructor(readonly memory: MemoryStorage = new MemoryStorage()) {}

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.memory.initialState()
  }
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    return this.memory.entries(lo, hi, maxSize)
  }
  term(i: number): number {
    return this.memory.term(i)
  }
  lastIndex(): number {
    return this.memory.lastIndex()
  }
  firstIndex(): number {
    return this.memory.firstIndex()
  }
  snapshot(): Snapshot {
    return this.memory.snapshot()
  }

  save(w: StorageWrite): Promise<void> {
    try {
      if (w.snapshot !== undefined) this.memory.applySnapshot(w.snapshot)
      if (w.entries !== undefined && w.entries.length > 0) this.memory.append(w.entries)
      if (w.hardState !== undefined) this.memory.setHardState(w.hardState)
      return Promise.resolve()
    } catch (err) {
      return Promise.reject(err)
    }
  }

  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    try {
      return Promise.resolve(this.memory.createSnapshot(index, confState, data))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  compact(index: number): Promise<void> {
    try {
      this.memory.compact(index)
      return Promise.resolve()
    } catch (err) {
      return Promise.reject(err)
    }
  }
}
