// NodeDisk's preallocation on the real file system, in both modes: the file grows to the size
// asked, what it held stays, the new bytes read as zeros, and their blocks are allocated. The
// zeros mode writes them through several thread-pool writes and intermediate syncs (more than
// ZERO_SYNC_BYTES), ending on a partial chunk; it runs with no PATH, so that it cannot have
// called fallocate(1) (whose failure would fall back to a sparse ftruncate).

import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { after, describe, it } from 'node:test'

import { NodeDisk, type Preallocation } from './node-disk.js'

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pontoon-node-disk-'))
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

const MiB = 1024 * 1024

/** Runs `body` with no PATH, so that no program (fallocate(1)) can be found, then restores it. */
async function withoutPath(body: () => Promise<void>): Promise<void> {
  const saved = process.env.PATH
  process.env.PATH = ''
  try {
    await body()
  } finally {
    if (saved === undefined) delete process.env.PATH
    else process.env.PATH = saved
  }
}

describe('NodeDisk.preallocate', () => {
  for (const mode of ['zeros', 'fallocate'] as Preallocation[]) {
    it(`${mode}: extends to the size with zeros and keeps what the file held`, async () => {
      const disk = new NodeDisk({ preallocation: mode })
      const file = path.join(tmpRoot, `${mode}.wal`)
      const f = disk.open(file, { create: true })
      const head = Buffer.from('pontoon segment head')
      f.write([head], 0)
      const size = 9 * MiB + 4_097
      if (mode === 'zeros') await withoutPath(() => f.preallocate(size))
      else await f.preallocate(size)
      assert.equal(f.size(), size)
      const got = fs.readFileSync(file)
      assert.deepEqual(got.subarray(0, head.length), head)
      const rest = got.subarray(head.length)
      assert.ok(rest.equals(Buffer.alloc(rest.length)), 'nothing but zeros after the head')
      assert.ok(fs.statSync(file).blocks * 512 >= size, 'the blocks are allocated')
      // Asking for no more than the file has changes nothing.
      await f.preallocate(MiB)
      assert.equal(f.size(), size)
      f.close()
    })
  }

  it('zeros with reserveOnly writes no zeros (fallocate, here missing: a sparse ftruncate, logged)', async () => {
    const warnings: string[] = []
    const disk = new NodeDisk({ preallocation: 'zeros', logger: { warn: (m) => warnings.push(m) } })
    const file = path.join(tmpRoot, 'reserved.wal')
    const f = disk.open(file, { create: true })
    const size = 4 * MiB
    await withoutPath(() => f.preallocate(size, { reserveOnly: true }))
    assert.equal(f.size(), size)
    assert.ok(fs.statSync(file).blocks * 512 < size, 'no blocks written')
    assert.equal(warnings.length, 1)
    assert.match(
      warnings[0] as string,
      /^disk: fallocate of .*reserved\.wal to 4194304 bytes failed \(.*ENOENT.*\); extended it with ftruncate instead/,
    )
    f.close()
  })

  it('stops once its signal aborts, rejecting with the reason', async () => {
    const disk = new NodeDisk()
    const f = disk.open(path.join(tmpRoot, 'aborted.wal'), { create: true })
    const stop = new AbortController()
    stop.abort(new Error('closing'))
    await assert.rejects(f.preallocate(4 * MiB, { signal: stop.signal }), /closing/)
    assert.equal(f.size(), 0)
    f.close()
  })
})
