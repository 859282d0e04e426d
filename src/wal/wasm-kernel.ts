/**
 * The WAL's WebAssembly: CRC-32C (slicing by 16) over bytes that live in the module's own memory,
 * and frameEntry, which frames a whole entry record there in one call.
 *
 * Why: the WAL checksums every record on its own (the crc is chained record by record), and most
 * records are small. A call into @node-rs/crc32 costs 0.3-0.6 µs before it reads a byte (argument
 * checks, a Buffer view per range), and the JavaScript loop costs ~3 ns a byte; a call into
 * WebAssembly costs a few nanoseconds and its loop runs about four times faster than JavaScript's:
 * 1.35-1.4 GB/s (slicing by 8 gave 1.0; x86-64, Node 20), against the native 2-3 GB/s past its
 * call cost, so it wins up to about 512 bytes.
 * The WAL encodes each commit straight into this memory (wasmScratch), so the checksum reads the
 * bytes where they were encoded, without a view or a copy. Framing an entry in JavaScript (a
 * dozen varints and byte stores into a typed array, a move, the padding) then cost more than
 * checksumming it: 2,650 instructions per 128-byte entry, against 2,150 with frameEntry.
 * (Instruction counts by callgrind; see bench/README.md.)
 *
 * The module is assembled here from its instructions, so that the source says what it does (no
 * opaque blob, no toolchain). Memory layout: the sixteen 1 KiB tables T0..T15 at 0, frameEntry's
 * work area after them (HEAD_TMP, CRC_SLOT), then the scratch area from SCRATCH_BASE.
 */
import { assert } from '../raft/assert.js'
import type { Entry } from '../raft/raftpb/types.js'

const POLY = 0x82f63b78
const PAGE_BYTES = 64 * 1024
const TABLE_BYTES = 1024
const TABLES = 16
/** Where the scratch area starts; one page, leaving the tables alone. */
const SCRATCH_BASE = PAGE_BYTES
/** frameEntry's work area after the tables: an entry's head, then the crc it returns. */
const HEAD_TMP = TABLES * TABLE_BYTES
const CRC_SLOT = HEAD_TMP + 64

// The instructions used (WebAssembly core spec, binary format).
const BLOCK = 0x02
const LOOP = 0x03
const BR = 0x0c
const BR_IF = 0x0d
const END = 0x0b
const VOID = 0x40
const LOCAL_GET = 0x20
const LOCAL_SET = 0x21
const I32_LOAD = 0x28
const I32_LOAD8_U = 0x2d
const I32_CONST = 0x41
const I32_GE_U = 0x4f
const I32_ADD = 0x6a
const I32_AND = 0x71
const I32_XOR = 0x73
const I32_SHL = 0x74
const I32_SHR_U = 0x76
const I32 = 0x7f
const I64 = 0x7e
const CALL = 0x10
const IF = 0x04
const I32_STORE = 0x36
const I64_STORE = 0x37
const I32_STORE8 = 0x3a
const I64_STORE8 = 0x3c
const I64_CONST = 0x42
const I32_LT_U = 0x49
const I64_LT_U = 0x54
const I32_SUB = 0x6b
const I32_OR = 0x72
const I64_OR = 0x84
const I64_SHL = 0x86
const I64_SHR_U = 0x88
const I64_EXTEND_I32_U = 0xad
const MEMORY_COPY = [0xfc, 0x0a, 0, 0]

function uleb(v: number): number[] {
  const out: number[] = []
  do {
    const b = v & 0x7f
    v >>>= 7
    out.push(v === 0 ? b : b | 0x80)
  } while (v !== 0)
  return out
}

function sleb(v: number): number[] {
  const out: number[] = []
  for (;;) {
    const b = v & 0x7f
    v >>= 7
    const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)
    out.push(done ? b : b | 0x80)
    if (done) return out
  }
}

// Locals: the parameters (p, n, c), then end, end8 and w.
const P = 0
const N = 1
const C = 2
const END_AT = 3
const END16 = 4
const W = 5

