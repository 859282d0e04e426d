// Goal: the concurrency recipes etcd's users build on leases and watches work on pontoon
// unchanged: `etcdctl lock` and `etcdctl elect` with two contenders (one holds, the other takes
// over when the first releases or is killed and its session's lease expires), and the etcd3
// client's Lock and Election (campaign, observe, resign) against a 3-member cluster. etcd3's Lock is a try-lock (acquire fails
// while another holds it); its Election queues. Method: real
// pontoon processes, Debian's etcdctl 3.4 as long-running processes (kill -9 included), the etcd3
// package. PONTOON_TEST_KIND=etcd runs the same tests against etcd 3.4, to check the tests.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { Etcd3, EtcdLockFailedError } from 'etcd3'
import { etcdctl, EtcdctlProcess } from '../../test-support/etcdctl.js'
import { startCluster, type MemberKind } from '../../test-support/procs.js'
import { slow } from '../../test-support/quick.js'
import { waitUntil } from '../../test-support/wait.js'

const KIND = (process.env.PONTOON_TEST_KIND ?? 'pontoon') as MemberKind

/** The keys under `prefix`, in key order (etcdctl get --prefix --keys-only). */
async function keysUnder(endpoints: readonly string[], prefix: string): Promise<string[]> {
  const r = await etcdctl(endpoints, ['get', '--prefix', '--keys-only', prefix])
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.split('\n').filter((l) => l !== '')
}

function contenders(endpoints: readonly string[], prefix: string, n: number): Promise<string[]> {
  return waitUntil(
    async () => {
      const keys = await keysUnder(endpoints, prefix)
      return keys.length === n ? keys : undefined
    },
    { timeoutMs: 10_000, what: `${n} keys under ${prefix}` },
  )
}

