/**
 * The Watch service's messages (etcd api/etcdserverpb/rpc.proto): WatchRequest (a oneof of
 * create, cancel and progress requests), WatchCreateRequest, WatchCancelRequest,
 * WatchProgressRequest and WatchResponse. Field numbers and types are etcd's; the encoding is
 * gogoproto's (wire.ts): `filters` is a repeated enum, written packed and read packed or not.
 *
 * A oneof left unset is `{ type: 'none' }`: etcd's server ignores such a request, so it is kept
 * rather than refused here.
 */

import { EventCodec, type Event } from './kv.js'
import { ResponseHeaderCodec, type ResponseHeader } from './rpc-kv.js'
import {
  EMPTY_BYTES,
  WIRE_BYTES,
  WIRE_VARINT,
  delimitedSize,
  int64Size,
  nestedSize,
  readNested,
  stringByteLength,
  tagSize,
  varintSize,
  writeNested,
  Writer,
  type MessageCodec,
  type Reader,
} from './wire.js'

/** WatchCreateRequest.FilterType. */
export const WatchFilterType = { NOPUT: 0, NODELETE: 1 } as const

export interface WatchCreateRequest {
  key: Uint8Array
  rangeEnd: Uint8Array
  startRevision: number
  progressNotify: boolean
  /** WatchFilterType values; proto3 enums are open, so unknown values arrive as sent. */
  filters: number[]
  prevKv: boolean
  watchId: number
  fragment: boolean
}

export function watchCreateRequest(init: Partial<WatchCreateRequest> = {}): WatchCreateRequest {
  return {
    key: EMPTY_BYTES,
    rangeEnd: EMPTY_BYTES,
    startRevision: 0,
    progressNotify: false,
    filters: [],
    prevKv: false,
    watchId: 0,
    fragment: false,
    ...init,
  }
}

export interface WatchCancelRequest {
  watchId: number
}

export type WatchProgressRequest = Record<string, never>

export type WatchRequest =
  | { type: 'none' }
  | { type: 'createRequest'; createRequest: WatchCreateRequest }
  | { type: 'cancelRequest'; cancelRequest: WatchCancelRequest }
  | { type: 'progressRequest'; progressRequest: WatchProgressRequest }

export interface WatchResponse {
  header: ResponseHeader | null
  watchId: number
  created: boolean
  canceled: boolean
  compactRevision: number
  cancelReason: string
  fragment: boolean
  events: Event[]
  /**
   * The events already encoded (field 11, repeated), written instead of `events` when set: one
   * change sent to many watchers of a stream is encoded once (encodeWatchEvents). Never set by
   * the decoder.
   */
  encodedEvents?: Uint8Array
}

/** `events` as WatchResponse's field 11 entries, for WatchResponse.encodedEvents. */
export function encodeWatchEvents(events: readonly Event[]): Uint8Array {
  let n = 0
  for (const e of events) n += nestedSize(11, EventCodec, e)
  const buf = Buffer.allocUnsafe(n)
  const w = new Writer(buf)
  for (const e of events) writeNested(w, 11, EventCodec, e)
  return buf
}

/** A response header as WatchResponse's field 1, for writeWatchEventsFrame. */
export function encodeWatchHeaderField(header: ResponseHeader): Uint8Array {
  const buf = Buffer.allocUnsafe(nestedSize(1, ResponseHeaderCodec, header))
  writeNested(new Writer(buf), 1, ResponseHeaderCodec, header)
  return buf
}

/** The bytes writeWatchEventsFrame writes for these parts. */
export function watchEventsFrameSize(
  headerField: Uint8Array,
  watchId: number,
  encodedEvents: Uint8Array,
): number {
  return (
    5 + headerField.length + (watchId === 0 ? 0 : 1 + int64Size(watchId)) + encodedEvents.length
  )
}

/**
 * The common delivery, a WatchResponse of a header, a watch id and events, as a gRPC message
 * frame (the 5-byte prefix, then what WatchResponseCodec writes for it, byte for byte), written
 * into `buf` at `at` (watchEventsFrameSize bytes) from its parts encoded once: `headerField`
 * (encodeWatchHeaderField) and `encodedEvents` (encodeWatchEvents) are shared by every watcher
 * a change reaches. Returns the position after it.
 */
