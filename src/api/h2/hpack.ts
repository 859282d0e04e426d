/**
 * HPACK (RFC 7541): a complete decoder (static and dynamic tables, table size updates, Huffman,
 * every literal form) and a simple encoder (an indexed static entry where name and value match
 * one, else a literal without indexing, with the name indexed where the static table has it; no
 * Huffman, no dynamic table). Our encoder keeps no dynamic table, so the peer's
 * SETTINGS_HEADER_TABLE_SIZE never binds it; if the peer lowers it we still say so with a size
 * update to 0 at the start of the next block, as RFC 7541 §4.2 asks (nghttp2 insists).
 *
 * Input is untrusted: every length is checked against the block before it is read, integers are
 * bounded, and a decoded header list past `maxHeaderListSize` stops being collected (the block is
 * still decoded to the end so that the dynamic table stays in step with the peer's).
 */

import { ErrorCode, H2Error } from './frame.js'
import { huffmanDecode } from './huffman.js'

// RFC 7541 Appendix A.
// prettier-ignore
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''],
  ['accept', ''], ['access-control-allow-origin', ''], ['age', ''], ['allow', ''],
  ['authorization', ''], ['cache-control', ''], ['content-disposition', ''],
  ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''],
  ['if-match', ''], ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''],
  ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''],
  ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''],
  ['vary', ''], ['via', ''], ['www-authenticate', ''],
]

const STATIC_COUNT = STATIC_TABLE.length // 61
const ENTRY_OVERHEAD = 32

/** The largest integer we accept in a representation (lengths, indexes, sizes). */
const INTEGER_MAX = 0x7fff_ffff

function compressionError(message: string): H2Error {
  return new H2Error(ErrorCode.COMPRESSION_ERROR, message)
}

export interface DecodedHeaders {
  /** Names and values in order, flat: name, value, name, value... */
  readonly fields: string[]
  /** True if the list went past maxHeaderListSize (fields then holds only a prefix). */
  readonly oversize: boolean
}

export class HpackDecoder {
  /** The dynamic table as a ring, newest at `head - 1`. */
  private names: string[]
  private values: string[]
  private head = 0
  private count = 0
  private size = 0
  /** The table size the encoder last set (at most maxTableSize, our setting). */
  private capacity: number
  private readonly scratch = Buffer.allocUnsafe(256)

  constructor(
    /** Our SETTINGS_HEADER_TABLE_SIZE: the most the peer's encoder may use. */
    private readonly maxTableSize: number,
    private readonly maxHeaderListSize: number,
  ) {
    this.capacity = maxTableSize
    const slots = Math.floor(maxTableSize / ENTRY_OVERHEAD) + 1
    this.names = new Array<string>(slots).fill('')
    this.values = new Array<string>(slots).fill('')
  }

  /** Entries in the dynamic table (for tests). */
  get dynamicEntries(): [string, string][] {
    const out: [string, string][] = []
    for (let i = 1; i <= this.count; i++) out.push(this.entry(STATIC_COUNT + i))
    return out
  }

  get dynamicSize(): number {
    return this.size
  }

  /** Decodes one whole header block. Throws H2Error COMPRESSION_ERROR on bad input. */
  decode(block: Buffer): DecodedHeaders {
    const fields: string[] = []
    let listSize = 0
    let oversize = false
    let at = 0
    let sawField = false
    const end = block.length
    while (at < end) {
      const b = block[at] as number
      let name: string
      let value: string
      if (b & 0x80) {
        // Indexed header field (§6.1).
        const [index, next] = this.integer(block, at, 7)
        at = next
        if (index === 0) throw compressionError('indexed header field with index 0')
        ;[name, value] = this.entry(index)
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only before the block's first field (§4.2).
        const [max, next] = this.integer(block, at, 5)
        at = next
        if (sawField) throw compressionError('dynamic table size update after a header field')
        if (max > this.maxTableSize) {
          throw compressionError(`dynamic table size ${max} above our ${this.maxTableSize}`)
        }
        this.capacity = max
        this.evictTo(max)
        continue
      } else {
        // Literals (§6.2): with incremental indexing (01), without (0000), never indexed (0001).
        const indexing = (b & 0xc0) === 0x40
        const [index, next] = this.integer(block, at, indexing ? 6 : 4)
        at = next
        if (index === 0) {
          ;[name, at] = this.string(block, at)
        } else {
          name = this.entry(index)[0]
        }
        ;[value, at] = this.string(block, at)
        if (indexing) this.add(name, value)
      }
      sawField = true
      listSize += name.length + value.length + ENTRY_OVERHEAD
      if (listSize > this.maxHeaderListSize) oversize = true
      if (!oversize) fields.push(name, value)
    }
    return { fields, oversize }
  }

