// Goal: the simulator finds no violation on a fixed set of seeds, replays a seed bit for bit, and
// its checkers can fail. Method: run the seeds; run one seed twice and compare trace hashes; feed
// each checker a deliberately broken history and expect the matching Violation.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Checker, Violation, type LogView, type ViolationKind } from './checkers.js'
import { MembershipChecker } from './membership.js'
import { IncarnationWatch } from './watch.js'
import { chooseOptions } from './options.js'
import { describeOptions, runSeed } from './run.js'
import { Ev } from './cluster.js'
import type { ConfState } from '../raft/index.js'
import { slow } from '../../test-support/quick.js'

/**
 * Seeds 1..SEED_COUNT: about a minute on the 2-core development machine when it is free (the
 * members run the real driver, RaftNode: about 1,600 seeds/min); two while other jobs share the
 * cores. Raise it as the simulator gets faster.
 */
const SEED_COUNT = 1500
/**
 * Of those, the seeds whose nodes keep a WAL on a SimDisk run only up to here: such a seed costs
 * about twice a MemoryStorage one (every Ready is encoded, checksummed and recovered).
 * `npm run sim` runs them all.
 */
const WAL_SEED_COUNT = 200

function expectViolation(kind: ViolationKind, broken: () => void): void {
  assert.throws(broken, (e: unknown) => e instanceof Violation && e.kind === kind)
}

async function traceHash(seed: number): Promise<{ hash: string; eventHash: number }> {
  const r = await runSeed(seed, { trace: true })
  const h = createHash('sha256')
  for (const line of r.trace ?? []) h.update(line + '\n')
  return { hash: h.digest('hex'), eventHash: r.hash }
}

test(
  'a seed replays bit for bit, with or without a trace',
  slow('six runs of three seeds'),
  async () => {
    // Seeds 3 and 17 keep their state in a WAL on a SimDisk, seed 1 in a MemoryStorage.
    for (const seed of [1, 3, 17]) {
      const a = await traceHash(seed)
      const b = await traceHash(seed)
      assert.equal(a.hash, b.hash)
      assert.equal(a.eventHash, b.eventHash)
      assert.equal((await runSeed(seed)).hash, a.eventHash, 'tracing must not change the run')
    }
    assert.notEqual((await runSeed(3)).hash, (await runSeed(4)).hash)
  },
)

test(
  `seeds 1..${SEED_COUNT} pass every checker (WAL seeds up to ${WAL_SEED_COUNT})`,
  slow(`${SEED_COUNT} simulator seeds`),
  async (t) => {
    // The Raft core throws on a hot path; stack capture would cost ~10% (see src/sim/cli.ts).
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    t.after(() => {
      Error.stackTraceLimit = limit
    })
    for (let seed = 1; seed <= SEED_COUNT; seed++) {
      if (seed > WAL_SEED_COUNT && chooseOptions(seed).walDisk) continue
      const r = await runSeed(seed)
      if (r.violation !== null) {
        assert.fail(
          `seed ${seed}: ${r.violation.message}\n  ${describeOptions(r.options)}\n` +
            `replay: npm run sim -- --seed=${seed} --trace`,
        )
      }
    }
  },
)

test('bit rot in what a disk kept is refused at start-up, with a typed error; the others carry on', async () => {
  // bitRot seeds whose rot struck written bytes (and which draw neither a slow machine nor the
  // cut-off-leader scenario, so those draws cannot move them): each member refuses to start
  // (WalError or SnapError naming file and offset) and the run still passes every checker.
  for (const seed of [13, 131, 257]) {
    const r = await runSeed(seed)
    assert.equal(r.options.bitRot, true, `seed ${seed} is a bitRot seed`)
    assert.equal(r.violation, null, `seed ${seed}: ${r.violation?.message}`)
    assert.equal(r.counts[Ev.RotRefused], 1, `seed ${seed}: one member refused its rotted disk`)
  }
})

