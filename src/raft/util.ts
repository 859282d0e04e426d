/**
 * Message classification, entry size limits and the human-readable descriptions of records
 * (etcd-io/raft util.go). The describe functions produce exactly etcd-io/raft's text: the
 * conformance transcripts compare it byte for byte, so every space and bracket matters.
 */

import { AssertionError } from './assert.js'
import { decodeConfChange, decodeConfChangeV2 } from './raftpb/codec.js'
import { asV2, confChangesToString, isConfChangeV1 } from './raftpb/confchange.js'
import { RaftError } from './errors.js'
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  LocalApplyThread,
  LocalAppendThread,
  MessageType,
  None,
  isEmptyHardState,
  isEmptySnap,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
} from './raftpb/types.js'
import { stateTypeName, type ReadState, type Ready, type SoftState } from './ready.js'

export { entrySize, entsSize, payloadSize, payloadsSize } from './raftpb/codec.js'

function messageTypeTable(members: MessageType[]): boolean[] {
  const table = new Array<boolean>(MessageType.MsgForgetLeader + 1).fill(false)
  for (const t of members) table[t] = true
  return table
}

/**
 * Classification tables indexed by MessageType: these run on every stepped message, and an array
 * read is cheaper than Set.has.
 */
const localMsgs: readonly boolean[] = messageTypeTable([
  MessageType.MsgHup,
  MessageType.MsgBeat,
  MessageType.MsgUnreachable,
  MessageType.MsgSnapStatus,
  MessageType.MsgCheckQuorum,
  MessageType.MsgStorageAppend,
  MessageType.MsgStorageAppendResp,
  MessageType.MsgStorageApply,
  MessageType.MsgStorageApplyResp,
])

const responseMsgs: readonly boolean[] = messageTypeTable([
  MessageType.MsgAppResp,
  MessageType.MsgVoteResp,
  MessageType.MsgHeartbeatResp,
  MessageType.MsgUnreachable,
  MessageType.MsgReadIndexResp,
  MessageType.MsgPreVoteResp,
  MessageType.MsgStorageAppendResp,
  MessageType.MsgStorageApplyResp,
])

/** Messages that never cross the network. MsgForgetLeader is stepped locally but is not one. */
export function isLocalMsg(t: MessageType): boolean {
  return localMsgs[t] === true
}

export function isResponseMsg(t: MessageType): boolean {
  return responseMsgs[t] === true
}

/** The empty message queue, shared by every holder; frozen, so a push into it throws. */
export const NO_MESSAGES: Message[] = Object.freeze([]) as unknown as Message[]

/**
 * Appends `m` to a message queue and returns the queue, which is a new array while the queue is
 * short. The core's queues are handed out with every Ready and start again empty,
 * so most appends are the first, and the first push into an empty array allocates room for 16.
 * Callers store the result: `q = enqueue(q, m)`.
 */
export function enqueue(queue: Message[], m: Message): Message[] {
  if (queue.length === 0) return [m]
  // A second message is common too (a self-ack and a storage response): a two-element literal
  // again saves the growth to 17.
  if (queue.length === 1) return [queue[0] as Message, m]
  queue.push(m)
  return queue
}

export function isLocalMsgTarget(id: NodeId): boolean {
  return id === LocalAppendThread || id === LocalApplyThread
}

export function voteRespMsgType(t: MessageType): MessageType {
  if (t === MessageType.MsgVote) return MessageType.MsgVoteResp
  if (t === MessageType.MsgPreVote) return MessageType.MsgPreVoteResp
  throw new AssertionError(`not a vote message: ${messageTypeName(t)}`)
}

export { limitSize } from './size.js'

// ---------------------------------------------------------------------------------------------
// Enum names (Go's generated String methods print the number for unknown values).

export function messageTypeName(t: MessageType): string {
  return MessageType[t] ?? String(t)
}

export function entryTypeName(t: EntryType): string {
  return EntryType[t] ?? String(t)
}

export function confChangeTypeName(t: ConfChangeType): string {
  return ConfChangeType[t] ?? String(t)
}

export function confChangeTransitionName(t: ConfChangeTransition): string {
  return ConfChangeTransition[t] ?? String(t)
}

// ---------------------------------------------------------------------------------------------
// Descriptions.

/** Formats an entry's data for display; the default is Go's `%q`. */
export type EntryFormatter = (data: Uint8Array) => string

export function describeHardState(hs: HardState): string {
  const vote = hs.vote !== None ? ` Vote:${hs.vote}` : ''
  return `Term:${hs.term}${vote} Commit:${hs.commit}`
}

export function describeSoftState(ss: SoftState): string {
  return `Lead:${ss.lead} State:${stateTypeName(ss.raftState)}`
}

export function describeConfState(cs: ConfState): string {
  return (
    `Voters:${goSlice(cs.voters)} VotersOutgoing:${goSlice(cs.votersOutgoing)} ` +
    `Learners:${goSlice(cs.learners)} LearnersNext:${goSlice(cs.learnersNext)} ` +
    `AutoLeave:${cs.autoLeave}`
  )
}

