/**
 * Config: everything a Raft instance is started with, and its validation. Validation checks the
 * whole config before anything is built and fills defaults explicitly (etcd-io/raft
 * Config.validate); an invalid config is refused with a message naming the field and the value.
 */
import { errInvalidConfig } from './errors.js'
import type { Logger } from './logger.js'
import type { Storage } from './storage.js'
import { isLocalMsgTarget } from './util.js'
import { None, type NodeId } from './raftpb/types.js'

/** etcd's server default for MaxSizePerMsg. */
export const DEFAULT_MAX_SIZE_PER_MSG = 1024 * 1024

export enum ReadOnlyOption {
  /** Reads are confirmed by a heartbeat round with a quorum (Raft thesis §6.4). The default. */
  ReadOnlySafe = 0,
  /** Reads rely on the leader lease (needs CheckQuorum); clock drift can break them. */
  ReadOnlyLeaseBased = 1,
}

/** The only randomness the core uses: election timeouts. Injected so that runs replay exactly. */
export interface Rand {
  /** A uniformly distributed integer in [0, n). */
  intn(n: number): number
}

export interface Config {
  /** This node's id; neither 0 nor a local-thread id. */
  id: NodeId
  /** Ticks without hearing from a leader before a follower campaigns. Must exceed heartbeatTick. */
  electionTick: number
  /** Ticks between a leader's heartbeats. */
  heartbeatTick: number
  storage: Storage
  /** The last applied index when restarting; entries up to it are not handed out again. */
  applied?: number
  /** Persist and apply through MsgStorageAppend / MsgStorageApply instead of Ready/Advance. */
  asyncStorageWrites?: boolean
  /**
   * A Pontoon addition for asyncStorageWrites (default false, etcd-io/raft's behaviour): a Ready
   * whose HardState changes the term or the vote sends nothing at once; its network messages
   * become responses of its MsgStorageAppend, so they leave only once that HardState is durable.
   * Without it a candidate may win, send entries of its new term, crash before the term is on
   * disk, and win the same term again with a different log (docs/divergence.md).
   */
  persistTermBeforeSend?: boolean
  /**
   * Byte cap (encoded entries) of one MsgApp. Infinity: unlimited; 0: one entry per message;
   * unset: 1 MiB (etcd's server default).
   */
  maxSizePerMsg?: number
  /** Byte cap of committed entries being applied at once; 0 means maxSizePerMsg. */
  maxCommittedSizePerReady?: number
  /** Byte cap (payloads) of the leader's uncommitted tail; 0 means unlimited. */
  maxUncommittedEntriesSize?: number
  /** Unacked MsgApps per follower in StateReplicate; must be > 0. */
  maxInflightMsgs: number
  /** Unacked payload bytes per follower; 0 means unlimited, else at least maxSizePerMsg. */
  maxInflightBytes?: number
  checkQuorum?: boolean
  preVote?: boolean
  readOnlyOption?: ReadOnlyOption
  logger?: Logger
  disableProposalForwarding?: boolean
  disableConfChangeValidation?: boolean
  stepDownOnRemoval?: boolean
  /** Source of election-timeout randomness; defaults to a PRNG seeded by the node id. */
  rand?: Rand
}

/** A Config with every default filled in. */
export interface ValidConfig extends Required<Omit<Config, 'logger'>> {
  logger: Logger
}

/**
 * Validates `c` whole and returns it with defaults filled in; throws RaftError INVALID_CONFIG.
 */
