// Goal: membership changes work as with etcd 3.4, through etcdctl and real processes: a member
// added with `etcdctl member add` starts with `--initial-cluster-state existing` and the
// --initial-cluster etcdctl printed, catches up and serves what was written before; a removed
// member stops (exit 0, as etcd); the strict reconfiguration check and the membership errors
// answer with etcd's texts. Method: real pontoon processes (test-support/procs.ts) and etcdctl;
// `member add`'s output compared with etcd's for the same commands (ids apart).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Etcd3 } from 'etcd3'
import { etcdctl, etcdctlJson } from '../../test-support/etcdctl.js'
import { freePorts, Member, pontoonCommand, startCluster } from '../../test-support/procs.js'
import { WatchClient } from '../../test-support/watch-client.js'
import { slow } from '../../test-support/quick.js'
import { Members } from './members.js'
import { decodeMemberContext, encodeMemberContext } from './state-machine.js'

/**
 * `etcdctl member add`'s output with its hex ids replaced by X (ids are random in etcd). Go's
 * `%16x` pads an id with leading zero digits to 16 with spaces, so the padding goes with the id.
 */
function withoutIds(text: string): string {
  return text.replace(/ +[0-9a-f]{12,16}\b/g, ' X')
}

/** Waits for a member's process to exit by itself; polls an outside process (no event). */
async function exited(m: Member, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const s = m.exitStatus
    if (s !== undefined && !m.running) return s.code
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${m.name} still runs after ${timeoutMs} ms; log tail:\n${m.logTail(20)}`)
}

/** etcdctl's printed ETCD_* lines as a map. */
function envLines(stdout: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const l of stdout.split('\n')) {
    const m = /^(ETCD_[A-Z_]+)="(.*)"$/.exec(l)
    if (m !== null) out.set(m[1]!, m[2]!)
  }
  return out
}

test(
  'member add, join with --initial-cluster-state existing, catch up, member remove',
  slow('2 pontoon processes and one etcd'),
  async (t) => {
    const cluster = await startCluster({ kind: 'pontoon', size: 1, t })
    const m1 = cluster.member(0)
    const ep = m1.clientUrl
    assert.equal((await etcdctl(ep, ['put', 'before', 'joined'])).code, 0)
    const [clientPort, peerPort] = await freePorts(2)
    const peerUrl = `http://127.0.0.1:${peerPort!}`
    const clientUrl = `http://127.0.0.1:${clientPort!}`

    const add = await etcdctl(ep, ['member', 'add', 'm2', `--peer-urls=${peerUrl}`])
    assert.equal(add.code, 0, add.stderr)
    const env = envLines(add.stdout)
    assert.equal(env.get('ETCD_NAME'), 'm2')
    // In the order of the members' ids (etcd's response order), and the new id is random.
    assert.deepEqual(env.get('ETCD_INITIAL_CLUSTER')!.split(',').sort(), [
      `m1=${m1.peerUrl}`,
      `m2=${peerUrl}`,
    ])
    assert.equal(env.get('ETCD_INITIAL_ADVERTISE_PEER_URLS'), peerUrl)
    assert.equal(env.get('ETCD_INITIAL_CLUSTER_STATE'), 'existing')

    // The same command on etcd prints the same lines, ids apart (its member's URLs differ).
    const etcd = await startCluster({ kind: 'etcd', size: 1, t })
    const etcdAdd = await etcdctl(etcd.member(0).clientUrl, [
      'member',
      'add',
      'm2',
      `--peer-urls=${peerUrl}`,
    ])
    assert.equal(etcdAdd.code, 0, etcdAdd.stderr)
    const norm = (s: string, own: string): string =>
      withoutIds(s).replace(/ETCD_INITIAL_CLUSTER="(.*)"/, (_l, list: string) => {
        const sorted = list.replace(own, 'M1').split(',').sort().join(',')
        return `ETCD_INITIAL_CLUSTER="${sorted}"`
      })
    assert.equal(norm(add.stdout, m1.peerUrl), norm(etcdAdd.stdout, etcd.member(0).peerUrl))
    await etcd.close()

    // Strict reconfiguration: one started member of two cannot take a third voter (etcd 3.4
    // sends this one with gRPC code Unknown).
    const third = await etcdctl(ep, ['member', 'add', 'm3', '--peer-urls=http://127.0.0.1:1'])
    assert.equal(third.code, 1)
    assert.match(
      third.stderr,
      /code = Unknown desc = etcdserver: re-configuration failed due to not enough started members/,
    )

    const m2 = new Member({ name: 'm2', clientUrl, peerUrl, dataDir: `${cluster.baseDir}/m2` })
    m2.argv = [
      ...pontoonCommand(),
      `--name=${env.get('ETCD_NAME')!}`,
      `--data-dir=${m2.dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${env.get('ETCD_INITIAL_ADVERTISE_PEER_URLS')!}`,
      `--initial-cluster=${env.get('ETCD_INITIAL_CLUSTER')!}`,
      `--initial-cluster-state=${env.get('ETCD_INITIAL_CLUSTER_STATE')!}`,
      '--heartbeat-interval=25',
      '--election-timeout=250',
    ]
    t.after(() => m2.kill())
    await m2.start(20_000)
    const got = await etcdctl(clientUrl, ['get', 'before', '--print-value-only'])
    assert.equal(got.stdout, 'joined\n', got.stderr)

    const list = (await etcdctlJson(ep, ['member', 'list'])) as {
      members: { ID: bigint; name: string; peerURLs: string[]; clientURLs: string[] }[]
    }
    assert.deepEqual(list.members.map((m) => m.name).sort(), ['m1', 'm2'])
    const m2Row = list.members.find((m) => m.name === 'm2')!
    assert.deepEqual(m2Row.peerURLs, [peerUrl])
    assert.deepEqual(m2Row.clientURLs, [clientUrl])

    // A restart of the joined member finds its ids (the ones the member add gave it) again.
    const since = m1.lines.length
    await m2.stop()
    await m2.start(20_000)
    // Membership changes need the voters connected (etcd's strict check): m1's link to m2 is
    // back up (it may be in its reconnect backoff when m2 says it is ready).
    await m1.waitForLine('peer became active', 10_000, "m1's link to m2 up again", since)
    assert.equal((await etcdctl(clientUrl, ['put', 'restarted', 'm2'])).code, 0)

    // Membership errors with etcd's texts.
    const dup = await etcdctl(ep, ['member', 'add', 'm3', `--peer-urls=${m1.peerUrl}`])
    assert.equal(dup.code, 1)
    assert.match(
      dup.stderr,
      /code = FailedPrecondition desc = etcdserver: Peer URLs already exists/,
    )
    const missing = await etcdctl(ep, ['member', 'remove', '1234'])
    assert.match(missing.stderr, /code = NotFound desc = etcdserver: member not found/)
    const id = m2Row.ID.toString(16)
    const voter = await etcdctl(ep, ['member', 'promote', id])
    assert.match(voter.stderr, /etcdserver: can only promote a learner member/)
    const client = new Etcd3({ hosts: ep })
    t.after(() => client.close())
    await assert.rejects(client.cluster.memberAdd({ peerURLs: ['http://127.0.0.1'] }), {
      message: /etcdserver: given member URLs are invalid/,
    })

    // Removed: the member stops by itself and exits 0, as etcd's does.
    const rm = await etcdctl(ep, ['member', 'remove', id])
    assert.equal(rm.code, 0, rm.stderr)
    assert.equal(await exited(m2, 15_000), 0)
    assert.ok(m2.lines.some((l) => l.includes('permanently removed from the cluster')))
    const after = (await etcdctlJson(ep, ['member', 'list'])) as { members: unknown[] }
    assert.equal(after.members.length, 1)
    // m2 may have led: m1 then elects itself, alone now.
    await cluster.waitForLeader(15_000)
    const put = await etcdctl(ep, ['put', 'after', 'removed'])
    assert.equal(put.code, 0, put.stderr)
  },
)

