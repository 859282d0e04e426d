/**
 * `npm run bench -- wal-read [--size=N]`: reading evicted entries back through WalStorage, which
 * keeps a checkpoint every 64 entries (entry-index.ts) and scans forward from it.
 *
 * Cost sketch: one pread of 8 KiB (a few µs through a warm page cache) and the framing of up to 64
 * records (~0.1 µs each), then the decoding of the entries wanted; a range is one scan.
 *
 * Method: 100K x size entries (100 and 1000 bytes) appended in batches of 1000 on the real disk,
 * with a cache of 64 entries; then entries(i, i + 1) and entries(i, i + 64) for pseudo-random i
 * below the cache. The hash folds the index and first data byte of every entry read.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import { NodeDisk } from '../../src/io/index.js'
import { entry } from '../../src/raft/index.js'
import { WalStorage } from '../../src/wal/index.js'
import { formatRow, measure } from '../harness.js'

const BATCH = 1000

async function filled(dir: string, n: number, entryBytes: number): Promise<WalStorage> {
  const s = await WalStorage.open({ disk: new NodeDisk(), dir, nodeId: 1n, clusterId: 1n })
  for (let i = 0; i < n; i += BATCH) {
    const data = new Uint8Array(entryBytes).fill(1 + (i % 255))
    await s.append(
      Array.from({ length: BATCH }, (_, k) => entry({ index: i + k + 1, term: 1, data })),
    )
  }
  return s
}

function readRow(s: WalStorage, entryBytes: number, span: number, reads: number): string {
  const n = s.lastIndex() - 4096 // below the default cache of 4096 entries
  let hash = 0
  const m = measure({
    name: `entries(i, i+${span}) of ${entryBytes} B`,
    ops: reads,
    runs: 5,
    unit: ['read', 'reads'],
    setup() {
      let x = 12345
      return {
        run() {
          for (let r = 0; r < reads; r++) {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0
            const i = 1 + ((x >>> 8) % (n - span))
            for (const e of s.entries(i, i + span, Infinity)) {
              hash = (Math.imul(hash, 31) + e.index + (e.data[0] ?? 0)) >>> 0
            }
          }
        },
      }
    },
  })
  return `${formatRow(m)}  hash=${hash.toString(16)}`
}

export async function runReadBackBench(size: number): Promise<string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pontoon-wal-read-'))
  const out: string[] = []
  try {
    // At least 10K entries, so most are below the cache's 4096.
    const n = BATCH * Math.max(10, Math.round(100 * size))
    for (const entryBytes of [100, 1000]) {
      const dir = path.join(root, `b${entryBytes}`)
      const s = await filled(dir, n, entryBytes)
      const reads = Math.max(100, Math.round(2000 * size))
      out.push(readRow(s, entryBytes, 1, reads), readRow(s, entryBytes, 64, reads >> 2))
      await s.close()
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
  return out.join('\n') + '\n'
}