test('election safety: two leaders in one term are caught', () => {
  const c = new Checker(3)
  c.leader(2, 1)
  c.leader(2, 1)
  c.leader(3, 2)
  expectViolation('election-safety', () => c.leader(2, 3))
})

test('log matching: one (index, term) with two payloads or two predecessors is caught', () => {
  const c = new Checker(3)
  c.persisted(1, 5, 2, 0xaaaa, 1)
  c.persisted(2, 5, 2, 0xaaaa, 1)
  expectViolation('log-matching', () => c.persisted(3, 5, 2, 0xbbbb, 1))
  expectViolation('log-matching', () => c.persisted(3, 5, 2, 0xaaaa, 2))
})

test('state machine safety: a different entry applied at an index is caught', () => {
  const c = new Checker(3)
  c.restarted(1, 1, 1)
  c.restarted(2, 1, 1)
  c.applied(1, 2, 1, 0xaaaa, 0x1111)
  expectViolation('state-machine-safety', () => c.applied(2, 2, 1, 0xbbbb, 0x1111))
  const d = new Checker(3)
  d.restarted(1, 1, 1)
  d.restarted(2, 1, 1)
  d.applied(1, 2, 1, 0xaaaa, 0x1111)
  // Same entry, different resulting state: the state machine diverged (e.g. applied twice).
  expectViolation('state-machine-safety', () => d.applied(2, 2, 1, 0xaaaa, 0x2222))
})

test('a committed entry replaced after a crash is caught', () => {
  const c = new Checker(3)
  c.restarted(1, 1, 1)
  c.applied(1, 2, 1, 0xaaaa, 0x1111)
  c.crashed(1)
  c.restarted(1, 1, 1)
  expectViolation('state-machine-safety', () => c.applied(1, 2, 2, 0xcccc, 0x3333))
})

test('monotonic: applied going backwards, skipping, or commit regressing is caught', () => {
  const c = new Checker(3)
  c.restarted(1, 1, 1)
  c.applied(1, 2, 1, 0xaaaa, 0x1111)
  c.applied(1, 3, 1, 0xbbbb, 0x2222)
  expectViolation('monotonic', () => c.applied(1, 2, 1, 0xaaaa, 0x1111))
  expectViolation('monotonic', () => c.applied(1, 5, 1, 0xdddd, 0x4444))
  expectViolation('monotonic', () => c.snapshotApplied(1, 3, 0x2222))
  const terms = (): number => 1
  c.committed(1, 7, terms)
  expectViolation('monotonic', () => c.committed(1, 6, terms))
  // A restart may start lower: only a live node must not go back.
  c.crashed(1)
  c.restarted(1, 1, 4)
  c.committed(1, 4, terms)
})

test('a committed index whose term differs between nodes is caught', () => {
  const c = new Checker(3)
  c.restarted(1, 0, 0)
  c.restarted(2, 0, 0)
  c.committed(1, 3, (i) => (i <= 2 ? 1 : 2))
  expectViolation('state-machine-safety', () => c.committed(2, 3, (i) => (i <= 2 ? 1 : 3)))
})

test('commit rule: a leader committing an entry of an older term is caught', () => {
  const c = new Checker(3)
  c.restarted(1, 1, 1)
  c.leaderCommitted(1, 3, 1, 1) // not an advance
  c.leaderCommitted(1, 3, 4, 3)
  expectViolation('commit-rule', () => c.leaderCommitted(1, 3, 2, 2))
})

test('leader completeness: a leader missing an applied entry is caught', () => {
  const c = new Checker(3)
  c.restarted(1, 1, 1)
  c.applied(1, 2, 1, 0xaaaa, 0x1111)
  c.applied(1, 3, 1, 0xbbbb, 0x2222)
  const log = (lastIndex: number, terms: number[]): LogView => ({
    firstIndex: 1,
    lastIndex,
    termAt: (i) => terms[i] ?? 0,
  })
  c.leaderLog(2, 2, log(3, [0, 1, 1, 1]))
  expectViolation('leader-completeness', () => c.leaderLog(3, 3, log(2, [0, 1, 1])))
  expectViolation('leader-completeness', () => c.leaderLog(3, 4, log(3, [0, 1, 1, 2])))
})

