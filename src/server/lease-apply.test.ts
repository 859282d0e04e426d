// Goal: the lease entries go through the server's own apply path as etcd applies them: a grant,
// a put and a txn put with the lease (an unknown lease refused with etcd's error, changing
// nothing), a checkpoint, a revoke deleting the lease's keys in one revision, a snapshot restore
// that keeps leases and attachments, and the promote of a leader's lessor on the empty entry of
// its own term. Method: ServerStateMachine over an MvccStore on the in-memory backend, fed
// encoded entries (request.ts), with a manual clock for the lessor.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { putRequest, type LeaseCheckpoint } from '../api/index.js'
import { ManualClock } from '../io/index.js'
import { MemoryBackend, MvccStore } from '../mvcc/index.js'
import type { Entry } from '../raft/index.js'
import { Lessor } from './lessor.js'
import { Members } from './members.js'
import { decodeRequest, encodeRequest, type RaftRequest } from './request.js'
import { ServerStateMachine, type ApplyResult } from './state-machine.js'

const b = (s: string): Uint8Array => Buffer.from(s)

function machine(leaderTerm: number) {
  const clock = new ManualClock()
  const checkpoints: LeaseCheckpoint[][] = []
  const lessor = new Lessor({
    now: () => clock.now,
    clock,
    minTtlSeconds: 2,
    checkpointIntervalMs: 1000,
    onExpired: () => {},
    onCheckpoint: (cps) => checkpoints.push(cps),
  })
  const store = MvccStore.open(new MemoryBackend())
  const m = new ServerStateMachine({
    store,
    members: Members.initial(new Map([['m1', ['http://127.0.0.1:2380']]]), 'token'),
    lessor,
    isLeaderOf: (term) => term === leaderTerm,
    promoteExtendMs: 1000,
  })
  let index = 0
  const apply = (r: RaftRequest | null, term = 1): ApplyResult => {
    const e: Entry = {
      index: ++index,
      term,
      type: 0,
      data: r === null ? new Uint8Array(0) : encodeRequest(r),
    }
    return m.apply([e])[0]!
  }
  return { m, lessor, store, clock, apply, checkpoints }
}

test('lease requests round-trip through their raft encoding (kinds 6, 7, 8)', () => {
  const rs: RaftRequest[] = [
    { type: 'leaseGrant', leaseGrant: { id: -5n, ttl: 30 } },
    { type: 'leaseRevoke', leaseRevoke: { id: 0x7fff_ffff_ffff_ffffn } },
    {
      type: 'leaseCheckpoint',
      leaseCheckpoint: { checkpoints: [{ id: 1n, remainingTtl: 7 }] },
    },
  ]
  for (const [i, r] of rs.entries()) {
    const data = encodeRequest(r)
    assert.equal(data[0], 6 + i)
    assert.deepEqual(decodeRequest(data), r)
  }
})

test('grant, attach by put and txn put, checkpoint, revoke in one revision', () => {
  const { apply, store, lessor } = machine(0)
  const g = apply({ type: 'leaseGrant', leaseGrant: { id: 7n, ttl: 1 } })
  assert.equal(g.type, 'leaseGrant')
  if (g.type === 'leaseGrant') assert.equal(g.resp.ttl, 2) // raised to the minimum
  const again = apply({ type: 'leaseGrant', leaseGrant: { id: 7n, ttl: 10 } })
  assert.equal(again.type === 'error' && again.error.code, 'LEASE_EXIST')
  apply({ type: 'put', put: putRequest({ key: b('a'), value: b('1'), lease: 7n }) })
  apply({
    type: 'txn',
    txn: {
      compare: [],
      success: [{ type: 'put', put: putRequest({ key: b('b'), value: b('2'), lease: 7n }) }],
      failure: [],
    },
  })
  const rev = store.currentRevision
  // An unknown lease: etcd's error, nothing written.
  const bad = apply({ type: 'put', put: putRequest({ key: b('c'), value: b('3'), lease: 8n }) })
  assert.equal(bad.type === 'error' && bad.error.code, 'LEASE_NOT_FOUND')
  const badTxn = apply({
    type: 'txn',
    txn: {
      compare: [],
      success: [{ type: 'put', put: putRequest({ key: b('c'), value: b('3'), lease: 8n }) }],
      failure: [],
    },
  })
  assert.equal(badTxn.type === 'error' && badTxn.error.code, 'LEASE_NOT_FOUND')
  assert.equal(store.currentRevision, rev)
  apply({
    type: 'leaseCheckpoint',
    leaseCheckpoint: { checkpoints: [{ id: 7n, remainingTtl: 1 }] },
  })
  assert.deepEqual(
    lessor.lookup(7n, true)!.keys.map((k) => Buffer.from(k).toString()),
    ['a', 'b'],
  )
  const r = apply({ type: 'leaseRevoke', leaseRevoke: { id: 7n } })
  assert.equal(r.type, 'leaseRevoke')
  assert.equal(store.currentRevision, rev + 1)
  if (r.type === 'leaseRevoke') assert.equal(r.resp.header?.revision, rev + 1)
  assert.deepEqual(store.kvs(), [])
  const gone = apply({ type: 'leaseRevoke', leaseRevoke: { id: 7n } })
  assert.equal(gone.type === 'error' && gone.error.code, 'LEASE_NOT_FOUND')
})

test("the leader's lessor is promoted on the empty entry of its own term, extended", () => {
  const { apply, lessor, clock } = machine(2)
  apply({ type: 'leaseGrant', leaseGrant: { id: 1n, ttl: 10 } })
  apply(null, 1) // an earlier term's empty entry: not ours
  assert.equal(lessor.isPrimary, false)
  apply(null, 2)
  assert.equal(lessor.isPrimary, true)
  clock.advance(0)
  assert.equal(lessor.lookup(1n, false)!.remainingMs, 11_000)
})

test('a snapshot restore keeps the leases and attaches their keys again', async () => {
  const a = machine(0)
  a.apply({ type: 'leaseGrant', leaseGrant: { id: 3n, ttl: 60 } })
  a.apply({ type: 'put', put: putRequest({ key: b('k'), value: b('v'), lease: 3n }) })
  const data = await a.m.snapshot()
  const c = machine(0)
  c.m.restore({
    data,
    metadata: {
      index: 2,
      term: 1,
      confState: {
        voters: [],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
  })
  assert.deepEqual(c.lessor.ids(), [3n])
  assert.deepEqual(
    c.lessor.lookup(3n, true)!.keys.map((k) => Buffer.from(k).toString()),
    ['k'],
  )
})
