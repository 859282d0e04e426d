/**
 * The lessor: etcd's leases (lease/lessor.go semantics, our own design). It owns two kinds of
 * state, kept apart:
 *
 * - Replicated state, changed only by applied raft entries, alike on every member: each lease's
 *   id and granted TTL (persisted in the MVCC store's meta bucket, in the write group of the
 *   entry that changed it, so it survives a restart and travels in raft snapshots), its last
 *   checkpointed remaining TTL (in memory, as etcd 3.4: a restart or a snapshot starts again
 *   from the full TTL until the next checkpoint), and the keys attached to each lease (rebuilt
 *   from the keys' lease field on open and restore, as etcd does).
 * - Leader state (etcd's "primary" lessor): each lease's expiry time. Only the leader keeps time;
 *   followers hold every lease "forever". The leader's loop proposes a LeaseRevoke through raft
 *   for each expired lease (rate-limited as etcd: 500 per half second, an expired lease retried
 *   after 3 s if its revoke did not apply) and proposes checkpoints of remaining TTLs (batches of
 *   up to 1000 leases per entry), so a new leader continues from them instead of the full TTL.
 *   On becoming leader (promote) every lease gets its checkpointed remaining TTL (or its TTL) plus
 *   an election timeout; on losing leadership (demote) nothing expires here any more.
 *
 * Time comes from outside (`now`, and a `Clock` for the loop), so the simulator can drive it: the
 * lessor reads no system clock and sets no timer of its own.
 */
import type { LeaseCheckpoint } from '../api/index.js'
import { Reader, Writer } from '../api/index.js'
import type { Clock } from '../io/index.js'
import type { MvccStore } from '../mvcc/index.js'
import { ServerError } from './errors.js'

/** etcd's MaxLeaseTTL (lease/lessor.go): a larger TTL is refused ("too large lease TTL"). */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000
/** etcd's leaseRevokeRate: at most this many expired leases revoked per second. */
export const LEASE_REVOKE_RATE = 1000
/** etcd's maxLeaseCheckpointBatchSize: leases per checkpoint entry. */
export const CHECKPOINT_BATCH_MAX = 1000
/** etcd's expiredLeaseRetryInterval: an expired lease not revoked by then is proposed again. */
export const EXPIRED_RETRY_MS = 3000
/** The loop period (etcd's runLoop: every 500 ms). */
export const LOOP_MS = 500

/** etcd's minimum TTL: ceil(1.5 × the election timeout) in seconds (embed: minTTL). */
export function minLeaseTtlSeconds(electionTicks: number, tickMs: number): number {
  const ms = Math.floor((3 * electionTicks) / 2) * tickMs
  return Math.ceil(ms / 1000)
}

export interface LessorOptions {
  /** Milliseconds on a monotonic clock (the server: performance.now; tests: a ManualClock). */
  now: () => number
  /** Runs the leader's loop (expiry, checkpoints) every LOOP_MS. */
  clock: Clock
  /** Granted TTLs below this are raised to it (minLeaseTtlSeconds). */
  minTtlSeconds: number
  /**
   * How often the leader checkpoints each lease's remaining TTL through raft
   * (--experimental-lease-checkpoint-interval); 0 turns checkpoints off.
   */
  checkpointIntervalMs: number
  /** Leader only: leases that expired, to revoke through raft (a LeaseRevoke proposal each). */
  onExpired: (ids: bigint[]) => void
  /** Leader only: remaining TTLs to checkpoint through raft (a LeaseCheckpoint proposal). */
  onCheckpoint: (checkpoints: LeaseCheckpoint[]) => void
}

/** What a write txn offers a revoke: deleting one key (each of a lease's keys, in one txn). */
export interface KeyDeleter {
  deleteRange(key: Uint8Array, end: Uint8Array | undefined): number
}

/** A lease as TimeToLive reports it. */
export interface LeaseInfo {
  id: bigint
  /** The granted TTL in seconds (raised to the minimum). */
  ttlSeconds: number
  /** Milliseconds until expiry on the leader; Infinity elsewhere (it does not keep time). */
  remainingMs: number
  /** The attached keys, in byte order. */
  keys: Uint8Array[]
}

