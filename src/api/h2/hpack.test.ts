/**
 * HPACK against RFC 7541 Appendix C: each example block decoded in sequence on one decoder, with
 * the dynamic table's entries and size after each step as the Appendix lists them (C.2 single
 * representations; C.3/C.4 requests without and with Huffman; C.5/C.6 responses with a 256-byte
 * table and evictions). Then: the Huffman code on the Appendix's strings, our encoder read back
 * by the decoder, the size-update rules, and seeded garbage that must fail only with
 * COMPRESSION_ERROR.
 */

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { testRand } from '../../../test-support/seed.js'
import { ErrorCode, H2Error } from './frame.js'
import { HpackDecoder, encodeHeaders, encodedSizeMax } from './hpack.js'
import { huffmanDecode, huffmanEncode } from './huffman.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

interface Step {
  readonly block: string
  readonly fields: [string, string][]
  /** The dynamic table after the step, newest first, and its size. */
  readonly table: [string, string][]
  readonly size: number
}

function runSeries(tableSize: number, steps: readonly Step[]): void {
  const d = new HpackDecoder(tableSize, 1 << 20)
  steps.forEach((step, i) => {
    const out = d.decode(hex(step.block))
    const pairs: [string, string][] = []
    for (let k = 0; k < out.fields.length; k += 2) {
      pairs.push([out.fields[k] as string, out.fields[k + 1] as string])
    }
    assert.deepEqual(pairs, step.fields, `step ${i}`)
    assert.deepEqual(d.dynamicEntries, step.table, `table after step ${i}`)
    assert.equal(d.dynamicSize, step.size, `table size after step ${i}`)
  })
}

test('C.2 single representations', () => {
  runSeries(4096, [
    {
      block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
      fields: [['custom-key', 'custom-header']],
      table: [['custom-key', 'custom-header']],
      size: 55,
    },
  ])
  runSeries(4096, [
    {
      block: '040c 2f73 616d 706c 652f 7061 7468',
      fields: [[':path', '/sample/path']],
      table: [],
      size: 0,
    },
  ])
  runSeries(4096, [
    {
      block: '1008 7061 7373 776f 7264 0673 6563 7265 74',
      fields: [['password', 'secret']],
      table: [],
      size: 0,
    },
  ])
  runSeries(4096, [{ block: '82', fields: [[':method', 'GET']], table: [], size: 0 }])
})

