// Goal: no benchmark rots. Method: run each suite once at a tiny size and check that it prints
// its rows (each benchmark verifies its own result, e.g. every proposal committed, and throws
// otherwise). Timings are not asserted: tests never measure speed. `npm run test:quick` skips
// them (slow(): several take a second or more, and none is needed for the edit loop).
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { test } from 'node:test'
import { slow } from '../test-support/quick.js'
import { runNodeIdBench } from './raft/node-id.bench.js'
import { runQuorumBench } from './raft/quorum.bench.js'
import { runRaftBench } from './raft/raw-node.bench.js'
import { runSimBench } from './sim/seeds.bench.js'
import { runApiBench } from './api/grpc.bench.js'
import { runReadBackBench } from './wal/read-back.bench.js'
import { runWalBench } from './wal/wal.bench.js'
import { runFsyncModesBench } from './wal/fsync-modes.bench.js'
import { runMvccBench } from './mvcc/mvcc.bench.js'
import { runTransportBench } from './transport/transport.bench.js'
import { parseOptions, serverBench, type RunRecord } from './server/server.bench.js'
import { runWatchBench } from './server/watch.bench.js'

/** A server-benchmark run that completed calls, none failed, every checked answer right. */
function assertRunClean(r: RunRecord): void {
  assert.equal(r.errors, 0, `${r.kind} ${r.caseLabel}: ${r.errorSamples.join('; ')}`)
  assert.deepEqual(r.checkFailures, [], `${r.kind} ${r.caseLabel}`)
  assert.ok(r.ops > 0, `${r.kind} ${r.caseLabel}: no call completed`)
}

test('raft benchmark runs', slow('benchmark'), () => {
  const out = runRaftBench(0.01)
  assert.match(out, /single-voter/)
  assert.match(out, /3 voters/)
})

test('quorum benchmark runs', slow('benchmark'), () => {
  assert.match(runQuorumBench(0.01), /committedIndex 11/)
})

test('node-id benchmark runs', slow('benchmark'), () => {
  assert.match(runNodeIdBench(0.001), /bigint\/number time ratio/)
})

test('sim benchmark runs', slow('benchmark'), async () => {
  assert.match(await runSimBench(0.02), /seeds\/min/)
})

test('wal read-back benchmark runs', slow('benchmark'), async () => {
  assert.match(await runReadBackBench(0.01), /entries\(i, i\+64\) of 1000 B/)
})

