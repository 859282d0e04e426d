/**
 * RawNode: the application's single-threaded handle on a Raft instance (etcd-io/raft rawnode.go).
 *
 * The application ticks it, steps messages into it, and drains its work as Readys:
 *   1. persist Entries, HardState and Snapshot (fsync when mustSync),
 *   2. send Messages,
 *   3. apply the Snapshot and CommittedEntries (applyConfChange for conf changes),
 *   4. call advance().
 * With asyncStorageWrites the Ready instead carries MsgStorageAppend / MsgStorageApply messages to
 * the local append and apply targets, whose responses the application steps back in once the
 * work is durable; advance() is then never called. This lets a server write its disk in parallel
 * with the network (Raft thesis §10.2.1).
 */
import { Raft, confChangeToMsg } from './raft.js'
import { registerRaftAccess } from './internal.js'
import { RawNodeView, type RaftView } from './raft-view.js'
import type { Config } from './config.js'
import { RaftError, errInvalidConfig, errStepLocalMsg, errStepPeerNotFound } from './errors.js'
import { LogSlice } from './types.js'
import { encodeConfChange } from './raftpb/codec.js'
import { asV2 } from './raftpb/confchange.js'
import { NO_MESSAGES, entsSize, isLocalMsg, isLocalMsgTarget, isResponseMsg } from './util.js'
import { getBasicStatus, getStatus, type BasicStatus, type Status } from './status.js'
import type { Progress } from './tracker/progress.js'
import { StateType, type ReadState, type Ready, type SoftState } from './ready.js'
import {
  EMPTY_BYTES,
  ConfChangeType,
  EntryType,
  LocalAppendThread,
  None,
  emptyHardState,
  LocalApplyThread,
  MessageType,
  entry,
  isEmptyHardState,
  isEmptySnap,
  message,
  newMessage,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
} from './raftpb/types.js'

/** A member of the initial configuration, for bootstrap(). */
export interface Peer {
  id: NodeId
  context?: Uint8Array
}

export enum SnapshotStatus {
  SnapshotFinish = 1,
  SnapshotFailure = 2,
}

export enum ProgressType {
  Peer = 0,
  Learner = 1,
}

/** Whether a Ready's state must be fsynced: new entries, or a changed term or vote. */
export function mustSync(st: HardState, prev: HardState, entriesCount: number): boolean {
  // `st === prev` (an unchanged HardState, most Readys) skips the bigint comparison of votes.
  return entriesCount !== 0 || (st !== prev && (st.term !== prev.term || st.vote !== prev.vote))
}

/**
 * What advance() does with a failure of its self-addressed work: Go discards the errors Step
 * returns there (a response to oneself drops nothing), and panics propagate.
 */
function discardRaftError(err: unknown): void {
  if (!(err instanceof RaftError)) throw err
}

export class RawNode {
  /**
   * The state machine. Private to the class (an ES private field, not only a TypeScript one):
   * observers read `view`; src/raft's tests reach it through internal.ts.
   */
  readonly #raft: Raft
  /** A read-only view of the Raft state, for observers; one object for the node's lifetime. */
  readonly view: RaftView
  private readonly asyncStorageWrites: boolean
  private readonly persistTermBeforeSend: boolean
  private prevSoftState: SoftState
  private prevHardState: HardState
  /**
   * raft.leadChanges and raft.voteChanges when prevSoftState and prevHardState were taken: while
   * they are unchanged, so are lead and vote, and the bigint comparisons are skipped (-1: compare).
   */
  private prevLeadChanges: number
  private prevVoteChanges: number
  /**
   * The self-acks accepted with a Ready, stepped on advance() (sync mode only). One array for
   * the node's lifetime, emptied by advance(), as Go reuses its slice: a fresh queue per Ready
   * was one or two allocations per proposal. It never leaves the RawNode.
   */
  private readonly stepsOnAdvance: Message[] = []
  /**
   * Sync mode's storage append response, refilled for every Ready that needs one and handled
   * on advance() after the self-acks (syncAppendPending). It never leaves the RawNode, and
   * raft keeps no reference to it, so one object serves the node's lifetime.
   */
  private readonly syncAppendResp: Message
  private syncAppendPending = false
  /**
   * Sync mode's apply response: the committed entries of the accepted Ready and their encoded
   * size, handed to raft on advance() after the append response. Raft's MsgStorageApplyResp
   * handling is called directly: the message would only carry these two values, and the size
   * was already summed for the applying budget (acceptApplying).
   */
  private syncApplied: Entry[] | null = null
  private syncAppliedSize = 0
  /**
   * propose()'s MsgProp, with its one-entry array and entry, refilled by every call while this
   * node leads: a leader copies proposed entries into its log (appendEntry) and keeps no
   * reference to the message, its array or its entry, so three allocations per proposal go. A
   * follower forwards a shallow copy that shares the entries array, so propose() builds fresh
   * objects in any other role.
   */
  private readonly propEntry: Entry
  private readonly propMsg: Message
  /**
   * The first failure that was not a RaftError (a broken invariant, a panic). Go's raft would
   * have crashed the process; here the node refuses every further call instead, so that it can
   * never run on half-changed state.
   */
  private broken: unknown = null