const req1: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
]
const req2: [string, string][] = [...req1, ['cache-control', 'no-cache']]
const req3: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
]
const reqTables: [string, string][][] = [
  [[':authority', 'www.example.com']],
  [
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
  [
    ['custom-key', 'custom-value'],
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
]

test('C.3 requests without Huffman', () => {
  runSeries(4096, [
    {
      block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      fields: req1,
      table: reqTables[0]!,
      size: 57,
    },
    { block: '8286 84be 5808 6e6f 2d63 6163 6865', fields: req2, table: reqTables[1]!, size: 110 },
    {
      block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      fields: req3,
      table: reqTables[2]!,
      size: 164,
    },
  ])
})

test('C.4 requests with Huffman', () => {
  runSeries(4096, [
    {
      block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      fields: req1,
      table: reqTables[0]!,
      size: 57,
    },
    { block: '8286 84be 5886 a8eb 1064 9cbf', fields: req2, table: reqTables[1]!, size: 110 },
    {
      block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      fields: req3,
      table: reqTables[2]!,
      size: 164,
    },
  ])
})

const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT'
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT'
const loc = 'https://www.example.com'
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'
const respFields: [string, string][][] = [
  [
    [':status', '302'],
    ['cache-control', 'private'],
    ['date', date1],
    ['location', loc],
  ],
  [
    [':status', '307'],
    ['cache-control', 'private'],
    ['date', date1],
    ['location', loc],
  ],
  [
    [':status', '200'],
    ['cache-control', 'private'],
    ['date', date2],
    ['location', loc],
    ['content-encoding', 'gzip'],
    ['set-cookie', cookie],
  ],
]
const respTables: [string, string][][] = [
  [
    ['location', loc],
    ['date', date1],
    ['cache-control', 'private'],
    [':status', '302'],
  ],
  [
    [':status', '307'],
    ['location', loc],
    ['date', date1],
    ['cache-control', 'private'],
  ],
  [
    ['set-cookie', cookie],
    ['content-encoding', 'gzip'],
    ['date', date2],
  ],
]

test('C.5 responses without Huffman, 256-byte table', () => {
  runSeries(256, [
    {
      block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
              2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
              6c65 2e63 6f6d`,
      fields: respFields[0]!,
      table: respTables[0]!,
      size: 222,
    },
    { block: '4803 3330 37c1 c0bf', fields: respFields[1]!, table: respTables[1]!, size: 222 },
    {
      block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
              54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
              5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
              3d31`,
      fields: respFields[2]!,
      table: respTables[2]!,
      size: 215,
    },
  ])
})

test('C.6 responses with Huffman, 256-byte table', () => {
  runSeries(256, [
    {
      block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
              2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
      fields: respFields[0]!,
      table: respTables[0]!,
      size: 222,
    },
    { block: '4883 640e ffc1 c0bf', fields: respFields[1]!, table: respTables[1]!, size: 222 },
    {
      block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
              77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
              9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
      fields: respFields[2]!,
      table: respTables[2]!,
      size: 215,
    },
  ])
})

test('Huffman: the Appendix strings both ways, every byte value round trip', (t) => {
  const cases: [string, string][] = [
    ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
    ['a8eb 1064 9cbf', 'no-cache'],
    ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
    ['6402', '302'],
    ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', date1],
    ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', loc],
  ]
  const scratch = Buffer.alloc(16)
  for (const [h, text] of cases) {
    const bytes = hex(h)
    assert.equal(huffmanDecode(bytes, 0, bytes.length, scratch), text)
    assert.deepEqual(huffmanEncode(text), bytes)
  }
  const rand = testRand(t)
  for (let i = 0; i < 500; i++) {
    let text = ''
    const n = rand.int(60)
    for (let k = 0; k < n; k++) text += String.fromCharCode(rand.int(256))
    const enc = huffmanEncode(text)
    assert.equal(huffmanDecode(enc, 0, enc.length, scratch), text)
  }
})

test('Huffman: EOS, long padding and padding of zeros are COMPRESSION_ERROR', () => {
  const scratch = Buffer.alloc(16)
  const bad = [
    'ffff fffc', // 30 one bits: EOS itself
    'ffff ffff', // EOS and two one bits
    'f1e3 c2e5 f23a 6ba0 ab90 f4ff ff', // 8 more bits of padding
    '00', // '0' then 3 zero bits of padding
  ]
  for (const h of bad) {
    const bytes = hex(h)
    assert.throws(
      () => huffmanDecode(bytes, 0, bytes.length, scratch),
      (err: unknown) => err instanceof H2Error && err.code === ErrorCode.COMPRESSION_ERROR,
      h,
    )
  }
})

test('encoder output decodes to the same list; static pairs are one byte', () => {
  const headers = {
    ':status': 200,
    'content-type': 'application/grpc',
    'grpc-status': '13',
    'grpc-message': 'x'.repeat(300),
  }
  const buf = Buffer.alloc(encodedSizeMax(headers))
  const end = encodeHeaders(buf, 0, headers, true)
  assert.equal(buf[0], 0x20) // size update to 0
  assert.equal(buf[1], 0x88) // :status 200, static index 8
  const d = new HpackDecoder(4096, 1 << 20)
  const out = d.decode(buf.subarray(0, end))
  assert.deepEqual(out.fields, [
    ':status',
    '200',
    'content-type',
    'application/grpc',
    'grpc-status',
    '13',
    'grpc-message',
    'x'.repeat(300),
  ])
  assert.equal(d.dynamicSize, 0)
})

test('size updates: above our setting, or after a field, are COMPRESSION_ERROR; evict', () => {
  const isCompression = (err: unknown): boolean =>
    err instanceof H2Error && err.code === ErrorCode.COMPRESSION_ERROR
  assert.throws(() => new HpackDecoder(4096, 1 << 20).decode(hex('3fe2 1f')), isCompression) // 4097
  assert.throws(() => new HpackDecoder(4096, 1 << 20).decode(hex('82 20')), isCompression)
  const d = new HpackDecoder(4096, 1 << 20)
  d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))
  assert.equal(d.dynamicSize, 55)
  d.decode(hex('20 3fe1 1f')) // 0, then 4096: allowed at the start
  assert.equal(d.dynamicSize, 0)
  assert.throws(() => d.decode(hex('be')), isCompression) // index 62 is gone
  assert.throws(() => d.decode(hex('80')), isCompression) // index 0
})

test('a header list past the cap is flagged, and the table still follows', () => {
  const d = new HpackDecoder(4096, 100)
  const out = d.decode(
    hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572 be be'),
  )
  assert.equal(out.oversize, true)
  assert.equal(d.dynamicSize, 55)
})

test('seeded garbage fails only with COMPRESSION_ERROR', (t) => {
  const rand = testRand(t)
  const d = new HpackDecoder(4096, 16 << 10)
  for (let i = 0; i < 5000; i++) {
    const block = Buffer.alloc(rand.int(40))
    for (let k = 0; k < block.length; k++) block[k] = rand.int(256)
    try {
      d.decode(block)
    } catch (err) {
      assert.ok(err instanceof H2Error && err.code === ErrorCode.COMPRESSION_ERROR, String(err))
    }
  }
})
