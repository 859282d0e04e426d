// Goal: the snapshots a member takes to compact its log hold no state (the store is durable on
// its own, as etcd's v3 backend is not in its raft snapshots), so taking one costs nothing like a
// copy of the store; and a store found behind such a snapshot at start, which lost writes, is
// refused with a clear error rather than restored from nothing. Followers still get the whole
// state. Method: ServerStateMachine over an MvccStore on the in-memory backend, fed encoded puts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { putRequest } from '../api/index.js'
import { MemoryBackend, MvccError, MvccStore } from '../mvcc/index.js'
import { Members } from './members.js'
import { encodeRequest } from './request.js'
import { ServerStateMachine } from './state-machine.js'

const b = (s: string): Uint8Array => Buffer.from(s)
const CONF = { voters: [1n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }

function machine(store = MvccStore.open(new MemoryBackend())): ServerStateMachine {
  return new ServerStateMachine({
    store,
    members: Members.initial(new Map([['m1', ['http://127.0.0.1:2380']]]), 'token'),
  })
}

function putMany(m: ServerStateMachine, n: number): void {
  for (let i = 1; i <= n; i++) {
    const r = putRequest({ key: b(`k${i % 50}`), value: Buffer.alloc(200, i) })
    m.apply([{ index: i, term: 1, type: 0, data: encodeRequest({ type: 'put', put: r }) }])
  }
}

test('a compaction snapshot holds no state; the whole one does', async () => {
  const m = machine()
  putMany(m, 500)
  const local = await m.compactionSnapshot()
  const full = await m.snapshot()
  assert.equal(local.length, 16)
  assert.ok(full.length > 500 * 200, `the whole state is ${full.length} bytes`)
  // The whole snapshot restores a fresh member to the same state.
  const other = machine()
  other.restore({ data: full, metadata: { index: 500, term: 1, confState: CONF } })
  assert.equal(other.appliedIndex(), 500)
})

test('a store behind a compaction snapshot is refused at restore, and left as it was', async () => {
  const m = machine()
  putMany(m, 120)
  const local = await m.compactionSnapshot()
  const behind = MvccStore.open(new MemoryBackend())
  const fresh = machine(behind)
  assert.throws(
    () => fresh.restore({ data: local, metadata: { index: 120, term: 1, confState: CONF } }),
    (err: unknown) =>
      MvccError.is(err, 'BACKEND_CORRUPT') &&
      /the backend is at index 0, behind the local snapshot at index 120 .* lost writes/.test(
        (err as Error).message,
      ),
  )
  assert.equal(fresh.appliedIndex(), 0)
  assert.equal(behind.currentRevision, 1)
})
