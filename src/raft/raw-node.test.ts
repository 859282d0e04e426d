// RawNode, the application's handle on the core, after etcd-io/raft rawnode_test.go: the
// Ready/Advance cycle (start, restart, pagination, conf changes, auto-leave, ReadIndex, bounded log
// growth) driven the way an application would, persisting each Ready into a MemoryStorage. Also the
// bad input RawNode.step must refuse (local message types from the network, responses from unknown
// peers) with nothing changed, and the RawNode forms of propose, transfer and snapshot reports.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { RawNode } from './raw-node.js'
import { raftOf } from './internal.js'
import { StateType, type Ready } from './ready.js'
import {
  confChangeFromEntry,
  enterJoint,
  marshalConfChange,
  unmarshalConfChangeV2,
} from './raftpb/confchange.js'
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  LocalAppendThread,
  LocalApplyThread,
  MessageType,
  emptyConfState,
  entry,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type Snapshot,
} from './raftpb/types.js'
import { errorCode, msg, newTestConfig, newTestStorage, utf8 } from './rafttest/network.js'
import { MemoryStorage } from './storage.js'
import { enqueue, entrySize, isLocalMsg, isResponseMsg, payloadSize } from './util.js'
import type { Config } from './config.js'
import { StateType as ProgressState } from './tracker/state.js'

function confState(cs: Partial<ConfState>): ConfState {
  return { ...emptyConfState(), ...cs }
}

function v2(
  changes: [ConfChangeType, NodeId][],
  transition = ConfChangeTransition.ConfChangeTransitionAuto,
): ConfChangeV2 {
  return {
    transition,
    changes: changes.map(([type, nodeId]) => ({ type, nodeId })),
    context: new Uint8Array(0),
  }
}

function v1(type: ConfChangeType, nodeId: NodeId): ConfChange {
  return { id: 0n, type, nodeId, context: new Uint8Array(0) }
}

/**
 * Handles Readys the simple way until none is left: persist entries and hard state, apply conf
 * changes, advance. Returns the messages the node wanted to send.
 */
function drain(rn: RawNode, s: MemoryStorage): Message[] {
  const out: Message[] = []
  for (let i = 0; rn.hasReady(); i++) {
    assert.ok(i < 100, 'Ready loop did not settle')
    const rd = rn.ready()
    persist(s, rd)
    for (const e of rd.committedEntries) {
      const cc = confChangeFromEntry(e)
      if (cc !== undefined) rn.applyConfChange(cc)
    }
    out.push(...rd.messages)
    rn.advance()
  }
  return out
}

function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== null) s.applySnapshot(rd.snapshot)
  s.append(rd.entries)
  if (rd.hardState !== null) s.setHardState(rd.hardState)
}

/** Node 1 of `peers`, elected with the vote of node 2, with every Ready handled. */
function leaderRawNode(peers: NodeId[], overrides: Partial<Config> = {}): [RawNode, MemoryStorage] {
  const s = newTestStorage(peers)
  const rn = new RawNode(newTestConfig(1n, 10, 1, s, overrides))
  rn.campaign()
  drain(rn, s)
  rn.step(msg({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: raftOf(rn).term }))
  drain(rn, s)
  assert.equal(raftOf(rn).state, StateType.StateLeader)
  return [rn, s]
}

/** Everything observable about a node, to show that a refused step changed nothing. */
function observe(rn: RawNode): unknown {
  const st = rn.status()
  const r = raftOf(rn)
  return {
    basic: rn.basicStatus(),
    config: st.config.toString(),
    progress: [...st.progress].map(([id, p]) => [id, p.toString(), p.sentCommitIndex]),
    hasReady: rn.hasReady(),
    msgs: r.msgs.length,
    msgsAfterAppend: r.msgsAfterAppend.length,
    readStates: r.readStates.length,
    last: r.raftLog.lastEntryID(),
    elapsed: [r.electionElapsed, r.heartbeatElapsed, r.randomizedElectionTimeout],
    pendingReads: r.readOnly.pendingCount(),
    uncommitted: r.uncommittedSize,
  }
}

const allTypes = Object.values(MessageType).filter((v): v is MessageType => typeof v === 'number')

