// MvccError: one row per code (STYLE.md §4): class, name and brand hold for each, the brand makes
// instanceof work across copies of the module, and the two texts clients match are etcd's.

import assert from 'node:assert/strict'
import { it } from 'node:test'

import {
  ERR_COMPACTED_TEXT,
  ERR_FUTURE_REV_TEXT,
  errCompacted,
  errFutureRev,
  MvccError,
  type MvccErrorCode,
} from './errors.js'

const codes: MvccErrorCode[] = [
  'COMPACTED',
  'FUTURE_REV',
  'SNAPSHOT_CORRUPT',
  'BACKEND_CORRUPT',
  'BACKEND_FAILED',
  'CLOSED',
]

it('MvccError: every code', () => {
  for (const code of codes) {
    const err = new MvccError(code, `mvcc: ${code}`)
    assert.ok(err instanceof MvccError)
    assert.ok(err instanceof Error)
    assert.equal(err.name, 'MvccError')
    assert.equal(err.code, code)
    assert.ok(MvccError.is(err, code))
    assert.ok(!MvccError.is(new Error('x'), code))
  }
  const foreign = Object.assign(new Error('x'), { [Symbol.for('pontoon.mvcc.error')]: true })
  assert.ok(foreign instanceof MvccError, 'the brand, not the prototype, decides')
})

it("MvccError: etcd's texts (server/mvcc/kvstore.go)", () => {
  assert.equal(ERR_COMPACTED_TEXT, 'mvcc: required revision has been compacted')
  assert.equal(ERR_FUTURE_REV_TEXT, 'mvcc: required revision is a future revision')
  assert.equal(errCompacted().message, ERR_COMPACTED_TEXT)
  assert.equal(errCompacted().code, 'COMPACTED')
  assert.equal(errFutureRev().message, ERR_FUTURE_REV_TEXT)
  assert.equal(errFutureRev().code, 'FUTURE_REV')
})
