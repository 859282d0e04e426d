/**
 * The Lease service's messages (etcd api/etcdserverpb/rpc.proto, 3.4): LeaseGrant, LeaseRevoke,
 * LeaseKeepAlive, LeaseTimeToLive, LeaseLeases, and LeaseCheckpoint, which only travels in raft
 * entries (etcd's InternalRaftRequest field). Also leasepb's LeaseInternalRequest/Response, the
 * bodies of etcd's peer-port POST /leases/internal (a follower forwarding TimeToLive).
 *
 * Lease ids are int64 on the wire and `bigint` here (a client may choose a negative one, which
 * etcd's checks then refuse); TTLs are seconds as `number` (wire.ts saturates absurd ones).
 */

import { ResponseHeaderCodec, emptyCodec, headerOnlyCodec, type Empty } from './rpc-kv.js'
import type { HeaderOnlyResponse, ResponseHeader } from './rpc-kv.js'
import {
  WIRE_BYTES,
  WIRE_VARINT,
  bigSize,
  delimitedSize,
  int64Size,
  nestedSize,
  readNested,
  writeNested,
  type MessageCodec,
  type Reader,
  type Writer,
} from './wire.js'

function headerSize(h: ResponseHeader | null): number {
  return h === null ? 0 : nestedSize(1, ResponseHeaderCodec, h)
}

function writeHeader(w: Writer, h: ResponseHeader | null): void {
  if (h !== null) writeNested(w, 1, ResponseHeaderCodec, h)
}

function readId(r: Reader): bigint {
  r.expect(WIRE_VARINT, 'ID')
  return r.int64Big()
}

function readTtl(r: Reader, field = 'TTL'): number {
  r.expect(WIRE_VARINT, field)
  return r.int64()
}

// ---------------------------------------------------------------------------------------------
// LeaseGrant

export interface LeaseGrantRequest {
  /** Seconds; the server raises it to its minimum TTL. */
  ttl: number
  /** 0n: the server chooses. */
  id: bigint
}

export const LeaseGrantRequestCodec: MessageCodec<LeaseGrantRequest> = {
  name: 'etcdserverpb.LeaseGrantRequest',
  size(q) {
    let n = 0
    if (q.ttl !== 0) n += 1 + int64Size(q.ttl)
    if (q.id !== 0n) n += 1 + bigSize(q.id)
    return n
  },
  write(w, q) {
    if (q.ttl !== 0) w.int64(1, q.ttl)
    if (q.id !== 0n) w.bigField(2, q.id)
  },
  read(r) {
    const q: LeaseGrantRequest = { ttl: 0, id: 0n }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          q.ttl = readTtl(r)
          break
        case 2:
          q.id = readId(r)
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

export interface LeaseGrantResponse {
  header: ResponseHeader | null
  id: bigint
  ttl: number
  error: string
}

export const LeaseGrantResponseCodec: MessageCodec<LeaseGrantResponse> = {
  name: 'etcdserverpb.LeaseGrantResponse',
  size(s) {
    let n = headerSize(s.header)
    if (s.id !== 0n) n += 1 + bigSize(s.id)
    if (s.ttl !== 0) n += 1 + int64Size(s.ttl)
    if (s.error.length > 0) n += delimitedSize(4, Buffer.byteLength(s.error, 'utf8'))
    return n
  },
  write(w, s) {
    writeHeader(w, s.header)
    if (s.id !== 0n) w.bigField(2, s.id)
    if (s.ttl !== 0) w.int64(3, s.ttl)
    if (s.error.length > 0) w.string(4, s.error, Buffer.byteLength(s.error, 'utf8'))
  },
  read(r) {
    const s: LeaseGrantResponse = { header: null, id: 0n, ttl: 0, error: '' }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readNested(r, ResponseHeaderCodec, 'Header')
          break
        case 2:
          s.id = readId(r)
          break
        case 3:
          s.ttl = readTtl(r)
          break
        case 4:
          r.expect(WIRE_BYTES, 'Error')
          s.error = r.string()
          break
        default:
          r.skip()
      }
    }
    return s
  },
}

// ---------------------------------------------------------------------------------------------
// Messages of one id: LeaseRevokeRequest, LeaseKeepAliveRequest.

export interface LeaseIdRequest {
  id: bigint
}

function idRequestCodec(name: string): MessageCodec<LeaseIdRequest> {
  return {
    name,
    size: (q) => (q.id === 0n ? 0 : 1 + bigSize(q.id)),
    write(w, q) {
      if (q.id !== 0n) w.bigField(1, q.id)
    },
    read(r) {
      const q: LeaseIdRequest = { id: 0n }
      while (r.pos < r.limit) {
        if (r.tag() === 1) q.id = readId(r)
        else r.skip()
      }
      return q
    },
  }
}

export type LeaseRevokeRequest = LeaseIdRequest
export const LeaseRevokeRequestCodec = idRequestCodec('etcdserverpb.LeaseRevokeRequest')
export type LeaseRevokeResponse = HeaderOnlyResponse
export const LeaseRevokeResponseCodec = headerOnlyCodec('etcdserverpb.LeaseRevokeResponse')

