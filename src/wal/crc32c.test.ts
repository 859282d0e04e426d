// The JavaScript CRC-32C path against the native one, on seeded random inputs of every small
// length, with chaining; plus the standard check value.

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { crc32c as nativeCrc32c } from '@node-rs/crc32'

import { crc32c, crc32cPortable } from './crc32c.js'
import { mulberry32 } from './storage-suite.js'

it('CRC-32C: the JavaScript path equals the native one', () => {
  assert.equal(crc32cPortable(new TextEncoder().encode('123456789'), 0), 0xe3069283)
  const rand = mulberry32(3)
  for (let len = 0; len < 1100; len++) {
    const buf = Uint8Array.from({ length: len }, () => rand(256))
    const init = rand(2) === 0 ? 0 : rand(0x1_0000_0000)
    assert.equal(crc32cPortable(buf, init), nativeCrc32c(buf, init), `length ${len}`)
    assert.equal(crc32c(buf, init), nativeCrc32c(buf, init))
  }
})
