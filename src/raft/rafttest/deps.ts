/**
 * The seams of the interaction harness: everything it needs from RawNode, MemoryStorage, the
 * describe functions, the conf change codec and the datadriven parser, declared structurally.
 *
 * The harness was written before those pieces existed, so it names only the members it calls
 * (camelCase of etcd-io/raft's Go API); whoever wires the harness up passes a `Deps` built from
 * the real implementations. Errors that Go returns to the harness (proposal dropped, peer not
 * found, compacted, a malformed conf change) must be thrown as `RaftError`: the harness prints
 * their message, exactly as etcd's harness prints `err.Error()`. Anything else thrown is a bug and
 * fails the test.
 */

import type { Logger } from '../logger.js'
import { stateTypeName, type ReadState, type Ready, type SoftState } from '../ready.js'
import type {
  ConfChange,
  ConfChangeSingle,
  ConfChangeV2,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  Snapshot,
} from '../raftpb/types.js'

/** A raft role: ready.ts's StateType (follower 0 ... pre-candidate 3). */
export type StateTypeLike = number

/** Go's StateType.String() names, indexed by value. */
export const stateTypeNames: readonly string[] = [0, 1, 2, 3].map((s) => stateTypeName(s))

export type { SoftState, ReadState, Ready }

/** Go's BasicStatus, whose embedded HardState and SoftState stay nested here. */
export interface BasicStatusLike {
  id: NodeId
  hardState: HardState
  softState: SoftState
}

/** An opaque tracker.Progress: the harness only hands it back to `describeProgressMap`. */
export type ProgressLike = object

/** Go's Status: the harness reads the voter ids (both halves of a joint config) and progress. */
export interface StatusLike extends BasicStatusLike {
  config: { voters: { ids(): Iterable<NodeId> } }
  /** Present and non-empty only on a leader, as Go leaves Status.Progress nil elsewhere. */
  progress?: ReadonlyMap<NodeId, ProgressLike> | null
}

export interface RawNodeLike {
  tick(): void
  campaign(): void
  propose(data: Uint8Array): void
  /** A Pontoon addition: several entries in one MsgProp (docs/divergence.md). */
  proposeBatch(datas: readonly Uint8Array[]): void
  proposeConfChange(cc: ConfChange | ConfChangeV2): void
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState
  step(m: Message): void
  ready(): Ready
  hasReady(): boolean
  advance(): void
  status(): StatusLike
  basicStatus(): BasicStatusLike
  reportUnreachable(id: NodeId): void
  transferLeader(transferee: NodeId): void
  forgetLeader(): void
  /**
   * Test hook (Go: raft_test.go's setRandomizedElectionTimeout, which sets
   * `r.raft.randomizedElectionTimeout`). Raft re-randomizes it on its next state change.
   */
  setRandomizedElectionTimeout(ticks: number): void
}

/** raft's Storage plus the MemoryStorage writes the harness makes. */
export interface StorageLike {
  initialState(): { hardState: HardState; confState: ConfState }
  entries(lo: number, hi: number, maxSize: number): Entry[]
  term(index: number): number
  lastIndex(): number
  firstIndex(): number
  snapshot(): Snapshot
  setHardState(hs: HardState): void
  applySnapshot(snap: Snapshot): void
  compact(compactIndex: number): void
  append(entries: Entry[]): void
}

/** 0 = ReadOnlySafe, 1 = ReadOnlyLeaseBased (Go's ReadOnlyOption values). */
export type ReadOnlyOptionLike = number

/** raft.Config. Sizes are numbers; Infinity stands for Go's MaxUint64 "no limit". */
export interface ConfigLike {
  id: NodeId
  electionTick: number
  heartbeatTick: number
  storage: StorageLike
  applied: number
  asyncStorageWrites: boolean
  /** A Pontoon addition (docs/divergence.md); etcd-io/raft's files leave it false. */
  persistTermBeforeSend: boolean
  maxSizePerMsg: number
  maxCommittedSizePerReady: number
  maxUncommittedEntriesSize: number
  maxInflightMsgs: number
  maxInflightBytes: number
  checkQuorum: boolean
  preVote: boolean
  readOnlyOption: ReadOnlyOptionLike
  logger: Logger
  disableProposalForwarding: boolean
  disableConfChangeValidation: boolean
  stepDownOnRemoval: boolean
}

/** One datadriven argument: `key=(a,b)` gives vals [a, b], `key=v` [v], a bare `key` []. */
export interface CmdArg {
  key: string
  vals: string[]
}

/** One datadriven directive, as the parser produces it. */
export interface Directive {
  cmd: string
  args: CmdArg[]
  input: string
  pos: string
}

export interface Deps {
  /** Throws a RaftError when the config is invalid. */
  newRawNode(config: ConfigLike): RawNodeLike
  newMemoryStorage(): StorageLike
  /** Each describe function formats entry data with the default Go `%q` formatter. */
  describeReady(rd: Ready): string
  describeMessage(m: Message): string
  describeEntries(entries: Entry[]): string
  /** tracker.ProgressMap.String(): `<id>: <progress>\n` per peer, sorted by id. */
  describeProgressMap(progress: ReadonlyMap<NodeId, ProgressLike>): string
  /** raftpb.ConfChangesFromString (`v1 l2 r3 u4`); throws a RaftError on a bad token. */
  confChangesFromString(s: string): ConfChangeSingle[]
  /** Protobuf decoding of EntryConfChange / EntryConfChangeV2 data; throws a RaftError. */
  decodeConfChange(data: Uint8Array): ConfChange
  decodeConfChangeV2(data: Uint8Array): ConfChangeV2
  /** datadriven.ParseLine for the extra command lines of a directive's input; throws if bad. */
  parseLine(line: string): { cmd: string; args: CmdArg[] }
}
