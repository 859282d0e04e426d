// The Raft state machine, after the scenarios of etcd-io/raft raft_test.go and
// raft_flow_control_test.go that the conformance transcripts do not cover: progress and flow
// control (MaxSizePerMsg, MaxInflightMsgs, MaxInflightBytes, MaxUncommittedEntriesSize),
// proposals and their forwarding, elections, replication, CheckQuorum and membership basics.
// Tests drive a Raft directly (the test plays the peers) or a group on the in-memory Network.
// Snapshots, leader transfer and ReadIndex have files of their own.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { Raft } from './raft.js'
import { StateType } from './ready.js'
import { asV2, marshalConfChange } from './raftpb/confchange.js'
import {
  ConfChangeType,
  EntryType,
  MessageType,
  entry,
  type ConfChangeV2,
  type Entry,
  type Message,
  type NodeId,
} from './raftpb/types.js'
import {
  errorCode,
  advanceMessagesAfterAppend,
  entsAt,
  idsBySize,
  msg,
  mustAppendEntry,
  Network,
  nextEnts,
  newTestRaft,
  newTestStorage,
  nopStepper,
  propMsg,
  readMessages,
  stepOrSend,
  takeMessagesAfterAppend,
  utf8,
  type NetworkOptions,
} from './rafttest/network.js'
import { entsSize, payloadsSize } from './util.js'
import type { Progress } from './tracker/progress.js'
import { StateType as ProgressState } from './tracker/state.js'
import type { Config } from './config.js'
import { MemoryStorage } from './storage.js'
import { seedFor } from '../../test-support/seed.js'

function pr(r: Raft, id: NodeId): Progress {
  const p = r.trk.progress.get(id)
  assert.ok(p !== undefined, `no progress for ${id}`)
  return p
}

function leader(voters: NodeId[], overrides: Partial<Config> = {}, election = 5): Raft {
  const r = newTestRaft(1n, election, 1, newTestStorage(voters), overrides)
  r.becomeCandidate()
  r.becomeLeader()
  return r
}

/** Reads the role without the narrowing an earlier assert.equal applied. */
const stateOf = (r: Raft): StateType => r.state

const hup = (id: NodeId): Message => msg({ type: MessageType.MsgHup, from: id, to: id })
const beat = (id: NodeId): Message => msg({ type: MessageType.MsgBeat, from: id, to: id })

function ccV2(type: ConfChangeType, nodeId: NodeId): ConfChangeV2 {
  return asV2({ id: 0n, type, nodeId, context: new Uint8Array(0) })
}

/** A Raft over a storage holding entries of the given terms, at the last of those terms. */
function entsWithConfig(
  id: NodeId,
  peers: NodeId[],
  overrides: Partial<Config>,
  ...terms: number[]
): Raft {
  const s = newTestStorage(peers)
  s.append(entsAt(1, ...terms))
  const r = newTestRaft(id, 5, 1, s, overrides)
  r.reset(terms[terms.length - 1] as number)
  return r
}

/** A Raft with an empty log that voted for `vote` in `term`. */
function votedWithConfig(
  id: NodeId,
  peers: NodeId[],
  overrides: Partial<Config>,
  vote: NodeId,
  term: number,
): Raft {
  const s = newTestStorage(peers)
  s.setHardState({ term, vote, commit: 0 })
  const r = newTestRaft(id, 5, 1, s, overrides)
  r.reset(term)
  return r
}

/** Some tests flip options on a live node, as the Go tests do on the struct. */
function setOption(r: Raft, option: 'preVote' | 'checkQuorum', value: boolean): void {
  Object.assign(r, { [option]: value })
}