describe('RawNode.step refuses bad input', () => {
  it('a local message type from a network peer throws STEP_LOCAL_MSG and changes nothing', () => {
    const locals = allTypes.filter(isLocalMsg)
    assert.deepEqual(
      locals.map((t) => MessageType[t]),
      [
        'MsgHup',
        'MsgBeat',
        'MsgUnreachable',
        'MsgSnapStatus',
        'MsgCheckQuorum',
        'MsgStorageAppend',
        'MsgStorageAppendResp',
        'MsgStorageApply',
        'MsgStorageApplyResp',
      ],
    )
    for (const role of ['follower', 'leader'] as const) {
      for (const type of locals) {
        let rn: RawNode
        if (role === 'leader') rn = leaderRawNode([1n, 2n, 3n])[0]
        else rn = new RawNode(newTestConfig(1n, 10, 1, newTestStorage([1n, 2n, 3n])))
        const before = observe(rn)
        const m = msg({ type, from: 2n, to: 1n, term: raftOf(rn).term, reject: true })
        if (type === MessageType.MsgStorageApplyResp) m.entries = [entry({ index: 1, term: 1 })]
        assert.equal(
          errorCode(() => rn.step(m)),
          'STEP_LOCAL_MSG',
          `${role} ${MessageType[type]}`,
        )
        assert.deepEqual(observe(rn), before, `${role} ${MessageType[type]}`)
      }
    }
  })

  it('a response from an unknown peer throws STEP_PEER_NOT_FOUND and changes nothing', () => {
    const responses = allTypes.filter((t) => isResponseMsg(t) && !isLocalMsg(t))
    assert.deepEqual(
      responses.map((t) => MessageType[t]),
      ['MsgAppResp', 'MsgVoteResp', 'MsgHeartbeatResp', 'MsgReadIndexResp', 'MsgPreVoteResp'],
    )
    for (const type of responses) {
      const [rn] = leaderRawNode([1n, 2n, 3n])
      const before = observe(rn)
      const m = msg({ type, from: 9n, to: 1n, term: raftOf(rn).term + 1, index: 1 })
      assert.equal(
        errorCode(() => rn.step(m)),
        'STEP_PEER_NOT_FOUND',
        MessageType[type],
      )
      assert.deepEqual(observe(rn), before, MessageType[type])
    }
  })

  it('the same messages from the right senders are accepted', () => {
    const [rn] = leaderRawNode([1n, 2n, 3n])
    rn.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n, term: raftOf(rn).term }))
    rn.step(msg({ type: MessageType.MsgStorageApplyResp, from: LocalApplyThread, to: 1n }))
    rn.step(msg({ type: MessageType.MsgStorageAppendResp, from: LocalAppendThread, to: 1n }))
    assert.equal(raftOf(rn).state, StateType.StateLeader)
  })

  it('every message type from a bootstrapped single node: only local types are refused', () => {
    for (const type of allTypes) {
      const s = new MemoryStorage()
      s.setHardState({ term: 1, vote: 0n, commit: 1 })
      s.append([entry({ term: 1, index: 1 })])
      s.applySnapshot({
        data: new Uint8Array(0),
        metadata: { index: 1, term: 1, confState: confState({ voters: [1n] }) },
      })
      const rn = new RawNode(newTestConfig(1n, 10, 1, s))
      const code = errorCode(() => rn.step(msg({ type })))
      if (isLocalMsg(type)) assert.equal(code, 'STEP_LOCAL_MSG', MessageType[type])
      else assert.notEqual(code, 'STEP_LOCAL_MSG', MessageType[type])
    }
  })
})

