// The wire codec: known encodings checked byte by byte against protobuf's rules, random records
// round-tripped with fast-check, sizes checked against encoded lengths, and hostile input (every
// truncation of a valid encoding, random mutations, hand-made defects) shown to fail only with
// RaftError MALFORMED.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { fcParams } from '../../../test-support/seed.js'
import { RaftError } from '../errors.js'
import {
  MAX_DEPTH,
  decodeConfChange,
  decodeConfChangeSingle,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  decodeSnapshotMetadata,
  encodeConfChange,
  encodeConfChangeSingle,
  encodeConfChangeV2,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  encodeSnapshotMetadata,
  entrySize,
  entsSize,
  messageSize,
  payloadSize,
  payloadsSize,
} from './codec.js'
import {
  ConfChangeTransition,
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  LocalAppendThread,
  MessageType,
  emptySnapshot,
  entry,
  message,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type Snapshot,
  type SnapshotMetadata,
} from './types.js'

const bytesOf = (...b: number[]): Uint8Array => new Uint8Array(b)
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

function assertMalformed(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(RaftError.is(err, 'MALFORMED'), `expected MALFORMED, got ${String(err)}`)
    if (pattern !== undefined) assert.match(err.message, pattern)
    return true
  })
}

/** Decoding must give a value or MALFORMED, nothing else. */
function decodesOrMalformed(decode: (b: Uint8Array) => unknown, b: Uint8Array): void {
  try {
    decode(b)
  } catch (err) {
    if (!RaftError.is(err, 'MALFORMED')) throw err
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries. Records get ordinary prototypes so that deepStrictEqual compares them with decoded
// values.

function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>
}

const safeNat = fc.oneof(fc.nat({ max: 300 }), fc.maxSafeNat())
const nodeId = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 1n, max: 9n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constantFrom(LocalAppendThread, 2n ** 53n, 2n ** 63n),
)
const bytes = fc.oneof(fc.constant(EMPTY_BYTES), fc.uint8Array({ maxLength: 40 }))
const ids = fc.array(nodeId, { maxLength: 4 })

const entryArb: fc.Arbitrary<Entry> = record({
  term: safeNat,
  index: safeNat,
  type: fc.constantFrom(
    EntryType.EntryNormal,
    EntryType.EntryConfChange,
    EntryType.EntryConfChangeV2,
  ),
  data: bytes,
})
const hardStateArb: fc.Arbitrary<HardState> = record({
  term: safeNat,
  vote: nodeId,
  commit: safeNat,
})
const confStateArb: fc.Arbitrary<ConfState> = record({
  voters: ids,
  learners: ids,
  votersOutgoing: ids,
  learnersNext: ids,
  autoLeave: fc.boolean(),
})
const metadataArb: fc.Arbitrary<SnapshotMetadata> = record({
  confState: confStateArb,
  index: safeNat,
  term: safeNat,
})
const snapshotArb: fc.Arbitrary<Snapshot> = record({ data: bytes, metadata: metadataArb })

function messageArb(depth: number): fc.Arbitrary<Message> {
  return record({
    type: fc.integer({ min: 0, max: MessageType.MsgForgetLeader }),
    to: nodeId,
    from: nodeId,
    term: safeNat,
    logTerm: safeNat,
    index: safeNat,
    entries: fc.array(entryArb, { maxLength: 3 }),
    commit: safeNat,
    vote: nodeId,
    snapshot: fc.option(snapshotArb, { nil: null }),
    reject: fc.boolean(),
    rejectHint: safeNat,
    context: bytes,
    responses: depth === 0 ? fc.constant([]) : fc.array(messageArb(depth - 1), { maxLength: 2 }),
  })
}
const msgArb = messageArb(2)

