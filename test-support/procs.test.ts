// test-support/procs.ts, the real-process harness, validated on etcd 3.4. Goal: members start
// on free ports and report readiness from their log, a cluster survives kill -9 of its leader
// under a write load and the harness sees the new one with nothing acknowledged lost (load.ts),
// a killed member restarts on its data dir, a graceful stop is graceful, and a start that cannot
// succeed fails fast with the log tail. Method: real etcd processes (fast election timings),
// etcdctl for status and data.

import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { etcdctl, etcdctlJson } from './etcdctl.js'
import { freePorts, isReadyLine, startCluster } from './procs.js'
import { missingWrites, startWriteLoad } from './load.js'
import { slow } from './quick.js'

test('a member that cannot be spawned fails its start at once, naming why', async (t) => {
  await assert.rejects(
    startCluster({ kind: 'pontoon', command: ['/nonexistent/pontoon'], t }),
    /m1 \(\/nonexistent\/pontoon\) did not become ready: .*spawn error: .*ENOENT/,
  )
})

test('a port taken before the member binds it: the start retries on new ports', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve))
  t.after(() => blocker.close())
  const taken = (blocker.address() as AddressInfo).port
  const calls: number[][] = []
  const cluster = await startCluster({
    kind: 'etcd',
    t,
    allocatePorts: async (n) => {
      const ports = calls.length === 0 ? [taken, ...(await freePorts(n - 1))] : await freePorts(n)
      calls.push(ports)
      return ports
    },
  })
  assert.equal(calls.length, 2, 'one attempt on the taken port, one on new ports')
  assert.equal(cluster.member(0).clientUrl, `http://127.0.0.1:${calls[1]![0]}`)
  assert.ok(cluster.member(0).running)
})

test('a member is ready when it logs etcd 3.4 zap readiness or pontoon readiness', () => {
  const zap = (msg: string) => JSON.stringify({ level: 'info', msg })
  assert.ok(isReadyLine(zap('serving client traffic insecurely; this is strongly discouraged!')))
  assert.ok(isReadyLine(zap('ready to serve client requests')))
  assert.ok(isReadyLine('2026-12-06 15:46:29.228330 I | embed: ready to serve client requests'))
  assert.ok(!isReadyLine(zap('published local member to cluster through raft')))
  assert.ok(!isReadyLine('{"msg": "ready to serve client requests" truncated'))
})

test(
  '3 etcd members: kill -9 the leader under a write load, a new leader serves, nothing acked is lost',
  slow('3 etcd processes, an election, a write load'),
  async (t) => {
    const cluster = await startCluster({ kind: 'etcd', size: 3, t })
    const first = await cluster.waitForLeader()
    assert.equal(first.statuses.length, 3)
    const load = startWriteLoad({ endpoints: cluster.clientUrls, putsMax: 4000, durationMs: 8000 })
    t.after(() => load.stop())
    await load.waitForAcked(100)
    await first.leader.kill()
    assert.equal(first.leader.running, false)
    assert.equal(first.leader.exitStatus?.signal, 'SIGKILL')
    const second = await cluster.waitForLeader()
    assert.notEqual(second.leader, first.leader)
    assert.equal(second.statuses.length, 2)
    assert.ok(second.statuses[0]!.raftTerm > first.statuses[0]!.raftTerm)
    // The load goes on through the new leader, then stops.
    const before = load.ackedCount()
    await load.waitForAcked(before + 100)
    load.stop()
    const { acked, failed } = await load.done
    assert.ok(acked.length >= before + 100, `${acked.length} acked, ${failed.length} failed`)
    for (const m of cluster.members.filter((x) => x.running)) {
      assert.deepEqual(await missingWrites(m.clientUrl, acked), [])
    }
    // The killed member comes back on its data dir and catches up.
    await cluster.restart(first.leader)
    const third = await cluster.waitForLeader()
    assert.equal(third.statuses.length, 3)
    assert.deepEqual(await missingWrites(first.leader.clientUrl, acked), [])
    const put = await etcdctl(cluster.clientUrls, ['put', 'k', 'after'])
    assert.equal(put.code, 0, put.stderr)
    const got = await etcdctlJson(first.leader.clientUrl, ['get', 'k'])
    assert.equal((got as { kvs: { value: string }[] }).kvs[0]!.value, 'YWZ0ZXI=') // "after"
  },
)

test(
  'harness: a graceful stop shuts down cleanly, a start that cannot succeed reports the log tail',
  slow('2 etcd processes'),
  async (t) => {
    const cluster = await startCluster({ kind: 'etcd', t })
    await cluster.member(0).stop()
    // etcd re-raises SIGTERM once it has shut down; pontoon may exit 0: either is graceful.
    const status = cluster.member(0).exitStatus
    // (etcd installs its signal handler just after its readiness line, so a SIGTERM this early
    // may find Go's default action: also death by SIGTERM, without "received signal" logged.)
    assert.ok(status?.code === 0 || status?.signal === 'SIGTERM', JSON.stringify(status))
    await assert.rejects(
      startCluster({ kind: 'etcd', extraArgs: ['--no-such-flag'], t, readyTimeoutMs: 5000 }),
      /did not become ready: the process exited[\s\S]*log tail:[\s\S]*no-such-flag/,
    )
  },
)
