// Goal: pontoon's Watch service answers etcd's clients as etcd 3.4.23 does. Method: the same
// writes and watches against a fresh etcd and a fresh pontoon, outputs compared (etcdctl watch's
// text and -w json; raw gRPC answers to bad input and fragmented catch-ups; seeded random write
// sequences with watchers opened at random revisions, compared event by event), the etcd3
// client's watcher on a follower of a 3-member cluster, and a client that never reads.
// etcdctl watch never exits on its own: each run ends when its output holds the scenario's last
// event (a terminator written last), or by itself when the server cancels the watch.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { Etcd3 } from 'etcd3'
import {
  encodeHeaders,
  encodeMessage,
  encodedSizeMax,
  watchCreateRequest,
  WatchRequestCodec,
} from '../api/index.js'
import { grpcTarget, normalizeCtl, limitFlags } from '../../test-support/differential.js'
import { ETCDCTL, etcdctl, type EtcdctlResult } from '../../test-support/etcdctl.js'
import { KvClient, type Message } from '../../test-support/kv-client.js'
import { startCluster } from '../../test-support/procs.js'
import { slow } from '../../test-support/quick.js'
import { WatchClient, flatten } from '../../test-support/watch-client.js'
import { runWatchDifferential } from '../../test-support/watch-differential.js'

/** Runs `etcdctl watch ...` until its stdout satisfies `done` (then kills it) or it exits. */
function etcdctlWatch(
  endpoint: string,
  args: readonly string[],
  done: (stdout: string) => boolean,
  timeoutMs = 20_000,
): Promise<EtcdctlResult> {
  return new Promise((resolve) => {
    const child = spawn(ETCDCTL, [`--endpoints=${endpoint}`, 'watch', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let killed = false
    const kill = (): void => {
      if (killed) return
      killed = true
      child.kill('SIGKILL')
    }
    const timer = setTimeout(kill, timeoutMs)
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s
      if (done(stdout)) kill()
    })
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      // Killed because the output was complete: report it as a clean end, whatever the signal.
      const complete = done(stdout)
      resolve({
        stdout,
        stderr,
        code: complete ? 0 : code,
        signal: complete ? null : signal,
      })
    })
  })
}