const cs = (voters: number[], outgoing: number[] = [], learners: number[] = []): ConfState => ({
  voters: voters.map(BigInt),
  votersOutgoing: outgoing.map(BigInt),
  learners: learners.map(BigInt),
  learnersNext: [],
  autoLeave: false,
})

test('commit quorum: a leader committing an entry too few voters hold is caught', () => {
  const c = new Checker(5)
  c.restarted(1, 1, 1)
  c.persisted(1, 5, 2, 0xaaaa, 1)
  c.persisted(2, 5, 2, 0xaaaa, 1)
  c.leaderCommitted(1, 2, 5, 2, [cs([1, 2, 3])])
  // Joint: the outgoing half (3 4 5) holds none of it; learners never count.
  c.restarted(1, 1, 1)
  expectViolation('commit-quorum', () => c.leaderCommitted(1, 2, 5, 2, [cs([1, 2, 3], [3, 4, 5])]))
  c.persisted(4, 5, 2, 0xaaaa, 1)
  expectViolation('commit-quorum', () => c.leaderCommitted(1, 2, 5, 2, [cs([1, 3, 5], [], [2, 4])]))
  // A snapshot covering the entry holds it; a configuration held lately may have counted.
  c.snapshotPersisted(5, 6)
  c.leaderCommitted(1, 2, 5, 2, [cs([1, 2, 3], [3, 4, 5])])
  const d = new Checker(5)
  d.restarted(1, 1, 1)
  d.persisted(1, 5, 2, 0xaaaa, 1)
  d.persisted(2, 5, 2, 0xaaaa, 1)
  d.leaderCommitted(1, 2, 5, 2, [cs([1, 3, 4]), cs([1, 2, 3])])
})

test('election quorum: a leader elected without a quorum of voters is caught', () => {
  const c = new Checker(5)
  c.leaderVotes(1, 3, new Set([2]), [cs([1, 2, 3])])
  c.leaderVotes(1, 3, new Set(), [cs([1])])
  expectViolation('election-quorum', () =>
    c.leaderVotes(1, 4, new Set([4, 5]), [cs([1, 2, 3], [], [4, 5])]),
  )
  expectViolation('election-quorum', () =>
    c.leaderVotes(1, 4, new Set([2]), [cs([1, 2, 3], [1, 4, 5])]),
  )
  c.leaderVotes(1, 4, new Set([2]), [cs([1, 2, 3], [1, 4, 5]), cs([1, 2, 3])])
})

test('lease: a leader that has not heard from a quorum within the bound has no lease', () => {
  // Election timeout 5: the bound is 2 timeouts, 3 in the first timeout as leader.
  const w = new IncarnationWatch()
  const conf = cs([1, 2, 3])
  w.confIs(conf, 0)
  w.becameLeader(0)
  w.heard(2, 5, 1, 1)
  assert.equal(w.lapse(1, 5, conf, 4, 5, 0), null)
  w.heard(2, 5, 10, 2)
  w.heard(3, 5, 12, 3)
  assert.equal(w.lapse(1, 5, conf, 21, 5, 0), null)
  assert.match(w.lapse(1, 5, conf, 30, 5, 0) ?? '', /heard from only \{1\}/)
  assert.equal(w.lapse(1, 5, conf, 30, 5, 10), null, 'the slack widens the bound')
  // A message of another term is not an answer to this leader.
  w.heard(2, 4, 29, 4)
  assert.notEqual(w.lapse(1, 5, conf, 30, 5, 0), null)
  w.heard(2, 5, 29, 5)
  assert.equal(w.lapse(1, 5, conf, 30, 5, 0), null)
  // Joint: each half needs its majority, and a configuration held within the bound may count.
  const joint = cs([1, 2, 3], [3, 4, 5])
  w.confIs(joint, 31)
  assert.notEqual(w.lapse(1, 5, joint, 60, 5, 0), null)
  assert.equal(w.lapse(1, 5, joint, 32, 5, 0), null)
})