interface Lease {
  readonly id: bigint
  readonly ttlSeconds: number
  /** The last checkpointed remaining TTL in seconds; 0: none (the full TTL counts). */
  remainingTtlSeconds: number
  /** Attached keys, as latin1 strings of their bytes; null until the first (most have none). */
  keys: Set<string> | null
  /** Leader only: when it expires (ms on `now`); Infinity when not leader. */
  expiryMs: number
  /** Leader only: when the expiry loop looks at it next (its expiry, or a revoke retry). */
  dueMs: number
  /** Position in the expiry heap; -1 when not in it. */
  heapAt: number
  /** Leader only: the due time of its scheduled checkpoint (0: none). */
  checkpointDueMs: number
  /** Leader only: a keepalive cleared its checkpoint and the clearing is not proposed yet. */
  clearPending: boolean
}

const META_PREFIX = 'lease/'

export class Lessor {
  private readonly leases = new Map<bigint, Lease>()
  /** Every attached key and its lease (etcd's itemMap). */
  private readonly itemMap = new Map<string, bigint>()
  private primary = false
  /** Min-heap of leases on dueMs (leader only). */
  private heap: Lease[] = []
  /**
   * Scheduled checkpoints in due order: every one is now + interval, so a FIFO suffices. Two
   * parallel arrays, the lease and its due time (a packed double array), not an object per
   * entry: at 100,000 leases that object was a fifth of the lessor's heap.
   */
  private checkpoints: Lease[] = []
  private checkpointsDueMs: number[] = []
  private checkpointsHead = 0
  /** Leases whose checkpointed remaining TTL a keepalive cleared (proposed at the next loop). */
  private clears: bigint[] = []
  private store: MvccStore | undefined
  private stopLoop: (() => void) | undefined

  constructor(private readonly o: LessorOptions) {}

  // --- replicated state (applied entries) ---

  /** Loads the leases saved in `store` and attaches the live keys (open, snapshot restore). */
  load(store: MvccStore): void {
    this.store = store
    this.leases.clear()
    this.itemMap.clear()
    this.heap = []
    store.scanMeta(META_PREFIX, (_name, value) => {
      const l = decodeLease(value)
      this.leases.set(l.id, newLease(l.id, l.ttlSeconds, l.remainingTtlSeconds))
    })
    if (this.leases.size > 0) {
      const all = new Uint8Array([0])
      for (const kv of store.range(all, all, { keysOnly: true }).kvs) {
        if (kv.lease !== 0n) this.keyPut(kv.key, kv.lease)
      }
    }
    if (this.primary) {
      this.primary = false
      this.promote(0)
    }
  }

  exists(id: bigint): boolean {
    return this.leases.has(id)
  }

  /** How many keys are attached to any lease (a range delete looks up its keys only if > 0). */
  get attachedCount(): number {
    return this.itemMap.size
  }

  /**
   * Grants a lease (applied LeaseGrant): etcd's errors for id 0 (not found), a TTL above
   * MAX_LEASE_TTL_SECONDS and an existing id. Returns the TTL granted (raised to the minimum).
   */
  grant(id: bigint, ttlSeconds: number): number {
    if (id === 0n) throw new ServerError('LEASE_NOT_FOUND')
    if (ttlSeconds > MAX_LEASE_TTL_SECONDS) throw new ServerError('LEASE_TTL_TOO_LARGE')
    if (this.leases.has(id)) throw new ServerError('LEASE_EXIST')
    const ttl = Math.max(ttlSeconds, this.o.minTtlSeconds)
    const l = newLease(id, ttl, 0)
    this.leases.set(id, l)
    this.persist(l)
    if (this.primary) {
      this.refresh(l, 0)
      this.scheduleCheckpoint(l)
    }
    return ttl
  }

  /**
   * Revokes a lease (applied LeaseRevoke): its keys are deleted in `txn`, the entry's one write
   * txn, in key order (so every member writes the same revisions), then the lease goes.
   */
  revoke(id: bigint, txn: KeyDeleter): void {
    const l = this.leases.get(id)
    if (l === undefined) throw new ServerError('LEASE_NOT_FOUND')
    const keys = l.keys === null ? [] : [...l.keys].sort()
    for (const k of keys) txn.deleteRange(Buffer.from(k, 'latin1'), undefined)
    for (const k of keys) this.itemMap.delete(k)
    this.leases.delete(id)
    this.heapRemove(l)
    this.store?.setMeta(metaName(id), undefined)
  }

