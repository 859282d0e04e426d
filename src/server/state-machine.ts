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
  LeaseGrantResponse,
  LeaseRevokeResponse,
  PutResponse,
  TxnResponse,
} from '../api/index.js'
import { MvccError, type MvccStore } from '../mvcc/index.js'
import {
  applyDeleteRange,
  applyPut,
  applyTxn,
  compactionResponse,
  header,
  WriteTxn,
} from './apply-kv.js'
import { Lessor } from './lessor.js'
import { fromMvccError, ServerError } from './errors.js'
import { ConfChangeType } from '../raft/index.js'
import { Members, type Member } from './members.js'
import { decodeRequest, type RaftRequest } from './request.js'

export type ApplyResult =
  | { type: 'put'; resp: PutResponse }
  | { type: 'deleteRange'; resp: DeleteRangeResponse }
  | { type: 'txn'; resp: TxnResponse }
  /** `done` settles when the compaction has physically removed what it compacts. */
  | { type: 'compaction'; resp: CompactionResponse; done: Promise<void> }
  /** The id and the TTL granted (raised to the minimum TTL). */
  | { type: 'leaseGrant'; resp: LeaseGrantResponse }
  /** The revoke's keys were deleted in one revision, the header's. */
  | { type: 'leaseRevoke'; resp: LeaseRevokeResponse }
  | { type: 'error'; error: ServerError }
  /** An empty entry, a conf change or member attributes: nothing to answer. */
  | { type: 'none' }

const NONE: ApplyResult = { type: 'none' }

export interface ServerStateMachineOptions {
  /** The members are saved in its meta bucket (setMeta), beside the data. */
  store: MvccStore
  members: Members
  /**
   * The leases (replicated state; the server's also keeps time on the leader). Absent: a lessor
   * that never expires anything (tests, and the simulator until it drives lease time).
   */
  lessor?: Lessor
  /**
   * Whether this member is the leader of `term` (etcd promotes its lessor when it applies the
   * empty entry of its own term: every entry of earlier terms is applied by then).
   */
  isLeaderOf?: (term: number) => boolean
  /** What promote extends every lease by: the election timeout (etcd's Promote(extend)). */
  promoteExtendMs?: number
  /** Called after a member's attributes changed (the server logs its publish). */
  onAttributes?: (id: bigint) => void
  /**
   * Called after a conf change changed the members (the server updates the peer transport, and
   * stops when it was removed itself).
   */
  onMembersChanged?: (change: MembersChange) => void
}

/** What a conf change did to the members. */
export type MembersChange =
  | { type: 'add' | 'update' | 'promote'; member: Member }
  | { type: 'remove'; id: bigint }
  /** A snapshot replaced them all. */
  | { type: 'reset' }

export class ServerStateMachine implements StateMachine<ApplyResult> {
  private store: MvccStore
  members: Members
  readonly lessor: Lessor
  private readonly isLeaderOf: (term: number) => boolean
  private readonly promoteExtendMs: number
  private readonly onAttributes: (id: bigint) => void
  private readonly onMembersChanged: (change: MembersChange) => void

