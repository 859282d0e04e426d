// WalError: one row per code (STYLE.md §4): the class, name and brand hold for each, and the
// brand makes instanceof work for an error built by another copy of the module.

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { RaftError } from '../raft/index.js'
import { WalError, corrupt, type WalErrorCode } from './errors.js'

const codes: WalErrorCode[] = [
  'WAL_CORRUPT',
  'WAL_MISSING_SEGMENT',
  'WAL_METADATA_MISMATCH',
  'WAL_GAP',
  'WAL_NOT_FOUND',
  'WAL_IO',
  'WAL_CLOSED',
]

it('WalError: every code', () => {
  for (const code of codes) {
    const err = new WalError(code, `wal: ${code}`, { file: '/x', offset: 8 })
    assert.ok(err instanceof WalError)
    assert.ok(err instanceof Error)
    assert.ok(!(err instanceof RaftError))
    assert.equal(err.name, 'WalError')
    assert.ok(WalError.is(err, code))
    assert.deepEqual([err.file, err.offset], ['/x', 8])
  }
  const foreign = Object.assign(new Error('x'), { [Symbol.for('pontoon.wal.error')]: true })
  assert.ok(foreign instanceof WalError, 'the brand, not the prototype, decides')
  const c = corrupt('/d/0000000000000000-0000000000000000.wal', 4096, 'crc mismatch')
  assert.equal(c.code, 'WAL_CORRUPT')
  assert.match(c.message, /at offset 4096: crc mismatch; nothing was truncated/)
})
