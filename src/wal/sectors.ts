/**
 * Sectors, the unit a disk writes atomically: what a torn write leaves is whole sectors of the
 * write, the others as they were before it (zeros, in a segment). record.ts says how the WAL uses
 * that to tell a torn write from damaged data; this module holds the two tests on bytes.
 *
 * A piece is the part of a batch inside one 512-byte sector (by file offset). A piece is weak when
 * it holds fewer than two set bits: a single flipped bit could then make it read as zeros, like a
 * piece that was never written.
 */

/** 512 bytes: the smallest sector disks have, so the finest a torn write can be. */
export const SECTOR_BYTES = 512

/**
 * Whether the bytes of `chunks`, laid out back to back from file offset `start`, hold a weak
 * piece among those that end at a sector boundary. The last piece, when it ends inside a sector,
 * is not looked at: the caller follows the bytes with a commit record, whose length field (two
 * set bits or more) lies in that piece too. Typical data has two set bits in its first bytes, so
 * a piece usually costs one or two byte loads.
 */
export function hasWeakSector(chunks: readonly Uint8Array[], start: number): boolean {
  let pos = start // the file offset of the next byte
  // The end of the current piece, moved on as pieces end (not a division per chunk: a batch is
  // many small chunks, two per record, and this ran for 3% of a leader's main thread).
  let boundary = (Math.floor(start / SECTOR_BYTES) + 1) * SECTOR_BYTES
  let bits = 0 // set bits in the current piece, counted up to 2
  for (const c of chunks) {
    const len = c.length
    // Bounded by the chunk's length: each pass moves at least one byte or to the next piece.
    for (let i = 0; i < len;) {
      const n = Math.min(len - i, boundary - pos)
      if (bits < 2) bits = countBits(c, i, i + n, bits)
      i += n
      pos += n
      if (pos === boundary) {
        if (bits < 2) return true
        bits = 0
        boundary += SECTOR_BYTES
      }
    }
  }
  return false
}

/** `bits` plus the set bits of buf[from, to), stopping at 2. */
function countBits(buf: Uint8Array, from: number, to: number, bits: number): number {
  for (let i = from; i < to; i++) {
    const b = buf[i] as number
    if (b === 0) continue
    bits += (b & (b - 1)) === 0 ? 1 : 2
    if (bits >= 2) return 2
  }
  return bits
}

/**
 * The offset of the first piece of [start, end) of `buf` that reads as all zeros (bytes past the
 * end of `buf` read as zeros, as past the end of a file), or undefined if there is none.
 */
export function zeroPiece(buf: Uint8Array, start: number, end: number): number | undefined {
  // Bounded by the range: each pass moves to the next sector boundary.
  for (let a = start; a < end;) {
    const b = Math.min(end, (Math.floor(a / SECTOR_BYTES) + 1) * SECTOR_BYTES)
    if (allZero(buf, a, b)) return a
    a = b
  }
  return undefined
}

/** Whether buf[from, to) is all zeros (bytes past the end of `buf` count as zeros). */
export function allZero(buf: Uint8Array, from: number, to: number): boolean {
  const end = Math.min(to, buf.length)
  for (let i = from; i < end; i++) if (buf[i] !== 0) return false
  return true
}