test(
  'strict reconfiguration with a member down: a live member stays, the down one may go',
  slow('3 pontoon processes'),
  async (t) => {
    const cluster = await startCluster({ kind: 'pontoon', size: 3, t })
    // The leader stays up: a conf change right after an election is one raft refuses while the
    // new leader has not applied its first entry (etcd's answer then is a timeout too).
    const { leader: a } = await cluster.waitForLeader(15_000)
    const [b, c] = cluster.members.filter((m) => m !== a) as [Member, Member]
    const list = (await etcdctlJson(a.clientUrl, ['member', 'list'])) as {
      members: { ID: bigint; name: string }[]
    }
    const idOf = (m: Member): string => list.members.find((x) => x.name === m.name)!.ID.toString(16)
    const since = a.lines.length
    await c.kill()
    // The leader's transport has seen the connection go (no other peer is down).
    await a.waitForLine('peer became inactive', 10_000, 'the link to the killed member down', since)
    // etcd 3.4 answers both with "unhealthy cluster" (checked against etcd by hand: the voters
    // still connected must stay a quorum, and an add needs every voter connected).
    const rmLive = await etcdctl(a.clientUrl, ['member', 'remove', idOf(b)])
    assert.equal(rmLive.code, 1)
    assert.match(rmLive.stderr, /code = Unavailable desc = etcdserver: unhealthy cluster/)
    const add = await etcdctl(a.clientUrl, [
      'member',
      'add',
      'm4',
      '--peer-urls=http://127.0.0.1:1',
    ])
    assert.match(add.stderr, /code = Unavailable desc = etcdserver: unhealthy cluster/)
    const rmDown = await etcdctl(a.clientUrl, ['member', 'remove', idOf(c)])
    assert.equal(rmDown.code, 0, rmDown.stderr)
    const after = (await etcdctlJson(b.clientUrl, ['member', 'list'])) as { members: unknown[] }
    assert.equal(after.members.length, 2)
  },
)

