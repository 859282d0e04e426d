// Goal: etcd's leases work on pontoon for etcd's own clients: etcdctl 3.4's lease commands, the
// etcd3 npm client keeping a lease alive through a follower of a 3-member cluster, expiry that
// deletes a lease's keys in one revision and never before the TTL, etcd 3.4's answers to bad lease
// requests, and remaining TTLs that survive a kill -9 of the leader (checkpoints: not reset to the
// full TTL, not expired early). Method: real processes (test-support/procs.ts); time measured
// with margins that hold on a loaded 2-core machine; waits poll the outside process.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Etcd3 } from 'etcd3'
import { etcdctl, etcdctlJson } from '../../test-support/etcdctl.js'
import { KvClient, type CallResult, type Message } from '../../test-support/kv-client.js'
import { LeaseClient } from '../../test-support/lease-client.js'
import { startCluster, type TestHooks } from '../../test-support/procs.js'
import { slow } from '../../test-support/quick.js'

const b = (s: string): Buffer => Buffer.from(s)

/** Polls `cond` (an outside process: no event to await) until true or the deadline. */
async function waitUntil(what: string, timeoutMs: number, cond: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await cond()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

function ok(r: CallResult): Message {
  assert.ok(r.ok, r.ok ? '' : `code ${r.code} "${r.details}"`)
  return r.response
}

test(
  'etcdctl: lease grant, put --lease, timetolive --keys, keep-alive, list, revoke',
  slow('a pontoon process, etcdctl runs'),
  async (t) => {
    const c = await startCluster({ kind: 'pontoon', t })
    const ep = c.member(0).clientUrl
    const grant = await etcdctl(ep, ['lease', 'grant', '60'])
    const m = /^lease ([0-9a-f]{16}) granted with TTL\(60s\)\n$/.exec(grant.stdout)
    assert.ok(m !== null, grant.stdout + grant.stderr)
    const id = m[1]!
    for (const k of ['k1', 'k2']) {
      assert.equal((await etcdctl(ep, ['put', `--lease=${id}`, k, 'v'])).stdout, 'OK\n')
    }
    assert.equal((await etcdctl(ep, ['put', 'other', 'v'])).stdout, 'OK\n')
    const ttl = await etcdctl(ep, ['lease', 'timetolive', '--keys', id])
    const tm =
      /^lease ([0-9a-f]+) granted with TTL\(60s\), remaining\((\d+)s\), attached keys\(\[k1 k2\]\)\n$/.exec(
        ttl.stdout,
      )
    assert.ok(tm !== null, ttl.stdout + ttl.stderr)
    assert.equal(BigInt(`0x${tm[1]}`), BigInt(`0x${id}`))
    assert.ok(Number(tm[2]) >= 50 && Number(tm[2]) <= 60, tm[2])
    const once = await etcdctl(ep, ['lease', 'keep-alive', '--once', id])
    assert.equal(once.stdout, `lease ${id} keepalived with TTL(60)\n`)
    // The streaming keep-alive answers its first request at once; etcdctl runs until killed.
    const stream = await etcdctl(ep, ['lease', 'keep-alive', id], { timeoutMs: 3000 })
    assert.match(stream.stdout, new RegExp(`^lease ${id} keepalived with TTL\\(60\\)\n`))
    const list = await etcdctl(ep, ['lease', 'list'])
    assert.equal(list.stdout, `found 1 leases\n${id}\n`)
    const before = (await etcdctlJson(ep, ['get', 'other'])) as { header: { revision: number } }
    assert.equal((await etcdctl(ep, ['lease', 'revoke', id])).stdout, `lease ${id} revoked\n`)
    const after = (await etcdctlJson(ep, ['get', '', '--prefix', '--keys-only'])) as {
      header: { revision: number }
      kvs: { key: string }[]
    }
    // Both keys went in one revision; the other key stayed.
    assert.equal(after.header.revision, before.header.revision + 1)
    assert.deepEqual(
      after.kvs.map((kv) => Buffer.from(kv.key, 'base64').toString()),
      ['other'],
    )
    const gone = await etcdctl(ep, ['lease', 'timetolive', id])
    assert.equal(gone.stdout, `lease ${id} already expired\n`)
    const put = await etcdctl(ep, ['put', `--lease=${id}`, 'k3', 'v'])
    assert.match(put.stderr, /etcdserver: requested lease not found/)
  },
)

test(
  'an expired lease: its keys are deleted in one revision, never before its TTL',
  slow('a pontoon process, a 2 s lease'),
  async (t) => {
    const c = await startCluster({ kind: 'pontoon', t })
    const ep = c.member(0).clientUrl
    const leases = new LeaseClient(ep)
    const kv = new KvClient(ep)
    t.after(() => (leases.close(), kv.close()))
    const sent = Date.now()
    const g = ok(await leases.call('LeaseGrant', { TTL: 2 }))
    const id = g.ID as string
    assert.equal(g.TTL, '2')
    for (const k of ['e1', 'e2', 'e3'])
      ok(await kv.call('put', { key: b(k), value: b('v'), lease: id }))
    const rev = Number(
      (ok(await kv.call('put', { key: b('stay'), value: b('v') })).header as Message).revision,
    )
    let gone = 0
    await waitUntil('the lease to expire', 20_000, async () => {
      const r = ok(await kv.call('range', { key: b('e'), range_end: b('f') }))
      gone = Date.now()
      return (r.kvs as unknown[]).length === 0
    })
    // Observed after the expiry, which came at least 2 s after the grant was sent.
    assert.ok(gone - sent >= 2000, `keys gone ${gone - sent} ms after the grant was sent`)
    const all = ok(await kv.call('range', { key: b('\0'), range_end: b('\0') }))
    assert.equal(Number((all.header as Message).revision), rev + 1)
    assert.deepEqual(
      (all.kvs as { key: Buffer }[]).map((x) => x.key.toString()),
      ['stay'],
    )
    const ttl = ok(await leases.call('LeaseTimeToLive', { ID: id }))
    assert.equal(ttl.TTL, '-1')
  },
)

/** The bad lease requests of the comparison, run in order on a fresh server. */
async function badLeaseAnswers(endpoint: string): Promise<Record<string, unknown>> {
  const leases = new LeaseClient(endpoint)
  const kv = new KvClient(endpoint)
  try {
    const out: Record<string, unknown> = {}
    const show = (r: CallResult, fields: string[]): unknown =>
      r.ok
        ? Object.fromEntries(fields.map((f) => [f, r.response[f]]))
        : { code: r.code, details: r.details }
    out['grant TTL 0'] = show(await leases.call('LeaseGrant', { TTL: 0 }), ['TTL', 'error'])
    out['grant TTL -5'] = show(await leases.call('LeaseGrant', { TTL: -5 }), ['TTL', 'error'])
    out['grant TTL 9000000001'] = show(await leases.call('LeaseGrant', { TTL: '9000000001' }), [])
    out['grant ID 77'] = show(await leases.call('LeaseGrant', { ID: 77, TTL: 100 }), ['ID', 'TTL'])
    out['grant ID 77 again'] = show(await leases.call('LeaseGrant', { ID: 77, TTL: 5 }), ['ID'])
    out['grant ID -9'] = show(await leases.call('LeaseGrant', { ID: -9, TTL: 100 }), ['ID', 'TTL'])
    out['revoke unknown'] = show(await leases.call('LeaseRevoke', { ID: 12345 }), [])
    out['timetolive unknown'] = show(
      await leases.call('LeaseTimeToLive', { ID: 12345, keys: true }),
      ['ID', 'TTL', 'grantedTTL', 'keys'],
    )
    out['keepalive unknown'] = (await leases.keepAlive(['12345'])).map((r) =>
      show(r, ['ID', 'TTL']),
    )
    out['put, unknown lease'] = show(
      await kv.call('put', { key: b('k'), value: b('v'), lease: 12345 }),
      [],
    )
    out['txn put, unknown lease'] = show(
      await kv.call('txn', {
        success: [{ request_put: { key: b('k'), value: b('v'), lease: 12345 } }],
      }),
      [],
    )
    out['put, lease 77'] = show(
      await kv.call('put', { key: b('k77'), value: b('v'), lease: 77 }),
      [],
    )
    const ttl = await leases.call('LeaseTimeToLive', { ID: 77, keys: true })
    out['timetolive 77'] = show(ttl, ['ID', 'grantedTTL', 'keys'])
    if (ttl.ok) out['timetolive 77 TTL >= 90'] = Number(ttl.response.TTL) >= 90
    out['keepalive 77'] = (await leases.keepAlive(['77', '77'])).map((r) => show(r, ['ID', 'TTL']))
    const list = await leases.call('LeaseLeases', {})
    // The server-chosen ids differ between servers: the count, and the client-chosen ones.
    out['leases'] = list.ok
      ? (list.response.leases as { ID: string }[])
          .map((l) => (['77', '-9'].includes(l.ID) ? l.ID : 'chosen by the server'))
          .sort()
      : list.details
    out['revoke -9'] = show(await leases.call('LeaseRevoke', { ID: -9 }), [])
    out['revoke 77'] = show(await leases.call('LeaseRevoke', { ID: 77 }), [])
    out['k77 after revoke'] = show(await kv.call('range', { key: b('k77') }), ['kvs'])
    return out
  } finally {
    leases.close()
    kv.close()
  }
}

test(
  "bad lease requests get etcd 3.4's answers",
  slow('an etcd and a pontoon process'),
  async (t) => {
    const [etcd, pontoon] = await Promise.all([
      startCluster({ kind: 'etcd', t }),
      startCluster({ kind: 'pontoon', t }),
    ])
    const want = await badLeaseAnswers(etcd.member(0).clientUrl)
    const got = await badLeaseAnswers(pontoon.member(0).clientUrl)
    assert.deepEqual(got, want)
  },
)

test(
  'the etcd3 client keeps a lease alive through a follower of 3 members, then revokes it',
  slow('3 pontoon processes'),
  async (t) => {
    const c = await startCluster({ kind: 'pontoon', size: 3, t })
    const { leader } = await c.waitForLeader(15_000)
    const follower = c.members.find((m) => m !== leader)!
    const client = new Etcd3({ hosts: follower.clientUrl })
    t.after(() => client.close())
    const lease = client.lease(2)
    let kept = 0
    lease.on('keepaliveSucceeded', () => kept++)
    const id = await lease.grant()
    await lease.put('service/a').value('up')
    const reader = new Etcd3({ hosts: leader.clientUrl })
    t.after(() => reader.close())
    // The client renews every TTL/3 through the follower, which forwards to the leader: after
    // three TTLs the key is still there.
    const start = Date.now()
    await waitUntil(
      'three keepalives and 6 s',
      30_000,
      async () => kept >= 3 && Date.now() - start >= 6000,
    )
    assert.equal(await reader.get('service/a').string(), 'up')
    const viaFollower = new LeaseClient(follower.clientUrl)
    t.after(() => viaFollower.close())
    const ttl = ok(await viaFollower.call('LeaseTimeToLive', { ID: id, keys: true }))
    assert.ok(Number(ttl.TTL) >= 0 && Number(ttl.TTL) <= 2, String(ttl.TTL))
    assert.deepEqual((ttl.keys as Buffer[]).map(String), ['service/a'])
    // Keepalives of many streams, forwarded to the leader in batches (POST /pontoon/leases/renew):
    // each request still gets its own answer, in order; an unknown lease TTL 0, as etcd.
    const other = ok(await viaFollower.call('LeaseGrant', { TTL: 30 })).ID as string
    const streams = Array.from({ length: 8 }, () => new LeaseClient(follower.clientUrl))
    t.after(() => streams.forEach((x) => x.close()))
    const answers = await Promise.all(
      streams.map((x, i) => x.keepAlive(i % 2 === 0 ? [id, '12345', other] : [other, id])),
    )
    for (const [i, a] of answers.entries()) {
      const want =
        i % 2 === 0
          ? [
              [id, '2'],
              ['12345', '0'],
              [other, '30'],
            ]
          : [
              [other, '30'],
              [id, '2'],
            ]
      assert.deepEqual(
        a.map((x) => (x.ok ? [x.response.ID, x.response.TTL] : x.details)),
        want,
        `stream ${i}`,
      )
    }
    // The peer endpoint itself: the leader renews (TTLs as 8-byte integers, 0 for an unknown
    // lease); a follower is not the leader; a body that is not whole ids is refused.
    const ids = Buffer.alloc(16)
    ids.writeBigUInt64BE(BigInt(other), 0)
    ids.writeBigUInt64BE(12345n, 8)
    const renew = async (url: string, body: Buffer) => {
      const res = await fetch(`${url}/pontoon/leases/renew`, { method: 'POST', body })
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) }
    }
    const byLeader = await renew(leader.peerUrl, ids)
    assert.equal(byLeader.status, 200)
    assert.deepEqual([byLeader.body.readBigInt64BE(0), byLeader.body.readBigInt64BE(8)], [30n, 0n])
    const byFollower = await renew(follower.peerUrl, ids)
    assert.deepEqual(
      [byFollower.status, String(byFollower.body)],
      [400, 'etcdserver: not leader\n'],
    )
    const torn = await renew(leader.peerUrl, ids.subarray(0, 12))
    assert.deepEqual([torn.status, String(torn.body)], [400, 'error unmarshalling request\n'])
    await lease.revoke()
    assert.equal(await reader.get('service/a').string(), null)
    const after = ok(await viaFollower.call('LeaseTimeToLive', { ID: id }))
    assert.equal(after.TTL, '-1')
  },
)

