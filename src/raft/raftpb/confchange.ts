/**
 * Helpers over the two configuration change records (etcd-io/raft raftpb/confchange.go and
 * confstate.go): converting a legacy ConfChange to a ConfChangeV2, deciding whether a change
 * enters or leaves a joint configuration, wrapping changes into entry payloads and back, the
 * `v1 l2 r3 u4` text form used by tests, and comparing ConfStates.
 *
 * Applying a change to the tracker is left to src/raft/confchange/.
 */

import { assertNever } from '../assert.js'
import { RaftError } from '../errors.js'
import {
  decodeConfChange,
  decodeConfChangeV2,
  encodeConfChange,
  encodeConfChangeV2,
} from './codec.js'
import {
  ConfChangeTransition,
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type NodeId,
} from './types.js'

const MAX_UINT64 = 0xffff_ffff_ffff_ffffn

/** Tells a legacy ConfChange from a ConfChangeV2 (only the latter has `changes`). */
export function isConfChangeV1(cc: ConfChange | ConfChangeV2): cc is ConfChange {
  return !('changes' in cc)
}

/** The ConfChangeV2 carrying out the same operation; a ConfChangeV2 is returned as is. */
export function asV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if (!isConfChangeV1(cc)) return cc
  return {
    transition: ConfChangeTransition.ConfChangeTransitionAuto,
    changes: [{ type: cc.type, nodeId: cc.nodeId }],
    context: cc.context,
  }
}

/** The legacy ConfChange, or undefined for a ConfChangeV2. */
export function asV1(cc: ConfChange | ConfChangeV2): ConfChange | undefined {
  return isConfChangeV1(cc) ? cc : undefined
}

/**
 * Whether the change uses joint consensus (`ok`): it does when it holds more than one change or
 * asks for a joint transition explicitly. `autoLeave` says whether raft leaves the joint state by
 * itself. Joint consensus is used liberally: some multi-change sets could be applied one at a
 * time, but that depends on the configuration they apply to.
 */
export function enterJoint(cc: ConfChangeV2): { autoLeave: boolean; ok: boolean } {
  if (cc.transition === ConfChangeTransition.ConfChangeTransitionAuto && cc.changes.length <= 1) {
    return { autoLeave: false, ok: false }
  }
  switch (cc.transition) {
    case ConfChangeTransition.ConfChangeTransitionAuto:
    case ConfChangeTransition.ConfChangeTransitionJointImplicit:
      return { autoLeave: true, ok: true }
    case ConfChangeTransition.ConfChangeTransitionJointExplicit:
      return { autoLeave: false, ok: true }
    default:
      return assertNever(cc.transition, 'transition')
  }
}

/** A change leaves the joint configuration when it is empty apart from its context. */
export function leaveJoint(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.ConfChangeTransitionAuto && cc.changes.length === 0
}

/**
 * The entry type and payload for a conf change. `null` becomes an empty EntryConfChangeV2, which
 * decodes as "leave the joint configuration" and, being zero-sized, is never refused by the
 * uncommitted-size limit.
 */
export function marshalConfChange(cc: ConfChange | ConfChangeV2 | null): {
  type: EntryType
  data: Uint8Array
} {
  if (cc === null) return { type: EntryType.EntryConfChangeV2, data: EMPTY_BYTES }
  if (isConfChangeV1(cc)) return { type: EntryType.EntryConfChange, data: encodeConfChange(cc) }
  return { type: EntryType.EntryConfChangeV2, data: encodeConfChangeV2(cc) }
}

/** Decodes an EntryConfChange payload; throws RaftError MALFORMED. */
export function unmarshalConfChange(data: Uint8Array): ConfChange {
  return decodeConfChange(data)
}

/** Decodes an EntryConfChangeV2 payload; throws RaftError MALFORMED. */
export function unmarshalConfChangeV2(data: Uint8Array): ConfChangeV2 {
  return decodeConfChangeV2(data)
}

/** The conf change a conf-change entry carries, or undefined for a normal entry. */
export function confChangeFromEntry(e: Entry): ConfChange | ConfChangeV2 | undefined {
  switch (e.type) {
    case EntryType.EntryNormal:
      return undefined
    case EntryType.EntryConfChange:
      return decodeConfChange(e.data)
    case EntryType.EntryConfChangeV2:
      return decodeConfChangeV2(e.data)
    default:
      return assertNever(e.type, 'entry type')
  }
}

