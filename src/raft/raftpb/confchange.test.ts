// Conf change helpers: table tests after etcd-io/raft's raftpb/confchange_test.go and
// confstate_test.go, plus round trips through the entry payload form and the text form.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RaftError } from '../errors.js'
import {
  asV1,
  asV2,
  confChangeFromEntry,
  confChangesFromString,
  confChangesToString,
  confStateEquivalent,
  enterJoint,
  isConfChangeV1,
  leaveJoint,
  marshalConfChange,
  unmarshalConfChange,
  unmarshalConfChangeV2,
} from './confchange.js'
import {
  ConfChangeTransition as T,
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  emptyConfState,
  entry,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
  type ConfState,
} from './types.js'

const add = (nodeId: bigint): ConfChangeSingle => ({
  type: ConfChangeType.ConfChangeAddNode,
  nodeId,
})
const v2 = (transition: T, changes: ConfChangeSingle[], ctx = ''): ConfChangeV2 => ({
  transition,
  changes,
  context: new TextEncoder().encode(ctx),
})
const v1: ConfChange = {
  id: 7n,
  type: ConfChangeType.ConfChangeRemoveNode,
  nodeId: 3n,
  context: new TextEncoder().encode('ctx'),
}

describe('confchange', () => {
  it('tells V1 from V2 and converts V1 to V2', () => {
    assert.equal(isConfChangeV1(v1), true)
    assert.equal(isConfChangeV1(v2(T.ConfChangeTransitionAuto, [])), false)
    assert.deepEqual(asV2(v1), {
      transition: T.ConfChangeTransitionAuto,
      changes: [{ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3n }],
      context: v1.context,
    })
    const cc = v2(T.ConfChangeTransitionJointExplicit, [add(1n)])
    assert.equal(asV2(cc), cc)
    assert.equal(asV1(v1), v1)
    assert.equal(asV1(cc), undefined)
  })

  it('enterJoint decides on joint consensus and auto-leave', () => {
    const cases: [ConfChangeV2, { autoLeave: boolean; ok: boolean }][] = [
      [v2(T.ConfChangeTransitionAuto, []), { autoLeave: false, ok: false }],
      [v2(T.ConfChangeTransitionAuto, [add(1n)]), { autoLeave: false, ok: false }],
      [v2(T.ConfChangeTransitionAuto, [add(1n), add(2n)]), { autoLeave: true, ok: true }],
      [v2(T.ConfChangeTransitionJointImplicit, [add(1n)]), { autoLeave: true, ok: true }],
      [v2(T.ConfChangeTransitionJointExplicit, [add(1n)]), { autoLeave: false, ok: true }],
      [v2(T.ConfChangeTransitionJointExplicit, []), { autoLeave: false, ok: true }],
    ]
    for (const [cc, want] of cases) assert.deepEqual(enterJoint(cc), want)
  })

  it('leaveJoint is true only for an empty auto change, context aside', () => {
    assert.equal(leaveJoint(v2(T.ConfChangeTransitionAuto, [])), true)
    assert.equal(leaveJoint(v2(T.ConfChangeTransitionAuto, [], 'some context')), true)
    assert.equal(leaveJoint(v2(T.ConfChangeTransitionAuto, [add(0n)])), false)
    assert.equal(leaveJoint(v2(T.ConfChangeTransitionJointImplicit, [])), false)
    assert.equal(leaveJoint(v2(T.ConfChangeTransitionJointExplicit, [])), false)
  })

  it('marshals into entry payloads and back', () => {
    const m1 = marshalConfChange(v1)
    assert.equal(m1.type, EntryType.EntryConfChange)
    assert.deepEqual(unmarshalConfChange(m1.data), v1)
    const cc = v2(T.ConfChangeTransitionJointImplicit, [add(2n), add(3n)], 'x')
    const m2 = marshalConfChange(cc)
    assert.equal(m2.type, EntryType.EntryConfChangeV2)
    assert.deepEqual(unmarshalConfChangeV2(m2.data), cc)
    assert.deepEqual(confChangeFromEntry(entry(m2)), cc)
    assert.deepEqual(confChangeFromEntry(entry(m1)), v1)
    assert.equal(confChangeFromEntry(entry({ data: m1.data })), undefined)
  })

  it('marshals null as an empty V2 that leaves the joint state', () => {
    const m = marshalConfChange(null)
    assert.deepEqual(m, { type: EntryType.EntryConfChangeV2, data: EMPTY_BYTES })
    assert.equal(leaveJoint(unmarshalConfChangeV2(m.data)), true)
  })

  it('unmarshal throws MALFORMED on bad payloads', () => {
    assert.throws(
      () => unmarshalConfChangeV2(new Uint8Array([0x12, 9])),
      (err) => RaftError.is(err, 'MALFORMED'),
    )
  })

  it('parses and prints the text form', () => {
    const ccs = confChangesFromString(' v1 l2 r3 u18446744073709551615 ')
    assert.deepEqual(ccs, [
      { type: ConfChangeType.ConfChangeAddNode, nodeId: 1n },
      { type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 2n },
      { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3n },
      { type: ConfChangeType.ConfChangeUpdateNode, nodeId: 0xffff_ffff_ffff_ffffn },
    ])
    assert.equal(confChangesToString(ccs), 'v1 l2 r3 u18446744073709551615')
    assert.deepEqual(confChangesFromString('  '), [])
    assert.equal(confChangesToString([]), '')
    assert.equal(confChangesToString([{ type: 9 as ConfChangeType, nodeId: 5n }]), 'unknown5')
  })

  it('rejects bad text with Go error texts', () => {
    const cases: [string, string][] = [
      ['v', 'unknown token v'],
      ['v1  v2', 'unknown token '],
      ['x1', 'unknown input: x1'],
      ['v1x', 'strconv.ParseUint: parsing "1x": invalid syntax'],
      ['v-1', 'strconv.ParseUint: parsing "-1": invalid syntax'],
      [
        'v18446744073709551616',
        'strconv.ParseUint: parsing "18446744073709551616": value out of range',
      ],
    ]
    for (const [input, text] of cases) {
      assert.throws(
        () => confChangesFromString(input),
        (err) => RaftError.is(err, 'CONF_CHANGE') && err.message === text,
      )
    }
  })
})

