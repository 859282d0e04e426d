// Goal: the tracker's building blocks behave as etcd-io/raft's tracker/ (inflights_test.go,
// progress_test.go): the ring buffer frees and wraps correctly, Progress transitions follow the
// documented rules, and the printed forms match the conformance files.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { JointConfig } from '../quorum/joint.js'
import { MajorityConfig } from '../quorum/majority.js'
import { VoteResult } from '../quorum/types.js'
import { Inflights } from './inflights.js'
import { Progress, ProgressMap } from './progress.js'
import { StateType } from './state.js'
import { ProgressTracker, TrackerConfig } from './tracker.js'
import { testRand } from '../../../test-support/seed.js'

test('inflights add, wrap around and freeLE', () => {
  const ins = new Inflights(10, 0)
  for (let i = 0; i < 5; i++) ins.add(i, 100 + i)
  assert.equal(ins.count(), 5)
  assert.equal(ins.bytes(), 510)
  ins.freeLE(2)
  assert.equal(ins.count(), 2)
  assert.equal(ins.bytes(), 207)
  // Fill to 10, wrapping past the end of the ring.
  for (let i = 5; i < 13; i++) ins.add(i, 1)
  assert.equal(ins.count(), 10)
  assert.ok(ins.full())
  assert.throws(() => ins.add(13, 1), /cannot add into a Full inflights/)
  ins.freeLE(11)
  assert.equal(ins.count(), 1)
  assert.ok(!ins.full())
  ins.freeLE(0) // below the window: nothing happens
  assert.equal(ins.count(), 1)
  ins.freeLE(12)
  assert.equal(ins.count(), 0)
  assert.equal(ins.bytes(), 0)
})

test('inflights byte limit is soft, clone shares nothing, reset empties', () => {
  const ins = new Inflights(10, 1000)
  ins.add(1, 400)
  ins.add(2, 400)
  assert.ok(!ins.full())
  ins.add(3, 900) // crosses the limit: accepted
  assert.ok(ins.full())
  const copy = ins.clone()
  ins.freeLE(3)
  assert.equal(copy.count(), 3)
  assert.equal(ins.count(), 0)
  copy.reset()
  assert.equal(copy.count(), 0)
  assert.ok(!copy.full())
  assert.ok(!new Inflights(3, Infinity).full())
})

test('progress toString', () => {
  const ins = new Inflights(1, 0)
  ins.add(123, 1)
  const pr = new Progress({
    match: 2,
    next: 3,
    state: StateType.StateSnapshot,
    pendingSnapshot: 123,
    recentActive: false,
    msgAppFlowPaused: true,
    isLearner: true,
    inflights: ins,
  })
  assert.equal(
    pr.toString(),
    'StateSnapshot match=2 next=3 learner paused pendingSnap=123 inactive inflight=1[full]',
  )
  const m = new ProgressMap()
  m.set(2n, new Progress({ next: 1, recentActive: true, inflights: new Inflights(1, 0) }))
  m.set(1n, new Progress({ next: 4, match: 3, inflights: new Inflights(1, 0) }))
  assert.equal(
    m.toString(),
    '1: StateProbe match=3 next=4 inactive\n2: StateProbe match=0 next=1\n',
  )
})

test('progress isPaused by state', () => {
  const cases: [StateType, boolean, boolean][] = [
    [StateType.StateProbe, false, false],
    [StateType.StateProbe, true, true],
    [StateType.StateReplicate, false, false],
    [StateType.StateReplicate, true, true],
    [StateType.StateSnapshot, false, true],
    [StateType.StateSnapshot, true, true],
  ]
  for (const [state, paused, want] of cases) {
    const pr = new Progress({
      next: 1,
      state,
      msgAppFlowPaused: paused,
      inflights: new Inflights(256, 0),
    })
    assert.equal(pr.isPaused(), want)
  }
})