export function writeWatchEventsFrame(
  buf: Buffer,
  at: number,
  headerField: Uint8Array,
  watchId: number,
  encodedEvents: Uint8Array,
): number {
  const end = at + watchEventsFrameSize(headerField, watchId, encodedEvents)
  buf[at] = 0
  buf.writeUInt32BE(end - at - 5, at + 1)
  buf.set(headerField, at + 5)
  const w = new Writer(buf, at + 5 + headerField.length)
  if (watchId !== 0) w.int64(2, watchId)
  buf.set(encodedEvents, w.pos)
  return end
}

export function watchResponse(init: Partial<WatchResponse> = {}): WatchResponse {
  return {
    header: null,
    watchId: 0,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: '',
    fragment: false,
    events: [],
    ...init,
  }
}

function filtersBodySize(fs: readonly number[]): number {
  let n = 0
  for (const f of fs) n += int64Size(f)
  return n
}

export const WatchCreateRequestCodec: MessageCodec<WatchCreateRequest> = {
  name: 'etcdserverpb.WatchCreateRequest',
  size(q) {
    let n = 0
    if (q.key.length > 0) n += delimitedSize(1, q.key.length)
    if (q.rangeEnd.length > 0) n += delimitedSize(2, q.rangeEnd.length)
    if (q.startRevision !== 0) n += 1 + int64Size(q.startRevision)
    if (q.progressNotify) n += 2
    if (q.filters.length > 0) n += delimitedSize(5, filtersBodySize(q.filters))
    if (q.prevKv) n += 2
    if (q.watchId !== 0) n += 1 + int64Size(q.watchId)
    if (q.fragment) n += 2
    return n
  },
  write(w, q) {
    if (q.key.length > 0) w.bytes(1, q.key)
    if (q.rangeEnd.length > 0) w.bytes(2, q.rangeEnd)
    if (q.startRevision !== 0) w.int64(3, q.startRevision)
    if (q.progressNotify) w.bool(4, true)
    if (q.filters.length > 0) {
      w.header(5, filtersBodySize(q.filters))
      for (const f of q.filters) w.int64Value(f)
    }
    if (q.prevKv) w.bool(6, true)
    if (q.watchId !== 0) w.int64(7, q.watchId)
    if (q.fragment) w.bool(8, true)
  },
  read(r) {
    const q = watchCreateRequest()
    q.filters = []
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_BYTES, 'Key')
          q.key = r.bytes()
          break
        case 2:
          r.expect(WIRE_BYTES, 'RangeEnd')
          q.rangeEnd = r.bytes()
          break
        case 3:
          r.expect(WIRE_VARINT, 'StartRevision')
          q.startRevision = r.int64()
          break
        case 4:
          r.expect(WIRE_VARINT, 'ProgressNotify')
          q.progressNotify = r.bool()
          break
        case 5:
          readFilters(r, q.filters)
          break
        case 6:
          r.expect(WIRE_VARINT, 'PrevKv')
          q.prevKv = r.bool()
          break
        case 7:
          r.expect(WIRE_VARINT, 'WatchId')
          q.watchId = r.int64()
          break
        case 8:
          r.expect(WIRE_VARINT, 'Fragment')
          q.fragment = r.bool()
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

/** A repeated enum, packed (one length-delimited run) or one value per tag, as gogoproto reads. */
function readFilters(r: Reader, out: number[]): void {
  if (r.wire === WIRE_VARINT) {
    out.push(r.int32())
    return
  }
  r.expect(WIRE_BYTES, 'Filters')
  const outer = r.enter()
  while (r.pos < r.limit) out.push(r.int32())
  r.leave(outer)
}

export const WatchCancelRequestCodec: MessageCodec<WatchCancelRequest> = {
  name: 'etcdserverpb.WatchCancelRequest',
  size(q) {
    return q.watchId !== 0 ? 1 + int64Size(q.watchId) : 0
  },
  write(w, q) {
    if (q.watchId !== 0) w.int64(1, q.watchId)
  },
  read(r) {
    const q: WatchCancelRequest = { watchId: 0 }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_VARINT, 'WatchId')
          q.watchId = r.int64()
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

export const WatchProgressRequestCodec: MessageCodec<WatchProgressRequest> = {
  name: 'etcdserverpb.WatchProgressRequest',
  size() {
    return 0
  },
  write() {},
  read(r) {
    while (r.pos < r.limit) {
      r.tag()
      r.skip()
    }
    return {}
  },
}

export const WatchRequestCodec: MessageCodec<WatchRequest> = {
  name: 'etcdserverpb.WatchRequest',
  size(q) {
    switch (q.type) {
      case 'none':
        return 0
      case 'createRequest':
        return nestedSize(1, WatchCreateRequestCodec, q.createRequest)
      case 'cancelRequest':
        return nestedSize(2, WatchCancelRequestCodec, q.cancelRequest)
      case 'progressRequest':
        return nestedSize(3, WatchProgressRequestCodec, q.progressRequest)
    }
  },
  write(w, q) {
    switch (q.type) {
      case 'none':
        return
      case 'createRequest':
        return writeNested(w, 1, WatchCreateRequestCodec, q.createRequest)
      case 'cancelRequest':
        return writeNested(w, 2, WatchCancelRequestCodec, q.cancelRequest)
      case 'progressRequest':
        return writeNested(w, 3, WatchProgressRequestCodec, q.progressRequest)
    }
  },
  read(r) {
    // The last member of the oneof on the wire wins, as in gogoproto.
    let q: WatchRequest = { type: 'none' }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          q = {
            type: 'createRequest',
            createRequest: readNested(r, WatchCreateRequestCodec, 'CreateRequest'),
          }
          break
        case 2:
          q = {
            type: 'cancelRequest',
            cancelRequest: readNested(r, WatchCancelRequestCodec, 'CancelRequest'),
          }
          break
        case 3:
          q = {
            type: 'progressRequest',
            progressRequest: readNested(r, WatchProgressRequestCodec, 'ProgressRequest'),
          }
          break
        default:
          r.skip()
      }
    }
    return q
  },
}