describe('confStateEquivalent', () => {
  const cs = (fields: Partial<ConfState>): ConfState => ({ ...emptyConfState(), ...fields })

  it('ignores order, and reports differences', () => {
    const cases: [ConfState, ConfState, boolean][] = [
      [
        cs({
          voters: [1n, 2n, 3n],
          learners: [5n, 4n, 6n],
          votersOutgoing: [9n, 8n, 7n],
          learnersNext: [10n, 20n, 15n],
        }),
        cs({
          voters: [1n, 2n, 3n],
          learners: [4n, 5n, 6n],
          votersOutgoing: [7n, 9n, 8n],
          learnersNext: [20n, 10n, 15n],
        }),
        true,
      ],
      [cs({}), cs({}), true],
      [cs({ voters: [1n, 2n, 3n, 4n] }), cs({ voters: [2n, 1n, 3n] }), false],
      [cs({ voters: [1n, 4n, 3n] }), cs({ voters: [2n, 1n, 3n] }), false],
      [cs({ autoLeave: true }), cs({}), false],
    ]
    for (const [a, b, ok] of cases) assert.equal(confStateEquivalent(a, b) === null, ok)
  })

  it('prints both configurations the way Go does', () => {
    const text = confStateEquivalent(
      cs({ voters: [3n, 1n], autoLeave: true }),
      cs({ voters: [1n] }),
    )
    assert.equal(
      text,
      'ConfStates not equivalent after sorting:\n' +
        'raftpb.ConfState{Voters:[]uint64{0x1, 0x3}, Learners:[]uint64(nil), VotersOutgoing:[]uint64(nil), LearnersNext:[]uint64(nil), AutoLeave:true}\n' +
        'raftpb.ConfState{Voters:[]uint64{0x1}, Learners:[]uint64(nil), VotersOutgoing:[]uint64(nil), LearnersNext:[]uint64(nil), AutoLeave:false}\n' +
        'Inputs were:\n' +
        'raftpb.ConfState{Voters:[]uint64{0x3, 0x1}, Learners:[]uint64(nil), VotersOutgoing:[]uint64(nil), LearnersNext:[]uint64(nil), AutoLeave:true}\n' +
        'raftpb.ConfState{Voters:[]uint64{0x1}, Learners:[]uint64(nil), VotersOutgoing:[]uint64(nil), LearnersNext:[]uint64(nil), AutoLeave:false}',
    )
  })
})