export type LeaseKeepAliveRequest = LeaseIdRequest
export const LeaseKeepAliveRequestCodec = idRequestCodec('etcdserverpb.LeaseKeepAliveRequest')

export interface LeaseKeepAliveResponse {
  header: ResponseHeader | null
  id: bigint
  /** The new TTL in seconds; 0 for an unknown or expired lease (etcd). */
  ttl: number
}

export const LeaseKeepAliveResponseCodec: MessageCodec<LeaseKeepAliveResponse> = {
  name: 'etcdserverpb.LeaseKeepAliveResponse',
  size(s) {
    let n = headerSize(s.header)
    if (s.id !== 0n) n += 1 + bigSize(s.id)
    if (s.ttl !== 0) n += 1 + int64Size(s.ttl)
    return n
  },
  write(w, s) {
    writeHeader(w, s.header)
    if (s.id !== 0n) w.bigField(2, s.id)
    if (s.ttl !== 0) w.int64(3, s.ttl)
  },
  read(r) {
    const s: LeaseKeepAliveResponse = { header: null, id: 0n, ttl: 0 }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readNested(r, ResponseHeaderCodec, 'Header')
          break
        case 2:
          s.id = readId(r)
          break
        case 3:
          s.ttl = readTtl(r)
          break
        default:
          r.skip()
      }
    }
    return s
  },
}

// ---------------------------------------------------------------------------------------------
// LeaseTimeToLive

export interface LeaseTimeToLiveRequest {
  id: bigint
  /** Also list the keys attached to the lease. */
  keys: boolean
}

export const LeaseTimeToLiveRequestCodec: MessageCodec<LeaseTimeToLiveRequest> = {
  name: 'etcdserverpb.LeaseTimeToLiveRequest',
  size(q) {
    let n = 0
    if (q.id !== 0n) n += 1 + bigSize(q.id)
    if (q.keys) n += 2
    return n
  },
  write(w, q) {
    if (q.id !== 0n) w.bigField(1, q.id)
    if (q.keys) w.bool(2, true)
  },
  read(r) {
    const q: LeaseTimeToLiveRequest = { id: 0n, keys: false }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          q.id = readId(r)
          break
        case 2:
          r.expect(WIRE_VARINT, 'Keys')
          q.keys = r.bool()
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

export interface LeaseTimeToLiveResponse {
  header: ResponseHeader | null
  id: bigint
  /** Remaining seconds; -1 for an unknown or expired lease (etcd). */
  ttl: number
  grantedTtl: number
  keys: Uint8Array[]
}

export const LeaseTimeToLiveResponseCodec: MessageCodec<LeaseTimeToLiveResponse> = {
  name: 'etcdserverpb.LeaseTimeToLiveResponse',
  size(s) {
    let n = headerSize(s.header)
    if (s.id !== 0n) n += 1 + bigSize(s.id)
    if (s.ttl !== 0) n += 1 + int64Size(s.ttl)
    if (s.grantedTtl !== 0) n += 1 + int64Size(s.grantedTtl)
    for (const k of s.keys) n += delimitedSize(5, k.length)
    return n
  },
  write(w, s) {
    writeHeader(w, s.header)
    if (s.id !== 0n) w.bigField(2, s.id)
    if (s.ttl !== 0) w.int64(3, s.ttl)
    if (s.grantedTtl !== 0) w.int64(4, s.grantedTtl)
    for (const k of s.keys) w.bytes(5, k)
  },
  read(r) {
    const s: LeaseTimeToLiveResponse = { header: null, id: 0n, ttl: 0, grantedTtl: 0, keys: [] }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readNested(r, ResponseHeaderCodec, 'Header')
          break
        case 2:
          s.id = readId(r)
          break
        case 3:
          s.ttl = readTtl(r)
          break
        case 4:
          s.grantedTtl = readTtl(r, 'GrantedTTL')
          break
        case 5:
          r.expect(WIRE_BYTES, 'Keys')
          s.keys.push(r.bytes())
          break
        default:
          r.skip()
      }
    }
    return s
  },
}

// ---------------------------------------------------------------------------------------------
// LeaseLeases

export type LeaseLeasesRequest = Empty
export const LeaseLeasesRequestCodec = emptyCodec('etcdserverpb.LeaseLeasesRequest')

export interface LeaseStatus {
  id: bigint
}

export const LeaseStatusCodec: MessageCodec<LeaseStatus> = idRequestCodec(
  'etcdserverpb.LeaseStatus',
)

export interface LeaseLeasesResponse {
  header: ResponseHeader | null
  leases: LeaseStatus[]
}

