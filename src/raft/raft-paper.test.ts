// The scenarios of the Raft paper's §5 (https://raft.github.io/raft.pdf), after etcd-io/raft
// raft_paper_test.go. Each test pins a few sentences of the paper: it builds a state the simple
// way (direct transitions, prepared storages), steps the messages of the scenario, and checks the
// messages sent and the resulting state. Figure 7's follower logs run on the in-memory Network.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { Raft } from './raft.js'
import { StateType } from './ready.js'
import { MessageType, entry, type Entry, type Message, type NodeId } from './raftpb/types.js'
import {
  advanceMessagesAfterAppend,
  entsAt,
  idsBySize,
  msg,
  mustAppendEntry,
  Network,
  newTestRaft,
  newTestStorage,
  nopStepper,
  propMsg,
  readMessages,
  utf8,
} from './rafttest/network.js'
import type { MemoryStorage } from './storage.js'

const byTo = (a: Message, b: Message): number => (a.to < b.to ? -1 : a.to > b.to ? 1 : 0)

function sorted(msgs: Message[]): Message[] {
  return [...msgs].sort(byTo)
}

/** A three-voter Raft with id 1, election 10, heartbeat 1. */
function raft3(): Raft {
  return newTestRaft(1n, 10, 1, newTestStorage([1n, 2n, 3n]))
}

function becomeState(r: Raft, state: StateType): void {
  switch (state) {
    case StateType.StateFollower:
      r.becomeFollower(1, 2n)
      break
    case StateType.StateCandidate:
      r.becomeCandidate()
      break
    case StateType.StateLeader:
      r.becomeCandidate()
      r.becomeLeader()
      break
    default:
      throw new Error(`unexpected state ${state}`)
  }
}

/** The follower's reply to an accepted MsgApp. */
function acceptAndReply(m: Message): Message {
  assert.equal(m.type, MessageType.MsgApp)
  return msg({
    type: MessageType.MsgAppResp,
    from: m.to,
    to: m.from,
    term: m.term,
    index: m.index + m.entries.length,
  })
}

/** Replicates and commits the new leader's empty entry, then marks it stable and applied. */
function commitNoopEntry(r: Raft, s: MemoryStorage): void {
  assert.equal(r.state, StateType.StateLeader)
  r.bcastAppend()
  for (const m of readMessages(r)) {
    assert.ok(m.type === MessageType.MsgApp && m.entries.length === 1)
    assert.equal(m.entries[0]?.data.length, 0)
    r.step(acceptAndReply(m))
  }
  readMessages(r) // the commit index updates for the followers
  s.append(r.raftLog.nextUnstableEnts())
  r.raftLog.appliedTo(r.raftLog.committed, 0)
  r.raftLog.stableTo(r.raftLog.lastEntryID())
}

describe('Raft paper §5.1: terms', () => {
  for (const state of [StateType.StateFollower, StateType.StateCandidate, StateType.StateLeader]) {
    it(`a ${StateType[state]} adopts a larger term and becomes follower`, () => {
      const r = raft3()
      becomeState(r, state)
      r.step(msg({ type: MessageType.MsgApp, from: 2n, term: 2 }))
      assert.equal(r.term, 2)
      assert.equal(r.state, StateType.StateFollower)
    })
  }

  it('a message with a stale term is ignored', () => {
    const r = raft3()
    r.loadState({ term: 2, vote: 0n, commit: 0 })
    const before = { hs: r.hardState(), last: r.raftLog.lastIndex(), lead: r.lead }
    r.step(msg({ type: MessageType.MsgApp, from: 2n, term: 1, entries: entsAt(1, 1) }))
    assert.deepEqual(readMessages(r), [])
    assert.deepEqual({ hs: r.hardState(), last: r.raftLog.lastIndex(), lead: r.lead }, before)
  })
})