export function describeSnapshot(snap: Snapshot): string {
  const m = snap.metadata
  return `Index:${m.index} Term:${m.term} ConfState:${describeConfState(m.confState)}`
}

/** A message target: None, the two local storage threads, or the id in hex. */
export function describeTarget(id: NodeId): string {
  if (id === None) return 'None'
  if (id === LocalAppendThread) return 'AppendThread'
  if (id === LocalApplyThread) return 'ApplyThread'
  return id.toString(16)
}

export function describeMessage(m: Message, f?: EntryFormatter): string {
  return describeMessageWithIndent('', m, f)
}

/**
 * Several entries go one per line and responses are nested one level deeper, each line led by
 * `indent`, so that a MsgStorageAppend reads as a block.
 */
function describeMessageWithIndent(indent: string, m: Message, f?: EntryFormatter): string {
  let s =
    `${indent}${describeTarget(m.from)}->${describeTarget(m.to)} ${messageTypeName(m.type)}` +
    ` Term:${m.term} Log:${m.logTerm}/${m.index}`
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`
  if (m.commit !== 0) s += ` Commit:${m.commit}`
  if (m.vote !== None) s += ` Vote:${m.vote}`
  if (m.entries.length === 1) {
    s += ` Entries:[${describeEntry(m.entries[0] as Entry, f)}]`
  } else if (m.entries.length > 1) {
    s += ' Entries:['
    for (const e of m.entries) s += `\n${indent}  ${describeEntry(e, f)}`
    s += `\n${indent}]`
  }
  if (m.snapshot !== null && !isEmptySnap(m.snapshot)) {
    s += `\n${indent}  Snapshot: ${describeSnapshot(m.snapshot)}`
  }
  if (m.responses.length > 0) {
    s += ' Responses:['
    for (const r of m.responses) s += `\n${describeMessageWithIndent(indent + '  ', r, f)}`
    s += `\n${indent}]`
  }
  return s
}

export function describeEntry(e: Entry, f: EntryFormatter = goQuote): string {
  let formatted: string
  switch (e.type) {
    case EntryType.EntryNormal:
      formatted = f(e.data)
      break
    case EntryType.EntryConfChange:
    case EntryType.EntryConfChangeV2:
      formatted = describeConfChangeData(e)
      break
    default:
      formatted = ''
  }
  if (formatted !== '') formatted = ' ' + formatted
  return `${e.term}/${e.index} ${entryTypeName(e.type)}${formatted}`
}

/** A conf change entry's operations (`v2 l3 r1`), or the decode error's text. */
function describeConfChangeData(e: Entry): string {
  try {
    const cc =
      e.type === EntryType.EntryConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data)
    return confChangesToString(asV2(cc).changes)
  } catch (err) {
    if (RaftError.is(err, 'MALFORMED')) return err.message
    throw err
  }
}

/** One described entry per line, each ending in a newline. */
export function describeEntries(ents: readonly Entry[], f?: EntryFormatter): string {
  let s = ''
  for (const e of ents) s += describeEntry(e, f) + '\n'
  return s
}

export function describeReady(rd: Ready, f?: EntryFormatter): string {
  let s = ''
  if (rd.softState !== null) s += describeSoftState(rd.softState) + '\n'
  if (rd.hardState !== null && !isEmptyHardState(rd.hardState)) {
    s += `HardState ${describeHardState(rd.hardState)}\n`
  }
  if (rd.readStates.length > 0) s += `ReadStates ${describeReadStates(rd.readStates)}\n`
  if (rd.entries.length > 0) s += 'Entries:\n' + describeEntries(rd.entries, f)
  if (rd.snapshot !== null && !isEmptySnap(rd.snapshot)) {
    s += `Snapshot ${describeSnapshot(rd.snapshot)}\n`
  }
  if (rd.committedEntries.length > 0) {
    s += 'CommittedEntries:\n' + describeEntries(rd.committedEntries, f)
  }
  if (rd.messages.length > 0) {
    s += 'Messages:\n'
    for (const m of rd.messages) s += describeMessage(m, f) + '\n'
  }
  if (s === '') return '<empty Ready>'
  return `Ready MustSync=${rd.mustSync}:\n${s}`
}

/** Go's `%v` of a []ReadState: `[{12 [114 49]}]`. */
function describeReadStates(rss: readonly ReadState[]): string {
  return goSlice(rss.map((rs) => `{${rs.index} ${goSlice(Array.from(rs.requestCtx))}}`))
}

/**
 * A conf change as Go's protobuf text format prints it in log lines:
 * `transition:ConfChangeTransitionAuto changes:{type:ConfChangeAddNode node_id:3}`.
 */
export function describeConfChange(cc: ConfChange | ConfChangeV2): string {
  const parts: string[] = []
  if (isConfChangeV1(cc)) {
    if (cc.id !== 0n) parts.push(`id:${cc.id}`)
    parts.push(`type:${confChangeTypeName(cc.type)}`, `node_id:${cc.nodeId}`)
  } else {
    parts.push(`transition:${confChangeTransitionName(cc.transition)}`)
    for (const c of cc.changes) {
      parts.push(`changes:{type:${confChangeTypeName(c.type)} node_id:${c.nodeId}}`)
    }
  }
  if (cc.context.length > 0) parts.push(`context:${protoTextQuote(cc.context)}`)
  return parts.join(' ')
}

/** Go's `%v` of a slice: elements separated by spaces, in brackets. */
function goSlice(items: readonly (string | number | bigint)[]): string {
  return `[${items.join(' ')}]`
}

// ---------------------------------------------------------------------------------------------
// Quoting bytes the way Go does.

const HEX = '0123456789abcdef'

function hex2(b: number): string {
  return (HEX[b >> 4] as string) + (HEX[b & 0xf] as string)
}

function hexPadded(v: number, width: number): string {
  return v.toString(16).padStart(width, '0')
}

/** Letters, marks, numbers, punctuation and symbols: Go's strconv.IsPrint without the space. */
const GRAPHIC = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u

function isPrint(r: number): boolean {
  if (r < 0x80) return r >= 0x20 && r < 0x7f
  return GRAPHIC.test(String.fromCodePoint(r))
}

/**
 * Decodes the UTF-8 sequence at `i` as Go's utf8.DecodeRune does: returns the rune and its width,
 * or rune -1 and width 1 for an invalid byte (overlong forms, surrogates, values past U+10FFFF
 * and truncated sequences are invalid).
 */
function decodeRune(b: Uint8Array, i: number): [rune: number, width: number] {
  const b0 = b[i] as number
  if (b0 < 0x80) return [b0, 1]
  const cont = (k: number, lo = 0x80, hi = 0xbf): number => {
    const c = b[i + k]
    return c !== undefined && c >= lo && c <= hi ? c & 0x3f : -1
  }
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1)
    return c1 < 0 ? [-1, 1] : [((b0 & 0x1f) << 6) | c1, 2]
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = cont(1, b0 === 0xe0 ? 0xa0 : 0x80, b0 === 0xed ? 0x9f : 0xbf)
    const c2 = c1 < 0 ? -1 : cont(2)
    return c2 < 0 ? [-1, 1] : [((b0 & 0x0f) << 12) | (c1 << 6) | c2, 3]
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const c1 = cont(1, b0 === 0xf0 ? 0x90 : 0x80, b0 === 0xf4 ? 0x8f : 0xbf)
    const c2 = c1 < 0 ? -1 : cont(2)
    const c3 = c2 < 0 ? -1 : cont(3)
    return c3 < 0 ? [-1, 1] : [((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4]
  }
  return [-1, 1]
}

const SHORT_ESCAPES: Record<number, string> = {
  0x07: '\\a',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x0b: '\\v',
}

function escapeRune(r: number): string {
  if (r === 0x22) return '\\"'
  if (r === 0x5c) return '\\\\'
  if (isPrint(r)) return String.fromCodePoint(r)
  const short = SHORT_ESCAPES[r]
  if (short !== undefined) return short
  if (r < 0x20 || r === 0x7f) return '\\x' + hex2(r)
  if (r < 0x10000) return '\\u' + hexPadded(r, 4)
  return '\\U' + hexPadded(r, 8)
}

/**
 * Go's strconv.Quote of a byte slice (fmt's `%q`): printable runes as they are, the usual
 * backslash escapes, `\xNN` for other control bytes and for bytes that are not valid UTF-8,
 * `\uNNNN` / `\UNNNNNNNN` for unprintable runes.
 */
export function goQuote(data: Uint8Array): string {
  let s = '"'
  for (let i = 0; i < data.length;) {
    const b = data[i] as number
    if (b < 0x80) {
      s += escapeRune(b)
      i++
      continue
    }
    const [r, width] = decodeRune(data, i)
    s += r < 0 ? '\\x' + hex2(b) : escapeRune(r)
    i += width
  }
  return s + '"'
}

/**
 * Go protobuf's text-format quoting of bytes: only `"`, `\`, control bytes and invalid UTF-8 are
 * escaped (`\n`, `\r`, `\t`, else `\xNN`); every valid rune, printable or not, is kept.
 */
function protoTextQuote(data: Uint8Array): string {
  let s = '"'
  for (let i = 0; i < data.length;) {
    const [r, width] = decodeRune(data, i)
    const c = r < 0 ? (data[i] as number) : r
    if (r < 0 || c < 0x20 || c === 0x22 || c === 0x5c) s += protoTextEscape(c)
    else s += String.fromCodePoint(c)
    i += width
  }
  return s + '"'
}

function protoTextEscape(c: number): string {
  switch (c) {
    case 0x22:
      return '\\"'
    case 0x5c:
      return '\\\\'
    case 0x0a:
      return '\\n'
    case 0x0d:
      return '\\r'
    case 0x09:
      return '\\t'
    default:
      return '\\x' + hex2(c)
  }
}