export const WatchResponseCodec: MessageCodec<WatchResponse> = {
  name: 'etcdserverpb.WatchResponse',
  size(s) {
    let n = 0
    if (s.header !== null) n += nestedSize(1, ResponseHeaderCodec, s.header)
    if (s.watchId !== 0) n += 1 + int64Size(s.watchId)
    if (s.created) n += 2
    if (s.canceled) n += 2
    if (s.compactRevision !== 0) n += 1 + int64Size(s.compactRevision)
    if (s.cancelReason.length > 0) n += delimitedSize(6, stringByteLength(s.cancelReason))
    if (s.fragment) n += 2
    if (s.encodedEvents !== undefined) return n + s.encodedEvents.length
    for (let i = 0; i < s.events.length; i++) n += nestedSize(11, EventCodec, s.events[i]!)
    return n
  },
  write(w: Writer, s) {
    if (s.header !== null) writeNested(w, 1, ResponseHeaderCodec, s.header)
    if (s.watchId !== 0) w.int64(2, s.watchId)
    if (s.created) w.bool(3, true)
    if (s.canceled) w.bool(4, true)
    if (s.compactRevision !== 0) w.int64(5, s.compactRevision)
    if (s.cancelReason.length > 0) {
      w.string(6, s.cancelReason, stringByteLength(s.cancelReason))
    }
    if (s.fragment) w.bool(7, true)
    if (s.encodedEvents !== undefined) {
      w.buf.set(s.encodedEvents, w.pos)
      w.pos += s.encodedEvents.length
      return
    }
    for (let i = 0; i < s.events.length; i++) writeNested(w, 11, EventCodec, s.events[i]!)
  },
  read(r) {
    const s = watchResponse()
    s.events = []
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          s.header = readNested(r, ResponseHeaderCodec, 'Header')
          break
        case 2:
          r.expect(WIRE_VARINT, 'WatchId')
          s.watchId = r.int64()
          break
        case 3:
          r.expect(WIRE_VARINT, 'Created')
          s.created = r.bool()
          break
        case 4:
          r.expect(WIRE_VARINT, 'Canceled')
          s.canceled = r.bool()
          break
        case 5:
          r.expect(WIRE_VARINT, 'CompactRevision')
          s.compactRevision = r.int64()
          break
        case 6:
          r.expect(WIRE_BYTES, 'CancelReason')
          s.cancelReason = r.string()
          break
        case 7:
          r.expect(WIRE_VARINT, 'Fragment')
          s.fragment = r.bool()
          break
        case 11:
          s.events.push(readNested(r, EventCodec, 'Events'))
          break
        default:
          r.skip()
      }
    }
    return s
  },
}

/** The size of one event inside a WatchResponse (tag, length and body): fragmenting counts it. */
export function watchEventSize(e: Event): number {
  const n = EventCodec.size(e)
  return tagSize(11) + varintSize(n) + n
}