describe('RawNode proposals and conf changes', () => {
  const A = ConfChangeType.ConfChangeAddNode
  const L = ConfChangeType.ConfChangeAddLearnerNode
  const T = ConfChangeTransition
  const cases: [string, ConfChange | ConfChangeV2, ConfState, ConfState | null][] = [
    ['V1 add voter', v1(A, 2n), confState({ voters: [1n, 2n] }), null],
    ['V2 add voter, no joint', v2([[A, 2n]]), confState({ voters: [1n, 2n] }), null],
    ['V2 add learner', v2([[L, 2n]]), confState({ voters: [1n], learners: [2n] }), null],
    [
      'explicit joint',
      v2([[L, 2n]], T.ConfChangeTransitionJointExplicit),
      confState({ voters: [1n], votersOutgoing: [1n], learners: [2n] }),
      confState({ voters: [1n], learners: [2n] }),
    ],
    [
      'implicit joint',
      v2([[L, 2n]], T.ConfChangeTransitionJointImplicit),
      confState({ voters: [1n], votersOutgoing: [1n], learners: [2n], autoLeave: true }),
      confState({ voters: [1n], learners: [2n] }),
    ],
    [
      'add n2, demote n1 (LearnersNext)',
      v2([
        [A, 2n],
        [L, 1n],
        [L, 3n],
      ]),
      confState({
        voters: [2n],
        votersOutgoing: [1n],
        learners: [3n],
        learnersNext: [1n],
        autoLeave: true,
      }),
      confState({ voters: [2n], learners: [1n, 3n] }),
    ],
    [
      'add n2, demote n1, explicit',
      v2(
        [
          [A, 2n],
          [L, 1n],
          [L, 3n],
        ],
        T.ConfChangeTransitionJointExplicit,
      ),
      confState({ voters: [2n], votersOutgoing: [1n], learners: [3n], learnersNext: [1n] }),
      confState({ voters: [2n], learners: [1n, 3n] }),
    ],
    [
      'add n2, demote n1, implicit',
      v2(
        [
          [A, 2n],
          [L, 1n],
          [L, 3n],
        ],
        T.ConfChangeTransitionJointImplicit,
      ),
      confState({
        voters: [2n],
        votersOutgoing: [1n],
        learners: [3n],
        learnersNext: [1n],
        autoLeave: true,
      }),
      confState({ voters: [2n], learners: [1n, 3n] }),
    ],
  ]

  for (const [name, cc, exp, exp2] of cases) {
    it(`propose and apply: ${name}`, () => {
      const s = newTestStorage([1n])
      const rn = new RawNode(newTestConfig(1n, 10, 1, s))
      rn.campaign()
      let proposed = false
      let cs: ConfState | null = null
      for (let i = 0; cs === null; i++) {
        assert.ok(i < 20, 'the conf change never applied')
        const rd = rn.ready()
        s.append(rd.entries)
        for (const e of rd.committedEntries) {
          const c = confChangeFromEntry(e)
          if (c !== undefined) cs = rn.applyConfChange(c)
        }
        rn.advance()
        if (!proposed && rd.softState?.lead === 1n) {
          rn.propose(utf8('somedata'))
          rn.proposeConfChange(cc)
          proposed = true
        }
      }
      const lastIndex = s.lastIndex()
      const ents = s.entries(lastIndex - 1, lastIndex + 1, Infinity)
      assert.equal(ents.length, 2)
      assert.deepEqual(ents[0]?.data, utf8('somedata'))
      const { type, data } = marshalConfChange(cc)
      assert.equal(ents[1]?.type, type)
      assert.deepEqual(ents[1]?.data, data)
      assert.deepEqual(cs, exp)

      const joint = 'changes' in cc ? enterJoint(cc) : { ok: false, autoLeave: false }
      const plusOne = joint.ok && joint.autoLeave ? 1 : 0
      assert.equal(raftOf(rn).pendingConfIndex, lastIndex + plusOne)

      let rd = rn.ready()
      let context: Uint8Array = new Uint8Array(0)
      if (!exp.autoLeave) {
        assert.deepEqual(rd.entries, [])
        rn.advance()
        if (exp2 === null) return
        context = utf8('manual')
        rn.proposeConfChange({ transition: T.ConfChangeTransitionAuto, changes: [], context })
        rd = rn.ready()
      }
      assert.equal(rd.entries.length, 1)
      assert.equal(rd.entries[0]?.type, EntryType.EntryConfChangeV2)
      const leave = unmarshalConfChangeV2((rd.entries[0] as Entry).data)
      assert.deepEqual(leave, { transition: T.ConfChangeTransitionAuto, changes: [], context })
      // Pretend it applied: with the joint quorum a single node cannot commit it.
      assert.deepEqual(rn.applyConfChange(leave), exp2)
      rn.advance()
    })
  }

  it('auto-leave waits while the node is not leader and resumes once it leads again', () => {
    const testCc = v2(
      [[ConfChangeType.ConfChangeAddLearnerNode, 2n]],
      ConfChangeTransition.ConfChangeTransitionJointImplicit,
    )
    const s = newTestStorage([1n])
    const rn = new RawNode(newTestConfig(1n, 10, 1, s))
    rn.campaign()
    let proposed = false
    let cs: ConfState | null = null
    for (let i = 0; cs === null; i++) {
      assert.ok(i < 20)
      const rd = rn.ready()
      s.append(rd.entries)
      for (const e of rd.committedEntries) {
        const c = confChangeFromEntry(e)
        if (c === undefined) continue
        // Lose leadership just before applying the change.
        rn.step(msg({ type: MessageType.MsgHeartbeatResp, from: 1n, term: raftOf(rn).term + 1 }))
        cs = rn.applyConfChange(c)
      }
      rn.advance()
      if (!proposed && rd.softState?.lead === 1n) {
        rn.propose(utf8('somedata'))
        rn.proposeConfChange(testCc)
        proposed = true
      }
    }
    assert.deepEqual(
      cs,
      confState({ voters: [1n], votersOutgoing: [1n], learners: [2n], autoLeave: true }),
    )
    assert.equal(raftOf(rn).pendingConfIndex, 0)
    assert.deepEqual(rn.ready().entries, [], 'a follower does not leave the joint config')
    rn.advance()

    rn.campaign()
    for (let i = 0; i < 3; i++) {
      const rd = rn.ready()
      s.append(rd.entries)
      rn.advance()
    }
    const rd = rn.ready()
    s.append(rd.entries)
    assert.equal(rd.entries.length, 1)
    assert.equal(rd.entries[0]?.type, EntryType.EntryConfChangeV2)
    const leave = unmarshalConfChangeV2((rd.entries[0] as Entry).data)
    assert.deepEqual(leave.changes, [])
    assert.deepEqual(rn.applyConfChange(leave), confState({ voters: [1n], learners: [2n] }))
  })

  it('adding the same node twice does not block a later change', () => {
    const s = newTestStorage([1n])
    const rn = new RawNode(newTestConfig(1n, 10, 1, s))
    drain(rn, s)
    rn.campaign()
    drain(rn, s)
    assert.equal(raftOf(rn).state, StateType.StateLeader)
    const proposeAndApply = (cc: ConfChange): void => {
      rn.proposeConfChange(cc)
      drain(rn, s)
    }
    const cc1 = v1(ConfChangeType.ConfChangeAddNode, 1n)
    proposeAndApply(cc1)
    proposeAndApply(cc1)
    const cc2 = v1(ConfChangeType.ConfChangeAddNode, 2n)
    proposeAndApply(cc2)
    const last = s.lastIndex()
    const ents = s.entries(last - 2, last + 1, Infinity)
    assert.equal(ents.length, 3)
    assert.deepEqual(ents[0]?.data, marshalConfChange(cc1).data)
    assert.deepEqual(ents[2]?.data, marshalConfChange(cc2).data)
  })

  it('DisableProposalForwarding: a follower refuses proposals with PROPOSAL_DROPPED', () => {
    for (const disable of [false, true]) {
      const s = newTestStorage([1n, 2n, 3n])
      const rn = new RawNode(newTestConfig(2n, 10, 1, s, { disableProposalForwarding: disable }))
      rn.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 }))
      drain(rn, s)
      assert.equal(raftOf(rn).lead, 1n)
      const code = errorCode(() => rn.propose(utf8('x')))
      const out = drain(rn, s).filter((m) => m.type === MessageType.MsgProp)
      if (disable) {
        assert.equal(code, 'PROPOSAL_DROPPED')
        assert.deepEqual(out, [])
      } else {
        assert.equal(code, null)
        assert.deepEqual(
          out.map((m) => [m.to, m.entries[0]?.data]),
          [[1n, utf8('x')]],
        )
      }
    }
  })

  it('a node without a leader refuses proposals', () => {
    const rn = new RawNode(newTestConfig(1n, 10, 1, newTestStorage([1n, 2n, 3n])))
    assert.equal(
      errorCode(() => rn.propose(utf8('x'))),
      'PROPOSAL_DROPPED',
    )
    assert.equal(
      errorCode(() => rn.proposeConfChange(v1(ConfChangeType.ConfChangeAddNode, 4n))),
      'PROPOSAL_DROPPED',
    )
  })

  it('MaxUncommittedEntriesSize bounds the log of a partitioned leader; applying frees it', () => {
    const maxEntries = 16
    const data = utf8('testdata')
    const maxEntrySize = maxEntries * payloadSize(entry({ data }))
    const s = newTestStorage([1n])
    const rn = new RawNode(newTestConfig(1n, 10, 1, s, { maxUncommittedEntriesSize: maxEntrySize }))
    rn.campaign()
    for (let i = 0; i < 10; i++) {
      const rd = rn.ready()
      s.append(rd.entries)
      rn.advance()
      if (rd.committedEntries.length > 0) break
    }
    // Nothing is persisted while the proposals come in: they cannot commit.
    let dropped = 0
    for (let i = 0; i < 1024; i++) {
      if (errorCode(() => rn.propose(data)) === 'PROPOSAL_DROPPED') dropped++
    }
    assert.equal(dropped, 1024 - maxEntries)
    assert.equal(raftOf(rn).uncommittedSize, maxEntrySize)

    let rd = rn.ready()
    assert.equal(rd.entries.length, maxEntries)
    s.append(rd.entries)
    rn.advance()
    assert.equal(raftOf(rn).uncommittedSize, maxEntrySize, 'appended is not applied')
    rd = rn.ready()
    assert.deepEqual(rd.entries, [])
    assert.equal(rd.committedEntries.length, maxEntries)
    rn.advance()
    assert.equal(raftOf(rn).uncommittedSize, 0)
  })
})