const ccTypeArb = fc.integer({ min: 0, max: ConfChangeType.ConfChangeAddLearnerNode })
const confChangeArb: fc.Arbitrary<ConfChange> = record({
  id: nodeId,
  type: ccTypeArb,
  nodeId,
  context: bytes,
})
const singleArb: fc.Arbitrary<ConfChangeSingle> = record({ type: ccTypeArb, nodeId })
const confChangeV2Arb: fc.Arbitrary<ConfChangeV2> = record({
  transition: fc.integer({ min: 0, max: ConfChangeTransition.ConfChangeTransitionJointExplicit }),
  changes: fc.array(singleArb, { maxLength: 4 }),
  context: bytes,
})

interface Codec<T> {
  name: string
  arb: fc.Arbitrary<T>
  encode: (v: T) => Uint8Array
  decode: (b: Uint8Array) => T
}

const codecs: Codec<never>[] = [
  { name: 'Entry', arb: entryArb, encode: encodeEntry, decode: decodeEntry },
  { name: 'HardState', arb: hardStateArb, encode: encodeHardState, decode: decodeHardState },
  { name: 'ConfState', arb: confStateArb, encode: encodeConfState, decode: decodeConfState },
  {
    name: 'SnapshotMetadata',
    arb: metadataArb,
    encode: encodeSnapshotMetadata,
    decode: decodeSnapshotMetadata,
  },
  { name: 'Snapshot', arb: snapshotArb, encode: encodeSnapshot, decode: decodeSnapshot },
  { name: 'Message', arb: msgArb, encode: encodeMessage, decode: decodeMessage },
  { name: 'ConfChange', arb: confChangeArb, encode: encodeConfChange, decode: decodeConfChange },
  {
    name: 'ConfChangeSingle',
    arb: singleArb,
    encode: encodeConfChangeSingle,
    decode: decodeConfChangeSingle,
  },
  {
    name: 'ConfChangeV2',
    arb: confChangeV2Arb,
    encode: encodeConfChangeV2,
    decode: decodeConfChangeV2,
  },
] as unknown as Codec<never>[]

// ---------------------------------------------------------------------------------------------

