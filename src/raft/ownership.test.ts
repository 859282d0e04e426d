// Goal: the core never shares mutable state with its caller, and a node whose invariants broke
// refuses to go on. Go gets the first for free (messages and entries are values; Go clones
// proposals) and the second by crashing; TypeScript needs both made explicit. Method: hand the
// core objects, mutate them or what it handed back, and check its state did not move.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RawNode } from './raw-node.js'
import { raftOf } from './internal.js'
import { MessageType, type Message } from './raftpb/types.js'
import {
  msg,
  newTestConfig,
  newTestRaft,
  newTestStorage,
  propMsg,
  readMessages,
  utf8,
} from './rafttest/network.js'
import type { Raft } from './raft.js'

function leaderOf(ids: bigint[]): Raft {
  const r = newTestRaft(1n, 10, 1, newTestStorage(ids))
  r.becomeCandidate()
  r.becomeLeader()
  return r
}

describe('ownership', () => {
  it('a proposal’s entries are copied into the log, not aliased', () => {
    const r = leaderOf([1n, 2n])
    const m = propMsg(1n, utf8('foo'))
    r.step(m)
    const proposed = m.entries[0]
    assert.ok(proposed !== undefined)
    assert.equal(proposed.term, 0, 'the proposer’s entry is not stamped')
    proposed.data = utf8('EVIL')
    const last = r.raftLog.lastIndex()
    assert.deepEqual(r.raftLog.entries(last, Infinity)[0]?.data, utf8('foo'))
  })

  it('a refused conf change is replaced in a copy, not in the proposer’s array', () => {
    const r = leaderOf([1n, 2n])
    // pendingConfIndex = lastIndex after becoming leader, applied is 0: any conf change is refused.
    const cc = msg({
      type: MessageType.MsgProp,
      from: 1n,
      entries: [{ term: 0, index: 0, type: 2, data: new Uint8Array([8, 0]) }],
    })
    const before = cc.entries
    const entryBefore = cc.entries[0]
    r.step(cc)
    assert.equal(cc.entries, before)
    assert.equal(cc.entries[0], entryBefore)
    assert.equal(cc.entries[0]?.type, 2, 'still the conf change the caller built')
    const last = r.raftLog.lastIndex()
    assert.equal(r.raftLog.entries(last, Infinity)[0]?.type, 0, 'the log got an empty normal entry')
  })

  it('a forwarded proposal goes out as a copy', () => {
    const r = newTestRaft(2n, 10, 1, newTestStorage([1n, 2n]))
    r.becomeFollower(1, 1n)
    const m = propMsg(2n, utf8('x'))
    const toBefore = m.to
    r.step(m)
    const out = readMessages(r)
    assert.equal(out.length, 1)
    assert.equal(out[0]?.to, 1n)
    assert.equal(m.to, toBefore, 'the caller’s message is untouched')
    assert.notEqual(out[0], m)
  })

  it('withProgress hands out copies', () => {
    const storage = newTestStorage([1n, 2n])
    const rn = new RawNode(newTestConfig(1n, 10, 1, storage))
    raftOf(rn).becomeCandidate()
    raftOf(rn).becomeLeader()
    rn.withProgress((_id, _type, pr) => {
      pr.match = 999
    })
    rn.withProgress((_id, _type, pr) => assert.notEqual(pr.match, 999))
  })

  it('a Ready’s snapshot is the application’s to keep', () => {
    const storage = newTestStorage([1n, 2n])
    const rn = new RawNode(newTestConfig(2n, 10, 1, storage))
    const snap = {
      data: new Uint8Array(0),
      metadata: {
        index: 11,
        term: 11,
        confState: {
          voters: [1n, 2n],
          learners: [],
          votersOutgoing: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
    }
    rn.step(msg({ type: MessageType.MsgSnap, from: 1n, to: 2n, term: 11, snapshot: snap }))
    const rd = rn.ready()
    assert.ok(rd.snapshot !== null)
    rd.snapshot.metadata.index = 1
    assert.equal(raftOf(rn).raftLog.lastIndex(), 11)
  })
})

describe('a broken node stops', () => {
  it('after a panic every later call rethrows it and nothing changes', () => {
    const storage = newTestStorage([1n, 2n])
    const rn = new RawNode(newTestConfig(2n, 10, 1, storage))
    // A snapshot whose ConfState names node 1 as both voter and learner cannot be restored.
    const bad: Message = msg({
      type: MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      term: 5,
      snapshot: {
        data: new Uint8Array(0),
        metadata: {
          index: 20,
          term: 5,
          confState: {
            voters: [1n, 2n],
            learners: [1n],
            votersOutgoing: [],
            learnersNext: [],
            autoLeave: false,
          },
        },
      },
    })
    let first: unknown
    try {
      rn.step(bad)
    } catch (err) {
      first = err
    }
    assert.ok(first instanceof Error)
    assert.throws(
      () => rn.tick(),
      (err) => err === first,
    )
    assert.throws(
      () => rn.ready(),
      (err) => err === first,
    )
    assert.throws(
      () => rn.propose(utf8('x')),
      (err) => err === first,
    )
  })

  it('a RaftError does not break the node', () => {
    const storage = newTestStorage([1n, 2n])
    const rn = new RawNode(newTestConfig(2n, 10, 1, storage))
    assert.throws(() => rn.propose(utf8('x')), /raft proposal dropped/)
    rn.tick()
    assert.equal(rn.hasReady(), false)
  })
})

describe('proposeBatch', () => {
  it('appends every entry in one MsgApp per follower', () => {
    const storage = newTestStorage([1n, 2n, 3n])
    const rn = new RawNode(newTestConfig(1n, 10, 1, storage))
    raftOf(rn).becomeCandidate()
    raftOf(rn).becomeLeader()
    // Make both followers replicate, so the whole batch goes out at once.
    for (const id of [2n, 3n]) raftOf(rn).trk.progress.get(id)?.becomeReplicate()
    readMessages(raftOf(rn))
    const before = raftOf(rn).raftLog.lastIndex()
    rn.proposeBatch([utf8('a'), utf8('b'), utf8('c')])
    assert.equal(raftOf(rn).raftLog.lastIndex(), before + 3)
    const apps = readMessages(raftOf(rn)).filter((m) => m.type === MessageType.MsgApp)
    // One MsgApp per follower, carrying the leader's unacked empty entry and the whole batch.
    assert.deepEqual(
      apps.map((m) => [m.to, m.entries.map((e) => new TextDecoder().decode(e.data)).join('|')]),
      [
        [2n, '|a|b|c'],
        [3n, '|a|b|c'],
      ],
    )
  })

  it('is all or none when the proposal is dropped', () => {
    const storage = newTestStorage([1n, 2n])
    const rn = new RawNode(newTestConfig(2n, 10, 1, storage))
    const before = raftOf(rn).raftLog.lastIndex()
    assert.throws(() => rn.proposeBatch([utf8('a'), utf8('b')]), /raft proposal dropped/)
    assert.equal(raftOf(rn).raftLog.lastIndex(), before)
  })
})