  private entry(index: number): [string, string] {
    if (index <= STATIC_COUNT) {
      const e = STATIC_TABLE[index - 1] as readonly [string, string]
      return [e[0], e[1]]
    }
    const d = index - STATIC_COUNT
    if (d > this.count) throw compressionError(`header index ${index} is not in the table`)
    const slot = (this.head - d + this.names.length) % this.names.length
    return [this.names[slot] as string, this.values[slot] as string]
  }

  private add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD
    if (entrySize > this.capacity) {
      // §4.4: an entry larger than the table empties it and is not added.
      this.evictTo(0)
      return
    }
    this.evictTo(this.capacity - entrySize)
    this.names[this.head] = name
    this.values[this.head] = value
    this.head = (this.head + 1) % this.names.length
    this.count++
    this.size += entrySize
  }

  private evictTo(target: number): void {
    const slots = this.names.length
    while (this.size > target && this.count > 0) {
      const oldest = (this.head - this.count + slots) % slots
      this.size -= (this.names[oldest] as string).length + (this.values[oldest] as string).length
      this.size -= ENTRY_OVERHEAD
      this.names[oldest] = ''
      this.values[oldest] = ''
      this.count--
    }
  }

  /** An integer with an N-bit prefix (§5.1), and the offset after it. */
  private integer(block: Buffer, at: number, prefixBits: number): [number, number] {
    const mask = (1 << prefixBits) - 1
    let value = (block[at] as number) & mask
    at++
    if (value < mask) return [value, at]
    let factor = 1
    for (let i = 0; ; i++) {
      if (at >= block.length) throw compressionError('truncated integer')
      if (i >= 5) throw compressionError('integer too long')
      const b = block[at++] as number
      value += (b & 0x7f) * factor
      factor *= 128
      if ((b & 0x80) === 0) break
    }
    if (value > INTEGER_MAX) throw compressionError(`integer ${value} too large`)
    return [value, at]
  }

  /** A string literal (§5.2), and the offset after it. */
  private string(block: Buffer, at: number): [string, number] {
    if (at >= block.length) throw compressionError('truncated string literal')
    const huffman = ((block[at] as number) & 0x80) !== 0
    const [length, start] = this.integer(block, at, 7)
    const end = start + length
    if (end > block.length) throw compressionError('string literal past the end of the block')
    if (length > this.maxHeaderListSize) {
      throw compressionError(`string literal of ${length} bytes`)
    }
    const text = huffman
      ? huffmanDecode(block, start, end, this.scratch)
      : block.toString('latin1', start, end)
    return [text, end]
  }
}

// Encoder.

const STATIC_PAIR = new Map<string, number>()
const STATIC_NAME = new Map<string, number>()
STATIC_TABLE.forEach(([name, value], i) => {
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1)
  if (value !== '') STATIC_PAIR.set(`${name}\0${value}`, i + 1)
})

/** A header list to send: lower-case names; values as strings or numbers. */
export type OutgoingHeaders = Readonly<Record<string, string | number | undefined>>

/**
 * Encodes a header list into `buf` from `at` (the caller sizes `buf` with encodedSizeMax);
 * returns the offset after it. `sizeUpdate` puts a table size update to 0 first.
 */
export function encodeHeaders(
  buf: Buffer,
  at: number,
  headers: OutgoingHeaders,
  sizeUpdate: boolean,
): number {
  if (sizeUpdate) buf[at++] = 0x20
  for (const name in headers) {
    const raw = headers[name]
    if (raw === undefined) continue
    const value = typeof raw === 'string' ? raw : String(raw)
    const pair = STATIC_PAIR.get(`${name}\0${value}`)
    if (pair !== undefined) {
      at = putInteger(buf, at, 0x80, 7, pair)
      continue
    }
    const index = STATIC_NAME.get(name)
    if (index !== undefined) {
      at = putInteger(buf, at, 0x00, 4, index)
    } else {
      buf[at++] = 0x00
      at = putString(buf, at, name)
    }
    at = putString(buf, at, value)
  }
  return at
}

/** An upper bound of encodeHeaders' output (string lengths are in UTF-16 units, <= bytes/1). */
export function encodedSizeMax(headers: OutgoingHeaders): number {
  let n = 1
  for (const name in headers) {
    const raw = headers[name]
    if (raw === undefined) continue
    const value = typeof raw === 'string' ? raw : String(raw)
    n += name.length + value.length + 12
  }
  return n
}

function putInteger(buf: Buffer, at: number, first: number, prefixBits: number, v: number): number {
  const mask = (1 << prefixBits) - 1
  if (v < mask) {
    buf[at++] = first | v
    return at
  }
  buf[at++] = first | mask
  v -= mask
  while (v >= 128) {
    buf[at++] = (v % 128) | 0x80
    v = Math.floor(v / 128)
  }
  buf[at++] = v
  return at
}

function putString(buf: Buffer, at: number, text: string): number {
  // Header text is latin1 octets (grpc-message is percent-encoded ASCII).
  at = putInteger(buf, at, 0x00, 7, text.length)
  return at + buf.write(text, at, 'latin1')
}