test('GET /members JSON: etcd shape, ids as exact decimal numbers above 2^53, read back', () => {
  const m = new Members()
  m.add({
    id: 0xf4a457008d1441f2n,
    name: 'm1',
    peerUrls: ['http://127.0.0.1:2380'],
    clientUrls: ['http://127.0.0.1:2379'],
    isLearner: false,
  })
  m.add({
    id: 0x241dd27610dc55b3n,
    name: '',
    peerUrls: ['http://a:1'],
    clientUrls: [],
    isLearner: false,
  })
  // etcd 3.4's answer for the same members, byte for byte (an unstarted member has no name).
  assert.equal(
    m.peerJson(),
    '[{"id":2602467564220863923,"peerURLs":["http://a:1"]},' +
      '{"id":17628310501313495538,"peerURLs":["http://127.0.0.1:2380"],"name":"m1",' +
      '"clientURLs":["http://127.0.0.1:2379"]}]',
  )
  assert.deepEqual(Members.fromPeerJson(m.peerJson()).list(), m.list())
})

test('members saved with their removed ids; the first saved format still reads', () => {
  const m = new Members()
  m.add({ id: 1n, name: 'a', peerUrls: ['http://a:1'], clientUrls: [], isLearner: true })
  m.add({ id: 2n, name: 'b', peerUrls: ['http://b:1'], clientUrls: [], isLearner: false })
  m.remove(2n)
  const back = Members.decode(m.encode())
  assert.deepEqual(back.list(), m.list())
  assert.ok(back.isRemoved(2n))
  assert.ok(!back.isRemoved(1n))
  const old = Buffer.from(
    JSON.stringify([{ id: 'a', name: 'x', peerUrls: [], clientUrls: [], isLearner: false }]),
  )
  assert.deepEqual(
    Members.decode(old)
      .list()
      .map((x) => x.id),
    [10n],
  )
})