test(
  'etcdctl watch prints against pontoon what it prints against etcd 3.4',
  slow('an etcd and a pontoon process, etcdctl watches'),
  async (t) => {
    const [etcd, pontoon] = await Promise.all([
      startCluster({ kind: 'etcd', t }),
      startCluster({ kind: 'pontoon', t }),
    ])
    const eps = [etcd.member(0).clientUrl, pontoon.member(0).clientUrl] as const
    const onBoth = async (args: string[]): Promise<void> => {
      for (const ep of eps) {
        const r = await etcdctl(ep, args)
        assert.equal(r.code, 0, r.stderr)
      }
    }
    // Revisions 2..7, the same on both.
    for (const w of [
      ['put', 'k/a', '1'],
      ['put', 'k/b', '2'],
      ['put', 'k/a', '3'],
      ['del', 'k/b'],
      ['put', 'k/c', '4'],
      ['put', 'k/a', 'END'],
    ]) {
      await onBoth(w)
    }
    // The terminator, in text or in -w json (base64 "RU5E").
    const ended = (s: string): boolean => /^END$/m.test(s) || s.includes('"RU5E"')
    const history: string[][] = [
      ['k/a', '--rev', '2'],
      ['k/', '--prefix', '--rev', '2'],
      ['k/', '--prefix', '--rev', '3', '--prev-kv'],
      ['k/a', '--rev', '1', '-w', 'json'],
      ['k/', '--prefix', '--rev', '4', '--prev-kv', '-w', 'json'],
      ['k/a', 'k/c', '--rev', '2'],
    ]
    const diffs: string[] = []
    const compare = async (args: string[], done: (s: string) => boolean): Promise<void> => {
      const [a, b] = await Promise.all(eps.map((ep) => etcdctlWatch(ep, args, done)))
      // etcd's own output must be complete (its terminator, or its exit): no empty comparison.
      assert.ok(done(a!.stdout) || (a!.code !== null && a!.code !== 0), JSON.stringify(a))
      const na = normalizeCtl(a!, eps[0])
      const nb = normalizeCtl(b!, eps[1])
      if (JSON.stringify(na) !== JSON.stringify(nb)) {
        diffs.push(
          `etcdctl watch ${args.join(' ')}:\n  etcd:    ${JSON.stringify(na)}\n  pontoon: ${JSON.stringify(nb)}`,
        )
      }
    }
    for (const args of history) await compare(args, ended)
    // A watch waiting for a future revision, then the writes it waits for (live).
    const live = Promise.all(
      eps.map((ep) =>
        etcdctlWatch(ep, ['k/', '--prefix', '--rev', '8', '--prev-kv'], (s) => /^LAST$/m.test(s)),
      ),
    )
    await onBoth(['put', 'k/d', '5'])
    await onBoth(['del', 'k/', '--prefix'])
    await onBoth(['put', 'k/z', 'LAST'])
    const [la, lb] = await live
    assert.deepEqual(normalizeCtl(lb!, eps[1]), normalizeCtl(la!, eps[0]))
    // Cancelled by compaction: etcdctl prints the compact revision and exits with an error.
    await onBoth(['compaction', '5'])
    await compare(['k/a', '--rev', '2'], () => false)
    // From the compaction: END (7), then the prefix delete (9) of k/a, its last event.
    await compare(['k/a', '--rev', '5'], (s) => /^DELETE\nk\/a\n/m.test(s))
    assert.deepEqual(diffs, [])
  },
)

/** A response without the ids and term, which differ between two clusters. */
function plainResponse(r: Message): unknown {
  const h = r.header as Message
  return { ...r, header: { revision: h.revision } }
}

test(
  "bad input and fragments: pontoon answers etcd 3.4's responses, to the field",
  slow('an etcd and a pontoon process'),
  async (t) => {
    const limits = { maxTxnOps: 8, maxRequestBytes: 4096 }
    const [etcd, pontoon] = await Promise.all([
      startCluster({ kind: 'etcd', extraArgs: limitFlags(limits), t }),
      startCluster({ kind: 'pontoon', extraArgs: limitFlags(limits), t }),
    ])
    const sides = [etcd, pontoon].map((c) => {
      const kv = new KvClient(c.member(0).clientUrl)
      const w = new WatchClient(c.member(0).clientUrl)
      t.after(() => {
        kv.close()
        w.close()
      })
      return { kv, w }
    })
    const answers: unknown[][] = []
    for (const { kv, w } of sides) {
      for (let i = 0; i < 5; i++) {
        const r = await kv.call('put', { key: Buffer.from('a'), value: Buffer.from(`v${i}`) })
        assert.ok(r.ok)
      }
      assert.ok((await kv.call('compact', { revision: 4 })).ok)
      w.create({ key: Buffer.from('a'), watch_id: 5 })
      w.create({ key: Buffer.from('a'), watch_id: 5 }) // a duplicate id
      w.create({ key: Buffer.from('b'), range_end: Buffer.from('a') }) // an empty range
      w.cancel(99) // unknown: etcd 3.4 answers nothing
      w.progress()
      w.create({ key: Buffer.from('a'), start_revision: 2 }) // compacted
      w.create({ key: Buffer.from('a'), start_revision: 4, prev_kv: true, filters: [1] })
      w.cancel(5)
      await w.until(() => w.responses.length >= 9, 10_000, 'nine responses')
      w.progress() // a marker: nothing else was pending before it
      await w.until(() => w.responses.length >= 10, 10_000, 'the progress answer')
      // Per watch id, in order: how one watcher's answers interleave with another's is timing
      // (etcd catches up compacted watchers on a 100 ms ticker, pontoon in the next turn).
      const byId = [...w.responses].sort((a, b) => Number(a.watch_id) - Number(b.watch_id))
      answers.push(byId.map(plainResponse))
    }
    assert.deepEqual(answers[1], answers[0])

    // A catch-up larger than --max-request-bytes + gRPC's 512 KiB, asked with fragment.
    const frags: unknown[][] = []
    for (const { kv } of sides) {
      for (let i = 0; i < 160; i++) {
        const r = await kv.call('put', {
          key: Buffer.from(`f/${i}`),
          value: Buffer.alloc(3900, 'x'),
        })
        assert.ok(r.ok, JSON.stringify(r))
      }
    }
    for (const [i, c] of [etcd, pontoon].entries()) {
      const w = new WatchClient(c.member(0).clientUrl)
      t.after(() => w.close())
      const head = await sides[i]!.kv.call('range', { key: Buffer.from('f/0') })
      assert.ok(head.ok)
      const from = Number((head.response.kvs as Message[])[0]!.mod_revision)
      w.create({
        key: Buffer.from('f/'),
        range_end: Buffer.from('f0'),
        start_revision: from,
        fragment: true,
      })
      const events = (): number =>
        w.responses.reduce((n, r) => n + (r.events as unknown[]).length, 0)
      await w.until(() => events() >= 160, 20_000, '160 events')
      frags.push(
        w.responses.map((r) => ({
          fragment: r.fragment,
          created: r.created,
          events: (r.events as Message[]).length,
        })),
      )
      assert.deepEqual(flatten(w.responses).length, 161)
    }
    assert.deepEqual(frags[1], frags[0])
    assert.ok((frags[0] as Array<{ fragment: boolean }>).some((f) => f.fragment))
  },
)