describe('progress and flow control', () => {
  it('the leader tracks its own log as it becomes durable', () => {
    const r = leader([1n, 2n])
    pr(r, 2n).becomeReplicate()
    for (let i = 0; i < 5; i++) r.step(propMsg(1n, utf8('foo')))
    assert.equal(pr(r, 1n).match, 0)
    const ents = r.raftLog.nextUnstableEnts()
    assert.equal(ents.length, 6)
    assert.equal(ents[0]?.data.length, 0)
    assert.deepEqual(ents[5]?.data, utf8('foo'))
    advanceMessagesAfterAppend(r)
    assert.equal(pr(r, 1n).match, 6)
    assert.equal(pr(r, 1n).next, 7)
  })

  it('a heartbeat response resumes a paused follower; a heartbeat does not', () => {
    const r = leader([1n, 2n])
    pr(r, 2n).msgAppFlowPaused = true
    r.step(beat(1n))
    assert.equal(pr(r, 2n).msgAppFlowPaused, true)
    pr(r, 2n).becomeReplicate()
    assert.equal(pr(r, 2n).msgAppFlowPaused, false)
    pr(r, 2n).msgAppFlowPaused = true
    r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n }))
    assert.equal(pr(r, 2n).msgAppFlowPaused, false)
  })

  it('a probing follower gets one append until it answers', () => {
    const r = leader([1n, 2n])
    for (let i = 0; i < 3; i++) r.step(propMsg(1n, utf8('somedata')))
    assert.equal(readMessages(r).length, 1)
  })

  it('MaxSizePerMsg, MaxInflightMsgs and MaxInflightBytes shape the append stream', () => {
    const r = leader([1n, 2n], { maxInflightMsgs: 3, maxSizePerMsg: 2048, maxInflightBytes: 9000 })
    readMessages(r)
    pr(r, 2n).becomeProbe()
    const blob = utf8('a'.repeat(1000))
    const large = utf8('b'.repeat(5000))
    for (let i = 0; i < 22; i++) r.step(propMsg(1n, i >= 10 && i < 16 ? large : blob))

    // Probing: one append with the empty entry and the first proposal.
    const ms = readMessages(r)
    assert.equal(ms.length, 1)
    assert.equal(ms[0]?.type, MessageType.MsgApp)
    assert.deepEqual(
      ms[0]?.entries.map((e) => e.data.length),
      [0, 1000],
    )

    const ackAndVerify = (index: number, ...expEntries: number[]): number => {
      r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, index }))
      const out = readMessages(r)
      assert.deepEqual(
        out.map((m) => [m.type, m.entries.length]),
        expEntries.map((n) => [MessageType.MsgApp, n]),
        `after ack of ${index}`,
      )
      const last = (out[out.length - 1] as Message).entries
      return last.length === 0 ? index : (last[last.length - 1] as Entry).index
    }
    // The ack moves the follower to StateReplicate: three appends of two entries each.
    let index = ackAndVerify((ms[0]?.entries[1] as Entry).index, 2, 2, 2)
    // Acking all three: the third append holds a single large entry.
    index = ackAndVerify(index, 2, 1, 1)
    // Large entries one per append, two appends before MaxInflightBytes is reached.
    index = ackAndVerify(index, 1, 1)
    index = ackAndVerify(index, 1, 1)
    // Small entries again.
    index = ackAndVerify(index, 1, 2, 2)
    ackAndVerify(index, 2)
  })

  it('MsgApp sizes honour MaxSizePerMsg but carry at least one entry', () => {
    for (const maxSizePerMsg of [0, 300, 1000]) {
      const r = leader([1n, 2n], {
        maxSizePerMsg,
        maxCommittedSizePerReady: Infinity,
        maxInflightMsgs: 1000,
      })
      readMessages(r)
      pr(r, 2n).becomeProbe()
      const datas = [100, 100, 100, 2000, 100, 50, 50, 50, 50, 100, 100, 100]
      for (const n of datas) r.step(propMsg(1n, utf8('x'.repeat(n))))
      const first = readMessages(r)
      assert.equal(first.length, 1, 'a probe gets one append')
      const probe = first[0] as Message
      r.step(
        msg({
          type: MessageType.MsgAppResp,
          from: 2n,
          to: 1n,
          index: probe.index + probe.entries.length,
        }),
      )
      const apps = [...first, ...readMessages(r)].filter((m) => m.type === MessageType.MsgApp)
      const sent: number[] = []
      for (const m of apps) {
        assert.ok(m.entries.length > 0, 'no empty appends while there is something to send')
        const size = entsSize(m.entries)
        assert.ok(
          size <= maxSizePerMsg || m.entries.length === 1,
          `max ${maxSizePerMsg}: ${m.entries.length} entries of ${size} bytes`,
        )
        if (maxSizePerMsg === 0) assert.equal(m.entries.length, 1)
        sent.push(...m.entries.map((e) => e.index))
      }
      const all = Array.from({ length: r.raftLog.lastIndex() }, (_, i) => i + 1)
      assert.deepEqual(sent, all, 'every entry is sent once, in order')
    }
  })

  it('MaxUncommittedEntriesSize drops proposals over the limit, never empty ones', () => {
    const maxEntries = 1024
    const data = utf8('testdata')
    const r = leader([1n, 2n, 3n], {
      maxUncommittedEntriesSize: maxEntries * data.length,
      maxInflightMsgs: 2 * 1024,
    })
    assert.equal(r.uncommittedSize, 0, 'the empty entry of a new leader is free')
    pr(r, 2n).becomeReplicate()
    pr(r, 3n).becomeReplicate()
    r.uncommittedSize = 0

    for (let i = 0; i < maxEntries; i++) r.step(propMsg(1n, data))
    assert.equal(
      errorCode(() => r.step(propMsg(1n, data))),
      'PROPOSAL_DROPPED',
    )
    assert.equal(r.raftLog.lastIndex(), 1 + maxEntries, 'the dropped proposal was not appended')
    assert.equal(readMessages(r).length, maxEntries * 2)
    r.reduceUncommittedSize(maxEntries * data.length)
    assert.equal(r.uncommittedSize, 0)

    // Below the limit, one proposal may cross it.
    const big = Array.from({ length: 2 * maxEntries }, () => data)
    r.step(propMsg(1n, ...big))
    assert.equal(
      errorCode(() => r.step(propMsg(1n, data))),
      'PROPOSAL_DROPPED',
    )
    // An entry without data is never refused (the leader's first entry, auto-leave).
    r.step(propMsg(1n))
    assert.equal(readMessages(r).length, 2 * 2)
    r.reduceUncommittedSize(payloadsSize(big.map((d) => entry({ data: d }))))
    assert.equal(r.uncommittedSize, 0)
  })

  it('a full inflight window pauses the follower', () => {
    const r = leader([1n, 2n])
    const pr2 = pr(r, 2n)
    pr2.becomeReplicate()
    for (let i = 0; i < r.trk.maxInflight; i++) {
      r.step(propMsg(1n, utf8('somedata')))
      const ms = readMessages(r)
      assert.equal(ms.length, 1)
      assert.equal(ms[0]?.type, MessageType.MsgApp)
    }
    assert.ok(pr2.isPaused())
    for (let i = 0; i < 10; i++) {
      r.step(propMsg(1n, utf8('somedata')))
      assert.deepEqual(readMessages(r), [])
    }
  })

  it('acks slide the inflight window forward; stale acks do not', () => {
    const r = leader([1n, 2n])
    const pr2 = pr(r, 2n)
    pr2.becomeReplicate()
    for (let i = 0; i < r.trk.maxInflight; i++) {
      r.step(propMsg(1n, utf8('somedata')))
      readMessages(r)
    }
    // Index 1 is the empty entry, 2 the first proposal.
    for (let tt = 2; tt < r.trk.maxInflight; tt++) {
      r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, index: tt }))
      readMessages(r)
      r.step(propMsg(1n, utf8('somedata')))
      const ms = readMessages(r)
      assert.equal(ms.length, 1)
      assert.equal(ms[0]?.type, MessageType.MsgApp)
      assert.ok(pr2.isPaused())
      for (let i = 0; i < tt; i++) {
        r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, index: i }))
        assert.ok(pr2.isPaused(), `stale ack ${i} must not open the window`)
      }
    }
  })

  it('a heartbeat response to a full window sends one empty append', () => {
    const r = leader([1n, 2n])
    const pr2 = pr(r, 2n)
    pr2.becomeReplicate()
    for (let i = 0; i < r.trk.maxInflight; i++) {
      r.step(propMsg(1n, utf8('somedata')))
      readMessages(r)
    }
    for (let tt = 1; tt < 5; tt++) {
      for (let i = 0; i < tt; i++) {
        assert.ok(pr2.isPaused())
        r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n }))
        const ms = readMessages(r)
        assert.equal(ms.length, 1)
        assert.equal(ms[0]?.type, MessageType.MsgApp)
        assert.deepEqual(ms[0]?.entries, [])
      }
      for (let i = 0; i < 10; i++) {
        assert.ok(pr2.isPaused())
        r.step(propMsg(1n, utf8('somedata')))
        assert.deepEqual(readMessages(r), [])
      }
      r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n }))
      readMessages(r)
    }
  })

  it('MaxInflightBytes pauses on bytes and an ack frees the bytes it covers', () => {
    const r = leader([1n, 2n], { maxSizePerMsg: 100, maxInflightBytes: 300, maxInflightMsgs: 100 })
    readMessages(r)
    // The follower acks the empty entry of the new leader and enters StateReplicate.
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, index: 1 }))
    readMessages(r)
    const pr2 = pr(r, 2n)
    assert.equal(pr2.state, ProgressState.StateReplicate)
    const data = utf8('z'.repeat(100))
    for (let i = 0; i < 3; i++) {
      r.step(propMsg(1n, data))
      assert.equal(readMessages(r).length, 1)
    }
    assert.equal(pr2.inflights.bytes(), 300)
    assert.ok(pr2.isPaused())
    r.step(propMsg(1n, data))
    assert.deepEqual(readMessages(r), [], 'the byte window is full')

    // The ack of index 2 (the first proposal) frees 100 bytes: the fourth proposal goes out.
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, index: 2 }))
    const out = readMessages(r).filter((m) => m.type === MessageType.MsgApp)
    assert.deepEqual(
      out.map((m) => m.entries.map((e) => e.index)),
      [[5]],
    )
    assert.ok(pr2.isPaused())
    r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n }))
    const hb = readMessages(r)
    assert.deepEqual(
      hb.map((m) => [m.type, m.entries.length]),
      [[MessageType.MsgApp, 0]],
    )
  })

  it('a follower that acks re-enters replication; the others stay paused', () => {
    const s = newTestStorage([1n, 2n, 3n])
    const r = newTestRaft(1n, 5, 1, s)
    r.becomeCandidate()
    r.becomeLeader()
    nextEnts(r, s)
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, index: 1 }))
    assert.equal(r.raftLog.committed, 1)
    readMessages(r)
    r.step(msg({ type: MessageType.MsgProp, from: 1n, entries: [entry({})] }))
    let msgs = readMessages(r)
    assert.deepEqual(
      msgs.map((m) => [m.type, m.to, m.entries.map((e) => e.index)]),
      [[MessageType.MsgApp, 2n, [2]]],
    )
    r.step(msg({ type: MessageType.MsgAppResp, from: 3n, index: 1 }))
    msgs = readMessages(r)
    assert.deepEqual(
      msgs.map((m) => [m.type, m.to, m.entries.map((e) => e.index)]),
      [[MessageType.MsgApp, 3n, [2]]],
    )
  })

  it('sendAppend by progress state: probe waits for heartbeats, replicate streams, snapshot waits', () => {
    const probe = leader([1n, 2n], {}, 10)
    readMessages(probe)
    pr(probe, 2n).becomeProbe()
    for (let i = 0; i < 3; i++) {
      if (i === 0) {
        mustAppendEntry(probe, entry({ data: utf8('somedata') }))
        probe.sendAppend(2n)
        const m = readMessages(probe)
        assert.equal(m.length, 1)
        assert.equal(m[0]?.index, 0)
      }
      assert.ok(pr(probe, 2n).msgAppFlowPaused)
      for (let j = 0; j < 10; j++) {
        mustAppendEntry(probe, entry({ data: utf8('somedata') }))
        probe.sendAppend(2n)
        assert.deepEqual(readMessages(probe), [])
      }
      for (let j = 0; j < probe.heartbeatTimeout; j++) probe.step(beat(1n))
      assert.ok(pr(probe, 2n).msgAppFlowPaused)
      const m = readMessages(probe)
      assert.deepEqual(
        m.map((x) => x.type),
        [MessageType.MsgHeartbeat],
      )
    }
    probe.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n }))
    const m = readMessages(probe)
    assert.equal(m.length, 1)
    assert.equal(m[0]?.index, 0)
    assert.ok(pr(probe, 2n).msgAppFlowPaused)

    const repl = leader([1n, 2n], {}, 10)
    readMessages(repl)
    pr(repl, 2n).becomeReplicate()
    for (let i = 0; i < 10; i++) {
      mustAppendEntry(repl, entry({ data: utf8('somedata') }))
      repl.sendAppend(2n)
      assert.equal(readMessages(repl).length, 1)
    }

    const snap = leader([1n, 2n], {}, 10)
    readMessages(snap)
    pr(snap, 2n).becomeSnapshot(10)
    for (let i = 0; i < 10; i++) {
      mustAppendEntry(snap, entry({ data: utf8('somedata') }))
      snap.sendAppend(2n)
      assert.deepEqual(readMessages(snap), [])
    }
  })

  it('MsgUnreachable sends a replicating follower back to probing', () => {
    const s = newTestStorage([1n, 2n])
    s.append(entsAt(1, 1, 2, 3))
    const r = newTestRaft(1n, 10, 1, s)
    r.becomeCandidate()
    r.becomeLeader()
    readMessages(r)
    const pr2 = pr(r, 2n)
    pr2.match = 3
    pr2.becomeReplicate()
    pr2.next = 6
    r.step(msg({ type: MessageType.MsgUnreachable, from: 2n, to: 1n }))
    assert.equal(pr2.state, ProgressState.StateProbe)
    assert.equal(pr2.next, pr2.match + 1)
  })

  it('the leader raises next optimistically only while replicating', () => {
    const table: [ProgressState, number, number][] = [
      [ProgressState.StateReplicate, 2, 3 + 1 + 1 + 1],
      [ProgressState.StateProbe, 2, 2],
    ]
    for (const [state, next, wnext] of table) {
      const r = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n]))
      r.raftLog.append(entsAt(1, 1, 2, 3))
      r.becomeCandidate()
      r.becomeLeader()
      pr(r, 2n).state = state
      pr(r, 2n).next = next
      r.step(propMsg(1n, utf8('somedata')))
      assert.equal(pr(r, 2n).next, wnext)
    }
  })

  it('the leader reacts to append responses', () => {
    // [index, reject, wmatch, wnext, wmsgNum, windex, wcommitted]; initial match 0, next 3.
    const table: [number, boolean, number, number, number, number, number][] = [
      [3, true, 0, 3, 0, 0, 0], // stale rejection
      [2, true, 0, 2, 1, 1, 0], // rejection: probe one lower
      [2, false, 2, 4, 2, 2, 2], // accepted: commit and broadcast
      [0, false, 0, 4, 1, 0, 0], // probe matched at 0: replicate everything
    ]
    for (const [
      i,
      [index, reject, wmatch, wnext, wmsgNum, windex, wcommitted],
    ] of table.entries()) {
      const s = newTestStorage([1n, 2n, 3n])
      s.append(entsAt(1, 1, 1))
      const r = newTestRaft(1n, 10, 1, s)
      r.becomeCandidate()
      r.becomeLeader()
      readMessages(r)
      r.step(
        msg({
          type: MessageType.MsgAppResp,
          from: 2n,
          index,
          term: r.term,
          reject,
          rejectHint: index,
        }),
      )
      assert.equal(pr(r, 2n).match, wmatch, `#${i}`)
      assert.equal(pr(r, 2n).next, wnext, `#${i}`)
      const msgs = readMessages(r)
      assert.equal(msgs.length, wmsgNum, `#${i}`)
      for (const m of msgs) {
        assert.equal(m.index, windex, `#${i}`)
        assert.equal(m.commit, wcommitted, `#${i}`)
      }
    }
  })

  it('heartbeats carry min(match, committed) and no entries', () => {
    const s = new MemoryStorage()
    s.applySnapshot({
      data: new Uint8Array(0),
      metadata: {
        index: 1000,
        term: 1,
        confState: {
          voters: [1n, 2n, 3n],
          learners: [],
          votersOutgoing: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
    })
    const r = newTestRaft(1n, 10, 1, s)
    r.term = 1
    r.becomeCandidate()
    r.becomeLeader()
    for (let i = 0; i < 10; i++) mustAppendEntry(r, entry({ index: i + 1 }))
    advanceMessagesAfterAppend(r)
    pr(r, 2n).match = 5
    pr(r, 2n).next = 6
    pr(r, 3n).match = r.raftLog.lastIndex()
    pr(r, 3n).next = r.raftLog.lastIndex() + 1
    r.step(msg({ type: MessageType.MsgBeat }))
    const msgs = readMessages(r)
    assert.equal(msgs.length, 2)
    for (const m of msgs) {
      assert.equal(m.type, MessageType.MsgHeartbeat)
      assert.equal(m.index, 0)
      assert.equal(m.logTerm, 0)
      assert.deepEqual(m.entries, [])
      assert.equal(m.commit, Math.min(r.raftLog.committed, pr(r, m.to).match))
    }
  })

  it('only the leader answers MsgBeat', () => {
    const table: [StateType, number][] = [
      [StateType.StateLeader, 2],
      [StateType.StateCandidate, 0],
      [StateType.StateFollower, 0],
    ]
    for (const [state, wmsg] of table) {
      const s = newTestStorage([1n, 2n, 3n])
      s.append(entsAt(1, 1, 1))
      const r = newTestRaft(1n, 10, 1, s)
      r.term = 1
      r.state = state
      r.step(beat(1n))
      const msgs = readMessages(r)
      assert.equal(msgs.length, wmsg, StateType[state])
      for (const m of msgs) assert.equal(m.type, MessageType.MsgHeartbeat)
    }
  })

  it('a heartbeat response from a lagging follower re-sends the append', () => {
    const s = newTestStorage([1n, 2n])
    s.append(entsAt(1, 1, 2, 3))
    const r = newTestRaft(1n, 5, 1, s)
    r.becomeCandidate()
    r.becomeLeader()
    r.raftLog.commitTo(r.raftLog.lastIndex())
    r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n }))
    let msgs = readMessages(r)
    assert.deepEqual(
      msgs.map((m) => m.type),
      [MessageType.MsgApp],
    )
    r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n }))
    msgs = readMessages(r)
    assert.deepEqual(
      msgs.map((m) => m.type),
      [MessageType.MsgApp],
    )
    const m = msgs[0] as Message
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, index: m.index + m.entries.length }))
    readMessages(r)
    r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n }))
    assert.deepEqual(readMessages(r), [])
  })
})

