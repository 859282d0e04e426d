/**
 * The clients' etcd requests on the server machine (`--machine=server`): Put, DeleteRange of one
 * key, Txn compare-and-swap (value == expected, or version == 0 for an absent key; then a put,
 * else a range of the key) and linearizable Range (the driver's ReadIndex, then the server's
 * local range on that member), over a few keys, encoded as the server encodes them
 * (src/server/request.ts) and applied by its apply path on every member.
 *
 * etcd has no deduplication: a write is sent once. A write refused before it reached raft
 * certainly took no effect (`fail`); one that timed out, or whose node crashed or lost its
 * leadership, has an unknown outcome (`info`: it may take effect at any later point, or never).
 *
 * Besides the history, the responses are checked here: a txn's branch agrees with what its
 * failure range saw, and revisions follow the log (`checkRevisions`): a write applied at a later
 * index has a revision at least as high, strictly higher when it wrote, and a read at index i
 * sees a revision no lower than any write's at or below i.
 */
import {
  CompareResult,
  CompareTarget,
  deleteRangeRequest,
  putRequest,
  rangeRequest,
  type Compare,
  type TxnRequest,
} from '../api/index.js'
import { encodeRequest, type RaftRequest } from '../server/index.js'
import { Violation } from './checkers.js'
import type { Cluster } from './cluster.js'
import type { Value } from './history.js'
import { Op, type Command } from './kv.js'
import type { KvResult } from './machine.js'
import type { Prng } from './prng.js'
import type { ServerMachine } from './server-machine.js'
import { SERVER_KEY_COUNT, decodeServerValue, serverKey, serverValue } from './server-machine.js'

/** A response's revision at the raft index that produced it (a write) or served it (a read). */
export interface RevisionAt {
  index: number
  revision: number
  /** A write that changed the store (its revision is a new one). */
  wrote: boolean
  what: string
}

const EMPTY = new Uint8Array(0)
/** Chance per tick of a compaction request, at or a little below the leader's revision. */
const COMPACT_RATE = 0.01

export class ServerOps {
  /** Per key, the value of the latest write invoked or read seen (0: absent): cas expectations. */
  private readonly latest = new Array<number>(SERVER_KEY_COUNT).fill(0)
  private readonly writes: RevisionAt[] = []
  private readonly reads: RevisionAt[] = []
  /** Compactions proposed (their outcome is not in the history: they change no key's value). */
  compactions = 0

  constructor(
    private readonly c: Cluster,
    private readonly p: Prng,
  ) {}

  /** Draws the next operation into `cmd` (`value` is fresh, never written before). */
  choose(cmd: Command, isRead: boolean, value: number): void {
    const p = this.p
    const key = p.intn(SERVER_KEY_COUNT)
    cmd.key = key
    cmd.value = value
    cmd.expected = 0
    if (isRead) return
    if (p.chance(0.35)) {
      cmd.op = Op.Cas
      cmd.expected = p.chance(0.7) ? (this.latest[key] as number) : p.intn(value)
      this.latest[key] = value
    } else if (p.chance(0.25)) {
      cmd.op = Op.Delete
      this.latest[key] = 0
    } else {
      cmd.op = Op.Put
      this.latest[key] = value
    }
  }

  /** The entry data the server proposes for `cmd`. */
  request(cmd: Command): Uint8Array {
    const key = serverKey(cmd.key)
    let r: RaftRequest
    if (cmd.op === Op.Put)
      r = { type: 'put', put: putRequest({ key, value: serverValue(cmd.value) }) }
    else if (cmd.op === Op.Delete)
      r = { type: 'deleteRange', deleteRange: deleteRangeRequest({ key }) }
    else r = { type: 'txn', txn: casTxn(cmd) }
    return encodeRequest(r)
  }

  describe(cmd: Command): string {
    if (cmd.op === Op.Put) return `put k${cmd.key}=${cmd.value}`
    if (cmd.op === Op.Delete) return `delete k${cmd.key}`
    return `cas k${cmd.key} ${cmd.expected === 0 ? 'absent' : cmd.expected}->${cmd.value}`
  }

