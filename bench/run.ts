/**
 * `npm run bench -- NAME [--size=N]`: runs the named benchmark suite and prints its table.
 */
type Suite = (size: number, args: string[]) => string | Promise<string>

/**
 * Each suite's modules are imported only when it runs. Importing every suite up front cost the
 * server benchmarks dearly: with the other suites' modules loaded, the generator's process
 * spent 3 to 4 times the CPU per call (81-169 µs against 35 µs for 100-key ranges, most of it
 * in the garbage collector: 17% of its main thread against 2%), CPU the servers on the same two
 * cores then lacked.
 */
const suites: Record<string, () => Promise<Suite>> = {
  raft: async () => {
    const [raft, quorum, nodeId] = await Promise.all([
      import('./raft/raw-node.bench.js'),
      import('./raft/quorum.bench.js'),
      import('./raft/node-id.bench.js'),
    ])
    return (size) =>
      raft.runRaftBench(size) + quorum.runQuorumBench(size) + nodeId.runNodeIdBench(size)
  },
  'node-id': async () => (await import('./raft/node-id.bench.js')).runNodeIdBench,
  // --size=N: recovery of a WAL of N x 64 MiB of entries (--size=16: 1 GiB).
  wal: async () => {
    const { runWalBench } = await import('./wal/wal.bench.js')
    return (size) => runWalBench(size)
  },
  // --size=N: 400 x N rounds per write size.
  'wal-fsync': async () => (await import('./wal/fsync-modes.bench.js')).runFsyncModesBench,
  // --size=N: 100K x N entries to read back from.
  'wal-read': async () => (await import('./wal/read-back.bench.js')).runReadBackBench,
  sim: async () => (await import('./sim/seeds.bench.js')).runSimBench,
  // --size=N: 100K x N puts and ranges per row.
  mvcc: async () => (await import('./mvcc/mvcc.bench.js')).runMvccBench,
  // --size=N: 200,000 x N small messages per row.
  transport: async () => (await import('./transport/transport.bench.js')).runTransportBench,
  // --size=N: 20,000 x N calls per run; gRPC servers compared (bench/README.md).
  api: async () => (await import('./api/grpc.bench.js')).runApiBench,
  // etcd 3.4 and pontoon under the same load, side by side (options: --help, bench/README.md).
  server: async () => {
    const { runServerBench } = await import('./server/server.bench.js')
    return (_size, args) => runServerBench(args)
  },
  // Watch fan-out, etcd 3.4 and pontoon side by side (--quick: fewer puts; bench/README.md).
  watch: async () => {
    const { runWatchBench } = await import('./server/watch.bench.js')
    return (_size, args) => runWatchBench(args)
  },
  // etcd 3.4 and pontoon: lease grant and keepalive throughput, memory per lease.
  'server-lease': async () => {
    const { runLeaseBench } = await import('./server/lease.bench.js')
    return (_size, args) => runLeaseBench(args)
  },
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
const suite = await suites[name]()
process.stdout.write(await suite(size, args))
