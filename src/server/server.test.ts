// Goal: pontoon, run as a real process, answers etcd's own clients as etcd 3.4.23 does. Method:
// the same commands to a fresh etcd (Debian's etcd-server) and a fresh pontoon, outputs compared
// (etcdctl's text and -w json, raw gRPC answers of seeded random sequences, the table of etcd's
// errors), and checks of what has no etcd twin in one process (ids, milestones, refusals).
// Processes, ports and data dirs come from test-support/procs.ts and are cleaned up after each
// test.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { connect } from 'node:net'
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import {
  differentialAgainstEtcd,
  limitFlags,
  runEtcdctlDifferential,
} from '../../test-support/differential.js'
import {
  CASE_LIMITS,
  ERROR_CASES,
  describeAnswer,
  setupCases,
} from '../../test-support/etcd-errors.js'
import { etcdctl, etcdctlJson } from '../../test-support/etcdctl.js'
import { KvClient } from '../../test-support/kv-client.js'
import { pontoonCommand, startCluster } from '../../test-support/procs.js'
import { slow } from '../../test-support/quick.js'
import { testRand } from '../../test-support/seed.js'

test(
  'etcdctl prints against pontoon what it prints against etcd 3.4',
  slow('an etcd and a pontoon process, 30 etcdctl runs each'),
  async (t) => {
    const [etcd, pontoon] = await Promise.all([
      startCluster({ kind: 'etcd', t }),
      startCluster({ kind: 'pontoon', t }),
    ])
    const commands = [
      ['put', 'k/a', '1'],
      ['put', 'k/b', '2', '-w', 'json'],
      ['put', 'k/a', '3', '--prev-kv'],
      ['put', 'k/c', '4', '-w', 'fields'],
      ['get', 'k/a'],
      ['get', 'k/', '--prefix'],
      ['get', 'k/', '--prefix', '--sort-by=MODIFY', '--order=DESCEND', '--limit=1'],
      ['get', 'k/', '--prefix', '--sort-by=VALUE', '--order=ASCEND', '-w', 'json'],
      ['get', 'k/a', '--from-key', '--keys-only'],
      ['get', 'k/', '--prefix', '--count-only', '-w', 'json'],
      ['get', 'k/a', '--rev=2', '--print-value-only'],
      ['get', 'k/', '--prefix', '--limit=2', '-w', 'json'],
      ['get', 'k/a', '--rev=100'],
      ['get', 'k/a', '--consistency=s'],
      ['del', 'k/b', '--prev-kv'],
      ['compaction', '3'],
      ['compaction', '3'],
      ['compaction', '--physical', '4'],
      ['get', 'k/a', '--rev=2'],
      ['get', 'k/', '--prefix', '-w', 'json'],
      ['get', 'k/', '--prefix', '-w', 'fields'],
      ['del', 'k/', '--from-key', '--prev-kv', '-w', 'json'],
      ['get', '', '--prefix'],
      ['del', ''],
      ['put', '', 'x'],
    ].map((args) => ({ args }))
    const txns = [
      'mod("k/a") > "0"\n\nput k/c 4\n\nget k/b\n\n',
      'value("k/c") = "4"\n\nput k/d 5\nget k/c\n\nput k/e 6\n\n',
      'version("k/zz") = "0"\ncreate("k/c") < "1000"\n\ndel k/c\n\nput k/f 7\n\n',
    ].map((input) => ({ args: ['txn', '-i', '-w', 'json'], input }))
    const diff = await runEtcdctlDifferential({
      a: { name: 'etcd', endpoint: etcd.member(0).clientUrl },
      b: { name: 'pontoon', endpoint: pontoon.member(0).clientUrl },
      commands: [...commands, ...txns],
    })
    assert.deepEqual(diff, [])
  },
)

test(
  'KV answers every random sequence as etcd 3.4 does (raw gRPC, field by field)',
  slow('2 servers, 60 random sequences'),
  (t) => differentialAgainstEtcd(t, { kind: 'pontoon' }, { numRuns: 60, opsMax: 30 }),
)

