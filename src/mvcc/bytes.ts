/**
 * Byte strings as JS strings: each byte one UTF-16 code unit (latin1), so `<` on the strings is
 * the byte order of the keys (etcd compares keys with bytes.Compare). Maps and the key index are
 * keyed by these.
 */

const SMALL = 64

export function latin1(b: Uint8Array): string {
  if (b.length <= SMALL) {
    let s = ''
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!)
    return s
  }
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1')
}

/**
 * A copy (never a view, as Buffer's slice() is): for bytes kept beyond a call, so a caller's
 * larger buffer (a decoded request) is not held alive.
 */
export function copyBytes(b: Uint8Array, from = 0, to = b.length): Uint8Array {
  return Uint8Array.prototype.slice.call(b, from, to)
}

export function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}
