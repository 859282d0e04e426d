/**
 * Proposal envelopes: the driver prefixes every proposal's payload with who proposed it, so that
 * the node that proposed it can hand the state machine's result back to the caller when the
 * entry is applied, whichever node led at the time (etcd matches a request id in its
 * InternalRaftRequest the same way; hashicorp/raft matches log indexes, which a follower that
 * forwards a proposal never learns).
 *
 *   envelope = node id (u64 LE) | incarnation (u32 LE) | sequence (u32 LE) | payload
 *
 * The node id keeps members apart; the incarnation, drawn at each start, keeps a restarted
 * member's new proposals apart from its old ones still in the log; the sequence numbers the
 * proposals of one incarnation.
 */
import type { NodeId } from '../raft/index.js'

export const ENVELOPE_BYTES = 16
const PREFIX_BYTES = 12

export class EnvelopeWriter {
  /** Node id and incarnation: the first 12 bytes of every envelope this incarnation writes. */
  readonly prefix = new Uint8Array(PREFIX_BYTES)
  /** Invariant: 0 <= seq < 2^32; 0 is never written. */
  private seq = 0

  constructor(id: NodeId, incarnation: number) {
    const view = new DataView(this.prefix.buffer)
    view.setBigUint64(0, BigInt.asUintN(64, id), true)
    view.setUint32(8, incarnation >>> 0, true)
  }

  /** The next sequence number; wraps after 2^32 - 1 proposals (then incarnation-unique no more). */
  next(): number {
    this.seq = this.seq === 0xffff_ffff ? 1 : this.seq + 1
    return this.seq
  }

  /** The payload behind an envelope with sequence number `seq`. */
  wrap(seq: number, payload: Uint8Array): Uint8Array {
    const out = new Uint8Array(ENVELOPE_BYTES + payload.length)
    out.set(this.prefix, 0)
    out[12] = seq & 0xff
    out[13] = (seq >>> 8) & 0xff
    out[14] = (seq >>> 16) & 0xff
    out[15] = seq >>> 24
    out.set(payload, ENVELOPE_BYTES)
    return out
  }

  /** The sequence number of an envelope this incarnation wrote, or 0. */
  own(data: Uint8Array): number {
    if (data.length < ENVELOPE_BYTES) return 0
    const p = this.prefix
    for (let i = 0; i < PREFIX_BYTES; i++) if (data[i] !== p[i]) return 0
    return (
      ((data[12] as number) |
        ((data[13] as number) << 8) |
        ((data[14] as number) << 16) |
        ((data[15] as number) << 24)) >>>
      0
    )
  }
}

/** The payload of an enveloped entry (a view, not a copy). */
export function payloadOf(data: Uint8Array): Uint8Array {
  return data.subarray(ENVELOPE_BYTES)
}
