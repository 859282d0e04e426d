// trailingZerosStart against a byte-by-byte reference: buffers around its 64 KiB chunk and
// 4-byte word boundaries, at aligned and unaligned offsets, with one non-zero byte placed at
// seeded random positions (or none).

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { trailingZerosStart } from './scan.js'
import { mulberry32 } from '../../test-support/storage-suite.js'
import { seedFor } from '../../test-support/seed.js'

function reference(buf: Uint8Array): number {
  let i = buf.length
  while (i > 0 && buf[i - 1] === 0) i--
  return i
}

it('trailingZerosStart finds where the zeros start, whatever the length, offset and data', (t) => {
  const rand = mulberry32(seedFor(t))
  const chunk = 64 * 1024
  const backing = new Uint8Array(3 * chunk + 64)
  for (const len of [0, 1, 3, 4, 5, chunk - 1, chunk, chunk + 1, 2 * chunk + 3, 3 * chunk]) {
    for (const offset of [0, 1, 2, 4, 7]) {
      for (let k = 0; k < 12; k++) {
        backing.fill(0)
        const buf = backing.subarray(offset, offset + len)
        // k 0: all zeros; k 1: the last byte; otherwise one byte at a random place, and
        // sometimes more before it.
        if (k === 1 && len > 0) buf[len - 1] = 1 + rand(255)
        if (k >= 2 && len > 0) {
          buf[rand(len)] = 1 + rand(255)
          if (k % 3 === 0) buf[rand(len)] = 1 + rand(255)
        }
        const what = `length ${len}, offset ${offset}, case ${k}`
        assert.equal(trailingZerosStart(buf), reference(buf), what)
      }
    }
  }
})
