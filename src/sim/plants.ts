/**
 * Planted bugs: the simulator's own test. Each plant is a small, exact text substitution on the
 * compiled JavaScript (dist/), applied to a temporary copy of it and run there in a child process
 * (src/sim/plant-runner.ts), so the code we ship carries no test hooks and src/ is never changed. A
 * plant names the file and the exact text it replaces; the text must occur exactly once, so a
 * refactor that moves it fails the plant loudly (update the text here) instead of disarming it.
 *
 *   npm run sim -- --plants                          list them
 *   npm run sim -- --plant=NAME --seeds=300 --from=1 how many seeds catch it (docs/simulation.md)
 *   npm run sim -- --plant=NAME --seed=N --trace     replay one catch
 *
 * `budget` is the test's bound (src/sim/plants.test.ts): some seed of from..from+budget-1 must
 * fail, with one of the violation kinds listed. It is the first catching seed plus a margin, not
 * the catch rate: that is measured with the CLI over 300 seeds and recorded in
 * docs/simulation.md.
 * `checksOff` switches checkers off for the run, to show that the others see the bug too.
 */
import type { ViolationKind } from './checkers.js'
import type { MachineKind } from './machine.js'

/** Checkers a plant may switch off; see runSeed's `checks`. */
export type CheckName = 'reads' | 'recovery' | 'responses'

export interface PlantEdit {
  /** The compiled file, relative to dist/ (e.g. `src/raft/raft.js`). */
  file: string
  /** The exact text replaced; it must occur exactly once in the file. */
  find: string
  replace: string
}

export interface Plant {
  name: string
  /** One line: the bug, as a reviewer would describe it. */
  description: string
  edits: readonly PlantEdit[]
  /**
   * Seeds from..from+budget-1 must include one that fails. `from` is 1 unless only rare seeds
   * catch the plant: then the window starts near its first catch, to keep the test short (a
   * change that moves the catch out of the window fails the test: measure it again).
   */
  from?: number
  budget: number
  /** The violations that count as catching it (the first failing seed must show one). */
  kinds: readonly ViolationKind[]
  checksOff?: readonly CheckName[]
  /** The machine the seeds run (`--machine=server`: the server's apply path); register by default. */
  machine?: MachineKind
}

const RAFT = 'src/raft/raft.js'
const RAFT_LOG = 'src/raft/raft-log.js'
const NODE = 'src/node/node.js'

const readIndexBeforeCommit: PlantEdit = {
  file: RAFT,
  find:
    '                if (!this.committedEntryInCurrentTerm()) {\n' +
    '                    this.pendingReadIndexMessages.push(m);',
  replace:
    '                if (false) {\n                    this.pendingReadIndexMessages.push(m);',
}

/**
 * The driver's own hold of read rounds on a leader without a commit in its term (issue 13: the
 * commit index is not synced on its own). With it in place, raft's check above is reached only
 * by reads forwarded from followers, so the plants of that rule remove both.
 */
const driverReadHold: PlantEdit = {
  file: NODE,
  find: '            if (this.leaderWithoutCommitInTerm())\n                return false;\n',
  replace: '',
}

const walAckBeforeSync: PlantEdit = {
  file: 'src/wal/wal.js',
  find: 'syncing = this.file.sync().then(() => true);',
  replace:
    'syncing = Promise.resolve(true);\n                    void this.file.sync().catch(() => { });',
}

const checkQuorumNeverStepsDown: PlantEdit = {
  file: RAFT,
  find: 'if (!this.trk.quorumActive()) {',
  replace: 'if (false) {',
}

/** A txn's compares read the store one revision back (the server's apply path). */
const txnCompareStaleRevision: PlantEdit = {
  file: 'src/server/apply-kv.js',
  find: 'kvs = view.range(c.key, rangeEnd(c.rangeEnd), { limit: 0, rev: 0, countOnly: false }).kvs;',
  replace:
    'kvs = view.range(c.key, rangeEnd(c.rangeEnd), { limit: 0, rev: typeof view.revision === "function" ? Math.max(1, view.revision() - 1) : 0, countOnly: false }).kvs;',
}