describe('proposals', () => {
  it('a proposal commits only when the leader can reach a quorum', () => {
    const table: [(null | typeof nopStepper)[], boolean][] = [
      [[null, null, null], true],
      [[null, null, nopStepper], true],
      [[null, nopStepper, nopStepper], false],
      [[null, nopStepper, nopStepper, null], false],
      [[null, nopStepper, nopStepper, null, null], true],
    ]
    for (const [j, [slots, success]] of table.entries()) {
      const nt = new Network(slots)
      nt.send(hup(1n))
      nt.send(propMsg(1n, utf8('somedata')))
      const wlog = success
        ? [entry({ term: 1, index: 1 }), entry({ term: 1, index: 2, data: utf8('somedata') })]
        : []
      for (const [id, p] of nt.peers) {
        if (!(p instanceof Raft)) continue
        assert.deepEqual(p.raftLog.allEntries(), wlog, `#${j} peer ${id}`)
        assert.equal(p.raftLog.committed, wlog.length, `#${j} peer ${id}`)
      }
      assert.equal(nt.raft(1).term, 1, `#${j}`)
    }
  })

  it('a follower forwards proposals to the leader', () => {
    for (const slots of [
      [null, null, null],
      [null, null, nopStepper],
    ]) {
      const nt = new Network(slots)
      nt.send(hup(1n))
      nt.send(propMsg(2n, utf8('somedata')))
      const wlog = [
        entry({ term: 1, index: 1 }),
        entry({ term: 1, index: 2, data: utf8('somedata') }),
      ]
      for (const [id, p] of nt.peers) {
        if (p instanceof Raft) assert.deepEqual(p.raftLog.allEntries(), wlog, `peer ${id}`)
      }
      assert.equal(nt.raft(1).term, 1)
    }
  })

  it('forwarding sends the proposal to the leader unchanged', () => {
    const f = newTestRaft(2n, 10, 1, newTestStorage([1n, 2n, 3n]))
    f.becomeFollower(1, 1n)
    f.step(propMsg(2n, utf8('fwd')))
    const out = readMessages(f)
    assert.equal(out.length, 1)
    assert.equal(out[0]?.type, MessageType.MsgProp)
    assert.equal(out[0]?.to, 1n)
    assert.equal(out[0]?.term, 0, 'a forwarded proposal counts as local at the leader')
    assert.deepEqual(
      out[0]?.entries.map((e) => e.data),
      [utf8('fwd')],
    )
  })

  it('DisableProposalForwarding: a follower drops proposals with PROPOSAL_DROPPED', () => {
    const f = newTestRaft(2n, 10, 1, newTestStorage([1n, 2n, 3n]), {
      disableProposalForwarding: true,
    })
    f.becomeFollower(1, 1n)
    assert.equal(
      errorCode(() => f.step(propMsg(2n, utf8('x')))),
      'PROPOSAL_DROPPED',
    )
    assert.deepEqual(readMessages(f), [])
    assert.equal(f.raftLog.lastIndex(), 0)

    // In a group, the proposal is lost and nothing is appended anywhere.
    const nt = new Network([null, null, null], {
      config: (c) => {
        c.disableProposalForwarding = true
      },
    })
    nt.send(hup(1n))
    nt.send(propMsg(2n, utf8('somedata')))
    for (const id of [1, 2, 3]) assert.equal(nt.raft(id).raftLog.lastIndex(), 1)
  })

  it('candidates, pre-candidates and leaderless followers drop proposals', () => {
    const cand = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n, 3n]))
    cand.becomeCandidate()
    assert.equal(
      errorCode(() => cand.step(propMsg(1n, utf8('x')))),
      'PROPOSAL_DROPPED',
    )

    const pre = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n, 3n]), { preVote: true })
    pre.becomePreCandidate()
    assert.equal(
      errorCode(() => pre.step(propMsg(1n, utf8('x')))),
      'PROPOSAL_DROPPED',
    )

    const f = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n, 3n]))
    assert.equal(
      errorCode(() => f.step(propMsg(1n, utf8('x')))),
      'PROPOSAL_DROPPED',
    )
    for (const r of [cand, pre, f]) {
      assert.equal(r.raftLog.lastIndex(), 0)
      assert.deepEqual(
        readMessages(r).filter((m) => m.type === MessageType.MsgProp),
        [],
      )
    }
  })

  it('a leader removed from the configuration drops proposals', () => {
    const r = leader([1n, 2n])
    r.applyConfChange(ccV2(ConfChangeType.ConfChangeRemoveNode, 1n))
    assert.equal(r.state, StateType.StateLeader)
    assert.equal(
      errorCode(() => r.step(propMsg(1n, utf8('x')))),
      'PROPOSAL_DROPPED',
    )
  })
})

