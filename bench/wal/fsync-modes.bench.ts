/**
 * `npm run bench -- wal-fsync [--size=N]`: what a commit's write + fdatasync costs in each kind of
 * file the WAL could write into, the device question behind NodeDisk's `preallocation` option.
 *
 * Cost sketch: an fdatasync flushes the written pages and, when the write changed metadata the
 * file needs to be read back (a new size, new blocks, unwritten extents turned written), commits
 * the file system's journal too: one more device write and flush. Overwriting blocks that were
 * written and synced before changes no such metadata.
 *
 * Method: for writes of 160 B, 2,400 B, 18,000 B and 256 KiB, three files side by side: one
 * appended to (the raw baseline of `npm run bench -- wal`), one preallocated by NodeDisk with
 * 'fallocate' (etcd's way: unwritten extents) and one with 'zeros' (written zeros). Rounds of one
 * write + fdatasync into each, alternately, so that all three see the same disk; p50 and p90 per
 * file. 400 x size rounds per write size.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import { NodeDisk, type Preallocation } from '../../src/io/index.js'

const MiB = 1024 * 1024
const SIZES = [160, 2400, 18_000, 256 * 1024]
const KINDS = ['append', 'fallocate', 'zeros'] as const
type Kind = (typeof KINDS)[number]

function fdatasync(fd: number): Promise<void> {
  return new Promise((res, rej) => fs.fdatasync(fd, (err) => (err ? rej(err) : res())))
}

const now = () => performance.now()

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0
}

/** A file of `kind` with room for `bytes` (the appended one starts empty); its descriptor. */
async function fileOf(dir: string, kind: Kind, bytes: number): Promise<number> {
  const file = path.join(dir, kind)
  if (kind !== 'append') {
    const f = new NodeDisk({ preallocation: kind satisfies Preallocation }).open(file, {
      create: true,
    })
    await f.preallocate(bytes)
    f.close()
  }
  return fs.openSync(file, kind === 'append' ? 'w' : 'r+')
}

export async function runFsyncModesBench(size: number): Promise<string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pontoon-fsync-bench-'))
  const rounds = Math.max(3, Math.round(400 * size))
  const out = [
    `${'write'.padEnd(10)} ${KINDS.map((k) => `${k} p50 / p90 ms`.padStart(24)).join(' ')}`,
  ]
  try {
    for (const bytes of SIZES) {
      const dir = fs.mkdtempSync(path.join(root, 'w'))
      // Beyond 1 MiB, so that preallocation takes the mode's path rather than a small write.
      const room = Math.max(2 * MiB, rounds * bytes)
      const fds = new Map<Kind, number>()
      for (const kind of KINDS) fds.set(kind, await fileOf(dir, kind, room))
      const ms = new Map<Kind, number[]>(KINDS.map((k) => [k, []]))
      const buf = new Uint8Array(bytes).fill(7)
      for (let r = 0; r < rounds; r++) {
        for (const kind of KINDS) {
          const fd = fds.get(kind) as number
          const t = now()
          fs.writeSync(fd, buf, 0, bytes, r * bytes)
          await fdatasync(fd)
          ms.get(kind)?.push(now() - t)
        }
      }
      for (const fd of fds.values()) fs.closeSync(fd)
      fs.rmSync(dir, { recursive: true })
      const cells = KINDS.map((k) => {
        const xs = ms.get(k) as number[]
        return `${percentile(xs, 50).toFixed(3)} / ${percentile(xs, 90).toFixed(3)}`.padStart(24)
      })
      out.push(`${`${bytes} B`.padEnd(10)} ${cells.join(' ')}`)
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
  return `${out.join('\n')}\n(${rounds} rounds per write size, the three files alternately)\n`
}
