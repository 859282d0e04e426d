// util.go's port: message classification, limitSize, Go's %q and the describe functions. Expected
// describe strings are lines from etcd-io/raft's interaction transcripts (testdata/*.txt, with
// the harness's indentation removed); the goQuote table holds outputs of Go's strconv.Quote.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { marshalConfChange } from './raftpb/confchange.js'
import { encodeEntry } from './raftpb/codec.js'
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  LocalApplyThread,
  LocalAppendThread,
  MessageType as M,
  emptySnapshot,
  entry,
  message,
  type ConfState,
  type Snapshot,
} from './raftpb/types.js'
import { StateType, isEmptyReady, stateTypeName, type Ready } from './ready.js'
import {
  describeConfChange,
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  describeTarget,
  goQuote,
  isLocalMsg,
  isLocalMsgTarget,
  isResponseMsg,
  limitSize,
  voteRespMsgType,
} from './util.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const bytes = (...b: number[]): Uint8Array => new Uint8Array(b)
const e = (term: number, index: number, data = ''): ReturnType<typeof entry> =>
  entry({ term, index, data: text(data) })

function snapshot(index: number, term: number, cs: Partial<ConfState>): Snapshot {
  const s = emptySnapshot()
  s.metadata = { index, term, confState: { ...s.metadata.confState, ...cs } }
  return s
}

function ready(fields: Partial<Ready>): Ready {
  return {
    softState: null,
    hardState: null,
    readStates: [],
    entries: [],
    snapshot: null,
    committedEntries: [],
    messages: [],
    mustSync: false,
    ...fields,
  }
}

describe('message classification', () => {
  it('matches util.go', () => {
    const local = [0, 1, 10, 11, 12, 19, 20, 21, 22]
    const response = [4, 6, 9, 10, 16, 18, 20, 22]
    for (let t = 0; t <= M.MsgForgetLeader; t++) {
      assert.equal(isLocalMsg(t), local.includes(t), `isLocalMsg(${M[t]})`)
      assert.equal(isResponseMsg(t), response.includes(t), `isResponseMsg(${M[t]})`)
    }
    assert.equal(isLocalMsg(99 as M), false)
    assert.equal(isLocalMsgTarget(LocalAppendThread), true)
    assert.equal(isLocalMsgTarget(LocalApplyThread), true)
    assert.equal(isLocalMsgTarget(1n), false)
    assert.equal(voteRespMsgType(M.MsgVote), M.MsgVoteResp)
    assert.equal(voteRespMsgType(M.MsgPreVote), M.MsgPreVoteResp)
    assert.throws(() => voteRespMsgType(M.MsgApp), /not a vote message: MsgApp/)
  })
})

describe('limitSize', () => {
  const ents = [e(1, 1, 'aaaa'), e(1, 2, 'bbbb'), e(1, 3, 'cccc')]
  const size = encodeEntry(ents[0]!).length // all three have the same size

  it('keeps the longest prefix that fits, and at least one entry', () => {
    assert.equal(limitSize(ents, Infinity), ents)
    assert.equal(limitSize(ents, 3 * size), ents)
    assert.deepEqual(limitSize(ents, 3 * size - 1), ents.slice(0, 2))
    assert.deepEqual(limitSize(ents, 2 * size), ents.slice(0, 2))
    assert.deepEqual(limitSize(ents, size), ents.slice(0, 1))
    assert.deepEqual(limitSize(ents, 0), ents.slice(0, 1))
    assert.deepEqual(limitSize([], 0), [])
  })
})

