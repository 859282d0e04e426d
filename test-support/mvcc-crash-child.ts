/**
 * The workload of the LmdbBackend crash test (src/mvcc/lmdb-crash.test.ts), and its child
 * process: `node mvcc-crash-child.js PATH` opens an LmdbBackend at PATH (fsync on), applies
 * entries from its consistent index on, 20 per event turn, and every 5 turns waits for
 * `flushed()` and prints `durable N`, until it is killed.
 */
import { pathToFileURL } from 'node:url'
import { LmdbBackend, MvccStore } from '../src/mvcc/index.js'

const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1')

/** Applies raft entry `i` of the workload: puts, deletes, no-ops and a compaction now and then. */
export function applyEntry(s: MvccStore, i: number): void {
  if (i % 13 === 0) {
    s.markApplied(i)
    return
  }
  if (i % 50 === 0) {
    const rev = s.currentRevision - 5
    if (rev > s.compactedRevision) {
      void s.compact(rev, { index: i }).done.catch(() => undefined)
      return
    }
  }
  const t = s.write(i)
  if (i % 7 === 0) t.deleteRange(enc(`k${i % 10}`), undefined)
  else if (i % 11 === 0) t.deleteRange(enc('k3'), enc('k6'))
  else {
    t.put(enc(`k${i % 10}`), enc(`v${i}`), 0n)
    if (i % 3 === 0) t.put(enc(`j${i % 4}`), enc(`w${i}`), BigInt(i))
  }
  t.end()
}

async function child(path: string): Promise<void> {
  const s = MvccStore.open(LmdbBackend.open(path), { compactionBatchLimit: 5 })
  let i = s.consistentIndex()
  for (let turn = 1; ; turn++) {
    for (let n = 0; n < 20; n++) applyEntry(s, ++i)
    if (turn % 5 === 0) {
      await s.flushed()
      process.stdout.write(`durable ${s.durableIndex()}\n`)
    } else {
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const path = process.argv[2]
  if (path === undefined) throw new Error('usage: mvcc-crash-child.js PATH')
  await child(path)
}
