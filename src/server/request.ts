/**
 * What the server proposes to raft: one request per entry, a kind byte and the request's
 * protobuf encoding (etcd wraps requests in an InternalRaftRequest; one byte does the same job
 * here). KV requests travel in their gRPC encoding, so a put is encoded once by the client and
 * once by the leader; member attributes (etcd's publish) are JSON, rare and small.
 */
import {
  CompactionRequestCodec,
  DeleteRangeRequestCodec,
  LeaseCheckpointRequestCodec,
  LeaseGrantRequestCodec,
  LeaseRevokeRequestCodec,
  PutRequestCodec,
  TxnRequestCodec,
  decodeMessage,
  encodeMessage,
  type CompactionRequest,
  type DeleteRangeRequest,
  type LeaseCheckpointRequest,
  type LeaseGrantRequest,
  type LeaseRevokeRequest,
  type PutRequest,
  type TxnRequest,
} from '../api/index.js'

/** A member's name and client URLs, published through raft once it serves (etcd publish). */
export interface MemberAttributes {
  id: bigint
  name: string
  clientUrls: string[]
}

export type RaftRequest =
  | { type: 'put'; put: PutRequest }
  | { type: 'deleteRange'; deleteRange: DeleteRangeRequest }
  | { type: 'txn'; txn: TxnRequest }
  | { type: 'compaction'; compaction: CompactionRequest }
  | { type: 'attributes'; attributes: MemberAttributes }
  /** A grant's id is never 0 here: the member that proposes it chooses one (etcd reqIDGen). */
  | { type: 'leaseGrant'; leaseGrant: LeaseGrantRequest }
  | { type: 'leaseRevoke'; leaseRevoke: LeaseRevokeRequest }
  | { type: 'leaseCheckpoint'; leaseCheckpoint: LeaseCheckpointRequest }

const KIND = {
  put: 1,
  deleteRange: 2,
  txn: 3,
  compaction: 4,
  attributes: 5,
  leaseGrant: 6,
  leaseRevoke: 7,
  leaseCheckpoint: 8,
} as const

export function encodeRequest(r: RaftRequest): Uint8Array {
  switch (r.type) {
    case 'put':
      return withKind(KIND.put, encodeMessage(PutRequestCodec, r.put, 1))
    case 'deleteRange':
      return withKind(KIND.deleteRange, encodeMessage(DeleteRangeRequestCodec, r.deleteRange, 1))
    case 'txn':
      return withKind(KIND.txn, encodeMessage(TxnRequestCodec, r.txn, 1))
    case 'compaction':
      return withKind(KIND.compaction, encodeMessage(CompactionRequestCodec, r.compaction, 1))
    case 'attributes': {
      const a = r.attributes
      const json = JSON.stringify({ id: a.id.toString(16), name: a.name, clientUrls: a.clientUrls })
      const body = Buffer.from(json, 'utf8')
      const out = new Uint8Array(1 + body.length)
      out.set(body, 1)
      return withKind(KIND.attributes, out)
    }
    case 'leaseGrant':
      return withKind(KIND.leaseGrant, encodeMessage(LeaseGrantRequestCodec, r.leaseGrant, 1))
    case 'leaseRevoke':
      return withKind(KIND.leaseRevoke, encodeMessage(LeaseRevokeRequestCodec, r.leaseRevoke, 1))
    case 'leaseCheckpoint':
      return withKind(
        KIND.leaseCheckpoint,
        encodeMessage(LeaseCheckpointRequestCodec, r.leaseCheckpoint, 1),
      )
  }
}

/** The buffer was encoded with one byte of headroom: the kind goes there, nothing is copied. */
function withKind(kind: number, buf: Uint8Array): Uint8Array {
  buf[0] = kind
  return buf
}

/** Decodes an entry's data; a malformed one is a corrupt log, so the caller treats it as fatal. */
export function decodeRequest(data: Uint8Array): RaftRequest {
  const body = data.subarray(1)
  switch (data[0]) {
    case KIND.put:
      return { type: 'put', put: decodeMessage(PutRequestCodec, body) }
    case KIND.deleteRange:
      return { type: 'deleteRange', deleteRange: decodeMessage(DeleteRangeRequestCodec, body) }
    case KIND.txn:
      return { type: 'txn', txn: decodeMessage(TxnRequestCodec, body) }
    case KIND.compaction:
      return { type: 'compaction', compaction: decodeMessage(CompactionRequestCodec, body) }
    case KIND.attributes: {
      const j = JSON.parse(Buffer.from(body).toString('utf8')) as {
        id: string
        name: string
        clientUrls: string[]
      }
      return {
        type: 'attributes',
        attributes: { id: BigInt(`0x${j.id}`), name: j.name, clientUrls: j.clientUrls },
      }
    }
    case KIND.leaseGrant:
      return { type: 'leaseGrant', leaseGrant: decodeMessage(LeaseGrantRequestCodec, body) }
    case KIND.leaseRevoke:
      return { type: 'leaseRevoke', leaseRevoke: decodeMessage(LeaseRevokeRequestCodec, body) }
    case KIND.leaseCheckpoint:
      return {
        type: 'leaseCheckpoint',
        leaseCheckpoint: decodeMessage(LeaseCheckpointRequestCodec, body),
      }
    default:
      throw new Error(`server: an entry of unknown kind ${data[0]}`)
  }
}
