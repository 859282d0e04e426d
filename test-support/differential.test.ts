// test-support/differential.ts, the differential engine, validated against etcd 3.4 itself so
// that pointing it at pontoon is one line. Goal: the engine compares deterministically (etcd
// against etcd agrees on every answer), it can fail (a planted extra put is caught and shrunk to
// a short transcript), the error table is what etcd answers, and the helpers parse and compare
// exactly. Method: fresh etcd processes per test on free ports (procs.ts, tested in
// procs.test.ts), seeded fast-check sequences (fcParams), and pure checks of the helpers.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import fc from 'fast-check'
import {
  DifferentialError,
  compareResults,
  differentialAgainstEtcd,
  diffValues,
  formatOp,
  grpcTarget,
  limitFlags,
  normalize,
  opArbitraries,
  prefixEnd,
  runDifferential,
  runEtcdctlDifferential,
  toRequest,
} from './differential.js'
import type { Limits, Target } from './differential.js'
import { CASE_LIMITS, ERROR_CASES, describeAnswer, setupCases } from './etcd-errors.js'
import { etcdctl, parseJsonExact, parseJsonStream } from './etcdctl.js'
import { KvClient } from './kv-client.js'
import { startCluster } from './procs.js'
import { slow } from './quick.js'
import { fcParams } from './seed.js'

const LIMITS: Limits = { maxTxnOps: 8, maxRequestBytes: 4096 }

test('parseJsonExact keeps 64-bit ids exact and leaves small numbers as numbers', () => {
  const text =
    '{"header":{"cluster_id":324952591200643719,"member_id":3319814642761637952,' +
    '"revision":1,"raft_term":2},"leader":3319814642761637952,"ID":5,"x":-1.5e3,"s":"7\\"8"}'
  const v = parseJsonExact(text) as Record<string, Record<string, unknown>>
  assert.equal(v.header!.cluster_id, 324952591200643719n)
  assert.equal(v.header!.member_id, 3319814642761637952n)
  assert.equal(v.header!.revision, 1)
  assert.equal(v.leader, 3319814642761637952n)
  assert.equal(v.ID, 5n, 'an id field is a bigint whatever its size')
  assert.equal(v.x, -1500)
  assert.equal(v.s, '7"8')
  assert.equal((parseJsonExact('{"n":18446744073709551615}') as { n: bigint }).n, 2n ** 64n - 1n)
  assert.deepEqual(parseJsonStream('{"a":1}\n{"b":[2]}'), [{ a: 1 }, { b: [2] }])
})

test('prefixEnd is etcd GetPrefixRangeEnd', () => {
  assert.deepEqual(prefixEnd(Buffer.from('a')), Buffer.from('b'))
  assert.deepEqual(prefixEnd(Buffer.from('a/')), Buffer.from('a0'))
  assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from('b'))
  assert.deepEqual(prefixEnd(Buffer.from([0xff])), Buffer.from([0]))
  assert.deepEqual(prefixEnd(Buffer.alloc(0)), Buffer.from([0]))
})

test('answers compare field by field, ignoring member_id, cluster_id and raft_term', () => {
  const header = (rev: string, member: string) => ({
    cluster_id: '1',
    member_id: member,
    revision: rev,
    raft_term: member,
  })
  const kv = { key: Buffer.from('k'), value: Buffer.alloc(100, 'x'), version: '1' }
  const a = { ok: true as const, response: { header: header('5', '1'), kvs: [kv], more: false } }
  const b = { ok: true as const, response: { header: header('5', '2'), kvs: [kv], more: false } }
  assert.deepEqual(compareResults(a, b), [])
  const c = { ok: true as const, response: { header: header('6', '2'), kvs: [], more: true } }
  assert.deepEqual(compareResults(a, c), [
    'header.revision: "5" | "6"',
    'kvs.length: 1 | 0',
    'more: false | true',
  ])
  const err = { ok: false as const, code: 11, details: 'etcdserver: mvcc: x' }
  assert.deepEqual(normalize(err), { error: 'OUT_OF_RANGE', details: 'etcdserver: mvcc: x' })
  assert.deepEqual(compareResults(a, err).length, 1, 'a response and an error differ as a whole')
  assert.deepEqual(normalize(a), {
    header: { revision: '5' },
    kvs: [{ key: 'k', value: '<100 x "x">', version: '1' }],
    more: false,
  })
  assert.deepEqual(diffValues({ x: [1] }, { x: [1], y: 2 }), ['y: (absent) | 2'])
  // A txn's nested headers carry only the revision in etcd: their ids are compared.
  const nested = (m: string) => ({
    ok: true as const,
    response: { header: header('5', m), responses: [{ response_put: { header: header('5', m) } }] },
  })
  assert.deepEqual(compareResults(nested('1'), nested('2')), [
    'responses[0].response_put.header.member_id: "1" | "2"',
    'responses[0].response_put.header.raft_term: "1" | "2"',
  ])
})

test('the generator draws the same sequences from the same seed, all of them printable', (t) => {
  const { sequence } = opArbitraries({ limits: LIMITS })
  const draw = () => fc.sample(sequence, fcParams(t, { numRuns: 50 }))
  const seqs = draw()
  assert.deepEqual(seqs, draw())
  const kinds = new Set<string>()
  for (const ops of seqs) {
    for (const op of ops) {
      kinds.add(op.type)
      assert.ok(formatOp(op).startsWith(op.type))
      const { method, request } = toRequest({ prefix: 'r00001/', baseRev: 10 }, op)
      assert.ok(method.length > 0 && typeof request === 'object')
    }
  }
  assert.deepEqual([...kinds].sort(), ['compact', 'delete', 'put', 'range', 'txn'])
})

