// Goal: the optimised quorum computations agree with obviously correct ones (etcd-io/raft
// quorum/quick_test.go). Method: fast-check generates configurations, acknowledged indexes and
// votes; each result is compared with a naive reference.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { fcParams } from '../../../test-support/seed.js'
import { alternativeMajorityCommittedIndex } from '../rafttest/quorum-handler.js'
import { JointConfig } from './joint.js'
import { MajorityConfig } from './majority.js'
import { MapAckIndexer, VoteResult, indexString, voteResultName } from './types.js'

const ids = fc.uniqueArray(fc.bigInt({ min: 1n, max: 20n }), { maxLength: 11 })
const acked = fc.array(fc.tuple(fc.bigInt({ min: 1n, max: 20n }), fc.nat({ max: 1000 })))

/** The reference: sort everyone's index (0 if unknown) descending, take the quorum-th one. */
function naiveCommitted(c: MajorityConfig, l: MapAckIndexer): number {
  if (c.size === 0) return Infinity
  const idxs = [...c].map((id) => l.ackedIndex(id) ?? 0).sort((a, b) => b - a)
  return idxs[Math.floor(c.size / 2)] as number
}

function naiveVote(c: MajorityConfig, votes: Map<bigint, boolean>): VoteResult {
  if (c.size === 0) return VoteResult.VoteWon
  const yes = [...c].filter((id) => votes.get(id) === true).length
  const no = [...c].filter((id) => votes.get(id) === false).length
  const q = Math.floor(c.size / 2) + 1
  if (yes >= q) return VoteResult.VoteWon
  if (c.size - no >= q) return VoteResult.VotePending
  return VoteResult.VoteLost
}

test('majority committedIndex matches the sort-based and the counting references', (t) => {
  fc.assert(
    fc.property(ids, acked, (members, pairs) => {
      const c = new MajorityConfig(members)
      const l = new MapAckIndexer(new Map(pairs))
      const idx = c.committedIndex(l)
      assert.equal(idx, naiveCommitted(c, l))
      assert.equal(idx, alternativeMajorityCommittedIndex(c, l))
    }),
    fcParams(t, { numRuns: 1000 }),
  )
})

test('committedIndex handles configs larger than the insertion-sort limit', () => {
  const c = new MajorityConfig(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)))
  const l = new MapAckIndexer(new Map([...c].map((id) => [id, Number(id) * 10])))
  assert.equal(c.committedIndex(l), naiveCommitted(c, l))
})

test('joint committedIndex is the minimum of its halves and symmetric', (t) => {
  fc.assert(
    fc.property(ids, ids, acked, (a, b, pairs) => {
      const l = new MapAckIndexer(new Map(pairs))
      const ca = new MajorityConfig(a)
      const cb = new MajorityConfig(b)
      const idx = new JointConfig(ca, cb).committedIndex(l)
      assert.equal(idx, Math.min(naiveCommitted(ca, l), naiveCommitted(cb, l)))
      assert.equal(idx, new JointConfig(cb, ca).committedIndex(l))
    }),
    fcParams(t),
  )
})

test('joint voteResult matches the naive combination of both halves', (t) => {
  const votes = fc.array(fc.tuple(fc.bigInt({ min: 1n, max: 20n }), fc.boolean()))
  fc.assert(
    fc.property(ids, ids, votes, (a, b, vs) => {
      const m = new Map(vs)
      const r1 = naiveVote(new MajorityConfig(a), m)
      const r2 = naiveVote(new MajorityConfig(b), m)
      let want = VoteResult.VotePending
      if (r1 === VoteResult.VoteWon && r2 === VoteResult.VoteWon) want = VoteResult.VoteWon
      if (r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost) want = VoteResult.VoteLost
      const joint = new JointConfig(new MajorityConfig(a), new MajorityConfig(b))
      assert.equal(voteResultName(joint.voteResult(m)), voteResultName(want))
    }),
    fcParams(t, { numRuns: 1000 }),
  )
})

test('describe, toString and index printing', () => {
  const c = new MajorityConfig([3n, 1n, 2n])
  const l = new MapAckIndexer(
    new Map([
      [1n, 12],
      [2n, 12],
    ]),
  )
  assert.equal(c.toString(), '(1 2 3)')
  assert.equal(
    c.describe(l),
    '       idx\nx>      12    (id=1)\nx>      12    (id=2)\n?        0    (id=3)\n',
  )
  assert.equal(new MajorityConfig().describe(l), '<empty majority quorum>')
  assert.equal(new JointConfig(c, new MajorityConfig([4n])).toString(), '(1 2 3)&&(4)')
  assert.equal(indexString(Infinity), '∞')
  assert.equal(indexString(7), '7')
})
