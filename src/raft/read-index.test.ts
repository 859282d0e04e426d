// Linearizable reads (Raft thesis §6.4), after the ReadIndex scenarios of etcd-io/raft
// raft_test.go. Two methods: whole-group runs on the in-memory Network (reads issued on every
// node, the answer checked against the commit index), and single-leader runs where the test plays
// the followers by hand, to control exactly which heartbeat acknowledgements arrive.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { ReadOnlyOption } from './config.js'
import type { Raft } from './raft.js'
import { StateType } from './ready.js'
import { entry, MessageType, type Message, type NodeId } from './raftpb/types.js'
import {
  Network,
  msg,
  nextEnts,
  newTestRaft,
  newTestStorage,
  propMsg,
  readMessages,
  utf8,
} from './rafttest/network.js'
import { MemoryStorage } from './storage.js'

function readIndexMsg(from: NodeId, ctx: string): Message {
  return msg({
    type: MessageType.MsgReadIndex,
    from,
    to: from,
    entries: [entry({ data: utf8(ctx) })],
  })
}

/** A leader of `voters` (and `learners`) whose log holds a committed entry of its term. */
function leaderOf(
  voters: NodeId[],
  learners: NodeId[] = [],
  option = ReadOnlyOption.ReadOnlySafe,
): Raft {
  const r = newTestRaft(1n, 10, 1, newTestStorage(voters, learners), {
    readOnlyOption: option,
    checkQuorum: option === ReadOnlyOption.ReadOnlyLeaseBased,
  })
  r.becomeCandidate()
  r.becomeLeader()
  r.raftLog.commitTo(r.raftLog.lastIndex())
  readMessages(r)
  return r
}

function heartbeats(msgs: Message[]): Message[] {
  return msgs.filter((m) => m.type === MessageType.MsgHeartbeat)
}

function heartbeatResp(r: Raft, from: NodeId, context: Uint8Array): Message {
  return msg({ type: MessageType.MsgHeartbeatResp, from, to: r.id, term: r.term, context })
}

const text = (b: Uint8Array): string => String.fromCharCode(...b)

function readStates(r: Raft): [number, string][] {
  return r.readStates.map((rs) => [rs.index, text(rs.requestCtx)])
}

/** Proposes `n` empty entries on node 1 and then issues a read on node `on`. */
function proposeThenRead(nt: Network, n: number, on: NodeId, ctx: string): void {
  for (let j = 0; j < n; j++) nt.send(propMsg(1n))
  nt.send(readIndexMsg(on, ctx))
}

/**
 * Ten proposals and then a read on nodes 1, 2, 3, 1, 2, 3 in turn: each read is answered on its
 * node with the commit index after those proposals (the leader's empty entry is index 1).
 */
function readOnEveryNode(nt: Network): void {
  const table: [number, number, string][] = [
    [1, 11, 'ctx1'],
    [2, 21, 'ctx2'],
    [3, 31, 'ctx3'],
    [1, 41, 'ctx4'],
    [2, 51, 'ctx5'],
    [3, 61, 'ctx6'],
  ]
  for (const [id, wri, wctx] of table) {
    proposeThenRead(nt, 10, BigInt(id), wctx)
    const r = nt.raft(id)
    assert.deepEqual(readStates(r), [[wri, wctx]], `read on ${id}`)
    r.readStates = []
  }
}