test('read quorum: the delivery after which a quorum answered the leader', () => {
  const w = new IncarnationWatch()
  const conf = cs([1, 2, 3, 4, 5])
  w.heard(2, 5, 0, 10)
  w.heard(3, 5, 0, 20)
  w.heard(4, 4, 0, 30) // another term: no answer to this leader
  // Itself, 3 (after 20) and 2 (after 10): a read sent after delivery 10 was not confirmed.
  assert.equal(w.quorumSeq(1, 5, [conf]), 10)
  assert.equal(w.quorumSeq(1, 5, [cs([1])]), Infinity)
  assert.equal(w.quorumSeq(1, 5, [cs([1, 2, 3], [3, 4, 5])]), -1)
  // Learners never count: (1 2 3) with 4 and 5 learning needs 2 or 3.
  w.heard(4, 5, 0, 40)
  w.heard(5, 5, 0, 50)
  assert.equal(w.quorumSeq(1, 5, [cs([1, 2, 6], [], [4, 5])]), 10)
})

test('membership: nodes applying different configurations at one conf-change index are caught', () => {
  const c = new MembershipChecker(4, cs([1, 2, 3]))
  c.restarted(1, 1)
  c.restarted(2, 1)
  c.confApplied(1, 5, cs([1, 2, 3, 4]))
  expectViolation('membership', () => c.confApplied(2, 5, cs([1, 2, 3], [], [4])))
})

test('membership: a conf change applied twice, or a snapshot with a stale ConfState, is caught', () => {
  const c = new MembershipChecker(4, cs([1, 2, 3]))
  c.restarted(1, 1)
  c.confApplied(1, 5, cs([1, 2, 3, 4]))
  expectViolation('membership', () => c.confApplied(1, 5, cs([1, 2, 3, 4])))
  // A restart re-applies from the snapshot: allowed.
  c.restarted(1, 1)
  c.confApplied(1, 5, cs([1, 2, 3, 4]))
  c.snapshotInstalled(2, 4, cs([1, 2, 3]))
  expectViolation('membership', () => c.snapshotInstalled(3, 7, cs([1, 2, 3])))
})

test('membership: a leader appending a second conf change while one is unapplied is caught', () => {
  const c = new MembershipChecker(3, cs([1, 2, 3]))
  c.leaderAppended(1, 2, 9, 0, 4)
  c.leaderAppended(1, 2, 12, 9, 9)
  expectViolation('membership', () => c.leaderAppended(1, 2, 14, 12, 11))
})

test('membership: a node leading in a configuration that dropped it is caught', () => {
  const c = new MembershipChecker(4, cs([1, 2, 3]))
  c.leaderElected(1, 2, cs([1, 2, 3]))
  c.leaderElected(4, 3, cs([2, 3], [2, 3, 4])) // an outgoing voter still counts
  expectViolation('membership', () => c.leaderElected(1, 4, cs([2, 3], [], [1])))
  // Election safety is unchanged by configurations: a removed node and a member in one term.
  const e = new Checker(4)
  e.leader(5, 1)
  expectViolation('election-safety', () => e.leader(5, 4))
})

test('membership: a joint configuration never left, or settled nodes disagreeing, is caught', () => {
  const c = new MembershipChecker(3, cs([1, 2, 3]))
  c.settled(
    new Map([
      [1, cs([1, 2])],
      [2, cs([1, 2])],
    ]),
  )
  expectViolation('membership', () => c.settled(new Map([[1, cs([1, 2], [1, 2, 3])]])))
  expectViolation('membership', () =>
    c.settled(
      new Map([
        [1, cs([1, 2])],
        [2, cs([1, 2, 3])],
      ]),
    ),
  )
})