describe('elections', () => {
  for (const preVote of [false, true]) {
    const opts: NetworkOptions = { config: (c) => (c.preVote = preVote) }
    const o = { preVote }
    const candState = preVote ? StateType.StatePreCandidate : StateType.StateCandidate
    const candTerm = preVote ? 0 : 1
    const ids = (n: number): NodeId[] => idsBySize(n)

    it(`leader election (preVote=${preVote})`, () => {
      const table: [() => Network, StateType, number][] = [
        [() => new Network([null, null, null], opts), StateType.StateLeader, 1],
        [() => new Network([null, null, nopStepper], opts), StateType.StateLeader, 1],
        [() => new Network([null, nopStepper, nopStepper], opts), candState, candTerm],
        [() => new Network([null, nopStepper, nopStepper, null], opts), candState, candTerm],
        [
          () => new Network([null, nopStepper, nopStepper, null, null], opts),
          StateType.StateLeader,
          1,
        ],
        // Three logs further along, at the same term: the votes are refused, not ignored.
        [
          () =>
            new Network(
              [
                null,
                entsWithConfig(2n, ids(5), o, 1),
                entsWithConfig(3n, ids(5), o, 1),
                entsWithConfig(4n, ids(5), o, 1, 1),
                null,
              ],
              opts,
            ),
          StateType.StateFollower,
          1,
        ],
      ]
      for (const [i, [mk, state, term]] of table.entries()) {
        const nt = mk()
        nt.send(hup(1n))
        assert.equal(nt.raft(1).state, state, `#${i}`)
        assert.equal(nt.raft(1).term, term, `#${i}`)
      }
    })

    it(`each node can be elected in turn (preVote=${preVote})`, () => {
      const nt = new Network([null, null, null], opts)
      for (let c = 1; c <= 3; c++) {
        nt.send(hup(BigInt(c)))
        for (const id of [1, 2, 3]) {
          const want = id === c ? StateType.StateLeader : StateType.StateFollower
          assert.equal(nt.raft(id).state, want, `campaigner ${c}, node ${id}`)
        }
      }
    })

    it(`a new leader overwrites newer uncommitted entries (preVote=${preVote})`, () => {
      const p = ids(5)
      const nt = new Network(
        [
          entsWithConfig(1n, p, o, 1), // won the first election
          entsWithConfig(2n, p, o, 1), // got the entry of node 1
          entsWithConfig(3n, p, o, 2), // won the second election
          votedWithConfig(4n, p, o, 3n, 2), // voted for 3, got no entries
          votedWithConfig(5n, p, o, 3n, 2),
        ],
        opts,
      )
      // A quorum knows of term 2, so the first campaign fails but lifts node 1 to term 2.
      nt.send(hup(1n))
      assert.equal(nt.raft(1).state, StateType.StateFollower)
      assert.equal(nt.raft(1).term, 2)
      nt.send(hup(1n))
      assert.equal(nt.raft(1).state, StateType.StateLeader)
      assert.equal(nt.raft(1).term, 3)
      for (const id of p) {
        assert.deepEqual(
          nt
            .raft(id)
            .raftLog.allEntries()
            .map((e) => e.term),
          [1, 3],
          `node ${id}`,
        )
      }
    })

    it(`a single node elects itself (preVote=${preVote})`, () => {
      const nt = new Network([null], opts)
      nt.send(hup(1n))
      assert.equal(nt.raft(1).state, StateType.StateLeader)
    })

    it(`campaigning while leader changes nothing (preVote=${preVote})`, () => {
      const r = newTestRaft(1n, 5, 1, newTestStorage([1n]), o)
      assert.equal(r.state, StateType.StateFollower)
      r.step(hup(1n))
      advanceMessagesAfterAppend(r)
      assert.equal(r.state, StateType.StateLeader)
      const term = r.term
      r.step(hup(1n))
      advanceMessagesAfterAppend(r)
      assert.equal(r.state, StateType.StateLeader)
      assert.equal(r.term, term)
    })

    const vt = preVote ? MessageType.MsgPreVote : MessageType.MsgVote
    it(`${MessageType[vt]} is granted from any state`, () => {
      const states = [
        StateType.StateFollower,
        StateType.StatePreCandidate,
        StateType.StateCandidate,
        StateType.StateLeader,
      ]
      for (const st of states) {
        const r = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n, 3n]))
        r.term = 1
        if (st === StateType.StateFollower) r.becomeFollower(r.term, 3n)
        else if (st === StateType.StatePreCandidate) r.becomePreCandidate()
        else if (st === StateType.StateCandidate) r.becomeCandidate()
        else {
          r.becomeCandidate()
          r.becomeLeader()
        }
        const origTerm = r.term
        const newTerm = r.term + 1
        r.step(msg({ type: vt, from: 2n, to: 1n, term: newTerm, logTerm: newTerm, index: 42 }))
        const msgs = readMessages(r)
        assert.equal(msgs.length, 1, StateType[st])
        assert.equal(msgs[0]?.reject, false, StateType[st])
        if (vt === MessageType.MsgVote) {
          assert.equal(r.state, StateType.StateFollower, StateType[st])
          assert.equal(r.term, newTerm)
          assert.equal(r.vote, 2n)
        } else {
          assert.equal(r.state, st, 'a pre-vote changes nothing')
          assert.equal(r.term, origTerm)
          assert.ok(r.vote === 0n || r.vote === 1n)
        }
      }
    })

    it(`${MessageType[vt]} is granted by log recency and previous vote`, () => {
      // [state, index, logTerm, voteFor, wreject]; the voter's log is (1,2),(2,2).
      const table: [StateType, number, number, NodeId, boolean][] = [
        [StateType.StateFollower, 0, 0, 0n, true],
        [StateType.StateFollower, 0, 1, 0n, true],
        [StateType.StateFollower, 0, 2, 0n, true],
        [StateType.StateFollower, 0, 3, 0n, false],
        [StateType.StateFollower, 1, 0, 0n, true],
        [StateType.StateFollower, 1, 1, 0n, true],
        [StateType.StateFollower, 1, 2, 0n, true],
        [StateType.StateFollower, 1, 3, 0n, false],
        [StateType.StateFollower, 2, 0, 0n, true],
        [StateType.StateFollower, 2, 1, 0n, true],
        [StateType.StateFollower, 2, 2, 0n, false],
        [StateType.StateFollower, 2, 3, 0n, false],
        [StateType.StateFollower, 3, 0, 0n, true],
        [StateType.StateFollower, 3, 1, 0n, true],
        [StateType.StateFollower, 3, 2, 0n, false],
        [StateType.StateFollower, 3, 3, 0n, false],
        [StateType.StateFollower, 3, 2, 2n, false],
        [StateType.StateFollower, 3, 2, 1n, true],
        [StateType.StateLeader, 3, 3, 1n, true],
        [StateType.StatePreCandidate, 3, 3, 1n, true],
        [StateType.StateCandidate, 3, 3, 1n, true],
      ]
      for (const [i, [state, index, logTerm, voteFor, wreject]] of table.entries()) {
        const s = newTestStorage([1n])
        s.append(entsAt(1, 2, 2))
        const r = newTestRaft(1n, 10, 1, s)
        r.state = state
        r.vote = voteFor
        const term = Math.max(2, logTerm)
        r.term = term
        r.step(msg({ type: vt, term, from: 2n, index, logTerm }))
        const msgs = readMessages(r)
        assert.equal(msgs.length, 1, `#${i}`)
        assert.equal(msgs[0]?.reject, wreject, `#${i}`)
      }
    })
  }

  it('role transitions: allowed ones set term and leader, others throw', () => {
    const S = StateType
    const table: [StateType, StateType, boolean, number, NodeId][] = [
      [S.StateFollower, S.StateFollower, true, 1, 0n],
      [S.StateFollower, S.StatePreCandidate, true, 0, 0n],
      [S.StateFollower, S.StateCandidate, true, 1, 0n],
      [S.StateFollower, S.StateLeader, false, 0, 0n],
      [S.StatePreCandidate, S.StateFollower, true, 0, 0n],
      [S.StatePreCandidate, S.StatePreCandidate, true, 0, 0n],
      [S.StatePreCandidate, S.StateCandidate, true, 1, 0n],
      [S.StatePreCandidate, S.StateLeader, true, 0, 1n],
      [S.StateCandidate, S.StateFollower, true, 0, 0n],
      [S.StateCandidate, S.StatePreCandidate, true, 0, 0n],
      [S.StateCandidate, S.StateCandidate, true, 1, 0n],
      [S.StateCandidate, S.StateLeader, true, 0, 1n],
      [S.StateLeader, S.StateFollower, true, 1, 0n],
      [S.StateLeader, S.StatePreCandidate, false, 0, 0n],
      [S.StateLeader, S.StateCandidate, false, 1, 0n],
      [S.StateLeader, S.StateLeader, true, 0, 1n],
    ]
    for (const [i, [from, to, wallow, wterm, wlead]] of table.entries()) {
      const r = newTestRaft(1n, 10, 1, newTestStorage([1n]))
      r.state = from
      const go = (): void => {
        if (to === S.StateFollower) r.becomeFollower(wterm, wlead)
        else if (to === S.StatePreCandidate) r.becomePreCandidate()
        else if (to === S.StateCandidate) r.becomeCandidate()
        else r.becomeLeader()
      }
      if (!wallow) {
        assert.throws(go, `#${i}`)
        continue
      }
      go()
      assert.equal(r.term, wterm, `#${i}`)
      assert.equal(r.lead, wlead, `#${i}`)
    }
  })

  it('every role steps down on a message of a higher term', () => {
    const table: [StateType, number][] = [
      [StateType.StateFollower, 0],
      [StateType.StatePreCandidate, 0],
      [StateType.StateCandidate, 0],
      [StateType.StateLeader, 1],
    ]
    for (const [state, windex] of table) {
      const r = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n, 3n]))
      if (state === StateType.StateFollower) r.becomeFollower(1, 0n)
      else if (state === StateType.StatePreCandidate) r.becomePreCandidate()
      else if (state === StateType.StateCandidate) r.becomeCandidate()
      else {
        r.becomeCandidate()
        r.becomeLeader()
      }
      for (const t of [MessageType.MsgVote, MessageType.MsgApp]) {
        r.step(msg({ type: t, from: 2n, term: 3, logTerm: 3 }))
        assert.equal(r.state, StateType.StateFollower)
        assert.equal(r.term, 3)
        assert.equal(r.raftLog.lastIndex(), windex)
        assert.equal(r.raftLog.allEntries().length, windex)
        assert.equal(
          r.lead,
          t === MessageType.MsgVote ? 0n : 2n,
          `${StateType[state]} ${MessageType[t]}`,
        )
      }
    }
  })

  it('dueling candidates: the one with the shorter log loses and rejoins', () => {
    const [a, b, c] = [1n, 2n, 3n].map((id) =>
      newTestRaft(id, 10, 1, newTestStorage([1n, 2n, 3n])),
    ) as [Raft, Raft, Raft]
    const nt = new Network([a, b, c])
    nt.cut(1, 3)
    nt.send(hup(1n))
    nt.send(hup(3n))
    assert.equal(a.state, StateType.StateLeader)
    assert.equal(c.state, StateType.StateCandidate)
    nt.recover()
    // c campaigns again, disrupting the leader, but nobody votes for its shorter log.
    nt.send(hup(3n))
    const want: [Raft, StateType, number, number][] = [
      [a, StateType.StateFollower, 2, 1],
      [b, StateType.StateFollower, 2, 1],
      [c, StateType.StateFollower, 2, 0],
    ]
    for (const [r, state, term, last] of want) {
      assert.equal(r.state, state, `node ${r.id}`)
      assert.equal(r.term, term, `node ${r.id}`)
      assert.equal(r.raftLog.lastIndex(), last, `node ${r.id}`)
    }
  })

  it('dueling pre-candidates: pre-vote keeps the loser from disrupting the leader', () => {
    const [a, b, c] = [1n, 2n, 3n].map((id) =>
      newTestRaft(id, 10, 1, newTestStorage([1n, 2n, 3n]), { preVote: true }),
    ) as [Raft, Raft, Raft]
    const nt = new Network([a, b, c])
    nt.cut(1, 3)
    nt.send(hup(1n))
    nt.send(hup(3n))
    assert.equal(a.state, StateType.StateLeader)
    assert.equal(c.state, StateType.StateFollower)
    nt.recover()
    nt.send(hup(3n))
    const want: [Raft, StateType, number, number][] = [
      [a, StateType.StateLeader, 1, 1],
      [b, StateType.StateFollower, 1, 1],
      [c, StateType.StateFollower, 1, 0],
    ]
    for (const [r, state, term, last] of want) {
      assert.equal(r.state, state, `node ${r.id}`)
      assert.equal(r.term, term, `node ${r.id}`)
      assert.equal(r.raftLog.lastIndex(), last, `node ${r.id}`)
    }
  })

  it('a candidate concedes to a leader of its term and gets its log', () => {
    const nt = new Network([null, null, null])
    nt.isolate(1)
    nt.send(hup(1n))
    nt.send(hup(3n))
    nt.recover()
    nt.send(beat(3n))
    nt.send(propMsg(3n, utf8('force follower')))
    nt.send(beat(3n))
    const a = nt.raft(1)
    assert.equal(a.state, StateType.StateFollower)
    assert.equal(a.term, 1)
    const wlog = [
      entry({ term: 1, index: 1 }),
      entry({ term: 1, index: 2, data: utf8('force follower') }),
    ]
    for (const id of [1, 2, 3]) {
      assert.deepEqual(nt.raft(id).raftLog.allEntries(), wlog, `node ${id}`)
      assert.equal(nt.raft(id).raftLog.committed, 2, `node ${id}`)
    }
  })

  it('messages of an old leader are ignored', () => {
    const nt = new Network([null, null, null])
    nt.send(hup(1n))
    nt.send(hup(2n))
    nt.send(hup(1n))
    // Node 2, leader of term 2, tries to append at its old term.
    nt.send(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: 2, entries: entsAt(3, 2) }))
    nt.send(propMsg(1n, utf8('somedata')))
    const wlog = entsAt(1, 1, 2, 3, 3)
    ;(wlog[3] as Entry).data = utf8('somedata')
    for (const id of [1, 2, 3])
      assert.deepEqual(nt.raft(id).raftLog.allEntries(), wlog, `node ${id}`)
  })

  it('a candidate steps down when the leader of a higher term reaches it', () => {
    for (const mt of [MessageType.MsgHeartbeat, MessageType.MsgApp]) {
      const [a, b, c] = [1n, 2n, 3n].map((id) =>
        newTestRaft(id, 10, 1, newTestStorage([1n, 2n, 3n])),
      ) as [Raft, Raft, Raft]
      const nt = new Network([a, b, c])
      nt.send(hup(1n))
      assert.equal(a.state, StateType.StateLeader)
      nt.isolate(3)
      nt.send(hup(2n))
      nt.send(hup(1n))
      assert.equal(a.state, StateType.StateLeader)
      assert.equal(b.state, StateType.StateFollower)
      c.resetRandomizedElectionTimeout()
      for (let i = 0; i < c.randomizedElectionTimeout; i++) c.tick()
      advanceMessagesAfterAppend(c)
      assert.equal(c.state, StateType.StateCandidate)
      nt.recover()
      nt.send(msg({ type: mt, from: 1n, to: 3n, term: a.term }))
      assert.equal(c.state, StateType.StateFollower, MessageType[mt])
      assert.equal(c.term, a.term)
    }
  })

  for (const preVote of [false, true]) {
    it(`a late self-vote after losing the election is ignored (preVote=${preVote})`, () => {
      const r = newTestRaft(1n, 5, 1, newTestStorage([1n, 2n, 3n]), { preVote })
      r.step(hup(1n))
      const steps = takeMessagesAfterAppend(r)
      r.step(msg({ type: MessageType.MsgHeartbeat, from: 2n, to: 1n, term: r.term }))
      assert.equal(r.state, StateType.StateFollower)
      stepOrSend(r, steps)
      assert.equal(r.state, StateType.StateFollower)
      assert.equal(r.trk.tallyVotes().granted, 0)
    })
  }

  it('a late pre-vote self-vote does not count in the real election', () => {
    const r = newTestRaft(1n, 5, 1, newTestStorage([1n, 2n, 3n]), { preVote: true })
    r.step(hup(1n))
    assert.equal(r.state, StateType.StatePreCandidate)
    let steps = takeMessagesAfterAppend(r)
    r.step(msg({ type: MessageType.MsgPreVoteResp, from: 2n, to: 1n, term: r.term + 1 }))
    r.step(msg({ type: MessageType.MsgPreVoteResp, from: 3n, to: 1n, term: r.term + 1 }))
    assert.equal(r.state, StateType.StateCandidate)
    stepOrSend(r, steps)
    assert.equal(r.state, StateType.StateCandidate)
    steps = takeMessagesAfterAppend(r)
    assert.equal(r.trk.tallyVotes().granted, 0)
    r.step(msg({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: r.term }))
    assert.equal(r.state, StateType.StateCandidate)
    stepOrSend(r, steps)
    assert.equal(r.state, StateType.StateLeader)
  })

  it("a leader's late self-ack after a term change is ignored", () => {
    const r = leader([1n, 2n, 3n])
    r.step(propMsg(1n, utf8('somedata')))
    const steps = takeMessagesAfterAppend(r)
    r.step(msg({ type: MessageType.MsgHeartbeat, from: 2n, to: 1n, term: r.term + 1 }))
    assert.equal(r.state, StateType.StateFollower)
    stepOrSend(r, steps)
    assert.equal(r.state, StateType.StateFollower)
  })

  it('election timeouts are spread over [et, 2et)', () => {
    // [electionElapsed, probability of being past the randomized timeout, round]
    const table: [number, number, boolean][] = [
      [5, 0, false],
      [10, 0.1, true],
      [13, 0.4, true],
      [15, 0.6, true],
      [18, 0.9, true],
      [20, 1, false],
    ]
    for (const [elapse, wprob, round] of table) {
      const r = newTestRaft(1n, 10, 1, newTestStorage([1n]))
      r.electionElapsed = elapse
      let c = 0
      for (let j = 0; j < 10000; j++) {
        r.resetRandomizedElectionTimeout()
        if (r.pastElectionTimeout()) c++
      }
      let got = c / 10000
      if (round) got = Math.floor(got * 10 + 0.5) / 10
      assert.equal(got, wprob, `elapsed ${elapse}`)
    }
  })
})