test("invalid requests get etcd's status codes and texts", slow('a pontoon process'), async (t) => {
  const c = await startCluster({ kind: 'pontoon', extraArgs: limitFlags(CASE_LIMITS), t })
  const kv = new KvClient(c.member(0).clientUrl)
  t.after(() => kv.close())
  await setupCases(kv)
  const wrong: string[] = []
  for (const k of ERROR_CASES) {
    const r = await kv.call(k.method, k.request)
    if (r.ok || r.code !== k.code || r.details !== k.details) {
      wrong.push(`${k.name}: want code ${k.code} "${k.details}", got ${describeAnswer(r)}`)
    }
  }
  assert.deepEqual(wrong, [])
  // Nothing refused changed anything: still revision 3, "a" = "2".
  const after = await kv.call('range', { key: Buffer.from('a') })
  assert.ok(after.ok)
  const res = after.response as { header: { revision: string }; kvs: { value: Buffer }[] }
  assert.equal(res.header.revision, '3')
  assert.equal(Buffer.from(res.kvs[0]!.value).toString(), '2')
})

test(
  'three members: ids as etcd derives them, member list, endpoint status and health, the etcd3 client',
  slow('3 pontoon processes'),
  async (t) => {
    const c = await startCluster({ kind: 'pontoon', size: 3, t })
    const { leader, statuses } = await c.waitForLeader(15_000)
    const members = (await etcdctlJson(c.clientUrls.slice(0, 1), ['member', 'list'])) as {
      header: { cluster_id: bigint }
      members: { ID: bigint; name: string; peerURLs: string[]; clientURLs: string[] }[]
    }
    assert.deepEqual(
      members.members.map((m) => [m.name, m.peerURLs, m.clientURLs]).sort(),
      c.members.map((m) => [m.name, [m.peerUrl], [m.clientUrl]]).sort(),
    )
    // Each member's id is etcd's for its peer URL and the cluster token; all agree on the leader.
    for (const s of statuses) {
      assert.equal(s?.leader, statuses[0]?.leader)
      assert.ok(members.members.some((m) => m.ID === s?.memberId))
      assert.equal(s?.clusterId, members.header.cluster_id)
    }
    const health = await etcdctl(c.clientUrls, ['endpoint', 'health'])
    assert.equal(health.code, 0, health.stderr)
    assert.equal(health.stderr.match(/is healthy: successfully committed proposal/g)?.length, 3)
    // The etcd3 npm client: a put on a follower, read back from the leader.
    const follower = c.members.find((m) => m !== leader)!
    const client = new Etcd3({ hosts: follower.clientUrl })
    t.after(() => client.close())
    await client.put('greeting').value('hello')
    const reader = new Etcd3({ hosts: leader.clientUrl })
    t.after(() => reader.close())
    assert.equal(await reader.get('greeting').string(), 'hello')
    assert.deepEqual(await reader.getAll().prefix('greet').keys(), ['greeting'])
  },
)

test(
  "the milestones of etcd's log, and a data dir of another cluster refused untouched",
  slow('pontoon processes'),
  async (t) => {
    const c = await startCluster({ kind: 'pontoon', t })
    const m = c.member(0)
    const msgs = m.jsonLines().map((l) => (l as { msg?: string }).msg)
    for (const want of [
      'published local member to cluster through raft',
      'enabled capabilities for version',
      'ready to serve client requests',
    ]) {
      assert.ok(msgs.includes(want), `log has "${want}"`)
    }
    await m.stop()
    const before = snapshotDir(m.dataDir)
    // The same data dir under another cluster token: another member id and cluster id.
    const [cmd, ...args] = m.argv.filter((a) => !a.startsWith('--initial-cluster-token'))
    const r = spawnSync(cmd!, [...args, '--initial-cluster-token=other'], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /belongs to node [0-9a-f]+ of cluster [0-9a-f]+, not node/)
    assert.deepEqual(snapshotDir(m.dataDir), before)
  },
)