test(
  'kill -9 of the leader while leases are held: the new leader keeps their remaining TTL',
  slow('3 pontoon processes, a leader killed, about 15 s'),
  async (t) => {
    const c = await startCluster({ kind: 'pontoon', size: 3, t })
    const first = await c.waitForLeader(15_000)
    const clients = c.members.map((m) => new LeaseClient(m.clientUrl))
    t.after(() => clients.forEach((x) => x.close()))
    const viaLeader = clients[c.members.indexOf(first.leader)]!
    const TTL = 60
    const g = ok(await viaLeader.call('LeaseGrant', { TTL }))
    const id = g.ID as string
    const kv = new KvClient(first.leader.clientUrl)
    t.after(() => kv.close())
    ok(await kv.call('put', { key: b('held'), value: b('v'), lease: id }))
    // Wait until the lease is well into its TTL: several checkpoints (every 2 s) happened.
    let before = TTL
    let measuredAt = 0
    await waitUntil('12 s of the lease to pass', 40_000, async () => {
      before = Number(ok(await viaLeader.call('LeaseTimeToLive', { ID: id })).TTL)
      measuredAt = Date.now()
      return before <= TTL - 12
    })
    await first.leader.kill()
    const second = await c.waitForLeader(15_000)
    assert.notEqual(second.leader, first.leader)
    const viaNew = clients[c.members.indexOf(second.leader)]!
    const r = ok(await viaNew.call('LeaseTimeToLive', { ID: id, keys: true }))
    const after = Number(r.TTL)
    const elapsed = (Date.now() - measuredAt) / 1000
    // Not reset to the full TTL: at most the last checkpoint's staleness (2 s, plus a loop turn
    // and the commit, a few seconds on a loaded machine) and the new leader's extension (an
    // election timeout) above `before`.
    assert.ok(after <= before + 7, `remaining ${after} s after the failover, ${before} s before`)
    assert.ok(after < TTL - 4, `remaining ${after} s: reset to the full TTL`)
    // Not expired early: what was left, less the time that passed, at the least.
    assert.ok(after >= before - elapsed - 1, `remaining ${after} s, ${before} s ${elapsed} s ago`)
    assert.deepEqual((r.keys as Buffer[]).map(String), ['held'])
    // The new leader keeps time for it: a keepalive renews it to its full TTL.
    const ka = await viaNew.keepAlive([id])
    assert.deepEqual(
      ka.map((x) => (x.ok ? x.response.TTL : x.details)),
      [String(TTL)],
    )
  },
)