describe('Raft paper §5.2: leader election', () => {
  it('servers start as followers', () => {
    assert.equal(raft3().state, StateType.StateFollower)
  })

  it('the leader broadcasts heartbeats without entries', () => {
    const r = raft3()
    r.becomeCandidate()
    r.becomeLeader()
    for (let i = 0; i < 10; i++) mustAppendEntry(r, entry({ index: i + 1 }))
    r.tick()
    const hb = (to: NodeId): Message =>
      msg({ type: MessageType.MsgHeartbeat, from: 1n, to, term: 1, commit: 0 })
    assert.deepEqual(sorted(readMessages(r)), [hb(2n), hb(3n)])
  })

  for (const state of [StateType.StateFollower, StateType.StateCandidate]) {
    it(`a ${StateType[state]} that hears nothing starts an election`, () => {
      const et = 10
      const r = newTestRaft(1n, et, 1, newTestStorage([1n, 2n, 3n]))
      becomeState(r, state)
      for (let i = 1; i < 2 * et; i++) r.tick()
      advanceMessagesAfterAppend(r)
      assert.equal(r.term, 2)
      assert.equal(r.state, StateType.StateCandidate)
      assert.equal(r.trk.votes.get(1n), true)
      const vote = (to: NodeId): Message =>
        msg({ type: MessageType.MsgVote, from: 1n, to, term: 2, index: 0, logTerm: 0 })
      assert.deepEqual(sorted(readMessages(r)), [vote(2n), vote(3n)])
    })
  }

  it('one round of RequestVote: win, lose or wait', () => {
    const table: [number, [number, boolean][], StateType][] = [
      [1, [], StateType.StateLeader],
      [
        3,
        [
          [2, true],
          [3, true],
        ],
        StateType.StateLeader,
      ],
      [3, [[2, true]], StateType.StateLeader],
      [
        5,
        [
          [2, true],
          [3, true],
          [4, true],
          [5, true],
        ],
        StateType.StateLeader,
      ],
      [
        5,
        [
          [2, true],
          [3, true],
          [4, true],
        ],
        StateType.StateLeader,
      ],
      [
        5,
        [
          [2, true],
          [3, true],
        ],
        StateType.StateLeader,
      ],
      [
        3,
        [
          [2, false],
          [3, false],
        ],
        StateType.StateFollower,
      ],
      [
        5,
        [
          [2, false],
          [3, false],
          [4, false],
          [5, false],
        ],
        StateType.StateFollower,
      ],
      [
        5,
        [
          [2, true],
          [3, false],
          [4, false],
          [5, false],
        ],
        StateType.StateFollower,
      ],
      [3, [], StateType.StateCandidate],
      [5, [[2, true]], StateType.StateCandidate],
      [
        5,
        [
          [2, false],
          [3, false],
        ],
        StateType.StateCandidate,
      ],
      [5, [], StateType.StateCandidate],
    ]
    for (const [i, [size, votes, wstate]] of table.entries()) {
      const r = newTestRaft(1n, 10, 1, newTestStorage(idsBySize(size)))
      r.step(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
      advanceMessagesAfterAppend(r)
      for (const [id, granted] of votes) {
        r.step(
          msg({
            type: MessageType.MsgVoteResp,
            from: BigInt(id),
            to: 1n,
            term: r.term,
            reject: !granted,
          }),
        )
      }
      assert.equal(r.state, wstate, `#${i}`)
      assert.equal(r.term, 1, `#${i}`)
    }
  })

  it('a follower votes for at most one candidate per term, first come first served', () => {
    const table: [NodeId, NodeId, boolean][] = [
      [0n, 2n, false],
      [0n, 3n, false],
      [2n, 2n, false],
      [3n, 3n, false],
      [2n, 3n, true],
      [3n, 2n, true],
    ]
    for (const [i, [vote, nvote, wreject]] of table.entries()) {
      const r = raft3()
      r.loadState({ term: 1, vote, commit: 0 })
      r.step(msg({ type: MessageType.MsgVote, from: nvote, to: 1n, term: 1 }))
      const want = msg({ type: MessageType.MsgVoteResp, from: 1n, to: nvote, term: 1 })
      want.reject = wreject
      assert.deepEqual(r.msgsAfterAppend, [want], `#${i}`)
    }
  })

  it('a candidate that hears from a leader of its term or later falls back to follower', () => {
    for (const term of [1, 2]) {
      const r = raft3()
      r.step(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
      assert.equal(r.state, StateType.StateCandidate)
      r.step(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term }))
      assert.equal(r.state, StateType.StateFollower)
      assert.equal(r.term, term)
    }
  })

  for (const state of [StateType.StateFollower, StateType.StateCandidate]) {
    it(`a ${StateType[state]}'s election timeout is randomized over [et, 2et)`, () => {
      const et = 10
      const r = newTestRaft(1n, et, 1, newTestStorage([1n, 2n, 3n]))
      const timeouts = new Set<number>()
      for (let round = 0; round < 50 * et; round++) {
        if (state === StateType.StateFollower) r.becomeFollower(r.term + 1, 2n)
        else r.becomeCandidate()
        let time = 0
        while (readMessages(r).length === 0) {
          r.tick()
          time++
        }
        timeouts.add(time)
      }
      for (let d = et; d < 2 * et; d++) assert.ok(timeouts.has(d), `timeout ${d} never drawn`)
      for (const d of timeouts) assert.ok(d >= et && d < 2 * et, `timeout ${d} out of range`)
    })

    it(`${StateType[state]}s rarely time out on the same tick`, () => {
      const et = 10
      const ids = idsBySize(5)
      const rs = ids.map((id) => newTestRaft(id, et, 1, newTestStorage(ids)))
      let conflicts = 0
      const rounds = 1000
      for (let round = 0; round < rounds; round++) {
        for (const r of rs) {
          if (state === StateType.StateFollower) r.becomeFollower(r.term + 1, 0n)
          else r.becomeCandidate()
        }
        let timeoutNum = 0
        while (timeoutNum === 0) {
          for (const r of rs) {
            r.tick()
            if (readMessages(r).length > 0) timeoutNum++
          }
        }
        if (timeoutNum > 1) conflicts++
      }
      assert.ok(conflicts / rounds <= 0.3, `conflict rate ${conflicts / rounds}`)
    })
  }
})

