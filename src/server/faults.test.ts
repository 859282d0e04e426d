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
import { Etcd3 } from 'etcd3'
import { startCluster, type MemberKind } from '../../test-support/procs.js'
import { slow } from '../../test-support/quick.js'
import { waitUntil } from '../../test-support/wait.js'

/** PONTOON_TEST_KIND=etcd runs these tests against etcd 3.4, to check the tests themselves. */
const KIND = (process.env.PONTOON_TEST_KIND ?? 'pontoon') as MemberKind

test(
  'kill -9 of the leader under a write load: a new leader serves, nothing acknowledged is lost',
  slow('3 pontoon processes, a write load'),
  async (t) => {
    const cluster = await startCluster({ kind: KIND, size: 3, t })
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
    const cluster = await startCluster({ kind: KIND, size: 3, t })
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
      kind: KIND,
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

test(
  'kill -9 of the leader while etcd3 watchers are open: they reconnect and resume without missing or repeating an event',
  slow('3 pontoon processes, watchers, a writer'),
  async (t) => {
    const cluster = await startCluster({ kind: KIND, size: 3, t })
    const { leader } = await cluster.waitForLeader(15_000)
    const urls = cluster.clientUrls
    // One watcher per member, each client bound to its member: the leader's watcher loses its
    // stream at the kill and resumes (from the revision after the last it saw) once the member is
    // back; the followers' watchers go on through the election.
    // etcd3's default watch backoff grows to 30 s while the killed member is down, longer than
    // the wait below; a constant 200 ms keeps the resume prompt (the resume is what is tested).
    const watchBackoff = { duration: 200, next: () => watchBackoff }
    const clients = urls.map(
      (u) => new Etcd3({ hosts: u, faultHandling: { watchBackoff: watchBackoff as never } }),
    )
    const writer = new Etcd3({ hosts: urls })
    t.after(() => [...clients, writer].forEach((c) => c.close()))
    const seen = clients.map(() => [] as { key: string; rev: number }[])
    const watchers = await Promise.all(
      clients.map((c, i) =>
        c
          .watch()
          .prefix('w/')
          .create()
          .then((w) => {
            w.on('put', (kv) =>
              seen[i]!.push({ key: kv.key.toString(), rev: Number(kv.mod_revision) }),
            )
            return w
          }),
      ),
    )
    t.after(() => watchers.forEach((w) => void w.cancel()))

    // A writer of distinct keys; a put that fails may or may not have been applied.
    let n = 0
    let stop = false
    const acked: string[] = []
    const writing = (async () => {
      while (!stop) {
        const key = `w/${String(n++).padStart(6, '0')}`
        try {
          await writer.put(key).value('v')
          acked.push(key)
        } catch {
          // Unknown outcome: the store decides below.
        }
      }
    })()
    await waitUntil(() => acked.length >= 100, { timeoutMs: 20_000, what: '100 puts' })
    await leader.kill()
    await cluster.waitForLeader(15_000)
    const after = acked.length
    await waitUntil(() => acked.length >= after + 100, { timeoutMs: 30_000, what: '100 more puts' })
    stop = true
    await writing
    await cluster.restart(leader)

    // The history is every revision from the first put on: the writer's puts are the only writes,
    // one revision each. A put the client retried after a dropped connection may have written its
    // key twice, so the store's content names a key's last revision only; each watcher must see
    // every revision once, in order, and the store's keys at theirs.
    const survivor = cluster.members.find((m) => m.running)!
    const reader = new Etcd3({ hosts: survivor.clientUrl })
    t.after(() => reader.close())
    const stored = await reader.getAll().prefix('w/').exec()
    const latest = stored.kvs.map((kv) => ({
      key: kv.key.toString(),
      rev: Number(kv.mod_revision),
      created: Number(kv.create_revision),
    }))
    for (const k of acked)
      assert.ok(
        latest.some((h) => h.key === k),
        `acknowledged ${k} is lost`,
      )
    const first = Math.min(...latest.map((h) => h.created))
    const last = Number(stored.header.revision)
    const revisions = Array.from({ length: last - first + 1 }, (_, k) => first + k)
    for (let i = 0; i < seen.length; i++) {
      const events = seen[i]!
      // Waits for the watcher to reach the last revision; the comparison below says what is wrong.
      await waitUntil(() => events.length > 0 && events[events.length - 1]!.rev >= last, {
        timeoutMs: 20_000,
        what: `watcher ${i}`,
      }).catch(() => undefined)
      const got = events.map((e) => e.rev)
      const missing = revisions.filter((r) => !got.includes(r))
      assert.deepEqual(
        got,
        revisions,
        `watcher ${i} (on ${urls[i]}, the leader was ${leader.clientUrl}): ${events.length} events for ${revisions.length} revisions, missing ${missing.slice(0, 10).join(' ')}`,
      )
      for (const h of latest) {
        assert.equal(
          events[h.rev - first]!.key,
          h.key,
          `watcher ${i}: the key at revision ${h.rev}`,
        )
      }
    }
  },
)