test('progress transitions', () => {
  const probe = (state: StateType, pendingSnapshot: number): Progress => {
    const pr = new Progress({
      match: 1,
      next: 5,
      state,
      pendingSnapshot,
      inflights: new Inflights(256, 0),
    })
    pr.becomeProbe()
    return pr
  }
  assert.equal(probe(StateType.StateReplicate, 0).next, 2)
  assert.equal(probe(StateType.StateSnapshot, 10).next, 11) // snapshot delivered
  assert.equal(probe(StateType.StateSnapshot, 0).next, 2) // snapshot failed
  const pr = new Progress({ match: 1, next: 5, inflights: new Inflights(256, 0) })
  pr.becomeSnapshot(10)
  assert.deepEqual(
    [pr.state, pr.pendingSnapshot, pr.next, pr.sentCommitIndex],
    [StateType.StateSnapshot, 10, 11, 10],
  )
  pr.becomeReplicate()
  assert.deepEqual([pr.state, pr.next, pr.pendingSnapshot], [StateType.StateReplicate, 2, 0])
  pr.sentEntries(3, 30)
  assert.deepEqual([pr.next, pr.inflights.count(), pr.msgAppFlowPaused], [5, 1, false])
})

test('progress maybeUpdate and maybeDecrTo', () => {
  const updates: [number, number, number, boolean][] = [
    [2, 3, 5, false],
    [3, 3, 5, false],
    [4, 4, 5, true],
    [5, 5, 6, true],
  ]
  for (const [n, wm, wn, ok] of updates) {
    const pr = new Progress({
      match: 3,
      next: 5,
      msgAppFlowPaused: true,
      inflights: new Inflights(8, 0),
    })
    assert.equal(pr.maybeUpdate(n), ok)
    assert.deepEqual([pr.match, pr.next, pr.msgAppFlowPaused], [wm, wn, !ok])
  }
  // [state, match, next, rejected, hint, ok, next after]
  const decrs: [StateType, number, number, number, number, boolean, number][] = [
    [StateType.StateReplicate, 5, 10, 5, 5, false, 10],
    [StateType.StateReplicate, 5, 10, 4, 4, false, 10],
    [StateType.StateReplicate, 5, 10, 9, 9, true, 6],
    [StateType.StateProbe, 0, 10, 5, 5, false, 10],
    [StateType.StateProbe, 0, 10, 9, 9, true, 9],
    [StateType.StateProbe, 0, 2, 1, 1, true, 1],
    [StateType.StateProbe, 0, 1, 0, 0, true, 1],
    [StateType.StateProbe, 0, 10, 9, 2, true, 3],
    [StateType.StateProbe, 0, 10, 9, 0, true, 1],
  ]
  for (const [state, match, next, rejected, hint, ok, wn] of decrs) {
    const pr = new Progress({ state, match, next, inflights: new Inflights(8, 0) })
    assert.equal(pr.maybeDecrTo(rejected, hint), ok)
    assert.deepEqual([pr.match, pr.next], [match, wn])
  }
})

test('progress canBumpCommit follows sentCommit', () => {
  const pr = new Progress({ match: 5, next: 8, inflights: new Inflights(8, 0) })
  assert.ok(pr.canBumpCommit(3))
  pr.sentCommit(7)
  // Commit 7 = next - 1 is already on its way: nothing more can be committed by the follower.
  assert.ok(!pr.canBumpCommit(9))
  pr.becomeProbe() // next = 6; the commit sent is lowered to 5 with it
  assert.equal(pr.sentCommitIndex, 5)
  assert.ok(!pr.canBumpCommit(6))
  pr.maybeUpdate(7) // next = 8
  assert.ok(pr.canBumpCommit(7))
  assert.ok(!pr.canBumpCommit(5))
})