describe('learners', () => {
  const learnerRaft = (id: NodeId): Raft => newTestRaft(id, 10, 1, newTestStorage([1n], [2n]))

  it('a learner never campaigns on timeout, MsgHup or MsgTimeoutNow', () => {
    const n2 = learnerRaft(2n)
    n2.becomeFollower(1, 0n)
    n2.setRandomizedElectionTimeout(n2.electionTimeout)
    for (let i = 0; i < n2.electionTimeout; i++) n2.tick()
    assert.equal(n2.state, StateType.StateFollower)

    const n1 = learnerRaft(1n)
    const nt = new Network([n1, learnerRaft(2n)])
    nt.send(hup(2n))
    assert.equal(nt.raft(2).state, StateType.StateFollower)
    nt.send(hup(1n))
    assert.equal(n1.state, StateType.StateLeader)
    nt.send(msg({ type: MessageType.MsgTimeoutNow, from: 1n, to: 2n }))
    assert.equal(nt.raft(2).state, StateType.StateFollower)
  })

  it('a promoted learner can campaign and win', () => {
    const n1 = learnerRaft(1n)
    const n2 = learnerRaft(2n)
    n1.becomeFollower(1, 0n)
    n2.becomeFollower(1, 0n)
    const nt = new Network([n1, n2])
    n1.setRandomizedElectionTimeout(n1.electionTimeout)
    for (let i = 0; i < n1.electionTimeout; i++) n1.tick()
    advanceMessagesAfterAppend(n1)
    assert.equal(n1.state, StateType.StateLeader)
    assert.equal(n2.state, StateType.StateFollower)
    nt.send(beat(1n))

    n1.applyConfChange(ccV2(ConfChangeType.ConfChangeAddNode, 2n))
    n2.applyConfChange(ccV2(ConfChangeType.ConfChangeAddNode, 2n))
    assert.equal(n2.isLearner, false)
    n2.setRandomizedElectionTimeout(n2.electionTimeout)
    for (let i = 0; i < n2.electionTimeout; i++) n2.tick()
    advanceMessagesAfterAppend(n2)
    nt.send(beat(2n))
    assert.equal(n1.state, StateType.StateFollower)
    assert.equal(n2.state, StateType.StateLeader)
  })

  it('a learner grants votes', () => {
    const n2 = learnerRaft(2n)
    n2.becomeFollower(1, 0n)
    n2.step(msg({ type: MessageType.MsgVote, from: 1n, to: 2n, term: 2, logTerm: 11, index: 11 }))
    const msgs = readMessages(n2)
    assert.equal(msgs.length, 1)
    assert.equal(msgs[0]?.type, MessageType.MsgVoteResp)
    assert.equal(msgs[0]?.reject, false)
  })

  it('a learner receives the log', () => {
    const n1 = learnerRaft(1n)
    const n2 = learnerRaft(2n)
    const nt = new Network([n1, n2])
    n1.becomeFollower(1, 0n)
    n2.becomeFollower(1, 0n)
    n1.setRandomizedElectionTimeout(n1.electionTimeout)
    for (let i = 0; i < n1.electionTimeout; i++) n1.tick()
    advanceMessagesAfterAppend(n1)
    nt.send(beat(1n))
    assert.equal(n1.state, StateType.StateLeader)
    assert.ok(n2.isLearner)
    nt.send(propMsg(1n, utf8('somedata')))
    assert.equal(n1.raftLog.committed, 2)
    assert.equal(n2.raftLog.committed, 2)
    assert.equal(pr(n1, 2n).match, 2)
  })
})

