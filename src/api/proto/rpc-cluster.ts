/**
 * The Cluster service's messages (etcd api/etcdserverpb/rpc.proto): Member, and MemberList,
 * MemberAdd, MemberRemove, MemberUpdate, MemberPromote. Member ids are uint64, held as bigint.
 */

import { ResponseHeaderCodec, type ResponseHeader } from './rpc-kv.js'
import {
  WIRE_BYTES,
  WIRE_VARINT,
  bigSize,
  delimitedSize,
  nestedSize,
  readNested,
  stringByteLength,
  writeNested,
  type MessageCodec,
  type Reader,
  type Writer,
} from './wire.js'

export interface Member {
  id: bigint
  /** Empty while an added member has not started yet. */
  name: string
  peerUrls: string[]
  clientUrls: string[]
  isLearner: boolean
}

export function member(init: Partial<Member> = {}): Member {
  return { id: 0n, name: '', peerUrls: [], clientUrls: [], isLearner: false, ...init }
}

function stringsSize(field: number, xs: readonly string[]): number {
  let n = 0
  for (const x of xs) n += delimitedSize(field, stringByteLength(x))
  return n
}

function writeStrings(w: Writer, field: number, xs: readonly string[]): void {
  for (const x of xs) w.string(field, x, stringByteLength(x))
}

function readString(r: Reader, field: string): string {
  r.expect(WIRE_BYTES, field)
  return r.string()
}

function readId(r: Reader): bigint {
  r.expect(WIRE_VARINT, 'ID')
  return r.uint64Big()
}

export const MemberCodec: MessageCodec<Member> = {
  name: 'etcdserverpb.Member',
  size(m) {
    let n = 0
    if (m.id !== 0n) n += 1 + bigSize(m.id)
    if (m.name.length > 0) n += delimitedSize(2, stringByteLength(m.name))
    n += stringsSize(3, m.peerUrls) + stringsSize(4, m.clientUrls)
    if (m.isLearner) n += 2
    return n
  },
  write(w, m) {
    if (m.id !== 0n) w.bigField(1, m.id)
    if (m.name.length > 0) w.string(2, m.name, stringByteLength(m.name))
    writeStrings(w, 3, m.peerUrls)
    writeStrings(w, 4, m.clientUrls)
    if (m.isLearner) w.bool(5, true)
  },
  read(r) {
    const m = member()
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          m.id = readId(r)
          break
        case 2:
          m.name = readString(r, 'Name')
          break
        case 3:
          m.peerUrls.push(readString(r, 'PeerURLs'))
          break
        case 4:
          m.clientUrls.push(readString(r, 'ClientURLs'))
          break
        case 5:
          r.expect(WIRE_VARINT, 'IsLearner')
          m.isLearner = r.bool()
          break
        default:
          r.skip()
      }
    }
    return m
  },
}

function membersSize(field: number, ms: readonly Member[]): number {
  let n = 0
  for (const m of ms) n += nestedSize(field, MemberCodec, m)
  return n
}