const get = (l: number) => [LOCAL_GET, l]
const set = (l: number) => [LOCAL_SET, l]
const konst = (v: number) => [I32_CONST, ...sleb(v)]
/** i32.load of table `t` at the byte offset on the stack (already multiplied by 4). */
const table = (t: number) => [I32_LOAD, 2, ...uleb(t * TABLE_BYTES)]
/** Pushes 4 * byte `k` (0..3) of w: the offset of that byte's entry in a table. */
function byteOffset(k: number): number[] {
  if (k === 0) return [...get(W), ...konst(0xff), I32_AND, ...konst(2), I32_SHL]
  if (k === 3) return [...get(W), ...konst(24), I32_SHR_U, ...konst(2), I32_SHL]
  return [...get(W), ...konst(8 * k - 2), I32_SHR_U, ...konst(0x3fc), I32_AND]
}

/** crc(p, n, c): the CRC-32C of memory[p, p+n) continuing from c; the JavaScript loop's twin. */
function crcBody(): number[] {
  // Sixteen bytes a pass: the first word xored into c, the other three looked up as they are.
  const word = (k: number) => [...get(P), I32_LOAD, 2, ...uleb(4 * k)]
  const lookups = (first: number) => [
    ...byteOffset(0),
    ...table(first),
    ...byteOffset(1),
    ...table(first - 1),
    I32_XOR,
    ...byteOffset(2),
    ...table(first - 2),
    I32_XOR,
    ...byteOffset(3),
    ...table(first - 3),
    I32_XOR,
  ]
  // Bytes 4..15 do not depend on c: each is loaded on its own (load8_u), which takes fewer
  // instructions than shifting and masking it out of a word.
  const byteLookups = (at: number, first: number) => {
    const out: number[] = []
    for (let k = 0; k < 4; k++) {
      out.push(...get(P), I32_LOAD8_U, 0, ...uleb(at + k), ...konst(2), I32_SHL)
      out.push(...table(first - k), I32_XOR)
    }
    return out
  }
  const code = [
    ...[...get(C), ...konst(-1), I32_XOR, ...set(C)],
    ...[...get(P), ...get(N), I32_ADD, ...set(END_AT)],
    ...[...get(P), ...get(N), ...konst(-16), I32_AND, I32_ADD, ...set(END16)],
    ...[BLOCK, VOID, LOOP, VOID, ...get(P), ...get(END16), I32_GE_U, BR_IF, 1],
    ...[...word(0), ...get(C), I32_XOR, ...set(W), ...lookups(15)],
    ...byteLookups(4, 11),
    ...byteLookups(8, 7),
    ...byteLookups(12, 3),
    ...[...set(C), ...get(P), ...konst(16), I32_ADD, ...set(P), BR, 0, END, END],
    // The remaining bytes one at a time.
    ...[BLOCK, VOID, LOOP, VOID, ...get(P), ...get(END_AT), I32_GE_U, BR_IF, 1],
    ...[...get(C), ...get(P), I32_LOAD8_U, 0, 0, I32_XOR, ...konst(0xff), I32_AND],
    ...[...konst(2), I32_SHL, ...table(0), ...get(C), ...konst(8), I32_SHR_U, I32_XOR, ...set(C)],
    ...[...get(P), ...konst(1), I32_ADD, ...set(P), BR, 0, END, END],
    ...[...get(C), ...konst(-1), I32_XOR, END],
  ]
  const locals = [1, 3, I32] // one group of three i32 locals
  return [...uleb(locals.length + code.length), ...locals, ...code]
}

/**
 * Where frameEntry wants an entry's payload: this far after the frame's start. The entry head
 * (23 bytes at most) is put in front of it, and the record's data is then moved down behind the
 * record head. A frame touches nothing past pos + ENTRY_HEAD_ROOM + payload: the longest record
 * (a 22-byte length field and record head, a 23-byte entry head) plus its eight zero bytes of
 * padding ends 53 bytes past its payload's length.
 */
export const ENTRY_HEAD_ROOM = 56

// frameEntry's parameters and locals.
const F_POS = 0
const F_LEN = 1
const F_TYPE = 2
const F_TERM_LO = 3
const F_TERM_HI = 4
const F_INDEX_LO = 5
const F_INDEX_HI = 6
const F_CRC_IN = 7
const F_Q = 8 // the write cursor
const F_HEAD = 9 // the entry head's length
const F_SRC = 10 // where the record's data (entry head and payload) was assembled
const F_DATA = 11 // the data's length
const F_CRC = 12
const F_V = 13 // the 32-bit value being written as a varint
const F_FRAME_HEAD = 14 // the record head's length (after the 8-byte length field)
const F_REC = 15 // the record's length
const F_PAD = 16
const F_END = 17 // where the record ends, before its padding
const F_V64 = 18 // the 64-bit value being written as a varint

