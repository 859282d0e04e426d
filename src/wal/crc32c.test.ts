// The JavaScript and WebAssembly CRC-32C paths against the native one, on seeded random inputs
// (every small length; ranges of the WebAssembly memory), with chaining; plus the check value.

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { crc32c as nativeCrc32c } from '@node-rs/crc32'

import { crc32c, crc32cPortable, crc32cRange } from './crc32c.js'
import { crc32cWasm, inWasmMemory, wasmScratch } from './wasm-kernel.js'
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

it('CRC-32C: the WebAssembly path equals the native one, before and after its memory grows', () => {
  const rand = mulberry32(4)
  for (const size of [4096, 256 * 1024]) {
    const buf = wasmScratch(size)
    assert.ok(buf.length >= size)
    for (let i = 0; i < size; i++) buf[i] = rand(256)
    for (let k = 0; k < 2000; k++) {
      const start = rand(size)
      const end = start + rand(Math.min(size - start, 1500) + 1)
      const init = rand(2) === 0 ? 0 : rand(0x1_0000_0000)
      const want = nativeCrc32c(buf.subarray(start, end), init)
      assert.equal(crc32cWasm(buf, start, end, init), want, `[${start}, ${end})`)
      assert.equal(crc32cRange(buf, start, end, init), want)
    }
  }
  assert.ok(!inWasmMemory(new Uint8Array(8)))
})