describe('replication and commit', () => {
  it('replicates and applies proposals on every node', () => {
    const cases: [Message[], number][] = [
      [[propMsg(1n, utf8('somedata'))], 2],
      [
        [
          propMsg(1n, utf8('somedata')),
          msg({ type: MessageType.MsgHup, from: 1n, to: 2n }),
          msg({
            type: MessageType.MsgProp,
            from: 1n,
            to: 2n,
            entries: [entry({ data: utf8('somedata') })],
          }),
        ],
        4,
      ],
    ]
    for (const [i, [msgs, wcommitted]] of cases.entries()) {
      const nt = new Network([null, null, null])
      nt.send(hup(1n))
      for (const m of msgs) nt.send(m)
      const props = msgs.filter((m) => m.type === MessageType.MsgProp)
      for (const [id, s] of nt.storage) {
        const r = nt.raft(id)
        assert.equal(r.raftLog.committed, wcommitted, `#${i} node ${id}`)
        const ents = nextEnts(r, s).filter((e) => e.data.length > 0)
        assert.deepEqual(
          ents.map((e) => e.data),
          props.map((m) => m.entries[0]?.data),
          `#${i} node ${id}`,
        )
      }
    }
  })

  it('replication converges over a lossy link, the losses replaying exactly by seed', (t) => {
    const run = (seed: number): { delivered: number; logs: Entry[][] } => {
      const nt = new Network([null, null, null], { seed })
      let delivered = 0
      nt.msgHook = () => {
        delivered++
        return true
      }
      nt.send(hup(1n))
      nt.drop(1, 3, 0.5)
      nt.drop(3, 1, 0.5)
      for (let i = 0; i < 20; i++) {
        nt.send(propMsg(1n, utf8(`v${i}`)))
        nt.send(beat(1n))
      }
      nt.recover()
      for (let i = 0; i < 3; i++) nt.send(beat(1n))
      const logs = [1, 2, 3].map((id) => nt.raft(id).raftLog.allEntries())
      for (const id of [2, 3]) {
        assert.equal(nt.raft(id).raftLog.committed, nt.raft(1).raftLog.committed, `node ${id}`)
      }
      return { delivered, logs }
    }
    const seed = seedFor(t)
    const a = run(seed)
    assert.equal(a.logs[0]?.length, 21)
    assert.deepEqual(a.logs[1], a.logs[0])
    assert.deepEqual(a.logs[2], a.logs[0])
    assert.equal(run(seed).delivered, a.delivered, 'same seed, same losses')
  })

  it('a single node commits its own proposals', () => {
    const nt = new Network([null])
    nt.send(hup(1n))
    nt.send(propMsg(1n, utf8('some data')))
    nt.send(propMsg(1n, utf8('some data')))
    assert.equal(nt.raft(1).raftLog.committed, 3)
  })

  it('entries of an earlier term commit only with an entry of the current term', () => {
    const nt = new Network([null, null, null, null, null])
    nt.send(hup(1n))
    for (const id of [3, 4, 5]) nt.cut(1, id)
    nt.send(propMsg(1n, utf8('some data')))
    nt.send(propMsg(1n, utf8('some data')))
    assert.equal(nt.raft(1).raftLog.committed, 1)

    nt.recover()
    nt.ignore(MessageType.MsgApp) // keep the new leader's empty entry from committing
    nt.send(hup(2n))
    const r2 = nt.raft(2)
    assert.equal(r2.raftLog.committed, 1)
    nt.recover()
    nt.send(beat(2n))
    nt.send(propMsg(2n, utf8('some data')))
    assert.equal(r2.raftLog.committed, 5)
  })

  it("a new leader's empty entry commits the entries of the previous term", () => {
    const nt = new Network([null, null, null, null, null])
    nt.send(hup(1n))
    for (const id of [3, 4, 5]) nt.cut(1, id)
    nt.send(propMsg(1n, utf8('some data')))
    nt.send(propMsg(1n, utf8('some data')))
    assert.equal(nt.raft(1).raftLog.committed, 1)
    nt.recover()
    nt.send(hup(2n))
    assert.equal(nt.raft(1).raftLog.committed, 4)
  })

  it('the commit index is the quorum match of an entry of the current term', () => {
    // [matches, log terms, leader term, wcommit]
    const table: [number[], number[], number, number][] = [
      [[1], [1], 1, 1],
      [[1], [1], 2, 0],
      [[2], [1, 2], 2, 2],
      [[1], [2], 2, 1],
      [[2, 1, 1], [1, 2], 1, 1],
      [[2, 1, 1], [1, 1], 2, 0],
      [[2, 1, 2], [1, 2], 2, 2],
      [[2, 1, 2], [1, 1], 2, 0],
      [[2, 1, 1, 1], [1, 2], 1, 1],
      [[2, 1, 1, 1], [1, 1], 2, 0],
      [[2, 1, 1, 2], [1, 2], 1, 1],
      [[2, 1, 1, 2], [1, 1], 2, 0],
      [[2, 1, 2, 2], [1, 2], 2, 2],
      [[2, 1, 2, 2], [1, 1], 2, 0],
    ]
    for (const [i, [matches, terms, smTerm, w]] of table.entries()) {
      const s = newTestStorage([1n])
      s.append(entsAt(1, ...terms))
      s.setHardState({ term: smTerm, vote: 0n, commit: 0 })
      const r = newTestRaft(1n, 10, 2, s)
      matches.forEach((m, j) => {
        const id = BigInt(j + 1)
        if (id > 1n) r.applyConfChange(ccV2(ConfChangeType.ConfChangeAddNode, id))
        pr(r, id).match = m
        pr(r, id).next = m + 1
      })
      r.maybeCommit()
      assert.equal(r.raftLog.committed, w, `#${i}`)
    }
  })

  it('a follower appends per the AppendEntries rules', () => {
    // The follower's log is (1,1),(2,2). [message, wIndex, wCommit, wReject]
    const app = (
      term: number,
      logTerm: number,
      index: number,
      commit: number,
      ents: Entry[] = [],
    ): Message => msg({ type: MessageType.MsgApp, term, logTerm, index, commit, entries: ents })
    const table: [Message, number, number, boolean][] = [
      [app(2, 3, 2, 3), 2, 0, true], // previous entry mismatches
      [app(2, 3, 3, 3), 2, 0, true], // previous entry missing
      [app(2, 1, 1, 1), 2, 1, false],
      [app(2, 0, 0, 1, entsAt(1, 2)), 1, 1, false],
      [app(2, 2, 2, 3, entsAt(3, 2, 2)), 4, 3, false],
      [app(2, 2, 2, 4, entsAt(3, 2)), 3, 3, false],
      [app(2, 1, 1, 4, entsAt(2, 2)), 2, 2, false],
      [app(1, 1, 1, 3), 2, 1, false], // commit up to the last new entry
      [app(1, 1, 1, 3, entsAt(2, 2)), 2, 2, false],
      [app(2, 2, 2, 3), 2, 2, false],
      [app(2, 2, 2, 4), 2, 2, false], // commit up to the log's end
    ]
    for (const [i, [m, wIndex, wCommit, wReject]] of table.entries()) {
      const s = newTestStorage([1n])
      s.append(entsAt(1, 1, 2))
      const r = newTestRaft(1n, 10, 1, s)
      r.becomeFollower(2, 0n)
      r.handleAppendEntries(m)
      assert.equal(r.raftLog.lastIndex(), wIndex, `#${i}`)
      assert.equal(r.raftLog.committed, wCommit, `#${i}`)
      const out = readMessages(r)
      assert.equal(out.length, 1, `#${i}`)
      assert.equal(out[0]?.reject, wReject, `#${i}`)
    }
  })

  it('a heartbeat raises the commit index, never lowers it', () => {
    for (const [commit, wCommit] of [
      [3, 3],
      [1, 2],
    ] as const) {
      const s = newTestStorage([1n, 2n])
      s.append(entsAt(1, 1, 2, 3))
      const r = newTestRaft(1n, 5, 1, s)
      r.becomeFollower(2, 2n)
      r.raftLog.commitTo(2)
      r.handleHeartbeat(msg({ type: MessageType.MsgHeartbeat, from: 2n, to: 1n, term: 2, commit }))
      assert.equal(r.raftLog.committed, wCommit)
      const out = readMessages(r)
      assert.deepEqual(
        out.map((m) => m.type),
        [MessageType.MsgHeartbeatResp],
      )
    }
  })

  it('fast log rejection probes once per term', () => {
    // [leader log, follower log, follower compaction, hint term, hint index, next term, next index]
    const table: [number[], number[], number, number, number, number, number][] = [
      [[1, 2, 2, 4, 4, 4, 4], [1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3], 0, 3, 7, 2, 3],
      [[1, 2, 2, 3, 4, 4, 4, 5], [1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3], 0, 3, 8, 3, 4],
      [[1, 1, 1, 1], [1, 2, 2, 4], 0, 1, 1, 1, 1],
      [[1, 1, 1, 1, 1, 1], [1, 2, 2, 4], 0, 1, 1, 1, 1],
      [[1, 1, 1, 1], [1, 2, 2, 4, 4, 4], 0, 1, 1, 1, 1],
      [[1, 1, 1, 4, 5], [1, 1, 1, 4], 0, 4, 4, 4, 4],
      [[2, 5, 5, 5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], 0, 4, 6, 2, 1],
      [[2, 2, 2, 2, 2], [2, 4, 4, 4, 4, 4, 4, 4], 0, 2, 1, 2, 1],
      // A stale append reaching a follower that compacted past it.
      [[1, 1, 3], [1, 1, 3, 3, 3], 5, 0, 3, 1, 2],
    ]
    for (const [
      i,
      [lterms, fterms, compact, hintTerm, hintIndex, nextTerm, nextIndex],
    ] of table.entries()) {
      const last = lterms.length
      const lastTerm = lterms[last - 1] as number
      const s1 = newTestStorage([1n, 2n, 3n])
      s1.append(entsAt(1, ...lterms))
      s1.setHardState({ term: lastTerm - 1, vote: 0n, commit: last })
      const n1 = newTestRaft(1n, 10, 1, s1)
      n1.becomeCandidate()
      n1.becomeLeader()

      const s2 = newTestStorage([1n, 2n, 3n])
      s2.append(entsAt(1, ...fterms))
      s2.setHardState({ term: lastTerm, vote: 1n, commit: 0 })
      const n2 = newTestRaft(2n, 10, 1, s2)
      if (compact !== 0) s2.compact(compact)

      n2.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n }))
      let msgs = readMessages(n2)
      assert.deepEqual(
        msgs.map((m) => m.type),
        [MessageType.MsgHeartbeatResp],
        `#${i}`,
      )
      n1.step(msgs[0] as Message)
      msgs = readMessages(n1)
      assert.deepEqual(
        msgs.map((m) => m.type),
        [MessageType.MsgApp],
        `#${i}`,
      )
      n2.step(msgs[0] as Message)
      msgs = readMessages(n2)
      assert.equal(msgs.length, 1, `#${i}`)
      const resp = msgs[0] as Message
      assert.equal(resp.type, MessageType.MsgAppResp, `#${i}`)
      assert.ok(resp.reject, `#${i}`)
      assert.equal(resp.logTerm, hintTerm, `#${i} hint term`)
      assert.equal(resp.rejectHint, hintIndex, `#${i} hint index`)
      n1.step(resp)
      msgs = readMessages(n1)
      assert.equal(msgs[0]?.logTerm, nextTerm, `#${i} next term`)
      assert.equal(msgs[0]?.index, nextIndex, `#${i} next index`)
    }
  })

  it('a reordered rejection does not move the leader below the match', () => {
    const r1 = leader([1n, 2n], {}, 10)
    readMessages(r1)
    pr(r1, 2n).becomeReplicate()
    const r2 = newTestRaft(2n, 10, 1, newTestStorage([1n, 2n]))
    const one = (r: Raft): Message => {
      const msgs = readMessages(r)
      assert.equal(msgs.length, 1)
      return msgs[0] as Message
    }
    mustAppendEntry(r1, entry({ data: utf8('somedata') }))
    r1.sendAppend(2n)
    const req1 = one(r1)
    mustAppendEntry(r1, entry({ data: utf8('somedata') }))
    r1.sendAppend(2n)
    const req2 = one(r1)

    r2.step(req2)
    const resp2 = one(r2)
    assert.ok(resp2.reject)
    assert.equal(resp2.rejectHint, 0)
    assert.equal(resp2.index, 2)
    r2.step(req1)
    const m = one(r2)
    assert.ok(!m.reject)
    assert.equal(m.index, 2)
    r1.step(m)
    one(r1)
    assert.equal(pr(r1, 2n).match, 2)

    r1.step(msg({ type: MessageType.MsgUnreachable, from: 2n, to: 1n }))
    assert.equal(pr(r1, 2n).state, ProgressState.StateProbe)
    r1.step(resp2)
    assert.equal(one(r1).index, pr(r1, 2n).match)
  })
})