const storeByteAtQ = (offset: number, value: number[]) => [
  ...get(F_Q),
  ...value,
  I32_STORE8,
  0,
  ...uleb(offset),
]
const advanceQ = (n: number) => [...get(F_Q), ...konst(n), I32_ADD, ...set(F_Q)]

/** Writes local F_V as a varint at F_Q and advances F_Q past it. */
const varint32 = () => [
  ...[BLOCK, VOID, LOOP, VOID, ...get(F_V), ...konst(0x80), I32_LT_U, BR_IF, 1],
  ...storeByteAtQ(0, [...get(F_V), ...konst(0x80), I32_OR]), // store8 keeps the low byte
  ...advanceQ(1),
  ...[...get(F_V), ...konst(7), I32_SHR_U, ...set(F_V), BR, 0, END, END],
  ...storeByteAtQ(0, get(F_V)),
  ...advanceQ(1),
]

/** The same for local F_V64. */
const varint64 = () => [
  ...[BLOCK, VOID, LOOP, VOID, ...get(F_V64), I64_CONST, ...sleb(0x80), I64_LT_U, BR_IF, 1],
  ...[...get(F_Q), ...get(F_V64), I64_CONST, ...sleb(0x80), I64_OR, I64_STORE8, 0, 0],
  ...advanceQ(1),
  ...[...get(F_V64), I64_CONST, 7, I64_SHR_U, ...set(F_V64), BR, 0, END, END],
  ...[...get(F_Q), ...get(F_V64), I64_STORE8, 0, 0],
  ...advanceQ(1),
]

/** F_V64 = hi * 2^32 + lo, from two parameters. */
const join64 = (lo: number, hi: number) => [
  ...[...get(hi), I64_EXTEND_I32_U, I64_CONST, 32, I64_SHL],
  ...[...get(lo), I64_EXTEND_I32_U, I64_OR, ...set(F_V64)],
]

/** Pushes the varint size of a local's 32-bit value, without a branch. */
const varintSize32 = (l: number) => [
  ...konst(1),
  ...[...get(l), ...konst(0x80), I32_GE_U, I32_ADD],
  ...[...get(l), ...konst(0x4000), I32_GE_U, I32_ADD],
  ...[...get(l), ...konst(0x20_0000), I32_GE_U, I32_ADD],
  ...[...get(l), ...konst(0x1000_0000), I32_GE_U, I32_ADD],
]

/**
 * frame(pos, len, type, termLo, termHi, indexLo, indexHi, crcIn): frames the entry whose payload
 * of `len` bytes lies at pos + ENTRY_HEAD_ROOM as an entry record at pos (wal.ts RecordEncoder's
 * twin: etcd's frame, the chained crc over the type and the data, zero padding); returns where
 * the next frame goes and leaves the record's crc at CRC_SLOT. Writes up to 8 bytes past the
 * padding (zeros), nothing before pos, and nothing past pos + ENTRY_HEAD_ROOM + len.
 */
