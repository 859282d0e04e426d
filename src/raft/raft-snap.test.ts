// Snapshots: when the leader sends one, how ReportSnapshot (MsgSnapStatus) and acknowledgements
// end StateSnapshot, and how a follower restores one. After etcd-io/raft raft_snap_test.go and the
// snapshot scenarios of raft_test.go. The leader is usually built from a restored snapshot
// (index 11, term 11) so that its log is compacted and a lagging follower needs the snapshot.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { errSnapshotTemporarilyUnavailable } from './errors.js'
import { Raft } from './raft.js'
import { RawNode, SnapshotStatus } from './raw-node.js'
import { raftOf } from './internal.js'
import { StateType } from './ready.js'
import {
  emptyConfState,
  MessageType,
  type ConfState,
  type Message,
  type NodeId,
  type Snapshot,
} from './raftpb/types.js'
import {
  msg,
  Network,
  nextEnts,
  newTestConfig,
  newTestRaft,
  newTestStorage,
  propMsg,
  readMessages,
  utf8,
} from './rafttest/network.js'
import { MemoryStorage } from './storage.js'
import type { Progress } from './tracker/progress.js'
import { StateType as ProgressState } from './tracker/state.js'

function snap(index: number, term: number, cs: Partial<ConfState>): Snapshot {
  return {
    data: new Uint8Array(0),
    metadata: { index, term, confState: { ...emptyConfState(), ...cs } },
  }
}

const testingSnap = (): Snapshot => snap(11, 11, { voters: [1n, 2n] })

function pr(r: Raft, id: NodeId): Progress {
  const p = r.trk.progress.get(id)
  assert.ok(p !== undefined)
  return p
}

/** Node 1 restored from testingSnap, then elected: its log starts at index 12. */
function leaderAfterSnapshot(peers: NodeId[] = [1n, 2n]): Raft {
  const r = newTestRaft(1n, 10, 1, newTestStorage(peers))
  r.becomeFollower(11, 0n)
  assert.ok(r.restore(testingSnap()))
  r.becomeCandidate()
  r.becomeLeader()
  return r
}

const types = (msgs: Message[]): MessageType[] => msgs.map((m) => m.type)

describe('sending snapshots', () => {
  it('a follower behind the log start gets a snapshot and a pending snapshot index', () => {
    const r = leaderAfterSnapshot([1n])
    pr(r, 2n).next = r.raftLog.firstIndex()
    r.step(
      msg({
        type: MessageType.MsgAppResp,
        from: 2n,
        to: 1n,
        index: pr(r, 2n).next - 1,
        reject: true,
      }),
    )
    assert.equal(pr(r, 2n).state, ProgressState.StateSnapshot)
    assert.equal(pr(r, 2n).pendingSnapshot, 11)
    const out = readMessages(r)
    assert.deepEqual(types(out), [MessageType.MsgSnap])
    assert.equal(out[0]?.snapshot?.metadata.index, 11)
  })

  it('replication to a follower in StateSnapshot is paused', () => {
    const r = leaderAfterSnapshot()
    pr(r, 2n).becomeSnapshot(11)
    r.step(propMsg(1n, utf8('somedata')))
    assert.deepEqual(readMessages(r), [])
  })

  it('no snapshot goes to a follower that is not recently active', () => {
    const r = leaderAfterSnapshot()
    pr(r, 2n).next = r.raftLog.firstIndex() - 1
    pr(r, 2n).recentActive = false
    r.step(propMsg(1n, utf8('somedata')))
    assert.deepEqual(readMessages(r), [])
    assert.equal(pr(r, 2n).state, ProgressState.StateProbe)
  })

  it('a temporarily unavailable snapshot is retried later', () => {
    class Unready extends MemoryStorage {
      ready = false
      override snapshot(): Snapshot {
        if (!this.ready) throw errSnapshotTemporarilyUnavailable()
        return super.snapshot()
      }
    }
    const s = new Unready()
    s.applySnapshot(snap(0, 0, { voters: [1n, 2n] }))
    s.append([{ term: 1, index: 1, type: 0, data: new Uint8Array(0) }])
    s.createSnapshot(1, null, new Uint8Array(0))
    s.compact(1)
    s.setHardState({ term: 1, vote: 0n, commit: 1 })
    const r = new Raft(newTestConfig(1n, 10, 1, s, { applied: 1 }))
    r.becomeCandidate()
    r.becomeLeader()
    readMessages(r)
    pr(r, 2n).recentActive = true
    pr(r, 2n).next = 1
    r.sendAppend(2n)
    assert.deepEqual(readMessages(r), [])
    assert.equal(pr(r, 2n).state, ProgressState.StateProbe)
    s.ready = true
    r.sendAppend(2n)
    assert.deepEqual(types(readMessages(r)), [MessageType.MsgSnap])
    assert.equal(pr(r, 2n).state, ProgressState.StateSnapshot)
  })
})