test('wal benchmark runs', slow('benchmark'), async () => {
  const out = await runWalBench(1, true)
  assert.match(out, /^256 x 64 KiB .* 1\.00 \(\+\d+ for \d+ rotations\)$/m)
  assert.match(out, /group commit: 192 appends .* \(1\.00 per commit\)/)
  assert.match(out, /^256 x 64 KiB +[\d,.]+ against [\d,.]+ MiB\/s \([\d.]+; \d+ rotations/m)
  assert.match(out, /recovery: .* hash=[0-9a-f]{12}$/m)
})

test('wal-fsync benchmark runs', slow('benchmark'), async () => {
  const out = await runFsyncModesBench(0.01)
  assert.match(out, /^262144 B +[\d.]+ \/ [\d.]+ +[\d.]+ \/ [\d.]+ +[\d.]+ \/ [\d.]+$/m)
})

test('mvcc benchmark runs', slow('benchmark'), async () => {
  const out = await runMvccBench(0.01)
  assert.match(out, /^put, lmdb .* hash=[0-9a-f]+$/m)
  assert.match(out, /^range 100 keys, memory .* hash=[0-9a-f]+$/m)
})

test('transport benchmark runs', slow('benchmark'), async () => {
  const out = await runTransportBench(0.001)
  assert.match(out, /^128 B entries, unbatched +[\d,]+ +[\d.]+ +1\.0 {2}[0-9a-f]{12}$/m)
  assert.match(out, /^64 KiB entries, batched /m)
})

test('api benchmark runs', slow('benchmark'), async () => {
  const out = await runApiBench(0.01)
  assert.match(out, /^grpc-js, h2 client, 4 conns x 64 streams +[\d,]+ +[\d.]+ +[\d.]+$/m)
  assert.match(out, /^node-http2, grpc-js client, 64 in flight +[\d,]+ +[\d.]+ +[\d.]+$/m)
  assert.match(out, /^own-h2, raw h2 client, 16 conns x 64 streams +[\d,]+ +[\d.]+ +[\d.]+$/m)
})

test(
  'server benchmark runs against one pontoon member',
  slow('benchmark, real processes'),
  async () => {
    // About 2.5 s of load: the two no-op ceilings and the three 1-member cases, 0.5 s each after 0.2 s
    // of warm-up, on fresh pontoon members (data on /dev/shm here: the speed is not checked).
    // The server warm-up runs too, briefly (0.2 s of 64-client puts before each run).
    const args = ['--only=pontoon', '--members=1', '--duration=0.5', '--warmup=0.2', '--repeat=1']
    args.push('--server-warmup=0.2')
    // Ranges of 5 keys: the responses are checked to carry all five (--range-keys).
    args.push('--clients=8', '--conns=2', '--range-keys=5', '--quiet')
    if (existsSync('/dev/shm')) args.push('--data-dir=/dev/shm')
    const { text, runs } = await serverBench(parseOptions(args))
    assert.deepEqual(
      runs.map((r) => `${r.kind} ${r.caseLabel}`),
      [
        'no-op generator ceiling, node',
        'no-op generator ceiling, api',
        'pontoon put, 1 member, 8 clients',
        'pontoon range linearizable, 1 member, 8 clients',
        'pontoon range serializable, 1 member, 8 clients',
      ],
    )
    for (const r of runs) assertRunClean(r)
    for (const server of ['node:http2', "pontoon's RpcServer"]) {
      const head = `generator ceiling, no-op ${server} server: `
      assert.ok(
        text.split('\n').some((l) => l.startsWith(head)),
        head,
      )
    }
    assert.match(text, /^generator ceiling, no-op node:http2 server: [\d,]+ ops\/s, p50 [\d.]+ /m)
    for (const c of ['put', 'range linearizable', 'range serializable']) {
      assert.match(
        text,
        new RegExp(`^pontoon ${c}, 1 member, 8 clients +#1 +[\\d,]+ ops/s .* errors 0`, 'm'),
      )
      assert.match(
        text,
        new RegExp(`^${c}, 1 member, 8 clients +\\| +— +\\| +[\\d,]+ +[\\d.]+ +[\\d.]+ `, 'm'),
      )
    }
  },
)

test(
  'server benchmark runs txn-put and delete at a rate against one pontoon member',
  slow('benchmark, real processes'),
  async () => {
    // Under 1 s of load: each op 0.3 s after 0.1 s of warm-up, 1,000 calls/s (the schedule and
    // its due-time latencies; the rate reached is not checked). The deletes' keys are written
    // first and each delete's response says it deleted one (checked per client).
    const args = ['--only=pontoon', '--op=txn-put,delete', '--duration=0.3', '--warmup=0.1']
    args.push('--server-warmup=0')
    args.push('--repeat=1', '--clients=8', '--conns=2', '--rate=1000', '--no-ceiling', '--quiet')
    if (existsSync('/dev/shm')) args.push('--data-dir=/dev/shm')
    const { text, runs } = await serverBench(parseOptions(args))
    assert.deepEqual(
      runs.map((r) => `${r.kind} ${r.caseLabel}`),
      [
        'pontoon txn-put, 1 member, 8 clients, 1,000/s',
        'pontoon delete, 1 member, 8 clients, 1,000/s',
      ],
    )
    for (const r of runs) {
      assertRunClean(r)
      assert.equal(r.deletesUnprepared, 0, `${r.kind} ${r.caseLabel}: deletes past the keys`)
    }
    for (const c of ['txn-put', 'delete']) {
      assert.match(
        text,
        new RegExp(
          `^pontoon ${c}, 1 member, 8 clients, 1,000/s +#1 +[\\d,]+ ops/s .* errors 0`,
          'm',
        ),
      )
      assert.match(
        text,
        new RegExp(`^${c}, 1 member, 8 clients, 1,000/s +\\| +— +\\| +[\\d,]+ +[\\d.]+ `, 'm'),
      )
    }
  },
)

test('watch benchmark runs', slow('an etcd and a pontoon process'), async () => {
  const out = await runWatchBench(['--tiny'])
  assert.match(out, /^\| 20 watchers, one key \(3 puts\) \| [\d,]+ \| [\d,]+ \|/m)
  assert.match(out, /^\| RSS of 10,000 idle watchers \(MiB\) \|/m)
})
