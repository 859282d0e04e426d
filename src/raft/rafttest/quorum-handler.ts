/**
 * The data-driven handler for etcd-io/raft's quorum/testdata (a port of quorum/datadriven_test.go).
 *
 *   committed cfg=(1,2,3) [cfgj=(2,3,4)|cfgj=zero] idx=(12,_,5,...)
 *   vote      cfg=(1,2,3) [cfgj=(...)]             votes=(y,n,_,...)
 *
 * idx and votes list one value per distinct voter, in the order the voters appear in cfg then
 * cfgj; `_` means "nothing known". Besides the result, the handler recomputes it in ways that
 * must agree (a naive algorithm, joint with an empty or the same config, swapped halves, lowered
 * indexes) and prints a `<-- via ...` line for each disagreement.
 */

import { JointConfig } from '../quorum/joint.js'
import { MajorityConfig } from '../quorum/majority.js'
import { MapAckIndexer, compareIds, indexString, voteResultName } from '../quorum/types.js'
import type { AckedIndexer, Index } from '../quorum/types.js'
import type { NodeId } from '../raftpb/types.js'
import { parseGoUint64 } from './datadriven.js'
import type { Directive, Handler } from './datadriven.js'

interface QuorumInput {
  joint: boolean
  ids: NodeId[]
  idsj: NodeId[]
  /** Acked indexes, 0 for `_`. */
  idxs: Index[]
  /** 0 unknown, 1 no, 2 yes: shaped like idxs so both share makeLookuper. */
  votes: Index[]
}

export function createQuorumHandler(): Handler {
  return handleQuorum
}

function handleQuorum(d: Directive): string {
  const input = parseArgs(d)
  const c = new MajorityConfig(input.ids)
  const cj = new MajorityConfig(input.idsj)
  const values = d.cmd === 'vote' ? input.votes : input.idxs
  const voters = new JointConfig(c, cj).ids()
  if (voters.size !== values.length) {
    return `error: mismatched input (explicit or _) for voters ${goMapSet(voters)}: [${values.map(indexString).join(' ')}]`
  }
  switch (d.cmd) {
    case 'committed':
      return committed(input, c, cj)
    case 'vote':
      return vote(input, c, cj)
    default:
      throw new Error(`unknown command: ${d.cmd}`)
  }
}

function parseArgs(d: Directive): QuorumInput {
  const input: QuorumInput = { joint: false, ids: [], idsj: [], idxs: [], votes: [] }
  for (const arg of d.args) {
    for (const val of arg.vals) {
      switch (arg.key) {
        case 'cfg':
          input.ids.push(parseGoUint64(val))
          break
        case 'cfgj':
          input.joint = true
          if (val === 'zero') {
            if (arg.vals.length !== 1) throw new Error("cannot mix 'zero' into configuration")
          } else input.idsj.push(parseGoUint64(val))
          break
        case 'idx':
          input.idxs.push(parseIndex(val))
          break
        case 'votes':
          input.votes.push(parseVote(val))
          break
        default:
          throw new Error(`unknown arg ${arg.key}`)
      }
    }
  }
  return input
}

function parseIndex(val: string): Index {
  // `_` is registered as 0, so 0 itself cannot be written.
  if (val === '_') return 0
  const n = Number(parseGoUint64(val))
  if (n === 0) throw new Error('cannot use 0 as idx')
  return n
}

function parseVote(val: string): Index {
  switch (val) {
    case 'y':
      return 2
    case 'n':
      return 1
    case '_':
      return 0
    default:
      throw new Error(`unknown vote: ${val}`)
  }
}

/**
 * Maps values to voters in order of first appearance in ids then idsj, then drops the zeroes
 * (`_`): "no entry" differs from "index 0".
 */
function makeLookuper(values: Index[], ids: NodeId[], idsj: NodeId[]): Map<NodeId, Index> {
  const l = new Map<NodeId, Index>()
  let p = 0
  for (const id of [...ids, ...idsj]) {
    if (l.has(id) || p >= values.length) continue
    l.set(id, values[p++] as Index)
  }
  for (const [id, v] of l) if (v === 0) l.delete(id)
  return l
}

