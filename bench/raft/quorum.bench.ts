/**
 * MajorityConfig.committedIndex for 1 to 11 voters (etcd-io/raft's
 * BenchmarkMajorityConfig_CommittedIndex): the leader runs it on every append acknowledgement, so
 * it must stay cheap and allocation-free as the group grows.
 *
 * Method: voters 1..n, each with a pseudo-random acknowledged index from a fixed seed (the sort
 * sees a different order per voter count, and runs are reproducible); the result of every call
 * is folded into a checksum so the work cannot be optimised away and a change of answer shows.
 */
import { MajorityConfig } from '../../src/raft/quorum/majority.js'
import { MapAckIndexer } from '../../src/raft/quorum/types.js'
import type { NodeId } from '../../src/raft/raftpb/types.js'
import { formatRow, measure, type Measurement } from '../harness.js'

/** A small deterministic generator (xorshift32): the bench needs spread, not quality. */
function xorshift(seed: number): () => number {
  let x = seed | 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % 1_000_000
  }
}

/**
 * The measured loop, at module level: as a closure made afresh by every setup() it allocated a
 * number per call (16 B/call that were the harness's, not committedIndex's).
 */
function callMany(config: MajorityConfig, acked: MapAckIndexer, calls: number): number {
  let sum = 0
  for (let i = 0; i < calls; i++) sum += config.committedIndex(acked)
  return sum
}

function committedIndexBench(voters: number, calls: number): Measurement {
  let checksum = 0
  const m = measure({
    name: `MajorityConfig.committedIndex ${voters}`,
    ops: calls,
    runs: 5,
    unit: ['call', 'calls'],
    setup() {
      const next = xorshift(voters * 7919)
      const ids: NodeId[] = []
      const indexes = new Map<NodeId, number>()
      for (let i = 1; i <= voters; i++) {
        const id = BigInt(i)
        ids.push(id)
        indexes.set(id, next())
      }
      const config = new MajorityConfig(ids)
      const acked = new MapAckIndexer(indexes)
      return {
        run() {
          checksum = callMany(config, acked, calls) / calls
        },
      }
    },
  })
  m.extra.committed = checksum
  return m
}

export function runQuorumBench(size: number): string {
  const calls = Math.max(1, Math.round(1_000_000 * size))
  const rows = [1, 3, 5, 7, 9, 11].map((n) => committedIndexBench(n, calls))
  return rows.map(formatRow).join('\n') + '\n'
}
