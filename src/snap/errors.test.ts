// SnapError: one row per code (STYLE.md §4): the class, name and brand hold for each, the brand
// makes instanceof work for an error built by another copy of the module, and the texts start
// with etcd's.

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { RaftError } from '../raft/index.js'
import { SnapError, snapCorrupt, snapNotFound, type SnapErrorCode } from './errors.js'

const codes: SnapErrorCode[] = ['SNAP_CORRUPT', 'SNAP_NOT_FOUND']

it('SnapError: every code', () => {
  for (const code of codes) {
    const err = new SnapError(code, `snap: ${code}`, { file: '/x' })
    assert.ok(err instanceof SnapError)
    assert.ok(err instanceof Error)
    assert.ok(!(err instanceof RaftError))
    assert.equal(err.name, 'SnapError')
    assert.ok(SnapError.is(err, code))
    assert.equal(err.file, '/x')
  }
  const foreign = Object.assign(new Error('x'), { [Symbol.for('pontoon.snap.error')]: true })
  assert.ok(foreign instanceof SnapError, 'the brand, not the prototype, decides')
  const c = snapCorrupt('/m/snap/a.snap', 'snap: crc mismatch', 'stored 1, computed 2')
  assert.equal(c.code, 'SNAP_CORRUPT')
  assert.equal(
    c.message,
    'snap: crc mismatch in /m/snap/a.snap (stored 1, computed 2); the file is left in place',
  )
  const n = snapNotFound('/m/snap', 2)
  assert.equal(n.code, 'SNAP_NOT_FOUND')
  assert.match(n.message, /^snap: no available snapshot: no file in \/m\/snap loads/)
})