  /** Applied LeaseCheckpoint: the remaining TTLs a leader measured (0 clears one). */
  checkpoint(cps: readonly LeaseCheckpoint[]): void {
    for (const cp of cps) {
      const l = this.leases.get(cp.id)
      if (l === undefined) continue
      // Kept in memory, as etcd 3.4 keeps it: persisting it would rewrite every lease's record
      // every interval (10,000 leases: 5,000 writes a second), and a checkpoint entry would be
      // a write group of up to 1000 records.
      l.remainingTtlSeconds = Math.max(0, cp.remainingTtl)
      if (this.primary) this.scheduleCheckpoint(l)
    }
  }

  /** A key was put with `lease` (0n: none): it leaves its previous lease and joins this one. */
  keyPut(key: Uint8Array, lease: bigint): void {
    if (this.itemMap.size === 0 && lease === 0n) return
    const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
    const prev = this.itemMap.get(k)
    if (prev === lease) return
    if (prev !== undefined) {
      this.leases.get(prev)?.keys?.delete(k)
      this.itemMap.delete(k)
    }
    if (lease === 0n) return
    const l = this.leases.get(lease)
    // The apply checked the lease first; a key of a lease gone (a restore) is left alone.
    if (l === undefined) return
    ;(l.keys ??= new Set()).add(k)
    this.itemMap.set(k, lease)
  }

  /** A key was deleted: it leaves its lease. */
  keyDeleted(key: Uint8Array): void {
    if (this.itemMap.size === 0) return
    const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
    const prev = this.itemMap.get(k)
    if (prev === undefined) return
    this.leases.get(prev)?.keys?.delete(k)
    this.itemMap.delete(k)
  }

  // --- reads ---

  /** A lease's TTLs and keys, or undefined. */
  lookup(id: bigint, withKeys: boolean): LeaseInfo | undefined {
    const l = this.leases.get(id)
    if (l === undefined) return undefined
    const keys =
      withKeys && l.keys !== null ? [...l.keys].sort().map((k) => Buffer.from(k, 'latin1')) : []
    return { id, ttlSeconds: l.ttlSeconds, remainingMs: l.expiryMs - this.o.now(), keys }
  }

