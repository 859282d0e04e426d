// Leadership transfer (Raft thesis §3.10), after the TestLeaderTransfer* scenarios of etcd-io/raft
// raft_test.go: a three-node group on the in-memory Network elects node 1, then a MsgTransferLeader
// (From = the transferee) goes to the leader or to a follower, with the transferee cut off, lagging
// or removed as the scenario needs. Every scenario ends by checking role, leader and that no
// transfer is left pending.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { RaftError } from './errors.js'
import type { Raft } from './raft.js'
import { StateType } from './ready.js'
import { asV2 } from './raftpb/confchange.js'
import {
  ConfChangeTransition,
  ConfChangeType,
  MessageType,
  emptyConfState,
  type Message,
  type NodeId,
} from './raftpb/types.js'
import {
  msg,
  Network,
  nextEnts,
  newTestRaft,
  newTestStorage,
  propMsg,
  readMessages,
  type NetworkOptions,
} from './rafttest/network.js'

const hup = (id: NodeId): Message => msg({ type: MessageType.MsgHup, from: id, to: id })

/** The transfer request: From names the transferee, To the node it is stepped on. */
const transfer = (transferee: NodeId, to: NodeId): Message =>
  msg({ type: MessageType.MsgTransferLeader, from: transferee, to })

function checkLeaderTransferState(r: Raft, state: StateType, lead: NodeId): void {
  assert.equal(r.state, state, 'state')
  assert.equal(r.lead, lead, 'lead')
  assert.equal(r.leadTransferee, 0n, 'no transfer pending')
}

/** Three nodes with node 1 elected. */
function elected(options: NetworkOptions = {}): [Network, Raft] {
  const nt = new Network([null, null, null], options)
  nt.send(hup(1n))
  const lead = nt.raft(1)
  assert.equal(lead.state, StateType.StateLeader)
  return [nt, lead]
}

function ccV2(type: ConfChangeType, nodeId: NodeId): ReturnType<typeof asV2> {
  return asV2({ id: 0n, type, nodeId, context: new Uint8Array(0) })
}