describe('RawNode Ready/Advance', () => {
  it('ReadStates come out in a Ready and are reset after it', () => {
    const s = newTestStorage([1n])
    const rn = new RawNode(newTestConfig(1n, 10, 1, s))
    const wrs = [{ index: 1, requestCtx: utf8('somedata') }]
    raftOf(rn).readStates = wrs
    assert.ok(rn.hasReady())
    const rd = rn.ready()
    assert.deepEqual(rd.readStates, wrs)
    s.append(rd.entries)
    rn.advance()
    assert.deepEqual(raftOf(rn).readStates, [])

    rn.campaign()
    drain(rn, s)
    assert.equal(raftOf(rn).state, StateType.StateLeader)
    rn.readIndex(utf8('somedata2'))
    assert.ok(rn.hasReady())
    const rd2 = rn.ready()
    assert.deepEqual(rd2.readStates, [
      { index: raftOf(rn).raftLog.committed, requestCtx: utf8('somedata2') },
    ])
    rn.advance()
  })

  it('start: a bootstrapped node campaigns, proposes and applies', () => {
    const storage = new MemoryStorage()
    // Bootstrap by snapshot at index 1, so the log proper starts at index 2.
    storage.applySnapshot({
      data: new Uint8Array(0),
      metadata: { index: 1, term: 0, confState: confState({ voters: [1n] }) },
    })
    const rn = new RawNode(newTestConfig(1n, 10, 1, storage))
    assert.equal(rn.hasReady(), false)
    rn.campaign()
    let rd = rn.ready()
    storage.append(rd.entries)
    rn.advance()
    rn.propose(utf8('foo'))
    assert.ok(rn.hasReady())
    rd = rn.ready()
    const entries = [entry({ term: 1, index: 2 }), entry({ term: 1, index: 3, data: utf8('foo') })]
    assert.deepEqual(rd.entries, entries)
    storage.append(rd.entries)
    rn.advance()
    assert.ok(rn.hasReady())
    rd = rn.ready()
    assert.deepEqual(rd.entries, [])
    assert.equal(rd.mustSync, false, 'applying alone needs no fsync')
    rn.advance()
    assert.deepEqual(rd.hardState, { term: 1, vote: 1n, commit: 3 })
    assert.deepEqual(rd.committedEntries, entries)
    assert.deepEqual(rd.messages, [])
    assert.equal(rd.snapshot, null)
    assert.equal(rn.hasReady(), false)
  })

  it('restart: committed entries are handed out again, the hard state is not', () => {
    const entries = [entry({ term: 1, index: 1 }), entry({ term: 1, index: 2, data: utf8('foo') })]
    const storage = newTestStorage([1n])
    storage.setHardState({ term: 1, vote: 0n, commit: 1 })
    storage.append(entries)
    const rn = new RawNode(newTestConfig(1n, 10, 1, storage))
    const rd = rn.ready()
    assert.equal(rd.hardState, null)
    assert.deepEqual(rd.committedEntries, entries.slice(0, 1))
    assert.equal(rd.mustSync, false)
    assert.deepEqual(rd.messages, [])
    rn.advance()
    assert.equal(rn.hasReady(), false)
  })

  it('restart from a snapshot: only entries after it are applied', () => {
    const snap: Snapshot = {
      data: new Uint8Array(0),
      metadata: { index: 2, term: 1, confState: confState({ voters: [1n, 2n] }) },
    }
    const entries = [entry({ term: 1, index: 3, data: utf8('foo') })]
    const s = new MemoryStorage()
    s.setHardState({ term: 1, vote: 0n, commit: 3 })
    s.applySnapshot(snap)
    s.append(entries)
    const rn = new RawNode(newTestConfig(1n, 10, 1, s))
    const rd = rn.ready()
    assert.equal(rd.hardState, null)
    assert.deepEqual(rd.committedEntries, entries)
    assert.equal(rd.mustSync, false)
    rn.advance()
    assert.equal(rn.hasReady(), false)
  })

  it('status shows progress only on a leader', () => {
    const s = newTestStorage([1n])
    const rn = new RawNode(newTestConfig(1n, 10, 1, s))
    assert.equal(rn.status().progress.size, 0)
    rn.campaign()
    drain(rn, s)
    const st = rn.status()
    assert.equal(st.softState.lead, 1n)
    assert.equal(st.softState.raftState, StateType.StateLeader)
    assert.deepEqual(st.progress.get(1n), raftOf(rn).trk.progress.get(1n))
    assert.equal(st.config.toString(), 'voters=(1)')
    const visited: NodeId[] = []
    rn.withProgress((id) => visited.push(id))
    assert.deepEqual(visited, [1n])
  })

  it('committed entries are paginated without gaps after a restart', () => {
    // A storage that ignores the size hint, as some do: raft must still apply in order.
    class IgnoreSizeHint extends MemoryStorage {
      override entries(lo: number, hi: number, _maxSize: number): Entry[] {
        return super.entries(lo, hi, Infinity)
      }
    }
    const s = new IgnoreSizeHint()
    s.applySnapshot({
      data: new Uint8Array(0),
      metadata: { index: 0, term: 0, confState: confState({ voters: [1n] }) },
    })
    s.setHardState({ term: 1, vote: 1n, commit: 10 })
    const ents = Array.from({ length: 10 }, (_, i) =>
      entry({ term: 1, index: i + 1, data: utf8('a') }),
    )
    s.append(ents)
    const size = ents.reduce((n, e) => n + entrySize(e), 0)
    const maxSizePerMsg = size - entrySize(ents[9] as Entry) - 1
    s.append([entry({ term: 1, index: 11, data: utf8('boom') })])
    const rn = new RawNode(newTestConfig(1n, 10, 1, s, { maxSizePerMsg }))
    let highestApplied = 0
    for (let i = 0; highestApplied !== 11; i++) {
      assert.ok(i < 20)
      const rd = rn.ready()
      const n = rd.committedEntries.length
      assert.ok(n > 0, `stopped applying at ${highestApplied}`)
      const next = (rd.committedEntries[0] as Entry).index
      assert.ok(highestApplied === 0 || highestApplied + 1 === next, `gap after ${highestApplied}`)
      highestApplied = (rd.committedEntries[n - 1] as Entry).index
      rn.advance()
      rn.step(msg({ type: MessageType.MsgHeartbeat, to: 1n, from: 2n, term: 1, commit: 11 }))
    }
  })

  it('ready() takes the messages; advance() keeps the ones queued after it', () => {
    const s = newTestStorage([1n])
    const rn = new RawNode(newTestConfig(1n, 3, 1, s))
    const m1 = msg({ type: MessageType.MsgApp, to: 2n, context: utf8('foo') })
    const m2 = msg({ type: MessageType.MsgApp, to: 2n, context: utf8('bar') })
    raftOf(rn).msgs = enqueue(raftOf(rn).msgs, m1)
    const rd = rn.ready()
    assert.equal(raftOf(rn).msgs.length, 0)
    assert.deepEqual(rd.messages, [m1])
    raftOf(rn).msgs = enqueue(raftOf(rn).msgs, m2)
    rn.advance()
    assert.deepEqual(raftOf(rn).msgs, [m2])
  })

  it('advance() is refused with asynchronous storage writes', () => {
    const rn = new RawNode(
      newTestConfig(1n, 10, 1, newTestStorage([1n]), { asyncStorageWrites: true }),
    )
    assert.throws(() => rn.advance(), /AsyncStorageWrites/)
  })

  it('persistTermBeforeSend holds the messages of a Ready that moves the term or vote', () => {
    const types = (ms: readonly Message[]) => ms.map((m) => `${MessageType[m.type]}>${m.to}`)
    const campaign = (hold: boolean): Ready => {
      const cfg = { asyncStorageWrites: true, persistTermBeforeSend: hold }
      const rn = new RawNode(newTestConfig(1n, 10, 1, newTestStorage([1n, 2n, 3n]), cfg))
      rn.campaign()
      return rn.ready()
    }
    // etcd-io/raft's behaviour: the votes leave at once, beside the write of term 1 and the vote.
    const sent = campaign(false)
    assert.deepEqual(types(sent.messages), [
      'MsgVote>2',
      'MsgVote>3',
      `MsgStorageAppend>${LocalAppendThread}`,
    ])
    // Held: the only message is the write, whose responses (delivered once it is durable) are the
    // self-vote, then the votes to the peers.
    const held = campaign(true)
    assert.deepEqual(types(held.messages), [`MsgStorageAppend>${LocalAppendThread}`])
    const append = held.messages[0] as Message
    assert.deepEqual({ term: append.term, vote: append.vote }, { term: 1, vote: 1n })
    assert.deepEqual(types(append.responses), ['MsgVoteResp>1', 'MsgVote>2', 'MsgVote>3'])
  })

  it('persistTermBeforeSend sends at once when the term and vote stay', () => {
    const cfg = { asyncStorageWrites: true, persistTermBeforeSend: true }
    const rn = new RawNode(newTestConfig(1n, 10, 1, newTestStorage([1n, 2n]), cfg))
    rn.campaign()
    const votes = rn.ready().messages[0] as Message
    // The vote is durable: the self-vote goes back in, node 2 grants.
    for (const r of votes.responses) if (r.to === 1n) rn.step(r)
    rn.step(msg({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: 1 }))
    assert.equal(raftOf(rn).state, StateType.StateLeader)
    // Becoming leader keeps term 1 and vote 1: the MsgApp leaves beside the write of the empty
    // entry, as in etcd-io/raft (the leader's own entries may be written while they replicate).
    const rd = rn.ready()
    assert.equal(rd.messages[0]?.type, MessageType.MsgApp)
    assert.equal(rd.messages[rd.messages.length - 1]?.to, LocalAppendThread)
  })

  it('bootstrap refuses an empty peer list and a non-empty storage', () => {
    const empty = new RawNode(newTestConfig(1n, 10, 1, new MemoryStorage()))
    assert.equal(
      errorCode(() => empty.bootstrap([])),
      'INVALID_CONFIG',
    )
    const s = newTestStorage([1n])
    s.append([entry({ term: 1, index: 1 })])
    const full = new RawNode(newTestConfig(1n, 10, 1, s))
    assert.equal(
      errorCode(() => full.bootstrap([{ id: 1n }])),
      'INVALID_CONFIG',
    )

    const fresh = new MemoryStorage()
    const rn = new RawNode(newTestConfig(1n, 10, 1, fresh))
    rn.bootstrap([{ id: 1n }, { id: 2n }])
    assert.deepEqual(raftOf(rn).trk.voterNodes(), [1n, 2n])
    const rd = rn.ready()
    assert.equal(rd.entries.length, 2)
    assert.deepEqual(rd.hardState, { term: 1, vote: 0n, commit: 2 })
  })
})