test("bad flags exit non-zero with etcd's words and write nothing", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pontoon-flags-'))
  const [cmd, ...args] = pontoonCommand()
  const run = (...flags: string[]) =>
    spawnSync(cmd!, [...args, `--data-dir=${join(dir, 'd')}`, ...flags], {
      encoding: 'utf8',
      timeout: 20_000,
    })
  const bogus = run('--bogus')
  assert.notEqual(bogus.status, 0)
  assert.match(bogus.stderr, /flag provided but not defined: -bogus/)
  const url = run('--listen-client-urls=foo')
  assert.notEqual(url.status, 0)
  assert.match(url.stderr, /URL scheme must be http, https, unix, or unixs: foo/)
  assert.deepEqual(readdirSync(dir), [])
  const version = spawnSync(cmd!, [...args, '--version'], { encoding: 'utf8' })
  assert.equal(version.status, 0)
  assert.match(version.stdout, /^pontoon Version: /)
})

/** Every file under `dir` with its size and modification time. */
function snapshotDir(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      const st = statSync(p)
      if (st.isDirectory()) walk(p)
      else
        out.push(`${p} ${st.size} ${st.mtimeMs} ${readFileSync(p).subarray(0, 64).toString('hex')}`)
    }
  }
  walk(dir)
  return out.sort()
}

test(
  'garbage and cut-off frames on the client and peer ports: connections closed, members serve on',
  slow('3 pontoon processes'),
  async (t) => {
    const c = await startCluster({ kind: 'pontoon', size: 3, t })
    const rand = testRand(t)
    const put = await etcdctl(c.clientUrls, ['put', 'before', 'garbage'])
    assert.equal(put.code, 0, put.stderr)
    const noise = (n: number): Buffer => {
      const b = Buffer.alloc(n)
      for (let i = 0; i < n; i++) b[i] = rand.nextU32() & 0xff
      return b
    }
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
    const inputs = [
      noise(64),
      noise(4096),
      Buffer.from('GET /raft HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.concat([preface, noise(200)]),
      // A HEADERS frame header that promises more than ever comes.
      Buffer.concat([
        preface,
        Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
        Buffer.from([0, 0x40, 0, 1, 0, 0, 0, 0, 1]),
      ]),
      // A length-prefixed frame cut short, as a peer that died mid-write leaves it.
      Buffer.from([0, 0, 0x10, 0, 1, 2, 3]),
    ]
    for (const m of c.members) {
      for (const url of [m.clientUrl, m.peerUrl]) {
        for (const bytes of inputs) await sendAndClose(url, bytes)
      }
    }
    // A client that goes away mid-request: a put whose connection is destroyed at once.
    await sendAndClose(c.member(0).clientUrl, Buffer.concat([preface, noise(9)]))
    for (const m of c.members) assert.ok(m.running, `${m.name} still runs`)
    const after = await etcdctl(c.clientUrls, ['put', 'after', 'garbage'])
    assert.equal(after.code, 0, after.stderr)
    for (const m of c.members) {
      const got = await etcdctl([m.clientUrl], ['get', 'before', '--print-value-only'])
      assert.equal(got.stdout, 'garbage\n', m.name)
      const fatal = m.jsonLines().filter((l) => l.level === 'fatal' || l.level === 'error')
      assert.deepEqual(
        fatal.filter((l) => !/peer|connection|frame|handshake/i.test(String(l.msg))),
        [],
      )
    }
  },
)

/** Connects to `url`, writes `bytes`, and resolves once the server closed or 500 ms passed. */
function sendAndClose(url: string, bytes: Buffer): Promise<void> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const s = connect({ host: hostname, port: Number(port) }, () => s.write(bytes))
    const done = (): void => {
      clearTimeout(timer)
      s.destroy()
      resolve()
    }
    const timer = setTimeout(done, 500)
    s.on('data', () => {})
    s.on('error', done)
    s.on('close', done)
  })
}