describe('Raft paper §5.3: log replication', () => {
  it('the leader appends a proposal and sends it with the preceding index and term', () => {
    const s = newTestStorage([1n, 2n, 3n])
    const r = newTestRaft(1n, 10, 1, s)
    r.becomeCandidate()
    r.becomeLeader()
    commitNoopEntry(r, s)
    const li = r.raftLog.lastIndex()
    r.step(propMsg(1n, utf8('some data')))
    assert.equal(r.raftLog.lastIndex(), li + 1)
    assert.equal(r.raftLog.committed, li)
    const wents = [entry({ index: li + 1, term: 1, data: utf8('some data') })]
    const app = (to: NodeId): Message =>
      msg({
        type: MessageType.MsgApp,
        from: 1n,
        to,
        term: 1,
        index: li,
        logTerm: 1,
        entries: wents,
        commit: li,
      })
    assert.deepEqual(sorted(readMessages(r)), [app(2n), app(3n)])
    assert.deepEqual(r.raftLog.nextUnstableEnts(), wents)
  })

  it('a replicated entry is committed, applied, and its commit index sent on', () => {
    const s = newTestStorage([1n, 2n, 3n])
    const r = newTestRaft(1n, 10, 1, s)
    r.becomeCandidate()
    r.becomeLeader()
    commitNoopEntry(r, s)
    const li = r.raftLog.lastIndex()
    r.step(propMsg(1n, utf8('some data')))
    for (const m of readMessages(r)) r.step(acceptAndReply(m))
    assert.equal(r.raftLog.committed, li + 1)
    assert.deepEqual(r.raftLog.nextCommittedEnts(true), [
      entry({ index: li + 1, term: 1, data: utf8('some data') }),
    ])
    const msgs = sorted(readMessages(r))
    assert.deepEqual(
      msgs.map((m) => [m.to, m.type, m.commit]),
      [
        [2n, MessageType.MsgApp, li + 1],
        [3n, MessageType.MsgApp, li + 1],
      ],
    )
  })

  it('an entry commits once a majority of servers stores it', () => {
    const table: [number, number[], boolean][] = [
      [1, [], true],
      [3, [], false],
      [3, [2], true],
      [3, [2, 3], true],
      [5, [], false],
      [5, [2], false],
      [5, [2, 3], true],
      [5, [2, 3, 4], true],
      [5, [2, 3, 4, 5], true],
    ]
    for (const [i, [size, acceptors, wack]] of table.entries()) {
      const s = newTestStorage(idsBySize(size))
      const r = newTestRaft(1n, 10, 1, s)
      r.becomeCandidate()
      r.becomeLeader()
      commitNoopEntry(r, s)
      const li = r.raftLog.lastIndex()
      r.step(propMsg(1n, utf8('some data')))
      advanceMessagesAfterAppend(r)
      for (const m of [...r.msgs]) {
        if (acceptors.includes(Number(m.to))) r.step(acceptAndReply(m))
      }
      assert.equal(r.raftLog.committed > li, wack, `#${i}`)
    }
  })

  it('committing an entry commits the preceding entries of earlier leaders', () => {
    const table: Entry[][] = [[], entsAt(1, 2), entsAt(1, 1, 2), entsAt(1, 1)]
    for (const [i, ents] of table.entries()) {
      const s = newTestStorage([1n, 2n, 3n])
      s.append(ents)
      const r = newTestRaft(1n, 10, 1, s)
      r.loadState({ term: 2, vote: 0n, commit: 0 })
      r.becomeCandidate()
      r.becomeLeader()
      r.step(propMsg(1n, utf8('some data')))
      for (const m of readMessages(r)) r.step(acceptAndReply(m))
      const li = ents.length
      assert.deepEqual(
        r.raftLog.nextCommittedEnts(true),
        [
          ...ents,
          entry({ term: 3, index: li + 1 }),
          entry({ term: 3, index: li + 2, data: utf8('some data') }),
        ],
        `#${i}`,
      )
    }
  })

  it('a follower applies the entries the leader says are committed, in order', () => {
    const d = (s: string): Uint8Array => utf8(s)
    const table: [Entry[], number][] = [
      [[entry({ term: 1, index: 1, data: d('some data') })], 1],
      [
        [
          entry({ term: 1, index: 1, data: d('some data') }),
          entry({ term: 1, index: 2, data: d('some data2') }),
        ],
        2,
      ],
      [
        [
          entry({ term: 1, index: 1, data: d('some data2') }),
          entry({ term: 1, index: 2, data: d('some data') }),
        ],
        2,
      ],
      [
        [
          entry({ term: 1, index: 1, data: d('some data') }),
          entry({ term: 1, index: 2, data: d('some data2') }),
        ],
        1,
      ],
    ]
    for (const [i, [ents, commit]] of table.entries()) {
      const r = raft3()
      r.becomeFollower(1, 2n)
      r.step(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: 1, entries: ents, commit }))
      assert.equal(r.raftLog.committed, commit, `#${i}`)
      assert.deepEqual(r.raftLog.nextCommittedEnts(true), ents.slice(0, commit), `#${i}`)
    }
  })

  it('a follower refuses an append whose previous entry it does not hold', () => {
    // The follower holds (1,1) committed and (2,2) uncommitted.
    const table: [number, number, number, boolean, number, number][] = [
      // logTerm, index, windex, wreject, wrejectHint, wlogTerm
      [0, 0, 1, false, 0, 0], // below the commit index
      [1, 1, 1, false, 0, 0], // matches a committed entry
      [2, 2, 2, false, 0, 0], // matches an uncommitted entry
      [1, 2, 2, true, 1, 1], // conflicts with an existing entry
      [3, 3, 3, true, 2, 2], // no such entry
    ]
    for (const [i, [logTerm, index, windex, wreject, hint, wlogTerm]] of table.entries()) {
      const s = newTestStorage([1n, 2n, 3n])
      s.append(entsAt(1, 1, 2))
      const r = newTestRaft(1n, 10, 1, s)
      r.loadState({ term: 0, vote: 0n, commit: 1 })
      r.becomeFollower(2, 2n)
      r.step(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: 2, logTerm, index }))
      const want = msg({ type: MessageType.MsgAppResp, from: 1n, to: 2n, term: 2, index: windex })
      if (wreject) Object.assign(want, { reject: true, rejectHint: hint, logTerm: wlogTerm })
      assert.deepEqual(readMessages(r), [want], `#${i}`)
    }
  })

  it('a follower deletes conflicting entries and appends the new ones', () => {
    const table: [number, number, Entry[], Entry[], Entry[]][] = [
      [2, 2, entsAt(3, 3), entsAt(1, 1, 2, 3), entsAt(3, 3)],
      [1, 1, entsAt(2, 3, 4), entsAt(1, 1, 3, 4), entsAt(2, 3, 4)],
      [0, 0, entsAt(1, 1), entsAt(1, 1, 2), []],
      [0, 0, entsAt(1, 3), entsAt(1, 3), entsAt(1, 3)],
    ]
    for (const [i, [index, logTerm, ents, wents, wunstable]] of table.entries()) {
      const s = newTestStorage([1n, 2n, 3n])
      s.append(entsAt(1, 1, 2))
      const r = newTestRaft(1n, 10, 1, s)
      r.becomeFollower(2, 2n)
      r.step(
        msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: 2, logTerm, index, entries: ents }),
      )
      assert.deepEqual(r.raftLog.allEntries(), wents, `#${i}`)
      assert.deepEqual(r.raftLog.nextUnstableEnts(), wunstable, `#${i}`)
    }
  })

  it('Figure 7: the leader brings every follower log into line with its own', () => {
    const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
    const term = 8
    const followers = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one entry
      [1, 1, 1, 4], // (b) missing many
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) one extra uncommitted entry
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of a later term
      [1, 1, 1, 4, 4, 4, 4], // (e) missing and extra entries
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) a divergent tail of old terms
    ]
    for (const [i, fterms] of followers.entries()) {
      const leadStorage = newTestStorage([1n, 2n, 3n])
      leadStorage.append(entsAt(1, ...leaderTerms))
      const lead = newTestRaft(1n, 10, 1, leadStorage)
      lead.loadState({ term, vote: 0n, commit: lead.raftLog.lastIndex() })
      const followerStorage = newTestStorage([1n, 2n, 3n])
      followerStorage.append(entsAt(1, ...fterms))
      const follower = newTestRaft(2n, 10, 1, followerStorage)
      follower.loadState({ term: term - 1, vote: 0n, commit: 0 })
      // Node 3 is a black hole: the leader needs its (forged) vote when the follower's log is
      // more up to date than its own.
      const n = new Network([lead, follower, nopStepper])
      n.send(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }))
      n.send(msg({ type: MessageType.MsgVoteResp, from: 3n, to: 1n, term: term + 1 }))
      n.send(propMsg(1n))
      assert.equal(lead.state, StateType.StateLeader, `#${i}`)
      assert.deepEqual(follower.raftLog.allEntries(), lead.raftLog.allEntries(), `#${i}`)
      assert.equal(follower.raftLog.committed, lead.raftLog.committed, `#${i}`)
    }
  })
})