  constructor(opts: ServerStateMachineOptions) {
    this.store = opts.store
    this.members = opts.members
    this.lessor = opts.lessor ?? inertLessor()
    this.lessor.load(this.store)
    this.isLeaderOf = opts.isLeaderOf ?? (() => false)
    this.promoteExtendMs = opts.promoteExtendMs ?? 0
    this.onAttributes = opts.onAttributes ?? (() => {})
    this.onMembersChanged = opts.onMembersChanged ?? (() => {})
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
        if (this.isLeaderOf(e.term)) this.lessor.promote(this.promoteExtendMs)
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
        if (r.put.lease !== 0n && !this.lessor.exists(r.put.lease)) {
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
          resp: applyTxn(txn, txn, r.txn, this.lessor, {
            currentRevision: this.store.currentRevision,
            compactedRevision: this.store.compactMainRevision,
          }),
        }))
      case 'compaction': {
        try {
          // The schedule and the consistent index go in one write group.
          const { done } = this.store.compact(r.compaction.revision, { index })
          return {
            type: 'compaction',
            resp: compactionResponse(this.store.currentRevision),
            done,
          }
        } catch (err) {
          // A refused compaction recorded nothing: the entry still moves the applied index.
          this.store.markApplied(index)
          return failed(fromMvccError(err))
        }
      }
      case 'leaseGrant': {
        const { id, ttl } = r.leaseGrant
        try {
          const granted = this.lessor.grant(id, ttl)
          this.store.markApplied(index)
          return {
            type: 'leaseGrant',
            resp: { header: header(this.store.currentRevision), id, ttl: granted, error: '' },
          }
        } catch (err) {
          this.store.markApplied(index)
          if (err instanceof ServerError) return failed(err)
          throw err
        }
      }
      case 'leaseRevoke':
        return this.inWriteTxn(index, (txn) => {
          this.lessor.revoke(r.leaseRevoke.id, txn)
          return { type: 'leaseRevoke', resp: { header: header(txn.revision()) } }
        })
      case 'leaseCheckpoint':
        this.lessor.checkpoint(r.leaseCheckpoint.checkpoints)
        this.store.markApplied(index)
        return NONE
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
    const txn = new WriteTxn(this.store, index, this.lessor)
    try {
      return body(txn)
    } catch (err) {
      if (err instanceof ServerError) return failed(err)
      throw err
    } finally {
      txn.end()
    }
  }

  /**
   * A member add, remove, update or promote (etcd's applyConfChange): the change carries the
   * member's JSON as its context, as etcd's does. The checks (etcd's ValidateConfigurationChange)
   * ran before the proposal (services.ts); a change that no longer fits is applied as far as it
   * makes sense (an update of an unknown member changes nothing).
   */
  applyConfChange(change: AppliedConfChange): void {
    const c = change.change.changes[0]
    let done: MembersChange | undefined
    if (c !== undefined) {
      const ctx = memberContextOrNull(change.change.context)
      switch (c.type) {
        case ConfChangeType.ConfChangeAddNode:
        case ConfChangeType.ConfChangeAddLearnerNode: {
          const existing = this.members.get(c.nodeId)
          if (existing !== undefined && existing.isLearner && ctx !== null && !ctx.isLearner) {
            this.members.promote(c.nodeId)
            done = { type: 'promote', member: existing }
          } else if (existing === undefined && ctx !== null) {
            const m = { ...ctx, id: c.nodeId }
            this.members.add(m)
            done = { type: 'add', member: m }
          }
          break
        }
        case ConfChangeType.ConfChangeRemoveNode:
          if (this.members.get(c.nodeId) !== undefined) {
            this.members.remove(c.nodeId)
            done = { type: 'remove', id: c.nodeId }
          }
          break
        case ConfChangeType.ConfChangeUpdateNode: {
          const m = this.members.get(c.nodeId)
          if (m !== undefined && ctx !== null) {
            this.members.setPeerUrls(c.nodeId, ctx.peerUrls)
            done = { type: 'update', member: m }
          }
          break
        }
      }
    }
    if (done !== undefined) this.saveMembers()
    this.store.markApplied(change.index)
    if (done !== undefined) this.onMembersChanged(done)
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

  /**
   * The local snapshots that compact the log hold no state (etcd's v3 backend is not in its
   * raft snapshots either): the store is durable on its own, flushed here first, and the data is
   * a marker with the consistent index it covers. Copying the whole store every snapshotCount
   * entries stalled the apply lane for seconds once it held some hundred thousand revisions
   * (bench/README.md); followers still get the whole state (snapshot()).
   */
  async compactionSnapshot(): Promise<Uint8Array> {
    await this.store.flushed()
    return encodeStatelessSnapshot(this.store.consistentIndex())
  }

  /** Replaces the state by a snapshot's; a corrupt one is refused and changes nothing. */
  restore(snapshot: Snapshot): void {
    const covered = statelessSnapshotIndex(snapshot.data)
    if (covered !== undefined) {
      // Taken once the store was durable up to `covered`: a store behind it lost writes.
      throw new MvccError(
        'BACKEND_CORRUPT',
        `mvcc: the backend is at index ${this.store.consistentIndex()}, behind the local ` +
          `snapshot at index ${snapshot.metadata.index} that relies on it (durable up to ` +
          `${covered} when taken): the backend lost writes; restore the member from a backup`,
      )
    }
    this.store.restore(snapshot.data)
    this.lessor.load(this.store)
    this.members = ServerStateMachine.savedMembers(this.store) ?? this.members
    this.onMembersChanged({ type: 'reset' })
  }

  /** Written into the backend's next commit: the one of the entry being applied. */
  private saveMembers(): void {
    this.store.setMeta(MEMBERS_META, this.members.encode())
  }

  /** The members saved in a store, if any (a restart). */
  static savedMembers(store: MvccStore): Members | undefined {
    const b = store.getMeta(MEMBERS_META)
    return b === undefined ? undefined : Members.decode(b)
  }
}

