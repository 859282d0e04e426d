/**
 * Leases on the simulated members (`--machine=server`): the real `Lessor` (src/server) in every
 * member life's `ServerStateMachine`, on the life's clock, with the server's wiring (promote when
 * the leader applies its term's first entry, demote when a Ready shows it is not leader, expired
 * leases revoked and remaining TTLs checkpointed by proposals through raft), and a client that
 * grants leases, attaches keys `l0`..`l3` to them, renews them on the leader and revokes some.
 *
 * Lease time runs LEASE_TIME_SCALE lessor milliseconds per simulated tick (TTLs are seconds; a
 * few seconds are then tens of ticks), so each member's clock skew is lease time skew too.
 *
 * Checked against a model, on every member, entry by entry (`lease` violations):
 * - The keys: a model of the lease keys (which exist, and the lease of each) and of the leases,
 *   driven by the applied requests alone (grant adds a lease; revoke removes it and every key
 *   attached to it, in one revision; a put attaches or detaches; a put with an unknown lease
 *   changes nothing; a delete detaches), equals the store and the lessor after each entry. So a
 *   key attached to a lease is gone exactly when the lease's revoke is applied, never earlier.
 * - Expiry: the leader that proposes a lease's revoke for expiry has seen, on its own clock, the
 *   lease's TTL pass since the lease was granted or renewed on it, and at least an election
 *   timeout pass since it became leader.
 */
import { deleteRangeRequest, putRequest } from '../api/index.js'
import type { Clock, ManualClock } from '../io/index.js'
import type { MvccStore } from '../mvcc/index.js'
import {
  Lessor,
  minLeaseTtlSeconds,
  type RaftRequest,
  type ServerStateMachine,
} from '../server/index.js'
import { Violation } from './checkers.js'
import type { Prng } from './prng.js'

/** Lessor milliseconds per simulated tick. */
export const LEASE_TIME_SCALE = 100
/** The lease checkpoint interval in lessor milliseconds (the server's default is 2 s). */
const CHECKPOINT_INTERVAL_MS = 2000
/** The lease keys: l0..l3 (the KV workload's keys are k*, so its history never sees these). */
const LEASE_KEY_COUNT = 4

const enc = new TextEncoder()
const VALUE = enc.encode('v')
const dec = new TextDecoder()

function leaseKey(i: number): Uint8Array {
  return enc.encode(`l${i}`)
}

/** A member life's clock as the lessor sees it: LEASE_TIME_SCALE ms per tick. */
class LeaseClock implements Clock {
  constructor(private readonly inner: ManualClock) {}
  get now(): number {
    return this.inner.now * LEASE_TIME_SCALE
  }
  every(ms: number, fn: () => void): () => void {
    return this.inner.every(Math.max(1, Math.round(ms / LEASE_TIME_SCALE)), fn)
  }
}

/** What a member life's lessor needs from the process around it (set once its driver runs). */
export interface LeaseLife {
  clock: ManualClock
  /** The raft term this member leads, or 0. */
  leaderTerm(): number
  /** Proposes a request through this member's driver (fire and forget). */
  propose(r: RaftRequest): void
}

/** The model of the lease keys and leases, advanced by applied requests. */
class LeaseModel {
  /** lease id -> attached key names */
  readonly leases = new Map<bigint, Set<string>>()
  /** key name -> lease (0n: none) */
  readonly keys = new Map<string, bigint>()

  static read(store: MvccStore, lessor: Lessor): LeaseModel {
    const m = new LeaseModel()
    for (const id of lessor.ids()) m.leases.set(id, new Set())
    for (const kv of store.range(enc.encode('l'), enc.encode('m')).kvs) {
      const k = dec.decode(kv.key)
      m.keys.set(k, kv.lease)
      if (kv.lease !== 0n) m.leases.get(kv.lease)?.add(k)
    }
    return m
  }

  private detach(k: string): void {
    const l = this.keys.get(k)
    if (l !== undefined && l !== 0n) this.leases.get(l)?.delete(k)
  }