  static {
    registerRaftAccess((rn) => rn.#raft)
  }

  constructor(config: Config) {
    this.#raft = new Raft(config)
    this.view = new RawNodeView(this.#raft)
    this.asyncStorageWrites = config.asyncStorageWrites ?? false
    this.persistTermBeforeSend = config.persistTermBeforeSend ?? false
    this.prevSoftState = this.#raft.softState()
    this.prevHardState = this.#raft.hardState()
    this.prevLeadChanges = this.#raft.leadChanges
    this.prevVoteChanges = this.#raft.voteChanges
    this.syncAppendResp = newMessage(MessageType.MsgStorageAppendResp, this.#raft.id)
    this.propEntry = { term: 0, index: 0, type: EntryType.EntryNormal, data: EMPTY_BYTES }
    this.propMsg = newMessage(MessageType.MsgProp, None)
    this.propMsg.entries = [this.propEntry]
  }

  private checkUsable(): void {
    if (this.broken !== null) throw this.broken
  }

  /** RaftErrors are expected outcomes (a dropped proposal); anything else breaks the node. */
  private markBroken(err: unknown): unknown {
    if (!(err instanceof RaftError)) this.broken = err
    return err
  }

  tick(): void {
    this.checkUsable()
    try {
      this.#raft.tick()
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  /** Advances only the election clock (deprecated upstream; kept for quiesced groups). */
  tickQuiesced(): void {
    this.#raft.electionElapsed++
  }

  campaign(): void {
    this.checkUsable()
    try {
      this.#raft.step(message({ type: MessageType.MsgHup }))
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  propose(data: Uint8Array): void {
    this.checkUsable()
    try {
      if (this.#raft.state === StateType.StateLeader) {
        // Every field the core reads is reset: a previous step may have been cut short.
        const m = this.propMsg
        const e = this.propEntry
        m.from = this.#raft.id
        m.term = 0
        e.term = 0
        e.index = 0
        e.type = EntryType.EntryNormal
        e.data = data
        try {
          this.#raft.step(m)
        } finally {
          e.data = EMPTY_BYTES // the payload is the caller's: hold it no longer than the call
        }
        return
      }
      // Built field by field (newMessage, an entry literal), like the leader's reused message.
      const m = newMessage(MessageType.MsgProp, None)
      m.from = this.#raft.id
      m.entries = [{ term: 0, index: 0, type: EntryType.EntryNormal, data }]
      this.#raft.step(m)
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  /**
   * Proposes several entries as one MsgProp: the leader appends them together and replicates
   * them in one MsgApp per follower, where separate propose() calls cost one MsgApp each (a
   * Pontoon addition; etcd-io/raft reaches the same through Step with a multi-entry MsgProp).
   * All or none: a dropped batch throws PROPOSAL_DROPPED and appends nothing.
   */
  proposeBatch(datas: readonly Uint8Array[]): void {
    this.checkUsable()
    try {
      if (datas.length === 0) return
      const m = newMessage(MessageType.MsgProp, None)
      m.from = this.#raft.id
      const ents = new Array<Entry>(datas.length)
      for (let i = 0; i < datas.length; i++) {
        ents[i] = { term: 0, index: 0, type: EntryType.EntryNormal, data: datas[i] as Uint8Array }
      }
      m.entries = ents
      this.#raft.step(m)
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  proposeConfChange(cc: ConfChange | ConfChangeV2): void {
    this.checkUsable()
    try {
      this.#raft.step(confChangeToMsg(cc))
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  /** Activates a committed conf change; call exactly once per conf-change entry applied. */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    this.checkUsable()
    try {
      return this.#raft.applyConfChange(asV2(cc))
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  /**
   * Steps a message from the network. Local message types are refused unless they come from a
   * local target, and responses from peers we have no progress for are refused.
   */
  step(m: Message): void {
    this.checkUsable()
    try {
      // A local message type must come from a local target; a response from elsewhere must
      // come from a peer we track. Local types first, and then the progress lookup before the
      // comparison with the local targets: those ids do not fit in 64 signed bits, so comparing
      // with them is a call into V8's generic bigint equality, and the tracker's lookup would
      // lose its fast 64-bit comparisons if it saw them.
      if (isLocalMsg(m.type)) {
        if (!isLocalMsgTarget(m.from)) throw errStepLocalMsg()
      } else if (
        isResponseMsg(m.type) &&
        !this.#raft.trk.progress.has(m.from) &&
        !isLocalMsgTarget(m.from)
      ) {
        throw errStepPeerNotFound()
      }
      if (m.type === MessageType.MsgApp) {
        // A MsgApp whose entries do not follow its previous entry would corrupt the log.
        const problem = new LogSlice(m.term, { term: m.logTerm, index: m.index }, m.entries).valid()
        if (problem !== null)
          throw new RaftError(
            'MALFORMED',
            `malformed MsgApp from ${m.from.toString(16)}: ${problem}`,
          )
      }
      this.#raft.step(m)
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  /** The outstanding work; it must be handled and then acknowledged with advance(). */
  ready(): Ready {
    this.checkUsable()
    try {
      const rd = this.readyWithoutAccept()
      this.acceptReady(rd)
      return rd
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  private readyWithoutAccept(): Ready {
    const r = this.#raft
    // The state records are built only when they changed: most Readys carry neither, and the
    // allocations showed in profiles. An unchanged HardState equals the previous one field for
    // field, so mustSync() below gives the same answer with either.
    const softChanged = this.softStateChanged()
    const hardChanged = this.hardStateChanged()
    const hs = hardChanged ? r.hardState() : this.prevHardState
    const rd: Ready = {
      softState: softChanged ? r.softState() : null,
      hardState: hardChanged ? hs : null,
      readStates: r.readStates.length > 0 ? r.readStates : NO_READ_STATES,
      entries: r.raftLog.nextUnstableEnts(),
      snapshot: r.raftLog.hasNextUnstableSnapshot() ? r.raftLog.nextUnstableSnapshot() : null,
      committedEntries: r.raftLog.nextCommittedEnts(!this.asyncStorageWrites),
      messages: r.msgs,
      mustSync: false,
    }
    rd.mustSync = mustSync(hs, this.prevHardState, rd.entries.length)

    if (this.asyncStorageWrites) {
      if (this.needStorageAppendMsg(rd)) {
        const append = this.newStorageAppendMsg(rd)
        if (this.holdsMessages(rd)) {
          append.responses.push(...rd.messages)
          rd.messages = [append]
        } else {
          rd.messages = [...rd.messages, append]
        }
      }
      if (rd.committedEntries.length > 0)
        rd.messages = [...rd.messages, this.newStorageApplyMsg(rd.committedEntries)]
    } else if (r.msgsAfterAppend.length > 0) {
      // Sync mode: the Ready contract already says messages go out after the entries are
      // durable, so the held-back responses to other nodes can join them. The copy is made only
      // when one of them is for another node (a leader's are usually all self-acks), with
      // slice(), not a spread, which goes through the iterator protocol. The loops over the
      // queues are indexed: for-of over the frozen NO_MESSAGES as well as ordinary arrays
      // leaves V8's fast array iteration, and every step allocated an iterator result.
      let out: Message[] | null = null
      const held = r.msgsAfterAppend
      for (let i = 0; i < held.length; i++) {
        const m = held[i] as Message
        if (m.to === r.id) continue
        if (out === null) out = rd.messages.slice()
        out.push(m)
      }
      if (out !== null) rd.messages = out
    }
    return rd
  }

  /** persistTermBeforeSend: whether this Ready's messages wait for its HardState to be durable. */
  private holdsMessages(rd: Ready): boolean {
    const hs = rd.hardState
    if (!this.persistTermBeforeSend || hs === null || rd.messages.length === 0) return false
    return hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote
  }

  private needStorageAppendMsg(rd: Ready): boolean {
    return (
      rd.entries.length > 0 ||
      rd.hardState !== null ||
      !isEmptySnap(rd.snapshot) ||
      this.#raft.msgsAfterAppend.length > 0
    )
  }

  private needStorageAppendRespMsg(rd: Ready): boolean {
    return this.#raft.raftLog.hasNextOrInProgressUnstableEnts() || !isEmptySnap(rd.snapshot)
  }

  private newStorageAppendMsg(rd: Ready): Message {
    const m = message({
      type: MessageType.MsgStorageAppend,
      to: LocalAppendThread,
      from: this.#raft.id,
    })
    m.entries = rd.entries
    if (rd.hardState !== null) {
      // All three or none: an empty reconstructed HardState means "nothing to write".
      m.term = rd.hardState.term
      m.vote = rd.hardState.vote
      m.commit = rd.hardState.commit
    }
    if (!isEmptySnap(rd.snapshot)) m.snapshot = rd.snapshot
    // Self-addressed MsgAppResps come before the MsgStorageAppendResp, so the leader's ack is
    // handled while the entries are still in the unstable log (a fast path for term()).
    m.responses = [...this.#raft.msgsAfterAppend]
    if (this.needStorageAppendRespMsg(rd)) m.responses.push(this.newStorageAppendRespMsg(rd))
    return m
  }

  /**
   * The response confirming that everything handed out so far is durable. It carries the term
   * at send time: if the term changed meanwhile, entries of the unstable log may have been
   * replaced while this write was in flight (an ABA race), so raft ignores its entry part. It
   * names the log's last (index, term) even when this Ready had no entries, so that some
   * response after a term change eventually lets the unstable log shrink.
   */
  private newStorageAppendRespMsg(
    rd: Ready,
    m = newMessage(MessageType.MsgStorageAppendResp, this.#raft.id),
  ): Message {
    const r = this.#raft
    // Every field this response uses is assigned, so that a reused `m` (syncAppendResp)
    // carries nothing over from the previous Ready.
    m.from = LocalAppendThread
    m.term = r.term
    m.index = 0
    m.logTerm = 0
    const tail = r.raftLog.unstable.entries
    if (tail.length > 0) {
      // hasNextOrInProgressUnstableEnts(), and then the log's last entry is the tail's last:
      // read it directly rather than through lastEntryID(), which looks the term up by index
      // (a measurable share of this path, run once per Ready with entries).
      const last = tail[tail.length - 1] as Entry
      m.index = last.index
      m.logTerm = last.term
    }
    m.snapshot = isEmptySnap(rd.snapshot) ? null : rd.snapshot
    return m
  }

  private newStorageApplyMsg(ents: Entry[]): Message {
    return message({
      type: MessageType.MsgStorageApply,
      to: LocalApplyThread,
      from: this.#raft.id,
      entries: ents,
      responses: [this.newStorageApplyRespMsg(ents)],
    })
  }

  private newStorageApplyRespMsg(ents: Entry[]): Message {
    const m = newMessage(MessageType.MsgStorageApplyResp, this.#raft.id)
    m.from = LocalApplyThread
    m.entries = ents
    return m
  }

  /** Records that the application took `rd`; nothing may change the node in between. */
  private acceptReady(rd: Ready): void {
    const r = this.#raft
    // Nothing changed raft since readyWithoutAccept built these from it.
    if (rd.softState !== null) {
      this.prevSoftState = rd.softState
      this.prevLeadChanges = r.leadChanges
    }
    if (rd.hardState !== null && !isEmptyHardState(rd.hardState)) {
      this.prevHardState = rd.hardState
      this.prevVoteChanges = r.voteChanges
    }
    if (rd.readStates.length !== 0) r.readStates = []
    // Summed once: for the applying budget here and, in sync mode, for the apply response.
    const committedSize = rd.committedEntries.length > 0 ? entsSize(rd.committedEntries) : 0
    if (!this.asyncStorageWrites) {
      const steps = this.stepsOnAdvance
      if (steps.length !== 0 || this.syncAppendPending || this.syncApplied !== null)
        r.logger.panic('two accepted Ready structs without call to Advance')
      const held = r.msgsAfterAppend
      for (let i = 0; i < held.length; i++) {
        const m = held[i] as Message
        if (m.to === r.id) steps.push(m) // indexed: see readyWithoutAccept
      }
      if (this.needStorageAppendRespMsg(rd)) {
        this.newStorageAppendRespMsg(rd, this.syncAppendResp)
        this.syncAppendPending = true
      }
      if (rd.committedEntries.length > 0) {
        this.syncApplied = rd.committedEntries
        this.syncAppliedSize = committedSize
      }
    }
    // The shared empty queue: the handed-out array now belongs to the application.
    r.msgs = NO_MESSAGES
    // msgsAfterAppend itself is never handed out (its messages were copied into the Ready, the
    // storage message or stepsOnAdvance), so it is emptied in place and reused: one allocation
    // fewer per proposal. With pop(), which keeps the backing store (see advance()); the
    // shared frozen NO_MESSAGES is empty and never reaches pop().
    const held = r.msgsAfterAppend
    while (held.length > 0) held.pop()
    r.raftLog.acceptUnstable()
    if (rd.committedEntries.length > 0) {
      const ents = rd.committedEntries
      const index = (ents[ents.length - 1] as Entry).index
      r.raftLog.acceptApplying(index, committedSize, !this.asyncStorageWrites)
    }
  }

  /** Whether r.softState() differs from prevSoftState, without building it. */
  private softStateChanged(): boolean {
    const r = this.#raft
    const prev = this.prevSoftState
    return (
      r.state !== prev.raftState || (r.leadChanges !== this.prevLeadChanges && r.lead !== prev.lead)
    )
  }

  /** Whether r.hardState() differs from prevHardState, without building it. */
  private hardStateChanged(): boolean {
    const r = this.#raft
    const prev = this.prevHardState
    return (
      r.term !== prev.term ||
      r.raftLog.committed !== prev.commit ||
      (r.voteChanges !== this.prevVoteChanges && r.vote !== prev.vote)
    )
  }

  hasReady(): boolean {
    const r = this.#raft
    // Asked after every Ready, so it compares fields instead of building the state records.
    if (this.softStateChanged()) return true
    const hsEmpty = r.term === 0 && r.vote === None && r.raftLog.committed === 0
    if (!hsEmpty && this.hardStateChanged()) return true
    if (r.raftLog.hasNextUnstableSnapshot()) return true
    if (r.msgs.length > 0 || r.msgsAfterAppend.length > 0) return true
    if (r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts(!this.asyncStorageWrites))
      return true
    return r.readStates.length !== 0
  }

  /**
   * Acknowledges the last Ready: steps the self-acks, then marks entries stable, then marks
   * entries applied, in that order. Never called with asyncStorageWrites.
   */
  advance(): void {
    this.checkUsable()
    try {
      const r = this.#raft
      if (this.asyncStorageWrites)
        r.logger.panic('Advance must not be called when using AsyncStorageWrites')
      const steps = this.stepsOnAdvance
      try {
        // Stepping never adds to `steps` (only acceptReady does), so the length is fixed here.
        for (let i = 0; i < steps.length; i++) {
          const m = steps[i] as Message // indexed: see readyWithoutAccept
          this.stepOnAdvance(m)
          // A stepped self-ack is referenced by nobody: appendEntry may refill it.
          if (m.type === MessageType.MsgAppResp) r.spareSelfAck = m
        }
        if (this.syncAppendPending) {
          const m = this.syncAppendResp
          // At an unchanged term step() would go straight to its MsgStorageAppendResp case;
          // after a term change it must see the older term.
          if (m.term === r.term) {
            try {
              r.storageAppended(m)
            } catch (err) {
              discardRaftError(err)
            }
          } else {
            this.stepOnAdvance(m)
          }
        }
        const applied = this.syncApplied
        if (applied !== null) {
          try {
            r.storageApplied(applied, this.syncAppliedSize)
          } catch (err) {
            discardRaftError(err)
          }
        }
      } finally {
        // Emptied in place for reuse. With pop(), not `length = 0`: V8 drops the backing
        // store when the length is set to 0, and the next push allocated it again.
        while (steps.length > 0) steps.pop()
        this.syncAppendPending = false
        this.syncApplied = null
      }
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  private stepOnAdvance(m: Message): void {
    try {
      this.#raft.step(m)
    } catch (err) {
      discardRaftError(err)
    }
  }

  status(): Status {
    return getStatus(this.#raft)
  }

  basicStatus(): BasicStatus {
    return getBasicStatus(this.#raft)
  }

  /** Visits every peer's progress, in id order, without copying the map. */
  withProgress(visitor: (id: NodeId, type: ProgressType, pr: Progress) => void): void {
    // Copies, as Go hands out values: a visitor must not be able to change the tracker.
    this.#raft.trk.visit((id, pr) =>
      visitor(id, pr.isLearner ? ProgressType.Learner : ProgressType.Peer, pr.clone()),
    )
  }

  /** The transport failed to deliver to `id`: a replicating follower falls back to probing. */
  reportUnreachable(id: NodeId): void {
    this.checkUsable()
    try {
      this.#raft.step(message({ type: MessageType.MsgUnreachable, from: id }))
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.checkUsable()
    try {
      this.#raft.step(
        message({
          type: MessageType.MsgSnapStatus,
          from: id,
          reject: status === SnapshotStatus.SnapshotFailure,
        }),
      )
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  transferLeader(transferee: NodeId): void {
    this.checkUsable()
    try {
      this.#raft.step(message({ type: MessageType.MsgTransferLeader, from: transferee }))
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  forgetLeader(): void {
    this.checkUsable()
    try {
      this.#raft.step(message({ type: MessageType.MsgForgetLeader }))
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  /**
   * Bootstraps an empty Storage with one ConfChangeAddNode entry per peer at term 1, committed
   * and applied at once. A Storage whose initial snapshot carries the ConfState is the
   * recommended alternative (it needs no log entries).
   */
  bootstrap(peers: Peer[]): void {
    this.checkUsable()
    try {
      if (peers.length === 0) throw errInvalidConfig('must provide at least one peer to Bootstrap')
      const r = this.#raft
      if (r.raftLog.storage.lastIndex() !== 0)
        throw errInvalidConfig("can't bootstrap a nonempty Storage")
      // Nothing is persisted yet: an empty previous HardState makes the first Ready emit one.
      this.prevHardState = emptyHardState()
      this.prevVoteChanges = -1
      r.becomeFollower(1, None)
      const ents = peers.map((peer, i) => {
        const cc: ConfChange = {
          id: 0n,
          type: ConfChangeType.ConfChangeAddNode,
          nodeId: peer.id,
          context: peer.context ?? EMPTY_BYTES,
        }
        return entry({
          type: EntryType.EntryConfChange,
          term: 1,
          index: i + 1,
          data: encodeConfChange(cc),
        })
      })
      r.raftLog.append(ents)
      r.raftLog.committed = ents.length
      for (const peer of peers) {
        r.applyConfChange(
          asV2({
            id: 0n,
            type: ConfChangeType.ConfChangeAddNode,
            nodeId: peer.id,
            context: EMPTY_BYTES,
          }),
        )
      }
    } catch (err) {
      throw this.markBroken(err)
    }
  }

  /** Test hook: pins the election timeout until the next state change. */
  setRandomizedElectionTimeout(ticks: number): void {
    this.#raft.setRandomizedElectionTimeout(ticks)
  }

  /** Requests a linearizable read; the answer arrives as a ReadState with the same context. */
  readIndex(rctx: Uint8Array): void {
    this.checkUsable()
    try {
      this.#raft.step(message({ type: MessageType.MsgReadIndex, entries: [entry({ data: rctx })] }))
    } catch (err) {
      throw this.markBroken(err)
    }
  }
}

const NO_READ_STATES: ReadState[] = Object.freeze([]) as unknown as ReadState[]
