// Goal: conf changes are consistent however they are carried out, and a ConfState survives a
// restore (etcd-io/raft confchange/quick_test.go and restore_test.go). Method: fast-check
// generates change sequences and ConfStates; simple and joint application must agree, and
// restore(confState) must give back the same ConfState.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { fcParams } from '../../../test-support/seed.js'
import { RaftError } from '../errors.js'
import { ConfChangeType, emptyConfState } from '../raftpb/types.js'
import type { ConfChangeSingle, ConfState } from '../raftpb/types.js'
import { ProgressTracker } from '../tracker/tracker.js'
import { Changer } from './confchange.js'
import type { ConfChangeResult } from './confchange.js'
import { restore } from './restore.js'

function apply(trk: ProgressTracker, r: ConfChangeResult): void {
  trk.config = r.config
  trk.progress = r.progress
}

/** Voter 1 first, then adds of voters 1..5 (node 1 stays a voter, so no config goes empty). */
const setupChanges = fc
  .array(fc.integer({ min: 1, max: 5 }), { maxLength: 5 })
  .map((ids): ConfChangeSingle[] =>
    [1, ...ids].map((id) => ({ type: ConfChangeType.ConfChangeAddNode, nodeId: BigInt(id) })),
  )

/** 1..9 changes of any type on nodes 2..10. */
const changes = fc.array(
  fc.record({
    type: fc.constantFrom(
      ConfChangeType.ConfChangeAddNode,
      ConfChangeType.ConfChangeRemoveNode,
      ConfChangeType.ConfChangeUpdateNode,
      ConfChangeType.ConfChangeAddLearnerNode,
    ),
    nodeId: fc.bigInt({ min: 2n, max: 10n }),
  }),
  { minLength: 1, maxLength: 9 },
)

function setUp(setup: ConfChangeSingle[]): ProgressTracker {
  const trk = new ProgressTracker(10, 0)
  for (const cc of setup) apply(trk, new Changer(trk, 10).simple([cc]))
  return trk
}

function state(trk: ProgressTracker): string {
  return `${trk.config}\n${trk.progress}`
}

test('one change at a time and a joint change arrive at the same configuration', (t) => {
  fc.assert(
    fc.property(setupChanges, changes, (setup, ccs) => {
      const viaSimple = setUp(setup)
      for (const cc of ccs) apply(viaSimple, new Changer(viaSimple, 10).simple([cc]))

      const viaJoint = setUp(setup)
      const entered = new Changer(viaJoint, 10).enterJoint(false, ccs)
      // autoLeave changes nothing but the flag.
      const enteredAuto = new Changer(viaJoint, 10).enterJoint(true, ccs)
      assert.ok(enteredAuto.config.autoLeave)
      enteredAuto.config.autoLeave = false
      assert.equal(`${enteredAuto.config}`, `${entered.config}`)
      apply(viaJoint, entered)
      apply(viaJoint, new Changer(viaJoint, 10).leaveJoint())

      assert.equal(state(viaJoint), state(viaSimple))
      assert.deepEqual(viaJoint.confState(), viaSimple.confState())
    }),
    fcParams(t, { numRuns: 500 }),
  )
})

test('a failed change leaves the tracker untouched', () => {
  const trk = setUp([{ type: ConfChangeType.ConfChangeAddNode, nodeId: 1n }])
  const before = state(trk)
  const twoVoters: ConfChangeSingle[] = [
    { type: ConfChangeType.ConfChangeAddNode, nodeId: 2n },
    { type: ConfChangeType.ConfChangeAddNode, nodeId: 3n },
  ]
  assert.throws(
    () => new Changer(trk, 1).simple(twoVoters),
    (err) =>
      RaftError.is(err, 'CONF_CHANGE') &&
      err.message === 'more than one voter changed without entering joint config',
  )
  assert.throws(() => new Changer(trk, 1).leaveJoint(), /can't leave a non-joint config/)
  assert.equal(state(trk), before)
})

/** A random valid ConfState, built like restore_test.go's generator. */
const confStates = fc
  .record({
    nVoters: fc.integer({ min: 1, max: 5 }),
    nLearners: fc.integer({ min: 0, max: 4 }),
    nRemoved: fc.integer({ min: 0, max: 2 }),
    retained: fc.nat(),
    learnersNext: fc.nat(),
    autoLeave: fc.boolean(),
    seed: fc.array(fc.nat(), { minLength: 22, maxLength: 22 }),
  })
  .map((r): ConfState => {
    // A permutation of 1..2n from the seed.
    const pool = Array.from({ length: 2 * (r.nVoters + r.nLearners + r.nRemoved) }, (_, i) =>
      BigInt(i + 1),
    )
    const ids = pool.map((_, i) => pool.splice((r.seed[i] ?? 0) % pool.length, 1)[0] as bigint)
    const voters = ids.splice(0, r.nVoters)
    const learners = ids.splice(0, r.nLearners)
    const retained = r.retained % (r.nVoters + 1)
    const removed = ids.slice(0, r.nRemoved)
    const votersOutgoing = [...voters.slice(0, retained), ...removed]
    const learnersNext = r.nRemoved > 0 ? removed.slice(0, r.learnersNext % (r.nRemoved + 1)) : []
    const autoLeave = votersOutgoing.length > 0 && r.autoLeave
    return { voters, learners, votersOutgoing, learnersNext, autoLeave }
  })

function sorted(cs: ConfState): ConfState {
  const sort = (ids: bigint[]): bigint[] => ids.slice().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return {
    voters: sort(cs.voters),
    learners: sort(cs.learners),
    votersOutgoing: sort(cs.votersOutgoing),
    learnersNext: sort(cs.learnersNext),
    autoLeave: cs.autoLeave,
  }
}

function roundTrip(cs: ConfState): void {
  const trk = new ProgressTracker(20, 0)
  apply(trk, restore(new Changer(trk, 10), cs))
  assert.deepEqual(trk.confState(), sorted(cs))
}

test('restore(confState) round-trips: unit cases', () => {
  roundTrip(emptyConfState())
  roundTrip({ ...emptyConfState(), voters: [1n, 2n, 3n] })
  roundTrip({ ...emptyConfState(), voters: [1n, 2n, 3n], learners: [4n, 5n, 6n] })
  roundTrip({
    voters: [1n, 2n, 3n],
    learners: [5n],
    votersOutgoing: [1n, 2n, 4n, 6n],
    learnersNext: [4n],
    autoLeave: false,
  })
})

test('restore(confState) round-trips: random ConfStates', (t) => {
  fc.assert(fc.property(confStates, roundTrip), fcParams(t, { numRuns: 1000 }))
})

test('restore does not modify the changer tracker', () => {
  const trk = new ProgressTracker(20, 0)
  const result = restore(new Changer(trk, 10), { ...emptyConfState(), voters: [1n, 2n] })
  assert.equal(trk.progress.size, 0)
  assert.equal(result.progress.size, 2)
})
