/**
 * The snapshot format: every entry of both buckets, checksummed whole. It is the raft snapshot's
 * payload (etcd sends its bbolt file; ours is smaller and the same for both backends):
 *
 *     "PNTNMVCC" (8) | format u32 (1) | entry count u32
 *     per entry: bucket u8 (1 key, 2 meta) | key length u32 | value length u32 | key | value
 *     CRC-32C (Castagnoli) u32 of everything before it
 *
 * All integers big-endian. Decoding checks everything before anything is used.
 */
import { crc32c } from '@node-rs/crc32'
import type { BackendEntry, Bucket } from './backend.js'
import { snapshotCorrupt } from './errors.js'

const MAGIC = 'PNTNMVCC'
const FORMAT = 1
const HEAD_BYTES = 16
const ENTRY_HEAD_BYTES = 9

export function encodeSnapshot(entries: readonly BackendEntry[]): Uint8Array {
  let size = HEAD_BYTES + 4
  for (const e of entries) size += ENTRY_HEAD_BYTES + e.key.length + e.value.length
  const out = Buffer.allocUnsafe(size)
  out.write(MAGIC, 0, 'latin1')
  out.writeUInt32BE(FORMAT, 8)
  out.writeUInt32BE(entries.length, 12)
  let at = HEAD_BYTES
  for (const e of entries) {
    out[at] = e.bucket === 'key' ? 1 : 2
    out.writeUInt32BE(e.key.length, at + 1)
    out.writeUInt32BE(e.value.length, at + 5)
    at += ENTRY_HEAD_BYTES
    out.set(e.key, at)
    at += e.key.length
    out.set(e.value, at)
    at += e.value.length
  }
  out.writeUInt32BE(crc32c(out.subarray(0, at)) >>> 0, at)
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

/** The entries of a snapshot, as views into `bytes`; a SNAPSHOT_CORRUPT MvccError if bad. */
export function decodeSnapshot(bytes: Uint8Array): BackendEntry[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  if (b.length < HEAD_BYTES + 4) throw snapshotCorrupt(`${b.length} bytes, too short`)
  if (b.toString('latin1', 0, 8) !== MAGIC) throw snapshotCorrupt('not a Pontoon mvcc snapshot')
  const format = b.readUInt32BE(8)
  if (format !== FORMAT) throw snapshotCorrupt(`format ${format}, expected ${FORMAT}`)
  const body = b.length - 4
  const want = b.readUInt32BE(body)
  const got = crc32c(b.subarray(0, body)) >>> 0
  if (want !== got) throw snapshotCorrupt(`checksum ${hex(got)}, expected ${hex(want)}`)
  const count = b.readUInt32BE(12)
  const entries: BackendEntry[] = []
  let at = HEAD_BYTES
  for (let i = 0; i < count; i++) {
    if (at + ENTRY_HEAD_BYTES > body) throw snapshotCorrupt(`entry ${i} runs past the end`)
    const tag = b[at]
    const bucket: Bucket | undefined = tag === 1 ? 'key' : tag === 2 ? 'meta' : undefined
    if (bucket === undefined) throw snapshotCorrupt(`entry ${i} has bucket ${tag}`)
    const keyLen = b.readUInt32BE(at + 1)
    const valueLen = b.readUInt32BE(at + 5)
    at += ENTRY_HEAD_BYTES
    if (at + keyLen + valueLen > body) throw snapshotCorrupt(`entry ${i} runs past the end`)
    entries.push({
      bucket,
      key: bytes.subarray(at, at + keyLen),
      value: bytes.subarray(at + keyLen, at + keyLen + valueLen),
    })
    at += keyLen + valueLen
  }
  if (at !== body) throw snapshotCorrupt(`${body - at} bytes after the last entry`)
  return entries
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0')
}
