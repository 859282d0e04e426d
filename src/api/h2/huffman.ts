/**
 * HPACK's Huffman code (RFC 7541 §5.2, Appendix B): decoding only (our encoder sends literals
 * as they are, which the RFC allows).
 *
 * The code is canonical (codes of one length are consecutive, in symbol order, and shorter codes
 * sort first), so the table below is only Appendix B's code lengths; the codes are rebuilt from
 * them at load and checked against two of the Appendix's values. Decoding runs a 4-bit state
 * machine over the code's tree (as nghttp2 does): one table lookup per nibble instead of one
 * branch per bit. No code is shorter than 5 bits, so a nibble completes at most one symbol.
 */

import { ErrorCode, H2Error } from './frame.js'

// Appendix B, symbols 0..255, then EOS (256).
// prettier-ignore
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
]

const EOS = 256

/** The canonical codes, symbol by symbol. */
export const HUFFMAN_CODES: readonly number[] = canonicalCodes(CODE_LENGTHS)
export const HUFFMAN_LENGTHS: readonly number[] = CODE_LENGTHS

function canonicalCodes(lengths: readonly number[]): number[] {
  const order = lengths.map((_, sym) => sym)
  order.sort((a, b) => (lengths[a] as number) - (lengths[b] as number) || a - b)
  const codes = new Array<number>(lengths.length).fill(0)
  let code = 0
  let prevLength = lengths[order[0] as number] as number
  for (const sym of order) {
    const length = lengths[sym] as number
    code *= 2 ** (length - prevLength)
    prevLength = length
    codes[sym] = code
    code += 1
  }
  // Appendix B: '0' is 00000 (5 bits), EOS is 30 one bits, symbol 0 is 0x1ff8.
  if (codes[48] !== 0 || codes[EOS] !== 0x3fff_ffff || codes[0] !== 0x1ff8) {
    throw new Error('HPACK Huffman table is wrong')
  }
  return codes
}

// The tree: internal nodes 0..255 (0 is the root); child[2n + bit] is a node id, or a leaf as
// -(symbol + 1).
const child = new Int32Array(512).fill(0)
const depth = new Uint8Array(256)
const allOnes = new Uint8Array(256)
{
  let nodes = 1
  allOnes[0] = 1
  for (let sym = 0; sym <= EOS; sym++) {
    const length = CODE_LENGTHS[sym] as number
    const code = HUFFMAN_CODES[sym] as number
    let node = 0
    for (let i = length - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1
      const slot = 2 * node + bit
      if (i === 0) {
        child[slot] = -(sym + 1)
        break
      }
      let next = child[slot] as number
      if (next === 0) {
        next = nodes++
        child[slot] = next
        depth[next] = (depth[node] as number) + 1
        allOnes[next] = allOnes[node] === 1 && bit === 1 ? 1 : 0
      }
      node = next
    }
  }
  if (nodes !== 256) throw new Error(`HPACK Huffman tree has ${nodes} internal nodes`)
}

// The nibble machine: for state s and nibble x, NEXT[16s + x] is the state after the four bits
// and EMIT[16s + x] the symbol completed on the way (-1 none, -2 EOS: an error).
const NEXT = new Uint8Array(256 * 16)
const EMIT = new Int16Array(256 * 16)
for (let s = 0; s < 256; s++) {
  for (let x = 0; x < 16; x++) {
    let node = s
    let emit = -1
    for (let i = 3; i >= 0; i--) {
      const c = child[2 * node + ((x >> i) & 1)] as number
      if (c < 0) {
        const sym = -c - 1
        emit = sym === EOS ? -2 : sym
        node = 0
        if (sym === EOS) break
      } else node = c
    }
    NEXT[16 * s + x] = node
    EMIT[16 * s + x] = emit
  }
}

/**
 * Decodes `src[start, end)` into latin1 text. Throws COMPRESSION_ERROR on EOS in the data, on
 * padding longer than 7 bits or not made of ones (RFC 7541 §5.2).
 */
export function huffmanDecode(src: Buffer, start: number, end: number, scratch: Buffer): string {
  // At most 8 / 5 symbols per byte.
  const cap = Math.ceil(((end - start) * 8) / 5)
  const out = scratch.length >= cap ? scratch : Buffer.allocUnsafe(cap)
  let n = 0
  let state = 0
  for (let i = start; i < end; i++) {
    const byte = src[i] as number
    let k = 16 * state + (byte >> 4)
    let e = EMIT[k] as number
    if (e === -2) throw huffmanError('EOS in a Huffman-coded string')
    if (e >= 0) out[n++] = e
    state = NEXT[k] as number
    k = 16 * state + (byte & 0xf)
    e = EMIT[k] as number
    if (e === -2) throw huffmanError('EOS in a Huffman-coded string')
    if (e >= 0) out[n++] = e
    state = NEXT[k] as number
  }
  if (state !== 0 && (allOnes[state] !== 1 || (depth[state] as number) > 7)) {
    throw huffmanError('bad padding in a Huffman-coded string')
  }
  return out.toString('latin1', 0, n)
}

/** Huffman-encodes latin1 text (for tests and for a client; the server sends plain literals). */
export function huffmanEncode(text: string): Buffer {
  let bits = 0
  for (let i = 0; i < text.length; i++) bits += CODE_LENGTHS[text.charCodeAt(i) & 0xff] as number
  const out = Buffer.alloc(Math.ceil(bits / 8))
  let acc = 0
  let accBits = 0
  let at = 0
  for (let i = 0; i < text.length; i++) {
    const sym = text.charCodeAt(i) & 0xff
    const length = CODE_LENGTHS[sym] as number
    const code = HUFFMAN_CODES[sym] as number
    for (let b = length - 1; b >= 0; b--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** b) & 1)
      accBits++
      if (accBits === 8) {
        out[at++] = acc
        acc = 0
        accBits = 0
      }
    }
  }
  if (accBits > 0) out[at] = (acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1)
  return out
}

function huffmanError(message: string): H2Error {
  return new H2Error(ErrorCode.COMPRESSION_ERROR, message)
}
