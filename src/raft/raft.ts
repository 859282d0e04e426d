/**
 * The Raft state machine: roles, elections, replication, snapshots, membership, leader transfer
 * and ReadIndex. It owns the log (RaftLog), the peers' progress (ProgressTracker) and the queues
 * of outgoing messages; it performs no I/O. RawNode drives it and turns its queues into Readys.
 *
 * The decisions, their order and the log lines follow etcd-io/raft exactly: the conformance
 * files in ../shared/conformance/etcd-raft compare them byte for byte.
 */
import { assert } from './assert.js'
import { ReadOnly } from './read-only.js'
import { RaftLog } from './raft-log.js'
import { LogSlice, type EntryID } from './types.js'
import { ReadOnlyOption, validateConfig, type Config, type Rand } from './config.js'
import { errProposalDropped, RaftError } from './errors.js'
import type { Logger } from './logger.js'
import { discardLogger as defaultLogger } from './logger.js'
import { ProgressTracker, type TrackerConfig } from './tracker/tracker.js'
import type { Progress } from './tracker/progress.js'
import { type ProgressMap } from './tracker/progress.js'
import { Inflights } from './tracker/inflights.js'
import { StateType as ProgressStateType } from './tracker/state.js'
import { VoteResult } from './quorum/types.js'
import { Changer } from './confchange/confchange.js'
import { restore as restoreConfState } from './confchange/restore.js'
import {
  asV2,
  confStateEquivalent,
  enterJoint as ccEnterJoint,
  leaveJoint as ccLeaveJoint,
  marshalConfChange,
  unmarshalConfChange,
  unmarshalConfChangeV2,
} from './raftpb/confchange.js'
import {
  NO_MESSAGES,
  describeConfChange,
  enqueue,
  payloadsSize,
  entsSize,
  voteRespMsgType,
} from './util.js'
import { StateType, type ReadState, type SoftState } from './ready.js'
import {
  EMPTY_BYTES,
  EntryType,
  MessageType,
  None,
  emptySnapshot,
  entry,
  isEmptyHardState,
  isEmptySnap,
  message,
  newMessage,
  NO_ENTRIES,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
} from './raftpb/types.js'

export enum CampaignType {
  /** The first phase of an election when PreVote is on. */
  PreElection = 'CampaignPreElection',
  /** A normal election (the second phase with PreVote). */
  Election = 'CampaignElection',
  /** A leadership transfer: skips pre-vote and overrides leader leases. */
  Transfer = 'CampaignTransfer',
}

const CAMPAIGN_TRANSFER_BYTES = Uint8Array.from(CampaignType.Transfer, (c) => c.charCodeAt(0))

const hex = (id: NodeId): string => id.toString(16)

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function isCompactedOrUnavailable(err: unknown): boolean {
  return RaftError.is(err, 'COMPACTED') || RaftError.is(err, 'UNAVAILABLE')
}

export class Raft {
  readonly id: NodeId
  term = 0
  private voteId: NodeId = None
  /**
   * Counts assignments to `vote` (and `leadChanges` to `lead`), so that RawNode can tell that
   * neither changed since its last Ready with a number comparison: comparing the bigint ids
   * costs V8 about 35 instructions each, and hasReady() and ready() made ten such comparisons
   * per proposal.
   */
  voteChanges = 0
  get vote(): NodeId {
    return this.voteId
  }
  set vote(id: NodeId) {
    this.voteId = id
    this.voteChanges++
  }
  readStates: ReadState[] = []
  readonly raftLog: RaftLog
  readonly maxMsgSize: number
  readonly maxUncommittedSize: number
  trk: ProgressTracker
  state: StateType = StateType.StateFollower
  /** True when this node is a learner in its own view of the configuration. */
  isLearner = false
  /** Messages to send at once; they never target this node. */
  msgs: Message[] = NO_MESSAGES
  /**
   * Messages to send only once all unstable state handed out so far is durable: MsgAppResp,
   * MsgVoteResp and MsgPreVoteResp. A node that acked an entry or granted a vote it then forgot
   * in a crash could break safety (Raft thesis §3.8). They may target this node (self-acks).
   */
  msgsAfterAppend: Message[] = NO_MESSAGES
  /**
   * A self-ack (MsgAppResp to this node) that RawNode's sync mode stepped on advance() and gave
   * back for reuse: it never left RawNode and nothing keeps it, so appendEntry refills it
   * instead of allocating one per proposal. Null when there is none.
   */
  spareSelfAck: Message | null = null
  private leadId: NodeId = None
  /** See voteChanges. */
  leadChanges = 0
  get lead(): NodeId {
    return this.leadId
  }
  set lead(id: NodeId) {
    this.leadId = id
    this.leadChanges++
  }
  /** The target of a leadership transfer in progress, or None (Raft thesis §3.10). */
  leadTransferee: NodeId = None
  /**
   * An index at or above the latest conf change in the log that may not be applied yet. A new
   * conf change is accepted only once applied >= pendingConfIndex: one change at a time.
   */
  pendingConfIndex = 0
  readonly disableConfChangeValidation: boolean
  /** Payload bytes of the leader's uncommitted tail (an estimate that never overestimates). */
  uncommittedSize = 0
  readOnly: ReadOnly
  /** Ticks since the last election timeout (leader, candidate) or the last valid leader message. */
  electionElapsed = 0
  /** Ticks since the last heartbeat (leader only). */
  heartbeatElapsed = 0
  readonly checkQuorum: boolean
  readonly preVote: boolean
  readonly heartbeatTimeout: number
  readonly electionTimeout: number
  /** Drawn in [electionTimeout, 2*electionTimeout-1] on every state change. */
  randomizedElectionTimeout = 0
  readonly disableProposalForwarding: boolean
  readonly stepDownOnRemoval: boolean
  readonly logger: Logger
  private readonly rand: Rand
  /**
   * An EntryID argument for the per-acknowledgement calls into the log (maybeCommit, stableTo),
   * which read it and keep no reference: V8 did not always eliminate a fresh one.
   */
  private readonly scratchEntryID: EntryID = { term: 0, index: 0 }
  /** Reads that arrived before this leader committed an entry of its own term. */
  pendingReadIndexMessages: Message[] = []