describe('goQuote', () => {
  const cases: [Uint8Array, string][] = [
    [text('foo'), '"foo"'],
    [text(''), '""'],
    [text('a"b\\c'), '"a\\"b\\\\c"'],
    [text("it's"), '"it\'s"'],
    [bytes(0x7f), '"\\x7f"'],
    [bytes(0xff), '"\\xff"'],
    [bytes(0x80), '"\\x80"'],
    [text('é'), '"é"'],
    [text('\u2028'), '"\\u2028"'],
    [text('\u00a0'), '"\\u00a0"'],
    [text('\u0080'), '"\\u0080"'],
    [text('\ufeff'), '"\\ufeff"'],
    [text('\ufffd'), '"\ufffd"'],
    [text('\ue000'), '"\\ue000"'],
    [text('😀'), '"😀"'],
    [text('日本'), '"日本"'],
    [text('\u{10ffff}'), '"\\U0010ffff"'],
    [bytes(0xed, 0xa0, 0x80), '"\\xed\\xa0\\x80"'], // a surrogate is not valid UTF-8
    [bytes(0xc0, 0x80), '"\\xc0\\x80"'], // overlong
    [bytes(0xe2, 0x80), '"\\xe2\\x80"'], // truncated
    [bytes(0xf4, 0x90, 0x80, 0x80), '"\\xf4\\x90\\x80\\x80"'], // past U+10FFFF
    [bytes(0x61, 0xe2, 0x80, 0xa8, 0x62), '"a\\u2028b"'],
  ]
  for (const [input, want] of cases) {
    it(`quotes ${want}`, () => assert.equal(goQuote(input), want))
  }

  it('escapes control bytes 0..31 like Go', () => {
    const want =
      '"\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\a\\b\\t\\n\\v\\f\\r\\x0e\\x0f' +
      '\\x10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c\\x1d\\x1e\\x1f"'
    assert.equal(goQuote(new Uint8Array(32).map((_, i) => i)), want)
  })
})

