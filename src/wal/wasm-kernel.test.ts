// frameEntry (WebAssembly) against the frame built from record.ts's JavaScript pieces, byte for
// byte, on seeded random entries: payloads of every length up to its maximum, terms and indexes of every
// varint length up to 2^53 - 1, chained crcs; and nothing written outside the frame's room.

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { EntryType, type Entry } from '../raft/raftpb/types.js'
import {
  RecordType,
  chainCrc,
  entryHeadBytes,
  padBytes,
  putEntryHead,
  putFrameHead,
  recordBytes,
} from './record.js'
import { mulberry32 } from './storage-suite.js'
import {
  ENTRY_HEAD_ROOM,
  FRAME_ENTRY_PAYLOAD_MAX,
  frameEntry,
  frameEntryCrc,
  wasmScratch,
} from './wasm-kernel.js'

/** The frame of `e` after `crcIn`, built in JavaScript. */
function expectedFrame(e: Entry, crcIn: number): { bytes: Uint8Array; crc: number } {
  const headBytes = entryHeadBytes(e)
  const data = new Uint8Array(headBytes + e.data.length)
  putEntryHead(data, 0, e)
  data.set(e.data, headBytes)
  const crc = chainCrc(crcIn, RecordType.Entry, data)
  const rec = recordBytes(RecordType.Entry, crc, data.length)
  const bytes = new Uint8Array(8 + rec + padBytes(rec))
  const at = putFrameHead(bytes, 0, RecordType.Entry, crc, data.length, rec)
  bytes.set(data, at)
  return { bytes, crc }
}

it('frameEntry writes the bytes and crc of the JavaScript framing', () => {
  const rand = mulberry32(11)
  /** A number of `bits` random bits (up to 53). */
  const big = (bits: number) => {
    const hi = bits > 32 ? rand(2 ** (bits - 32)) : 0
    const lo = bits >= 32 ? rand(0x1_0000) * 0x1_0000 + rand(0x1_0000) : rand(2 ** bits)
    return hi * 0x1_0000_0000 + lo
  }
  const scratch = wasmScratch(64 * 1024)
  for (let k = 0; k < 3000; k++) {
    const len =
      k < 600 ? k : k % 10 === 0 ? FRAME_ENTRY_PAYLOAD_MAX : rand(FRAME_ENTRY_PAYLOAD_MAX + 1)
    const e: Entry = {
      term: k % 7 === 0 ? 2 ** 53 - 1 : big(1 + rand(53)),
      index: k % 11 === 0 ? 0 : big(1 + rand(53)),
      type: [EntryType.EntryNormal, EntryType.EntryConfChange, EntryType.EntryConfChangeV2][
        rand(3)
      ] as EntryType,
      data: Uint8Array.from({ length: len }, () => rand(256)),
    }
    const crcIn = rand(2) === 0 ? 0 : big(32)
    const pos = 8 * (1 + rand(1000))
    scratch.fill(0xee, pos - 8, pos + ENTRY_HEAD_ROOM + len + 16)
    const end = frameEntry(scratch, pos, e, crcIn)
    const want = expectedFrame(e, crcIn)
    const what = `entry ${k} (term ${e.term}, index ${e.index}, ${len} bytes)`
    assert.equal(end - pos, want.bytes.length, what)
    assert.deepEqual(scratch.subarray(pos, end), Buffer.from(want.bytes), what)
    assert.equal(frameEntryCrc(), want.crc, what)
    assert.ok(
      scratch.subarray(pos - 8, pos).every((b) => b === 0xee),
      `${what}: wrote before its frame`,
    )
    const room = pos + ENTRY_HEAD_ROOM + len
    assert.ok(
      scratch.subarray(room, room + 16).every((b) => b === 0xee),
      `${what}: wrote past its room`,
    )
  }
})