describe('ReportSnapshot (MsgSnapStatus)', () => {
  it('failure: back to probing from match, pending snapshot dropped, paused', () => {
    const r = leaderAfterSnapshot()
    pr(r, 2n).next = 1
    pr(r, 2n).becomeSnapshot(11)
    r.step(msg({ type: MessageType.MsgSnapStatus, from: 2n, to: 1n, reject: true }))
    assert.equal(pr(r, 2n).state, ProgressState.StateProbe)
    assert.equal(pr(r, 2n).pendingSnapshot, 0)
    assert.equal(pr(r, 2n).next, 1)
    assert.equal(pr(r, 2n).msgAppFlowPaused, true)
  })

  it('success: probing after the snapshot, paused until the follower answers', () => {
    const r = leaderAfterSnapshot()
    pr(r, 2n).next = 1
    pr(r, 2n).becomeSnapshot(11)
    r.step(msg({ type: MessageType.MsgSnapStatus, from: 2n, to: 1n, reject: false }))
    assert.equal(pr(r, 2n).state, ProgressState.StateProbe)
    assert.equal(pr(r, 2n).pendingSnapshot, 0)
    assert.equal(pr(r, 2n).next, 12)
    assert.equal(pr(r, 2n).msgAppFlowPaused, true)
  })

  it('is ignored unless the follower is in StateSnapshot', () => {
    const r = leaderAfterSnapshot()
    pr(r, 2n).becomeReplicate()
    const before = pr(r, 2n).toString()
    r.step(msg({ type: MessageType.MsgSnapStatus, from: 2n, to: 1n, reject: true }))
    assert.equal(pr(r, 2n).toString(), before)
  })

  it('an ack at or past the pending snapshot ends StateSnapshot at once', () => {
    const r = leaderAfterSnapshot()
    pr(r, 2n).next = 1
    pr(r, 2n).becomeSnapshot(11)
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, index: 11 }))
    assert.equal(pr(r, 2n).pendingSnapshot, 0)
    // Replicating: the leader's empty entry (index 12) went out at once.
    assert.equal(pr(r, 2n).state, ProgressState.StateReplicate)
    assert.equal(pr(r, 2n).next, 13)
    assert.equal(pr(r, 2n).inflights.count(), 1)
  })

  for (const status of [SnapshotStatus.SnapshotFinish, SnapshotStatus.SnapshotFailure]) {
    it(`through RawNode (${SnapshotStatus[status]}): paused until the next heartbeat response`, () => {
      const s = new MemoryStorage()
      s.applySnapshot(testingSnap())
      s.setHardState({ term: 11, vote: 0n, commit: 11 })
      const rn = new RawNode(newTestConfig(1n, 10, 1, s))
      raftOf(rn).becomeCandidate()
      raftOf(rn).becomeLeader()
      const r = raftOf(rn)
      readMessages(r)
      // Node 2 lags behind the log start: it is sent the snapshot.
      pr(r, 2n).next = 1
      r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, index: 0, reject: true }))
      assert.deepEqual(types(readMessages(r)), [MessageType.MsgSnap])
      assert.equal(pr(r, 2n).state, ProgressState.StateSnapshot)

      rn.reportSnapshot(2n, status)
      const p = pr(r, 2n)
      assert.equal(p.state, ProgressState.StateProbe)
      assert.equal(p.pendingSnapshot, 0)
      assert.equal(p.next, status === SnapshotStatus.SnapshotFinish ? 12 : 1)
      assert.ok(p.isPaused())
      rn.propose(utf8('x'))
      assert.deepEqual(
        readMessages(r).filter((m) => m.to === 2n),
        [],
        'paused until the follower is heard from',
      )

      rn.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n, term: r.term }))
      const out = readMessages(r).filter((m) => m.to === 2n)
      // After a success the log continues after the snapshot; after a failure the snapshot is
      // sent again.
      const want =
        status === SnapshotStatus.SnapshotFinish ? MessageType.MsgApp : MessageType.MsgSnap
      assert.deepEqual(types(out), [want])
      if (want === MessageType.MsgApp) assert.equal(out[0]?.index, 11)
    })
  }
})

