// The public surface of pontoon/transport, its typed errors and its input checks. Goal: every
// exported name is a decision, a TcpTransport is a node Transport without either layer importing
// the other, bad URLs, limits and listen addresses fail with a TransportError naming them, and
// membership changes (setPeer, removePeer) take effect. Method: import the package by name as the
// server does; real sockets on 127.0.0.1 where a connection is needed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import * as transport from 'pontoon/transport'
import {
  TcpTransport,
  TransportError,
  parsePeerUrl,
  type PeerHandler,
  type TransportLogger,
} from 'pontoon/transport'
import type { Transport as NodeTransport } from 'pontoon/node'
import { MessageType, message, type Message, type NodeId } from 'pontoon/raft'

test('pontoon/transport exports exactly these names', () => {
  assert.deepEqual(Object.keys(transport).sort(), [
    'DEFAULT_LIMITS',
    'MEMBER_REMOVED_TEXT',
    'TcpTransport',
    'TransportError',
    'parsePeerUrl',
    'parsePeerUrls',
    'silentLogger',
  ])
  // A TcpTransport is the node driver's Transport by structure (checked by the compiler).
  const t: NodeTransport = new TcpTransport({
    id: 1n,
    clusterId: 1n,
    listenUrls: ['http://127.0.0.1:0'],
    peers: new Map(),
  })
  void t
  // The server's pino logger is a TransportLogger as it is (checked by the compiler).
  const log: TransportLogger = pino({ level: 'silent' })
  log.info({ 'local-member-id': '1' }, 'checked')
})

test('peer URLs are checked as etcd checks them, with the URL named', () => {
  assert.deepEqual(parsePeerUrl('http://127.0.0.1:2380'), {
    url: 'http://127.0.0.1:2380',
    host: '127.0.0.1',
    port: 2380,
  })
  assert.deepEqual(parsePeerUrl('HTTP://[::1]:2380/'), {
    url: 'http://[::1]:2380',
    host: '::1',
    port: 2380,
  })
  assert.equal(parsePeerUrl('http://localhost:0', { listen: true }).port, 0)
  const bad: [string, RegExp][] = [
    ['127.0.0.1:2380', /expected http:\/\/host:port/],
    ['https://a:2380', /not supported yet/],
    ['ftp://a:2380', /URL scheme must be http/],
    ['http://a:2380/x', /must not contain a path/],
    ['http://a', /does not have the form "host:port"/],
    ['http://a:70000', /above 65535/],
    ['http://a:0', /port 0 is only for a URL to listen on/],
  ]
  for (const [text, why] of bad) {
    assert.throws(
      () => parsePeerUrl(text),
      (e: unknown) =>
        TransportError.is(e, 'INVALID_URL') && why.test(e.message) && e.message.includes(text),
      text,
    )
  }
  assert.throws(
    () => transport.parsePeerUrls(['http://a:1', 'http://a:1/']),
    /peer URL http:\/\/a:1 given twice/,
  )
})

test('bad options fail at construction with a TransportError naming them', () => {
  const base = { id: 1n, clusterId: 1n, listenUrls: ['http://127.0.0.1:0'], peers: new Map() }
  const cases: [Partial<ConstructorParameters<typeof TcpTransport>[0]>, string, RegExp][] = [
    [
      { limits: { queueMessagesMax: 0 } },
      'INVALID',
      /limits.queueMessagesMax \(0\) must be a positive integer/,
    ],
    [
      { limits: { backoffMinMs: 100, backoffMaxMs: 10 } },
      'INVALID',
      /backoffMaxMs \(10\) is below backoffMinMs \(100\)/,
    ],
    [
      { limits: { snapshotChunkBytes: 2 << 20, messageBytesMax: 1 << 20 } },
      'INVALID',
      /snapshotChunkBytes/,
    ],
    [{ id: 0n }, 'INVALID', /member id 0/],
    [{ listenUrls: [] }, 'INVALID_URL', /no peer URL given/],
    [{ peers: new Map([[2n, ['http://x']]]) }, 'INVALID_URL', /"http:\/\/x"/],
  ]
  for (const [o, code, why] of cases) {
    assert.throws(
      () => new TcpTransport({ ...base, ...o }),
      (e: unknown) => e instanceof TransportError && e.code === code && why.test(e.message),
      why.source,
    )
  }
})

test('a listen address in use fails with LISTEN_FAILED naming it', async () => {
  const a = new TcpTransport({
    id: 1n,
    clusterId: 1n,
    listenUrls: ['http://127.0.0.1:0'],
    peers: new Map(),
  })
  const [url] = await a.listen()
  const b = new TcpTransport({
    id: 2n,
    clusterId: 1n,
    listenUrls: [url as string],
    peers: new Map(),
  })
  await assert.rejects(
    b.listen(),
    (e: unknown) => TransportError.is(e, 'LISTEN_FAILED') && e.message.includes(url as string),
  )
  await Promise.all([a.stop(), b.stop()])
  await assert.rejects(a.listen(), (e: unknown) => TransportError.is(e, 'STOPPED'))
})

test('removePeer drops messages to it (unreachable, warned once); setPeer brings it back', async () => {
  const logs: string[] = []
  let wake = (): void => {}
  const logger: TransportLogger = {
    debug: () => {},
    info: (_f, m) => void (logs.push(m), wake()),
    warn: (_f, m) => void (logs.push(m), wake()),
    error: (_f, m) => void (logs.push(m), wake()),
  }
  const received: Message[] = []
  const unreachable: NodeId[] = []
  const handler = (): PeerHandler => ({
    receive: (m) => void (received.push(m), wake()),
    unreachable: (p) => void unreachable.push(p),
    snapshotStatus: () => {},
  })
  const until = (check: () => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error('timed out')), 20_000)
      wake = () => {
        if (check()) {
          clearTimeout(guard)
          resolve()
        }
      }
      wake()
    })
  const b = new TcpTransport({
    id: 2n,
    clusterId: 1n,
    listenUrls: ['http://localhost:0'],
    peers: new Map(),
  })
  const [url] = await b.listen()
  assert.match(url as string, /^http:\/\/127\.0\.0\.1:\d+$/)
  const a = new TcpTransport({
    id: 1n,
    clusterId: 1n,
    listenUrls: ['http://127.0.0.1:0'],
    peers: new Map(),
    logger,
  })
  await a.listen()
  b.start(handler())
  a.start(handler())
  const hb = (): Message => message({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 })
  try {
    a.send([hb(), hb()])
    a.send([hb()])
    assert.deepEqual(unreachable, [2n, 2n])
    assert.equal(
      logs.filter((l) => l === 'ignored message send request; unknown remote peer target').length,
      1,
    )
    // A peer URL given as localhost is dialed at 127.0.0.1.
    a.setPeer(2n, [(url as string).replace('127.0.0.1', 'localhost')])
    await until(() => logs.includes('peer became active'))
    a.send([hb()])
    await until(() => received.length === 1)
    a.removePeer(2n)
    a.send([hb()])
    assert.deepEqual(unreachable, [2n, 2n, 2n])
    assert.equal(a.stats(2n).sentMessages, 0) // no link for 2 any more
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})
