/**
 * CRC-32C (Castagnoli), the WAL's checksum. Large inputs go to @node-rs/crc32 (SSE4.2 / ARMv8
 * instructions); small ones are done here, slicing by 8, because a call into the native module
 * costs more than checksumming a hundred bytes in JavaScript, and the WAL checksums every record
 * on its own (the crc is chained record by record), most of them small. Both give the same value,
 * with the same chaining convention: crc32c(b, crc32c(a)) === crc32c(a ++ b). bench/README.md has
 * the figures behind the threshold, and those of a third path, WebAssembly, measured and removed.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32'

/** Below this many bytes the JavaScript loop is faster than a native call (bench/README.md). */
export const NATIVE_BYTES_MIN = 160

const POLY = 0x82f63b78

const TABLES = ((): Uint32Array[] => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256))
  const t0 = t[0] as Uint32Array
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1
    t0[n] = c >>> 0
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n] as number
    for (let s = 1; s < 8; s++) {
      c = ((t0[c & 0xff] as number) ^ (c >>> 8)) >>> 0
      ;(t[s] as Uint32Array)[n] = c
    }
  }
  return t
})()

const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
]

function crc32cJs(buf: Uint8Array, initial: number, start = 0, end = buf.length): number {
  let c = ~initial >>> 0
  let i = start
  const end8 = end - ((end - start) % 8)
  // Bounded by the input length; 8 bytes per pass.
  for (; i < end8; i += 8) {
    c ^= (buf[i] as number) | ((buf[i + 1] as number) << 8) | ((buf[i + 2] as number) << 16)
    c ^= (buf[i + 3] as number) << 24
    c =
      (T7[c & 0xff] as number) ^
      (T6[(c >>> 8) & 0xff] as number) ^
      (T5[(c >>> 16) & 0xff] as number) ^
      (T4[c >>> 24] as number) ^
      (T3[buf[i + 4] as number] as number) ^
      (T2[buf[i + 5] as number] as number) ^
      (T1[buf[i + 6] as number] as number) ^
      (T0[buf[i + 7] as number] as number)
  }
  for (; i < end; i++) c = (T0[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8)
  return ~c >>> 0
}

/** The CRC-32C of `buf`, continuing from `initial` (the crc of what came before; 0 to start). */
export function crc32c(buf: Uint8Array, initial = 0): number {
  return buf.length < NATIVE_BYTES_MIN ? crc32cJs(buf, initial) : nativeCrc32c(buf, initial)
}

/** The CRC-32C of buf[start, end), without making a view when the JavaScript path serves. */
export function crc32cRange(buf: Uint8Array, start: number, end: number, initial = 0): number {
  if (end - start < NATIVE_BYTES_MIN) return crc32cJs(buf, initial, start, end)
  return nativeCrc32c(buf.subarray(start, end), initial)
}

/** For tests: the JavaScript path whatever the length. */
export const crc32cPortable = crc32cJs