describe('CheckQuorum', () => {
  const cq = { checkQuorum: true }

  it('a leader hearing from a quorum stays; one that does not steps down', () => {
    const active = leader([1n, 2n, 3n], cq)
    for (let i = 0; i < active.electionTimeout + 1; i++) {
      active.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, term: active.term }))
      active.tick()
    }
    assert.equal(active.state, StateType.StateLeader)

    const lost = leader([1n, 2n, 3n], cq)
    for (let i = 0; i < lost.electionTimeout + 1; i++) lost.tick()
    assert.equal(lost.state, StateType.StateFollower)
  })

  const three = (o: Partial<Config>): [Raft, Raft, Raft] =>
    [1n, 2n, 3n].map((id) => newTestRaft(id, 10, 1, newTestStorage([1n, 2n, 3n]), o)) as [
      Raft,
      Raft,
      Raft,
    ]

  it('a follower in the leader lease refuses votes until its election timeout passes', () => {
    const [a, b, c] = three(cq)
    const nt = new Network([a, b, c])
    b.setRandomizedElectionTimeout(b.electionTimeout + 1)
    for (let i = 0; i < b.electionTimeout; i++) b.tick()
    nt.send(hup(1n))
    assert.equal(a.state, StateType.StateLeader)
    assert.equal(c.state, StateType.StateFollower)
    nt.send(hup(3n))
    assert.equal(c.state, StateType.StateCandidate, 'b is in the lease of a')
    for (let i = 0; i < b.electionTimeout; i++) b.tick()
    nt.send(hup(3n))
    assert.equal(c.state, StateType.StateLeader)
  })

  it('votes are granted right after start-up, before any lease', () => {
    const [a, b, c] = three(cq)
    const nt = new Network([a, b, c])
    a.setRandomizedElectionTimeout(a.electionTimeout + 1)
    b.setRandomizedElectionTimeout(b.electionTimeout + 2)
    nt.send(hup(1n))
    assert.equal(a.state, StateType.StateLeader)
    assert.equal(c.state, StateType.StateFollower)
    a.setRandomizedElectionTimeout(a.electionTimeout + 1)
    b.setRandomizedElectionTimeout(b.electionTimeout + 2)
    for (let i = 0; i < a.electionTimeout; i++) a.tick()
    for (let i = 0; i < b.electionTimeout; i++) b.tick()
    nt.send(hup(3n))
    assert.equal(a.state, StateType.StateFollower)
    assert.equal(c.state, StateType.StateLeader)
  })

  it('a stuck candidate of a higher term frees itself by disrupting the leader', () => {
    const [a, b, c] = three(cq)
    const nt = new Network([a, b, c])
    b.setRandomizedElectionTimeout(b.electionTimeout + 1)
    for (let i = 0; i < b.electionTimeout; i++) b.tick()
    nt.send(hup(1n))
    nt.isolate(1)
    nt.send(hup(3n))
    assert.equal(b.state, StateType.StateFollower)
    assert.equal(c.state, StateType.StateCandidate)
    assert.equal(c.term, b.term + 1)
    nt.send(hup(3n))
    assert.equal(c.state, StateType.StateCandidate)
    assert.equal(c.term, b.term + 2)
    nt.recover()
    nt.send(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 3n, term: a.term }))
    assert.equal(a.state, StateType.StateFollower)
    assert.equal(c.term, a.term)
    nt.send(hup(3n))
    assert.equal(c.state, StateType.StateLeader)
  })

  it('a non-promotable node still follows the leader', () => {
    const a = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n]), cq)
    const b = newTestRaft(2n, 10, 1, newTestStorage([1n]), cq)
    const nt = new Network([a, b])
    b.setRandomizedElectionTimeout(b.electionTimeout + 1)
    assert.equal(b.promotable(), false)
    for (let i = 0; i < b.electionTimeout; i++) b.tick()
    nt.send(hup(1n))
    assert.equal(a.state, StateType.StateLeader)
    assert.equal(b.state, StateType.StateFollower)
    assert.equal(b.lead, 1n)
  })

  it('a follower that timed out deposes the leader through its answer to a late heartbeat', () => {
    const [n1, n2, n3] = three(cq)
    for (const r of [n1, n2, n3]) r.becomeFollower(1, 0n)
    const nt = new Network([n1, n2, n3])
    nt.send(hup(1n))
    assert.equal(n1.state, StateType.StateLeader)
    n3.setRandomizedElectionTimeout(n3.electionTimeout + 2)
    for (let i = 0; i < n3.randomizedElectionTimeout; i++) n3.tick()
    assert.equal(n3.state, StateType.StateCandidate)
    assert.deepEqual([n1.term, n2.term, n3.term], [2, 2, 3])
    nt.send(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 3n, term: n1.term }))
    assert.deepEqual(
      [n1.state, n2.state, n3.state],
      [StateType.StateFollower, StateType.StateFollower, StateType.StateCandidate],
    )
    assert.deepEqual([n1.term, n2.term, n3.term], [3, 2, 3])
  })

  it('with pre-vote, a follower with a shorter log cannot disrupt the leader', () => {
    const [n1, n2, n3] = three(cq)
    for (const r of [n1, n2, n3]) r.becomeFollower(1, 0n)
    const nt = new Network([n1, n2, n3])
    nt.send(hup(1n))
    nt.isolate(3)
    for (let i = 0; i < 3; i++) nt.send(propMsg(1n, utf8('somedata')))
    for (const r of [n1, n2, n3]) setOption(r, 'preVote', true)
    nt.recover()
    nt.send(hup(3n))
    assert.deepEqual(
      [n1.state, n2.state, n3.state],
      [StateType.StateLeader, StateType.StateFollower, StateType.StatePreCandidate],
    )
    assert.deepEqual([n1.term, n2.term, n3.term], [2, 2, 2])
    nt.send(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 3n, term: n1.term }))
    assert.equal(n1.state, StateType.StateLeader)
  })

  it('adding a node does not trigger an immediate quorum check failure', () => {
    const r = newTestRaft(1n, 10, 1, newTestStorage([1n]), cq)
    r.becomeCandidate()
    r.becomeLeader()
    for (let i = 0; i < r.electionTimeout - 1; i++) r.tick()
    r.applyConfChange(ccV2(ConfChangeType.ConfChangeAddNode, 2n))
    r.tick()
    assert.equal(r.state, StateType.StateLeader, 'the new peer counts as recently active')
    for (let i = 0; i < r.electionTimeout; i++) r.tick()
    assert.equal(r.state, StateType.StateFollower)
  })
})