  /**
   * A write's response: checks it against the request, records its revision, and returns the
   * history outcome: `ok`, `mismatch` (a cas whose compare failed) or the error that failed it.
   */
  written(cmd: Command, r: KvResult): string {
    const res = r.server
    const what = `${this.describe(cmd)} at index ${r.index}`
    const bad = (msg: string): Violation => new Violation('response', `${what}: ${msg}`)
    if (res === undefined) throw bad('no apply result')
    if (res.type === 'error') return `error ${res.error.code}`
    let revision: number
    let wrote: boolean
    let outcome = 'ok'
    if (cmd.op === Op.Put) {
      if (res.type !== 'put') throw bad(`a ${res.type} result`)
      revision = res.resp.header?.revision ?? 0
      wrote = true
    } else if (cmd.op === Op.Delete) {
      if (res.type !== 'deleteRange') throw bad(`a ${res.type} result`)
      if (res.resp.deleted > 1) throw bad(`deleted ${res.resp.deleted} keys`)
      revision = res.resp.header?.revision ?? 0
      wrote = res.resp.deleted === 1
    } else {
      if (res.type !== 'txn') throw bad(`a ${res.type} result`)
      const t = res.resp
      revision = t.header?.revision ?? 0
      const op = t.responses[0]
      if (t.succeeded) {
        if (t.responses.length !== 1 || op?.type !== 'put') throw bad('success without its put')
        wrote = true
      } else {
        if (t.responses.length !== 1 || op?.type !== 'range') throw bad('failure without its range')
        const kv = op.range.kvs[0]
        const seen = kv === undefined ? 0 : decodeServerValue(kv.value)
        if (seen === cmd.expected && this.c.options.responseChecks)
          throw bad(`compare failed, yet its range read ${seen || 'absent'}`)
        wrote = false
        outcome = 'mismatch'
      }
    }
    this.writes.push({ index: r.index, revision, wrote, what })
    return outcome
  }

  /** A linearizable read served at read index `index` with the store at `revision`. */
  readAt(index: number, revision: number, key: number, value: Value): void {
    this.latest[key] = typeof value === 'number' ? value : 0
    this.reads.push({ index, revision, wrote: false, what: `read of k${key} at index ${index}` })
  }

  /** Now and then the operator compacts at (or a little below) the leader's revision. */
  maybeCompact(): void {
    const c = this.c
    if (!this.p.chance(COMPACT_RATE)) return
    const leader = c.leaderId()
    const inc = leader === 0 ? null : (c.nodes[leader]?.inc ?? null)
    const driver = inc?.driver ?? null
    if (inc === null || driver === null) return
    const revision = (inc.sm as ServerMachine).store.currentRevision - this.p.intn(4)
    if (revision < 1) return
    this.compactions++
    c.log(`compaction at revision ${revision} via n${leader}`)
    const data = encodeRequest({ type: 'compaction', compaction: { revision, physical: false } })
    driver.propose(data).then(
      () => {},
      () => {},
    )
  }

  /** Revisions follow the log: see the file comment. Throws a `revision` Violation. */
  checkRevisions(): void {
    checkRevisionOrder(this.writes, this.reads)
  }
}

/**
 * Writes (by raft index) have non-decreasing revisions, strictly increasing where they wrote; a
 * read served at index i saw a revision no lower than any write's at or below i. Throws a
 * `revision` Violation naming the two responses that disagree.
 */
export function checkRevisionOrder(
  writesSeen: readonly RevisionAt[],
  readsSeen: readonly RevisionAt[],
): void {
  const writes = [...writesSeen].sort((a, b) => a.index - b.index)
  let before: RevisionAt | null = null
  for (const w of writes) {
    if (before !== null) {
      const ok = w.wrote ? w.revision > before.revision : w.revision >= before.revision
      if (!ok) {
        throw new Violation(
          'revision',
          `${w.what} has revision ${w.revision}, but ${before.what} had ${before.revision}`,
        )
      }
    }
    if (before === null || w.revision >= before.revision) before = w
  }
  const reads = [...readsSeen].sort((a, b) => a.index - b.index)
  let at = 0
  let last: RevisionAt | null = null
  for (const r of reads) {
    while (at < writes.length && writes[at]!.index <= r.index) last = writes[at++]!
    if (last !== null && r.revision < last.revision) {
      throw new Violation(
        'revision',
        `${r.what} saw revision ${r.revision}, below ${last.what}'s ${last.revision}`,
      )
    }
  }
}

/** The compare-and-swap txn: compare (value == expected, or version == 0), put, else range. */
function casTxn(cmd: Command): TxnRequest {
  const key = serverKey(cmd.key)
  const compare: Compare =
    cmd.expected === 0
      ? {
          result: CompareResult.EQUAL,
          target: CompareTarget.VERSION,
          key,
          targetUnion: { type: 'version', version: 0 },
          rangeEnd: EMPTY,
        }
      : {
          result: CompareResult.EQUAL,
          target: CompareTarget.VALUE,
          key,
          targetUnion: { type: 'value', value: serverValue(cmd.expected) },
          rangeEnd: EMPTY,
        }
  return {
    compare: [compare],
    success: [{ type: 'put', put: putRequest({ key, value: serverValue(cmd.value) }) }],
    failure: [{ type: 'range', range: rangeRequest({ key }) }],
  }
}
