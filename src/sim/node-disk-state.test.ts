// Goal: a node's WAL on a SimDisk survives power loss as the simulator needs, and the recovery
// check fails when the disk loses a synced record. Method: persist, crash, reopen through the
// same calls the cluster makes; then cut a synced record off the segment behind the WAL's back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { entry, type Entry } from '../raft/index.js'
import { Violation } from './checkers.js'
import { settleDisks, WalDiskState } from './node-disk-state.js'
import { Prng } from './prng.js'
import { seedFor } from '../../test-support/seed.js'

const voters = {
  voters: [1n],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
}

function ents(first: number, n: number, term: number): Entry[] {
  return Array.from({ length: n }, (_, k) =>
    entry({ index: first + k, term, data: new Uint8Array([first + k, term]) }),
  )
}

async function fresh(syncTicksMax = 0): Promise<WalDiskState> {
  const d = new WalDiskState({
    nodeId: 1,
    rand: new Prng(seedFor('node-disk-state fresh')),
    segmentBytes: 4096,
    syncTicksMax,
  })
  d.bootstrap({ data: new Uint8Array([1]), metadata: { index: 1, term: 1, confState: voters } })
  await settleDisks([{ disk: d }])
  assert.ok(d.ready())
  return d
}

test('durable writes survive a power loss; they resolve in order, only once durable', async () => {
  const d = await fresh(2)
  const order: number[] = []
  void d
    .persist({ entries: ents(2, 3, 1), hardState: { term: 1, vote: 1n, commit: 4 } })
    .then(() => order.push(1))
  void d.persist({ entries: ents(5, 2, 1) }).then(() => order.push(2))
  await Promise.resolve()
  assert.deepEqual(order, [])
  for (let t = 0; t < 4; t++) await settleDisks([{ disk: d }])
  assert.deepEqual(order, [1, 2])
  d.crash()
  assert.equal(d.ready(), false)
  await settleDisks([{ disk: d }])
  assert.ok(d.ready())
  assert.equal(d.storage.lastIndex(), 6)
  assert.deepEqual(d.storage.initialState().hardState, { term: 1, vote: 1n, commit: 4 })
})

test('a crash with writes in flight keeps a prefix of them, checked on reopen', async (t) => {
  for (let seed = 1; seed <= 30; seed++) {
    const d = new WalDiskState({
      nodeId: 1,
      rand: new Prng(seedFor(`${t.name} ${seed}`)),
      segmentBytes: 4096,
      syncTicksMax: 0,
    })
    d.bootstrap({ data: new Uint8Array([1]), metadata: { index: 1, term: 1, confState: voters } })
    await settleDisks([{ disk: d }])
    assert.ok(d.ready())
    void d.persist({ entries: ents(2, 4, 1), hardState: { term: 1, vote: 0n, commit: 1 } })
    await settleDisks([{ disk: d }])
    void d.persist({ entries: ents(4, 5, 2), hardState: { term: 2, vote: 1n, commit: 3 } })
    d.crash()
    await settleDisks([{ disk: d }])
    assert.ok(d.ready(), `seed ${seed}`)
    const last = d.storage.lastIndex()
    assert.ok(last >= 4 && last <= 8, `seed ${seed}: last ${last}`)
  }
})

test('a synced record lost behind the WAL is caught as a durability violation', async () => {
  const d = await fresh()
  const durable = d.persist({ entries: ents(2, 3, 1), hardState: { term: 1, vote: 1n, commit: 1 } })
  await settleDisks([{ disk: d }])
  await durable
  d.crash()
  // Wipe the tail of the only segment: the last entry and HardState records vanish.
  const seg = d.disk.list('/member/wal').find((n) => n.endsWith('.wal'))!
  const path = `/member/wal/${seg}`
  const bytes = d.disk.contents(path)
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0) end--
  bytes.fill(0, end - 40)
  d.disk.setContents(path, bytes)
  await settleDisks([{ disk: d }])
  assert.throws(
    () => d.ready(),
    (e: unknown) => e instanceof Violation && e.kind === 'durability',
  )
})
