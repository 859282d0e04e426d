// Goal: the lessor keeps etcd's lease semantics where they matter to users: the minimum TTL, its
// errors, keys attached and detached by puts and deletes, a revoke deleting every key of its
// lease in one revision, expiry only on the leader and in expiry order, checkpoints of remaining
// TTLs that a new leader continues from (plus an election timeout), a keepalive clearing the
// checkpoint, and leases surviving a reopen of the store. Method: a Lessor over an MvccStore on a
// MemoryBackend, driven by a ManualClock; entries applied as the state machine applies them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../io/index.js'
import { MemoryBackend, MvccStore } from '../mvcc/index.js'
import type { LeaseCheckpoint } from '../api/index.js'
import { WriteTxn } from './apply-kv.js'
import { ServerError } from './errors.js'
import { IdGenerator } from './ids.js'
import {
  CHECKPOINT_BATCH_MAX,
  decodeLease,
  encodeLease,
  EXPIRED_RETRY_MS,
  LOOP_MS,
  Lessor,
  minLeaseTtlSeconds,
} from './lessor.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

interface Rig {
  clock: ManualClock
  store: MvccStore
  lessor: Lessor
  backend: MemoryBackend
  expired: bigint[][]
  checkpoints: LeaseCheckpoint[][]
  index: number
  put(key: string, lease: bigint): void
  del(key: string, end?: string): void
  revoke(id: bigint): void
  keys(): string[]
}

function rig(
  opts: { checkpointIntervalMs?: number; backend?: MemoryBackend; clock?: ManualClock } = {},
): Rig {
  const clock = opts.clock ?? new ManualClock()
  const backend = opts.backend ?? new MemoryBackend()
  const store = MvccStore.open(backend)
  const r: Rig = {
    clock,
    store,
    backend,
    expired: [],
    checkpoints: [],
    index: store.consistentIndex(),
    lessor: undefined as unknown as Lessor,
    put(key, lease) {
      const txn = new WriteTxn(store, ++r.index, r.lessor)
      txn.put(enc(key), enc('v'), lease)
      txn.end()
    },
    del(key, end) {
      const txn = new WriteTxn(store, ++r.index, r.lessor)
      txn.deleteRange(enc(key), end === undefined ? undefined : enc(end))
      txn.end()
    },
    revoke(id) {
      const txn = new WriteTxn(store, ++r.index, r.lessor)
      r.lessor.revoke(id, txn)
      txn.end()
    },
    keys: () => store.kvs().map((kv) => dec(kv.key)),
  }
  r.lessor = new Lessor({
    now: () => clock.now,
    clock,
    minTtlSeconds: 2,
    checkpointIntervalMs: opts.checkpointIntervalMs ?? 0,
    onExpired: (ids) => r.expired.push(ids),
    onCheckpoint: (cps) => r.checkpoints.push(cps.map((c) => ({ ...c }))),
  })
  r.lessor.load(store)
  r.lessor.start()
  return r
}

test("the minimum TTL is etcd's: ceil(1.5 x the election timeout) in seconds", () => {
  assert.equal(minLeaseTtlSeconds(10, 100), 2) // etcd's defaults: 1.5 s -> 2 s
  assert.equal(minLeaseTtlSeconds(10, 25), 1) // 375 ms -> 1 s
  assert.equal(minLeaseTtlSeconds(20, 100), 3)
  assert.equal(minLeaseTtlSeconds(5, 100), 1) // (3*5)/2 = 7 ticks (integer division) -> 0.7 s
})

test("grant raises the TTL to the minimum and refuses etcd's cases", () => {
  const r = rig()
  assert.equal(r.lessor.grant(1n, 0), 2)
  assert.equal(r.lessor.grant(2n, -5), 2)
  assert.equal(r.lessor.grant(3n, 10), 10)
  assert.throws(
    () => r.lessor.grant(3n, 10),
    (e) => ServerError.is(e, 'LEASE_EXIST'),
  )
  assert.throws(
    () => r.lessor.grant(4n, 9_000_000_001),
    (e) => ServerError.is(e, 'LEASE_TTL_TOO_LARGE'),
  )
  assert.throws(
    () => r.lessor.grant(0n, 10),
    (e) => ServerError.is(e, 'LEASE_NOT_FOUND'),
  )
  assert.deepEqual(r.lessor.ids(), [1n, 2n, 3n])
})

