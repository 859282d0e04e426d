/**
 * ReadIndex bookkeeping for ReadOnlySafe (Raft thesis §6.4). The leader queues each read with the
 * commit index it had when the read arrived, and confirms reads in FIFO batches: heartbeats carry
 * an 8-byte little-endian sequence number (confirmed + pending reads), followers echo it, and once
 * a quorum of voters has echoed a position every read before it is confirmed. One heartbeat round
 * confirms any number of queued reads.
 */
import type { JointConfig } from './quorum/joint.js'
import type { Message, NodeId } from './raftpb/types.js'
import type { ReadOnlyOption } from './config.js'

export interface ReadIndexRequest {
  req: Message
  /** The leader's commit index when the read arrived. */
  index: number
}

export class ReadOnly {
  readonly option: ReadOnlyOption
  /** The highest read position each peer has acknowledged. */
  private readonly acks = new Map<NodeId, number>()
  private unconfirmedReads: ReadIndexRequest[] = []
  /** Reads confirmed so far and removed from the front of unconfirmedReads. */
  private confirmedReads = 0

  constructor(option: ReadOnlyOption) {
    this.option = option
  }

  addRequest(commitIndex: number, req: Message): void {
    this.unconfirmedReads.push({ req, index: commitIndex })
  }

  /** Records an echoed heartbeat context; positions only move forward (acks may reorder). */
  recvAck(from: NodeId, ctx: Uint8Array): void {
    if (ctx.length === 0) return
    const position = decodePosition(ctx)
    if (position === undefined) return
    const prev = this.acks.get(from) ?? 0
    if (position > prev) this.acks.set(from, position)
  }

  /** The quorum adapter: a voter's acknowledged read position. */
  ackedIndex(voterId: NodeId): number | undefined {
    return this.acks.get(voterId)
  }

  /** Confirms and returns as many queued reads as the acknowledgements of `voters` allow. */
  maybeAdvance(voters: JointConfig): ReadIndexRequest[] {
    const confirmed = voters.committedIndex(this)
    if (confirmed <= this.confirmedReads) return []
    const n = Math.min(confirmed - this.confirmedReads, this.unconfirmedReads.length)
    const reads = this.unconfirmedReads.slice(0, n)
    this.unconfirmedReads = this.unconfirmedReads.slice(n)
    this.confirmedReads += n
    return reads
  }

  /** The heartbeat context that confirms every queued read, or an empty array if none. */
  heartbeatCtx(): Uint8Array {
    if (this.unconfirmedReads.length === 0) return new Uint8Array(0)
    return encodePosition(this.confirmedReads + this.unconfirmedReads.length)
  }

  pendingCount(): number {
    return this.unconfirmedReads.length
  }
}

function encodePosition(position: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(position), true)
  return out
}

/** A context that is not 8 bytes is not ours (a follower echoes what it got); it is ignored. */
function decodePosition(ctx: Uint8Array): number | undefined {
  if (ctx.length !== 8) return undefined
  const v = new DataView(ctx.buffer, ctx.byteOffset, 8).getBigUint64(0, true)
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(v)
}