function frameBody(): number[] {
  const code = [
    // The entry head (protobuf fields 1-4, data last) into HEAD_TMP.
    ...[...konst(HEAD_TMP), ...set(F_Q)],
    ...storeByteAtQ(0, konst(0x08)),
    ...storeByteAtQ(1, get(F_TYPE)),
    ...storeByteAtQ(2, konst(0x10)),
    ...advanceQ(3),
    ...join64(F_TERM_LO, F_TERM_HI),
    ...varint64(),
    ...storeByteAtQ(0, konst(0x18)),
    ...advanceQ(1),
    ...join64(F_INDEX_LO, F_INDEX_HI),
    ...varint64(),
    ...[...get(F_LEN), IF, VOID],
    ...storeByteAtQ(0, konst(0x22)),
    ...advanceQ(1),
    ...[...get(F_LEN), ...set(F_V), ...varint32(), END],
    // ...copied in front of the payload: the record's data, checksummed where it is.
    ...[...get(F_Q), ...konst(HEAD_TMP), I32_SUB, ...set(F_HEAD)],
    ...[...get(F_POS), ...konst(ENTRY_HEAD_ROOM), I32_ADD, ...get(F_HEAD), I32_SUB, ...set(F_SRC)],
    ...[...get(F_SRC), ...konst(HEAD_TMP), ...get(F_HEAD), ...MEMORY_COPY],
    ...[...get(F_HEAD), ...get(F_LEN), I32_ADD, ...set(F_DATA)],
    ...[...get(F_SRC), ...get(F_DATA), ...get(F_CRC_IN), ...konst(2), I32_XOR, CALL, 0],
    ...set(F_CRC),
    // Sizes: record head = type tag and type, crc tag and crc, data tag and length.
    ...[...konst(4), ...varintSize32(F_CRC), I32_ADD, ...varintSize32(F_DATA), I32_ADD],
    ...set(F_FRAME_HEAD),
    ...[...get(F_FRAME_HEAD), ...get(F_DATA), I32_ADD, ...set(F_REC)],
    ...[...konst(0), ...get(F_REC), I32_SUB, ...konst(7), I32_AND, ...set(F_PAD)],
    // The data down to its place after the heads (the regions may overlap: memmove).
    ...[...get(F_POS), ...konst(8), I32_ADD, ...get(F_FRAME_HEAD), I32_ADD],
    ...[...get(F_SRC), ...get(F_DATA), ...MEMORY_COPY],
    // The length field: the record length, and 0x80 | pad in the top byte (record.ts).
    ...[...get(F_POS), ...get(F_REC), I32_STORE, 0, 0],
    ...[...get(F_POS), ...konst(0x80), ...get(F_PAD), I32_OR, ...konst(24), I32_SHL],
    ...[I32_STORE, 0, 4],
    // The record head.
    ...[...get(F_POS), ...konst(8), I32_ADD, ...set(F_Q)],
    ...storeByteAtQ(0, konst(0x08)),
    ...storeByteAtQ(1, konst(2)), // RecordType.Entry
    ...storeByteAtQ(2, konst(0x10)),
    ...advanceQ(3),
    ...[...get(F_CRC), ...set(F_V), ...varint32()],
    ...storeByteAtQ(0, konst(0x1a)),
    ...advanceQ(1),
    ...[...get(F_DATA), ...set(F_V), ...varint32()],
    // Zero padding (eight zero bytes; the next frame overwrites the extra ones), the crc out.
    ...[...get(F_POS), ...konst(8), I32_ADD, ...get(F_REC), I32_ADD, ...set(F_END)],
    ...[...get(F_END), I64_CONST, 0, I64_STORE, 0, 0],
    ...[...konst(CRC_SLOT), ...get(F_CRC), I32_STORE, 0, 0],
    ...[...get(F_END), ...get(F_PAD), I32_ADD, END],
  ]
  const locals = [2, 10, I32, 1, I64] // ten i32 locals, then one i64
  return [...uleb(locals.length + code.length), ...locals, ...code]
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content]
}

const name = (s: string) => [s.length, ...Array.from(s, (ch) => ch.charCodeAt(0))]

function assemble(): Uint8Array {
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    // Type 0: (i32 x 3) -> i32, crc; type 1: (i32 x 8) -> i32, frame.
    ...section(1, [2, 0x60, 3, I32, I32, I32, 1, I32, 0x60, 8, ...Array(8).fill(I32), 1, I32]),
    ...section(3, [2, 0, 1]), // function 0 has type 0, function 1 type 1
    ...section(5, [1, 0, 2]), // one memory, two pages to start
    ...section(7, [3, ...name('crc'), 0, 0, ...name('frame'), 0, 1, ...name('mem'), 2, 0]),
    ...section(10, [2, ...crcBody(), ...frameBody()]),
  ])
}

// ES2022 and @types/node 20 leave WebAssembly's JavaScript API undeclared; the part used here.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object) => { exports: unknown }
}

interface KernelExports {
  crc: (p: number, n: number, c: number) => number
  frame: (
    pos: number,
    len: number,
    type: number,
    termLo: number,
    termHi: number,
    indexLo: number,
    indexHi: number,
    crcIn: number,
  ) => number
  mem: { buffer: ArrayBuffer; grow(pages: number): number }
}

const wasm = new WebAssembly.Instance(new WebAssembly.Module(assemble()))
  .exports as unknown as KernelExports