describe('codec: known encodings', () => {
  it('writes an Entry in field order, omitting zero fields', () => {
    const e = entry({ term: 1, index: 2, data: text('ab') })
    assert.deepEqual(encodeEntry(e), bytesOf(0x10, 1, 0x18, 2, 0x22, 2, 0x61, 0x62))
    const cc = entry({ type: EntryType.EntryConfChangeV2, term: 300, index: 1 })
    assert.deepEqual(encodeEntry(cc), bytesOf(0x08, 2, 0x10, 0xac, 0x02, 0x18, 1))
    assert.deepEqual(encodeEntry(entry({})), EMPTY_BYTES)
  })

  it('writes 64-bit node ids exactly', () => {
    const hs = { term: 0, vote: LocalAppendThread, commit: 0 }
    const want = bytesOf(0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)
    assert.deepEqual(encodeHardState(hs), want)
    assert.equal(decodeHardState(want).vote, LocalAppendThread)
    const big = { term: 0, vote: 2n ** 53n + 1n, commit: 0 }
    assert.equal(decodeHardState(encodeHardState(big)).vote, 2n ** 53n + 1n)
  })

  it('writes varints of large safe integers', () => {
    for (const v of [127, 128, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 35 - 1, 2 ** 49, 2 ** 53 - 1]) {
      const e = entry({ term: v })
      const b = encodeEntry(e)
      assert.equal(b.length, entrySize(e))
      assert.equal(decodeEntry(b).term, v)
    }
    assert.deepEqual(
      encodeEntry(entry({ term: 2 ** 53 - 1 })),
      bytesOf(0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f),
    )
  })

  it('writes ConfState ids unpacked and reads packed ones too', () => {
    const cs: ConfState = {
      voters: [1n, 2n],
      learners: [3n],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: true,
    }
    assert.deepEqual(encodeConfState(cs), bytesOf(0x08, 1, 0x08, 2, 0x10, 3, 0x28, 1))
    const packed = bytesOf(0x0a, 2, 1, 2, 0x12, 1, 3, 0x28, 1)
    assert.deepEqual(decodeConfState(packed), cs)
  })

  it('keeps a present but empty snapshot distinct from none', () => {
    const withEmpty = message({ type: MessageType.MsgSnap, snapshot: emptySnapshot() })
    const b = encodeMessage(withEmpty)
    assert.deepEqual(b, bytesOf(0x08, 7, 0x4a, 0))
    assert.deepEqual(decodeMessage(b).snapshot, emptySnapshot())
    assert.equal(decodeMessage(bytesOf(0x08, 7)).snapshot, null)
  })

  it('always writes the fields Go always sets on conf changes', () => {
    const single = { type: ConfChangeType.ConfChangeAddNode, nodeId: 0n }
    assert.deepEqual(encodeConfChangeSingle(single), bytesOf(0x08, 0, 0x10, 0))
    const v2 = {
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [],
      context: EMPTY_BYTES,
    }
    assert.deepEqual(encodeConfChangeV2(v2), bytesOf(0x08, 0))
    const v1 = {
      id: 0n,
      type: ConfChangeType.ConfChangeRemoveNode,
      nodeId: 3n,
      context: EMPTY_BYTES,
    }
    assert.deepEqual(encodeConfChange(v1), bytesOf(0x10, 1, 0x18, 3))
    assert.deepEqual(decodeConfChangeV2(EMPTY_BYTES), v2)
  })

  it('skips unknown fields of every wire type', () => {
    const unknown = [
      0xa8,
      0x01,
      0x96,
      0x01, // field 21 varint
      0xb1,
      0x01,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8, // field 22 fixed64
      0xba,
      0x01,
      2,
      9,
      9, // field 23 bytes
      0xc5,
      0x01,
      1,
      2,
      3,
      4, // field 24 fixed32
      0xcb,
      0x01,
      0x08,
      1,
      0xd3,
      0x01,
      0xd4,
      0x01,
      0xcc,
      0x01, // group 25 holding group 26
    ]
    const b = bytesOf(0x10, 5, ...unknown, 0x18, 6)
    assert.deepEqual(decodeEntry(b), entry({ term: 5, index: 6 }))
  })

  it('accepts non-canonical varints padded with zero continuation bytes', () => {
    assert.equal(decodeEntry(bytesOf(0x10, 0x85, 0x80, 0x80, 0x00)).term, 5)
  })
})

describe('codec: round trips', () => {
  for (const c of codecs) {
    it(`${c.name} survives encode then decode`, (t) => {
      fc.assert(
        fc.property(c.arb, (v) => {
          assert.deepStrictEqual(c.decode(c.encode(v)), v)
        }),
        fcParams(t, { numRuns: 200 }),
      )
    })
  }

  it('entrySize and messageSize match the encoded lengths', (t) => {
    fc.assert(
      fc.property(msgArb, (m) => {
        assert.equal(messageSize(m), encodeMessage(m).length)
        for (const e of m.entries) assert.equal(entrySize(e), encodeEntry(e).length)
        const total = m.entries.reduce((n, e) => n + encodeEntry(e).length, 0)
        assert.equal(entsSize(m.entries), total)
        const payload = m.entries.reduce((n, e) => n + e.data.length, 0)
        assert.equal(payloadsSize(m.entries), payload)
        for (const e of m.entries) assert.equal(payloadSize(e), e.data.length)
      }),
      fcParams(t),
    )
  })

  it('keeps pooled encodings apart', () => {
    // Sizes between 65 bytes and 4 KiB share slabs; each result must keep its own bytes.
    const msgs = Array.from({ length: 400 }, (_, i) =>
      message({
        type: MessageType.MsgApp,
        index: i + 1,
        context: new Uint8Array(60 + (i % 200)).fill(i % 256),
      }),
    )
    const encoded = msgs.map(encodeMessage)
    encoded.forEach((b, i) => assert.deepStrictEqual(decodeMessage(b), msgs[i]))
  })

  it('copies decoded bytes out of the input buffer', () => {
    const b = encodeEntry(entry({ term: 1, data: text('xy') }))
    const e = decodeEntry(b)
    b.fill(0)
    assert.deepEqual(e.data, text('xy'))
  })
})

