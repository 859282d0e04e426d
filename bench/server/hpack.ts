/**
 * HPACK (RFC 7541) for the raw HTTP/2 client: a decoder for the servers' response header blocks
 * (static and dynamic tables, integers, Huffman strings), and the one encoding the client itself
 * needs, literal fields without indexing, whose blocks depend on nothing but their fields (so a
 * request's block is built once per method and connection).
 */

/** RFC 7541 Appendix A. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ...[
    'accept-charset',
    'accept-encoding',
    'accept-language',
    'accept-ranges',
    'accept',
    'access-control-allow-origin',
    'age',
    'allow',
    'authorization',
    'cache-control',
    'content-disposition',
    'content-encoding',
    'content-language',
    'content-length',
    'content-location',
    'content-range',
    'content-type',
    'cookie',
    'date',
    'etag',
    'expect',
    'expires',
    'from',
    'host',
    'if-match',
    'if-modified-since',
    'if-none-match',
    'if-range',
    'if-unmodified-since',
    'last-modified',
    'link',
    'location',
    'max-forwards',
    'proxy-authenticate',
    'proxy-authorization',
    'range',
    'referer',
    'refresh',
    'retry-after',
    'server',
    'set-cookie',
    'strict-transport-security',
    'transfer-encoding',
    'user-agent',
    'vary',
    'via',
    'www-authenticate',
  ].map((name): [string, string] => [name, name === 'accept-encoding' ? 'gzip, deflate' : '']),
]

/**
 * Code lengths of the Huffman code of RFC 7541 Appendix B, symbols 0..255, then EOS (256). The
 * code is canonical (codes of one length are consecutive in symbol order, and each length's
 * first code follows the previous length's last), so the lengths define it.
 */
export const HUFFMAN_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
  28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5,
  6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6,
  7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23,
  23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22,
  22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22,
  23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27,
  27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25,
  24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
]

const MAX_CODE_BITS = 30

/** Canonical decoding tables: per length, the first code, how many codes, and their symbols. */
const huffman = (() => {
  const firstCode = new Array<number>(MAX_CODE_BITS + 1).fill(0)
  const count = new Array<number>(MAX_CODE_BITS + 1).fill(0)
  const offset = new Array<number>(MAX_CODE_BITS + 1).fill(0)
  for (const len of HUFFMAN_LENGTHS) count[len]!++
  const symbols: number[] = []
  let code = 0
  for (let len = 1; len <= MAX_CODE_BITS; len++) {
    firstCode[len] = code
    offset[len] = symbols.length
    for (let s = 0; s < HUFFMAN_LENGTHS.length; s++) if (HUFFMAN_LENGTHS[s] === len) symbols.push(s)
    code = (code + count[len]!) * 2
  }
  return { firstCode, count, offset, symbols }
})()

/** The code of a symbol (for tests and the encoder in them): [code, length]. */
export function huffmanCode(symbol: number): [number, number] {
  const len = HUFFMAN_LENGTHS[symbol]!
  const i = huffman.symbols.indexOf(symbol)
  return [huffman.firstCode[len]! + (i - huffman.offset[len]!), len]
}

/** Decodes a Huffman string; throws on EOS inside it or on padding longer than 7 bits. */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  let out = ''
  let code = 0
  let len = 0
  for (let i = start; i < end; i++) {
    const byte = buf[i]!
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1)
      len++
      const k = code - huffman.firstCode[len]!
      if (k >= 0 && k < huffman.count[len]!) {
        const sym = huffman.symbols[huffman.offset[len]! + k]!
        if (sym === 256) throw new Error('HPACK: EOS in a Huffman string')
        out += String.fromCharCode(sym)
        code = 0
        len = 0
      } else if (len >= MAX_CODE_BITS) {
        throw new Error('HPACK: invalid Huffman code')
      }
    }
  }
  if (len > 7) throw new Error('HPACK: Huffman padding longer than 7 bits')
  return out
}

export type HeaderField = [name: string, value: string]