;(() => {
  const t = new Uint32Array(wasm.mem.buffer, 0, TABLES * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1
    t[n] = c >>> 0
  }
  for (let s = 1; s < TABLES; s++) {
    for (let n = 0; n < 256; n++) {
      const prev = t[(s - 1) * 256 + n] as number
      t[s * 256 + n] = ((t[prev & 0xff] as number) ^ (prev >>> 8)) >>> 0
    }
  }
})()

let scratchView: Buffer | undefined
/** wasm.mem.buffer, which is a call into the engine; replaced when the memory grows. */
let memBuffer = wasm.mem.buffer
/** The memory as 32-bit words, to read frame()'s crc; replaced with memBuffer. */
let memWords = new Uint32Array(memBuffer)

/**
 * A Buffer of at least `bytes` bytes inside the module's memory, reused from call to call. Growing
 * the memory detaches every earlier view, so a caller must not keep one past its next call.
 */
export function wasmScratch(bytes: number): Buffer {
  if (scratchView === undefined || scratchView.length < bytes) {
    const needPages = Math.ceil((SCRATCH_BASE + bytes) / PAGE_BYTES)
    const havePages = memBuffer.byteLength / PAGE_BYTES
    if (needPages > havePages) wasm.mem.grow(needPages - havePages)
    memBuffer = wasm.mem.buffer
    memWords = new Uint32Array(memBuffer)
    scratchView = Buffer.from(memBuffer, SCRATCH_BASE, memBuffer.byteLength - SCRATCH_BASE)
  }
  return scratchView
}

/** Whether `buf` lies in the module's memory, where crc32cWasm can read it. */
export function inWasmMemory(buf: Uint8Array): boolean {
  // The identity test first: reading `buffer` of a typed array costs more than a short crc.
  return buf === scratchView || buf.buffer === memBuffer
}

/** The CRC-32C of buf[start, end) continuing from `initial`; buf must be in the module's memory. */
export function crc32cWasm(buf: Uint8Array, start: number, end: number, initial: number): number {
  assert(start <= end && end <= buf.length && inWasmMemory(buf), 'crc32cWasm outside its memory')
  return wasm.crc(buf.byteOffset + start, end - start, initial) >>> 0
}

/**
 * The largest payload frameEntry takes. Larger ones are framed in JavaScript and checksummed by
 * the native crc, whose call costs more but whose loop is faster: one call into WebAssembly,
 * checksum included, framed a 1 KiB entry in 0.8-1.1 µs against 1.0-1.4 µs, a 2,000-byte one
 * in about the same time, and a 4 KiB one in 3.6 against 1.5-2.6 µs (x86-64, Node 20).
 */
export const FRAME_ENTRY_PAYLOAD_MAX = 1535

/**
 * Frames entry `e` as an entry record at `pos` of the scratch (wasmScratch), chaining its crc from
 * `crcIn`, and returns where the next frame goes; the record's crc is then frameEntryCrc(). The
 * same bytes as wal.ts's JavaScript framing, with the varints, the moves and the checksum in one
 * call into WebAssembly: for small entries the framing cost more than the checksum did. Needs
 * ENTRY_HEAD_ROOM + payload bytes of room at `pos`; `e.type` must be one byte and the payload at
 * most FRAME_ENTRY_PAYLOAD_MAX bytes.
 */
export function frameEntry(scratch: Buffer, pos: number, e: Entry, crcIn: number): number {
  const data = e.data
  assert(
    scratch === scratchView &&
      data.length <= FRAME_ENTRY_PAYLOAD_MAX &&
      pos + ENTRY_HEAD_ROOM + data.length <= scratch.length,
    'frameEntry outside its limits',
  )
  if (data.length > 0) scratch.set(data, pos + ENTRY_HEAD_ROOM)
  const { term, index } = e
  // The halves of numbers up to 2^53: >>> 0 keeps the low 32 bits of an integer that large.
  const end = wasm.frame(
    SCRATCH_BASE + pos,
    data.length,
    e.type,
    term >>> 0,
    (term / 0x1_0000_0000) >>> 0,
    index >>> 0,
    (index / 0x1_0000_0000) >>> 0,
    crcIn,
  )
  return end - SCRATCH_BASE
}

/** The crc of the record the last frameEntry() framed. */
export function frameEntryCrc(): number {
  return memWords[CRC_SLOT >> 2] as number
}
