// SimDisk: what survives crash() is exactly what the durability contract of src/io/disk.ts says,
// checked one rule at a time; then what a crash given a PRNG may keep (prefixes, sectors and
// pages of unsynced writes in any order, any subset of name operations), each with scripted
// draws so the test states the choices the crash makes.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { SimDisk, type IntRand } from './sim-disk.js'

const bytes = (...xs: number[]) => new Uint8Array(xs)

/** A fixed sequence of answers, so each test states the choices the crash makes. */
function scripted(...answers: number[]): IntRand {
  return { intn: (n) => Math.min(answers.shift() ?? 0, n - 1) }
}

/** A durable directory /d. */
async function diskWithDir(): Promise<SimDisk> {
  const disk = new SimDisk()
  disk.mkdir('/d')
  await disk.syncDir('/')
  return disk
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
    const disk = await diskWithDir()
    await fileWith(disk, '/d/a', bytes(1, 2))
    const f = disk.open('/d/a')
    f.write([bytes(3)], 2)
    assert.deepEqual(disk.contents('/d/a'), bytes(1, 2, 3))
    disk.crash()
    assert.deepEqual(disk.contents('/d/a'), bytes(1, 2))
    assert.throws(() => f.size(), /opened before a crash/)
  })

  it('drops a created file whose directory was not synced', async () => {
    const disk = await diskWithDir()
    const f = disk.open('/d/a', { create: true })
    f.write([bytes(1)], 0)
    await f.sync()
    disk.crash()
    assert.equal(disk.exists('/d/a'), false)
  })

  it('undoes a rename whose directory was not synced', async () => {
    const disk = await diskWithDir()
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
    const disk = await diskWithDir()
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
    const disk = await diskWithDir()
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
    const disk = await diskWithDir()
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

  it('a directory whose creation was not synced is gone, with everything in it', async () => {
    const disk = new SimDisk()
    disk.mkdir('/m/wal')
    await disk.syncDir('/m')
    await fileWith(disk, '/m/wal/a', bytes(1)) // the file and its name in /m/wal are durable
    await disk.syncDir('/m/wal')
    disk.crash()
    assert.equal(disk.exists('/m'), false)
    assert.equal(disk.exists('/m/wal/a'), false)
    disk.mkdir('/m/wal')
    await disk.syncDir('/')
    await disk.syncDir('/m')
    await fileWith(disk, '/m/wal/a', bytes(1))
    await disk.syncDir('/m/wal')
    disk.crash()
    assert.deepEqual(disk.contents('/m/wal/a'), bytes(1))
  })

  const sectors = (...fills: number[]) => {
    const out = new Uint8Array(fills.length * 512)
    fills.forEach((v, i) => out.fill(v, i * 512, (i + 1) * 512))
    return out
  }

  it('in order: a prefix of the writes, the next one kept in a prefix of its sectors', async () => {
    const disk = await diskWithDir()
    await fileWith(disk, '/d/a', sectors(0, 0, 0))
    const f = disk.open('/d/a')
    f.write([sectors(1)], 0)
    f.write([sectors(2, 2)], 512)
    f.write([sectors(3)], 0)
    // Mode 0 (in order); one write kept whole; one sector of the next.
    disk.crash(scripted(0, 1, 1))
    assert.deepEqual(disk.contents('/d/a'), sectors(1, 2, 0))
  })

  it('out of order: any subset of the sectors of unsynced writes, a write never torn inside one', async () => {
    const disk = await diskWithDir()
    await fileWith(disk, '/d/a', sectors(0, 0, 0, 0))
    const f = disk.open('/d/a')
    // A write from the middle of sector 0 to the middle of sector 3: four pieces.
    f.write([new Uint8Array(3 * 512).fill(9)], 256)
    // Mode 1 (sectors): the first piece lost, the second kept, the third lost, the fourth kept.
    disk.crash(scripted(1, 0, 1, 0, 1))
    const want = sectors(0, 9, 0, 0)
    want.fill(9, 3 * 512, 3 * 512 + 256)
    assert.deepEqual(disk.contents('/d/a'), want)
  })

  it('out of order by pages: each 4 KiB page of a write kept or not', async () => {
    const disk = await diskWithDir()
    await fileWith(disk, '/d/a', new Uint8Array(3 * 4096))
    const f = disk.open('/d/a')
    f.write([new Uint8Array(3 * 4096).fill(5)], 0)
    disk.crash(scripted(2, 1, 0, 1))
    const want = new Uint8Array(3 * 4096).fill(5)
    want.fill(0, 4096, 8192)
    assert.deepEqual(disk.contents('/d/a'), want)
  })

  it('any subset of unsynced name operations, each rename whole', async () => {
    const disk = await diskWithDir()
    await fileWith(disk, '/d/old', bytes(7))
    for (const n of ['a', 'b', 'c']) disk.open(`/d/${n}`, { create: true })
    disk.rename('/d/old', '/d/new')
    // Mode 1 (each one): a lost, b kept, c lost, the rename kept.
    disk.crash(scripted(1, 0, 1, 0, 1))
    assert.deepEqual(disk.list('/d'), ['b', 'new'])
    assert.deepEqual(disk.contents('/d/new'), bytes(7))
  })

  it('or a prefix of them', async () => {
    const disk = await diskWithDir()
    for (const n of ['a', 'b', 'c']) disk.open(`/d/${n}`, { create: true })
    disk.crash(scripted(0, 2))
    assert.deepEqual(disk.list('/d'), ['a', 'b'])
  })
})