test(
  "the etcd3 client's watcher on a follower of a 3-member cluster sees the leader's writes in order",
  slow('3 pontoon processes'),
  async (t) => {
    const c = await startCluster({ kind: 'pontoon', size: 3, t })
    const { leader } = await c.waitForLeader(15_000)
    const follower = c.members.find((m) => m !== leader)!
    const watching = new Etcd3({ hosts: follower.clientUrl })
    const writer = new Etcd3({ hosts: leader.clientUrl })
    t.after(() => {
      watching.close()
      writer.close()
    })
    const seen: string[] = []
    const watcher = await watching.watch().prefix('svc/').withPreviousKV().create()
    watcher.on('put', (kv, prev) =>
      seen.push(
        `put ${kv.key.toString()}=${kv.value.toString()} prev=${prev?.value.toString() ?? '-'}`,
      ),
    )
    watcher.on('delete', (kv) => seen.push(`delete ${kv.key.toString()}`))
    const n = 30
    for (let i = 0; i < n; i++) await writer.put(`svc/${i % 3}`).value(`${i}`)
    await writer.delete().key('svc/0')
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`saw ${seen.length}: ${seen.join('; ')}`)),
        15_000,
      )
      const check = (): void => {
        if (seen.length < n + 1) return
        clearTimeout(timer)
        resolve()
      }
      watcher.on('put', check)
      watcher.on('delete', check)
      check()
    })
    const want = Array.from(
      { length: n },
      (_, i) => `put svc/${i % 3}=${i} prev=${i >= 3 ? i - 3 : '-'}`,
    )
    want.push('delete svc/0')
    assert.deepEqual(seen, want)
    // History from a revision, on another follower.
    const other = c.members.find((m) => m !== leader && m !== follower)!
    const late = new Etcd3({ hosts: other.clientUrl })
    t.after(() => late.close())
    const first = await writer.get('svc/1').exec()
    const rev = Number(first.header.revision) - 5
    const replay: string[] = []
    const w2 = await late.watch().prefix('svc/').startRevision(String(rev)).create()
    await new Promise<void>((resolve) => {
      w2.on('data', (res) => {
        for (const e of res.events)
          replay.push(`${e.type} ${e.kv.key.toString()}@${e.kv.mod_revision}`)
        if (replay.length >= 6) resolve()
      })
    })
    assert.deepEqual(
      replay.map((s) => Number(s.split('@')[1])),
      [rev, rev + 1, rev + 2, rev + 3, rev + 4, rev + 5],
    )
    await watcher.cancel()
    await w2.cancel()
  },
)