  /** Every lease id, ascending. */
  ids(): bigint[] {
    return [...this.leases.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  }

  get size(): number {
    return this.leases.size
  }

  get isPrimary(): boolean {
    return this.primary
  }

  // --- leader state ---

  /**
   * Renews a lease on the leader (a keepalive): its expiry moves to now + TTL. Throws NOT_LEADER
   * on a follower (the caller forwards to the leader) and LEASE_NOT_FOUND for an unknown lease or
   * one already expired (its revoke is on its way; etcd waits for it and answers the same).
   */
  renew(id: bigint): number {
    if (!this.primary) throw new ServerError('NOT_LEADER')
    const l = this.leases.get(id)
    if (l === undefined) throw new ServerError('LEASE_NOT_FOUND')
    const now = this.o.now()
    if (l.expiryMs <= now) throw new ServerError('LEASE_NOT_FOUND')
    // A checkpointed remaining TTL would outlive this renewal on a new leader: clear it through
    // raft (etcd proposes one entry per renewal; here the loop batches them).
    if (this.o.checkpointIntervalMs > 0 && l.remainingTtlSeconds > 0 && !l.clearPending) {
      l.clearPending = true
      this.clears.push(id)
    }
    l.expiryMs = now + l.ttlSeconds * 1000
    l.dueMs = l.expiryMs
    this.heapFix(l)
    return l.ttlSeconds
  }

  /**
   * This member became leader and applied its term's first entry (etcd's Promote(extend)): every
   * lease expires after its checkpointed remaining TTL (or TTL) plus `extendMs`, spread so that
   * no more than 3/4 of the revoke rate expire in any second (etcd's adjustment).
   */
  promote(extendMs: number): void {
    this.primary = true
    this.heap = []
    this.checkpoints = []
    this.checkpointsDueMs = []
    this.checkpointsHead = 0
    this.clears = []
    const now = this.o.now()
    for (const l of this.leases.values()) {
      l.clearPending = false
      l.checkpointDueMs = 0
      l.heapAt = -1
      this.refresh(l, extendMs, now)
      this.scheduleCheckpoint(l)
    }
    if (this.leases.size < LEASE_REVOKE_RATE) return
    const byExpiry = [...this.leases.values()].sort((a, b) => a.expiryMs - b.expiryMs)
    const target = Math.floor((3 * LEASE_REVOKE_RATE) / 4)
    let base = (byExpiry[0] as Lease).expiryMs - now
    let nextWindow = base + 1000
    let expires = 0
    for (const l of byExpiry) {
      const remaining = l.expiryMs - now
      if (remaining > nextWindow) {
        base = remaining
        nextWindow = base + 1000
        expires = 1
        continue
      }
      expires++
      if (expires <= target) continue
      const delay = (1000 * expires) / target - (remaining - base)
      nextWindow = base + delay
      this.refresh(l, delay + extendMs, now)
    }
  }

  /** This member is no longer leader (etcd's Demote): no lease expires here. */
  demote(): void {
    if (!this.primary) return
    this.primary = false
    for (const l of this.leases.values()) {
      l.expiryMs = Infinity
      l.dueMs = Infinity
      l.heapAt = -1
      l.checkpointDueMs = 0
      l.clearPending = false
    }
    this.heap = []
    this.checkpoints = []
    this.checkpointsDueMs = []
    this.checkpointsHead = 0
    this.clears = []
  }

  /** Starts the leader's loop on the clock. */
  start(): void {
    this.stopLoop ??= this.o.clock.every(LOOP_MS, () => this.runLoop())
  }

  stop(): void {
    this.stopLoop?.()
    this.stopLoop = undefined
  }

  /** One turn of the loop: expired leases to revoke, then checkpoints due (leader only). */
  runLoop(): void {
    if (!this.primary) return
    const now = this.o.now()
    const expired = this.findExpired(now, LEASE_REVOKE_RATE / 2)
    if (expired.length > 0) this.o.onExpired(expired)
    const cps: LeaseCheckpoint[] = []
    for (const id of this.clears) {
      const l = this.leases.get(id)
      if (l === undefined || !l.clearPending) continue
      l.clearPending = false
      cps.push({ id, remainingTtl: 0 })
      if (cps.length === CHECKPOINT_BATCH_MAX) this.o.onCheckpoint(cps.splice(0))
    }
    this.clears = []
    while (this.checkpointsHead < this.checkpoints.length) {
      const dueMs = this.checkpointsDueMs[this.checkpointsHead] as number
      if (dueMs > now) break
      const l = this.checkpoints[this.checkpointsHead] as Lease
      this.checkpointsHead++
      // Revoked since, or scheduled again: this entry is stale.
      if (this.leases.get(l.id) !== l || l.checkpointDueMs !== dueMs) continue
      l.checkpointDueMs = 0
      cps.push({ id: l.id, remainingTtl: Math.ceil((l.expiryMs - now) / 1000) })
      if (cps.length === CHECKPOINT_BATCH_MAX) this.o.onCheckpoint(cps.splice(0))
    }
    if (this.checkpointsHead > 1024 && this.checkpointsHead * 2 > this.checkpoints.length) {
      this.checkpoints = this.checkpoints.slice(this.checkpointsHead)
      this.checkpointsDueMs = this.checkpointsDueMs.slice(this.checkpointsHead)
      this.checkpointsHead = 0
    }
    if (cps.length > 0) this.o.onCheckpoint(cps)
  }

  /** Expired leases, at most `limit`, each looked at again after EXPIRED_RETRY_MS. */
  private findExpired(now: number, limit: number): bigint[] {
    const out: bigint[] = []
    while (out.length < limit && this.heap.length > 0) {
      const l = this.heap[0] as Lease
      if (l.dueMs > now) break
      if (l.expiryMs <= now) out.push(l.id)
      l.dueMs = now + EXPIRED_RETRY_MS
      this.heapFix(l)
    }
    return out
  }

  /** etcd's refresh(extend): expiry after the remaining TTL (or TTL) plus `extendMs`. */
  private refresh(l: Lease, extendMs: number, now = this.o.now()): void {
    const seconds = l.remainingTtlSeconds > 0 ? l.remainingTtlSeconds : l.ttlSeconds
    l.expiryMs = now + extendMs + seconds * 1000
    l.dueMs = l.expiryMs
    this.heapFix(l)
  }

  /** etcd's scheduleCheckpointIfNeeded: only leases that outlive an interval are checkpointed. */
  private scheduleCheckpoint(l: Lease): void {
    const interval = this.o.checkpointIntervalMs
    if (interval <= 0 || l.checkpointDueMs !== 0) return
    const seconds = l.remainingTtlSeconds > 0 ? l.remainingTtlSeconds : l.ttlSeconds
    if (seconds * 1000 <= interval) return
    l.checkpointDueMs = this.o.now() + interval
    this.checkpoints.push(l)
    this.checkpointsDueMs.push(l.checkpointDueMs)
  }

  private persist(l: Lease): void {
    this.store?.setMeta(metaName(l.id), encodeLease(l))
  }

  // --- the expiry heap (indexed, so a renewal moves its lease in O(log n)) ---

  private heapFix(l: Lease): void {
    if (!this.primary) return
    if (l.heapAt < 0) {
      l.heapAt = this.heap.length
      this.heap.push(l)
    }
    this.siftUp(l.heapAt)
    this.siftDown(l.heapAt)
  }

  private heapRemove(l: Lease): void {
    const i = l.heapAt
    if (i < 0) return
    l.heapAt = -1
    const last = this.heap.pop() as Lease
    if (i === this.heap.length) return
    this.heap[i] = last
    last.heapAt = i
    this.siftUp(i)
    this.siftDown(last.heapAt)
  }

  private siftUp(i: number): void {
    const h = this.heap
    const x = h[i] as Lease
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = h[p] as Lease
      if (parent.dueMs <= x.dueMs) break
      h[i] = parent
      parent.heapAt = i
      i = p
    }
    h[i] = x
    x.heapAt = i
  }