  apply(r: RaftRequest, ok: boolean): void {
    switch (r.type) {
      case 'leaseGrant':
        if (ok) this.leases.set(r.leaseGrant.id, new Set())
        return
      case 'leaseRevoke': {
        const keys = this.leases.get(r.leaseRevoke.id)
        if (keys === undefined) return
        for (const k of keys) this.keys.delete(k)
        this.leases.delete(r.leaseRevoke.id)
        return
      }
      case 'put': {
        const k = dec.decode(r.put.key)
        if (!k.startsWith('l')) return
        if (r.put.lease !== 0n && !this.leases.has(r.put.lease)) return
        this.detach(k)
        this.keys.set(k, r.put.lease)
        if (r.put.lease !== 0n) this.leases.get(r.put.lease)!.add(k)
        return
      }
      case 'deleteRange': {
        const k = dec.decode(r.deleteRange.key)
        if (!k.startsWith('l') || r.deleteRange.rangeEnd.length > 0) return
        this.detach(k)
        this.keys.delete(k)
        return
      }
      default:
    }
  }

  describe(): string {
    const keys = [...this.keys].map(([k, l]) => `${k}:${l}`).sort()
    const leases = [...this.leases].map(([l, ks]) => `${l}[${[...ks].sort().join(',')}]`).sort()
    return `keys ${keys.join(' ')} leases ${leases.join(' ')}`
  }
}

/** A member life's leases: its lessor's wiring, its model, and the expiry judgment. */
export class MemberLeases {
  readonly lessor: Lessor
  private life: LeaseLife | null = null
  private clock: LeaseClock | null = null
  private model: LeaseModel | null = null
  /** This life's leadership: the term it leads (0: none) and since when (lessor ms). */
  private term = 0
  private leaderSinceMs = 0
  /** Per lease: when it was last granted or renewed while this life led (lessor ms). */
  private readonly renewedMs = new Map<bigint, number>()

  constructor(
    private readonly hub: SimLeases,
    readonly name: string,
  ) {
    // The clock comes with the process (started()); until then time stands still.
    this.lessor = new Lessor({
      now: () => this.clock?.now ?? 0,
      clock: {
        every: (ms, fn) => (this.clock === null ? () => {} : this.clock.every(ms, fn)),
      },
      minTtlSeconds: minLeaseTtlSeconds(hub.electionTicks, LEASE_TIME_SCALE),
      checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
      onExpired: (ids) => this.expired(ids),
      onCheckpoint: (checkpoints) =>
        this.life?.propose({ type: 'leaseCheckpoint', leaseCheckpoint: { checkpoints } }),
    })
  }

  /** The state machine was built (or restored): the model starts from what it holds. */
  opened(store: MvccStore): void {
    this.model = LeaseModel.read(store, this.lessor)
  }

  /** The process runs: its clock, leadership and proposals. */
  started(life: LeaseLife): void {
    this.life = life
    this.clock = new LeaseClock(life.clock)
    this.lessor.start()
  }

  /**
   * The state machine's question on applying an empty entry of `term` (it promotes the lessor
   * when yes); the first yes of a term is when this life became leader for the expiry check.
   */
  isLeaderOf(term: number): boolean {
    const t = this.life?.leaderTerm() ?? 0
    if (t !== 0 && t === term && this.term !== term) {
      this.term = term
      this.leaderSinceMs = this.clock!.now
      this.renewedMs.clear()
    }
    return t !== 0 && t === term
  }

  /** A Ready showed this member is not leader (the server demotes there too). */
  notLeader(): void {
    this.term = 0
    this.lessor.demote()
  }

  /** After an entry's apply: the model takes the request, then must equal the store. */
  applied(r: RaftRequest | null, ok: boolean, sm: ServerStateMachine, index: number): void {
    if (this.model === null) return
    if (r !== null) {
      this.model.apply(r, ok)
      if (r.type === 'leaseGrant' && ok && this.lessor.isPrimary && this.clock !== null)
        this.renewedMs.set(r.leaseGrant.id, this.clock.now)
    }
    const now = LeaseModel.read(sm.kv, this.lessor)
    if (now.describe() !== this.model.describe()) {
      throw new Violation(
        'lease',
        `${this.name} after entry ${index}${r === null ? '' : ` (${r.type})`}: the store holds ${now.describe()}, the model ${this.model.describe()}`,
      )
    }
  }

