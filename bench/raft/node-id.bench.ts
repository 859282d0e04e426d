/**
 * The cost of keeping node ids exact: `bigint` ids (what Pontoon uses) against `number` ids (what
 * would silently round random 64-bit etcd member ids) for the operations the core performs per
 * message: a Map lookup of a peer's Progress, an equality test, and hex formatting (log lines).
 */
import { formatRow, measure, type Measurement } from '../harness.js'

const PEERS = 5
const OPS_DEFAULT = 1_000_000

function lookups<K>(name: string, ids: K[], OPS: number): Measurement {
  let sink = 0
  return measure({
    name,
    ops: OPS,
    runs: 5,
    setup() {
      const map = new Map<K, { match: number }>()
      ids.forEach((id, i) => map.set(id, { match: i }))
      return {
        run() {
          for (let i = 0; i < OPS; i++) {
            const id = ids[i % ids.length] as K
            const pr = map.get(id)
            if (pr !== undefined && id === ids[0]) sink += pr.match
          }
          if (sink < 0) throw new Error('unreachable')
        },
      }
    },
  })
}

export function runNodeIdBench(size = 1): string {
  const ops = Math.max(1000, Math.round(OPS_DEFAULT * size))
  // Random-looking 64-bit ids, as etcd generates them; the number versions are what a JS number
  // would keep of them (rounded above 2^53).
  const big = Array.from(
    { length: PEERS },
    (_, i) => (0x8e9e05c52164694dn * BigInt(i + 1)) & 0xffff_ffff_ffff_ffffn,
  )
  const num = big.map((b) => Number(b))
  const rows = [
    lookups('Map.get + === with bigint ids', big, ops),
    lookups('Map.get + === with number ids', num, ops),
  ]
  for (const r of rows) r.extra = {}
  const ratio = (rows[0] as Measurement).nsPerOpMedian / (rows[1] as Measurement).nsPerOpMedian
  return (
    rows
      .map((r) =>
        formatRow(r)
          .replace('entries/s', 'ops/s    ')
          .replace('ns/entry', 'ns/op   ')
          .replace('B/entry', 'B/op'),
      )
      .join('\n') + `\nbigint/number time ratio: ${ratio.toFixed(2)}\n`
  )
}
