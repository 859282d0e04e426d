/**
 * The Maintenance service's Status call (etcd api/etcdserverpb/rpc.proto, the fields of 3.4).
 */

import { emptyCodec, ResponseHeaderCodec, type Empty, type ResponseHeader } from './rpc-kv.js'
import {
  WIRE_BYTES,
  WIRE_VARINT,
  bigSize,
  delimitedSize,
  int64Size,
  nestedSize,
  readNested,
  stringByteLength,
  writeNested,
  type MessageCodec,
} from './wire.js'

export type StatusRequest = Empty
export const StatusRequestCodec = emptyCodec('etcdserverpb.StatusRequest')

export interface StatusResponse {
  header: ResponseHeader | null
  version: string
  dbSize: number
  /** The leader's member id; 0n when there is none. */
  leader: bigint
  raftIndex: number
  raftTerm: number
  raftAppliedIndex: number
  errors: string[]
  dbSizeInUse: number
  isLearner: boolean
}

export function statusResponse(init: Partial<StatusResponse> = {}): StatusResponse {
  return {
    header: null,
    version: '',
    dbSize: 0,
    leader: 0n,
    raftIndex: 0,
    raftTerm: 0,
    raftAppliedIndex: 0,
    errors: [],
    dbSizeInUse: 0,
    isLearner: false,
    ...init,
  }
}

export const StatusResponseCodec: MessageCodec<StatusResponse> = {
  name: 'etcdserverpb.StatusResponse',
  size(s) {
    let n = s.header === null ? 0 : nestedSize(1, ResponseHeaderCodec, s.header)
    if (s.version.length > 0) n += delimitedSize(2, stringByteLength(s.version))
    if (s.dbSize !== 0) n += 1 + int64Size(s.dbSize)
    if (s.leader !== 0n) n += 1 + bigSize(s.leader)
    if (s.raftIndex !== 0) n += 1 + int64Size(s.raftIndex)
    if (s.raftTerm !== 0) n += 1 + int64Size(s.raftTerm)
    if (s.raftAppliedIndex !== 0) n += 1 + int64Size(s.raftAppliedIndex)
    for (const e of s.errors) n += delimitedSize(8, stringByteLength(e))
    if (s.dbSizeInUse !== 0) n += 1 + int64Size(s.dbSizeInUse)
    if (s.isLearner) n += 2
    return n
  },
  write(w, s) {
    if (s.header !== null) writeNested(w, 1, ResponseHeaderCodec, s.header)
    if (s.version.length > 0) w.string(2, s.version, stringByteLength(s.version))
    if (s.dbSize !== 0) w.int64(3, s.dbSize)
    if (s.leader !== 0n) w.bigField(4, s.leader)
    if (s.raftIndex !== 0) w.int64(5, s.raftIndex)
    if (s.raftTerm !== 0) w.int64(6, s.raftTerm)
    if (s.raftAppliedIndex !== 0) w.int64(7, s.raftAppliedIndex)
    for (const e of s.errors) w.string(8, e, stringByteLength(e))
    if (s.dbSizeInUse !== 0) w.int64(9, s.dbSizeInUse)
    if (s.isLearner) w.bool(10, true)
  },
  read(r) {
    const s = statusResponse()
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readNested(r, ResponseHeaderCodec, 'Header')
          break
        case 2:
          r.expect(WIRE_BYTES, 'Version')
          s.version = r.string()
          break
        case 3:
          r.expect(WIRE_VARINT, 'DbSize')
          s.dbSize = r.int64()
          break
        case 4:
          r.expect(WIRE_VARINT, 'Leader')
          s.leader = r.uint64Big()
          break
        case 5:
          r.expect(WIRE_VARINT, 'RaftIndex')
          s.raftIndex = r.uint64()
          break
        case 6:
          r.expect(WIRE_VARINT, 'RaftTerm')
          s.raftTerm = r.uint64()
          break
        case 7:
          r.expect(WIRE_VARINT, 'RaftAppliedIndex')
          s.raftAppliedIndex = r.uint64()
          break
        case 8:
          r.expect(WIRE_BYTES, 'Errors')
          s.errors.push(r.string())
          break
        case 9:
          r.expect(WIRE_VARINT, 'DbSizeInUse')
          s.dbSizeInUse = r.int64()
          break
        case 10:
          r.expect(WIRE_VARINT, 'IsLearner')
          s.isLearner = r.bool()
          break
        default:
          r.skip()
      }
    }
    return s
  },
}