test('etcd 3.4 answers each invalid request with its code and text (the error table)', async (t) => {
  const cluster = await startCluster({ kind: 'etcd', extraArgs: limitFlags(CASE_LIMITS), t })
  const kv = new KvClient(cluster.member(0).clientUrl)
  t.after(() => kv.close())
  await setupCases(kv)
  const wrong: string[] = []
  for (const c of ERROR_CASES) {
    const r = await kv.call(c.method, c.request)
    if (r.ok || r.code !== c.code || r.details !== c.details) {
      wrong.push(`${c.name}: expected code ${c.code} "${c.details}", got ${describeAnswer(r)}`)
    }
  }
  assert.deepEqual(wrong, [])
  // Not errors: a range or delete whose end is below its key is empty, not refused.
  const empty = await kv.call('range', { key: Buffer.from('b'), range_end: Buffer.from('a') })
  assert.ok(empty.ok)
  assert.equal(empty.response.count, '0')
  // Reads are not proposed through raft: --max-request-bytes does not apply to them.
  const bigKey = await kv.call('range', { key: Buffer.alloc(5000, 'k') })
  assert.ok(bigKey.ok, describeAnswer(bigKey))
})

/** Two fresh single-member etcd 3.4 servers with LIMITS, as differential targets. */
async function twoEtcds(t: TestContext) {
  const opts = { kind: 'etcd' as const, extraArgs: limitFlags(LIMITS), t }
  const [c1, c2] = await Promise.all([startCluster(opts), startCluster(opts)])
  const a = grpcTarget('etcd-1', c1.member(0).clientUrl)
  const b = grpcTarget('etcd-2', c2.member(0).clientUrl)
  t.after(() => {
    a.close()
    b.close()
  })
  return { a, b, c1, c2 }
}

test(
  'etcd against etcd: every answer of every sequence is equal',
  slow('2 etcd processes, 40 sequences'),
  // The same one line that runs pontoon against etcd, with etcd on both sides.
  (t) => differentialAgainstEtcd(t, { kind: 'etcd' }, { limits: LIMITS, numRuns: 40, opsMax: 25 }),
)

test(
  'a planted extra put on one side is caught and shrunk to a short transcript',
  slow('2 etcd processes, shrinking'),
  async (t) => {
    const { a, b } = await twoEtcds(t)
    // The tampered side writes an extra key after every successful put: every later revision
    // differs, so the first put's header already shows it.
    const tampered: Target = {
      name: 'etcd-2+extra-put',
      async call(method, request) {
        const r = await b.call(method, request)
        if (method === 'put' && r.ok)
          await b.call('put', { key: Buffer.from('_extra'), value: Buffer.alloc(0) })
        return r
      },
    }
    const err = await runDifferential(t, { a, b: tampered, limits: LIMITS, numRuns: 40 }).then(
      () => assert.fail('the engine missed the planted difference'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof DifferentialError, String(err))
    assert.ok(err.ops.length <= 2, `shrunk to ${err.ops.length} ops:\n${err.message}`)
    assert.match(err.message, /header\.revision: "\d+" \| "\d+"/)
    assert.match(err.message, />> \d+\. /)
  },
)

test(
  'etcdctl against two etcds prints the same output',
  slow('2 etcd processes, etcdctl runs'),
  async (t) => {
    const { c1, c2 } = await twoEtcds(t)
    const commands = [
      ['put', 'k/a', '1'],
      ['put', 'k/b', '2', '-w', 'json'],
      ['put', 'k/a', '3', '--prev-kv'],
      ['get', 'k/', '--prefix'],
      ['get', 'k/', '--prefix', '--sort-by=MODIFY', '--order=DESCEND', '--limit=1'],
      ['get', 'k/a', '--from-key', '--keys-only'],
      ['get', 'k/', '--prefix', '--count-only', '-w', 'json'],
      ['get', 'k/a', '--rev=2', '--print-value-only'],
      ['get', 'k/a', '--rev=100'],
      ['del', 'k/b', '--prev-kv'],
      ['compaction', '3'],
      ['get', 'k/a', '--rev=2'],
      ['get', 'k/', '--prefix', '-w', 'json'],
      ['get', 'k/', '--prefix', '-w', 'fields'],
      ['put', 'k/d', '5', '-w', 'fields'],
      ['del', 'k/', '--from-key', '--prev-kv', '-w', 'json'],
      ['get', '', '--prefix'],
      ['del', ''],
    ].map((args) => ({ args }))
    const txn = { args: ['txn', '-i'], input: 'mod("k/a") > "0"\n\nput k/c 4\n\nget k/b\n\n' }
    const diff = await runEtcdctlDifferential({
      a: { name: 'etcd-1', endpoint: c1.member(0).clientUrl },
      b: { name: 'etcd-2', endpoint: c2.member(0).clientUrl },
      commands: [...commands, txn],
    })
    assert.deepEqual(diff, [])
    // And the same list catches a difference: one side gets one more put.
    await etcdctl(c2.member(0).clientUrl, ['put', 'k/extra', 'x'])
    const caught = await runEtcdctlDifferential({
      a: { name: 'etcd-1', endpoint: c1.member(0).clientUrl },
      b: { name: 'etcd-2', endpoint: c2.member(0).clientUrl },
      commands: [{ args: ['get', 'k/', '--prefix', '--keys-only'] }],
    })
    assert.ok(caught.length > 0)
  },
)
