/**
 * `npm run bench -- NAME [--size=N]`: runs the named benchmark suite and prints its table.
 */
import { runNodeIdBench } from './raft/node-id.bench.js'
import { runQuorumBench } from './raft/quorum.bench.js'
import { runRaftBench } from './raft/raw-node.bench.js'
import { runWalBench } from './wal/wal.bench.js'
import { runFsyncModesBench } from './wal/fsync-modes.bench.js'
import { runReadBackBench } from './wal/read-back.bench.js'
import { runSimBench } from './sim/seeds.bench.js'
import { runMvccBench } from './mvcc/mvcc.bench.js'
import { runTransportBench } from './transport/transport.bench.js'
import { runApiBench } from './api/grpc.bench.js'
import { runServerBench } from './server/server.bench.js'
import { runWatchBench } from './server/watch.bench.js'
import { runLeaseBench } from './server/lease.bench.js'

const suites: Record<string, (size: number, args: string[]) => string | Promise<string>> = {
  raft: (size) => runRaftBench(size) + runQuorumBench(size) + runNodeIdBench(size),
  'node-id': runNodeIdBench,
  // --size=N: recovery of a WAL of N x 64 MiB of entries (--size=16: 1 GiB).
  wal: (size) => runWalBench(size),
  // --size=N: 400 x N rounds per write size.
  'wal-fsync': runFsyncModesBench,
  // --size=N: 100K x N entries to read back from.
  'wal-read': runReadBackBench,
  sim: runSimBench,
  // --size=N: 100K x N puts and ranges per row.
  mvcc: runMvccBench,
  // --size=N: 200,000 x N small messages per row.
  transport: runTransportBench,
  // --size=N: 20,000 x N calls per run; gRPC servers compared (bench/README.md).
  api: runApiBench,
  // etcd 3.4 and pontoon under the same load, side by side (options: --help, bench/README.md).
  server: (_size, args) => runServerBench(args),
  // Watch fan-out, etcd 3.4 and pontoon side by side (--quick: fewer puts; bench/README.md).
  watch: (_size, args) => runWatchBench(args),
  // etcd 3.4 and pontoon: lease grant and keepalive throughput, memory per lease.
  'server-lease': (_size, args) => runLeaseBench(args),
}

const args = process.argv.slice(2)
const name = args.find((a) => !a.startsWith('--'))
const sizeArg = args.find((a) => a.startsWith('--size='))
const size = sizeArg === undefined ? 1 : Number(sizeArg.slice('--size='.length))

if (name === undefined || suites[name] === undefined) {
  process.stderr.write(
    `usage: npm run bench -- NAME [--size=N]; NAME is one of: ${Object.keys(suites).join(', ')}\n`,
  )
  process.exit(2)
}
if (!Number.isFinite(size) || size <= 0) {
  process.stderr.write(`--size must be a positive number, got ${sizeArg}\n`)
  process.exit(2)
}
process.stdout.write(await suites[name](size, args))
