// Config validation (etcd-io/raft Config.validate): every rule of validateConfig refuses a bad
// value with RaftError INVALID_CONFIG and a message naming the field and the value, before
// anything is built; valid configs come back with every default filled in explicitly.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { ReadOnlyOption, validateConfig, type Config } from './config.js'
import { RaftError } from './errors.js'
import { discardLogger } from './logger.js'
import { Raft } from './raft.js'
import { RawNode } from './raw-node.js'
import { LocalApplyThread, LocalAppendThread } from './raftpb/types.js'
import { newTestStorage } from './rafttest/network.js'
import type { MemoryStorage } from './storage.js'

function base(storage: MemoryStorage = newTestStorage([1n])): Config {
  return { id: 1n, electionTick: 10, heartbeatTick: 1, storage, maxInflightMsgs: 256 }
}

/** [what, change to a valid config, the message expected] */
const invalid: [string, Partial<Config>, string][] = [
  ['id none', { id: 0n }, 'id (0) cannot be none (0)'],
  ['id negative', { id: -1n }, 'id (-1) must be an unsigned 64-bit integer'],
  [
    'id above 64 bits',
    { id: 1n << 64n },
    'id (18446744073709551616) must be an unsigned 64-bit integer',
  ],
  ['id not a bigint', { id: 1 as unknown as bigint }, 'id (1) must be a bigint'],
  [
    'id the append thread',
    { id: LocalAppendThread },
    `id (${LocalAppendThread}) cannot be a local target`,
  ],
  [
    'id the apply thread',
    { id: LocalApplyThread },
    `id (${LocalApplyThread}) cannot be a local target`,
  ],
  ['heartbeatTick zero', { heartbeatTick: 0 }, 'heartbeatTick (0) must be greater than 0'],
  ['heartbeatTick negative', { heartbeatTick: -1 }, 'heartbeatTick (-1) must be greater than 0'],
  [
    'heartbeatTick fractional',
    { heartbeatTick: 1.5 },
    'heartbeatTick (1.5) must be greater than 0',
  ],
  ['heartbeatTick NaN', { heartbeatTick: NaN }, 'heartbeatTick (NaN) must be greater than 0'],
  [
    'electionTick equal to heartbeatTick',
    { electionTick: 1 },
    'electionTick (1) must be greater than heartbeatTick (1)',
  ],
  [
    'electionTick below heartbeatTick',
    { electionTick: 5, heartbeatTick: 10 },
    'electionTick (5) must be greater than heartbeatTick (10)',
  ],
  [
    'electionTick fractional',
    { electionTick: 10.5 },
    'electionTick (10.5) must be greater than heartbeatTick (1)',
  ],
  ['storage missing', { storage: undefined as unknown as MemoryStorage }, 'storage cannot be nil'],
  ['maxInflightMsgs zero', { maxInflightMsgs: 0 }, 'maxInflightMsgs (0) must be greater than 0'],
  [
    'maxInflightMsgs Infinity',
    { maxInflightMsgs: Infinity },
    'maxInflightMsgs (Infinity) must be greater than 0',
  ],
  ...(
    [
      'maxSizePerMsg',
      'maxCommittedSizePerReady',
      'maxUncommittedEntriesSize',
      'maxInflightBytes',
    ] as const
  ).flatMap((name): [string, Partial<Config>, string][] =>
    [-1, 1.5, NaN].map((v) => [
      `${name} ${v}`,
      { [name]: v },
      `${name} (${v}) must be a non-negative integer or Infinity`,
    ]),
  ),
  ['applied negative', { applied: -1 }, 'applied (-1) must be a non-negative integer'],
  ['applied fractional', { applied: 0.5 }, 'applied (0.5) must be a non-negative integer'],
  [
    'maxInflightBytes below maxSizePerMsg',
    { maxSizePerMsg: 1000, maxInflightBytes: 100 },
    'maxInflightBytes (100) must be >= maxSizePerMsg (1000)',
  ],
  [
    'maxInflightBytes finite with an unlimited maxSizePerMsg',
    { maxSizePerMsg: Infinity, maxInflightBytes: 100 },
    'maxInflightBytes (100) must be >= maxSizePerMsg (Infinity)',
  ],
  [
    'one entry per message with no committed-size budget',
    { maxSizePerMsg: 0 },
    'maxCommittedSizePerReady (0) must be positive: set it, or a non-zero maxSizePerMsg',
  ],
  [
    'persistTermBeforeSend without asyncStorageWrites',
    { persistTermBeforeSend: true },
    'persistTermBeforeSend requires asyncStorageWrites (sync mode persists before sending)',
  ],
  [
    'readOnlyOption unknown',
    { readOnlyOption: 2 as ReadOnlyOption },
    'readOnlyOption (2) must be ReadOnlySafe (0) or ReadOnlyLeaseBased (1)',
  ],
  [
    'lease-based reads without CheckQuorum',
    { readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased },
    'checkQuorum must be enabled when readOnlyOption is ReadOnlyLeaseBased',
  ],
]

