/**
 * mvccpb (etcd api/mvccpb/kv.proto): KeyValue, and Event for the watch service to come.
 */

import type { Writer } from './wire.js'
import {
  EMPTY_BYTES,
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
} from './wire.js'

export interface KeyValue {
  key: Uint8Array
  createRevision: number
  modRevision: number
  version: number
  value: Uint8Array
  /** The lease id; 0n means none. */
  lease: bigint
}

export function keyValue(init: Partial<KeyValue> = {}): KeyValue {
  return {
    key: EMPTY_BYTES,
    createRevision: 0,
    modRevision: 0,
    version: 0,
    value: EMPTY_BYTES,
    lease: 0n,
    ...init,
  }
}

export const KeyValueCodec: MessageCodec<KeyValue> = {
  name: 'mvccpb.KeyValue',
  size(kv) {
    let n = 0
    if (kv.key.length > 0) n += delimitedSize(1, kv.key.length)
    if (kv.createRevision !== 0) n += 1 + int64Size(kv.createRevision)
    if (kv.modRevision !== 0) n += 1 + int64Size(kv.modRevision)
    if (kv.version !== 0) n += 1 + int64Size(kv.version)
    if (kv.value.length > 0) n += delimitedSize(5, kv.value.length)
    if (kv.lease !== 0n) n += 1 + bigSize(kv.lease)
    return n
  },
  write(w: Writer, kv) {
    if (kv.key.length > 0) w.bytes(1, kv.key)
    if (kv.createRevision !== 0) w.int64(2, kv.createRevision)
    if (kv.modRevision !== 0) w.int64(3, kv.modRevision)
    if (kv.version !== 0) w.int64(4, kv.version)
    if (kv.value.length > 0) w.bytes(5, kv.value)
    if (kv.lease !== 0n) w.bigField(6, kv.lease)
  },
  read(r: Reader) {
    const kv = keyValue()
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_BYTES, 'Key')
          kv.key = r.bytes()
          break
        case 2:
          r.expect(WIRE_VARINT, 'CreateRevision')
          kv.createRevision = r.int64()
          break
        case 3:
          r.expect(WIRE_VARINT, 'ModRevision')
          kv.modRevision = r.int64()
          break
        case 4:
          r.expect(WIRE_VARINT, 'Version')
          kv.version = r.int64()
          break
        case 5:
          r.expect(WIRE_BYTES, 'Value')
          kv.value = r.bytes()
          break
        case 6:
          r.expect(WIRE_VARINT, 'Lease')
          kv.lease = r.int64Big()
          break
        default:
          r.skip()
      }
    }
    return kv
  },
}

export const EventType = { PUT: 0, DELETE: 1 } as const

export interface Event {
  /** EventType: PUT (0) or DELETE (1); other values are kept as they came. */
  type: number
  kv: KeyValue | null
  prevKv: KeyValue | null
}

export const EventCodec: MessageCodec<Event> = {
  name: 'mvccpb.Event',
  size(e) {
    let n = 0
    if (e.type !== 0) n += 1 + int64Size(e.type)
    if (e.kv !== null) n += nestedSize(2, KeyValueCodec, e.kv)
    if (e.prevKv !== null) n += nestedSize(3, KeyValueCodec, e.prevKv)
    return n
  },
  write(w, e) {
    if (e.type !== 0) w.int64(1, e.type)
    if (e.kv !== null) writeNested(w, 2, KeyValueCodec, e.kv)
    if (e.prevKv !== null) writeNested(w, 3, KeyValueCodec, e.prevKv)
  },
  read(r) {
    const e: Event = { type: 0, kv: null, prevKv: null }
    while (r.pos < r.limit) {
      switch (r.tag()) {
        case 1:
          r.expect(WIRE_VARINT, 'Type')
          e.type = r.int32()
          break
        case 2:
          e.kv = readNested(r, KeyValueCodec, 'Kv')
          break
        case 3:
          e.prevKv = readNested(r, KeyValueCodec, 'PrevKv')
          break
        default:
          r.skip()
      }
    }
    return e
  },
}