describe('Raft paper §5.4: safety', () => {
  it('a vote request carries the last index and term of the candidate', () => {
    const table: [Entry[], number][] = [
      [entsAt(1, 1), 2],
      [entsAt(1, 1, 2), 3],
    ]
    for (const [j, [ents, wterm]] of table.entries()) {
      const r = raft3()
      r.step(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: wterm - 1, entries: ents }))
      readMessages(r)
      for (let i = 1; i < r.electionTimeout * 2; i++) r.tickElection()
      const msgs = sorted(readMessages(r))
      assert.equal(msgs.length, 2, `#${j}`)
      const last = ents[ents.length - 1] as Entry
      for (const [i, m] of msgs.entries()) {
        assert.equal(m.type, MessageType.MsgVote)
        assert.equal(m.to, BigInt(i + 2))
        assert.equal(m.term, wterm)
        assert.equal(m.index, last.index)
        assert.equal(m.logTerm, last.term)
      }
    }
  })

  it('a voter denies its vote to a candidate with a less up-to-date log', () => {
    const table: [Entry[], number, number, boolean][] = [
      // same last term
      [entsAt(1, 1), 1, 1, false],
      [entsAt(1, 1), 1, 2, false],
      [entsAt(1, 1, 1), 1, 1, true],
      // candidate has a higher last term
      [entsAt(1, 1), 2, 1, false],
      [entsAt(1, 1), 2, 2, false],
      [entsAt(1, 1, 1), 2, 1, false],
      // voter has a higher last term
      [entsAt(1, 2), 1, 1, true],
      [entsAt(1, 2), 1, 2, true],
      [entsAt(1, 2, 2), 1, 1, true],
      [entsAt(1, 1, 1), 1, 1, true],
    ]
    for (const [i, [ents, logTerm, index, wreject]] of table.entries()) {
      const s = newTestStorage([1n, 2n])
      s.append(ents)
      const r = newTestRaft(1n, 10, 1, s)
      r.step(msg({ type: MessageType.MsgVote, from: 2n, to: 1n, term: 3, logTerm, index }))
      const msgs = readMessages(r)
      assert.equal(msgs.length, 1, `#${i}`)
      assert.equal(msgs[0]?.type, MessageType.MsgVoteResp, `#${i}`)
      assert.equal(msgs[0]?.reject, wreject, `#${i}`)
    }
  })

  it('the leader commits by counting replicas only entries of its own term', () => {
    // [acked index of node 2, expected commit]: (1,1) and (2,2) are older terms, 3 is ours.
    const table: [number, number][] = [
      [1, 0],
      [2, 0],
      [3, 3],
    ]
    for (const [i, [index, wcommit]] of table.entries()) {
      const s = newTestStorage([1n, 2n])
      s.append(entsAt(1, 1, 2))
      const r = newTestRaft(1n, 10, 1, s)
      r.loadState({ term: 2, vote: 0n, commit: 0 })
      r.becomeCandidate()
      r.becomeLeader()
      readMessages(r)
      r.step(propMsg(1n))
      r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: r.term, index }))
      advanceMessagesAfterAppend(r)
      assert.equal(r.raftLog.committed, wcommit, `#${i}`)
    }
  })
})