test(
  'watch streams equal etcd 3.4 event by event: random writes, watchers at random revisions',
  slow('an etcd and a pontoon process, 25 random sequences'),
  async (t) => {
    const limits = { maxTxnOps: 8, maxRequestBytes: 4096 }
    const [etcd, pontoon] = await Promise.all([
      startCluster({ kind: 'etcd', extraArgs: limitFlags(limits), t }),
      startCluster({ kind: 'pontoon', extraArgs: limitFlags(limits), t }),
    ])
    const a = grpcTarget('etcd', etcd.member(0).clientUrl)
    const b = grpcTarget('pontoon', pontoon.member(0).clientUrl)
    t.after(() => {
      a.close()
      b.close()
    })
    const stats = await runWatchDifferential(t, {
      a: { target: a, endpoint: etcd.member(0).clientUrl },
      b: { target: b, endpoint: pontoon.member(0).clientUrl },
      limits,
      numRuns: 25,
      opsMax: 25,
    })
    t.diagnostic(JSON.stringify(stats))
    assert.ok(stats.events > 100 && stats.watchers > 25, JSON.stringify(stats))
  },
)

test(
  'watch streams on a follower of a 3-member cluster equal etcd 3.4 event by event',
  slow('an etcd and 3 pontoon processes, 10 random sequences'),
  async (t) => {
    const limits = { maxTxnOps: 8, maxRequestBytes: 4096 }
    const [etcd, pontoon] = await Promise.all([
      startCluster({ kind: 'etcd', extraArgs: limitFlags(limits), t }),
      startCluster({ kind: 'pontoon', size: 3, extraArgs: limitFlags(limits), t }),
    ])
    const { leader } = await pontoon.waitForLeader(15_000)
    const follower = pontoon.members.find((m) => m !== leader)!
    const a = grpcTarget('etcd', etcd.member(0).clientUrl)
    const b = grpcTarget('pontoon', leader.clientUrl)
    t.after(() => {
      a.close()
      b.close()
    })
    // Writes go to the leader; the watchers are the follower's, fed by its own applies.
    const stats = await runWatchDifferential(t, {
      a: { target: a, endpoint: etcd.member(0).clientUrl },
      b: { target: b, endpoint: follower.clientUrl },
      limits,
      numRuns: 10,
      opsMax: 20,
    })
    assert.ok(stats.events > 30 && stats.watchers > 10, JSON.stringify(stats))
  },
)

/** HTTP/2 frame: 9-byte header and payload. */
function frame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(stream, 5)
  return Buffer.concat([h, payload])
}