describe('pre-vote', () => {
  const pv = { preVote: true }
  const three = (o: Partial<Config>): [Raft, Raft, Raft] => {
    const rs = [1n, 2n, 3n].map((id) => newTestRaft(id, 10, 1, newTestStorage([1n, 2n, 3n]), o))
    for (const r of rs) r.becomeFollower(1, 0n)
    return rs as [Raft, Raft, Raft]
  }

  it('a node with a smaller term can complete an election', () => {
    const [n1, n2, n3] = three(pv)
    const nt = new Network([n1, n2, n3])
    nt.cut(1, 3)
    nt.cut(2, 3)
    nt.send(hup(1n))
    assert.equal(n1.state, StateType.StateLeader)
    assert.equal(n2.state, StateType.StateFollower)
    nt.send(hup(3n))
    assert.equal(n3.state, StateType.StatePreCandidate)
    nt.send(hup(2n))
    assert.deepEqual([n1.term, n2.term, n3.term], [3, 3, 1])
    assert.deepEqual(
      [n1.state, n2.state, n3.state],
      [StateType.StateFollower, StateType.StateLeader, StateType.StatePreCandidate],
    )
    nt.recover()
    nt.cut(2, 1)
    nt.cut(2, 3)
    nt.send(hup(3n))
    nt.send(hup(1n))
    assert.ok(stateOf(n1) === StateType.StateLeader || stateOf(n3) === StateType.StateLeader)
  })

  it('after a split vote the next round elects a leader', () => {
    const [n1, n2, n3] = three(pv)
    const nt = new Network([n1, n2, n3])
    nt.send(hup(1n))
    nt.isolate(1)
    nt.send(hup(2n), hup(3n))
    assert.deepEqual([n2.term, n3.term], [3, 3])
    assert.deepEqual([n2.state, n3.state], [StateType.StateCandidate, StateType.StateCandidate])
    nt.send(hup(2n))
    assert.deepEqual([n2.term, n3.term], [4, 4])
    assert.deepEqual([n2.state, n3.state], [StateType.StateLeader, StateType.StateFollower])
  })

  it('with CheckQuorum, followers in the lease ignore pre-votes until it expires', () => {
    const [n1, n2, n3] = three({ preVote: true, checkQuorum: true })
    const nt = new Network([n1, n2, n3])
    nt.send(hup(1n))
    nt.isolate(1)
    assert.equal(n1.state, StateType.StateLeader)
    nt.send(hup(3n))
    nt.send(hup(2n))
    assert.ok(n2.state === StateType.StateLeader || n3.state === StateType.StateFollower)
  })

  /** n1 leads at term 2, n2 follows, n3 (no pre-vote yet) was partitioned up to term 4. */
  function migrationCluster(): [Network, Raft, Raft, Raft] {
    const n1 = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n, 3n]), pv)
    const n2 = newTestRaft(2n, 10, 1, newTestStorage([1n, 2n, 3n]), pv)
    const n3 = newTestRaft(3n, 10, 1, newTestStorage([1n, 2n, 3n]))
    for (const r of [n1, n2, n3]) r.becomeFollower(1, 0n)
    const nt = new Network([n1, n2, n3])
    nt.send(hup(1n))
    nt.isolate(3)
    nt.send(propMsg(1n, utf8('some data')))
    nt.send(hup(3n))
    nt.send(hup(3n))
    assert.deepEqual(
      [n1.state, n2.state, n3.state],
      [StateType.StateLeader, StateType.StateFollower, StateType.StateCandidate],
    )
    assert.deepEqual([n1.term, n2.term, n3.term], [2, 2, 4])
    setOption(n3, 'preVote', true)
    nt.recover()
    return [nt, n1, n2, n3]
  }

  it('a migrating cluster can complete an election', () => {
    const [nt, , n2, n3] = migrationCluster()
    nt.isolate(1)
    nt.send(hup(3n))
    nt.send(hup(2n))
    assert.equal(n2.state, StateType.StateFollower)
    assert.equal(n3.state, StateType.StatePreCandidate)
    nt.send(hup(3n))
    nt.send(hup(2n))
    assert.ok(stateOf(n2) === StateType.StateLeader || stateOf(n3) === StateType.StateFollower)
  })

  it('a migrating cluster frees a stuck pre-candidate of a higher term', () => {
    const [nt, n1, n2, n3] = migrationCluster()
    nt.send(hup(3n))
    assert.deepEqual(
      [n1.state, n2.state, n3.state],
      [StateType.StateLeader, StateType.StateFollower, StateType.StatePreCandidate],
    )
    nt.send(hup(3n))
    assert.equal(n3.state, StateType.StatePreCandidate)
    nt.send(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 3n, term: n1.term }))
    assert.equal(n1.state, StateType.StateFollower)
    assert.equal(n1.term, n3.term)
  })
})

describe('membership', () => {
  it('a conf change proposal sets pendingConfIndex; a second one becomes an empty entry', () => {
    const r = leader([1n, 2n], {}, 10)
    const index = r.raftLog.lastIndex()
    const cc = (): Message =>
      msg({
        type: MessageType.MsgProp,
        from: 1n,
        to: 1n,
        entries: [entry({ type: EntryType.EntryConfChange })],
      })
    r.step(cc())
    assert.equal(r.raftLog.lastIndex(), index + 1)
    assert.equal(r.pendingConfIndex, index + 1)
    const pending = r.pendingConfIndex
    r.step(cc())
    assert.deepEqual(r.raftLog.entries(index + 2, Infinity), [
      entry({ type: EntryType.EntryNormal, term: 1, index: 3 }),
    ])
    assert.equal(r.pendingConfIndex, pending)
  })

  it('a new leader waits for every entry of its log to apply before a conf change', () => {
    for (const [addEntry, wpending] of [
      [false, 0],
      [true, 1],
    ] as const) {
      const r = newTestRaft(1n, 10, 1, newTestStorage([1n, 2n]))
      if (addEntry) mustAppendEntry(r, entry({}))
      r.becomeCandidate()
      r.becomeLeader()
      assert.equal(r.pendingConfIndex, wpending)
    }
  })

  it('adding and removing voters and learners', () => {
    const r = newTestRaft(1n, 10, 1, newTestStorage([1n]))
    r.applyConfChange(ccV2(ConfChangeType.ConfChangeAddNode, 2n))
    assert.deepEqual(r.trk.voterNodes(), [1n, 2n])
    r.applyConfChange(ccV2(ConfChangeType.ConfChangeAddLearnerNode, 3n))
    assert.deepEqual(r.trk.learnerNodes(), [3n])
    assert.ok(pr(r, 3n).isLearner)
    r.applyConfChange(ccV2(ConfChangeType.ConfChangeAddNode, 3n))
    assert.equal(pr(r, 3n).isLearner, false)
    r.applyConfChange(ccV2(ConfChangeType.ConfChangeAddLearnerNode, 1n))
    assert.ok(r.isLearner)
    r.applyConfChange(ccV2(ConfChangeType.ConfChangeAddNode, 1n))
    assert.equal(r.isLearner, false)
    r.applyConfChange(ccV2(ConfChangeType.ConfChangeRemoveNode, 2n))
    r.applyConfChange(ccV2(ConfChangeType.ConfChangeRemoveNode, 3n))
    assert.deepEqual(r.trk.voterNodes(), [1n])
    assert.throws(
      () => r.applyConfChange(ccV2(ConfChangeType.ConfChangeRemoveNode, 1n)),
      /removed all voters/,
    )
  })

  it('promotable only as a voter', () => {
    const table: [NodeId[], boolean][] = [
      [[1n], true],
      [[1n, 2n, 3n], true],
      [[], false],
      [[2n, 3n], false],
    ]
    for (const [peers, wp] of table) {
      assert.equal(newTestRaft(1n, 5, 1, newTestStorage(peers)).promotable(), wp)
    }
  })

  it('removing a node lowers the quorum and commits pending entries', () => {
    const s = newTestStorage([1n, 2n])
    const r = newTestRaft(1n, 5, 1, s)
    r.becomeCandidate()
    r.becomeLeader()
    const cc = {
      id: 0n,
      type: ConfChangeType.ConfChangeRemoveNode,
      nodeId: 2n,
      context: new Uint8Array(0),
    }
    const { type, data } = marshalConfChange(cc)
    r.step(msg({ type: MessageType.MsgProp, entries: [entry({ type, data })] }))
    assert.deepEqual(nextEnts(r, s), [])
    const ccIndex = r.raftLog.lastIndex()
    r.step(msg({ type: MessageType.MsgProp, entries: [entry({ data: utf8('hello') })] }))
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, index: ccIndex }))
    let ents = nextEnts(r, s)
    assert.deepEqual(
      ents.map((e) => [e.type, e.data.length]),
      [
        [EntryType.EntryNormal, 0],
        [EntryType.EntryConfChange, data.length],
      ],
    )
    r.applyConfChange(asV2(cc))
    ents = nextEnts(r, s)
    assert.deepEqual(
      ents.map((e) => e.data),
      [utf8('hello')],
    )
  })

  it('a node removed from the group ignores MsgTimeoutNow and cannot win', () => {
    const r = newTestRaft(1n, 5, 1, newTestStorage([2n, 3n, 4n]))
    r.step(msg({ type: MessageType.MsgTimeoutNow, from: 2n, to: 1n }))
    r.step(msg({ type: MessageType.MsgVoteResp, from: 2n, to: 1n }))
    r.step(msg({ type: MessageType.MsgVoteResp, from: 3n, to: 1n }))
    assert.equal(r.state, StateType.StateFollower)
  })

  for (const v2 of [false, true]) {
    it(`a committed but unapplied conf change blocks campaigning (v2=${v2})`, () => {
      const nt = new Network([null, null, null])
      const n1 = nt.raft(1)
      const n2 = nt.raft(2)
      nt.send(hup(1n))
      assert.equal(n1.state, StateType.StateLeader)
      const cc = {
        id: 0n,
        type: ConfChangeType.ConfChangeRemoveNode,
        nodeId: 2n,
        context: new Uint8Array(0),
      }
      const { type, data } = marshalConfChange(v2 ? asV2(cc) : cc)
      nt.send(
        msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [entry({ type, data })] }),
      )
      for (let i = 0; i < n2.randomizedElectionTimeout; i++) n2.tick()
      assert.equal(n2.state, StateType.StateFollower)
      nt.send(msg({ type: MessageType.MsgTransferLeader, from: 2n, to: 1n }))
      assert.equal(n1.state, StateType.StateLeader)
      assert.equal(n2.state, StateType.StateFollower)
      for (let i = 0; i < n1.electionTimeout; i++) n1.tick() // abort the transfer
      nextEnts(n2, nt.storageOf(2))
      nt.send(msg({ type: MessageType.MsgTransferLeader, from: 2n, to: 1n }))
      assert.equal(n1.state, StateType.StateFollower)
      assert.equal(n2.state, StateType.StateLeader)
      nextEnts(n1, nt.storageOf(1))
      for (let i = 0; i < n1.randomizedElectionTimeout; i++) n1.tick()
      assert.equal(n1.state, StateType.StateCandidate)
    })
  }
})
