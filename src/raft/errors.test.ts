// RaftError: one row per code (STYLE.md §4, after undici test/errors.js). Each row checks the
// code, etcd-io/raft's exact message text (callers and transcripts match on it), the name, and
// that instanceof works, also for an error from another copy of the package (the Symbol.for
// brand). The table is a Record over RaftErrorCode, so a new code fails to compile until tested.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import {
  errCompacted,
  errInvalidConfig,
  errorText,
  errProposalDropped,
  errSnapOutOfDate,
  errSnapshotTemporarilyUnavailable,
  errStepLocalMsg,
  errStepPeerNotFound,
  errUnavailable,
  RaftError,
  type RaftErrorCode,
} from './errors.js'

const table: Record<RaftErrorCode, { make: () => RaftError; message: string }> = {
  PROPOSAL_DROPPED: { make: errProposalDropped, message: 'raft proposal dropped' },
  STOPPED: { make: () => new RaftError('STOPPED', errorText.STOPPED), message: 'raft: stopped' },
  STEP_LOCAL_MSG: { make: errStepLocalMsg, message: 'raft: cannot step raft local message' },
  STEP_PEER_NOT_FOUND: {
    make: errStepPeerNotFound,
    message: 'raft: cannot step as peer not found',
  },
  COMPACTED: { make: errCompacted, message: 'requested index is unavailable due to compaction' },
  SNAP_OUT_OF_DATE: {
    make: errSnapOutOfDate,
    message: 'requested index is older than the existing snapshot',
  },
  UNAVAILABLE: { make: errUnavailable, message: 'requested entry at index is unavailable' },
  SNAPSHOT_TEMPORARILY_UNAVAILABLE: {
    make: errSnapshotTemporarilyUnavailable,
    message: 'snapshot is temporarily unavailable',
  },
  INVALID_CONFIG: {
    make: () => errInvalidConfig('heartbeatTick (0) must be greater than 0'),
    message: 'heartbeatTick (0) must be greater than 0',
  },
  CONF_CHANGE: {
    make: () => new RaftError('CONF_CHANGE', 'removed all voters'),
    message: 'removed all voters',
  },
  MALFORMED: {
    make: () => new RaftError('MALFORMED', 'proto: unexpected EOF'),
    message: 'proto: unexpected EOF',
  },
}

const codes = Object.keys(table) as RaftErrorCode[]

describe('RaftError', () => {
  for (const code of codes) {
    const { make, message } = table[code]
    it(code, () => {
      const err = make()
      assert.ok(err instanceof RaftError)
      assert.ok(err instanceof Error)
      assert.equal(err.name, 'RaftError')
      assert.equal(err.code, code)
      assert.equal(err.message, message)
      assert.ok(typeof err.stack === 'string' && err.stack.includes(message))
      assert.ok(RaftError.is(err, code))
      for (const other of codes) if (other !== code) assert.equal(RaftError.is(err, other), false)
      assert.notEqual(make(), err, 'each call makes a fresh error')
    })
  }

  it('errorText holds the texts of the errors etcd-io/raft exports as values', () => {
    for (const [code, text] of Object.entries(errorText)) {
      assert.equal(table[code as RaftErrorCode].message, text, code)
    }
  })

  it('instanceof works through the Symbol.for brand, and only through it', () => {
    const foreign = Object.assign(new Error('raft proposal dropped'), {
      code: 'PROPOSAL_DROPPED',
      [Symbol.for('pontoon.raft.error')]: true,
    })
    assert.ok(foreign instanceof RaftError, 'an error from another copy of the package')
    assert.ok(RaftError.is(foreign, 'PROPOSAL_DROPPED'))
    for (const value of [
      new Error('raft proposal dropped'),
      { code: 'COMPACTED' },
      null,
      undefined,
      'x',
      0,
    ]) {
      assert.equal(value instanceof RaftError, false, String(value))
      assert.equal(RaftError.is(value, 'COMPACTED'), false)
    }
  })
})