  constructor(config: Config) {
    const c = validateConfig(config, defaultLogger)
    this.id = c.id
    this.logger = c.logger
    this.raftLog = RaftLog.newLogWithSize(c.storage, c.logger, c.maxCommittedSizePerReady)
    const { hardState, confState } = c.storage.initialState()
    this.maxMsgSize = c.maxSizePerMsg
    this.maxUncommittedSize = c.maxUncommittedEntriesSize
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes)
    this.electionTimeout = c.electionTick
    this.heartbeatTimeout = c.heartbeatTick
    this.checkQuorum = c.checkQuorum
    this.preVote = c.preVote
    this.readOnly = new ReadOnly(c.readOnlyOption)
    this.disableProposalForwarding = c.disableProposalForwarding
    this.disableConfChangeValidation = c.disableConfChangeValidation
    this.stepDownOnRemoval = c.stepDownOnRemoval
    this.rand = c.rand

    const last = this.raftLog.lastEntryID()
    const restored = restoreConfState(new Changer(this.trk, last.index), confState)
    assertConfStatesEquivalent(
      this.logger,
      confState,
      this.switchToConfig(restored.config, restored.progress),
    )

    if (!isEmptyHardState(hardState)) this.loadState(hardState)
    if (c.applied > 0) this.raftLog.appliedTo(c.applied, 0)
    this.becomeFollower(this.term, None)

