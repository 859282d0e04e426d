/**
 * The server's replicated state machine: what the node driver applies committed entries to. It
 * decodes each entry (request.ts), runs it on the MVCC store (apply-kv.ts) in one write txn that
 * carries the entry's index (the consistent index, so an entry replayed after a crash is skipped,
 * not applied twice), and hands the response back to the proposer through the driver. A request
 * that fails (a compare-free put with ignore_value on a missing key, a compaction of a compacted
 * revision) fails alike on every member and changes nothing but the applied index.
 *
 * The simulator runs this same class over the in-memory backend; the server runs it over LMDB.
 */
import type { AppliedConfChange, StateMachine } from '../node/index.js'
import type { Entry, Snapshot } from '../raft/index.js'
import type {
  CompactionResponse,
  DeleteRangeResponse,
  PutResponse,
  TxnResponse,
} from '../api/index.js'
import { MvccError, type Backend, type MvccStore } from '../mvcc/index.js'
import {
  applyDeleteRange,
  applyPut,
  applyTxn,
  compactionResponse,
  WriteTxn,
  noLeases,
  type LeaseLookup,
} from './apply-kv.js'
import { ServerError } from './errors.js'
import { Members } from './members.js'
import { decodeRequest, type RaftRequest } from './request.js'

export type ApplyResult =
  | { type: 'put'; resp: PutResponse }
  | { type: 'deleteRange'; resp: DeleteRangeResponse }
  | { type: 'txn'; resp: TxnResponse }
  /** `done` settles when the compaction has physically removed what it compacts. */
  | { type: 'compaction'; resp: CompactionResponse; done: Promise<void> }
  | { type: 'error'; error: ServerError }
  /** An empty entry, a conf change or member attributes: nothing to answer. */
  | { type: 'none' }

const NONE: ApplyResult = { type: 'none' }

export interface ServerStateMachineOptions {
  store: MvccStore
  /** The store's backend: the members are saved in its meta bucket, beside the data. */
  backend: Backend
  members: Members
  leases?: LeaseLookup
  /** Called after a member's attributes changed (the server logs its publish). */
  onAttributes?: (id: bigint) => void
}

export class ServerStateMachine implements StateMachine<ApplyResult> {
  private store: MvccStore
  private readonly backend: Backend
  members: Members
  private readonly leases: LeaseLookup
  private readonly onAttributes: (id: bigint) => void

  constructor(opts: ServerStateMachineOptions) {
    this.store = opts.store
    this.backend = opts.backend
    this.members = opts.members
    this.leases = opts.leases ?? noLeases
    this.onAttributes = opts.onAttributes ?? (() => {})
  }

  get kv(): MvccStore {
    return this.store
  }

  appliedIndex(): number {
    return this.store.consistentIndex()
  }

  apply(entries: readonly Entry[]): ApplyResult[] {
    const out: ApplyResult[] = []
    for (const e of entries) {
      if (e.data.length === 0) {
        this.store.markApplied(e.index)
        out.push(NONE)
        continue
      }
      out.push(this.applyRequest(e.index, decodeRequest(e.data)))
    }
    return out
  }

  private applyRequest(index: number, r: RaftRequest): ApplyResult {
    switch (r.type) {
      case 'put': {
        if (r.put.lease !== 0n && !this.leases.exists(r.put.lease)) {
          this.store.markApplied(index)
          return failed(new ServerError('LEASE_NOT_FOUND'))
        }
        return this.inWriteTxn(index, (txn) => ({ type: 'put', resp: applyPut(txn, r.put) }))
      }
      case 'deleteRange':
        return this.inWriteTxn(index, (txn) => ({
          type: 'deleteRange',
          resp: applyDeleteRange(txn, r.deleteRange),
        }))
      case 'txn':
        return this.inWriteTxn(index, (txn) => ({
          type: 'txn',
          resp: applyTxn(txn, txn, r.txn, this.leases, {
            currentRevision: this.store.currentRevision,
            compactedRevision: this.store.compactMainRevision,
          }),
        }))
      case 'compaction': {
        try {
          const { done } = this.store.compact(r.compaction.revision)
          this.store.markApplied(index)
          return {
            type: 'compaction',
            resp: compactionResponse(this.store.currentRevision),
            done,
          }
        } catch (err) {
          this.store.markApplied(index)
          if (MvccError.is(err, 'COMPACTED')) return failed(new ServerError('COMPACTED'))
          if (MvccError.is(err, 'FUTURE_REV')) return failed(new ServerError('FUTURE_REV'))
          throw err
        }
      }
      case 'attributes': {
        const a = r.attributes
        this.members.setAttributes(a.id, a.name, a.clientUrls)
        this.saveMembers()
        this.store.markApplied(index)
        this.onAttributes(a.id)
        return NONE
      }
    }
  }

  /**
   * Runs `body` in the entry's write txn. A ServerError thrown by the body comes before it wrote
   * anything (every check precedes the writes), so the txn ends having changed nothing.
   */
  private inWriteTxn(index: number, body: (txn: WriteTxn) => ApplyResult): ApplyResult {
    const txn = new WriteTxn(this.store, index)
    try {
      return body(txn)
    } catch (err) {
      if (err instanceof ServerError) return failed(err)
      throw err
    } finally {
      txn.end()
    }
  }

  applyConfChange(change: AppliedConfChange): void {
    this.store.markApplied(change.index)
  }

  /**
   * The whole state: the store's consistent copy, which holds the members in its meta bucket.
   * The store is flushed first, so the raft log is compacted only up to what the backend holds
   * durably (the WAL entries behind a snapshot are released).
   */
  async snapshot(): Promise<Uint8Array> {
    await this.store.flushed()
    return this.store.snapshot()
  }

  /** Replaces the state by a snapshot's; a corrupt one is refused and changes nothing. */
  restore(snapshot: Snapshot): void {
    this.store.restore(snapshot.data)
    this.members = ServerStateMachine.savedMembers(this.backend) ?? this.members
  }

  /** Written into the backend's next commit: the one of the entry being applied. */
  private saveMembers(): void {
    this.backend.put('meta', MEMBERS_META, this.members.encode())
  }

  /** The members saved in a backend, if any (a restart). */
  static savedMembers(backend: Backend): Members | undefined {
    const b = backend.get('meta', MEMBERS_META)
    return b === undefined ? undefined : Members.decode(b)
  }
}

/** The backend's meta key under which the members are saved with the data. */
export const MEMBERS_META = new TextEncoder().encode('members')

function failed(error: ServerError): ApplyResult {
  return { type: 'error', error }
}
