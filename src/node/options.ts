/**
 * The node driver's options: validated whole, defaults filled in explicitly, etcd's where etcd
 * has one (--heartbeat-interval 100 ms, --election-timeout 1000 ms, --snapshot-count, its request
 * timeout and its apply backlog limit).
 */
import {
  ReadOnlyOption,
  discardLogger,
  type Logger,
  type NodeId,
  type Rand,
  type RaftView,
  type Ready,
} from '../raft/index.js'
import type { Clock } from '../io/index.js'
import { NodeError } from './errors.js'
import type { StateMachine } from './state-machine.js'
import type { NodeStorage } from './storage.js'
import type { Transport } from './transport.js'

/** Hooks for whoever watches the node (metrics, the simulator's checkers); none may throw. */
export interface NodeObserver {
  /**
   * Called with each Ready as soon as the driver takes it, before any of it is handled, and the
   * node's raft state as of it (the first Ready comes before start() has resolved).
   */
  ready?(rd: Ready, view: RaftView): void
}

export interface NodeOptions<R> {
  id: NodeId
  storage: NodeStorage
  stateMachine: StateMachine<R>
  transport: Transport
  clock: Clock
  /**
   * Bootstraps a new cluster of these voters when the storage is empty; without them an empty
   * node joins an existing cluster, waiting for the leader to send it a snapshot.
   */
  peers?: readonly NodeId[]
  /** Milliseconds per tick: etcd's --heartbeat-interval (100). */
  tickMs?: number
  /** Ticks without a leader before campaigning: --election-timeout / --heartbeat-interval (10). */
  electionTicks?: number
  heartbeatTicks?: number
  /** Ticks before a proposal or read gives up: etcd's 5 s plus two election timeouts. */
  requestTimeoutTicks?: number
  /** Ticks before an unanswered ReadIndex request is sent again (etcd: 500 ms). */
  readRetryTicks?: number
  /**
   * Persist and apply on their own lanes (etcd-io/raft AsyncStorageWrites), so the disk and the
   * network proceed in parallel; default true. With it the driver sets persistTermBeforeSend.
   */
  asyncStorageWrites?: boolean
  preVote?: boolean
  checkQuorum?: boolean
  readOnlyOption?: ReadOnlyOption
  maxSizePerMsg?: number
  maxInflightMsgs?: number
  maxInflightBytes?: number
  maxCommittedSizePerReady?: number
  maxUncommittedEntriesSize?: number
  stepDownOnRemoval?: boolean
  /** Snapshot after this many entries applied since the last one; 0: never (etcd: 100,000). */
  snapshotCount?: number
  /** Entries kept in the log behind a snapshot for slow followers (etcd: 5,000). */
  snapshotCatchUpEntries?: number
  /** Proposals waiting for their result at most; more get TOO_MANY_REQUESTS. */
  proposalsMax?: number
  /** Reads waiting at most; more get TOO_MANY_REQUESTS. */
  readsMax?: number
  /** Committed entries not yet applied before proposals are refused (etcd: 5,000). */
  applyBacklogMax?: number
  /** Storage writes in flight, and apply jobs queued, before proposals are refused. */
  storageQueueMax?: number
  logger?: Logger
  /** Election-timeout jitter and the incarnation tag; the simulator passes a seeded one. */
  rand?: Rand
  observer?: NodeObserver
}

export interface ValidNodeOptions<R> extends Required<
  Omit<NodeOptions<R>, 'peers' | 'rand' | 'observer' | 'maxInflightBytes'>
> {
  peers: readonly NodeId[]
  rand: Rand | undefined
  observer: NodeObserver
  maxInflightBytes: number
}

export function validateNodeOptions<R>(o: NodeOptions<R>): ValidNodeOptions<R> {
  const tickMs = o.tickMs ?? 100
  const electionTicks = o.electionTicks ?? 10
  const heartbeatTicks = o.heartbeatTicks ?? 1
  const v: ValidNodeOptions<R> = {
    id: o.id,
    storage: o.storage,
    stateMachine: o.stateMachine,
    transport: o.transport,
    clock: o.clock,
    peers: o.peers ?? [],
    tickMs,
    electionTicks,
    heartbeatTicks,
    requestTimeoutTicks: o.requestTimeoutTicks ?? Math.ceil(5000 / tickMs) + 2 * electionTicks,
    readRetryTicks: o.readRetryTicks ?? Math.max(1, Math.ceil(500 / tickMs)),
    asyncStorageWrites: o.asyncStorageWrites ?? true,
    preVote: o.preVote ?? true,
    checkQuorum: o.checkQuorum ?? true,
    readOnlyOption: o.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe,
    maxSizePerMsg: o.maxSizePerMsg ?? 1024 * 1024,
    maxInflightMsgs: o.maxInflightMsgs ?? 512,
    maxInflightBytes: o.maxInflightBytes ?? 0,
    maxCommittedSizePerReady: o.maxCommittedSizePerReady ?? 0,
    maxUncommittedEntriesSize: o.maxUncommittedEntriesSize ?? 0,
    stepDownOnRemoval: o.stepDownOnRemoval ?? false,
    snapshotCount: o.snapshotCount ?? 100_000,
    snapshotCatchUpEntries: o.snapshotCatchUpEntries ?? 5_000,
    proposalsMax: o.proposalsMax ?? 100_000,
    readsMax: o.readsMax ?? 100_000,
    applyBacklogMax: o.applyBacklogMax ?? 5_000,
    storageQueueMax: o.storageQueueMax ?? 4_096,
    logger: o.logger ?? discardLogger,
    rand: o.rand,
    observer: o.observer ?? {},
  }
  const positive: (keyof ValidNodeOptions<R>)[] = [
    'tickMs',
    'electionTicks',
    'heartbeatTicks',
    'requestTimeoutTicks',
    'readRetryTicks',
    'proposalsMax',
    'readsMax',
    'applyBacklogMax',
    'storageQueueMax',
  ]
  for (const k of positive) {
    const x = v[k] as number
    if (!Number.isSafeInteger(x) || x <= 0) invalid(`${k} (${x}) must be a positive integer`)
  }
  for (const k of ['snapshotCount', 'snapshotCatchUpEntries'] as const) {
    if (!Number.isSafeInteger(v[k]) || v[k] < 0) invalid(`${k} (${v[k]}) must be 0 or more`)
  }
  if (electionTicks <= heartbeatTicks) {
    invalid(`electionTicks (${electionTicks}) must exceed heartbeatTicks (${heartbeatTicks})`)
  }
  return v
}

function invalid(message: string): never {
  throw new NodeError('INVALID', `node: ${message}`)
}