test('puts attach keys, a put with another lease or none moves them, deletes detach them', () => {
  const r = rig()
  r.lessor.grant(1n, 10)
  r.lessor.grant(2n, 10)
  r.put('a', 1n)
  r.put('b', 1n)
  r.put('c', 1n)
  r.put('d', 1n)
  r.put('b', 2n) // moves to lease 2
  r.put('c', 0n) // leaves its lease
  r.del('d')
  const keys = (id: bigint) => r.lessor.lookup(id, true)!.keys.map(dec)
  assert.deepEqual(keys(1n), ['a'])
  assert.deepEqual(keys(2n), ['b'])
  r.put('x1', 2n)
  r.put('x2', 2n)
  r.del('x', 'y') // a range delete
  assert.deepEqual(keys(2n), ['b'])
  assert.equal(r.lessor.attachedCount, 2)
})

test('a revoke deletes every key of its lease in one revision, and only those', () => {
  const r = rig()
  r.lessor.grant(1n, 10)
  r.put('k1', 1n)
  r.put('k2', 1n)
  r.put('k3', 1n)
  r.put('other', 0n)
  const before = r.store.currentRevision
  r.revoke(1n)
  assert.equal(r.store.currentRevision, before + 1)
  assert.deepEqual(r.keys(), ['other'])
  assert.equal(r.lessor.exists(1n), false)
  assert.throws(
    () => r.revoke(1n),
    (e) => ServerError.is(e, 'LEASE_NOT_FOUND'),
  )
})

test('only the leader expires leases, in expiry order, and retries one not revoked', () => {
  const r = rig()
  r.lessor.grant(1n, 5)
  r.lessor.grant(2n, 3)
  r.lessor.grant(3n, 4)
  r.clock.advance(60_000) // a follower keeps no time
  assert.deepEqual(r.expired, [])
  r.lessor.promote(0)
  r.clock.advance(2500)
  assert.deepEqual(r.expired, [])
  r.clock.advance(3000) // 5.5 s: all three expired by now
  assert.deepEqual(r.expired.flat(), [2n, 3n, 1n])
  r.expired.length = 0
  r.revoke(2n) // the others' revokes were lost: they come again after EXPIRED_RETRY_MS
  r.clock.advance(EXPIRED_RETRY_MS + LOOP_MS)
  assert.deepEqual(r.expired.flat().sort(), [1n, 3n])
})

test('a keepalive on the leader moves the expiry; a follower refuses it (NOT_LEADER)', () => {
  const r = rig()
  r.lessor.grant(1n, 3)
  assert.throws(
    () => r.lessor.renew(1n),
    (e) => ServerError.is(e, 'NOT_LEADER'),
  )
  r.lessor.promote(0)
  r.clock.advance(2000)
  assert.equal(r.lessor.renew(1n), 3)
  r.clock.advance(2500)
  assert.deepEqual(r.expired, [])
  assert.equal(Math.trunc(r.lessor.lookup(1n, false)!.remainingMs / 1000), 0)
  r.clock.advance(1000)
  assert.deepEqual(r.expired, [[1n]])
  assert.throws(
    () => r.lessor.renew(1n),
    (e) => ServerError.is(e, 'LEASE_NOT_FOUND'),
  )
  assert.throws(
    () => r.lessor.renew(9n),
    (e) => ServerError.is(e, 'LEASE_NOT_FOUND'),
  )
})

test('demote stops expiry; promote extends every lease by the given time', () => {
  const r = rig()
  r.lessor.grant(1n, 10)
  r.lessor.promote(0)
  r.clock.advance(8000)
  r.lessor.demote()
  r.clock.advance(60_000)
  assert.deepEqual(r.expired, [])
  assert.equal(r.lessor.lookup(1n, false)!.remainingMs, Infinity)
  r.lessor.promote(1000) // no checkpoint: the full TTL again, plus the extension
  assert.equal(r.lessor.lookup(1n, false)!.remainingMs, 11_000)
})