export const LeaseLeasesResponseCodec: MessageCodec<LeaseLeasesResponse> = {
  name: 'etcdserverpb.LeaseLeasesResponse',
  size(s) {
    let n = headerSize(s.header)
    for (const l of s.leases) n += nestedSize(2, LeaseStatusCodec, l)
    return n
  },
  write(w, s) {
    writeHeader(w, s.header)
    for (const l of s.leases) writeNested(w, 2, LeaseStatusCodec, l)
  },
  read(r) {
    const s: LeaseLeasesResponse = { header: null, leases: [] }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readNested(r, ResponseHeaderCodec, 'Header')
          break
        case 2:
          s.leases.push(readNested(r, LeaseStatusCodec, 'Leases'))
          break
        default:
          r.skip()
      }
    }
    return s
  },
}

// ---------------------------------------------------------------------------------------------
// LeaseCheckpoint (raft entries only)

export interface LeaseCheckpoint {
  id: bigint
  /** Seconds left when the leader checkpointed it. */
  remainingTtl: number
}

export const LeaseCheckpointCodec: MessageCodec<LeaseCheckpoint> = {
  name: 'etcdserverpb.LeaseCheckpoint',
  size(c) {
    let n = 0
    if (c.id !== 0n) n += 1 + bigSize(c.id)
    if (c.remainingTtl !== 0) n += 1 + int64Size(c.remainingTtl)
    return n
  },
  write(w, c) {
    if (c.id !== 0n) w.bigField(1, c.id)
    if (c.remainingTtl !== 0) w.int64(2, c.remainingTtl)
  },
  read(r) {
    const c: LeaseCheckpoint = { id: 0n, remainingTtl: 0 }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          c.id = readId(r)
          break
        case 2:
          c.remainingTtl = readTtl(r, 'Remaining_TTL')
          break
        default:
          r.skip()
      }
    }
    return c
  },
}

export interface LeaseCheckpointRequest {
  checkpoints: LeaseCheckpoint[]
}

export const LeaseCheckpointRequestCodec: MessageCodec<LeaseCheckpointRequest> = {
  name: 'etcdserverpb.LeaseCheckpointRequest',
  size(q) {
    let n = 0
    for (const c of q.checkpoints) n += nestedSize(1, LeaseCheckpointCodec, c)
    return n
  },
  write(w, q) {
    for (const c of q.checkpoints) writeNested(w, 1, LeaseCheckpointCodec, c)
  },
  read(r) {
    const q: LeaseCheckpointRequest = { checkpoints: [] }
    while (r.pos < r.limit) {
      if (r.tag() === 1) q.checkpoints.push(readNested(r, LeaseCheckpointCodec, 'Checkpoints'))
      else r.skip()
    }
    return q
  },
}

export type LeaseCheckpointResponse = HeaderOnlyResponse
export const LeaseCheckpointResponseCodec = headerOnlyCodec('etcdserverpb.LeaseCheckpointResponse')

// ---------------------------------------------------------------------------------------------
// leasepb (lease/leasepb/lease.proto): the peer port's POST /leases/internal bodies.

export interface LeaseInternalRequest {
  leaseTimeToLiveRequest: LeaseTimeToLiveRequest | null
}

export const LeaseInternalRequestCodec: MessageCodec<LeaseInternalRequest> = {
  name: 'leasepb.LeaseInternalRequest',
  size: (q) =>
    q.leaseTimeToLiveRequest === null
      ? 0
      : nestedSize(1, LeaseTimeToLiveRequestCodec, q.leaseTimeToLiveRequest),
  write(w, q) {
    if (q.leaseTimeToLiveRequest !== null) {
      writeNested(w, 1, LeaseTimeToLiveRequestCodec, q.leaseTimeToLiveRequest)
    }
  },
  read(r) {
    const q: LeaseInternalRequest = { leaseTimeToLiveRequest: null }
    while (r.pos < r.limit) {
      if (r.tag() === 1) {
        q.leaseTimeToLiveRequest = readNested(
          r,
          LeaseTimeToLiveRequestCodec,
          'LeaseTimeToLiveRequest',
        )
      } else r.skip()
    }
    return q
  },
}

export interface LeaseInternalResponse {
  leaseTimeToLiveResponse: LeaseTimeToLiveResponse | null
}

export const LeaseInternalResponseCodec: MessageCodec<LeaseInternalResponse> = {
  name: 'leasepb.LeaseInternalResponse',
  size: (s) =>
    s.leaseTimeToLiveResponse === null
      ? 0
      : nestedSize(1, LeaseTimeToLiveResponseCodec, s.leaseTimeToLiveResponse),
  write(w, s) {
    if (s.leaseTimeToLiveResponse !== null) {
      writeNested(w, 1, LeaseTimeToLiveResponseCodec, s.leaseTimeToLiveResponse)
    }
  },
  read(r) {
    const s: LeaseInternalResponse = { leaseTimeToLiveResponse: null }
    while (r.pos < r.limit) {
      if (r.tag() === 1) {
        s.leaseTimeToLiveResponse = readNested(
          r,
          LeaseTimeToLiveResponseCodec,
          'LeaseTimeToLiveResponse',
        )
      } else r.skip()
    }
    return s
  },
}