/** A decoder with its dynamic table: one per connection, fed every header block in order. */
export class HpackDecoder {
  private dynamic: HeaderField[] = [] // newest first
  private size = 0
  private maxSize = 4096

  /** Decodes one complete header block (HEADERS plus CONTINUATIONs) into its fields. */
  decode(buf: Uint8Array, start: number, end: number): HeaderField[] {
    const fields: HeaderField[] = []
    const r = { pos: start }
    while (r.pos < end) {
      const b = buf[r.pos]!
      if (b & 0x80) {
        fields.push(this.entry(readInt(buf, r, 7, end)))
      } else if (b & 0x40) {
        const f = this.literal(buf, r, 6, end)
        fields.push(f)
        this.add(f)
      } else if (b & 0x20) {
        this.maxSize = readInt(buf, r, 5, end)
        this.evict()
      } else {
        fields.push(this.literal(buf, r, 4, end)) // without indexing / never indexed
      }
    }
    return fields
  }

  private literal(buf: Uint8Array, r: { pos: number }, prefix: number, end: number): HeaderField {
    const index = readInt(buf, r, prefix, end)
    const name = index === 0 ? readString(buf, r, end) : this.entry(index)[0]
    return [name, readString(buf, r, end)]
  }

  private entry(index: number): HeaderField {
    if (index >= 1 && index <= STATIC_TABLE.length) {
      const e = STATIC_TABLE[index - 1]!
      return [e[0], e[1]]
    }
    const e = this.dynamic[index - STATIC_TABLE.length - 1]
    if (e === undefined) throw new Error(`HPACK: index ${index} is in no table`)
    return e
  }

  private add(f: HeaderField): void {
    this.dynamic.unshift(f)
    this.size += entrySize(f)
    this.evict()
  }

  private evict(): void {
    while (this.size > this.maxSize) {
      const e = this.dynamic.pop()!
      this.size -= entrySize(e)
    }
  }
}

/** RFC 7541 §4.1: name and value octets plus 32. */
function entrySize(f: HeaderField): number {
  return Buffer.byteLength(f[0]) + Buffer.byteLength(f[1]) + 32
}

function readInt(buf: Uint8Array, r: { pos: number }, prefix: number, end: number): number {
  const mask = (1 << prefix) - 1
  let v = buf[r.pos++]! & mask
  if (v < mask) return v
  let m = 0
  for (;;) {
    if (r.pos >= end) throw new Error('HPACK: truncated integer')
    const b = buf[r.pos++]!
    v += (b & 0x7f) * 2 ** m
    m += 7
    if ((b & 0x80) === 0) return v
    if (m > 28) throw new Error('HPACK: integer too large')
  }
}

function readString(buf: Uint8Array, r: { pos: number }, end: number): string {
  if (r.pos >= end) throw new Error('HPACK: truncated string')
  const huff = (buf[r.pos]! & 0x80) !== 0
  const len = readInt(buf, r, 7, end)
  const start = r.pos
  r.pos += len
  if (r.pos > end) throw new Error('HPACK: string past the end of its block')
  return huff
    ? huffmanDecode(buf, start, r.pos)
    : Buffer.from(buf.buffer, buf.byteOffset + start, len).toString('latin1')
}

/**
 * Encodes fields as literals without indexing (§6.2.2), names by static index where there is
 * one, no Huffman: the block means the same whatever the decoder's state.
 */
export function encodeLiteralBlock(fields: readonly HeaderField[]): Buffer {
  const out: number[] = []
  for (const [name, value] of fields) {
    const index = STATIC_TABLE.findIndex(([n]) => n === name) + 1
    if (index > 0) pushInt(out, index, 4, 0x00)
    else {
      out.push(0x00)
      pushString(out, name)
    }
    pushString(out, value)
  }
  return Buffer.from(out)
}

function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1')
  pushInt(out, bytes.length, 7, 0x00)
  for (const b of bytes) out.push(b)
}

function pushInt(out: number[], v: number, prefix: number, flags: number): void {
  const mask = (1 << prefix) - 1
  if (v < mask) {
    out.push(flags | v)
    return
  }
  out.push(flags | mask)
  v -= mask
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
}
