/**
 * Test support for the unit tests of the Raft core: builders for storages, configs and Raft
 * instances with short timeouts, the Go tests' small helpers (readMessages, nextEnts, ...), and
 * Network, a deterministic in-memory network that delivers every message until the group is quiet
 * (etcd-io/raft raft_test.go `network`). Messages can be dropped per link, per type or by a hook.
 *
 * Nothing here is random unless a test asks for it: drop probabilities below 1 draw from a seeded
 * PRNG, and every Raft gets a seeded Rand, so a failing test replays exactly.
 */

import { Raft } from '../raft.js'
import { seededRand, type Config } from '../config.js'
import { RaftError, type RaftErrorCode } from '../errors.js'
import { MemoryStorage } from '../storage.js'
import { enqueue } from '../util.js'
import {
  emptySnapshot,
  entry,
  MessageType,
  type Entry,
  type Message,
  type NodeId,
} from '../raftpb/types.js'

/** Ids 1..size, as bigints. */
export function idsBySize(size: number): NodeId[] {
  return Array.from({ length: size }, (_, i) => BigInt(i + 1))
}

/** A MemoryStorage whose (index 0) snapshot names the given voters and learners. */
export function newTestStorage(voters: NodeId[], learners: NodeId[] = []): MemoryStorage {
  const s = new MemoryStorage()
  const snap = emptySnapshot()
  snap.metadata.confState.voters = [...voters]
  snap.metadata.confState.learners = [...learners]
  s.applySnapshot(snap)
  return s
}

/** The Go tests' defaults: no message size limit, 256 inflight messages, a seeded Rand. */
export function newTestConfig(
  id: NodeId,
  electionTick: number,
  heartbeatTick: number,
  storage: MemoryStorage,
  overrides: Partial<Config> = {},
): Config {
  return {
    id,
    electionTick,
    heartbeatTick,
    storage,
    maxSizePerMsg: Infinity,
    maxInflightMsgs: 256,
    rand: seededRand(id),
    ...overrides,
  }
}

export function newTestRaft(
  id: NodeId,
  electionTick: number,
  heartbeatTick: number,
  storage: MemoryStorage,
  overrides: Partial<Config> = {},
): Raft {
  return new Raft(newTestConfig(id, electionTick, heartbeatTick, storage, overrides))
}

/** Entries at consecutive indexes from `first` with the given terms (Go `index(i).terms(...)`). */
export function entsAt(first: number, ...terms: number[]): Entry[] {
  return terms.map((term, i) => entry({ term, index: first + i }))
}

/** The RaftError code `fn` throws, or null when it returns. Other throws propagate. */
export function errorCode(fn: () => unknown): RaftErrorCode | null {
  try {
    fn()
    return null
  } catch (err) {
    if (err instanceof RaftError) return err.code
    throw err
  }
}

/** The bytes of an ASCII string (the core's lib has no TextEncoder). */
export function utf8(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => {
    const code = c.charCodeAt(0)
    if (code > 0x7f) throw new Error(`utf8: non-ASCII test string ${JSON.stringify(s)}`)
    return code
  })
}

/**
 * A fresh local proposal. Raft stamps term and index on the entries it appends, so a message must
 * never be stepped twice.
 */
export function propMsg(from: NodeId, ...data: Uint8Array[]): Message {
  const entries = data.length === 0 ? [entry({})] : data.map((d) => entry({ data: d }))
  return { ...base(MessageType.MsgProp), from, to: from, entries }
}

/** A message with every field at its zero value, then `fields`. */
export function msg(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return { ...base(fields.type), ...fields }
}

function base(type: MessageType): Message {
  return {
    type,
    to: 0n,
    from: 0n,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    vote: 0n,
    snapshot: null,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    responses: [],
  }
}

/** Steps `m`, ignoring the errors a test network ignores (dropped proposals). */
export function stepIgnoringDrops(r: Raft, m: Message): void {
  try {
    r.step(m)
  } catch (err) {
    if (!RaftError.is(err, 'PROPOSAL_DROPPED')) throw err
  }
}

/** Delivers self-addressed held-back messages; the rest join r.msgs (Go `stepOrSend`). */
export function stepOrSend(r: Raft, msgs: Message[]): void {
  for (const m of msgs) {
    if (m.to === r.id) r.step(m)
    else r.msgs = enqueue(r.msgs, m)
  }
}

export function takeMessagesAfterAppend(r: Raft): Message[] {
  const msgs = r.msgsAfterAppend
  r.msgsAfterAppend = []
  return msgs
}

/** Pretends every held-back message became durable (Go `advanceMessagesAfterAppend`). */
export function advanceMessagesAfterAppend(r: Raft): void {
  for (let round = 0; round < 100; round++) {
    const msgs = takeMessagesAfterAppend(r)
    if (msgs.length === 0) return
    stepOrSend(r, msgs)
  }
  throw new Error('advanceMessagesAfterAppend did not settle')
}