describe('RawNode leader operations', () => {
  it('transferLeader sends MsgTimeoutNow to an up-to-date transferee', () => {
    const [rn, s] = leaderRawNode([1n, 2n, 3n])
    drain(rn, s)
    rn.step(
      msg({
        type: MessageType.MsgAppResp,
        from: 2n,
        to: 1n,
        term: raftOf(rn).term,
        index: raftOf(rn).raftLog.lastIndex(),
      }),
    )
    drain(rn, s)
    rn.transferLeader(2n)
    assert.equal(rn.basicStatus().leadTransferee, 2n)
    const out = drain(rn, s)
    assert.deepEqual(
      out.filter((m) => m.type === MessageType.MsgTimeoutNow).map((m) => m.to),
      [2n],
    )
  })

  it('reportUnreachable moves a replicating follower to probing', () => {
    const [rn, s] = leaderRawNode([1n, 2n, 3n])
    rn.step(
      msg({
        type: MessageType.MsgAppResp,
        from: 2n,
        to: 1n,
        term: raftOf(rn).term,
        index: raftOf(rn).raftLog.lastIndex(),
      }),
    )
    drain(rn, s)
    const pr = raftOf(rn).trk.progress.get(2n)
    assert.equal(pr?.state, ProgressState.StateReplicate)
    rn.reportUnreachable(2n)
    assert.equal(pr.state, ProgressState.StateProbe)
    assert.equal(pr.next, pr.match + 1)
  })

  it('forgetLeader lets a follower forget its leader without changing term', () => {
    const s = newTestStorage([1n, 2n, 3n])
    const rn = new RawNode(newTestConfig(2n, 10, 1, s))
    rn.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 3 }))
    assert.equal(raftOf(rn).lead, 1n)
    rn.forgetLeader()
    assert.equal(raftOf(rn).lead, 0n)
    assert.equal(raftOf(rn).term, 3)
  })
})