function writeMembers(w: Writer, field: number, ms: readonly Member[]): void {
  for (const m of ms) writeNested(w, field, MemberCodec, m)
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface MemberListRequest {
  /** 3.5's field; 3.4 clients never set it (3.4 servers answer MemberList linearizably anyway). */
  linearizable: boolean
}

export const MemberListRequestCodec: MessageCodec<MemberListRequest> = {
  name: 'etcdserverpb.MemberListRequest',
  size: (q) => (q.linearizable ? 2 : 0),
  write(w, q) {
    if (q.linearizable) w.bool(1, true)
  },
  read(r) {
    const q: MemberListRequest = { linearizable: false }
    while (r.pos < r.limit) {
      if (r.tag() === 1) {
        r.expect(WIRE_VARINT, 'Linearizable')
        q.linearizable = r.bool()
      } else r.skip()
    }
    return q
  },
}

export interface MemberAddRequest {
  peerUrls: string[]
  isLearner: boolean
}

export const MemberAddRequestCodec: MessageCodec<MemberAddRequest> = {
  name: 'etcdserverpb.MemberAddRequest',
  size: (q) => stringsSize(1, q.peerUrls) + (q.isLearner ? 2 : 0),
  write(w, q) {
    writeStrings(w, 1, q.peerUrls)
    if (q.isLearner) w.bool(2, true)
  },
  read(r) {
    const q: MemberAddRequest = { peerUrls: [], isLearner: false }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          q.peerUrls.push(readString(r, 'PeerURLs'))
          break
        case 2:
          r.expect(WIRE_VARINT, 'IsLearner')
          q.isLearner = r.bool()
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

/** MemberRemoveRequest and MemberPromoteRequest: only the member's id. */
export interface MemberIdRequest {
  id: bigint
}

function idRequestCodec(name: string): MessageCodec<MemberIdRequest> {
  return {
    name,
    size: (q) => (q.id !== 0n ? 1 + bigSize(q.id) : 0),
    write(w, q) {
      if (q.id !== 0n) w.bigField(1, q.id)
    },
    read(r) {
      const q: MemberIdRequest = { id: 0n }
      while (r.pos < r.limit) {
        if (r.tag() === 1) q.id = readId(r)
        else r.skip()
      }
      return q
    },
  }
}

export type MemberRemoveRequest = MemberIdRequest
export const MemberRemoveRequestCodec = idRequestCodec('etcdserverpb.MemberRemoveRequest')
export type MemberPromoteRequest = MemberIdRequest
export const MemberPromoteRequestCodec = idRequestCodec('etcdserverpb.MemberPromoteRequest')

export interface MemberUpdateRequest {
  id: bigint
  peerUrls: string[]
}

export const MemberUpdateRequestCodec: MessageCodec<MemberUpdateRequest> = {
  name: 'etcdserverpb.MemberUpdateRequest',
  size: (q) => (q.id !== 0n ? 1 + bigSize(q.id) : 0) + stringsSize(2, q.peerUrls),
  write(w, q) {
    if (q.id !== 0n) w.bigField(1, q.id)
    writeStrings(w, 2, q.peerUrls)
  },
  read(r) {
    const q: MemberUpdateRequest = { id: 0n, peerUrls: [] }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          q.id = readId(r)
          break
        case 2:
          q.peerUrls.push(readString(r, 'PeerURLs'))
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

// ---------------------------------------------------------------------------------------------
// Responses

/** MemberList, MemberRemove, MemberUpdate and MemberPromote responses: header and members. */
export interface MembersResponse {
  header: ResponseHeader | null
  members: Member[]
}

function membersResponseCodec(name: string): MessageCodec<MembersResponse> {
  return {
    name,
    size: (s) =>
      (s.header === null ? 0 : nestedSize(1, ResponseHeaderCodec, s.header)) +
      membersSize(2, s.members),
    write(w, s) {
      if (s.header !== null) writeNested(w, 1, ResponseHeaderCodec, s.header)
      writeMembers(w, 2, s.members)
    },
    read(r) {
      const s: MembersResponse = { header: null, members: [] }
      while (r.pos < r.limit) {
        switch (r.tag()) {
          case 1:
            s.header = readNested(r, ResponseHeaderCodec, 'Header')
            break
          case 2:
            s.members.push(readNested(r, MemberCodec, 'Members'))
            break
          default:
            r.skip()
        }
      }
      return s
    },
  }
}

export type MemberListResponse = MembersResponse
export const MemberListResponseCodec = membersResponseCodec('etcdserverpb.MemberListResponse')
export type MemberRemoveResponse = MembersResponse
export const MemberRemoveResponseCodec = membersResponseCodec('etcdserverpb.MemberRemoveResponse')
export type MemberUpdateResponse = MembersResponse
export const MemberUpdateResponseCodec = membersResponseCodec('etcdserverpb.MemberUpdateResponse')
export type MemberPromoteResponse = MembersResponse
export const MemberPromoteResponseCodec = membersResponseCodec('etcdserverpb.MemberPromoteResponse')

export interface MemberAddResponse {
  header: ResponseHeader | null
  /** The member added. */
  member: Member | null
  /** The whole membership after the change. */
  members: Member[]
}

export const MemberAddResponseCodec: MessageCodec<MemberAddResponse> = {
  name: 'etcdserverpb.MemberAddResponse',
  size(s) {
    let n = s.header === null ? 0 : nestedSize(1, ResponseHeaderCodec, s.header)
    if (s.member !== null) n += nestedSize(2, MemberCodec, s.member)
    return n + membersSize(3, s.members)
  },
  write(w, s) {
    if (s.header !== null) writeNested(w, 1, ResponseHeaderCodec, s.header)
    if (s.member !== null) writeNested(w, 2, MemberCodec, s.member)
    writeMembers(w, 3, s.members)
  },
  read(r) {
    const s: MemberAddResponse = { header: null, member: null, members: [] }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readNested(r, ResponseHeaderCodec, 'Header')
          break
        case 2:
          s.member = readNested(r, MemberCodec, 'Member')
          break
        case 3:
          s.members.push(readNested(r, MemberCodec, 'Members'))
          break
        default:
          r.skip()
      }
    }
    return s
  },
}