/** What etcdctl says for a keepalive on a member that has lost its leader (both others killed). */
async function keepAliveWithoutLeader(kind: 'etcd' | 'pontoon', t: TestHooks): Promise<string[]> {
  const c = await startCluster({ kind, size: 3, t })
  const { leader } = await c.waitForLeader(15_000)
  const grant = await etcdctl(leader.clientUrl, ['lease', 'grant', '60'])
  const id = /^lease ([0-9a-f]{16}) granted/.exec(grant.stdout)?.[1]
  assert.ok(id !== undefined, grant.stdout + grant.stderr)
  const survivor = c.members.find((m) => m !== leader)!
  await Promise.all(c.members.filter((m) => m !== survivor).map((m) => m.kill()))
  await waitUntil('the survivor to lose its leader', 15_000, async () => {
    const s = await survivor.status()
    return s !== null && s.leader === 0n
  })
  const out: string[] = []
  for (const args of [['lease', 'keep-alive', '--once', id]]) {
    const r = await etcdctl(survivor.clientUrl, args, { commandTimeout: '3s', timeoutMs: 15_000 })
    // etcdctl's retry warnings carry times and random target names: the error line only.
    out.push(
      `${args[1]}: exit ${r.code} ${r.stdout.trim()} ${/^Error: .*$/m.exec(r.stderr)?.[0] ?? ''}`,
    )
  }
  return out
}

test(
  "a keepalive on a member without a leader gets etcd 3.4's answer",
  slow('two clusters of 3 processes, leaders killed'),
  async (t) => {
    const want = await keepAliveWithoutLeader('etcd', t)
    const got = await keepAliveWithoutLeader('pontoon', t)
    t.diagnostic(`etcd 3.4: ${JSON.stringify(want)}`)
    assert.deepEqual(got, want)
  },
)