function invalidConfig(message: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof RaftError, String(err))
    assert.equal(err.code, 'INVALID_CONFIG')
    assert.equal(err.message, message)
    return true
  }
}

describe('validateConfig', () => {
  for (const [what, change, message] of invalid) {
    it(`refuses ${what}`, () => {
      const storage = newTestStorage([1n])
      const c = { ...base(storage), ...change }
      assert.throws(() => validateConfig(c, discardLogger), invalidConfig(message))
      assert.throws(() => new Raft(c), invalidConfig(message))
      assert.throws(() => new RawNode(c), invalidConfig(message))
      // Nothing was read before the config was checked whole.
      assert.equal(storage.callStats.initialState, 0)
    })
  }

  it('fills in every default explicitly', () => {
    const c = validateConfig(base(), discardLogger)
    assert.equal(c.applied, 0)
    assert.equal(c.asyncStorageWrites, false)
    assert.equal(c.maxSizePerMsg, 1024 * 1024, "etcd's server default")
    assert.equal(c.maxCommittedSizePerReady, 1024 * 1024, 'defaults to maxSizePerMsg')
    assert.equal(c.maxUncommittedEntriesSize, Infinity)
    assert.equal(c.maxInflightBytes, Infinity)
    assert.equal(c.checkQuorum, false)
    assert.equal(c.preVote, false)
    assert.equal(c.readOnlyOption, ReadOnlyOption.ReadOnlySafe)
    assert.equal(c.disableProposalForwarding, false)
    assert.equal(c.disableConfChangeValidation, false)
    assert.equal(c.stepDownOnRemoval, false)
    assert.equal(c.logger, discardLogger)
    const n = c.rand.intn(10)
    assert.ok(Number.isInteger(n) && n >= 0 && n < 10)
  })

  it('keeps explicit values and derives the dependent defaults', () => {
    const c = validateConfig(
      {
        ...base(),
        maxSizePerMsg: 1024,
        maxInflightBytes: 1024,
        applied: 0,
        readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased,
        checkQuorum: true,
      },
      discardLogger,
    )
    assert.equal(c.maxCommittedSizePerReady, 1024)
    assert.equal(c.maxInflightBytes, 1024)
    const u = validateConfig(
      { ...base(), maxSizePerMsg: Infinity, maxUncommittedEntriesSize: 4096 },
      discardLogger,
    )
    assert.equal(u.maxCommittedSizePerReady, Infinity)
    assert.equal(u.maxUncommittedEntriesSize, 4096)
  })

  it('the default Rand is seeded by the id: the same id draws the same timeouts', () => {
    const draws = (id: bigint): number[] => {
      const r = validateConfig({ ...base(), id }, discardLogger).rand
      return Array.from({ length: 20 }, () => r.intn(1000))
    }
    assert.deepEqual(draws(7n), draws(7n))
    assert.notDeepEqual(draws(7n), draws(8n))
  })
})
