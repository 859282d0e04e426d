// LmdbBackend after a real crash: a child process applies a workload with fsync on and is killed
// with SIGKILL (no close, no flush) after it reported durable indexes; the file is then reopened.
// What must hold: the consistent index is at least the last durable one reported, and the
// content is exactly the workload applied up to that index (each entry once: its data and the
// index went in one LMDB transaction), compared with a MemoryBackend replica by hash and by
// range; a compaction cut short resumes; and applying goes on from the next index. Twice, so the
// second crash hits a store that was itself recovered.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { it } from 'node:test'

import { applyEntry } from '../../test-support/mvcc-crash-child.js'
import { freshLmdbPath } from '../../test-support/mvcc-backends.js'
import { LmdbBackend, MemoryBackend, MvccStore } from './index.js'

const childScript = fileURLToPath(
  new URL('../../test-support/mvcc-crash-child.js', import.meta.url),
)

/** Runs the child until it has reported `reports` durable indexes, kills it, returns the last. */
async function runAndKill(path: string, reports: number): Promise<number> {
  const child = spawn(process.execPath, [childScript, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  )
  let last = 0
  let seen = 0
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /^durable (\d+)$/.exec(line)
    assert.ok(m, `unexpected child output: ${line}`)
    last = Number(m[1])
    if (++seen === reports) {
      child.kill('SIGKILL')
      break
    }
  }
  assert.equal(await exited, 'SIGKILL', 'the child was killed, not ended')
  return last
}

function replica(upTo: number): MvccStore {
  const s = MvccStore.open(new MemoryBackend(), { compactionBatchLimit: 5 })
  for (let i = 1; i <= upTo; i++) applyEntry(s, i)
  return s
}

it('LmdbBackend: SIGKILL during writes loses nothing durable and applies each entry once', async () => {
  const path = freshLmdbPath()
  for (const reports of [3, 4]) {
    const durable = await runAndKill(path, reports)
    assert.ok(durable > 0)
    const s = MvccStore.open(LmdbBackend.open(path), { compactionBatchLimit: 5 })
    const ci = s.consistentIndex()
    assert.ok(ci >= durable, `consistent index ${ci} below the durable ${durable} reported`)
    const want = replica(ci)
    assert.equal(s.currentRevision, want.currentRevision)
    assert.equal(s.compactedRevision, want.compactedRevision)
    assert.equal(s.hash(), want.hash())
    const all = new Uint8Array([0])
    assert.deepEqual(s.range(all, all), want.range(all, all))
    await s.compactionsDone()
    await want.compactionsDone()
    assert.equal(s.hash(), want.hash())
    // The WAL would replay from ci + 1: applying goes on as on the replica.
    for (let i = ci + 1; i <= ci + 30; i++) {
      applyEntry(s, i)
      applyEntry(want, i)
    }
    assert.equal(s.hash(), want.hash())
    await s.close()
    await want.close()
  }
})