function committed(input: QuorumInput, c: MajorityConfig, cj: MajorityConfig): string {
  const l = new MapAckIndexer(makeLookuper(input.idxs, input.ids, input.idsj))
  if (input.joint) {
    const cc = new JointConfig(c, cj)
    let out = cc.describe(l)
    const idx = cc.committedIndex(l)
    // Swapping the halves must not matter.
    const aIdx = new JointConfig(cj, c).committedIndex(l)
    if (aIdx !== idx) out += `${indexString(aIdx)} <-- via symmetry\n`
    return out + `${indexString(idx)}\n`
  }
  const idx = c.committedIndex(l)
  let out = c.describe(l)
  const check = (aIdx: Index, how: string): void => {
    if (aIdx !== idx) out += `${indexString(aIdx)} <-- ${how}`
  }
  check(alternativeMajorityCommittedIndex(c, l), 'via alternative computation\n')
  check(new JointConfig(c, new MajorityConfig()).committedIndex(l), 'via zero-joint quorum\n')
  check(new JointConfig(c, c).committedIndex(l), 'via self-joint quorum\n')
  for (const id of c) {
    const iidx = l.ackedIndex(id) ?? 0
    if (idx > iidx && iidx > 0) {
      // Lowering an index that is already below the committed index changes nothing.
      // (etcd prints these two without a newline.)
      check(c.committedIndex(overlay(c, l, id, iidx - 1)), `overlaying ${id}->${iidx}`)
      check(c.committedIndex(overlay(c, l, id, 0)), `overlaying ${id}->0`)
    }
  }
  return out + `${indexString(idx)}\n`
}

/** `l` restricted to the voters of `c`, with voter `id` acknowledging `idx` instead. */
function overlay(c: MajorityConfig, l: AckedIndexer, id: NodeId, idx: Index): AckedIndexer {
  const ll = new Map<NodeId, Index>()
  for (const iid of c) {
    const v = iid === id ? idx : l.ackedIndex(iid)
    if (v !== undefined) ll.set(iid, v)
  }
  return new MapAckIndexer(ll)
}

/**
 * The committed index computed the slow, obvious way: for each acknowledged index count the
 * voters at or above it, and take the largest index a quorum reached.
 */
export function alternativeMajorityCommittedIndex(c: MajorityConfig, l: AckedIndexer): Index {
  if (c.size === 0) return Infinity
  const acked: Index[] = []
  for (const id of c) {
    const idx = l.ackedIndex(id)
    if (idx !== undefined) acked.push(idx)
  }
  const q = Math.floor(c.size / 2) + 1
  let maxQuorumIdx = 0
  for (const idx of acked) {
    const votes = acked.filter((other) => other >= idx).length
    if (votes >= q && idx > maxQuorumIdx) maxQuorumIdx = idx
  }
  return maxQuorumIdx
}

function vote(input: QuorumInput, c: MajorityConfig, cj: MajorityConfig): string {
  const votes = new Map<NodeId, boolean>()
  for (const [id, v] of makeLookuper(input.votes, input.ids, input.idsj)) votes.set(id, v !== 1)
  if (!input.joint) return `${voteResultName(c.voteResult(votes))}\n`
  const r = new JointConfig(c, cj).voteResult(votes)
  let out = ''
  const ar = new JointConfig(cj, c).voteResult(votes)
  if (ar !== r) out += `${voteResultName(ar)} <-- via symmetry\n`
  return out + `${voteResultName(r)}\n`
}

/** Go's %v of a map[uint64]struct{}: `map[1:{} 2:{}]`, keys sorted. */
function goMapSet(ids: Set<NodeId>): string {
  const keys = Array.from(ids).sort(compareIds)
  return `map[${keys.map((id) => `${id}:{}`).join(' ')}]`
}