export function validateConfig(c: Config, defaultLogger: Logger): ValidConfig {
  const fail = (message: string): never => {
    throw errInvalidConfig(message)
  }
  if (typeof c.id !== 'bigint') fail(`id (${String(c.id)}) must be a bigint`)
  if (c.id === None) fail('id (0) cannot be none (0)')
  if (c.id < 0n || c.id > 0xffff_ffff_ffff_ffffn)
    fail(`id (${c.id}) must be an unsigned 64-bit integer`)
  if (isLocalMsgTarget(c.id)) fail(`id (${c.id}) cannot be a local target`)
  if (!Number.isSafeInteger(c.heartbeatTick) || c.heartbeatTick <= 0) {
    fail(`heartbeatTick (${c.heartbeatTick}) must be greater than 0`)
  }
  if (!Number.isSafeInteger(c.electionTick) || c.electionTick <= c.heartbeatTick) {
    fail(`electionTick (${c.electionTick}) must be greater than heartbeatTick (${c.heartbeatTick})`)
  }
  if (c.storage === undefined || c.storage === null) fail('storage cannot be nil')
  if (!Number.isSafeInteger(c.maxInflightMsgs) || c.maxInflightMsgs <= 0) {
    fail(`maxInflightMsgs (${c.maxInflightMsgs}) must be greater than 0`)
  }
  const sizes = [
    'maxSizePerMsg',
    'maxCommittedSizePerReady',
    'maxUncommittedEntriesSize',
    'maxInflightBytes',
  ] as const
  for (const name of sizes) {
    const v = c[name]
    if (v !== undefined && !(v === Infinity || (Number.isSafeInteger(v) && v >= 0))) {
      fail(`${name} (${v}) must be a non-negative integer or Infinity`)
    }
  }
  if (c.applied !== undefined && !(Number.isSafeInteger(c.applied) && c.applied >= 0)) {
    fail(`applied (${c.applied}) must be a non-negative integer`)
  }
  // Unset, maxSizePerMsg takes etcd's server default (1 MiB); an explicit 0 means one entry per
  // message, as in etcd-io/raft.
  const maxSizePerMsg = c.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG
  const maxCommittedSizePerReady =
    (c.maxCommittedSizePerReady ?? 0) === 0 ? maxSizePerMsg : (c.maxCommittedSizePerReady as number)
  if (maxCommittedSizePerReady === 0) {
    // etcd-io/raft accepts this and panics at the first commit ("applying entry size (0-0)=0").
    fail('maxCommittedSizePerReady (0) must be positive: set it, or a non-zero maxSizePerMsg')
  }
  const maxInflightBytesIn = c.maxInflightBytes ?? 0
  if (maxInflightBytesIn !== 0 && maxInflightBytesIn < maxSizePerMsg) {
    fail(`maxInflightBytes (${maxInflightBytesIn}) must be >= maxSizePerMsg (${maxSizePerMsg})`)
  }
  if (c.persistTermBeforeSend === true && c.asyncStorageWrites !== true) {
    fail('persistTermBeforeSend requires asyncStorageWrites (sync mode persists before sending)')
  }
  const readOnlyOption = c.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe
  if (
    readOnlyOption !== ReadOnlyOption.ReadOnlySafe &&
    readOnlyOption !== ReadOnlyOption.ReadOnlyLeaseBased
  ) {
    fail(
      `readOnlyOption (${String(readOnlyOption)}) must be ReadOnlySafe (0) or ReadOnlyLeaseBased (1)`,
    )
  }
  if (readOnlyOption === ReadOnlyOption.ReadOnlyLeaseBased && c.checkQuorum !== true) {
    fail('checkQuorum must be enabled when readOnlyOption is ReadOnlyLeaseBased')
  }
  return {
    id: c.id,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    storage: c.storage,
    applied: c.applied ?? 0,
    asyncStorageWrites: c.asyncStorageWrites ?? false,
    persistTermBeforeSend: c.persistTermBeforeSend ?? false,
    maxSizePerMsg,
    maxCommittedSizePerReady,
    maxUncommittedEntriesSize:
      (c.maxUncommittedEntriesSize ?? 0) === 0 ? Infinity : (c.maxUncommittedEntriesSize as number),
    maxInflightMsgs: c.maxInflightMsgs,
    maxInflightBytes: maxInflightBytesIn === 0 ? Infinity : maxInflightBytesIn,
    checkQuorum: c.checkQuorum ?? false,
    preVote: c.preVote ?? false,
    readOnlyOption,
    logger: c.logger ?? defaultLogger,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    disableConfChangeValidation: c.disableConfChangeValidation ?? false,
    stepDownOnRemoval: c.stepDownOnRemoval ?? false,
    rand: c.rand ?? seededRand(c.id),
  }
}

/**
 * The default Rand: a splitmix64-style generator seeded by the node id, so that nodes of one
 * group draw different timeouts while a run stays reproducible. Applications that want
 * unpredictable timeouts inject their own (the server uses node:crypto).
 */
export function seededRand(seed: bigint): Rand {
  let state = Number(seed & 0xffff_ffffn) ^ Number((seed >> 32n) & 0xffff_ffffn) ^ 0x9e3779b9
  return {
    intn(n: number): number {
      // mulberry32: 32-bit state, good enough spread for election timeouts.
      state = (state + 0x6d2b79f5) | 0
      let t = state
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296
      return Math.floor(u * n)
    },
  }
}