describe('describe functions', () => {
  it('describes targets', () => {
    assert.equal(describeTarget(0n), 'None')
    assert.equal(describeTarget(LocalAppendThread), 'AppendThread')
    assert.equal(describeTarget(LocalApplyThread), 'ApplyThread')
    assert.equal(describeTarget(0xabn), 'ab')
  })

  it('describes hard states', () => {
    assert.equal(describeHardState({ term: 1, vote: 0n, commit: 4 }), 'Term:1 Commit:4')
    assert.equal(describeHardState({ term: 2, vote: 12n, commit: 4 }), 'Term:2 Vote:12 Commit:4')
  })

  it('describes a MsgApp with one entry', () => {
    const m = message({
      type: M.MsgApp,
      from: 1n,
      to: 2n,
      term: 1,
      logTerm: 1,
      index: 10,
      commit: 10,
      entries: [e(1, 11)],
    })
    assert.equal(
      describeMessage(m),
      '1->2 MsgApp Term:1 Log:1/10 Commit:10 Entries:[1/11 EntryNormal ""]',
    )
  })

  it('describes a MsgApp with several entries, one per line', () => {
    const m = message({
      type: M.MsgApp,
      from: 1n,
      to: 2n,
      term: 8,
      logTerm: 6,
      index: 19,
      commit: 18,
      entries: [e(6, 20, 'prop_6_20'), e(8, 21)],
    })
    assert.equal(
      describeMessage(m),
      '1->2 MsgApp Term:8 Log:6/19 Commit:18 Entries:[\n  6/20 EntryNormal "prop_6_20"\n  8/21 EntryNormal ""\n]',
    )
  })

  it('describes conf change entries', () => {
    const v2 = marshalConfChange({
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 3n }],
      context: new Uint8Array(0),
    })
    const m = message({
      type: M.MsgApp,
      from: 2n,
      to: 3n,
      term: 2,
      logTerm: 1,
      index: 3,
      commit: 4,
      entries: [entry({ term: 1, index: 4, ...v2 }), e(2, 5)],
    })
    assert.equal(
      describeMessage(m),
      '2->3 MsgApp Term:2 Log:1/3 Commit:4 Entries:[\n  1/4 EntryConfChangeV2 v3\n  2/5 EntryNormal ""\n]',
    )
    const v1 = marshalConfChange({
      id: 0n,
      type: ConfChangeType.ConfChangeAddNode,
      nodeId: 2n,
      context: new Uint8Array(0),
    })
    assert.equal(describeEntry(entry({ term: 1, index: 4, ...v1 })), '1/4 EntryConfChange v2')
    const leave = marshalConfChange(null)
    assert.equal(describeEntry(entry({ term: 1, index: 5, ...leave })), '1/5 EntryConfChangeV2')
    const bad = entry({
      term: 1,
      index: 6,
      type: EntryType.EntryConfChangeV2,
      data: bytes(0x12, 9),
    })
    assert.match(
      describeEntry(bad),
      /^1\/6 EntryConfChangeV2 proto: length 9 at offset 1 runs past/,
    )
  })

  it('uses the entry formatter for normal entries only', () => {
    const f = (d: Uint8Array): string => `<${d.length}>`
    assert.equal(describeEntry(e(1, 2, 'abc'), f), '1/2 EntryNormal <3>')
    assert.equal(
      describeEntry(e(1, 2, 'abc'), () => ''),
      '1/2 EntryNormal',
    )
    assert.equal(
      describeEntries([e(1, 1, 'a'), e(1, 2)], f),
      '1/1 EntryNormal <1>\n1/2 EntryNormal <0>\n',
    )
  })

  it('describes rejections and votes', () => {
    const rej = message({
      type: M.MsgAppResp,
      from: 3n,
      to: 2n,
      term: 2,
      logTerm: 1,
      index: 4,
      reject: true,
      rejectHint: 3,
    })
    assert.equal(describeMessage(rej), '3->2 MsgAppResp Term:2 Log:1/4 Rejected (Hint: 3)')
    const vote = message({ type: M.MsgVoteResp, from: 1n, to: 3n, term: 2, reject: true })
    assert.equal(describeMessage(vote), '1->3 MsgVoteResp Term:2 Log:0/0 Rejected (Hint: 0)')
  })

  it('describes a MsgSnap with its snapshot on the next line', () => {
    const m = message({
      type: M.MsgSnap,
      from: 1n,
      to: 2n,
      term: 1,
      snapshot: snapshot(4, 1, { voters: [1n, 2n] }),
    })
    assert.equal(
      describeMessage(m),
      '1->2 MsgSnap Term:1 Log:0/0\n  Snapshot: Index:4 Term:1 ConfState:Voters:[1 2] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false',
    )
    const empty = message({ type: M.MsgSnap, from: 1n, to: 2n, term: 1, snapshot: emptySnapshot() })
    assert.equal(describeMessage(empty), '1->2 MsgSnap Term:1 Log:0/0')
  })

  it('describes storage messages with nested responses', () => {
    const append = message({
      type: M.MsgStorageAppend,
      from: 1n,
      to: LocalAppendThread,
      entries: [e(1, 11)],
      responses: [
        message({ type: M.MsgAppResp, from: 1n, to: 1n, term: 1, index: 11 }),
        message({
          type: M.MsgStorageAppendResp,
          from: LocalAppendThread,
          to: 1n,
          term: 1,
          logTerm: 1,
          index: 11,
        }),
      ],
    })
    assert.equal(
      describeMessage(append),
      '1->AppendThread MsgStorageAppend Term:0 Log:0/0 Entries:[1/11 EntryNormal ""] Responses:[\n' +
        '  1->1 MsgAppResp Term:1 Log:0/11\n' +
        '  AppendThread->1 MsgStorageAppendResp Term:1 Log:1/11\n' +
        ']',
    )
    const hs = message({
      type: M.MsgStorageAppend,
      from: 3n,
      to: LocalAppendThread,
      term: 1,
      commit: 10,
      vote: 1n,
      responses: [message({ type: M.MsgVoteResp, from: 3n, to: 1n, term: 1 })],
    })
    assert.equal(
      describeMessage(hs),
      '3->AppendThread MsgStorageAppend Term:1 Log:0/0 Commit:10 Vote:1 Responses:[\n  3->1 MsgVoteResp Term:1 Log:0/0\n]',
    )
  })

  it('indents entries and snapshots of nested responses one level deeper', () => {
    // Not in the transcripts; derived from describeMessageWithIndent.
    const resp = message({
      type: M.MsgStorageAppendResp,
      from: LocalAppendThread,
      to: 1n,
      term: 2,
      entries: [e(1, 1), e(1, 2)],
      snapshot: snapshot(5, 1, { voters: [1n] }),
    })
    const m = message({
      type: M.MsgStorageAppend,
      from: 1n,
      to: LocalAppendThread,
      responses: [resp],
    })
    assert.equal(
      describeMessage(m),
      '1->AppendThread MsgStorageAppend Term:0 Log:0/0 Responses:[\n' +
        '  AppendThread->1 MsgStorageAppendResp Term:2 Log:0/0 Entries:[\n' +
        '    1/1 EntryNormal ""\n' +
        '    1/2 EntryNormal ""\n' +
        '  ]\n' +
        '    Snapshot: Index:5 Term:1 ConfState:Voters:[1] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false\n' +
        ']',
    )
  })

  it('describes Readys', () => {
    assert.equal(describeReady(ready({})), '<empty Ready>')
    assert.equal(describeReady(ready({ mustSync: true })), '<empty Ready>')
    const leader = ready({
      mustSync: true,
      softState: { lead: 1n, raftState: StateType.StateLeader },
      entries: [e(1, 11)],
      messages: [
        message({
          type: M.MsgApp,
          from: 1n,
          to: 2n,
          term: 1,
          logTerm: 1,
          index: 10,
          commit: 10,
          entries: [e(1, 11)],
        }),
      ],
    })
    assert.equal(
      describeReady(leader),
      'Ready MustSync=true:\n' +
        'Lead:1 State:StateLeader\n' +
        'Entries:\n' +
        '1/11 EntryNormal ""\n' +
        'Messages:\n' +
        '1->2 MsgApp Term:1 Log:1/10 Commit:10 Entries:[1/11 EntryNormal ""]\n',
    )
    const follower = ready({
      hardState: { term: 1, vote: 0n, commit: 4 },
      snapshot: snapshot(4, 1, { voters: [1n, 2n] }),
      committedEntries: [e(1, 3, 'x')],
      readStates: [{ index: 12, requestCtx: text('r1') }],
      messages: [message({ type: M.MsgAppResp, from: 2n, to: 1n, term: 1, index: 4 })],
    })
    assert.equal(
      describeReady(follower),
      'Ready MustSync=false:\n' +
        'HardState Term:1 Commit:4\n' +
        'ReadStates [{12 [114 49]}]\n' +
        'Snapshot Index:4 Term:1 ConfState:Voters:[1 2] VotersOutgoing:[] Learners:[] LearnersNext:[] AutoLeave:false\n' +
        'CommittedEntries:\n' +
        '1/3 EntryNormal "x"\n' +
        'Messages:\n' +
        '2->1 MsgAppResp Term:1 Log:0/4\n',
    )
    const emptyParts = ready({
      hardState: { term: 0, vote: 0n, commit: 0 },
      snapshot: emptySnapshot(),
    })
    assert.equal(describeReady(emptyParts), '<empty Ready>')
    assert.equal(isEmptyReady(emptyParts), true)
    assert.equal(isEmptyReady(follower), false)
    assert.equal(isEmptyReady(ready({ readStates: [{ index: 1, requestCtx: text('') }] })), false)
  })

  it('names states', () => {
    assert.equal(stateTypeName(StateType.StateFollower), 'StateFollower')
    assert.equal(stateTypeName(StateType.StateCandidate), 'StateCandidate')
    assert.equal(stateTypeName(StateType.StateLeader), 'StateLeader')
    assert.equal(stateTypeName(StateType.StatePreCandidate), 'StatePreCandidate')
  })

  it('describes conf changes as Go protobuf text', () => {
    const add = (nodeId: bigint) => ({ type: ConfChangeType.ConfChangeAddNode, nodeId })
    assert.equal(
      describeConfChange({
        transition: ConfChangeTransition.ConfChangeTransitionAuto,
        changes: [add(3n), add(4n), add(5n)],
        context: new Uint8Array(0),
      }),
      'transition:ConfChangeTransitionAuto changes:{type:ConfChangeAddNode node_id:3} changes:{type:ConfChangeAddNode node_id:4} changes:{type:ConfChangeAddNode node_id:5}',
    )
    assert.equal(
      describeConfChange({
        transition: ConfChangeTransition.ConfChangeTransitionAuto,
        changes: [],
        context: new Uint8Array(0),
      }),
      'transition:ConfChangeTransitionAuto',
    )
    assert.equal(
      describeConfChange({
        id: 0n,
        type: ConfChangeType.ConfChangeRemoveNode,
        nodeId: 2n,
        context: text('a"\n\u2028'),
      }),
      'type:ConfChangeRemoveNode node_id:2 context:"a\\"\\n\u2028"',
    )
  })
})