  private siftDown(i: number): void {
    const h = this.heap
    const n = h.length
    const x = h[i] as Lease
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      if (c + 1 < n && (h[c + 1] as Lease).dueMs < (h[c] as Lease).dueMs) c++
      const child = h[c] as Lease
      if (child.dueMs >= x.dueMs) break
      h[i] = child
      child.heapAt = i
      i = c
    }
    h[i] = x
    x.heapAt = i
  }
}

function newLease(id: bigint, ttlSeconds: number, remainingTtlSeconds: number): Lease {
  return {
    id,
    ttlSeconds,
    remainingTtlSeconds,
    keys: null,
    expiryMs: Infinity,
    dueMs: Infinity,
    heapAt: -1,
    checkpointDueMs: 0,
    clearPending: false,
  }
}

/** The meta name of a lease: its id as 16 hex digits of the uint64, so names sort by id. */
function metaName(id: bigint): string {
  return META_PREFIX + BigInt.asUintN(64, id).toString(16).padStart(16, '0')
}

/** A lease as etcd's leasepb.Lease saves it: ID 1, TTL 2, RemainingTTL 3 (all int64). */
export function encodeLease(l: {
  id: bigint
  ttlSeconds: number
  remainingTtlSeconds: number
}): Uint8Array {
  const buf = new Uint8Array(33)
  const w = new Writer(buf)
  if (l.id !== 0n) w.bigField(1, l.id)
  if (l.ttlSeconds !== 0) w.int64(2, l.ttlSeconds)
  if (l.remainingTtlSeconds !== 0) w.int64(3, l.remainingTtlSeconds)
  return buf.subarray(0, w.pos)
}

export function decodeLease(b: Uint8Array): {
  id: bigint
  ttlSeconds: number
  remainingTtlSeconds: number
} {
  const r = new Reader(b)
  const l = { id: 0n, ttlSeconds: 0, remainingTtlSeconds: 0 }
  while (r.pos < r.limit) {
    switch (r.tag()) {
      case 1:
        r.expect(0, 'ID')
        l.id = r.int64Big()
        break
      case 2:
        r.expect(0, 'TTL')
        l.ttlSeconds = r.int64()
        break
      case 3:
        r.expect(0, 'RemainingTTL')
        l.remainingTtlSeconds = r.int64()
        break
      default:
        r.skip()
    }
  }
  return l
}
