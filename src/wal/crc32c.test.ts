// The JavaScript CRC-32C path against the native one, on seeded random inputs (every small
// length, whole buffers and ranges), with chaining; plus the check value.

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { crc32c as nativeCrc32c } from '@node-rs/crc32'

import { crc32c, crc32cPortable, crc32cRange } from './crc32c.js'
import { mulberry32 } from '../../test-support/storage-suite.js'
import { seedFor } from '../../test-support/seed.js'

it('CRC-32C: the JavaScript path equals the native one', (t) => {
  assert.equal(crc32cPortable(new TextEncoder().encode('123456789'), 0), 0xe3069283)
  const rand = mulberry32(seedFor(t))
  for (let len = 0; len < 1100; len++) {
    const buf = Uint8Array.from({ length: len }, () => rand(256))
    const init = rand(2) === 0 ? 0 : rand(0x1_0000_0000)
    assert.equal(crc32cPortable(buf, init), nativeCrc32c(buf, init), `length ${len}`)
    assert.equal(crc32c(buf, init), nativeCrc32c(buf, init))
  }
})

it('CRC-32C: ranges, on either side of the native threshold, equal the native crc', (t) => {
  const rand = mulberry32(seedFor(t))
  const buf = Uint8Array.from({ length: 4096 }, () => rand(256))
  for (let k = 0; k < 2000; k++) {
    const start = rand(buf.length)
    const end = start + rand(Math.min(buf.length - start, 600) + 1)
    const init = rand(2) === 0 ? 0 : rand(0x1_0000_0000)
    const want = nativeCrc32c(buf.subarray(start, end), init)
    assert.equal(crc32cRange(buf, start, end, init), want, `[${start}, ${end})`)
  }
})
