/**
 * The replicated state machine the simulator drives: a tiny KV store over a fixed set of integer
 * keys, with put and compare-and-set. Each command carries a client id and a sequence number;
 * the state machine remembers each client's last sequence and result, so a retried proposal that
 * commits twice takes effect once (Raft thesis §6.3).
 *
 * Command layout, 6 little-endian int32 words: op, client, seq, key, value, expected.
 * Snapshot layout, int32 words: applied, hash, then the values, the last sequence per client and
 * the last result per client.
 */
import type { Entry, Snapshot } from '../raft/index.js'
import type { AppliedConfChange } from '../node/index.js'
import type { KvResult, Machine, ReadResult } from './machine.js'

export const enum Op {
  Put = 1,
  Cas = 2,
  /** Server machine only: an etcd DeleteRange of one key. */
  Delete = 3,
}

export const KEY_COUNT = 8
export const CLIENT_COUNT_MAX = 8
const COMMAND_BYTES = 24

export interface Command {
  op: Op
  client: number
  seq: number
  key: number
  value: number
  expected: number
}

export function encodeCommand(c: Command): Uint8Array {
  const out = new Uint8Array(COMMAND_BYTES)
  const words = [c.op, c.client, c.seq, c.key, c.value, c.expected]
  for (let w = 0; w < words.length; w++) writeI32(out, w * 4, words[w] as number)
  return out
}

/** FNV-1a over the bytes: a cheap fingerprint for entries in checkers and traces. */
export function hashBytes(data: Uint8Array): number {
  let h = 0x811c9dc5
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ (data[i] as number), 0x01000193)
  return h >>> 0
}

export function mixHash(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1)
  return (h ^ (h >>> 15)) >>> 0
}

export class KvStateMachine implements Machine {
  /** Invariant: every entry up to `applied` is reflected, none after it. */
  applied: number
  /** A rolling hash of every entry applied (term and data), carried through snapshots. */
  hash: number
  readonly values = new Int32Array(KEY_COUNT)
  readonly lastSeq = new Int32Array(CLIENT_COUNT_MAX)
  readonly lastResult = new Int32Array(CLIENT_COUNT_MAX)
  /** Set by apply(): the client and sequence of the entry just applied, or -1. */
  appliedClient = -1
  appliedSeq = -1

  constructor(applied: number, hash: number) {
    this.applied = applied
    this.hash = hash
  }

  /** Applies the next entry; an empty entry (a new leader's) only advances the index. */
  apply(e: Entry): void {
    if (e.index !== this.applied + 1) {
      throw new Error(`state machine at ${this.applied} cannot apply entry ${e.index}`)
    }
    this.applied = e.index
    this.hash = mixHash(mixHash(this.hash, e.term), hashBytes(e.data))
    this.appliedClient = -1
    this.appliedSeq = -1
    const d = e.data
    if (d.length !== COMMAND_BYTES) return
    const client = readI32(d, 4)
    const seq = readI32(d, 8)
    this.appliedClient = client
    this.appliedSeq = seq
    if (seq <= (this.lastSeq[client] as number)) return // a retry that already took effect
    const op = readI32(d, 0) as Op
    const key = readI32(d, 12)
    let result = 1
    if (op === Op.Put) this.values[key] = readI32(d, 16)
    else if (this.values[key] === readI32(d, 20)) this.values[key] = readI32(d, 16)
    else result = 0
    this.lastSeq[client] = seq
    this.lastResult[client] = result
  }

  applyEntry(e: Entry): KvResult {
    this.apply(e)
    const client = this.appliedClient
    return { index: e.index, ok: client < 0 || this.lastResult[client] === 1 }
  }

  applyConfChange(c: AppliedConfChange): void {
    this.apply({ index: c.index, term: c.term, type: 0, data: new Uint8Array(0) })
  }

  restore(snap: Snapshot): KvStateMachine {
    const sm = KvStateMachine.restore(snap.data)
    if (sm.applied !== snap.metadata.index)
      throw new Error('snapshot data does not match its index')
    return sm
  }

  /** Keys start at 0 and no put writes 0, so 0 is absent (null). */
  read(key: number): ReadResult {
    const v = this.values[key] as number
    return { value: v === 0 ? null : v, revision: 0 }
  }

  crashed(): void {}

  background(): void {}

  reopen(): KvStateMachine {
    return this
  }

  describeLast(): string {
    return this.appliedClient < 0 ? '(empty)' : `client ${this.appliedClient} #${this.appliedSeq}`
  }

  snapshot(): Uint8Array {
    const words = 2 + KEY_COUNT + 2 * CLIENT_COUNT_MAX
    const out = new Uint8Array(words * 4)
    writeI32(out, 0, this.applied)
    writeI32(out, 4, this.hash | 0)
    let o = 8
    for (const arr of [this.values, this.lastSeq, this.lastResult]) {
      for (let i = 0; i < arr.length; i++, o += 4) writeI32(out, o, arr[i] as number)
    }
    return out
  }

  static restore(data: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine(readI32(data, 0), readI32(data, 4) >>> 0)
    let o = 8
    for (const arr of [sm.values, sm.lastSeq, sm.lastResult]) {
      for (let i = 0; i < arr.length; i++, o += 4) arr[i] = readI32(data, o)
    }
    return sm
  }
}

function writeI32(out: Uint8Array, o: number, v: number): void {
  out[o] = v & 0xff
  out[o + 1] = (v >>> 8) & 0xff
  out[o + 2] = (v >>> 16) & 0xff
  out[o + 3] = (v >>> 24) & 0xff
}

function readI32(d: Uint8Array, o: number): number {
  return (
    (d[o] as number) |
    ((d[o + 1] as number) << 8) |
    ((d[o + 2] as number) << 16) |
    ((d[o + 3] as number) << 24)
  )
}