// rn.view: the read-only window observers get instead of the Raft instance. Method: compare every
// read with the Raft it reflects, across role changes, proposals and a compaction, and check
// that the view is one object and that neither it nor the RawNode exposes the Raft.
describe('RawNode.view', () => {
  /** Every field and method of the view against the Raft behind it. */
  function assertViewMatches(rn: RawNode): void {
    const r = raftOf(rn)
    const v = rn.view
    assert.equal(v.id, r.id)
    assert.equal(v.state, r.state)
    assert.equal(v.term, r.term)
    assert.equal(v.vote, r.vote)
    assert.equal(v.lead, r.lead)
    assert.equal(v.committed, r.raftLog.committed)
    assert.equal(v.applied, r.raftLog.applied)
    assert.equal(v.firstIndex(), r.raftLog.firstIndex())
    assert.equal(v.lastIndex(), r.raftLog.lastIndex())
    for (let i = 0; i <= v.lastIndex() + 1; i++) {
      assert.equal(v.termAt(i), r.raftLog.zeroTermOnOutOfBounds(i), `termAt(${i})`)
    }
  }

  it('reads the live state of a follower, a candidate and a leader, from one object', () => {
    const s = newTestStorage([1n, 2n, 3n])
    const rn = new RawNode(newTestConfig(1n, 10, 1, s))
    const view = rn.view
    assert.equal(view.state, StateType.StateFollower)
    assert.equal(view.term, 0)
    assertViewMatches(rn)
    rn.campaign()
    assert.equal(rn.view, view, 'the same view after a state change')
    assert.equal(view.state, StateType.StateCandidate)
    assert.equal(view.term, 1)
    assert.equal(view.vote, 1n)
    assertViewMatches(rn)
    drain(rn, s)
    rn.step(msg({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: 1 }))
    drain(rn, s)
    assert.equal(view.state, StateType.StateLeader)
    assert.equal(view.lead, 1n)
    assert.equal(view.lastIndex(), 1, "the leader's empty entry")
    assert.equal(view.termAt(1), 1)
    assertViewMatches(rn)
  })

  it('follows commits and applies, and termAt is 0 outside the log', () => {
    const s = newTestStorage([1n])
    const rn = new RawNode(newTestConfig(1n, 10, 1, s))
    rn.campaign()
    drain(rn, s)
    const view = rn.view
    assert.equal(view.state, StateType.StateLeader)
    assert.equal(view.committed, 1)
    for (let i = 0; i < 5; i++) rn.propose(utf8(`p${i}`))
    assert.equal(view.lastIndex(), 6)
    assert.equal(view.committed, 1, 'the proposals are not durable yet, so not committed')
    assertViewMatches(rn)
    drain(rn, s)
    assert.equal(view.committed, 6)
    assert.equal(view.applied, 6)
    assert.equal(view.termAt(6), view.term)
    assert.equal(view.termAt(7), 0, 'past the last index')
    s.compact(4)
    assert.equal(view.firstIndex(), 5)
    assert.equal(view.termAt(4), view.term, 'the entry before firstIndex keeps its term')
    assert.equal(view.termAt(3), 0, 'compacted')
    assertViewMatches(rn)
  })

  it('exposes no Raft: neither the RawNode nor its view has an enumerable or a raft key', () => {
    const [rn] = leaderRawNode([1n, 2n])
    assert.equal('raft' in rn, false)
    assert.equal('raft' in rn.view, false)
    assert.deepEqual(Object.keys(rn.view), [])
    assert.ok(!Object.values(rn).includes(raftOf(rn)), 'no public field holds the Raft')
  })
})