describe('codec: malformed input', () => {
  for (const c of codecs) {
    it(`${c.name}: every truncation decodes or gives MALFORMED`, (t) => {
      fc.assert(
        fc.property(c.arb, (v) => {
          const b = c.encode(v)
          for (let n = 0; n < b.length; n++) decodesOrMalformed(c.decode, b.subarray(0, n))
        }),
        fcParams(t, { numRuns: 50 }),
      )
    })

    it(`${c.name}: random mutations decode or give MALFORMED`, (t) => {
      fc.assert(
        fc.property(
          c.arb,
          fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }),
          (v, edits) => {
            const b = c.encode(v).slice()
            if (b.length === 0) return
            for (const [at, byte] of edits) b[at % b.length] = byte
            decodesOrMalformed(c.decode, b)
          },
        ),
        fcParams(t, { numRuns: 200 }),
      )
    })
  }

  it('random bytes decode as a Message or give MALFORMED', (t) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => decodesOrMalformed(decodeMessage, b)),
      fcParams(t, { numRuns: 500 }),
    )
  })

  it('names each defect', () => {
    assertMalformed(() => decodeEntry(bytesOf(0x10, 0x80)), /unexpected EOF/)
    assertMalformed(() => decodeEntry(bytesOf(0x10)), /unexpected EOF/)
    const eleven = bytesOf(0x10, ...new Array<number>(10).fill(0x80), 0x01)
    assertMalformed(() => decodeEntry(eleven), /integer overflow/)
    assertMalformed(() => decodeEntry(bytesOf(0x12, 0)), /wrong wireType = 2 for field Entry.Term/)
    assertMalformed(() => decodeEntry(bytesOf(0x20, 1)), /wrong wireType = 0 for field Entry.Data/)
    assertMalformed(() => decodeEntry(bytesOf(0x22, 5, 1, 2)), /length 5 at offset 1 runs past/)
    assertMalformed(() => decodeEntry(bytesOf(0x00, 1)), /illegal tag 0/)
    assertMalformed(() => decodeEntry(bytesOf(0x0c)), /end group for non-group/)
    assertMalformed(() => decodeEntry(bytesOf(0x4e, 0)), /illegal wireType 6/)
    assertMalformed(
      () => decodeEntry(bytesOf(0x08, 3)),
      /unknown enum value 3 for field Entry.Type/,
    )
    assertMalformed(() => decodeMessage(bytesOf(0x08, 24)), /unknown enum value 24/)
    const hugeTerm = bytesOf(0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10)
    assertMalformed(() => decodeEntry(hugeTerm), /Entry.Term = 9007199254740992 exceeds 2\^53-1/)
    // A nested record's length must fit inside its parent.
    assertMalformed(() => decodeMessage(bytesOf(0x3a, 3, 0x22, 5, 0)), /runs past/)
  })

  it('rejects nesting deeper than MAX_DEPTH and accepts it up to there', () => {
    const nest = (depth: number): Message => {
      let m = message({ type: MessageType.MsgApp })
      for (let i = 0; i < depth; i++) m = message({ type: MessageType.MsgApp, responses: [m] })
      return m
    }
    assert.deepEqual(decodeMessage(encodeMessage(nest(MAX_DEPTH))), nest(MAX_DEPTH))
    assertMalformed(() => decodeMessage(encodeMessage(nest(MAX_DEPTH + 1))), /nesting deeper/)
  })
})