test('tracker config printing and clone', () => {
  const cfg = new TrackerConfig(
    new JointConfig(new MajorityConfig([1n, 2n]), new MajorityConfig([1n])),
    true,
    null,
    new Set([1n]),
  )
  assert.equal(cfg.toString(), 'voters=(1 2)&&(1) learners_next=(1) autoleave')
  const copy = cfg.clone()
  copy.voters.incoming.add(3n)
  assert.equal(cfg.voters.incoming.size, 2)
  assert.equal(copy.autoLeave, false) // like etcd's Clone
  assert.equal(new TrackerConfig(undefined, false, new Set()).toString(), 'voters=() learners=()')
})

test('tracker votes, commit and quorum activity', () => {
  const trk = new ProgressTracker(10, 0)
  trk.config.voters.incoming = new MajorityConfig([1n, 2n, 3n])
  trk.config.learners = new Set([4n])
  for (const id of [1n, 2n, 3n, 4n]) {
    trk.progress.set(
      id,
      new Progress({
        next: 1,
        match: Number(id) * 10,
        isLearner: id === 4n,
        inflights: new Inflights(10, 0),
      }),
    )
  }
  assert.equal(trk.committed(), 20)
  assert.deepEqual(trk.voterNodes(), [1n, 2n, 3n])
  assert.deepEqual(trk.learnerNodes(), [4n])
  assert.deepEqual(trk.confState(), {
    voters: [1n, 2n, 3n],
    votersOutgoing: [],
    learners: [4n],
    learnersNext: [],
    autoLeave: false,
  })
  trk.recordVote(1n, true)
  trk.recordVote(1n, false) // only the first vote counts
  trk.recordVote(4n, true) // a learner's vote is not counted
  assert.deepEqual(trk.tallyVotes(), { granted: 1, rejected: 0, result: VoteResult.VotePending })
  trk.recordVote(2n, true)
  assert.equal(trk.tallyVotes().result, VoteResult.VoteWon)
  trk.resetVotes()
  assert.equal(trk.tallyVotes().granted, 0)
  assert.ok(!trk.quorumActive())
  trk.progress.get(1n)!.recentActive = true
  trk.progress.get(3n)!.recentActive = true
  assert.ok(trk.quorumActive())
  const seen: bigint[] = []
  trk.visit((id) => {
    seen.push(id)
    trk.progress.delete(3n) // mutation during visit is allowed
  })
  assert.deepEqual(seen, [1n, 2n, 4n])
})

test('committed() reads cached voter Progress and agrees with the quorum computation', (t) => {
  // Seeded (test-support/seed.ts): configurations of 0 to 7 voters, some without Progress, joint or
  // not, with matches moved, Progress replaced and voters added between reads, so that every
  // way the cache can go stale is taken.
  const r = testRand(t)
  const rand = (n: number): number => r.int(n)
  const trk = new ProgressTracker(8, 0)
  const indexer = { ackedIndex: (id: bigint) => trk.progress.get(id)?.match }
  for (let round = 0; round < 500; round++) {
    const op = rand(5)
    if (op === 0 || round === 0) {
      const ids = Array.from({ length: rand(8) }, (_, i) => BigInt(i + 1))
      trk.config = new TrackerConfig(
        new JointConfig(new MajorityConfig(ids), new MajorityConfig(rand(3) === 0 ? [1n, 9n] : [])),
      )
      trk.progress = new ProgressMap()
      for (const id of ids) {
        if (rand(6) === 0) continue // a voter without Progress counts as 0
        trk.progress.set(
          id,
          new Progress({ match: rand(50), next: 60, inflights: new Inflights(8, 0) }),
        )
      }
    } else if (op === 1) {
      trk.config.voters.incoming.add(BigInt(rand(9) + 1))
    } else if (op === 2) {
      const id = BigInt(rand(9) + 1)
      trk.progress.set(
        id,
        new Progress({ match: rand(50), next: 60, inflights: new Inflights(8, 0) }),
      )
    } else {
      for (const pr of trk.progress.values()) pr.match = Math.max(pr.match, rand(60))
    }
    assert.equal(trk.committed(), trk.config.voters.committedIndex(indexer), `round ${round}`)
  }
})