/** The name under which the members are saved with the data (MvccStore.setMeta). */
export const MEMBERS_META = 'members'

/**
 * The member as etcd puts it in a conf change's context (its membership.Member JSON): the id in
 * decimal as a JSON number, peerURLs, name, clientURLs, isLearner.
 */
export function encodeMemberContext(m: Member): Uint8Array {
  // Go's field order (RaftAttributes, then Attributes); empty ones omitted, as etcd's omitempty.
  const o: Record<string, unknown> = { id: '@ID@', peerURLs: m.peerUrls }
  if (m.isLearner) o.isLearner = true
  if (m.name !== '') o.name = m.name
  if (m.clientUrls.length > 0) o.clientURLs = m.clientUrls
  return Buffer.from(JSON.stringify(o).replace('"@ID@"', m.id.toString(10)), 'utf8')
}

export function decodeMemberContext(bytes: Uint8Array): Member {
  const text = Buffer.from(bytes)
    .toString('utf8')
    .replace(/"id":(\d+)/, '"id":"$1"')
  const o = JSON.parse(text) as {
    id: string
    peerURLs?: string[]
    name?: string
    clientURLs?: string[]
    isLearner?: boolean
  }
  return {
    id: BigInt(o.id),
    name: o.name ?? '',
    peerUrls: o.peerURLs ?? [],
    clientUrls: o.clientURLs ?? [],
    isLearner: o.isLearner ?? false,
  }
}

/** A conf change's context as a member, or null (empty, or not a member's JSON: raft's own). */
function memberContextOrNull(bytes: Uint8Array): Member | null {
  if (bytes.length === 0) return null
  try {
    return decodeMemberContext(bytes)
  } catch {
    return null
  }
}

/** A lessor that keeps no time: leases live until revoked. */
function inertLessor(): Lessor {
  return new Lessor({
    now: () => 0,
    clock: { every: () => () => {} },
    minTtlSeconds: 1,
    checkpointIntervalMs: 0,
    onExpired: () => {},
    onCheckpoint: () => {},
  })
}

function failed(error: ServerError): ApplyResult {
  return { type: 'error', error }
}

/** A local snapshot's data: this magic (never an MVCC snapshot's), then the index it covers. */
const STATELESS_MAGIC = Buffer.from('PNTNNONE', 'latin1')

function encodeStatelessSnapshot(consistentIndex: number): Uint8Array {
  const out = Buffer.alloc(16)
  STATELESS_MAGIC.copy(out, 0)
  out.writeBigUInt64BE(BigInt(consistentIndex), 8)
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

/** The index a stateless snapshot covers; undefined for any other data. */
function statelessSnapshotIndex(data: Uint8Array): number | undefined {
  if (data.length !== 16) return undefined
  const b = Buffer.from(data.buffer, data.byteOffset, data.length)
  if (!b.subarray(0, 8).equals(STATELESS_MAGIC)) return undefined
  return Number(b.readBigUInt64BE(8))
}