const opByLetter: Record<string, ConfChangeType> = {
  v: ConfChangeType.ConfChangeAddNode,
  l: ConfChangeType.ConfChangeAddLearnerNode,
  r: ConfChangeType.ConfChangeRemoveNode,
  u: ConfChangeType.ConfChangeUpdateNode,
}

/**
 * Parses space-separated operations: `v<id>` adds a voter, `l<id>` a learner, `r<id>` removes and
 * `u<id>` updates a node. Errors (RaftError CONF_CHANGE) carry Go's texts, since test
 * transcripts print them.
 */
export function confChangesFromString(s: string): ConfChangeSingle[] {
  const trimmed = s.trim()
  if (trimmed === '') return []
  return trimmed.split(' ').map((tok) => {
    if (tok.length < 2) throw new RaftError('CONF_CHANGE', `unknown token ${tok}`)
    const type = opByLetter[tok[0] as string]
    if (type === undefined) throw new RaftError('CONF_CHANGE', `unknown input: ${tok}`)
    return { type, nodeId: parseUint64(tok.slice(1)) }
  })
}

/** Go's strconv.ParseUint(s, 10, 64), with its error texts. */
function parseUint64(s: string): NodeId {
  if (!/^[0-9]+$/.test(s)) {
    throw new RaftError('CONF_CHANGE', `strconv.ParseUint: parsing "${s}": invalid syntax`)
  }
  const v = BigInt(s)
  if (v > MAX_UINT64) {
    throw new RaftError('CONF_CHANGE', `strconv.ParseUint: parsing "${s}": value out of range`)
  }
  return v
}

const letterByOp: Record<ConfChangeType, string> = {
  [ConfChangeType.ConfChangeAddNode]: 'v',
  [ConfChangeType.ConfChangeAddLearnerNode]: 'l',
  [ConfChangeType.ConfChangeRemoveNode]: 'r',
  [ConfChangeType.ConfChangeUpdateNode]: 'u',
}

/** The inverse of confChangesFromString; ids print in decimal. */
export function confChangesToString(ccs: readonly ConfChangeSingle[]): string {
  return ccs.map((cc) => `${letterByOp[cc.type] ?? 'unknown'}${cc.nodeId}`).join(' ')
}

/**
 * Null when both ConfStates describe the same configuration (each id list compared as a set
 * after sorting); otherwise Go's error text, which names both sorted and original values.
 */
export function confStateEquivalent(a: ConfState, b: ConfState): string | null {
  const sa = sortedConfState(a)
  const sb = sortedConfState(b)
  if (confStatesEqual(sa, sb)) return null
  return (
    `ConfStates not equivalent after sorting:\n${goStructOf(sa)}\n${goStructOf(sb)}\n` +
    `Inputs were:\n${goStructOf(a)}\n${goStructOf(b)}`
  )
}

function sortedIds(ids: readonly NodeId[]): NodeId[] {
  return [...ids].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
}

function sortedConfState(cs: ConfState): ConfState {
  return {
    voters: sortedIds(cs.voters),
    learners: sortedIds(cs.learners),
    votersOutgoing: sortedIds(cs.votersOutgoing),
    learnersNext: sortedIds(cs.learnersNext),
    autoLeave: cs.autoLeave,
  }
}

function idsEqual(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i])
}

function confStatesEqual(a: ConfState, b: ConfState): boolean {
  return (
    idsEqual(a.voters, b.voters) &&
    idsEqual(a.learners, b.learners) &&
    idsEqual(a.votersOutgoing, b.votersOutgoing) &&
    idsEqual(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave
  )
}

/** Go's `%+#v` of a raftpb.ConfState value (empty slices print as nil, as Go's copies are). */
function goStructOf(cs: ConfState): string {
  const ids = (v: readonly NodeId[]): string =>
    v.length === 0
      ? '[]uint64(nil)'
      : `[]uint64{${v.map((id) => `0x${id.toString(16)}`).join(', ')}}`
  return (
    `raftpb.ConfState{Voters:${ids(cs.voters)}, Learners:${ids(cs.learners)}, ` +
    `VotersOutgoing:${ids(cs.votersOutgoing)}, LearnersNext:${ids(cs.learnersNext)}, ` +
    `AutoLeave:${cs.autoLeave}}`
  )
}