describe('leader transfer', () => {
  it('to an up-to-date follower, and back', () => {
    const [nt, lead] = elected()
    assert.equal(lead.lead, 1n)
    nt.send(transfer(2n, 1n))
    checkLeaderTransferState(lead, StateType.StateFollower, 2n)
    nt.send(propMsg(1n))
    nt.send(transfer(1n, 2n))
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('requested on a follower, which forwards it to the leader', () => {
    const [nt, lead] = elected()
    nt.send(transfer(2n, 2n))
    checkLeaderTransferState(lead, StateType.StateFollower, 2n)
    nt.send(propMsg(1n))
    nt.send(transfer(1n, 1n))
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('overrides the leader lease of CheckQuorum', () => {
    const nt = new Network([null, null, null], { config: (c) => (c.checkQuorum = true) })
    for (const id of [1, 2, 3]) {
      const r = nt.raft(id)
      r.setRandomizedElectionTimeout(r.electionTimeout + id)
    }
    const f = nt.raft(2)
    for (let i = 0; i < f.electionTimeout; i++) f.tick()
    nt.send(hup(1n))
    const lead = nt.raft(1)
    assert.equal(lead.state, StateType.StateLeader)
    nt.send(transfer(2n, 1n))
    checkLeaderTransferState(lead, StateType.StateFollower, 2n)
    nt.send(propMsg(1n))
    nt.send(transfer(1n, 2n))
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('the transferee skips the pre-vote round', () => {
    const [nt, lead] = elected({ config: (c) => (c.preVote = true) })
    const term = lead.term
    let preVotes = 0
    nt.msgHook = (m) => {
      if (m.type === MessageType.MsgPreVote) preVotes++
      return true
    }
    nt.send(transfer(3n, 1n))
    checkLeaderTransferState(lead, StateType.StateFollower, 3n)
    assert.equal(nt.raft(3).term, term + 1)
    assert.equal(preVotes, 0)
  })

  it('to a slow follower, once it has caught up', () => {
    const [nt, lead] = elected()
    nt.isolate(3)
    nt.send(propMsg(1n))
    nt.recover()
    assert.equal(lead.trk.progress.get(3n)?.match, 1)
    nt.send(transfer(3n, 1n))
    checkLeaderTransferState(lead, StateType.StateFollower, 3n)
  })

  it('to a follower that needs a snapshot, once it has applied it', () => {
    const [nt, lead] = elected()
    nt.isolate(3)
    nt.send(propMsg(1n))
    nextEnts(lead, nt.storageOf(1))
    nt.storageOf(1).createSnapshot(
      lead.raftLog.applied,
      { ...emptyConfState(), voters: lead.trk.voterNodes() },
      new Uint8Array(0),
    )
    nt.storageOf(1).compact(lead.raftLog.applied)
    nt.recover()
    assert.equal(lead.trk.progress.get(3n)?.match, 1)

    // The follower's ack of the snapshot is held back until it has applied it.
    let filtered: Message | null = null
    nt.msgHook = (m) => {
      if (m.type !== MessageType.MsgAppResp || m.from !== 3n || m.reject) return true
      filtered = m
      return false
    }
    nt.send(transfer(3n, 1n))
    assert.equal(lead.state, StateType.StateLeader)
    assert.ok(filtered !== null)

    const follower = nt.raft(3)
    const snap = follower.raftLog.nextUnstableSnapshot()
    assert.ok(snap !== null)
    nt.storageOf(3).applySnapshot(snap)
    follower.appliedSnap(snap)
    nt.msgHook = null
    nt.send(filtered)
    checkLeaderTransferState(lead, StateType.StateFollower, 3n)
  })

  it('to itself is a no-op', () => {
    const [nt, lead] = elected()
    nt.send(transfer(1n, 1n))
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('to a node outside the group is a no-op', () => {
    const [nt, lead] = elected()
    nt.send(transfer(4n, 1n))
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('to a learner is ignored', () => {
    const r = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n], [3n]))
    r.becomeCandidate()
    r.becomeLeader()
    readMessages(r)
    r.step(transfer(3n, 1n))
    checkLeaderTransferState(r, StateType.StateLeader, 1n)
    assert.deepEqual(readMessages(r), [])
  })

  it('is abandoned after an election timeout', () => {
    const [nt, lead] = elected()
    nt.isolate(3)
    nt.send(transfer(3n, 1n))
    assert.equal(lead.leadTransferee, 3n)
    for (let i = 0; i < lead.heartbeatTimeout; i++) lead.tick()
    assert.equal(lead.leadTransferee, 3n)
    for (let i = 0; i < lead.electionTimeout - lead.heartbeatTimeout; i++) lead.tick()
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('drops proposals while it is pending', () => {
    const s = newTestStorage([1n, 2n, 3n])
    const r = newTestRaft(1n, 10, 1, s)
    const nt = new Network([r, null, null])
    nt.send(hup(1n))
    nt.isolate(3)
    nextEnts(r, s)
    nt.send(transfer(3n, 1n))
    assert.equal(r.leadTransferee, 3n)
    nt.send(propMsg(1n))
    assert.throws(
      () => r.step(propMsg(1n)),
      (err: unknown) => err instanceof RaftError && err.code === 'PROPOSAL_DROPPED',
    )
    assert.equal(r.trk.progress.get(1n)?.match, 1)
    assert.equal(r.raftLog.lastIndex(), 1)
  })

  it('is overtaken by an election of a higher term', () => {
    const [nt, lead] = elected()
    nt.isolate(3)
    nt.send(transfer(3n, 1n))
    assert.equal(lead.leadTransferee, 3n)
    nt.send(msg({ type: MessageType.MsgHup, from: 2n, to: 2n, index: 1, term: 2 }))
    checkLeaderTransferState(lead, StateType.StateFollower, 2n)
  })

  it('is aborted when the transferee is removed', () => {
    const [nt, lead] = elected()
    nt.ignore(MessageType.MsgTimeoutNow)
    nt.send(transfer(3n, 1n))
    assert.equal(lead.leadTransferee, 3n)
    lead.applyConfChange(ccV2(ConfChangeType.ConfChangeRemoveNode, 3n))
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('is aborted when the transferee is demoted, once the joint config is left', () => {
    const [nt, lead] = elected()
    nt.ignore(MessageType.MsgTimeoutNow)
    nt.send(transfer(3n, 1n))
    assert.equal(lead.leadTransferee, 3n)
    lead.applyConfChange({
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [
        { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3n },
        { type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 3n },
      ],
      context: new Uint8Array(0),
    })
    assert.equal(lead.leadTransferee, 3n, 'still a voter of the outgoing config')
    lead.applyConfChange({
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [],
      context: new Uint8Array(0),
    })
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('back to the leader itself cancels the pending one', () => {
    const [nt, lead] = elected()
    nt.isolate(3)
    nt.send(transfer(3n, 1n))
    assert.equal(lead.leadTransferee, 3n)
    nt.send(transfer(1n, 1n))
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('to a different node aborts the first transfer and starts the second', () => {
    const [nt, lead] = elected()
    nt.isolate(3)
    nt.send(transfer(3n, 1n))
    assert.equal(lead.leadTransferee, 3n)
    nt.send(transfer(2n, 1n))
    checkLeaderTransferState(lead, StateType.StateFollower, 2n)
  })

  it('a second request for the same node is ignored and does not extend the timeout', () => {
    const [nt, lead] = elected()
    nt.isolate(3)
    nt.send(transfer(3n, 1n))
    assert.equal(lead.leadTransferee, 3n)
    for (let i = 0; i < lead.heartbeatTimeout; i++) lead.tick()
    nt.send(transfer(3n, 1n))
    for (let i = 0; i < lead.electionTimeout - lead.heartbeatTimeout; i++) lead.tick()
    checkLeaderTransferState(lead, StateType.StateLeader, 1n)
  })

  it('a follower without a leader drops the request', () => {
    const f = newTestRaft(2n, 10, 1, newTestStorage([1n, 2n, 3n]))
    f.step(transfer(3n, 2n))
    assert.deepEqual(readMessages(f), [])
  })
})