export const PLANTS: readonly Plant[] = [
  {
    name: 'vote-twice',
    description: 'grant a vote regardless of an earlier vote in the same term',
    edits: [
      {
        file: RAFT,
        find: '(this.vote === None && this.lead === None) ||',
        replace: 'this.lead === None ||',
      },
    ],
    budget: 30,
    kinds: ['election-safety'],
  },
  {
    name: 'commit-old-term',
    description: "commit an old term's entry by counting replicas (Raft paper Figure 8)",
    edits: [
      {
        file: RAFT,
        find: 'at.term = this.term;\n        at.index = this.trk.committed();',
        replace:
          'at.index = this.trk.committed();\n        at.term = this.raftLog.lookupTerm(at.index);',
      },
    ],
    budget: 30,
    kinds: ['commit-rule'],
  },
  {
    name: 'forget-vote',
    description: 'the driver does not persist the vote (term and commit only)',
    edits: [
      {
        file: NODE,
        find: 'w.hardState = rd.hardState;',
        replace: 'w.hardState = { ...rd.hardState, vote: 0n };',
      },
      {
        file: NODE,
        find: 'const hs = { term: m.term, vote: m.vote, commit: m.commit };',
        replace: 'const hs = { term: m.term, vote: 0n, commit: m.commit };',
      },
    ],
    from: 240,
    budget: 20,
    kinds: ['election-safety'],
  },
  {
    name: 'read-index-before-commit',
    description: 'a new leader answers ReadIndex before it has committed an entry of its term',
    edits: [readIndexBeforeCommit, driverReadHold],
    budget: 120,
    kinds: ['stale-read'],
  },
  {
    name: 'skip-log-matching',
    description: "a follower appends without checking the previous entry's term (maybeAppend)",
    edits: [{ file: RAFT_LOG, find: 'if (!this.matchTerm(a.prev))', replace: 'if (false)' }],
    budget: 20,
    kinds: [
      'raft-panic',
      'log-matching',
      'state-machine-safety',
      'commit-quorum',
      'leader-completeness',
    ],
  },
  {
    name: 'wal-ack-before-sync',
    description: 'the WAL acknowledges a group commit before its fdatasync returns',
    edits: [walAckBeforeSync],
    // Since a HardState changing only the commit index is not synced (issue 13), fewer writes
    // wait for an fdatasync: first caught at seed 64 (13 before), 5 seeds in 1..300 as before.
    from: 60,
    budget: 20,
    kinds: ['durability'],
  },
  {
    name: 'wal-ack-before-sync-unchecked',
    description: 'the same, with the recovery check off: what the other checkers see',
    edits: [walAckBeforeSync],
    from: 190,
    budget: 20,
    kinds: [
      'durability',
      'raft-panic',
      'leader-completeness',
      'state-machine-safety',
      'commit-quorum',
      'linearizability',
    ],
    checksOff: ['recovery'],
  },
  {
    name: 'read-index-before-commit-lin',
    description: 'read-index-before-commit, with the read checks off: the history checker',
    edits: [readIndexBeforeCommit, driverReadHold],
    // With the driver's hold removed too (issue 13): first caught at seed 64 (236 before).
    from: 60,
    budget: 20,
    kinds: ['linearizability'],
    checksOff: ['reads'],
  },
  {
    name: 'read-before-apply',
    description: 'the driver answers a read before its state machine has applied the read index',
    edits: [
      {
        file: 'src/node/reads.js',
        find: 'if (w.index > applied) {',
        replace: 'if (false) {',
      },
    ],
    budget: 40,
    kinds: ['linearizability'],
    checksOff: ['reads'],
  },
  {
    name: 'no-dedup',
    description: 'the state machine applies a retried command again (no client dedup)',
    edits: [
      {
        file: 'src/sim/kv.js',
        find: 'if (seq <= this.lastSeq[client])',
        replace: 'if (false)',
      },
    ],
    budget: 90,
    kinds: ['linearizability'],
    checksOff: ['reads'],
  },
  {
    name: 'read-index-learner-acks',
    description: 'ReadOnlySafe counts heartbeat acks from learners towards the read quorum',
    edits: [
      {
        file: 'src/raft/read-only.js',
        find: 'const confirmed = voters.committedIndex(this);',
        replace:
          'const confirmed = new voters.constructor(new voters.incoming.constructor(' +
          '[...voters.incoming, ...this.acks.keys()]), voters.outgoing).committedIndex(this);',
      },
    ],
    budget: 120,
    kinds: ['read-quorum', 'stale-read', 'linearizability'],
  },
  {
    name: 'joint-commit-incoming-only',
    description:
      "a joint configuration's commit index (and read quorum) from the incoming half only",
    edits: [
      {
        file: 'src/raft/quorum/joint.js',
        find: 'return idx0 < idx1 ? idx0 : idx1;',
        replace: 'return idx0;',
      },
    ],
    budget: 60,
    kinds: ['commit-quorum', 'read-quorum', 'leader-completeness', 'state-machine-safety'],
  },
  {
    name: 'learner-votes',
    description: 'campaigns ask learners too, and their votes count towards the majority',
    edits: [
      {
        file: RAFT,
        find: 'for (const id of this.trk.voterNodes()) {',
        replace: 'for (const id of [...this.trk.voterNodes(), ...this.trk.learnerNodes()]) {',
      },
      {
        file: 'src/raft/tracker/tracker.js',
        find: '            if (pr.isLearner)\n                continue;\n',
        replace: '',
      },
      {
        file: 'src/raft/tracker/tracker.js',
        find: 'const result = this.config.voters.voteResult(this.votes);',
        replace:
          'const result = granted > this.progress.size / 2 ? VoteResult.VoteWon : ' +
          'this.config.voters.voteResult(this.votes);',
      },
    ],
    budget: 60,
    kinds: ['election-quorum', 'election-safety', 'leader-completeness'],
  },
  {
    name: 'check-quorum-never-steps-down',
    description: 'a CheckQuorum leader cut off from its quorum never steps down (lease reads)',
    edits: [checkQuorumNeverStepsDown],
    budget: 50,
    kinds: ['stale-read'],
  },
  {
    name: 'check-quorum-never-steps-down-lin',
    description: 'the same, with the read checks off: the history checker',
    edits: [checkQuorumNeverStepsDown],
    budget: 50,
    kinds: ['linearizability'],
    checksOff: ['reads'],
  },
  {
    name: 'vote-by-index-only',
    description:
      "a vote is granted when the candidate's last index is high enough, whatever its term",
    edits: [
      {
        file: RAFT_LOG,
        find: 'return their.term > our.term || (their.term === our.term && their.index >= our.index);',
        replace: 'return their.index >= our.index;',
      },
    ],
    budget: 60,
    kinds: ['leader-completeness', 'state-machine-safety', 'commit-quorum'],
  },
  {
    name: 'read-before-commit-in-term',
    description:
      'the driver asks ReadIndex on a leader without a commit in its term (a single voter restarted from an older, unsynced commit index answers from it)',
    edits: [driverReadHold],
    from: 220,
    budget: 20,
    kinds: ['stale-read'],
  },
  {
    name: 'dropped-though-applied',
    description:
      'the driver fails a leader proposal with PROPOSAL_DROPPED ("certainly not applied") when its own entry is applied',
    edits: [
      {
        file: 'src/node/proposals.js',
        find: '                if (placed !== seq)\n',
        replace: '                if (placed === seq || placed !== seq)\n',
      },
    ],
    budget: 10,
    kinds: ['linearizability'],
  },
  {
    name: 'txn-compare-stale-revision',
    description:
      "the server's apply path evaluates a txn's compares one revision behind the store (server machine)",
    edits: [txnCompareStaleRevision],
    budget: 5,
    kinds: ['response', 'linearizability'],
    machine: 'server',
  },
  {
    name: 'txn-compare-stale-revision-lin',
    description: 'txn-compare-stale-revision with the response checks off',
    edits: [txnCompareStaleRevision],
    budget: 5,
    kinds: ['linearizability'],
    checksOff: ['responses'],
    machine: 'server',
  },
  {
    name: 'reopen-forgets-compaction',
    description:
      'MVCC rebuilt from a backend (a restart, a snapshot restore) forgets its compaction: compacted revision -1 (server machine)',
    edits: [
      {
        file: 'src/mvcc/store.js',
        find: 'const compactMainRev = Math.max(finished, scheduled);',
        replace: 'const compactMainRev = -1;',
      },
    ],
    budget: 8,
    kinds: ['state-machine-safety'],
    machine: 'server',
  },
  {
    name: 'reopen-forgets-unfinished-compaction',
    description:
      'MVCC rebuilt from a backend takes only a finished compaction as its compacted revision, not one scheduled (server machine)',
    edits: [
      {
        file: 'src/mvcc/store.js',
        find: 'const compactMainRev = Math.max(finished, scheduled);',
        replace: 'const compactMainRev = finished;',
      },
    ],
    budget: 30,
    kinds: ['state-machine-safety'],
    machine: 'server',
  },
  {
    name: 'index-after-data',
    description:
      "MVCC commits an entry's data and its consistent index in two backend groups (a lazy backend's crash between them replays the entry: server machine)",
    edits: [
      {
        file: 'src/mvcc/store.js',
        find:
          '            this.currentRev++;\n' +
          '        this.saveConsistentIndex(index);\n' +
          '        this.backend.commit(index);\n',
        replace:
          '            this.currentRev++;\n' +
          '        this.backend.commit(this.consistentIdx);\n' +
          '        this.saveConsistentIndex(index);\n' +
          '        this.backend.commit(index);\n',
      },
    ],
    budget: 30,
    kinds: ['state-machine-safety'],
    machine: 'server',
  },
  {
    name: 'read-before-apply-server',
    description:
      'read-before-apply on the server machine: a linearizable Range served before the member applied the read index (read checks off)',
    edits: [
      {
        file: 'src/node/reads.js',
        find: 'if (w.index > applied) {',
        replace: 'if (false) {',
      },
    ],
    budget: 15,
    kinds: ['linearizability', 'revision'],
    checksOff: ['reads'],
    machine: 'server',
  },
  {
    name: 'compaction-snapshot-before-durable',
    description:
      'a compaction snapshot (no state) is saved before the store is durable up to it (server machine)',
    edits: [
      {
        file: 'src/server/state-machine.js',
        find: 'await this.store.flushed();\n        return encodeStatelessSnapshot(',
        replace: 'return encodeStatelessSnapshot(',
      },
    ],
    // First caught at seed 20: the restarted member refuses its store (BACKEND_CORRUPT).
    budget: 25,
    kinds: ['raft-panic', 'durability', 'state-machine-safety', 'linearizability'],
    machine: 'server',
  },
  {
    name: 'lease-renew-half-ttl',
    description:
      "a keepalive moves a lease's expiry by half its TTL: the leader expires it early (server machine)",
    edits: [
      {
        file: 'src/server/lessor.js',
        find: 'l.expiryMs = now + l.ttlSeconds * 1000;',
        replace: 'l.expiryMs = now + l.ttlSeconds * 500;',
      },
    ],
    budget: 10,
    kinds: ['lease'],
    machine: 'server',
  },
  {
    name: 'lease-promote-no-extension',
    description:
      'a new leader gives leases no election timeout of grace: it may expire them at once (server machine)',
    edits: [
      {
        file: 'src/server/lessor.js',
        find: 'l.expiryMs = now + extendMs + seconds * 1000;',
        replace: 'l.expiryMs = now + seconds * 1000;',
      },
    ],
    budget: 15,
    kinds: ['lease'],
    machine: 'server',
  },
  {
    name: 'lease-revoke-keeps-a-key',
    description: "a revoke deletes all of its lease's keys but the first (server machine)",
    edits: [
      {
        file: 'src/server/lessor.js',
        find: 'for (const k of keys)\n            txn.deleteRange(',
        replace: 'for (const k of keys.slice(1))\n            txn.deleteRange(',
      },
    ],
    budget: 5,
    kinds: ['lease'],
    machine: 'server',
  },
  {
    name: 'watch-fallback-skips-revision',
    description:
      'a synced watcher whose consumer is full falls back to catching up from the revision after the one it missed (server machine)',
    edits: [
      {
        file: 'src/mvcc/watchable-store.js',
        find: '        w.nextRev = rev;\n        w.replaying = false;',
        replace: '        w.nextRev = rev + 1;\n        w.replaying = false;',
      },
    ],
    budget: 5,
    kinds: ['watch'],
    machine: 'server',
  },
]

export class PlantError extends Error {
  override readonly name = 'PlantError'
}

export function findPlant(name: string): Plant {
  const plant = PLANTS.find((p) => p.name === name)
  if (plant === undefined) {
    throw new PlantError(
      `no plant named ${name}; the plants: ${PLANTS.map((p) => p.name).join(', ')}`,
    )
  }
  return plant
}

/**
 * `source` (the text of `edit.file`) with the edit made. Throws a PlantError unless the text to
 * replace occurs exactly once: a plant whose text moved must fail, not run disarmed.
 */
export function applyEdit(plant: Plant, edit: PlantEdit, source: string): string {
  const at = source.indexOf(edit.find)
  const again = at === -1 ? -1 : source.indexOf(edit.find, at + 1)
  if (at === -1 || again !== -1) {
    const what = at === -1 ? 'not found' : 'found more than once'
    throw new PlantError(
      `plant ${plant.name}: the text to replace is ${what} in dist/${edit.file} ` +
        `(rebuild, or update the plant in src/sim/plants.ts):\n${edit.find}`,
    )
  }
  return source.slice(0, at) + edit.replace + source.slice(at + edit.find.length)
}