test(
  'etcdctl lock: one holds, the next takes over when the holder releases or is killed',
  slow('3 members, etcdctl processes, a session lease expiring'),
  async (t) => {
    const cluster = await startCluster({ kind: KIND, size: 3, t })
    await cluster.waitForLeader(15_000)
    const urls = cluster.clientUrls
    const procs: EtcdctlProcess[] = []
    t.after(() => procs.forEach((p) => p.signal('SIGKILL')))
    const lock = (i: number): EtcdctlProcess => {
      const p = new EtcdctlProcess(urls[i % urls.length]!, ['lock', '--ttl=3', 'L'])
      procs.push(p)
      return p
    }

    // The first contender holds the lock and prints its key; the second waits behind it.
    const a = lock(0)
    await a.waitForLine(/^L\/[0-9a-f]+$/)
    const aKey = a.lines[0]!
    const b = lock(1)
    // The keys sort by their lease ids, not by who came first.
    const keys = await contenders(urls, 'L/', 2)
    assert.ok(keys.includes(aKey), `${aKey} in ${keys.join(' ')}`)
    const second = keys.find((k) => k !== aKey)!
    assert.equal(b.lines.length, 0, `the second contender must wait: ${b.describe()}`)

    // kill -9: no unlock; the lock passes only when the holder's session lease expires.
    const killedAt = Date.now()
    a.signal('SIGKILL')
    await b.waitForLine(/^L\//, { timeoutMs: 20_000 })
    const waited = Date.now() - killedAt
    assert.equal(b.lines[0], second)
    // The lease was kept alive every second with a TTL of 3 s: it had >= 2 s left at the kill.
    assert.ok(
      waited >= 1500,
      `the lock passed ${waited} ms after the kill: before the lease expired`,
    )
    assert.deepEqual(await keysUnder(urls, 'L/'), [second])

    // A release (etcdctl unlocks on SIGINT) passes it on at once, without waiting for a lease.
    const c = lock(2)
    await contenders(urls, 'L/', 2)
    assert.equal(c.lines.length, 0)
    b.signal('SIGINT')
    assert.deepEqual(await b.exited, { code: 0, signal: null })
    await c.waitForLine(/^L\//, { timeoutMs: 10_000 })
    c.signal('SIGINT')
    await c.exited
    assert.deepEqual(await keysUnder(urls, 'L/'), [])

    // With a command: run while holding the lock, released when it ends.
    const r = await etcdctl(urls, ['lock', 'L2', 'echo', 'under the lock'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'under the lock\n')
    assert.deepEqual(await keysUnder(urls, 'L2/'), [])
  },
)

test(
  'etcdctl elect: a leader, an observer, a resignation, and a killed leader replaced when its lease expires',
  slow('3 members, etcdctl processes, a 60 s session lease expiring'),
  async (t) => {
    const cluster = await startCluster({ kind: KIND, size: 3, t })
    await cluster.waitForLeader(15_000)
    const urls = cluster.clientUrls
    const procs: EtcdctlProcess[] = []
    t.after(() => procs.forEach((p) => p.signal('SIGKILL')))
    const run = (i: number, args: string[]): EtcdctlProcess => {
      const p = new EtcdctlProcess(urls[i % urls.length]!, ['elect', ...args])
      procs.push(p)
      return p
    }

    const one = run(0, ['E', 'p1'])
    await one.waitForLine(/^p1$/)
    assert.match(one.lines[0]!, /^E\/[0-9a-f]+$/)
    const observer = run(1, ['-l', 'E'])
    await observer.waitForLine(/^p1$/)
    const two = run(2, ['E', 'p2'])
    await contenders(urls, 'E/', 2)
    assert.equal(two.lines.length, 0)

    // Resignation (SIGINT): the next proposal leads; the observer sees it.
    let seen = observer.lines.length
    one.signal('SIGINT')
    assert.deepEqual(await one.exited, { code: 0, signal: null })
    await two.waitForLine(/^p2$/)
    await observer.waitForLine(/^p2$/, { from: seen })

    // kill -9 of the leader: its session (etcdctl's 60 s lease) must expire before p3 leads.
    const three = run(0, ['E', 'p3'])
    await contenders(urls, 'E/', 2)
    seen = observer.lines.length
    const killedAt = Date.now()
    two.signal('SIGKILL')
    await three.waitForLine(/^p3$/, { timeoutMs: 120_000 })
    const waited = Date.now() - killedAt
    assert.ok(waited >= 30_000, `p3 led ${waited} ms after the kill, before the lease expired`)
    await observer.waitForLine(/^p3$/, { from: seen })
  },
)

test(
  "the etcd3 client's Lock and Election on a 3-member cluster",
  slow('3 members, a client process killed'),
  async (t) => {
    const cluster = await startCluster({ kind: KIND, size: 3, t })
    await cluster.waitForLeader(15_000)
    const [u0, u1, u2] = cluster.clientUrls as [string, string, string]
    const c0 = new Etcd3({ hosts: u0 })
    const c1 = new Etcd3({ hosts: u1 })
    const c2 = new Etcd3({ hosts: u2 })
    t.after(() => [c0, c1, c2].forEach((c) => c.close()))

    // Lock (a try-lock in etcd3): a second acquire fails while it is held, leaving nothing behind;
    // after the release it succeeds.
    const held = c0.lock('res').ttl(3)
    await held.acquire()
    await assert.rejects(c1.lock('res').ttl(3).acquire(), EtcdLockFailedError)
    assert.equal((await keysUnder(cluster.clientUrls, 'res')).length, 1)
    await held.release()
    const next = c1.lock('res').ttl(3)
    await next.acquire()
    await next.release()
    assert.deepEqual(await keysUnder(cluster.clientUrls, 'res'), [])

    // Election: campaign, observe, resign.
    const e1 = c0.election('lead', 3)
    const first = e1.campaign('one')
    await first.wait()
    const observer = await c2.election('lead').observe()
    assert.equal(observer.leader(), 'one')
    const changes: (string | undefined)[] = []
    const sawTwo = new Promise<void>((resolve) =>
      observer.on('change', (v) => {
        changes.push(v)
        if (v === 'two') resolve()
      }),
    )
    const second = c1.election('lead', 3).campaign('two')
    let secondElected = false
    void second.wait().then(() => (secondElected = true))
    await contenders(cluster.clientUrls, 'election/lead/', 2)
    assert.equal(secondElected, false)
    await first.resign()
    await second.wait()
    await sawTwo
    assert.equal(observer.leader(), 'two')

    // A campaigner in another process, killed with -9: the next one leads once its lease expires.
    await second.resign()
    const child = spawnCampaigner(u0, 'three')
    t.after(() => child.kill('SIGKILL'))
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('elected')) resolve()
      })
      child.on('exit', (code) => reject(new Error(`the campaigner exited ${code}`)))
    })
    const fourth = c1.election('lead', 3).campaign('four')
    await contenders(cluster.clientUrls, 'election/lead/', 2)
    const killedAt = Date.now()
    child.kill('SIGKILL')
    await fourth.wait()
    const waited = Date.now() - killedAt
    assert.ok(waited >= 1000, `four led ${waited} ms after the kill, before the lease expired`)
    await waitUntil(() => observer.leader() === 'four', {
      timeoutMs: 10_000,
      what: 'observed four',
    })
    await observer.cancel()
    await fourth.resign()
  },
)

/** A node process that campaigns with the etcd3 client (lease TTL 3 s) and prints "elected". */
function spawnCampaigner(endpoint: string, value: string) {
  const etcd3 = createRequire(import.meta.url).resolve('etcd3')
  const script = `
    const { Etcd3 } = require(${JSON.stringify(etcd3)})
    const c = new Etcd3({ hosts: ${JSON.stringify(endpoint)} })
    c.election('lead', 3).campaign(${JSON.stringify(value)}).wait().then(() => console.log('elected'))
  `
  return spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
}