test(
  'a client that opens watches and never reads: writes go on, the member stays healthy, memory bounded',
  slow('a pontoon process, 3000 writes'),
  async (t) => {
    const c = await startCluster({ kind: 'pontoon', t })
    const m = c.member(0)
    const url = new URL(m.clientUrl)
    // A raw HTTP/2 client that sends one Watch call with 200 creates, then never reads a byte
    // (no WINDOW_UPDATE, no SETTINGS ack after the first): the server may send 64 KiB, no more.
    const socket = connect(Number(url.port), url.hostname)
    t.after(() => socket.destroy())
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    const headers = {
      ':method': 'POST',
      ':scheme': 'http',
      ':path': '/etcdserverpb.Watch/Watch',
      ':authority': url.host,
      'content-type': 'application/grpc',
      te: 'trailers',
    }
    const hb = Buffer.alloc(encodedSizeMax(headers))
    const block = hb.subarray(0, encodeHeaders(hb, 0, headers, false))
    const msgs: Buffer[] = []
    for (let i = 0; i < 200; i++) {
      const body = encodeMessage(WatchRequestCodec, {
        type: 'createRequest',
        createRequest: watchCreateRequest({ key: Buffer.from('s/'), rangeEnd: Buffer.from('s0') }),
      })
      const g = Buffer.alloc(5)
      g.writeUInt32BE(body.length, 1)
      msgs.push(g, Buffer.from(body))
    }
    socket.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        frame(4, 0, 0, new Uint8Array(0)),
        frame(1, 0x4, 1, block),
        frame(0, 0, 1, Buffer.concat(msgs)),
      ]),
    )
    socket.pause()
    const rssKb = (): number => {
      const s = readFileSync(`/proc/${m.pid}/status`, 'utf8')
      return Number(/VmRSS:\s+(\d+)/.exec(s)![1])
    }
    const kv = new KvClient(m.clientUrl)
    t.after(() => kv.close())
    // Warm up (JIT, pools), then measure: 3000 puts of 1 KiB that 200 watchers would each get,
    // 600 MB if they were kept for the client.
    for (let i = 0; i < 200; i++) {
      assert.ok(
        (await kv.call('put', { key: Buffer.from(`s/${i % 50}`), value: Buffer.alloc(1024, 'v') }))
          .ok,
      )
    }
    const before = rssKb()
    const started = Date.now()
    for (let i = 0; i < 3000; i++) {
      const r = await kv.call('put', {
        key: Buffer.from(`s/${i % 50}`),
        value: Buffer.alloc(1024, 'w'),
      })
      assert.ok(r.ok, JSON.stringify(r))
    }
    const ms = Date.now() - started
    const grownMb = (rssKb() - before) / 1024
    t.diagnostic(
      `3000 puts in ${ms} ms with a stuck watch client; RSS grew ${grownMb.toFixed(1)} MB`,
    )
    assert.ok(grownMb < 150, `RSS grew ${grownMb} MB`)
    const health = await fetch(`${m.clientUrl}/health`)
    assert.deepEqual(await health.json(), { health: 'true' })
    // Another client's watch still works at once.
    const w = new WatchClient(m.clientUrl)
    t.after(() => w.close())
    w.create({ key: Buffer.from('s/1'), start_revision: 2 })
    await w.until(() => flatten(w.responses).length > 10, 10_000, 'events for a fresh watcher')
  },
)

test(
  'progress_notify on a timer (--experimental-watch-progress-notify-interval) as etcd 3.4',
  slow('an etcd and a pontoon process'),
  async (t) => {
    const flags = ['--experimental-watch-progress-notify-interval=300ms']
    const [etcd, pontoon] = await Promise.all([
      startCluster({ kind: 'etcd', extraArgs: flags, t }),
      startCluster({ kind: 'pontoon', extraArgs: flags, t }),
    ])
    const got: unknown[] = []
    for (const c of [etcd, pontoon]) {
      const kv = new KvClient(c.member(0).clientUrl)
      const w = new WatchClient(c.member(0).clientUrl)
      t.after(() => {
        kv.close()
        w.close()
      })
      assert.ok((await kv.call('put', { key: Buffer.from('p'), value: Buffer.from('1') })).ok)
      w.create({ key: Buffer.from('p'), progress_notify: true })
      w.create({ key: Buffer.from('q') }) // no progress for this one
      const progress = (): Message[] =>
        w.responses.filter((r) => r.created !== true && (r.events as unknown[]).length === 0)
      await w.until(() => progress().length >= 2, 10_000, 'two progress notifications')
      got.push(progress().slice(0, 2).map(plainResponse))
    }
    assert.deepEqual(got[1], got[0])
  },
)
