/**
 * `npm run bench -- mvcc [--size=N]`: MvccStore puts and ranges on both backends.
 *
 * Cost sketch, per put (one raft entry, one key): a latin1 string of the key and a B+ tree lookup
 * (O(log n), ~1 µs at 10K keys), two small buffers (the 17-byte revision key, the record: 37
 * bytes + key + value), the consistent index (8 bytes), and the backend's work: a Map insert in
 * memory; for LMDB, lmdb-js queuing the write (the copy into its write buffer, the overlay entry)
 * and, on its write thread, the B-tree insert and the commit's fsync, shared by every write of an
 * event turn. A range: the tree seek and walk, then per key one backend get and a decode.
 *
 * Method: 10K keys x 128-byte values. Puts: 100K x size entries of one put each, 256 entries per
 * event turn (the server applies committed entries in batches), on a fresh store; LMDB rows wait
 * for `flushed()` at the end, so the commits and fsyncs are timed. Ranges: on a store holding the
 * 10K keys (LMDB: committed), one key, and 100 keys from a pseudo-random start. Each row prints
 * a hash of what it read or the store's hash, so a speed-up that changes the answer shows.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { LmdbBackend, MemoryBackend, MvccStore, type Backend } from '../../src/mvcc/index.js'
import { formatRow, measure, median, type Measurement } from '../harness.js'

const KEYS = 10_000
const VALUE = new Uint8Array(128).fill(0x61)
const PUTS_DEFAULT = 100_000
const TURN = 256

const keys = Array.from({ length: KEYS }, (_, i) =>
  Buffer.from(`/registry/key-${i.toString().padStart(6, '0')}`),
)

interface Kind {
  name: string
  make(dir: string): Backend
}

const kinds: Kind[] = [
  { name: 'memory', make: () => new MemoryBackend() },
  {
    name: 'lmdb',
    make: (dir) => LmdbBackend.open(path.join(dir, `b-${Date.now()}-${Math.random()}.mdb`)),
  },
  {
    name: 'lmdb noSync',
    make: (dir) =>
      LmdbBackend.open(path.join(dir, `b-${Date.now()}-${Math.random()}.mdb`), { noSync: true }),
  },
]

function applyPut(s: MvccStore, index: number): void {
  const t = s.write(index)
  t.put(keys[(index * 7919) % KEYS]!, VALUE, 0n)
  t.end()
}

/** Puts, 256 entries per event turn, then flushed(): async, so timed here (median of 5). */
async function putRow(kind: Kind, dir: string, puts: number): Promise<string> {
  const times: number[] = []
  const cpus: number[] = []
  let hash = 0
  for (let run = 0; run < 7; run++) {
    const s = MvccStore.open(kind.make(dir))
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let i = 1; i <= puts;) {
      for (let n = 0; n < TURN && i <= puts; n++, i++) applyPut(s, i)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await s.flushed()
    const t1 = process.hrtime.bigint()
    const cpu = process.cpuUsage(cpu0)
    if (run >= 2) {
      times.push(Number(t1 - t0) / puts)
      cpus.push(((cpu.user + cpu.system) * 1000) / puts)
    }
    hash = s.hash()
    await s.close()
  }
  const ns = median(times)
  const m: Measurement = {
    name: `put, ${kind.name}`,
    ops: puts,
    nsPerOpMedian: ns,
    nsPerOpMin: Math.min(...times),
    cpuNsPerOpMedian: median(cpus),
    opsPerSecond: 1e9 / ns,
    heapBytesPerOp: 0,
    heapExact: false,
    unit: ['put', 'puts'],
    extra: {},
  }
  return `${formatRow(m).replace(/~0 B\/put/, '')}  hash=${hash.toString(16)}`
}

/** The allocation per put, on the memory backend (synchronous, so the harness measures it). */
function putAllocRow(puts: number): string {
  let hash = 0
  const m = measure({
    name: 'put, memory (1 turn)',
    ops: puts,
    runs: 5,
    unit: ['put', 'puts'],
    setup() {
      const s = MvccStore.open(new MemoryBackend())
      return {
        run() {
          for (let i = 1; i <= puts; i++) applyPut(s, i)
          hash = s.currentRevision
        },
      }
    },
  })
  return `${formatRow(m)}  hash=${hash.toString(16)}`
}

async function filled(kind: Kind, dir: string): Promise<MvccStore> {
  const s = MvccStore.open(kind.make(dir))
  for (let i = 0; i < KEYS; i += TURN) {
    const t = s.write(i / TURN + 1)
    for (let k = i; k < Math.min(KEYS, i + TURN); k++) t.put(keys[k]!, VALUE, 0n)
    t.end()
    await new Promise((resolve) => setImmediate(resolve))
  }
  await s.flushed()
  return s
}

/**
 * `span` 1: one key; `bounded`: [key, key 100 later); else `limit` 100 from the key on, which
 * counts every key to the end (etcd's count, whatever the limit: about 5,000 keys visited).
 */
function rangeRow(kind: Kind, s: MvccStore, span: number, reads: number, bounded = false): string {
  let hash = 0
  const m = measure({
    name:
      span === 1
        ? `range 1 key, ${kind.name}`
        : bounded
          ? `range ${span} keys, ${kind.name}`
          : `range limit ${span} + count, ${kind.name}`,
    ops: reads,
    runs: 5,
    unit: ['range', 'ranges'],
    setup() {
      let x = 12345
      return {
        run() {
          for (let r = 0; r < reads; r++) {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0
            const at = (x >>> 8) % (KEYS - span)
            const key = keys[at]!
            const res =
              span === 1
                ? s.range(key, undefined)
                : bounded
                  ? s.range(key, keys[at + span])
                  : s.range(key, new Uint8Array([0]), { limit: span })
            for (const kv of res.kvs)
              hash = (Math.imul(hash, 31) + kv.modRevision + kv.key[kv.key.length - 1]!) >>> 0
          }
        },
      }
    },
  })
  return `${formatRow(m)}  hash=${hash.toString(16)}`
}

export async function runMvccBench(size = 1): Promise<string> {
  const puts = Math.max(1000, Math.round(PUTS_DEFAULT * size))
  const reads = Math.max(1000, Math.round(PUTS_DEFAULT * size))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pontoon-bench-mvcc-'))
  const out: string[] = []
  try {
    out.push(putAllocRow(puts))
    for (const kind of kinds) out.push(await putRow(kind, dir, puts))
    for (const kind of kinds.slice(0, 2)) {
      const s = await filled(kind, dir)
      out.push(rangeRow(kind, s, 1, reads))
      out.push(rangeRow(kind, s, 100, Math.max(100, Math.round(reads / 20)), true))
      out.push(rangeRow(kind, s, 100, Math.max(100, Math.round(reads / 50))))
      out.push(`dbSize ${kind.name}: ${s.dbSize()} B, in use ${s.dbSizeInUse()} B (${KEYS} keys)`)
      await s.close()
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return out.join('\n') + '\n'
}
