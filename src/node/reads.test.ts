// Goal: a ReadIndex answer resolves only the round that asked for it, even across restarts.
// Method: drive Reads directly, capturing the request contexts it hands to raft.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Reads } from './reads.js'

test("an answer to a previous incarnation's read is not taken for a new one's", async () => {
  const asked: Uint8Array[] = []
  const before = new Reads((ctx) => asked.push(ctx), 10, 1)
  void before.add(100)
  before.flush(0, 1n)
  // The node restarts: the new incarnation's first round, while the old request is answered.
  const after = new Reads((ctx) => asked.push(ctx), 10, 2)
  let resolved = -1
  void after.add(100).then((index) => (resolved = index))
  after.flush(0, 1n)
  assert.equal(asked.length, 2)
  assert.notDeepEqual(asked[0], asked[1])
  assert.equal(after.answered([{ index: 5, requestCtx: asked[0]! }], 5), false)
  assert.equal(after.answered([{ index: 7, requestCtx: asked[1]! }], 7), true)
  await Promise.resolve()
  assert.equal(resolved, 7)
})
