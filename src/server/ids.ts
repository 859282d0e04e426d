/**
 * Member and cluster ids, derived as etcd derives them (etcdserver/api/membership: member.go
 * computeMemberId, cluster.go genID), so that a cluster started with the same flags has the same
 * ids under etcd and under Pontoon, and a data dir of another member or cluster is recognised.
 *
 *   member id  = first 8 bytes (big endian) of SHA-1(sorted peer URLs joined, then the token)
 *   cluster id = first 8 bytes (big endian) of SHA-1(the member ids, sorted, 8 bytes each)
 */
import { createHash } from 'node:crypto'

export function memberId(peerUrls: readonly string[], clusterToken: string): bigint {
  const joined = [...peerUrls].sort().join('')
  return first8(
    createHash('sha1')
      .update(joined + clusterToken)
      .digest(),
  )
}

export function clusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const buf = Buffer.alloc(8 * sorted.length)
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i))
  return first8(createHash('sha1').update(buf).digest())
}

/**
 * etcd's request id generator (pkg/idutil), which also names leases granted without an id: the
 * member id's low 16 bits, then 40 bits of the start time in milliseconds and an 8-bit counter,
 * the low 48 bits incremented per id.
 */
export class IdGenerator {
  private readonly prefix: bigint
  private suffix: bigint

  constructor(memberId: bigint, nowMs: number) {
    this.prefix = (memberId & 0xffffn) << 48n
    this.suffix = (BigInt(Math.floor(nowMs)) & 0xff_ffff_ffffn) << 8n
  }

  next(): bigint {
    this.suffix = (this.suffix + 1n) & 0xffff_ffff_ffffn
    return this.prefix | this.suffix
  }
}

/** An id as etcd prints it: lower-case hex, no leading zeros. */
export function hexId(id: bigint): string {
  return id.toString(16)
}

function first8(digest: Buffer): bigint {
  return digest.readBigUInt64BE(0)
}
