// SimDisk: what survives crash() is exactly what the durability contract of src/io/disk.ts says,
// checked one rule at a time, then the torn-write mode against a seeded PRNG.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { SimDisk, type IntRand } from './sim-disk.js'

const bytes = (...xs: number[]) => new Uint8Array(xs)

/** A fixed sequence of answers, so each test states the choices the crash makes. */
function scripted(...answers: number[]): IntRand {
  return { intn: (n) => Math.min(answers.shift() ?? 0, n - 1) }
}

async function fileWith(disk: SimDisk, path: string, data: Uint8Array): Promise<void> {
  const f = disk.open(path, { create: true })
  f.write([data], 0)
  await f.sync()
  await disk.syncDir('/d')
  f.close()
}

describe('SimDisk', () => {
  it('drops writes that were not synced', async () => {
    const disk = new SimDisk()
    disk.mkdir('/d')
    await fileWith(disk, '/d/a', bytes(1, 2))
    const f = disk.open('/d/a')
    f.write([bytes(3)], 2)
    assert.deepEqual(disk.contents('/d/a'), bytes(1, 2, 3))
    disk.crash()
    assert.deepEqual(disk.contents('/d/a'), bytes(1, 2))
    assert.throws(() => f.size(), /opened before a crash/)
  })

  it('drops a created file whose directory was not synced', async () => {
    const disk = new SimDisk()
    disk.mkdir('/d')
    const f = disk.open('/d/a', { create: true })
    f.write([bytes(1)], 0)
    await f.sync()
    disk.crash()
    assert.equal(disk.exists('/d/a'), false)
  })

  it('undoes a rename whose directory was not synced', async () => {
    const disk = new SimDisk()
    disk.mkdir('/d')
    await fileWith(disk, '/d/a', bytes(1))
    disk.rename('/d/a', '/d/b')
    assert.deepEqual(disk.list('/d'), ['b'])
    disk.crash()
    assert.deepEqual(disk.list('/d'), ['a'])
    disk.rename('/d/a', '/d/b')
    await disk.syncDir('/d')
    disk.crash()
    assert.deepEqual(disk.list('/d'), ['b'])
  })

  it('a sync in flight during a crash does not complete', async () => {
    const disk = new SimDisk()
    disk.mkdir('/d')
    await fileWith(disk, '/d/a', bytes(1))
    let release = () => {}
    disk.syncDelay = () => new Promise((r) => (release = r))
    const f = disk.open('/d/a')
    f.write([bytes(9)], 0)
    const pending = f.sync()
    disk.crash()
    release()
    await assert.rejects(pending, /crashed during sync/)
    assert.deepEqual(disk.contents('/d/a'), bytes(1))
  })

  it('overlapping syncs each make what preceded them durable, once', async () => {
    const disk = new SimDisk()
    disk.mkdir('/d')
    await fileWith(disk, '/d/a', bytes(1, 2, 3))
    const f = disk.open('/d/a')
    f.truncate(1)
    const first = f.sync()
    f.write([bytes(7, 8)], 1)
    const second = f.sync()
    f.truncate(2)
    await Promise.all([first, second])
    disk.crash()
    assert.deepEqual(disk.contents('/d/a'), bytes(1, 7, 8))
  })

  it('overlapping directory syncs that finish out of order make only what preceded each durable', async () => {
    const disk = new SimDisk()
    disk.mkdir('/d')
    const releases: (() => void)[] = []
    disk.syncDelay = () => new Promise((r) => releases.push(r))
    disk.open('/d/a', { create: true })
    const first = disk.syncDir('/d') // covers the creation of a
    disk.open('/d/b', { create: true })
    const second = disk.syncDir('/d') // covers a and b
    disk.open('/d/c', { create: true }) // covered by neither
    releases[1]?.()
    await second
    releases[0]?.()
    await first
    disk.crash()
    assert.deepEqual(disk.list('/d'), ['a', 'b'])
  })

  it('tears the last kept write at the chosen byte', async () => {
    const disk = new SimDisk()
    disk.mkdir('/d')
    await fileWith(disk, '/d/a', bytes())
    const f = disk.open('/d/a')
    f.write([bytes(1, 2)], 0)
    f.write([bytes(3, 4, 5)], 2)
    f.write([bytes(6)], 5)
    // Keep 2 of the 3 writes, the second torn after 1 byte; names: keep 0.
    disk.crash(scripted(0, 2, 1))
    assert.deepEqual(disk.contents('/d/a'), bytes(1, 2, 3))
  })
})
