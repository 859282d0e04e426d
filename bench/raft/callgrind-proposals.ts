/**
 * Instructions per unbatched proposal, counted by callgrind rather than timed: wall time on a
 * shared machine moved by 2x between runs, instruction counts by well under 1%.
 *
 *   valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null \
 *     node --single-threaded --max-semi-space-size=256 \
 *     dist/bench/raft/callgrind-proposals.js VOTERS WARMUP N
 *
 * runs the loop of raw-node.bench.ts (`RawNode single-voter` with VOTERS=1, `two-voters` with
 * VOTERS=2) for WARMUP proposals, then N more. Run it with N=0 and N=30000: the difference of
 * the two totals ("Collected" on stderr), divided by N, is the steady-state cost of one
 * proposal, garbage collection and compilation included (--single-threaded keeps them on the
 * counted thread). `bench/raft/callgrind-proposals.sh` does both runs for both rows.
 */
import { newRawNodeLoop } from './raw-node.bench.js'

const [votersArg = '1', warmupArg = '30000', nArg = '0'] = process.argv.slice(2)
const voters = Array.from({ length: Number(votersArg) }, (_, i) => BigInt(i + 1))
const loop = newRawNodeLoop(voters)
const first = loop.applied()
const total = Number(warmupArg) + Number(nArg)
loop.propose(total)
if (loop.applied() < first + total) throw new Error(`applied ${loop.applied()}, want more`)
process.stdout.write(`voters=${voters.length} proposals=${total} applied=${loop.applied()}\n`)