describe('restoring snapshots', () => {
  it('a follower restores a newer snapshot, once', () => {
    const s = snap(11, 11, { voters: [1n, 2n, 3n] })
    const r = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n]))
    assert.ok(r.restore(s))
    assert.equal(r.raftLog.lastIndex(), 11)
    assert.equal(r.raftLog.term(11), 11)
    assert.deepEqual(r.trk.voterNodes(), [1n, 2n, 3n])
    assert.equal(r.restore(s), false)
    // With the snapshot not yet applied, the node does not campaign.
    for (let i = 0; i < r.randomizedElectionTimeout; i++) r.tick()
    assert.equal(r.state, StateType.StateFollower)
  })

  it('restores learners and outgoing voters', () => {
    const s = snap(11, 11, { voters: [1n, 2n], learners: [3n] })
    const r = newTestRaft(3n, 8, 2, newTestStorage([1n, 2n], [3n]))
    assert.ok(r.restore(s))
    assert.deepEqual(r.trk.voterNodes(), [1n, 2n])
    assert.deepEqual(r.trk.learnerNodes(), [3n])
    assert.ok(pr(r, 3n).isLearner)
    assert.equal(pr(r, 1n).isLearner, false)
    assert.equal(r.restore(s), false)

    const joint = snap(11, 11, { voters: [2n, 3n, 4n], votersOutgoing: [1n, 2n, 3n] })
    const o = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n]))
    assert.ok(o.restore(joint))
    assert.deepEqual(o.trk.voterNodes(), [1n, 2n, 3n, 4n])
    for (let i = 0; i < o.randomizedElectionTimeout; i++) o.tick()
    assert.equal(o.state, StateType.StateFollower)
  })

  it('a snapshot may demote a voter to learner or promote a learner', () => {
    const demoted = newTestRaft(3n, 10, 1, newTestStorage([1n, 2n, 3n]))
    assert.equal(demoted.isLearner, false)
    assert.ok(demoted.restore(snap(11, 11, { voters: [1n, 2n], learners: [3n] })))
    assert.ok(demoted.isLearner)

    const promoted = newTestRaft(3n, 10, 1, newTestStorage([1n, 2n], [3n]))
    assert.ok(promoted.isLearner)
    assert.ok(promoted.restore(snap(11, 11, { voters: [1n, 2n, 3n] })))
    assert.equal(promoted.isLearner, false)
  })

  it('an old snapshot is ignored; one matching the log fast-forwards the commit', () => {
    const r = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n]))
    r.raftLog.append([
      { term: 1, index: 1, type: 0, data: new Uint8Array(0) },
      { term: 1, index: 2, type: 0, data: new Uint8Array(0) },
      { term: 1, index: 3, type: 0, data: new Uint8Array(0) },
    ])
    r.raftLog.commitTo(1)
    assert.equal(r.restore(snap(1, 1, { voters: [1n, 2n] })), false)
    assert.equal(r.raftLog.committed, 1)
    assert.equal(r.restore(snap(2, 1, { voters: [1n, 2n] })), false)
    assert.equal(r.raftLog.committed, 2)
  })

  it('a snapshot that does not name this node, or reaches a leader, is refused', () => {
    const r = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n]))
    assert.equal(r.restore(snap(11, 11, { voters: [2n, 3n] })), false)
    assert.equal(r.raftLog.lastIndex(), 0)

    const l = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n]))
    l.becomeCandidate()
    l.becomeLeader()
    const term = l.term
    assert.equal(l.restore(snap(11, 11, { voters: [1n, 2n] })), false)
    assert.equal(l.state, StateType.StateFollower)
    assert.equal(l.term, term + 1)
  })

  it('a MsgSnap makes its sender the leader and is acknowledged with the new last index', () => {
    const r = newTestRaft(2n, 10, 1, newTestStorage([1n, 2n]))
    r.step(
      msg({
        type: MessageType.MsgSnap,
        from: 1n,
        term: 2,
        snapshot: snap(11, 11, { voters: [1n, 2n] }),
      }),
    )
    assert.equal(r.lead, 1n)
    const out = readMessages(r)
    assert.deepEqual(
      out.map((m) => [m.type, m.to, m.index, m.reject]),
      [[MessageType.MsgAppResp, 1n, 11, false]],
    )
    assert.equal(r.raftLog.nextUnstableSnapshot()?.metadata.index, 11)
  })

  it('a lagging follower catches up through a snapshot and keeps up afterwards', () => {
    const nt = new Network([null, null, null])
    nt.send(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
    nt.isolate(3)
    for (let j = 0; j <= 100; j++) nt.send(propMsg(1n))
    const lead = nt.raft(1)
    nextEnts(lead, nt.storageOf(1))
    nt.storageOf(1).createSnapshot(
      lead.raftLog.applied,
      { ...emptyConfState(), voters: lead.trk.voterNodes() },
      utf8('state'),
    )
    nt.storageOf(1).compact(lead.raftLog.applied)

    nt.recover()
    // The leader sends snapshots only to followers it heard from recently.
    for (let i = 0; i < 10 && !pr(lead, 3n).recentActive; i++) {
      nt.send(msg({ type: MessageType.MsgBeat, from: 1n, to: 1n }))
    }
    assert.ok(pr(lead, 3n).recentActive)

    let sent: Snapshot | null = null
    nt.msgHook = (m) => {
      if (m.type === MessageType.MsgSnap) sent = m.snapshot
      return true
    }
    nt.send(propMsg(1n))
    const follower = nt.raft(3)
    assert.ok(sent !== null, 'the follower was sent a snapshot')
    const restored = follower.raftLog.nextUnstableSnapshot()
    assert.equal(restored?.metadata.index, 102)
    assert.deepEqual(restored?.data, utf8('state'))
    assert.deepEqual(restored?.metadata.confState.voters, [1n, 2n, 3n])

    nt.send(propMsg(1n))
    assert.equal(follower.raftLog.committed, lead.raftLog.committed)
    assert.deepEqual(follower.raftLog.lastEntryID(), lead.raftLog.lastEntryID())
  })

  it('a learner receives a snapshot from the leader', () => {
    const s = snap(11, 11, { voters: [1n], learners: [2n] })
    const store = newTestStorage([1n], [2n])
    const n1 = newTestRaft(1n, 10, 1, store)
    const n2 = newTestRaft(2n, 10, 1, newTestStorage([1n], [2n]))
    n1.restore(s)
    const unstable = n1.raftLog.nextUnstableSnapshot()
    assert.ok(unstable !== null)
    store.applySnapshot(unstable)
    n1.appliedSnap(unstable)
    const nt = new Network([n1, n2])
    n1.setRandomizedElectionTimeout(n1.electionTimeout)
    for (let i = 0; i < n1.electionTimeout; i++) n1.tick()
    nt.send(msg({ type: MessageType.MsgBeat, from: 1n, to: 1n }))
    assert.equal(n2.raftLog.committed, n1.raftLog.committed)
  })
})
