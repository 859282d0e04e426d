/**
 * `add-nodes <count> [voters=(ids)] [learners=(ids)] [index=<i>] [content=<s>] [options...]`:
 * creates nodes with the next free ids, optionally bootstrapped from a snapshot
 * (etcd-io/raft rafttest/interaction_env_handler_add_nodes.go). Besides Go's options, Pontoon's
 * own transcripts use `persist-term-before-send=<bool>` and `max-size-per-msg=<n>`.
 */

import { emptySnapshot, type Snapshot } from '../raftpb/types.js'
import {
  firstAsInt,
  scanBool,
  scanInt,
  scanString,
  scanUint64,
  scanUint64Number,
  utf8Bytes,
} from './args.js'
import type { CmdArg, ConfigLike } from './deps.js'
import {
  cloneSnapshot,
  HarnessError,
  HistoryStorage,
  type InteractionEnv,
} from './interaction-env.js'

/** A Config without the per-node fields. */
export type ConfigStub = Omit<ConfigLike, 'id' | 'storage' | 'logger'>

const maxInt32 = 2 ** 31 - 1

/** The test defaults: short timeouts and no size or inflight limits (Go raftConfigStub). */
export function raftConfigStub(): ConfigStub {
  return {
    electionTick: 3,
    heartbeatTick: 1,
    applied: 0,
    asyncStorageWrites: false,
    persistTermBeforeSend: false,
    maxSizePerMsg: Infinity,
    maxCommittedSizePerReady: 0,
    maxUncommittedEntriesSize: 0,
    maxInflightMsgs: maxInt32,
    maxInflightBytes: 0,
    checkQuorum: false,
    preVote: false,
    readOnlyOption: 0,
    disableProposalForwarding: false,
    disableConfChangeValidation: false,
    stepDownOnRemoval: false,
  }
}

/** The bootstrap snapshot an add-nodes directive describes, and whether it describes one. */
export interface Bootstrap {
  snap: Snapshot
  /** Go compares the snapshot with the zero Snapshot; any of the keys below makes it differ. */
  given: boolean
}

export function handleAddNodes(env: InteractionEnv, args: CmdArg[]): void {
  const count = firstAsInt(args)
  const boot: Bootstrap = { snap: emptySnapshot(), given: false }
  const cfg = raftConfigStub()
  for (const arg of args.slice(1)) {
    for (let i = 0; i < arg.vals.length; i++) scanOption(arg, i, cfg, boot)
  }
  addNodes(env, count, cfg, boot)
}

function scanOption(arg: CmdArg, i: number, cfg: ConfigStub, boot: Bootstrap): void {
  const meta = boot.snap.metadata
  switch (arg.key) {
    case 'voters':
      meta.confState.voters.push(scanUint64(arg, i))
      boot.given = true
      break
    case 'learners':
      meta.confState.learners.push(scanUint64(arg, i))
      boot.given = true
      break
    case 'index':
      meta.index = scanUint64Number(arg, i)
      cfg.applied = meta.index
      boot.given = boot.given || meta.index !== 0
      break
    case 'content':
      boot.snap.data = utf8Bytes(scanString(arg, i))
      boot.given = true
      break
    default:
      scanConfigOption(arg, i, cfg)
  }
}

function scanConfigOption(arg: CmdArg, i: number, cfg: ConfigStub): void {
  switch (arg.key) {
    case 'inflight':
      cfg.maxInflightMsgs = scanInt(arg, i)
      break
    case 'async-storage-writes':
      cfg.asyncStorageWrites = scanBool(arg, i)
      break
    // Pontoon's options, for its own transcripts (src/raft/testdata); Go ignores these keys.
    case 'persist-term-before-send':
      cfg.persistTermBeforeSend = scanBool(arg, i)
      break
    case 'max-size-per-msg':
      cfg.maxSizePerMsg = scanUint64Number(arg, i)
      break
    case 'prevote':
      cfg.preVote = scanBool(arg, i)
      break
    case 'checkquorum':
      cfg.checkQuorum = scanBool(arg, i)
      break
    case 'max-committed-size-per-ready':
      cfg.maxCommittedSizePerReady = scanUint64Number(arg, i)
      break
    case 'disable-conf-change-validation':
      cfg.disableConfChangeValidation = scanBool(arg, i)
      break
    case 'read-only':
      cfg.readOnlyOption = readOnlyOption(scanString(arg, i))
      break
    case 'step-down-on-removal':
      cfg.stepDownOnRemoval = scanBool(arg, i)
      break
    case 'heartbeat-tick':
      cfg.heartbeatTick = scanInt(arg, i)
      break
    case 'election-tick':
      cfg.electionTick = scanInt(arg, i)
      break
    // Unknown keys are ignored, as in Go.
  }
}

function readOnlyOption(name: string): number {
  if (name === 'safe') return 0
  if (name === 'lease-based') return 1
  throw new HarnessError(`invalid read-only option ${JSON.stringify(name)}`)
}

/** Go AddNodes: n new nodes with consecutive ids, each from its own copy of the snapshot. */
export function addNodes(env: InteractionEnv, n: number, cfg: ConfigStub, boot: Bootstrap): void {
  for (let i = 0; i < n; i++) {
    const id = BigInt(1 + env.nodes.length)
    const history: Snapshot[] = []
    const storage = new HistoryStorage(env.deps.newMemoryStorage(), history)
    const snap = cloneSnapshot(boot.snap)
    if (boot.given) bootstrapStorage(storage, snap)
    history.push(snap)
    const config: ConfigLike = { ...cfg, id, storage, logger: env.output }
    const rawNode = env.deps.newRawNode(config)
    env.nodes.push({ rawNode, storage, config, appendWork: [], applyWork: [], history })
  }
}

// MemoryStorage cannot express a bootstrap snapshot at index 1, so the harness demands more;
// the snapshot's term is always 1.
function bootstrapStorage(storage: HistoryStorage, snap: Snapshot): void {
  if (snap.metadata.index <= 1) {
    throw new HarnessError('index must be specified as > 1 due to bootstrap')
  }
  snap.metadata.term = 1
  storage.applySnapshot(cloneSnapshot(snap))
  const firstIndex = storage.firstIndex()
  const expected = snap.metadata.index + 1
  if (firstIndex !== expected) {
    throw new HarnessError(`failed to establish first index ${expected}; got ${firstIndex}`)
  }
}
