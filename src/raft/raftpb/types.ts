/**
 * The raftpb records: entries, messages, hard state, configuration and snapshots.
 *
 * These mirror etcd-io/raft's raftpb/raft.proto (field numbers live in codec.ts). Terms and indexes
 * are JS numbers (asserted safe integers where they enter the core); node ids are 64-bit on the
 * wire and etcd member ids are random 64-bit values, so they are `bigint` here and stay exact.
 * Byte payloads are Uint8Array; an absent payload is an empty array, never null.
 */

/** A node id: an unsigned 64-bit integer. 0 (`None`) means "no node". */
export type NodeId = bigint

export const None: NodeId = 0n
/** The local target that persists entries, hard state and snapshots (2^64-1). */
export const LocalAppendThread: NodeId = 0xffff_ffff_ffff_ffffn
/** The local target that applies committed entries (2^64-2). */
export const LocalApplyThread: NodeId = 0xffff_ffff_ffff_fffen

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0)

export enum EntryType {
  EntryNormal = 0,
  EntryConfChange = 1,
  EntryConfChangeV2 = 2,
}

export enum MessageType {
  MsgHup = 0,
  MsgBeat = 1,
  MsgProp = 2,
  MsgApp = 3,
  MsgAppResp = 4,
  MsgVote = 5,
  MsgVoteResp = 6,
  MsgSnap = 7,
  MsgHeartbeat = 8,
  MsgHeartbeatResp = 9,
  MsgUnreachable = 10,
  MsgSnapStatus = 11,
  MsgCheckQuorum = 12,
  MsgTransferLeader = 13,
  MsgTimeoutNow = 14,
  MsgReadIndex = 15,
  MsgReadIndexResp = 16,
  MsgPreVote = 17,
  MsgPreVoteResp = 18,
  MsgStorageAppend = 19,
  MsgStorageAppendResp = 20,
  MsgStorageApply = 21,
  MsgStorageApplyResp = 22,
  MsgForgetLeader = 23,
}

export enum ConfChangeType {
  ConfChangeAddNode = 0,
  ConfChangeRemoveNode = 1,
  ConfChangeUpdateNode = 2,
  ConfChangeAddLearnerNode = 3,
}

export enum ConfChangeTransition {
  ConfChangeTransitionAuto = 0,
  ConfChangeTransitionJointImplicit = 1,
  ConfChangeTransitionJointExplicit = 2,
}

export interface Entry {
  term: number
  index: number
  type: EntryType
  data: Uint8Array
}

export interface HardState {
  term: number
  vote: NodeId
  commit: number
}

/**
 * The membership of a group. Slices are sorted by id wherever raft produces them.
 * Invariant: voters ∩ learners = ∅; learnersNext ⊆ votersOutgoing; autoLeave only when joint.
 */
export interface ConfState {
  /** The voters of the incoming configuration (the only one when not joint). */
  voters: NodeId[]
  learners: NodeId[]
  /** The voters of the outgoing configuration; empty unless joint. */
  votersOutgoing: NodeId[]
  /** Voters of the outgoing configuration that become learners when the joint state is left. */
  learnersNext: NodeId[]
  /** When joint: leave the joint configuration automatically once it is applied. */
  autoLeave: boolean
}

export interface SnapshotMetadata {
  confState: ConfState
  index: number
  term: number
}

export interface Snapshot {
  data: Uint8Array
  metadata: SnapshotMetadata
}

export interface Message {
  type: MessageType
  to: NodeId
  from: NodeId
  term: number
  /**
   * With MsgApp: the term of the entry at `index`. With MsgAppResp rejections: the term of the
   * hint. With MsgStorageAppendResp: the term of the last stable entry.
   */
  logTerm: number
  index: number
  entries: Entry[]
  commit: number
  /** Only MsgStorageAppend carries a vote (the HardState's vote). */
  vote: NodeId
  /** Only MsgSnap, MsgStorageAppend and MsgStorageAppendResp carry one; otherwise null. */
  snapshot: Snapshot | null
  reject: boolean
  rejectHint: number
  context: Uint8Array
  /** Only local storage messages carry responses, delivered once their work is durable. */
  responses: Message[]
}

export interface ConfChange {
  /** An opaque id, kept for wire compatibility (etcd sets it to a request id). */
  id: bigint
  type: ConfChangeType
  nodeId: NodeId
  context: Uint8Array
}

export interface ConfChangeSingle {
  type: ConfChangeType
  nodeId: NodeId
}

export interface ConfChangeV2 {
  transition: ConfChangeTransition
  changes: ConfChangeSingle[]
  context: Uint8Array
}

/** Shared by every newMessage() that has no entries or responses; frozen, so a push throws. */
export const NO_ENTRIES = Object.freeze([]) as unknown as Entry[]
const NO_RESPONSES = Object.freeze([]) as unknown as Message[]

/**
 * A message of `type` to `to` with every other field at its zero value; the caller then sets the
 * fields it needs one by one. Of the same object shape as message()'s, for the hot paths:
 * message()'s argument has a different shape at each of its many call sites, which makes its
 * property reads megamorphic, and it is one more allocation per message. Unlike message(), the
 * empty `entries` and `responses` are shared frozen arrays (two allocations fewer per message, a
 * third of its size): assign these fields, never push onto them.
 */
export function newMessage(type: MessageType, to: NodeId): Message {
  return {
    type,
    to,
    from: None,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: NO_ENTRIES,
    commit: 0,
    vote: None,
    snapshot: null,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
    responses: NO_RESPONSES,
  }
}

/** Builds a message with every field present (one object shape for the whole core). */
export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    type: fields.type,
    to: fields.to ?? None,
    from: fields.from ?? None,
    term: fields.term ?? 0,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? [],
    commit: fields.commit ?? 0,
    vote: fields.vote ?? None,
    snapshot: fields.snapshot ?? null,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    context: fields.context ?? EMPTY_BYTES,
    responses: fields.responses ?? [],
  }
}

export function entry(fields: Partial<Entry>): Entry {
  return {
    term: fields.term ?? 0,
    index: fields.index ?? 0,
    type: fields.type ?? EntryType.EntryNormal,
    data: fields.data ?? EMPTY_BYTES,
  }
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
}

export function emptySnapshot(): Snapshot {
  return { data: EMPTY_BYTES, metadata: { confState: emptyConfState(), index: 0, term: 0 } }
}

export function emptyHardState(): HardState {
  return { term: 0, vote: None, commit: 0 }
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === None && hs.commit === 0
}

export function isEmptySnap(snap: Snapshot | null): boolean {
  return snap === null || snap.metadata.index === 0
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}