test('checkpoints carry the remaining TTL to the next leader; a keepalive clears them', () => {
  const r = rig({ checkpointIntervalMs: 2000 })
  r.lessor.grant(1n, 30)
  r.lessor.grant(2n, 2) // no longer than the interval: never checkpointed (etcd)
  r.lessor.promote(0)
  r.clock.advance(2000)
  assert.deepEqual(r.checkpoints, [[{ id: 1n, remainingTtl: 28 }]])
  r.lessor.checkpoint(r.checkpoints[0]!) // applied through raft
  r.checkpoints.length = 0
  // The lease was renewed meanwhile on lease 2 only; lease 1 keeps being checkpointed.
  r.clock.advance(2000)
  assert.deepEqual(r.checkpoints, [[{ id: 1n, remainingTtl: 26 }]])
  r.lessor.checkpoint(r.checkpoints[0]!)
  // A new leader continues from the checkpoint, extended by its election timeout.
  r.lessor.demote()
  r.lessor.promote(1000)
  assert.equal(r.lessor.lookup(1n, false)!.remainingMs, 27_000)
  // A keepalive renews to the full TTL and clears the checkpoint through raft at the next loop.
  r.checkpoints.length = 0
  assert.equal(r.lessor.renew(1n), 30)
  r.clock.advance(LOOP_MS)
  assert.deepEqual(r.checkpoints[0], [{ id: 1n, remainingTtl: 0 }])
  r.lessor.checkpoint(r.checkpoints[0]!)
  r.lessor.demote()
  r.lessor.promote(0)
  assert.equal(r.lessor.lookup(1n, false)!.remainingMs, 30_000)
})

test('checkpoints are batched, at most CHECKPOINT_BATCH_MAX leases per entry', () => {
  const r = rig({ checkpointIntervalMs: 1000 })
  const n = CHECKPOINT_BATCH_MAX + 500
  for (let i = 1; i <= n; i++) r.lessor.grant(BigInt(i), 60)
  r.lessor.promote(0)
  r.clock.advance(1000)
  assert.deepEqual(
    r.checkpoints.map((b) => b.length),
    [CHECKPOINT_BATCH_MAX, 500],
  )
})

test('promote spreads many expiries so no more than 3/4 of the revoke rate expire per second', () => {
  const r = rig()
  for (let i = 1; i <= 3000; i++) r.lessor.grant(BigInt(i), 10)
  r.lessor.promote(0)
  const perSecond = new Map<number, number>()
  for (const id of r.lessor.ids()) {
    const s = Math.floor(r.lessor.lookup(id, false)!.remainingMs / 1000)
    perSecond.set(s, (perSecond.get(s) ?? 0) + 1)
  }
  for (const [s, count] of perSecond) assert.ok(count <= 751, `${count} expire in second ${s}`)
  assert.ok(Math.min(...perSecond.keys()) >= 10)
})

test('leases survive a reopen (remaining TTLs do not, as in etcd 3.4); keys are attached again', () => {
  const backend = new MemoryBackend()
  const r = rig({ backend, checkpointIntervalMs: 1000 })
  r.lessor.grant(7n, 20)
  r.lessor.grant(-3n, 5)
  r.put('a', 7n)
  r.put('b', 7n)
  r.lessor.checkpoint([{ id: 7n, remainingTtl: 12 }])
  r.store.markApplied(++r.index)
  r.lessor.stop()
  r.store.detach()
  const again = rig({ backend })
  assert.deepEqual(again.lessor.ids(), [-3n, 7n])
  assert.deepEqual(again.lessor.lookup(7n, true)!.keys.map(dec), ['a', 'b'])
  again.lessor.promote(0)
  assert.equal(again.lessor.lookup(7n, false)!.remainingMs, 20_000)
  again.revoke(7n)
  assert.deepEqual(again.keys(), [])
})

test('a lease record round-trips in leasepb.Lease encoding', () => {
  for (const l of [
    { id: 1n, ttlSeconds: 5, remainingTtlSeconds: 0 },
    { id: -1n, ttlSeconds: 9_000_000_000, remainingTtlSeconds: 3 },
    { id: 0x7fff_ffff_ffff_ffffn, ttlSeconds: 1, remainingTtlSeconds: 1 },
  ]) {
    assert.deepEqual(decodeLease(encodeLease(l)), l)
  }
})

test("lease ids come from etcd's request id generator: member bits, then time and a counter", () => {
  const g = new IdGenerator(0x8e9e_1234_5678_694dn, 0x12_3456_789a)
  const a = g.next()
  const b = g.next()
  assert.equal(a >> 48n, 0x694dn)
  assert.equal(b, a + 1n)
  assert.equal((a >> 8n) & 0xff_ffff_ffffn, 0x12_3456_789an)
})
