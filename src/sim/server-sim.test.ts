// Goal: the simulator running the server's own apply path (ServerStateMachine over an MvccStore on
// the in-memory backend, etcd requests from its clients) finds no violation on a fixed set of
// seeds, replays a seed bit for bit, and its server checks can fail. Method: run the seeds with
// `machine: 'server'`; run seeds twice and compare hashes; drive ServerMachine directly (equal
// entries give equal fingerprints, a snapshot and a reopened backend restore them, diverging
// content is a state machine safety violation); feed the revision check responses out of order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { ConfState, Entry } from '../raft/index.js'
import { encodeRequest, type RaftRequest } from '../server/index.js'
import { putRequest, deleteRangeRequest } from '../api/index.js'
import { Checker, Violation } from './checkers.js'
import { chooseOptions } from './options.js'
import { describeOptions, runSeed } from './run.js'
import { Ev } from './cluster.js'
import {
  LazyBackend,
  ServerMachine,
  serverBootState,
  serverKey,
  serverValue,
} from './server-machine.js'
import { Prng } from './prng.js'
import { checkRevisionOrder, type RevisionAt } from './server-workload.js'
import { slow } from '../../test-support/quick.js'

/**
 * Server seeds 1..SERVER_SEED_COUNT, of which those with a WAL on a SimDisk (about twice the cost)
 * only up to SERVER_WAL_SEED_COUNT: see docs/simulation.md for the timings.
 */
const SERVER_SEED_COUNT = 400
const SERVER_WAL_SEED_COUNT = 100

test(
  `server machine: seeds 1..${SERVER_SEED_COUNT} pass every checker (WAL seeds up to ${SERVER_WAL_SEED_COUNT})`,
  slow(`${SERVER_SEED_COUNT} server-machine simulator seeds`),
  async (t) => {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    t.after(() => {
      Error.stackTraceLimit = limit
    })
    const totals = new Int32Array(64)
    for (let seed = 1; seed <= SERVER_SEED_COUNT; seed++) {
      if (seed > SERVER_WAL_SEED_COUNT && chooseOptions(seed).walDisk) continue
      const r = await runSeed(seed, { machine: 'server' })
      if (r.violation !== null) {
        assert.fail(
          `seed ${seed}: ${r.violation.message}\n  ${describeOptions(r.options)}\n` +
            `replay: npm run sim -- --seed=${seed} --machine=server --trace`,
        )
      }
      for (let k = 0; k < r.counts.length; k++) totals[k]! += r.counts[k]!
    }
    // The seeds exercise what they are meant to: crashes, snapshots, writes and reads.
    for (const ev of [Ev.Crash, Ev.SnapshotInstall, Ev.WriteAck, Ev.ReadServed, Ev.Compact]) {
      assert.ok(totals[ev]! > 100, `${Ev[ev]} ${totals[ev]}`)
    }
  },
)

test(
  'server machine: a seed replays bit for bit, with or without a trace',
  slow('server seeds twice'),
  async () => {
    // Seed 3 keeps a WAL on a SimDisk, seed 1 a MemoryStorage.
    for (const seed of [1, 3]) {
      const a = await runSeed(seed, { machine: 'server', trace: true })
      const b = await runSeed(seed, { machine: 'server', trace: true })
      const digest = (lines: string[] | null): string =>
        createHash('sha256')
          .update((lines ?? []).join('\n'))
          .digest('hex')
      assert.equal(digest(a.trace), digest(b.trace))
      assert.equal(a.hash, b.hash)
      assert.equal((await runSeed(seed, { machine: 'server' })).hash, a.hash)
      assert.equal(a.options.machine, 'server')
      assert.notEqual(a.hash, (await runSeed(seed)).hash, 'the register run differs')
    }
  },
)

const CONF: ConfState = {
  voters: [1n],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
}

function entry(index: number, r: RaftRequest): Entry {
  return { index, term: 1, type: 0, data: encodeRequest(r) }
}

function put(index: number, key: number, value: number): Entry {
  return entry(index, {
    type: 'put',
    put: putRequest({ key: serverKey(key), value: serverValue(value) }),
  })
}

function booted(): ServerMachine {
  const m = new ServerMachine()
  return m.restore({ data: serverBootState(1), metadata: { index: 1, term: 1, confState: CONF } })
}

