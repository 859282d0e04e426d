// The public surface of pontoon/raft. Goal: every exported name is a decision, and the README's
// example works through the package name. Method: import the package by name, as an embedder
// does (package.json "exports"), compare its runtime exports with the list below, and run the
// README's "Using the Raft core" example to a committed proposal.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import * as raft from 'pontoon/raft'
import { MemoryStorage, RawNode, StateType, type Ready } from 'pontoon/raft'

// Sorted. Types (Config, Storage, Entry, RaftView, ...) have no runtime name and are checked by
// the compiler where they are used. Adding a name here promises to keep it.
const exported = [
  'AssertionError',
  'ConfChangeTransition',
  'ConfChangeType',
  'EMPTY_BYTES',
  'EntryType',
  'LevelLogger',
  'LocalAppendThread',
  'LocalApplyThread',
  'LogLevel',
  'MemoryStorage',
  'MessageType',
  'None',
  'Progress',
  'ProgressStateType',
  'ProgressType',
  'RaftError',
  'RawNode',
  'ReadOnlyOption',
  'SnapshotStatus',
  'StateType',
  'asV1',
  'asV2',
  'assert',
  'cloneConfState',
  'cloneSnapshot',
  'confChangeFromEntry',
  'confChangesFromString',
  'confChangesToString',
  'confStateEquivalent',
  'decodeConfChange',
  'decodeConfChangeV2',
  'decodeConfState',
  'decodeEntry',
  'decodeHardState',
  'decodeMessage',
  'decodeSnapshot',
  'describeConfChange',
  'describeConfState',
  'describeEntries',
  'describeEntry',
  'describeHardState',
  'describeMessage',
  'describeReady',
  'describeSnapshot',
  'describeSoftState',
  'discardLogger',
  'emptyConfState',
  'emptyHardState',
  'emptySnapshot',
  'encodeConfChange',
  'encodeConfChangeV2',
  'encodeConfState',
  'encodeEntry',
  'encodeHardState',
  'encodeMessage',
  'encodeSnapshot',
  'enterJoint',
  'entry',
  'entrySize',
  'entsSize',
  'errCompacted',
  'errSnapOutOfDate',
  'errSnapshotTemporarilyUnavailable',
  'errUnavailable',
  'hardStateEqual',
  'isConfChangeV1',
  'isEmptyHardState',
  'isEmptyReady',
  'isEmptySnap',
  'isLocalMsg',
  'isLocalMsgTarget',
  'isResponseMsg',
  'leaveJoint',
  'marshalConfChange',
  'message',
  'mustSync',
  'newMessage',
  'seededRand',
  'stateTypeName',
  'statusToJSON',
  'unmarshalConfChange',
  'unmarshalConfChangeV2',
  'validateConfig',
]

test('pontoon/raft exports exactly the listed names', () => {
  assert.deepEqual(Object.keys(raft).sort(), exported)
  for (const internal of ['Raft', 'RaftLog', 'varintSize', 'messageSize', 'raftOf', 'NO_ENTRIES'])
    assert.equal(internal in raft, false, internal)
})

test('the errors a Storage throws carry their codes and etcd-io/raft texts', () => {
  const table: [() => raft.RaftError, raft.RaftErrorCode, string][] = [
    [raft.errCompacted, 'COMPACTED', 'requested index is unavailable due to compaction'],
    [
      raft.errSnapOutOfDate,
      'SNAP_OUT_OF_DATE',
      'requested index is older than the existing snapshot',
    ],
    [raft.errUnavailable, 'UNAVAILABLE', 'requested entry at index is unavailable'],
    [
      raft.errSnapshotTemporarilyUnavailable,
      'SNAPSHOT_TEMPORARILY_UNAVAILABLE',
      'snapshot is temporarily unavailable',
    ],
  ]
  for (const [make, code, text] of table) {
    const err = make()
    assert.ok(raft.RaftError.is(err, code))
    assert.equal(err.message, text)
  }
})

test("README's example: a single voter bootstraps, elects itself and commits a proposal", () => {
  const storage = new MemoryStorage()
  const node = new RawNode({
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxInflightMsgs: 256,
  })
  node.bootstrap([{ id: 1n }])
  const committed: string[] = []
  const handle = (rd: Ready): void => {
    // Persist, send (a single voter has no one to send to), apply; then advance().
    if (rd.snapshot !== null) storage.applySnapshot(rd.snapshot)
    storage.append(rd.entries)
    if (rd.hardState !== null) storage.setHardState(rd.hardState)
    assert.deepEqual(rd.messages, [])
    for (const e of rd.committedEntries)
      if (e.type === raft.EntryType.EntryNormal && e.data.length > 0)
        committed.push(new TextDecoder().decode(e.data))
  }
  for (let ticks = 0; node.view.state !== StateType.StateLeader; ticks++) {
    assert.ok(ticks < 100, 'elected within 100 ticks')
    node.tick()
    while (node.hasReady()) {
      handle(node.ready())
      node.advance()
    }
  }
  node.propose(new TextEncoder().encode('x=1'))
  while (node.hasReady()) {
    handle(node.ready())
    node.advance()
  }
  assert.deepEqual(committed, ['x=1'])
  assert.equal(node.view.committed, node.view.lastIndex())
})