  /** A client's keepalive on this member, as the service does on the leader. */
  renew(id: bigint): void {
    if (!this.lessor.isPrimary || this.clock === null) return
    try {
      this.lessor.renew(id)
      this.renewedMs.set(id, this.clock.now)
    } catch {
      // Not found or expired: the client's keepalive answers TTL 0.
    }
  }

  private expired(ids: bigint[]): void {
    const life = this.life
    if (life === null || this.clock === null) return
    const now = this.clock.now
    for (const id of ids) {
      const info = this.lessor.lookup(id, false)
      if (info === undefined) continue
      const renewed = this.renewedMs.get(id)
      if (renewed !== undefined && now < renewed + info.ttlSeconds * 1000) {
        this.hub.fail(
          `${this.name} expires lease ${id} at ${now} ms, renewed at ${renewed} ms with TTL ${info.ttlSeconds} s`,
        )
      }
      if (now < this.leaderSinceMs + this.hub.electionTimeoutMs) {
        this.hub.fail(
          `${this.name} expires lease ${id} at ${now} ms, leader since ${this.leaderSinceMs} ms (election timeout ${this.hub.electionTimeoutMs} ms)`,
        )
      }
      life.propose({ type: 'leaseRevoke', leaseRevoke: { id } })
    }
  }

  stop(): void {
    this.lessor.stop()
    this.life = null
  }
}

/** The cluster's lease client and the violations found in callbacks. */
export class SimLeases {
  private failure: Violation | null = null
  private nextId = 1n

  constructor(
    readonly prng: Prng,
    /** The raft election timeout in ticks (the minimum TTL and promote's extension follow). */
    readonly electionTicks: number,
  ) {}

  /** An election timeout in lessor milliseconds (what promote extends leases by). */
  get electionTimeoutMs(): number {
    return this.electionTicks * LEASE_TIME_SCALE
  }

  member(name: string): MemberLeases {
    return new MemberLeases(this, name)
  }

  fail(message: string): void {
    this.failure ??= new Violation('lease', message)
  }

  throwFailure(): void {
    if (this.failure !== null) throw this.failure
  }

  /**
   * One tick of the lease client: now and then a grant, a put of a lease key with a lease (one
   * granted, perhaps revoked or expired), a put without, a delete, a revoke (through `propose` on
   * any member) and keepalives of a few leases on the leader (`leader`, if any).
   */
  tick(propose: ((r: RaftRequest) => void) | null, leader: MemberLeases | null): void {
    this.throwFailure()
    const p = this.prng
    if (propose !== null && p.chance(0.08)) {
      const key = leaseKey(p.intn(LEASE_KEY_COUNT))
      const known = this.nextId - 1n
      const pickLease = (): bigint => (known === 0n ? 1n : 1n + BigInt(p.intn(Number(known))))
      switch (p.intn(6)) {
        case 0:
        case 1: {
          const id = this.nextId++
          propose({ type: 'leaseGrant', leaseGrant: { id, ttl: 1 + p.intn(4) } })
          break
        }
        case 2:
        case 3:
          propose({ type: 'put', put: putRequest({ key, value: VALUE, lease: pickLease() }) })
          break
        case 4:
          if (p.chance(0.5)) propose({ type: 'put', put: putRequest({ key, value: VALUE }) })
          else propose({ type: 'deleteRange', deleteRange: deleteRangeRequest({ key }) })
          break
        default:
          propose({ type: 'leaseRevoke', leaseRevoke: { id: pickLease() } })
      }
    }
    // Keepalives: the lowest ids are kept alive by their clients now and then.
    if (leader !== null && p.chance(0.3)) {
      const known = Number(this.nextId - 1n)
      if (known > 0) leader.renew(1n + BigInt(p.intn(Math.min(known, 3))))
    }
  }
}
