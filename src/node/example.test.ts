// Goal: the README's first command works: the three-node embedding example (examples/three-nodes.ts)
// elects a leader, replicates a write proposed on a follower and reads it back linearizably on
// another, then exits on its own. Method: run the compiled example as a newcomer would (`npm run
// example` runs the same file) and check what it prints.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

test('the README example runs three nodes in one process and reads its write back', () => {
  const script = fileURLToPath(new URL('../../examples/three-nodes.js', import.meta.url))
  const out = execFileSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000 })
  assert.match(out, /^leader: node [123]\n/)
  assert.match(out, /\nnode 2 reads greeting=hello\n$/)
})