/** The messages to send, after the held-back ones were released (Go `readMessages`). */
export function readMessages(r: Raft): Message[] {
  advanceMessagesAfterAppend(r)
  const msgs = r.msgs
  r.msgs = []
  return msgs
}

/** Persists the unstable entries, releases acks and returns the entries to apply (Go `nextEnts`). */
export function nextEnts(r: Raft, s: MemoryStorage): Entry[] {
  s.append(r.raftLog.nextUnstableEnts())
  r.raftLog.stableTo(r.raftLog.lastEntryID())
  advanceMessagesAfterAppend(r)
  const ents = r.raftLog.nextCommittedEnts(true)
  r.raftLog.appliedTo(r.raftLog.committed, 0)
  return ents
}

export function mustAppendEntry(r: Raft, ...ents: Entry[]): void {
  if (!r.appendEntry(ents)) throw new Error('entry unexpectedly dropped')
}

/** A peer that swallows everything (Go `nopStepper`). */
export class BlackHole {
  readonly kind = 'black-hole'
}

export const nopStepper = new BlackHole()

type Peer = Raft | BlackHole

/** mulberry32: a tiny seeded PRNG for drop probabilities. */
export class Prng {
  private state: number
  constructor(seed: number) {
    this.state = seed | 0
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const linkKey = (from: NodeId, to: NodeId): string => `${from}->${to}`

export interface NetworkOptions {
  /** Applied to the config of every Raft the network creates itself. */
  config?: (c: Config) => void
  seed?: number
}

/**
 * Peers 1..n. A null slot becomes a fresh Raft over a storage listing every peer as a voter
 * (election 10, heartbeat 1); a given Raft is used as it is; a BlackHole drops what it gets.
 */
export class Network {
  readonly peers = new Map<NodeId, Peer>()
  readonly storage = new Map<NodeId, MemoryStorage>()
  /** Called for each message about to be delivered; false drops it. */
  msgHook: ((m: Message) => boolean) | null = null
  private dropm = new Map<string, number>()
  private ignorem = new Set<MessageType>()
  private readonly prng: Prng

  constructor(slots: (Peer | null)[], options: NetworkOptions = {}) {
    const ids = idsBySize(slots.length)
    this.prng = new Prng(options.seed ?? 1)
    slots.forEach((slot, i) => {
      const id = ids[i] as NodeId
      if (slot !== null) {
        if (slot instanceof Raft && slot.id !== id) throw new Error(`peer ${i} has id ${slot.id}`)
        this.peers.set(id, slot)
        return
      }
      const storage = newTestStorage(ids)
      const cfg = newTestConfig(id, 10, 1, storage)
      options.config?.(cfg)
      this.storage.set(id, storage)
      this.peers.set(id, new Raft(cfg))
    })
  }

  /** The Raft with this id (throws for a BlackHole or a missing peer). */
  raft(id: NodeId | number): Raft {
    const p = this.peers.get(BigInt(id))
    if (!(p instanceof Raft)) throw new Error(`peer ${id} is not a Raft`)
    return p
  }

  /** The storage of a Raft the network created. */
  storageOf(id: NodeId | number): MemoryStorage {
    const s = this.storage.get(BigInt(id))
    if (s === undefined) throw new Error(`peer ${id} has no network-made storage`)
    return s
  }

  /** Delivers `msgs` and everything they cause, breadth first, until no message is left. */
  send(...msgs: Message[]): void {
    const queue = [...msgs]
    for (let delivered = 0; queue.length > 0; delivered++) {
      if (delivered > 100_000) throw new Error('network did not quiesce')
      const m = queue.shift() as Message
      const p = this.peers.get(m.to)
      if (!(p instanceof Raft)) continue
      stepIgnoringDrops(p, m)
      queue.push(...this.filter(readMessages(p)))
    }
  }

  /** Drops messages from `from` to `to` with probability `perc` (>= 1: always). */
  drop(from: NodeId | number, to: NodeId | number, perc: number): void {
    this.dropm.set(linkKey(BigInt(from), BigInt(to)), perc)
  }

  cut(one: NodeId | number, other: NodeId | number): void {
    this.drop(one, other, 2)
    this.drop(other, one, 2)
  }

  isolate(id: NodeId | number): void {
    for (const other of this.peers.keys()) {
      if (other === BigInt(id)) continue
      this.drop(id, other, 1)
      this.drop(other, id, 1)
    }
  }

  ignore(t: MessageType): void {
    this.ignorem.add(t)
  }

  recover(): void {
    this.dropm = new Map()
    this.ignorem = new Set()
  }

  private filter(msgs: Message[]): Message[] {
    return msgs.filter((m) => {
      if (this.ignorem.has(m.type)) return false
      if (m.type === MessageType.MsgHup) throw new Error('unexpected MsgHup on the network')
      const perc = this.dropm.get(linkKey(m.from, m.to)) ?? 0
      if (perc > 0 && this.prng.next() < perc) return false
      return this.msgHook === null || this.msgHook(m)
    })
  }
}