describe('ReadIndex with ReadOnlySafe', () => {
  it('answers reads on every node with the commit index at the time of the read', () => {
    const nt = new Network([null, null, null])
    nt.send(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
    assert.equal(nt.raft(1).state, StateType.StateLeader)
    readOnEveryNode(nt)
  })

  it('confirms a read with a heartbeat round and frees its memory', () => {
    const r = leaderOf([1n, 2n])
    r.step(readIndexMsg(1n, 'ctx'))
    const hbs = readMessages(r)
    assert.equal(hbs.length, 1)
    assert.equal(hbs[0]?.type, MessageType.MsgHeartbeat)
    assert.equal(r.readOnly.pendingCount(), 1)
    assert.deepEqual(r.readStates, [])

    r.step(heartbeatResp(r, 2n, (hbs[0] as Message).context))
    assert.deepEqual(readStates(r), [[1, 'ctx']])
    assert.equal(r.readOnly.pendingCount(), 0)
    assert.equal(r.readOnly.heartbeatCtx().length, 0, 'no read left to confirm')
  })

  it('confirms several queued reads with one heartbeat round', () => {
    const r = leaderOf([1n, 2n, 3n])
    for (const ctx of ['a', 'b', 'c']) r.step(readIndexMsg(1n, ctx))
    const hbs = heartbeats(readMessages(r))
    assert.equal(hbs.length, 6, 'each read broadcasts a heartbeat')
    const last = (hbs[hbs.length - 1] as Message).context
    // One follower's ack of the latest context makes a quorum with the leader for all three.
    r.step(heartbeatResp(r, 3n, last))
    assert.deepEqual(readStates(r), [
      [1, 'a'],
      [1, 'b'],
      [1, 'c'],
    ])
    assert.equal(r.readOnly.pendingCount(), 0)
  })

  it('an older heartbeat context confirms only the reads queued before it', () => {
    const r = leaderOf([1n, 2n, 3n])
    r.step(readIndexMsg(1n, 'a'))
    const first = heartbeats(readMessages(r))[0] as Message
    r.step(readIndexMsg(1n, 'b'))
    const second = heartbeats(readMessages(r))[0] as Message
    r.step(heartbeatResp(r, 2n, first.context))
    assert.deepEqual(readStates(r), [[1, 'a']])
    r.step(heartbeatResp(r, 2n, second.context))
    assert.deepEqual(readStates(r), [
      [1, 'a'],
      [1, 'b'],
    ])
  })

  it('acks from a minority do not confirm a read', () => {
    const r = leaderOf([1n, 2n, 3n, 4n, 5n])
    r.step(readIndexMsg(1n, 'ctx'))
    const ctx = (heartbeats(readMessages(r))[0] as Message).context
    r.step(heartbeatResp(r, 2n, ctx))
    r.step(heartbeatResp(r, 2n, ctx)) // a duplicate ack counts once
    r.step(heartbeatResp(r, 2n, new Uint8Array(0))) // a plain heartbeat ack confirms nothing
    assert.deepEqual(r.readStates, [], 'leader and one follower are two of five')
    assert.equal(r.readOnly.pendingCount(), 1)
    r.step(heartbeatResp(r, 3n, ctx))
    assert.deepEqual(readStates(r), [[1, 'ctx']])
  })

  it('reports the commit index of the moment the read arrived', () => {
    const r = leaderOf([1n, 2n, 3n])
    const at = r.raftLog.committed
    r.step(readIndexMsg(1n, 'ctx'))
    const ctx = (heartbeats(readMessages(r))[0] as Message).context
    // More entries commit before the heartbeat round completes.
    r.step(propMsg(1n))
    readMessages(r)
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: r.term, index: at + 1 }))
    assert.equal(r.raftLog.committed, at + 1)
    r.step(heartbeatResp(r, 2n, ctx))
    assert.deepEqual(readStates(r), [[at, 'ctx']])
  })

  it('answers each of two reads with the same context', () => {
    // Reads are confirmed by position, not by context, so a repeated context is neither merged
    // with nor mistaken for the earlier read (etcd-io/raft read_only.go since the sequence-number
    // rewrite; the older context-keyed version silently dropped the duplicate).
    const r = leaderOf([1n, 2n, 3n])
    r.step(readIndexMsg(1n, 'dup'))
    r.step(readIndexMsg(1n, 'dup'))
    const hbs = heartbeats(readMessages(r))
    r.step(heartbeatResp(r, 2n, (hbs[hbs.length - 1] as Message).context))
    assert.deepEqual(readStates(r), [
      [1, 'dup'],
      [1, 'dup'],
    ])
    // The same context again later starts a new round of its own.
    r.readStates = []
    r.step(readIndexMsg(1n, 'dup'))
    assert.deepEqual(r.readStates, [])
    const ctx = (heartbeats(readMessages(r))[0] as Message).context
    r.step(heartbeatResp(r, 3n, ctx))
    assert.deepEqual(readStates(r), [[1, 'dup']])
    assert.equal(r.readOnly.pendingCount(), 0)
  })

  it('does not count the acks of learners', () => {
    const r = leaderOf([1n, 2n], [3n])
    r.step(readIndexMsg(1n, 'ctx'))
    const hbs = heartbeats(readMessages(r))
    assert.deepEqual(
      hbs.map((m) => m.to),
      [2n, 3n],
      'learners get the heartbeat too',
    )
    const ctx = (hbs[0] as Message).context
    r.step(heartbeatResp(r, 3n, ctx))
    assert.deepEqual(r.readStates, [], 'a learner ack is no quorum')
    r.step(heartbeatResp(r, 2n, ctx))
    assert.deepEqual(readStates(r), [[1, 'ctx']])
  })

  it('in a joint configuration, needs a quorum of both halves', () => {
    const s = new MemoryStorage()
    s.applySnapshot({
      data: new Uint8Array(0),
      metadata: {
        index: 0,
        term: 0,
        confState: {
          voters: [1n, 2n, 3n],
          votersOutgoing: [1n, 4n, 5n],
          learners: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
    })
    const r = newTestRaft(1n, 10, 1, s)
    r.becomeCandidate()
    r.becomeLeader()
    r.raftLog.commitTo(r.raftLog.lastIndex())
    readMessages(r)
    r.step(readIndexMsg(1n, 'ctx'))
    const hbs = heartbeats(readMessages(r))
    assert.deepEqual(
      hbs.map((m) => m.to),
      [2n, 3n, 4n, 5n],
    )
    const ctx = (hbs[0] as Message).context
    r.step(heartbeatResp(r, 2n, ctx))
    r.step(heartbeatResp(r, 3n, ctx))
    assert.deepEqual(r.readStates, [], 'the incoming half alone is not enough')
    r.step(heartbeatResp(r, 5n, ctx))
    assert.deepEqual(readStates(r), [[1, 'ctx']])
  })

  it('serves reads on a learner through the leader', () => {
    const s = newTestStorage([1n], [2n])
    const a = newTestRaft(1n, 10, 1, s)
    const b = newTestRaft(2n, 10, 1, newTestStorage([1n], [2n]))
    const nt = new Network([a, b])
    nt.send(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
    assert.equal(a.state, StateType.StateLeader)
    const table: [Raft, number, string][] = [
      [a, 11, 'ctx1'],
      [b, 21, 'ctx2'],
      [a, 31, 'ctx3'],
      [b, 41, 'ctx4'],
    ]
    for (const [r, wri, wctx] of table) {
      for (let j = 0; j < 10; j++) {
        nt.send(propMsg(1n))
        nextEnts(a, s)
      }
      nt.send(readIndexMsg(r.id, wctx))
      assert.deepEqual(readStates(r), [[wri, wctx]])
      r.readStates = []
    }
  })

  it('forwards a follower read to the leader and turns the answer into a ReadState', () => {
    const r = leaderOf([1n, 2n, 3n])
    // Node 2's read reaches the leader as a MsgReadIndex from 2.
    const f = newTestRaft(2n, 10, 1, newTestStorage([1n, 2n, 3n]))
    f.becomeFollower(r.term, 1n)
    f.step(readIndexMsg(2n, 'remote'))
    const fwd = readMessages(f)
    assert.equal(fwd.length, 1)
    assert.equal(fwd[0]?.type, MessageType.MsgReadIndex)
    assert.equal(fwd[0]?.to, 1n)

    r.step(fwd[0] as Message)
    const ctx = (heartbeats(readMessages(r))[0] as Message).context
    r.step(heartbeatResp(r, 3n, ctx))
    assert.deepEqual(r.readStates, [], 'a remote read is answered by message')
    const resp = readMessages(r).filter((m) => m.type === MessageType.MsgReadIndexResp)
    assert.equal(resp.length, 1)
    assert.equal(resp[0]?.to, 2n)
    assert.equal(resp[0]?.index, r.raftLog.committed)

    f.step(resp[0] as Message)
    assert.deepEqual(readStates(f), [[r.raftLog.committed, 'remote']])
  })

  it('a follower without a leader drops reads, and ignores malformed answers', () => {
    const f = newTestRaft(2n, 10, 1, newTestStorage([1n, 2n, 3n]))
    f.step(readIndexMsg(2n, 'ctx'))
    assert.deepEqual(readMessages(f), [])
    f.becomeFollower(1, 1n)
    f.step(msg({ type: MessageType.MsgReadIndexResp, from: 1n, to: 2n, term: 1, index: 5 }))
    assert.deepEqual(f.readStates, [])
  })
})

describe('ReadIndex with ReadOnlyLeaseBased', () => {
  it('answers reads on every node without a heartbeat round', () => {
    const nt = new Network([null, null, null], {
      config: (c) => {
        c.readOnlyOption = ReadOnlyOption.ReadOnlyLeaseBased
        c.checkQuorum = true
      },
    })
    nt.send(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
    assert.equal(nt.raft(1).state, StateType.StateLeader)
    readOnEveryNode(nt)
  })

  it('the leader answers at once and sends nothing', () => {
    const r = leaderOf([1n, 2n, 3n], [], ReadOnlyOption.ReadOnlyLeaseBased)
    r.step(readIndexMsg(1n, 'ctx'))
    assert.deepEqual(readStates(r), [[1, 'ctx']])
    assert.deepEqual(readMessages(r), [])
    assert.equal(r.readOnly.pendingCount(), 0)
  })
})

describe('ReadIndex special cases', () => {
  it('a single voter answers at once', () => {
    const r = newTestRaft(1n, 10, 1, newTestStorage([1n]))
    r.step(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
    readMessages(r)
    assert.equal(r.state, StateType.StateLeader)
    r.step(readIndexMsg(1n, 'ctx'))
    assert.deepEqual(readStates(r), [[r.raftLog.committed, 'ctx']])
    assert.deepEqual(readMessages(r), [])
  })

  it('a single voter answers a learner read at once with MsgReadIndexResp', () => {
    const r = newTestRaft(1n, 10, 1, newTestStorage([1n], [2n]))
    r.step(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
    readMessages(r)
    r.step(readIndexMsg(2n, 'ctx'))
    const out = readMessages(r)
    assert.equal(out.length, 1)
    assert.equal(out[0]?.type, MessageType.MsgReadIndexResp)
    assert.equal(out[0]?.to, 2n)
    assert.equal(out[0]?.index, r.raftLog.committed)
  })

  it('a new leader holds reads until it has committed an entry of its term', () => {
    // Node 1 lags (commit 1); nodes 2 and 3 have committed and compacted up to 2.
    const nodes: [NodeId, number, number, number][] = [
      [1n, 1, 1, 0],
      [2n, 2, 2, 2],
      [3n, 2, 2, 2],
    ]
    const rafts = nodes.map(([id, committed, applied, compactIndex]) => {
      const s = new MemoryStorage()
      const snap = {
        data: new Uint8Array(0),
        metadata: {
          index: 0,
          term: 0,
          confState: {
            voters: [1n, 2n, 3n],
            learners: [],
            votersOutgoing: [],
            learnersNext: [],
            autoLeave: false,
          },
        },
      }
      s.applySnapshot(snap)
      s.append([entry({ term: 1, index: 1 }), entry({ term: 1, index: 2 })])
      s.setHardState({ term: 1, vote: 0n, commit: committed })
      if (compactIndex !== 0) s.compact(compactIndex)
      return newTestRaft(id, 10, 1, s, { applied })
    })
    const nt = new Network(rafts)
    const lead = nt.raft(1)
    // No MsgApp gets through: the new leader cannot commit in its term.
    nt.ignore(MessageType.MsgApp)
    nt.send(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
    assert.equal(lead.state, StateType.StateLeader)
    nt.send(readIndexMsg(1n, 'ctx'))
    assert.deepEqual(lead.readStates, [])
    assert.equal(lead.pendingReadIndexMessages.length, 1)

    nt.recover()
    for (let i = 0; i < lead.heartbeatTimeout; i++) lead.tick()
    nt.send(propMsg(1n))
    assert.equal(lead.raftLog.committed, 4)
    assert.equal(lead.raftLog.term(lead.raftLog.committed), lead.term)
    assert.deepEqual(readStates(lead), [[4, 'ctx']], 'the held read is released')
    assert.equal(lead.pendingReadIndexMessages.length, 0)

    nt.send(readIndexMsg(1n, 'ctx'))
    assert.deepEqual(readStates(lead), [
      [4, 'ctx'],
      [4, 'ctx'],
    ])
  })

  it('a leader that steps down forgets its unconfirmed reads', () => {
    const r = leaderOf([1n, 2n, 3n])
    r.step(readIndexMsg(1n, 'ctx'))
    const ctx = (heartbeats(readMessages(r))[0] as Message).context
    r.step(msg({ type: MessageType.MsgHeartbeat, from: 2n, to: 1n, term: r.term + 1 }))
    assert.equal(r.state, StateType.StateFollower)
    assert.equal(r.readOnly.pendingCount(), 0)
    // A late ack is not even addressed to a leader any more.
    r.step(heartbeatResp(r, 3n, ctx))
    assert.deepEqual(r.readStates, [])
  })
})