test('server machine: equal entries give equal fingerprints; a snapshot and a reopened backend restore them', async () => {
  const a = booted()
  const b = booted()
  assert.equal(a.applied, 1)
  assert.equal(a.hash, b.hash)
  const ents = [
    put(2, 0, 10),
    put(3, 1, 11),
    entry(4, { type: 'deleteRange', deleteRange: deleteRangeRequest({ key: serverKey(0) }) }),
    { index: 5, term: 1, type: 0, data: new Uint8Array(0) },
    put(6, 0, 12),
  ]
  for (const e of ents) {
    const ra = a.applyEntry(e)
    b.applyEntry(e)
    assert.equal(ra.index, e.index)
    assert.equal(a.hash, b.hash, `index ${e.index}`)
  }
  assert.deepEqual(a.read(0), { value: 12, revision: 5 })
  assert.deepEqual(a.read(1), { value: 11, revision: 5 })
  assert.deepEqual(a.read(2), { value: null, revision: 5 })
  // A member restored from a's snapshot is at the same index with the same content.
  const data = await a.snapshot()
  const c = new ServerMachine().restore({
    data,
    metadata: { index: 6, term: 1, confState: CONF },
  })
  assert.equal(c.hash, a.hash)
  // A durable backend survives the crash: the next life reopens it at the same consistent index.
  a.crashed(new Prng(1))
  assert.throws(() => a.read(0))
  const d = a.reopen()
  assert.equal(d.applied, 6)
  assert.equal(d.hash, b.hash)
  // Diverging content at one index: the state machine safety check fails.
  const x = booted()
  const y = booted()
  x.applyEntry(put(2, 0, 1))
  y.applyEntry(put(2, 0, 2))
  assert.notEqual(x.hash, y.hash)
  const checker = new Checker(2)
  checker.applied(1, 2, 1, 7, x.hash)
  assert.throws(
    () => checker.applied(2, 2, 1, 7, y.hash),
    (e: unknown) => e instanceof Violation && e.kind === 'state-machine-safety',
  )
})

test('server machine on a lazy backend: a crash keeps the flushed groups and a prefix of the rest; a snapshot waits for the flush', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rand = new Prng(seed)
    const a = new ServerMachine(new LazyBackend()).restore({
      data: serverBootState(1),
      metadata: { index: 1, term: 1, confState: CONF },
    })
    const hashAt = new Map<number, number>([[1, a.hash]])
    const flushedAt = 1 + rand.intn(6)
    for (let i = 2; i <= 8; i++) {
      a.applyEntry(put(i, i % 3, i))
      hashAt.set(i, a.hash)
      if (i === flushedAt) a.background(alwaysFlush)
    }
    let snapshotted = false
    void a.snapshot().then(() => (snapshotted = true))
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(snapshotted, false, 'a snapshot waits for the flush')
    a.crashed(rand)
    const b = a.reopen()
    assert.ok(
      b.applied >= Math.min(flushedAt, 8) && b.applied <= 8,
      `seed ${seed}: at ${b.applied}`,
    )
    assert.equal(b.hash, hashAt.get(b.applied), `seed ${seed}: content at ${b.applied}`)
    // The next life applies the lost entries again and gets where the first one was.
    for (let i = b.applied + 1; i <= 8; i++) b.applyEntry(put(i, i % 3, i))
    assert.equal(b.hash, hashAt.get(8))
  }
})

/** A Prng whose every chance comes true (a flush at once). */
const alwaysFlush = { chance: () => true } as unknown as Prng

test('revision order: a later write with a revision not above an earlier one, or a read below a write it covers, is caught', () => {
  const w = (index: number, revision: number, wrote = true): RevisionAt => ({
    index,
    revision,
    wrote,
    what: `write at ${index}`,
  })
  const r = (index: number, revision: number): RevisionAt => ({
    index,
    revision,
    wrote: false,
    what: `read at ${index}`,
  })
  // In order, listed in any order; a write that changed nothing keeps the revision.
  checkRevisionOrder([w(5, 3), w(2, 2), w(7, 3, false), w(9, 4)], [r(6, 3), r(4, 2), r(9, 4)])
  const revision = (e: unknown): boolean => e instanceof Violation && e.kind === 'revision'
  assert.throws(() => checkRevisionOrder([w(2, 2), w(5, 2)], []), revision)
  assert.throws(() => checkRevisionOrder([w(2, 3), w(5, 2, false)], []), revision)
  assert.throws(() => checkRevisionOrder([w(2, 2), w(5, 3)], [r(5, 2)]), revision)
})
