// Goal: what pontoon acknowledges survives kill -9, as etcd's users rely on: a killed leader is
// replaced within a few election timeouts and every acknowledged write is readable from every
// member; a whole cluster killed at once and restarted has lost nothing it acknowledged; a member
// that was down while the others compacted their log past it catches up from a snapshot. Method:
// real pontoon processes (test-support/procs.ts), a write load of distinct keys whose
// acknowledgements are recorded (test-support/load.ts), kill -9, restart, read everything back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { etcdctl, etcdctlJson } from '../../test-support/etcdctl.js'
import { missingWrites, startWriteLoad } from '../../test-support/load.js'
import { startCluster } from '../../test-support/procs.js'
import { slow } from '../../test-support/quick.js'

test(
  'kill -9 of the leader under a write load: a new leader serves, nothing acknowledged is lost',
  slow('3 pontoon processes, a write load'),
  async (t) => {
    const cluster = await startCluster({ kind: 'pontoon', size: 3, t })
    const first = await cluster.waitForLeader(15_000)
    const load = startWriteLoad({
      endpoints: cluster.clientUrls,
      putsMax: 4000,
      durationMs: 10_000,
    })
    t.after(() => load.stop())
    await load.waitForAcked(200)
    await first.leader.kill()
    const second = await cluster.waitForLeader(15_000)
    assert.notEqual(second.leader, first.leader)
    assert.ok(second.statuses[0]!.raftTerm > first.statuses[0]!.raftTerm)
    const before = load.ackedCount()
    await load.waitForAcked(before + 200)
    load.stop()
    const { acked, failed } = await load.done
    assert.ok(acked.length >= before + 200, `${acked.length} acked, ${failed.length} failed`)
    for (const m of cluster.members.filter((x) => x.running)) {
      assert.deepEqual(await missingWrites(m.clientUrl, acked), [], m.name)
    }
    await cluster.restart(first.leader)
    await cluster.waitForLeader(15_000)
    assert.deepEqual(await missingWrites(first.leader.clientUrl, acked), [])
  },
)

test(
  'kill -9 of every member under a write load, then a restart: nothing acknowledged is lost',
  slow('3 pontoon processes, killed and restarted'),
  async (t) => {
    const cluster = await startCluster({ kind: 'pontoon', size: 3, t })
    await cluster.waitForLeader(15_000)
    const load = startWriteLoad({
      endpoints: cluster.clientUrls,
      putsMax: 4000,
      durationMs: 10_000,
    })
    t.after(() => load.stop())
    await load.waitForAcked(300)
    await Promise.all(cluster.members.map((m) => m.kill()))
    load.stop()
    const { acked } = await load.done
    await cluster.restartAll()
    await cluster.waitForLeader(15_000)
    for (const m of cluster.members) {
      assert.deepEqual(await missingWrites(m.clientUrl, acked), [], m.name)
    }
    // And the cluster takes writes again.
    const put = await etcdctl(cluster.clientUrls, ['put', 'after', 'restart'])
    assert.equal(put.code, 0, put.stderr)
  },
)

test(
  'a member down while the log is compacted past it catches up from a snapshot',
  slow('3 pontoon processes, snapshots'),
  async (t) => {
    const cluster = await startCluster({
      kind: 'pontoon',
      size: 3,
      snapshotCount: 100,
      extraArgs: ['--experimental-snapshot-catchup-entries=10'],
      t,
    })
    const { leader } = await cluster.waitForLeader(15_000)
    const follower = cluster.members.find((m) => m !== leader)!
    await follower.stop()
    const load = startWriteLoad({
      endpoints: cluster.runningUrls,
      putsMax: 600,
      durationMs: 15_000,
    })
    const { acked } = await load.done
    assert.ok(acked.length >= 300, `${acked.length} acked`)
    await cluster.restart(follower)
    await cluster.waitForLeader(15_000)
    // The leader's log no longer holds what the follower missed: it was sent a snapshot.
    assert.ok(
      leader.jsonLines().some((l) => /sent snapshot/.test(String(l.msg))) ||
        follower.jsonLines().some((l) => /restore snapshot/.test(String(l.msg))),
      'a snapshot was sent to the follower',
    )
    assert.deepEqual(await missingWrites(follower.clientUrl, acked), [])
    const status = await etcdctlJson([follower.clientUrl], ['endpoint', 'status'])
    assert.ok(Array.isArray(status))
  },
)