test("a conf change's context is the member's JSON as etcd writes it, read back exactly", () => {
  const member = {
    id: 0x8a35b3a5205126f2n,
    name: '',
    peerUrls: ['http://127.0.0.1:23802'],
    clientUrls: [],
    isLearner: true,
  }
  const bytes = encodeMemberContext(member)
  assert.equal(
    Buffer.from(bytes).toString(),
    '{"id":9959063672792884978,"peerURLs":["http://127.0.0.1:23802"],"isLearner":true}',
  )
  assert.deepEqual(decodeMemberContext(bytes), member)
})

test(
  'a learner joins, serves only Status and serializable ranges, then is promoted',
  slow('2 pontoon processes'),
  async (t) => {
    const cluster = await startCluster({ kind: 'pontoon', size: 1, t })
    const m1 = cluster.member(0)
    const ep = m1.clientUrl
    assert.equal((await etcdctl(ep, ['put', 'k', 'v'])).code, 0)
    const [clientPort, peerPort] = await freePorts(2)
    const peerUrl = `http://127.0.0.1:${peerPort!}`
    const clientUrl = `http://127.0.0.1:${clientPort!}`
    const add = await etcdctl(ep, ['member', 'add', 'l2', '--learner', `--peer-urls=${peerUrl}`])
    assert.equal(add.code, 0, add.stderr)
    // Go's %16x pads ids with spaces to 16 digits.
    assert.match(add.stdout, /^Member +[0-9a-f]+ added to cluster +[0-9a-f]+/m)
    const env = envLines(add.stdout)
    const l2 = new Member({ name: 'l2', clientUrl, peerUrl, dataDir: `${cluster.baseDir}/l2` })
    l2.argv = [
      ...pontoonCommand(),
      '--name=l2',
      `--data-dir=${l2.dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${env.get('ETCD_INITIAL_CLUSTER')!}`,
      '--initial-cluster-state=existing',
      '--heartbeat-interval=25',
      '--election-timeout=250',
    ]
    t.after(() => l2.kill())
    await l2.start(20_000)

    // etcd 3.4's rule: a learner answers Status and serializable ranges, nothing else.
    const lin = await etcdctl(clientUrl, ['get', 'k'])
    assert.equal(lin.code, 1)
    assert.match(lin.stderr, /code = Unavailable desc = etcdserver: rpc not supported for learner/)
    const put = await etcdctl(clientUrl, ['put', 'k', 'w'])
    assert.match(put.stderr, /etcdserver: rpc not supported for learner/)
    const ser = await etcdctl(clientUrl, ['get', 'k', '--consistency=s', '--print-value-only'])
    assert.equal(ser.code, 0, ser.stderr)
    const status = (await etcdctlJson(clientUrl, ['endpoint', 'status'])) as {
      Status: { isLearner?: boolean }
    }[]
    assert.equal(status[0]!.Status.isLearner, true)
    // A watch too is refused at the stream's start (etcd 3.4's stream interceptor).
    const w = new WatchClient(clientUrl)
    t.after(() => w.close())
    w.create({ key: Buffer.from('k') })
    await w.until(() => w.ended !== undefined, 10_000, 'the watch call to end')
    assert.deepEqual(w.ended, { code: 14, details: 'etcdserver: rpc not supported for learner' })

    // Promoted once in sync with the leader: it then serves everything.
    const id = (/^Member +([0-9a-f]+) added/m.exec(add.stdout) ?? [])[1]!
    const promote = await etcdctl(ep, ['member', 'promote', id])
    assert.equal(promote.code, 0, promote.stderr)
    assert.match(promote.stdout, /promoted in cluster/)
    const after = await etcdctl(clientUrl, ['get', 'k', '--print-value-only'])
    assert.equal(after.stdout, 'v\n', after.stderr)
  },
)