    const peers = this.trk.voterNodes().map(hex).join(',')
    this.logger.info(
      `newRaft ${hex(this.id)} [peers: [${peers}], term: ${this.term}, commit: ${this.raftLog.committed}, ` +
        `applied: ${this.raftLog.applied}, lastindex: ${last.index}, lastterm: ${last.term}]`,
    )
  }

  hasLeader(): boolean {
    return this.lead !== None
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state }
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed }
  }

  /** The role's tick function. */
  tick(): void {
    if (this.state === StateType.StateLeader) this.tickHeartbeat()
    else this.tickElection()
  }

  /**
   * Queues `m`. Vote and append responses wait for durability (msgsAfterAppend); everything
   * else goes out at once. Campaign messages carry an explicit term; others get ours, except
   * forwarded proposals and reads, which are treated as local to the leader.
   */
  send(m: Message): void {
    if (m.from === None) m.from = this.id
    const t = m.type
    if (
      t === MessageType.MsgVote ||
      t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVote ||
      t === MessageType.MsgPreVoteResp
    ) {
      if (m.term === 0) this.logger.panic(`term should be set when sending ${MessageType[t]}`)
    } else {
      if (m.term !== 0) {
        this.logger.panic(`term should not be set when sending ${MessageType[t]} (was ${m.term})`)
      }
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this.term
    }
    if (
      t === MessageType.MsgAppResp ||
      t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVoteResp
    ) {
      // Not enqueue(): RawNode empties this queue in place for reuse (see acceptReady), and
      // enqueue would replace an empty array with a new one.
      if (this.msgsAfterAppend === NO_MESSAGES) this.msgsAfterAppend = [m]
      else this.msgsAfterAppend.push(m)
    } else {
      if (m.to === this.id) {
        this.logger.panic(`message should not be self-addressed when sending ${MessageType[t]}`)
      }
      this.msgs = enqueue(this.msgs, m)
    }
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true)
  }

  /**
   * Sends a MsgApp with new entries (if any) and the commit index to `to`. Returns whether a
   * message went out; empty messages (commit only) go out only when `sendIfEmpty`.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to)
    // The message is built only on failure: formatting it eagerly cost more than the whole
    // check on this path, which runs for every follower on every proposal.
    if (pr === undefined) assert(false, `no progress for ${hex(to)}`)
    return this.maybeSendAppendTo(to, pr, sendIfEmpty)
  }

  /** maybeSendAppend for a caller that already holds `to`'s Progress (a broadcast). */
  private maybeSendAppendTo(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false
    // Nothing to send and no empty message wanted: what follows would look up the last entry's
    // term, which cannot fail (a Storage answers term(lastIndex())), and then find no entries.
    // Reached once per peer ack (handleAppendResponse's loop): 1.3% of a two-voter proposal.
    if (!sendIfEmpty && pr.next > this.raftLog.lastIndex()) return false

    const prevIndex = pr.next - 1
    let prevTerm: number
    try {
      prevTerm = this.raftLog.term(prevIndex)
    } catch (err) {
      // The log was truncated at or after pr.next: only a snapshot can catch the follower up.
      if (!isCompactedOrUnavailable(err)) throw err
      return this.maybeSendSnapshot(to, pr)
    }

    let ents = NO_ENTRIES // shared and frozen, like newMessage's: usually replaced below
    // A throttled StateReplicate sends only empty MsgApps: if every inflight message was lost,
    // an empty one eventually gets acked or rejected and clears the window.
    if (pr.state !== ProgressStateType.StateReplicate || !pr.inflights.full()) {
      try {
        ents = this.raftLog.entries(pr.next, this.maxMsgSize)
      } catch (err) {
        if (!isCompactedOrUnavailable(err)) throw err
        if (!sendIfEmpty) return false
        return this.maybeSendSnapshot(to, pr)
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false

    // newMessage, not message(): this and the acks below are the per-entry messages.
    const m = newMessage(MessageType.MsgApp, to)
    m.index = prevIndex
    m.logTerm = prevTerm
    m.entries = ents
    m.commit = this.raftLog.committed
    this.send(m)
    pr.sentEntries(ents.length, payloadsSize(ents))
    pr.sentCommit(this.raftLog.committed)
    return true
  }

  /** Sends the storage's snapshot to `to`; returns whether it went out. */
  maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug(`ignore sending snapshot to ${hex(to)} since it is not recently active`)
      return false
    }
    let snapshot: Snapshot
    try {
      snapshot = this.raftLog.snapshot()
    } catch (err) {
      if (RaftError.is(err, 'SNAPSHOT_TEMPORARILY_UNAVAILABLE')) {
        this.logger.debug(
          `${hex(this.id)} failed to send snapshot to ${hex(to)} because snapshot is temporarily unavailable`,
        )
        return false
      }
      throw err
    }
    if (isEmptySnap(snapshot)) this.logger.panic('need non-empty snapshot')
    const { index: sindex, term: sterm } = snapshot.metadata
    this.logger.debug(
      `${hex(this.id)} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] ` +
        `sent snapshot[index: ${sindex}, term: ${sterm}] to ${hex(to)} [${pr.toString()}]`,
    )
    pr.becomeSnapshot(sindex)
    this.logger.debug(
      `${hex(this.id)} paused sending replication messages to ${hex(to)} [${pr.toString()}]`,
    )
    this.send(message({ to, type: MessageType.MsgSnap, snapshot }))
    return true
  }

  /** Heartbeats carry commit = min(match, committed): never ask a follower to commit past its log. */
  sendHeartbeat(to: NodeId, ctx: Uint8Array): void {
    const pr = this.trk.progress.get(to)
    if (pr === undefined) assert(false, `no progress for ${hex(to)}`) // formatted on failure only
    const commit = Math.min(pr.match, this.raftLog.committed)
    const m = newMessage(MessageType.MsgHeartbeat, to)
    m.commit = commit
    m.context = ctx
    this.send(m)
    pr.sentCommit(commit)
  }

  bcastAppend(): void {
    this.trk.visit(this.sendAppendVisitor)
  }

  /** bcastAppend's visitor, made once: a closure per broadcast showed in allocation profiles. */
  private readonly sendAppendVisitor = (id: NodeId, pr: Progress): void => {
    if (id !== this.id) this.maybeSendAppendTo(id, pr, true)
  }

  bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.heartbeatCtx())
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx)
    })
  }

  appliedTo(index: number, size: number): void {
    const newApplied = Math.max(index, this.raftLog.applied)
    this.raftLog.appliedTo(newApplied, size)

    if (
      this.trk.config.autoLeave &&
      newApplied >= this.pendingConfIndex &&
      this.state === StateType.StateLeader
    ) {
      // An empty ConfChangeV2 leaves the joint configuration. Its payload is empty, so the
      // uncommitted quota never refuses it; a leadership transfer may, and then we retry on
      // the next apply.
      const m = confChangeToMsg(null)
      try {
        this.step(m)
        this.logger.info(
          `initiating automatic transition out of joint configuration ${this.trk.config.toString()}`,
        )
      } catch (err) {
        if (!RaftError.is(err, 'PROPOSAL_DROPPED')) throw err
        this.logger.debug(
          `not initiating automatic transition out of joint configuration ${this.trk.config.toString()}: ${err.message}`,
        )
      }
    }
  }

  appliedSnap(snap: Snapshot): void {
    const index = snap.metadata.index
    this.raftLog.stableSnapTo(index)
    this.appliedTo(index, 0)
  }

  /** Advances the commit index to the quorum's match, if that entry is of this term (§5.4.2). */
  maybeCommit(): boolean {
    const at = this.scratchEntryID
    at.term = this.term
    at.index = this.trk.committed()
    return this.raftLog.maybeCommit(at)
  }

  reset(term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = None
    }
    this.lead = None
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.abortLeaderTransfer()
    this.trk.resetVotes()
    const lastIndex = this.raftLog.lastIndex()
    this.trk.visit((id, pr) => {
      pr.match = id === this.id ? lastIndex : 0
      pr.next = lastIndex + 1
      pr.sentCommitIndex = 0
      pr.state = ProgressStateType.StateProbe
      pr.pendingSnapshot = 0
      pr.recentActive = false
      pr.msgAppFlowPaused = false
      pr.inflights = new Inflights(this.trk.maxInflight, this.trk.maxInflightBytes)
    })
    this.pendingConfIndex = 0
    this.uncommittedSize = 0
    this.readOnly = new ReadOnly(this.readOnly.option)
  }

  /** Appends proposals at this term; false when the uncommitted quota refuses them. */
  appendEntry(proposed: readonly Entry[]): boolean {
    let li = this.raftLog.lastIndex()
    // Fresh entries: the log must not share objects with the proposer, who may reuse them (Go
    // clones here too). One small object per entry; the payload bytes are shared, read-only.
    const es = new Array<Entry>(proposed.length)
    for (let i = 0; i < proposed.length; i++) {
      const p = proposed[i] as Entry
      es[i] = { term: this.term, index: li + 1 + i, type: p.type, data: p.data }
    }
    if (!this.increaseUncommittedSize(es)) {
      this.logger.warn(
        `${hex(this.id)} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
      )
      return false
    }
    li = this.raftLog.append(es, true) // `es` is ours alone: the log keeps it without a copy
    // The leader acks its own entries only once they are durable: the self-addressed
    // MsgAppResp waits in msgsAfterAppend until the append is persisted (thesis §10.2.1).
    let m = this.spareSelfAck
    if (m === null) {
      m = newMessage(MessageType.MsgAppResp, this.id)
    } else {
      this.spareSelfAck = null
      m.term = 0 // send() stamps it; every other field is still newMessage's
    }
    m.index = li
    this.send(m)
    return true
  }

  tickElection(): void {
    this.electionElapsed++
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0
      this.stepOrLog(
        message({ from: this.id, type: MessageType.MsgHup }),
        'error occurred during election',
      )
    }
  }

  tickHeartbeat(): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0
      if (this.checkQuorum) {
        this.stepOrLog(
          message({ from: this.id, type: MessageType.MsgCheckQuorum }),
          'error occurred during checking sending heartbeat',
        )
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.StateLeader && this.leadTransferee !== None)
        this.abortLeaderTransfer()
    }
    if (this.state !== StateType.StateLeader) return
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0
      this.stepOrLog(
        message({ from: this.id, type: MessageType.MsgBeat }),
        'error occurred during checking sending heartbeat',
      )
    }
  }

  private stepOrLog(m: Message, what: string): void {
    try {
      this.step(m)
    } catch (err) {
      // Only a dropped proposal is an expected outcome; anything else is a broken node.
      if (!RaftError.is(err, 'PROPOSAL_DROPPED')) throw err
      this.logger.debug(`${what}: ${err.message}`)
    }
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term)
    this.lead = lead
    this.state = StateType.StateFollower
    this.logger.info(`${hex(this.id)} became follower at term ${this.term}`)
  }

  becomeCandidate(): void {
    assert(this.state !== StateType.StateLeader, 'invalid transition [leader -> candidate]')
    this.reset(this.term + 1)
    this.vote = this.id
    this.state = StateType.StateCandidate
    this.logger.info(`${hex(this.id)} became candidate at term ${this.term}`)
  }

  /** A pre-candidate changes neither term nor vote (thesis §9.6). */
  becomePreCandidate(): void {
    assert(this.state !== StateType.StateLeader, 'invalid transition [leader -> pre-candidate]')
    this.trk.resetVotes()
    this.lead = None
    this.state = StateType.StatePreCandidate
    this.logger.info(`${hex(this.id)} became pre-candidate at term ${this.term}`)
  }

  becomeLeader(): void {
    assert(this.state !== StateType.StateFollower, 'invalid transition [follower -> leader]')
    this.reset(this.term)
    this.lead = this.id
    this.state = StateType.StateLeader
    // reset() set our own match to the last index: the leader trivially replicates to itself.
    const pr = this.trk.progress.get(this.id)
    assert(pr !== undefined, 'leader has no progress of its own')
    pr.becomeReplicate()
    pr.recentActive = true
    // There may be an unapplied conf change anywhere in the log; scanning for it could be
    // expensive, so conservatively wait until everything up to here is applied.
    this.pendingConfIndex = this.raftLog.lastIndex()
    // An empty payload never counts against the uncommitted quota, so this cannot be refused.
    if (!this.appendEntry([entry({})])) this.logger.panic('empty entry was dropped')
    this.logger.info(`${hex(this.id)} became leader at term ${this.term}`)
  }

  hup(t: CampaignType): void {
    if (this.state === StateType.StateLeader) {
      this.logger.debug(`${hex(this.id)} ignoring MsgHup because already leader`)
      return
    }
    if (!this.promotable()) {
      this.logger.warn(`${hex(this.id)} is unpromotable and can not campaign`)
      return
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warn(
        `${hex(this.id)} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`,
      )
      return
    }
    this.logger.info(`${hex(this.id)} is starting a new election at term ${this.term}`)
    this.campaign(t)
  }

  /** Scans the committed but unapplied entries, a page at a time, for a conf change. */
  private hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false
    let found = false
    const lo = this.raftLog.applied + 1
    const hi = this.raftLog.committed + 1
    try {
      this.raftLog.scan(lo, hi, this.raftLog.maxApplyingEntsSize, (ents) => {
        for (const e of ents) {
          if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
            found = true
            return false
          }
        }
        return true
      })
    } catch (err) {
      if (!(err instanceof RaftError)) throw err
      this.logger.panic(`error scanning unapplied entries [${lo}, ${hi}): ${err.message}`)
    }
    return found
  }

  campaign(t: CampaignType): void {
    if (!this.promotable()) {
      this.logger.warn(`${hex(this.id)} is unpromotable; campaign() should have been called`)
    }
    let term: number
    let voteMsg: MessageType
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate()
      voteMsg = MessageType.MsgPreVote
      // Pre-votes ask for the next term without moving to it.
      term = this.term + 1
    } else {
      this.becomeCandidate()
      voteMsg = MessageType.MsgVote
      term = this.term
    }
    // A copy per message: a receiver may own and mutate what it is handed.
    const ctx = t === CampaignType.Transfer ? CAMPAIGN_TRANSFER_BYTES.slice() : EMPTY_BYTES
    for (const id of this.trk.voterNodes()) {
      if (id === this.id) {
        // Our own vote counts once it is durable: a self-addressed response in msgsAfterAppend.
        this.send(message({ to: id, term, type: voteRespMsgType(voteMsg) }))
        continue
      }
      const last = this.raftLog.lastEntryID()
      this.logger.info(
        `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}] sent ${MessageType[voteMsg]} request to ${hex(id)} at term ${this.term}`,
      )
      this.send(
        message({
          to: id,
          term,
          type: voteMsg,
          index: last.index,
          logTerm: last.term,
          context: ctx,
        }),
      )
    }
  }

  private poll(
    id: NodeId,
    t: MessageType,
    v: boolean,
  ): { granted: number; rejected: number; result: VoteResult } {
    if (v)
      this.logger.info(
        `${hex(this.id)} received ${MessageType[t]} from ${hex(id)} at term ${this.term}`,
      )
    else
      this.logger.info(
        `${hex(this.id)} received ${MessageType[t]} rejection from ${hex(id)} at term ${this.term}`,
      )
    this.trk.recordVote(id, v)
    return this.trk.tallyVotes()
  }

  /**
   * Steps a message through the state machine. Throws RaftError PROPOSAL_DROPPED when a
   * proposal cannot be accepted; every other outcome is a state change or a logged drop.
   */
  step(m: Message): void {
    if (m.term === 0) {
      // A local message.
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER_BYTES)
        const inLease =
          this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout
        if (!force && inLease) {
          // Within the minimum election timeout of hearing from a leader, neither change term
          // nor grant a vote: this keeps a partitioned node from disrupting a live leader.
          const last = this.raftLog.lastEntryID()
          this.logger.info(
            `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}, vote: ${hex(this.vote)}] ignored ${MessageType[m.type]} from ${hex(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`,
          )
          return
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // Never change term in response to a pre-vote.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the term we will campaign for, not a newer leader's term.
      } else {
        this.logger.info(
          `${hex(this.id)} [term: ${this.term}] received a ${MessageType[m.type]} message with higher term from ${hex(m.from)} [term: ${m.term}]`,
        )
        if (
          m.type === MessageType.MsgApp ||
          m.type === MessageType.MsgHeartbeat ||
          m.type === MessageType.MsgSnap
        ) {
          this.becomeFollower(m.term, m.from)
        } else {
          this.becomeFollower(m.term, None)
        }
      }
    } else if (m.term < this.term) {
      this.stepLowerTerm(m)
      return
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? CampaignType.PreElection : CampaignType.Election)
        return
      case MessageType.MsgStorageAppendResp:
        this.storageAppended(m)
        return
      case MessageType.MsgStorageApplyResp:
        if (m.entries.length > 0) this.storageApplied(m.entries, entsSize(m.entries))
        return
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.stepVoteRequest(m)
        return
      default:
        switch (this.state) {
          case StateType.StateLeader:
            this.stepLeader(m)
            return
          case StateType.StateCandidate:
          case StateType.StatePreCandidate:
            this.stepCandidate(m)
            return
          case StateType.StateFollower:
            this.stepFollower(m)
            return
        }
    }
  }

  /**
   * The MsgStorageAppendResp case of step(), at the current term: what the response names is
   * durable. RawNode's sync mode calls it directly.
   */
  storageAppended(m: Message): void {
    if (m.index !== 0) {
      const id = this.scratchEntryID
      id.term = m.logTerm
      id.index = m.index
      this.raftLog.stableTo(id)
    }
    if (m.snapshot !== null) this.appliedSnap(m.snapshot)
  }

  /**
   * The MsgStorageApplyResp case of step(): `ents` (not empty), of `size` encoded bytes, are
   * applied. RawNode's sync mode calls it directly with the size it already summed.
   */
  storageApplied(ents: readonly Entry[], size: number): void {
    const index = (ents[ents.length - 1] as Entry).index
    this.appliedTo(index, size)
    this.reduceUncommittedSize(payloadsSize(ents))
  }

  private stepLowerTerm(m: Message): void {
    if (
      (this.checkQuorum || this.preVote) &&
      (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)
    ) {
      // A leader of an older term: possibly delayed, or we advanced our term in a partition and
      // can neither win nor rejoin. With CheckQuorum or PreVote our higher term would never
      // reach that leader through votes, so answer with an empty MsgAppResp at our term; it
      // deposes the stale leader and frees this node.
      this.send(message({ to: m.from, type: MessageType.MsgAppResp }))
    } else if (m.type === MessageType.MsgPreVote) {
      // Reject explicitly: dropping it could deadlock a cluster migrating to PreVote.
      const last = this.raftLog.lastEntryID()
      this.logger.info(
        `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}, vote: ${hex(this.vote)}] rejected ${MessageType[m.type]} from ${hex(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      )
      this.send(
        message({ to: m.from, term: this.term, type: MessageType.MsgPreVoteResp, reject: true }),
      )
    } else if (m.type === MessageType.MsgStorageAppendResp) {
      if (m.index !== 0) {
        // The entries may have been overwritten in the unstable log at a later term (the ABA
        // race described at newStorageAppendRespMsg), so they are not marked stable.
        this.logger.info(
          `${hex(this.id)} [term: ${this.term}] ignored entry appends from a ${MessageType[m.type]} message with lower term [term: ${m.term}]`,
        )
      }
      // A snapshot carries committed state, valid whatever the term it was applied under.
      if (m.snapshot !== null) this.appliedSnap(m.snapshot)
    } else {
      this.logger.info(
        `${hex(this.id)} [term: ${this.term}] ignored a ${MessageType[m.type]} message with lower term from ${hex(m.from)} [term: ${m.term}]`,
      )
    }
  }

  private stepVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === None && this.lead === None) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term)
    const last = this.raftLog.lastEntryID()
    const cand = { term: m.logTerm, index: m.index }
    // Learners vote too: a learner may have been promoted without knowing it yet, and the
    // group may need its vote to stay available (campaign_learner_must_vote.txt).
    if (canVote && this.raftLog.isUpToDate(cand)) {
      this.logger.info(
        `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}, vote: ${hex(this.vote)}] cast ${MessageType[m.type]} for ${hex(m.from)} [logterm: ${cand.term}, index: ${cand.index}] at term ${this.term}`,
      )
      // Answer with the request's term: for pre-votes ours may be older, and the candidate
      // would ignore a response of an older term.
      this.send(message({ to: m.from, term: m.term, type: voteRespMsgType(m.type) }))
      if (m.type === MessageType.MsgVote) {
        this.electionElapsed = 0
        this.vote = m.from
      }
    } else {
      this.logger.info(
        `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}, vote: ${hex(this.vote)}] rejected ${MessageType[m.type]} from ${hex(m.from)} [logterm: ${cand.term}, index: ${cand.index}] at term ${this.term}`,
      )
      this.send(
        message({ to: m.from, term: this.term, type: voteRespMsgType(m.type), reject: true }),
      )
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat()
        return
      case MessageType.MsgCheckQuorum:
        if (!this.trk.quorumActive()) {
          this.logger.warn(`${hex(this.id)} stepped down to follower since quorum is not active`)
          this.becomeFollower(this.term, None)
        }
        // Everyone but ourselves must prove activity again before the next check.
        this.trk.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false
        })
        return
      case MessageType.MsgProp:
        this.stepLeaderProp(m)
        return
      case MessageType.MsgReadIndex:
        if (this.trk.isSingleton()) {
          // A single voter is its own quorum.
          this.respondToReadIndex(m, this.raftLog.committed)
          return
        }
        // A new leader's commit index may lag the true one until it commits in its own term.
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m)
          return
        }
        this.sendMsgReadIndexResponse(m)
        return
      case MessageType.MsgForgetLeader:
        return // a leader has no leader to forget
    }

    const pr = this.trk.progress.get(m.from)
    if (pr === undefined) {
      this.logger.debug(`${hex(this.id)} no progress available for ${hex(m.from)}`)
      return
    }
    switch (m.type) {
      case MessageType.MsgAppResp:
        this.handleAppendResponse(m, pr)
        return
      case MessageType.MsgHeartbeatResp:
        this.handleHeartbeatResponse(m, pr)
        return
      case MessageType.MsgSnapStatus:
        if (pr.state !== ProgressStateType.StateSnapshot) return
        if (!m.reject) {
          pr.becomeProbe()
          this.logger.debug(
            `${hex(this.id)} snapshot succeeded, resumed sending replication messages to ${hex(m.from)} [${pr.toString()}]`,
          )
        } else {
          // Clear the pending snapshot first, or we would probe from an index never applied.
          pr.pendingSnapshot = 0
          pr.becomeProbe()
          this.logger.debug(
            `${hex(this.id)} snapshot failed, resumed sending replication messages to ${hex(m.from)} [${pr.toString()}]`,
          )
        }
        // After a success, wait for the follower's MsgAppResp; after a failure, for a heartbeat.
        pr.msgAppFlowPaused = true
        return
      case MessageType.MsgUnreachable:
        // An unreachable peer has probably lost the MsgApps of optimistic replication.
        if (pr.state === ProgressStateType.StateReplicate) pr.becomeProbe()
        this.logger.debug(
          `${hex(this.id)} failed to send message to ${hex(m.from)} because it is unreachable [${pr.toString()}]`,
        )
        return
      case MessageType.MsgTransferLeader:
        this.handleTransferLeader(m, pr)
        return
    }
  }

  private stepLeaderProp(m: Message): void {
    if (m.entries.length === 0) this.logger.panic(`${hex(this.id)} stepped empty MsgProp`)
    // A leader removed from the configuration accepts no new proposals.
    if (!this.trk.progress.has(this.id)) throw errProposalDropped()
    if (this.leadTransferee !== None) {
      this.logger.debug(
        `${hex(this.id)} [term ${this.term}] transfer leadership to ${hex(this.leadTransferee)} is in progress; dropping proposal`,
      )
      throw errProposalDropped()
    }
    // Decode every conf change before changing anything: a malformed one throws RaftError
    // MALFORMED and leaves the node as it was.
    let ccs: (ConfChange | ConfChangeV2 | null)[] | null = null
    let ents = m.entries
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i] as Entry
      if (e.type === EntryType.EntryNormal) continue
      ccs ??= new Array<ConfChange | ConfChangeV2 | null>(m.entries.length).fill(null)
      ccs[i] =
        e.type === EntryType.EntryConfChange
          ? unmarshalConfChange(e.data)
          : unmarshalConfChangeV2(e.data)
    }
    for (let i = 0; ccs !== null && i < m.entries.length; i++) {
      const cc = ccs[i] ?? null
      if (cc === null) continue
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied
      const alreadyJoint = this.trk.config.voters.outgoing.size > 0
      const wantsLeaveJoint = asV2(cc).changes.length === 0
      let failedCheck = ''
      if (alreadyPending) {
        failedCheck = `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})`
      } else if (alreadyJoint && !wantsLeaveJoint) {
        failedCheck = 'must transition out of joint config first'
      } else if (!alreadyJoint && wantsLeaveJoint) {
        failedCheck = 'not in joint state; refusing empty conf change'
      }
      if (failedCheck !== '' && !this.disableConfChangeValidation) {
        this.logger.info(
          `${hex(this.id)} ignoring conf change ${describeConfChange(cc)} at config ${this.trk.config.toString()}: ${failedCheck}`,
        )
        // Replace it in a copy of the entries: the proposer's array stays as it was.
        if (ents === m.entries) ents = m.entries.slice()
        ents[i] = entry({ type: EntryType.EntryNormal })
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1
      }
    }
    if (!this.appendEntry(ents)) throw errProposalDropped()
    this.bcastAppend()
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    // Also reached from RawNode.advance: the leader's self-ack of its durable entries.
    pr.recentActive = true
    if (m.reject) {
      this.logger.debug(
        `${hex(this.id)} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${hex(m.from)} for index ${m.index}`,
      )
      let nextProbeIdx = m.rejectHint
      if (m.logTerm > 0) {
        // Every index of our log whose term exceeds the follower's term at the hint must fail
        // too (terms only grow along a log), so skip straight to the last index with a term
        // <= the hint's: at most one probe per term.
        nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index
      }
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        this.logger.debug(
          `${hex(this.id)} decreased progress of ${hex(m.from)} to [${pr.toString()}]`,
        )
        if (pr.state === ProgressStateType.StateReplicate) pr.becomeProbe()
        this.sendAppend(m.from)
      }
      return
    }
    // An ack that does not advance match still moves a caught-up probing peer to Replicate
    // (heartbeat_resp_recovers_from_probing.txt).
    if (!(
      pr.maybeUpdate(m.index) ||
      (pr.match === m.index && pr.state === ProgressStateType.StateProbe)
    ))
      return
    if (pr.state === ProgressStateType.StateProbe) {
      pr.becomeReplicate()
    } else if (
      pr.state === ProgressStateType.StateSnapshot &&
      pr.match + 1 >= this.raftLog.firstIndex()
    ) {
      // Any snapshot that lets us continue from the log will do, whatever its index: the
      // application may install snapshots from other sources.
      this.logger.debug(
        `${hex(this.id)} recovered from needing snapshot, resumed sending replication messages to ${hex(m.from)} [${pr.toString()}]`,
      )
      pr.becomeProbe()
      pr.becomeReplicate()
    } else if (pr.state === ProgressStateType.StateReplicate) {
      pr.inflights.freeLE(m.index)
    }

    // Compared once: bigint comparisons cost V8 about 35 instructions each.
    const fromPeer = m.from !== this.id
    if (this.maybeCommit()) {
      // The commit index moved in this term: pending reads are now safe to serve.
      this.releasePendingReadIndexMessages()
      this.bcastAppend()
    } else if (fromPeer && pr.canBumpCommit(this.raftLog.committed)) {
      // The follower may lack the latest commit index; tell it now, not at the next heartbeat.
      this.sendAppend(m.from)
    }
    // Flow control may have opened: send as many non-empty appends as it allows.
    if (fromPeer) {
      // `pr` is still m.from's Progress (nothing above changes the membership), which saves a
      // lookup by id per round of this loop.
      while (this.maybeSendAppendTo(m.from, pr, false)) {
        // keep sending
      }
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.logger.info(
        `${hex(this.id)} sent MsgTimeoutNow to ${hex(m.from)} after received MsgAppResp`,
      )
      this.sendTimeoutNow(m.from)
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true
    pr.msgAppFlowPaused = false
    // Send an append even when the window is full (it will be empty) so that a follower whose
    // inflight appends were all lost recovers, and so that a caught-up follower stuck in
    // StateProbe returns to StateReplicate. StateSnapshot stays paused.
    if (pr.match < this.raftLog.lastIndex() || pr.state === ProgressStateType.StateProbe) {
      this.sendAppend(m.from)
    }
    if (this.readOnly.option !== ReadOnlyOption.ReadOnlySafe || m.context.length === 0) return
    this.readOnly.recvAck(m.from, m.context)
    for (const rs of this.readOnly.maybeAdvance(this.trk.config.voters)) {
      this.respondToReadIndex(rs.req, rs.index)
    }
  }

  private handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) {
      this.logger.debug(`${hex(this.id)} is learner. Ignored transferring leadership`)
      return
    }
    const leadTransferee = m.from
    const lastLeadTransferee = this.leadTransferee
    if (lastLeadTransferee !== None) {
      if (lastLeadTransferee === leadTransferee) {
        this.logger.info(
          `${hex(this.id)} [term ${this.term}] transfer leadership to ${hex(leadTransferee)} is in progress, ignores request to same node ${hex(leadTransferee)}`,
        )
        return
      }
      this.abortLeaderTransfer()
      this.logger.info(
        `${hex(this.id)} [term ${this.term}] abort previous transferring leadership to ${hex(lastLeadTransferee)}`,
      )
    }
    if (leadTransferee === this.id) {
      this.logger.debug(
        `${hex(this.id)} is already leader. Ignored transferring leadership to self`,
      )
      return
    }
    this.logger.info(
      `${hex(this.id)} [term ${this.term}] starts to transfer leadership to ${hex(leadTransferee)}`,
    )
    // The transfer must finish within one election timeout.
    this.electionElapsed = 0
    this.leadTransferee = leadTransferee
    if (pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(leadTransferee)
      this.logger.info(
        `${hex(this.id)} sends MsgTimeoutNow to ${hex(leadTransferee)} immediately as ${hex(leadTransferee)} already has up-to-date log`,
      )
    } else {
      this.sendAppend(leadTransferee)
    }
  }

  /** Shared by StateCandidate and StatePreCandidate; each counts only its own kind of vote. */
  private stepCandidate(m: Message): void {
    const myVoteRespType =
      this.state === StateType.StatePreCandidate
        ? MessageType.MsgPreVoteResp
        : MessageType.MsgVoteResp
    switch (m.type) {
      case MessageType.MsgProp:
        this.logger.info(`${hex(this.id)} no leader at term ${this.term}; dropping proposal`)
        throw errProposalDropped()
      case MessageType.MsgApp:
        this.becomeFollower(m.term, m.from) // m.term === this.term here
        this.handleAppendEntries(m)
        return
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from)
        this.handleHeartbeat(m)
        return
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from)
        this.handleSnapshot(m)
        return
      case myVoteRespType: {
        const { granted, rejected, result } = this.poll(m.from, m.type, !m.reject)
        this.logger.info(
          `${hex(this.id)} has received ${granted} ${MessageType[m.type]} votes and ${rejected} vote rejections`,
        )
        if (result === VoteResult.VoteWon) {
          if (this.state === StateType.StatePreCandidate) {
            this.campaign(CampaignType.Election)
          } else {
            this.becomeLeader()
            this.bcastAppend()
          }
        } else if (result === VoteResult.VoteLost) {
          // A pre-vote response carries the future term; stay at ours.
          this.becomeFollower(this.term, None)
        }
        return
      }
      case MessageType.MsgTimeoutNow:
        this.logger.debug(
          `${hex(this.id)} [term ${this.term} state ${StateType[this.state]}] ignored MsgTimeoutNow from ${hex(m.from)}`,
        )
        return
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.MsgProp:
        if (this.lead === None) {
          this.logger.info(`${hex(this.id)} no leader at term ${this.term}; dropping proposal`)
          throw errProposalDropped()
        } else if (this.disableProposalForwarding) {
          this.logger.info(
            `${hex(this.id)} not forwarding to leader ${hex(this.lead)} at term ${this.term}; dropping proposal`,
          )
          throw errProposalDropped()
        }
        // A copy: the caller's message is theirs (Go steps messages by value).
        this.send({ ...m, to: this.lead })
        return
      case MessageType.MsgApp:
        this.electionElapsed = 0
        this.lead = m.from
        this.handleAppendEntries(m)
        return
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0
        this.lead = m.from
        this.handleHeartbeat(m)
        return
      case MessageType.MsgSnap:
        this.electionElapsed = 0
        this.lead = m.from
        this.handleSnapshot(m)
        return
      case MessageType.MsgTransferLeader:
        if (this.lead === None) {
          this.logger.info(
            `${hex(this.id)} no leader at term ${this.term}; dropping leader transfer msg`,
          )
          return
        }
        // A copy: the caller's message is theirs (Go steps messages by value).
        this.send({ ...m, to: this.lead })
        return
      case MessageType.MsgForgetLeader:
        // Under lease-based reads a forgotten leader could still hold its lease.
        if (this.readOnly.option === ReadOnlyOption.ReadOnlyLeaseBased) {
          this.logger.error('ignoring MsgForgetLeader due to ReadOnlyLeaseBased')
          return
        }
        if (this.lead !== None) {
          this.logger.info(
            `${hex(this.id)} forgetting leader ${hex(this.lead)} at term ${this.term}`,
          )
          this.lead = None
        }
        return
      case MessageType.MsgTimeoutNow:
        this.logger.info(
          `${hex(this.id)} [term ${this.term}] received MsgTimeoutNow from ${hex(m.from)} and starts an election to get leadership.`,
        )
        // A transfer is no partition recovery: no pre-vote round.
        this.hup(CampaignType.Transfer)
        return
      case MessageType.MsgReadIndex:
        if (this.lead === None) {
          this.logger.info(
            `${hex(this.id)} no leader at term ${this.term}; dropping index reading msg`,
          )
          return
        }
        // A copy: the caller's message is theirs (Go steps messages by value).
        this.send({ ...m, to: this.lead })
        return
      case MessageType.MsgReadIndexResp:
        if (m.entries.length !== 1) {
          this.logger.error(
            `${hex(this.id)} invalid format of MsgReadIndexResp from ${hex(m.from)}, entries count: ${m.entries.length}`,
          )
          return
        }
        this.readStates.push({ index: m.index, requestCtx: (m.entries[0] as Entry).data })
        return
    }
  }

  handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.sendAppendResp(m.from, this.raftLog.committed)
      return
    }
    const slice = new LogSlice(m.term, { term: m.logTerm, index: m.index }, m.entries)
    const lastNewIndex = this.raftLog.maybeAppend(slice, m.commit)
    if (lastNewIndex !== undefined) {
      this.sendAppendResp(m.from, lastNewIndex)
      return
    }
    this.logger.debug(
      `${hex(this.id)} [logterm: ${this.termOrZero(m.index)}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${hex(m.from)}`,
    )
    // Hint the largest (index, term) that may match: the last entry of ours with index <=
    // m.index and term <= m.logTerm. This skips our whole divergent uncommitted tail at once.
    // m.index >= committed here, so the search starts at or above committed.
    const hint = this.raftLog.findConflictByTerm(
      Math.min(m.index, this.raftLog.lastIndex()),
      m.logTerm,
    )
    this.send(
      message({
        to: m.from,
        type: MessageType.MsgAppResp,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    )
  }

  /** Acknowledges an append up to `index` (built with newMessage: one per MsgApp). */
  private sendAppendResp(to: NodeId, index: number): void {
    const m = newMessage(MessageType.MsgAppResp, to)
    m.index = index
    this.send(m)
  }

  handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit)
    const resp = newMessage(MessageType.MsgHeartbeatResp, m.from)
    resp.context = m.context
    this.send(resp)
  }

  handleSnapshot(m: Message): void {
    const s = m.snapshot ?? emptySnapshot()
    const { index: sindex, term: sterm } = s.metadata
    if (this.restore(s)) {
      this.logger.info(
        `${hex(this.id)} [commit: ${this.raftLog.committed}] restored snapshot [index: ${sindex}, term: ${sterm}]`,
      )
      this.send(
        message({ to: m.from, type: MessageType.MsgAppResp, index: this.raftLog.lastIndex() }),
      )
    } else {
      this.logger.info(
        `${hex(this.id)} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${sindex}, term: ${sterm}]`,
      )
      this.send(
        message({ to: m.from, type: MessageType.MsgAppResp, index: this.raftLog.committed }),
      )
    }
  }

  /** Replaces the log and configuration with a snapshot's; false when it is ignored. */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false
    if (this.state !== StateType.StateFollower) {
      // Defense in depth: a leader must never apply a snapshot; leave the term behind.
      this.logger.warn(
        `${hex(this.id)} attempted to restore snapshot as leader; should never happen`,
      )
      this.becomeFollower(this.term + 1, None)
      return false
    }
    // More defense in depth: much of the core assumes this node has a Progress.
    const cs = s.metadata.confState
    const found =
      cs.voters.includes(this.id) ||
      cs.learners.includes(this.id) ||
      cs.votersOutgoing.includes(this.id)
    if (!found) {
      this.logger.warn(
        `${hex(this.id)} attempted to restore snapshot but it is not in the ConfState ${describeConfStateGo(cs)}; should never happen`,
      )
      return false
    }
    const id = { term: s.metadata.term, index: s.metadata.index }
    if (this.raftLog.matchTerm(id)) {
      const last = this.raftLog.lastEntryID()
      this.logger.info(
        `${hex(this.id)} [commit: ${this.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] fast-forwarded commit to snapshot [index: ${id.index}, term: ${id.term}]`,
      )
      this.raftLog.commitTo(s.metadata.index)
      return false
    }
    this.raftLog.restore(s)
    // Rebuild the tracker from the snapshot's configuration.
    this.trk = new ProgressTracker(this.trk.maxInflight, this.trk.maxInflightBytes)
    const restored = restoreConfState(new Changer(this.trk, this.raftLog.lastIndex()), cs)
    assertConfStatesEquivalent(
      this.logger,
      cs,
      this.switchToConfig(restored.config, restored.progress),
    )
    const last = this.raftLog.lastEntryID()
    this.logger.info(
      `${hex(this.id)} [commit: ${this.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] restored snapshot [index: ${id.index}, term: ${id.term}]`,
    )
    return true
  }

  /** Whether this node may campaign: a voter in its own view, with no snapshot pending. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id)
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextOrInProgressSnapshot()
  }

  applyConfChange(cc: ConfChangeV2): ConfState {
    const changer = new Changer(this.trk, this.raftLog.lastIndex())
    let result: { config: TrackerConfig; progress: ProgressMap }
    if (ccLeaveJoint(cc)) {
      result = changer.leaveJoint()
    } else {
      const joint = ccEnterJoint(cc)
      result = joint.ok
        ? changer.enterJoint(joint.autoLeave, cc.changes)
        : changer.simple(cc.changes)
    }
    return this.switchToConfig(result.config, result.progress)
  }

  /**
   * Installs a new configuration, then reacts: a removed or demoted leader may step down; a
   * leader commits what the new quorum allows or probes the new peers at once.
   */
  switchToConfig(config: TrackerConfig, progress: ProgressMap): ConfState {
    this.trk.config = config
    this.trk.progress = progress
    this.logger.info(`${hex(this.id)} switched to configuration ${this.trk.config.toString()}`)
    const cs = this.trk.confState()
    const pr = this.trk.progress.get(this.id)
    this.isLearner = pr !== undefined && pr.isLearner

    if ((pr === undefined || this.isLearner) && this.state === StateType.StateLeader) {
      if (this.stepDownOnRemoval) this.becomeFollower(this.term, None)
      return cs
    }
    if (this.state !== StateType.StateLeader || cs.voters.length === 0) return cs

    if (this.maybeCommit()) {
      this.bcastAppend()
    } else {
      this.trk.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false)
      })
    }
    if (this.leadTransferee !== None && !this.trk.config.voters.ids().has(this.leadTransferee)) {
      this.abortLeaderTransfer()
    }
    return cs
  }

  loadState(state: HardState): void {
    if (state.commit < this.raftLog.committed || state.commit > this.raftLog.lastIndex()) {
      this.logger.panic(
        `${hex(this.id)} state.commit ${state.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      )
    }
    this.raftLog.committed = state.commit
    this.term = state.term
    this.vote = state.vote
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout
  }

  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.rand.intn(this.electionTimeout)
  }

  sendTimeoutNow(to: NodeId): void {
    this.send(message({ to, type: MessageType.MsgTimeoutNow }))
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = None
  }

  /** Whether this node has committed an entry of its current term (never true at term 0). */
  committedEntryInCurrentTerm(): boolean {
    return this.termOrZero(this.raftLog.committed) === this.term
  }

  /** The term at index, or 0 when it is compacted or beyond the log: no exception on a miss. */
  private termOrZero(index: number): number {
    return this.raftLog.zeroTermOnOutOfBounds(index)
  }

  /** Answers a confirmed read: a ReadState for our own, a MsgReadIndexResp for a follower's. */
  private respondToReadIndex(req: Message, readIndex: number): void {
    if (req.from === None || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: (req.entries[0] as Entry).data })
      return
    }
    this.send(
      message({
        type: MessageType.MsgReadIndexResp,
        to: req.from,
        index: readIndex,
        entries: req.entries,
      }),
    )
  }

  /** Empty payloads are never refused: the new leader's entry and auto-leave must get through. */
  increaseUncommittedSize(ents: Entry[]): boolean {
    const s = payloadsSize(ents)
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize)
      return false
    this.uncommittedSize += s
    return true
  }

  /** Saturates at 0: the estimate may under- but never overestimate the tail. */
  reduceUncommittedSize(s: number): void {
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return
    if (!this.committedEntryInCurrentTerm()) {
      this.logger.error(
        'pending MsgReadIndex should be released only after first commit in current term',
      )
      return
    }
    const msgs = this.pendingReadIndexMessages
    this.pendingReadIndexMessages = []
    for (const m of msgs) this.sendMsgReadIndexResponse(m)
  }

  private sendMsgReadIndexResponse(m: Message): void {
    if (this.readOnly.option === ReadOnlyOption.ReadOnlySafe) {
      this.readOnly.addRequest(this.raftLog.committed, m)
      // The leader acks its own read position.
      this.readOnly.recvAck(this.id, this.readOnly.heartbeatCtx())
      this.bcastHeartbeat()
    } else {
      this.respondToReadIndex(m, this.raftLog.committed)
    }
  }

  /** Test hook (etcd-io/raft's SetRandomizedElectionTimeout). */
  setRandomizedElectionTimeout(timeout: number): void {
    this.randomizedElectionTimeout = timeout
  }
}

/** Wraps a conf change (or null: leave joint) into a local MsgProp. */
export function confChangeToMsg(cc: ConfChange | ConfChangeV2 | null): Message {
  const { type, data } = marshalConfChange(cc)
  return message({ type: MessageType.MsgProp, entries: [entry({ type, data })] })
}

function assertConfStatesEquivalent(logger: Logger, a: ConfState, b: ConfState): void {
  const err = confStateEquivalent(a, b)
  if (err !== null) logger.panic(err)
}

/** Go's %v of a ConfState struct, used in one warning. */
function describeConfStateGo(cs: ConfState): string {
  const list = (ids: NodeId[]): string => `[${ids.join(' ')}]`
  return `{Voters:${list(cs.voters)} Learners:${list(cs.learners)} VotersOutgoing:${list(cs.votersOutgoing)} LearnersNext:${list(cs.learnersNext)} AutoLeave:${cs.autoLeave}}`
}
