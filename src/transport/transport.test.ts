// Goal: TcpTransport carries raft messages between members on real sockets and keeps its
// promises when peers misbehave: a cluster elects and commits over it, a restarted peer is
// reconnected, a peer of another cluster or for another member is refused and logged, a peer
// that stops reading costs bounded memory (messages dropped, unreachable reported), a snapshot of
// megabytes streams on its own connection and ends in SnapshotFinish, and garbage or truncated
// frames close only their own connection. Method: transports on 127.0.0.1 port 0 in this
// process, raw node:net sockets playing bad peers; every wait is on an event or a condition
// checked at each event, with a timeout only as the failure guard (no sleeps).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type Socket } from 'node:net'
import {
  EMPTY_BYTES,
  emptyConfState,
  MessageType,
  SnapshotStatus,
  decodeMessage,
  encodeMessage,
  entry,
  message,
  type Entry,
  type Message,
  type NodeId,
  type Snapshot,
} from '../raft/index.js'
import { MemoryNodeStorage, RaftNode, systemClock, type StateMachine } from '../node/index.js'
import { TcpTransport, type TcpTransportOptions, type TransportLimits } from './index.js'
import { encodeHello, encodeSnapHead, frame, FrameReader, FrameType, StreamKind } from './frame.js'
import type { PeerHandler, TransportLogger } from './types.js'
import { testRand } from '../../test-support/seed.js'

const GUARD_MS = 20_000

/** Everything that happens, so a test can wait for a condition checked at each event. */
class Events {
  private waiters: { check: () => boolean; resolve: () => void }[] = []

  notify(): void {
    const left: typeof this.waiters = []
    for (const w of this.waiters)
      if (w.check()) w.resolve()
      else left.push(w)
    this.waiters = left
  }

  until(what: string, check: () => boolean, guardMs = GUARD_MS): Promise<void> {
    if (check()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), guardMs)
      this.waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
    })
  }
}

interface LogLine {
  level: string
  fields: Record<string, unknown>
  message: string
}

/** A member's view: what its transport delivered and reported, and what it logged. */
class Probe implements PeerHandler {
  received: Message[] = []
  unreachables: NodeId[] = []
  snapshots: [NodeId, SnapshotStatus][] = []
  logs: LogLine[] = []
  readonly logger: TransportLogger

  constructor(readonly events: Events) {
    const line = (level: string) => (fields: Record<string, unknown>, message: string) => {
      this.logs.push({ level, fields, message })
      events.notify()
    }
    this.logger = {
      debug: line('debug'),
      info: line('info'),
      warn: line('warn'),
      error: line('error'),
    }
  }
  receive(m: Message): void {
    this.received.push(m)
    this.events.notify()
  }
  unreachable(peer: NodeId): void {
    this.unreachables.push(peer)
    this.events.notify()
  }
  snapshotStatus(peer: NodeId, status: SnapshotStatus): void {
    this.snapshots.push([peer, status])
    this.events.notify()
  }
  logged(message: string): LogLine[] {
    return this.logs.filter((l) => l.message === message)
  }
}

const FAST: Partial<TransportLimits> = { backoffMinMs: 5, backoffMaxMs: 50 }

async function member(
  events: Events,
  o: Partial<TcpTransportOptions> & { id: NodeId },
): Promise<{ t: TcpTransport; probe: Probe; url: string }> {
  const probe = new Probe(events)
  const t = new TcpTransport({
    clusterId: 0xc1n,
    listenUrls: ['http://127.0.0.1:0'],
    peers: new Map(),
    logger: probe.logger,
    ...o,
    limits: { ...FAST, ...o.limits },
  })
  const [url] = await t.listen()
  return { t, probe, url: url as string }
}

function app(from: NodeId, to: NodeId, index: number, bytes = 16): Message {
  return message({
    type: MessageType.MsgApp,
    from,
    to,
    term: 1,
    index,
    entries: [entry({ term: 1, index: index + 1, data: new Uint8Array(bytes).fill(index & 0xff) })],
  })
}

/** A raw client socket, with a promise for its close. */
function rawConnect(url: string): Promise<{ s: Socket; closed: Promise<Buffer> }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const s = connect({ host: hostname, port: Number(port) }, () => {
      const chunks: Buffer[] = []
      s.on('data', (c: Buffer) => chunks.push(c))
      const closed = new Promise<Buffer>((r) => s.on('close', () => r(Buffer.concat(chunks))))
      resolve({ s, closed })
    })
    s.once('error', reject)
  })
}

test('three RaftNodes elect a leader and commit proposals over TCP', async () => {
  const events = new Events()
  const ids = [1n, 2n, 3n]
  const members = await Promise.all(ids.map((id) => member(events, { id })))
  for (const [i, m] of members.entries()) {
    for (const [j, other] of members.entries())
      if (i !== j) m.t.setPeer(ids[j] as NodeId, [other.url])
  }
  const machines = ids.map(() => new ListMachine())
  const nodes = await Promise.all(
    ids.map((id, i) =>
      RaftNode.start({
        id,
        peers: ids,
        storage: new MemoryNodeStorage(),
        stateMachine: machines[i] as ListMachine,
        transport: (members[i] as { t: TcpTransport }).t,
        clock: systemClock,
        tickMs: 10,
        electionTicks: 50, // 500 ms: a busy machine's pauses do not depose the leader
      }),
    ),
  )
  try {
    const leaders = await Promise.all(nodes.map((n) => n.leader()))
    assert.ok(leaders.every((l) => l === leaders[0]))
    const enc = new TextEncoder()
    for (let i = 0; i < 20; i++) await (nodes[i % 3] as RaftNode).propose(enc.encode(`p${i}`))
    await Promise.all(nodes.map((n) => n.read()))
    const want = Array.from({ length: 20 }, (_, i) => `p${i}`)
    for (const m of machines) assert.deepEqual(m.values, want)
    for (const m of members) assert.equal(m.probe.logged('peer became active').length, 2)
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
    await Promise.all(members.map((m) => m.t.stop()))
  }
})

test('a member restarted empty catches up by a snapshot streamed over TCP', async () => {
  const events = new Events()
  const ids = [1n, 2n, 3n]
  const members = await Promise.all(ids.map((id) => member(events, { id })))
  const urls = members.map((m) => m.url)
  for (const [i, m] of members.entries()) {
    for (const [j, url] of urls.entries()) if (i !== j) m.t.setPeer(ids[j] as NodeId, [url])
  }
  // A 500 ms election timeout: a busy machine's pauses do not depose the leader mid-test.
  const opts = {
    tickMs: 10,
    electionTicks: 50,
    snapshotCount: 10,
    snapshotCatchUpEntries: 2,
    clock: systemClock,
  }
  const nodes = await Promise.all(
    ids.map((id, i) =>
      RaftNode.start({
        ...opts,
        id,
        peers: ids,
        storage: new MemoryNodeStorage(),
        stateMachine: new ListMachine(),
        transport: (members[i] as { t: TcpTransport }).t,
      }),
    ),
  )
  // A follower goes away (so the proposals below need no new election)...
  const leader = await (nodes[0] as RaftNode<void>).leader()
  const v = ids.findIndex((id) => id !== leader)
  const live = ids.map((_, i) => i).filter((i) => i !== v)
  let restarted: { node: RaftNode<void>; t: TcpTransport } | null = null
  try {
    await (nodes[v] as RaftNode<void>).stop()
    await (members[v] as { t: TcpTransport }).t.stop()
    // ...the others commit enough for several snapshots and log compactions...
    const enc = new TextEncoder()
    for (let i = 0; i < 60; i++) {
      await (nodes[live[i % 2] as number] as RaftNode<void>).propose(enc.encode(`p${i}`))
    }
    // ...and it comes back with empty storage on its address: only a snapshot can catch it up.
    const probe = new Probe(events)
    const t = new TcpTransport({
      id: ids[v] as NodeId,
      clusterId: 0xc1n,
      listenUrls: [urls[v] as string],
      peers: new Map(live.map((i) => [ids[i] as NodeId, [urls[i] as string]])),
      logger: probe.logger,
      limits: FAST,
    })
    await t.listen()
    const machine = new ListMachine()
    const node = await RaftNode.start({
      ...opts,
      id: ids[v] as NodeId,
      storage: new MemoryNodeStorage(),
      stateMachine: machine,
      transport: t,
    })
    restarted = { node, t }
    await events.until(
      'a snapshot arrives',
      () => probe.logged('received database snapshot').length >= 1,
    )
    await node.read()
    assert.deepEqual(
      machine.values,
      Array.from({ length: 60 }, (_, i) => `p${i}`),
    )
    const sent = live.flatMap((i) =>
      (members[i] as { probe: Probe }).probe.logged('sent database snapshot'),
    )
    assert.ok(sent.length >= 1)
  } finally {
    await Promise.all(live.map((i) => (nodes[i] as RaftNode<void>).stop()))
    await restarted?.node.stop()
    await Promise.all([...members.map((m) => m.t.stop()), restarted?.t.stop()])
  }
})

class ListMachine implements StateMachine<void> {
  values: string[] = []
  index = 0
  appliedIndex = (): number => this.index
  apply = (entries: readonly Entry[]): void[] =>
    entries.map((e) => {
      this.index = e.index
      if (e.data.length > 0) this.values.push(new TextDecoder().decode(e.data))
    })
  applyConfChange = (c: { index: number }): void => void (this.index = c.index)
  snapshot = (): Uint8Array => new TextEncoder().encode(JSON.stringify([this.index, this.values]))
  restore = (s: Snapshot): void => {
    ;[this.index, this.values] = JSON.parse(new TextDecoder().decode(s.data)) as [number, string[]]
  }
}

test('what one send() call hands over goes out in one socket write, in order', async () => {
  const events = new Events()
  const b = await member(events, { id: 2n })
  const a = await member(events, { id: 1n, peers: new Map([[2n, [b.url]]]) })
  b.t.start(b.probe)
  a.t.start(a.probe)
  try {
    await events.until('a active', () => a.probe.logged('peer became active').length === 1)
    a.t.send(Array.from({ length: 500 }, (_, i) => app(1n, 2n, i)))
    await events.until('500 messages', () => b.probe.received.length === 500)
    assert.deepEqual(
      b.probe.received.map((m) => m.index),
      Array.from({ length: 500 }, (_, i) => i),
    )
    const s = a.t.stats(2n)
    assert.equal(s.sentMessages, 500)
    assert.equal(s.writes, 1)
    // Two calls in one turn of the event loop: still one write.
    a.t.send([app(1n, 2n, 500)])
    a.t.send([app(1n, 2n, 501)])
    await events.until('502 messages', () => b.probe.received.length === 502)
    assert.equal(a.t.stats(2n).writes, 2)
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('a stopped peer is reported unreachable and reconnected once it listens again', async () => {
  const events = new Events()
  let b = await member(events, { id: 2n })
  const port = Number(new URL(b.url).port)
  const a = await member(events, { id: 1n, peers: new Map([[2n, [b.url]]]) })
  b.t.start(b.probe)
  a.t.start(a.probe)
  try {
    await events.until('a active', () => a.probe.logged('peer became active').length === 1)
    a.t.send([app(1n, 2n, 1)])
    await events.until('first message', () => b.probe.received.length === 1)
    await b.t.stop()
    await events.until(
      'a sees b down',
      () => a.probe.logged('peer became inactive (message send to peer failed)').length === 1,
    )
    // The broken connection is reported once; while b is down, each send() drops and reports
    // b unreachable once.
    assert.deepEqual(a.probe.unreachables, [2n])
    a.t.send([app(1n, 2n, 2), app(1n, 2n, 3)])
    assert.deepEqual(a.probe.unreachables, [2n, 2n])
    // Retries keep failing while no one listens; they are not logged again.
    await events.until('a few retries', () => a.t.stats(2n).droppedMessages >= 2)
    b = await member(events, { id: 2n, listenUrls: [`http://127.0.0.1:${port}`] })
    b.t.start(b.probe)
    await events.until('a reconnects', () => a.probe.logged('peer became active').length === 2)
    assert.equal(a.probe.logged('peer became inactive (message send to peer failed)').length, 1)
    a.t.send([app(1n, 2n, 4)])
    await events.until('message after reconnect', () => b.probe.received.length === 1)
    assert.equal(b.probe.received[0]?.index, 4)
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('setPeer with new URLs redials at once, not at the end of the backoff', async () => {
  const events = new Events()
  const dead = createServer()
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r))
  const deadPort = (dead.address() as { port: number }).port
  await new Promise((r) => dead.close(r))
  const b = await member(events, { id: 2n })
  const a = await member(events, {
    id: 1n,
    peers: new Map([[2n, [`http://127.0.0.1:${deadPort}`]]]),
    limits: { backoffMinMs: 600_000, backoffMaxMs: 600_000 },
  })
  b.t.start(b.probe)
  a.t.start(a.probe)
  try {
    await events.until(
      'the first dial fails',
      () => a.probe.logged('failed to reach the peer (retrying with backoff)').length === 1,
    )
    a.t.setPeer(2n, [b.url])
    await events.until('a reaches b', () => a.probe.logged('peer became active').length === 1)
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('a peer of another cluster is refused, naming both cluster ids, on both sides', async () => {
  const events = new Events()
  const b = await member(events, { id: 2n, clusterId: 0xb0bn })
  const a = await member(events, { id: 1n, clusterId: 0xa11n, peers: new Map([[2n, [b.url]]]) })
  b.t.start(b.probe)
  a.t.start(a.probe)
  try {
    await events.until('b refuses', () => b.probe.logged('request cluster ID mismatch').length > 0)
    const line = b.probe.logged('request cluster ID mismatch')[0] as LogLine
    assert.equal(line.level, 'error')
    assert.equal(line.fields['local-member-cluster-id'], 'b0b')
    assert.equal(line.fields['remote-peer-cluster-id'], 'a11')
    assert.equal(line.fields['remote-peer-id'], '1')
    const sent = 'request sent was ignored by remote peer due to cluster ID mismatch'
    await events.until('a is told', () => a.probe.logged(sent).length > 0)
    assert.match(String(a.probe.logged(sent)[0]?.fields.reason), /cluster b0b.*cluster a11/)
    a.t.send([app(1n, 2n, 1)])
    assert.deepEqual(b.probe.received, [])
    assert.equal(a.probe.logged('peer became active').length, 0)
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('a connection meant for another member id is refused and logged', async () => {
  const events = new Events()
  const b = await member(events, { id: 2n })
  // a believes member 3 listens at b's URL.
  const a = await member(events, { id: 1n, peers: new Map([[3n, [b.url]]]) })
  b.t.start(b.probe)
  a.t.start(a.probe)
  try {
    const text = 'ignored streaming request; ID mismatch'
    await events.until('b refuses', () => b.probe.logged(text).length > 0)
    assert.equal(b.probe.logged(text)[0]?.fields['remote-peer-id-header'], '3')
    await events.until(
      'a is told',
      () => a.probe.logged('request sent was ignored by remote peer').length > 0,
    )
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('a peer that stops reading costs bounded memory: messages dropped, unreachable reported', async () => {
  const events = new Events()
  // The slow peer: answers the handshake, then never reads again.
  const sockets: Socket[] = []
  const slow = createServer((s) => {
    sockets.push(s)
    s.once('data', () => {
      s.write(frame(FrameType.ACCEPT))
      s.pause()
      events.notify()
    })
  })
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r))
  const port = (slow.address() as { port: number }).port
  const limits = { queueMessagesMax: 256, queueBytesMax: 1 << 20, socketBufferBytesMax: 1 << 20 }
  const a = await member(events, {
    id: 1n,
    peers: new Map([[2n, [`http://127.0.0.1:${port}`]]]),
    limits,
  })
  a.t.start(a.probe)
  try {
    await events.until('a active', () => a.probe.logged('peer became active').length === 1)
    // 16 KiB appends until the kernel's buffers, the socket's bound and the queue are full. The
    // loop is a guard: 4096 x 16 KiB = 64 MiB, far beyond what localhost buffers take.
    let i = 0
    while (a.t.stats(2n).droppedMessages === 0 && i < 4096) {
      a.t.send([app(1n, 2n, i++, 16 << 10)])
      if (i % 16 === 0) await new Promise((r) => setImmediate(r))
      const s = a.t.stats(2n)
      assert.ok(s.queuedBytes <= limits.queueBytesMax, `queued ${s.queuedBytes} bytes`)
      assert.ok(s.queuedMessages <= limits.queueMessagesMax)
    }
    assert.ok(a.t.stats(2n).droppedMessages > 0, 'nothing was dropped')
    assert.ok(a.probe.unreachables.includes(2n))
    // More drops: still one log line for the episode, one unreachable report per send() call.
    const before = a.probe.unreachables.length
    for (let k = 0; k < 10; k++) a.t.send([app(1n, 2n, i++, 16 << 10), app(1n, 2n, i++, 16 << 10)])
    assert.equal(a.probe.unreachables.length, before + 10)
    assert.equal(
      a.probe.logs.filter((l) => l.message.startsWith('dropped internal Raft message')).length,
      1,
    )
    assert.ok(a.t.stats(2n).queuedBytes <= limits.queueBytesMax)
  } finally {
    await a.t.stop()
    for (const s of sockets) s.destroy()
    await new Promise((r) => slow.close(r))
  }
})

test('a peer that takes nothing for stallTimeoutMs is disconnected and redialed', async () => {
  const events = new Events()
  const sockets: Socket[] = []
  const slow = createServer((s) => {
    sockets.push(s)
    s.once('data', () => {
      s.write(frame(FrameType.ACCEPT))
      s.pause()
    })
    events.notify()
  })
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r))
  const port = (slow.address() as { port: number }).port
  const a = await member(events, {
    id: 1n,
    peers: new Map([[2n, [`http://127.0.0.1:${port}`]]]),
    limits: { socketBufferBytesMax: 1 << 16, stallTimeoutMs: 100 },
  })
  a.t.start(a.probe)
  try {
    await events.until('a active', () => a.probe.logged('peer became active').length === 1)
    const inactive = (): LogLine[] =>
      a.probe.logged('peer became inactive (message send to peer failed)')
    // Fill the socket until it is over its bound; the loop is a guard (64 MiB at most).
    for (let i = 0; i < 4096 && inactive().length === 0; i++) {
      a.t.send([app(1n, 2n, i, 16 << 10)])
      if (i % 16 === 0) await new Promise((r) => setImmediate(r))
    }
    await events.until('the stall closes the connection', () => inactive().length === 1)
    assert.match(String(inactive()[0]?.fields.error), /took nothing for 100 ms/)
    await events.until('a redials', () => sockets.length === 2)
  } finally {
    await a.t.stop()
    for (const s of sockets) s.destroy()
    await new Promise((r) => slow.close(r))
  }
})

test('a snapshot of megabytes streams on its own connection and reports Finish', async () => {
  const events = new Events()
  const b = await member(events, { id: 2n })
  const a = await member(events, {
    id: 1n,
    peers: new Map([[2n, [b.url]]]),
    limits: { snapshotChunkBytes: 256 << 10 },
  })
  b.t.start(b.probe)
  a.t.start(a.probe)
  try {
    const r = testRand('snapshot data')
    const data = new Uint8Array(6 << 20)
    for (let i = 0; i < data.length; i += 4096) data[i] = r.int(256)
    const snap = message({
      type: MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      term: 3,
      snapshot: { data, metadata: { index: 77, term: 3, confState: emptyConfState() } },
    })
    a.t.send([snap, message({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 3 })])
    await events.until('Finish', () => a.probe.snapshots.length === 1)
    assert.deepEqual(a.probe.snapshots, [[2n, SnapshotStatus.SnapshotFinish]])
    const got = b.probe.received.filter((m) => m.type === MessageType.MsgSnap)
    assert.equal(got.length, 1)
    assert.equal(got[0]?.snapshot?.metadata.index, 77)
    assert.ok(Buffer.from(got[0]?.snapshot?.data ?? EMPTY_BYTES).equals(data))
    assert.equal(b.probe.received.filter((m) => m.type === MessageType.MsgHeartbeat).length, 1)
    // The message stream did not carry the snapshot.
    assert.ok(a.t.stats(2n).sentBytes < 1024)
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('heartbeats are not stuck behind a snapshot; a snapshot cut off reports Failure', async () => {
  const events = new Events()
  // A fake member 2: reads its message stream, and holds its snapshot stream without reading.
  const heartbeats: Message[] = []
  let snapshotSocket: Socket | null = null
  const fake = createServer((s) => {
    const reader = new FrameReader(1 << 20)
    s.on('data', (chunk: Buffer) => {
      reader.push(chunk, (type, payload) => {
        if (type === FrameType.HELLO) {
          s.write(frame(FrameType.ACCEPT))
          if (payload[5] === StreamKind.SNAPSHOT) {
            snapshotSocket = s
            s.pause()
            events.notify()
            return false
          }
        } else if (type === FrameType.MSG) {
          heartbeats.push(decodeMessage(payload))
          events.notify()
        }
        return true
      })
    })
  })
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r))
  const port = (fake.address() as { port: number }).port
  const a = await member(events, { id: 1n, peers: new Map([[2n, [`http://127.0.0.1:${port}`]]]) })
  a.t.start(a.probe)
  try {
    await events.until('a active', () => a.probe.logged('peer became active').length === 1)
    const snap = message({
      type: MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      snapshot: {
        data: new Uint8Array(16 << 20),
        metadata: { index: 9, term: 2, confState: emptyConfState() },
      },
    })
    const hb = (term: number): Message =>
      message({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term })
    a.t.send([snap, hb(2)])
    await events.until('the snapshot stream is held', () => snapshotSocket !== null)
    a.t.send([hb(3)])
    await events.until('both heartbeats', () => heartbeats.length === 2)
    assert.deepEqual(
      heartbeats.map((m) => m.term),
      [2, 3],
    )
    assert.deepEqual(a.probe.snapshots, [])
    ;(snapshotSocket as Socket | null)?.destroy()
    await events.until('Failure', () => a.probe.snapshots.length === 1)
    assert.deepEqual(a.probe.snapshots, [[2n, SnapshotStatus.SnapshotFailure]])
    assert.equal(a.probe.logged('failed to send database snapshot').length, 1)
  } finally {
    await a.t.stop()
    await new Promise((r) => fake.close(r))
  }
})

test('a snapshot above the receiver bound is refused and reported as Failure', async () => {
  const events = new Events()
  const b = await member(events, { id: 2n, limits: { snapshotBytesMax: 1 << 20 } })
  const a = await member(events, { id: 1n, peers: new Map([[2n, [b.url]]]) })
  b.t.start(b.probe)
  a.t.start(a.probe)
  try {
    const snap = message({
      type: MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      snapshot: {
        data: new Uint8Array(2 << 20),
        metadata: { index: 5, term: 1, confState: emptyConfState() },
      },
    })
    a.t.send([snap])
    await events.until('Failure', () => a.probe.snapshots.length === 1)
    assert.deepEqual(a.probe.snapshots, [[2n, SnapshotStatus.SnapshotFailure]])
    assert.ok(a.probe.unreachables.includes(2n))
    assert.match(
      String(b.probe.logged('closed peer connection')[0]?.fields.reason),
      /exceeds the limit/,
    )
    assert.deepEqual(b.probe.received, [])
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('snapshots being received are bounded together; a stream cut off gives its bytes back', async () => {
  const events = new Events()
  const b = await member(events, { id: 2n, limits: { snapshotBytesMax: 1 << 20 } })
  const a = await member(events, { id: 1n, peers: new Map([[2n, [b.url]]]) })
  b.t.start(b.probe)
  a.t.start(a.probe)
  const snap = (bytes: number): Message =>
    message({
      type: MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      snapshot: {
        data: new Uint8Array(bytes),
        metadata: { index: 5, term: 1, confState: emptyConfState() },
      },
    })
  try {
    // A raw sender (member 9) announces 700 KiB and sends none of it: b holds the buffer.
    const { s, closed } = await rawConnect(b.url)
    const head = { ...snap(0), from: 9n }
    s.write(
      concat(
        encodeHello({ kind: StreamKind.SNAPSHOT, clusterId: 0xc1n, from: 9n, to: 2n }),
        encodeSnapHead(700 << 10, encodeMessage(head)),
      ),
    )
    await events.until(
      'b receiving',
      () => b.probe.logged('receiving database snapshot').length === 1,
    )
    a.t.send([snap(500 << 10)])
    await events.until('Failure', () => a.probe.snapshots.length === 1)
    assert.deepEqual(a.probe.snapshots, [[2n, SnapshotStatus.SnapshotFailure]])
    assert.match(
      String(b.probe.logged('closed peer connection')[0]?.fields.reason),
      /snapshots being received/,
    )
    s.destroy()
    await closed
    await events.until(
      'b logged the cut-off stream',
      () => b.probe.logged('closed peer connection').length === 2,
    )
    a.t.send([snap(500 << 10)])
    await events.until('Finish', () => a.probe.snapshots.length === 2)
    assert.deepEqual(a.probe.snapshots[1], [2n, SnapshotStatus.SnapshotFinish])
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('an HTTP GET on the peer port gets the httpGet answer (etcd GET /members), else 404', async () => {
  const events = new Events()
  const b = await member(events, {
    id: 2n,
    httpGet: (path) =>
      path === '/members'
        ? { status: 200, headers: { 'X-Etcd-Cluster-Id': 'c1' }, body: '[{"id":2}]' }
        : undefined,
  })
  try {
    const members = await fetch(`${b.url}/members`)
    assert.equal(members.status, 200)
    assert.equal(members.headers.get('x-etcd-cluster-id'), 'c1')
    assert.equal(await members.text(), '[{"id":2}]')
    const other = await fetch(`${b.url}/other`)
    assert.equal(other.status, 404)
    await other.text()
  } finally {
    await b.t.stop()
  }
})

test('an HTTP POST on the peer port gets the httpPost answer for its body (etcd POST /leases)', async () => {
  const events = new Events()
  const b = await member(events, {
    id: 2n,
    httpPost: (path, body) =>
      path === '/leases'
        ? Promise.resolve({
            status: 200,
            headers: { 'Content-Type': 'application/protobuf' },
            body: Uint8Array.from([...body].reverse()),
          })
        : undefined,
  })
  try {
    const leases = await fetch(`${b.url}/leases`, {
      method: 'POST',
      body: Uint8Array.from([1, 2, 3]),
    })
    assert.equal(leases.status, 200)
    assert.deepEqual(new Uint8Array(await leases.arrayBuffer()), Uint8Array.from([3, 2, 1]))
    const other = await fetch(`${b.url}/other`, { method: 'POST', body: 'x' })
    assert.equal(other.status, 404)
    await other.text()
    // Keep-alive: two POSTs written at once on one connection, answered in order; the second
    // asks to close, and the connection closes after its answer.
    const { s, closed } = await rawConnect(b.url)
    const post = (body: string, close: boolean): string =>
      `POST /leases HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n` +
      `${close ? 'Connection: close\r\n' : ''}\r\n${body}`
    s.write(post('ab', false) + post('xyz', true))
    const text = (await closed).toString('latin1')
    const answers = text.split('HTTP/1.1 200 OK').slice(1)
    assert.equal(answers.length, 2, text)
    assert.match(answers[0]!, /Connection: keep-alive\r\n\r\nba$/)
    assert.match(answers[1]!, /Connection: close\r\n\r\nzyx$/)
  } finally {
    await b.t.stop()
  }
})

test("a member removed from the cluster is refused with etcd's text and told so", async () => {
  const events = new Events()
  let told = 0
  const b = await member(events, { id: 2n, isRemoved: (id) => id === 1n })
  const a = await member(events, {
    id: 1n,
    peers: new Map([[2n, [b.url]]]),
    onRemoved: () => {
      told++
      events.notify()
    },
  })
  b.t.start(b.probe)
  a.t.start(a.probe)
  try {
    a.t.send([app(1n, 2n, 1)])
    await events.until('a was told', () => told > 0)
    assert.equal(b.probe.received.length, 0)
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('garbage, bad handshakes and truncated or undecodable frames close only their connection', async () => {
  const events = new Events()
  const b = await member(events, { id: 2n })
  const a = await member(events, { id: 1n, peers: new Map([[2n, [b.url]]]) })
  b.t.start(b.probe)
  a.t.start(a.probe)
  const hello = encodeHello({ kind: StreamKind.MESSAGES, clusterId: 0xc1n, from: 9n, to: 2n })
  const reasons = (): string[] =>
    b.probe.logged('closed peer connection').map((l) => String(l.fields.reason))
  const cases: [string, Uint8Array, RegExp][] = [
    [
      'an HTTP request other than a GET or POST',
      new TextEncoder().encode('PUT / HTTP/1.1\r\nHost: x\r\n\r\n'),
      /bad handshake: frame of \d+ bytes exceeds/,
    ],
    [
      'a frame that is not a HELLO',
      frame(FrameType.MSG, new Uint8Array(10)),
      /bad handshake: first frame of type 4/,
    ],
    [
      'a HELLO without the magic',
      frame(FrameType.HELLO, new Uint8Array(30)),
      /bad handshake: handshake without the protocol magic/,
    ],
    ['a truncated HELLO', hello.subarray(0, 11), /truncated frame/],
    [
      'a truncated message frame',
      concat(hello, frame(FrameType.MSG, encodeMessage(app(9n, 2n, 1))).subarray(0, 20)),
      /truncated frame/,
    ],
    [
      'an undecodable message frame',
      concat(hello, frame(FrameType.MSG, new Uint8Array([0xff, 0xff, 0xff]))),
      /frame does not decode/,
    ],
    [
      'a message for another member',
      concat(hello, frame(FrameType.MSG, encodeMessage(app(9n, 5n, 1)))),
      /message for member 5/,
    ],
    ['a zero-length frame', concat(hello, new Uint8Array(5)), /frame of length 0/],
    [
      'a frame above messageBytesMax',
      concat(hello, new Uint8Array([0x7f, 0xff, 0xff, 0xff, FrameType.MSG])),
      /frame of 2147483646 bytes exceeds the limit of 67108864/,
    ],
    [
      'an unknown frame type',
      concat(hello, frame(42 as FrameType, new Uint8Array(3))),
      /unexpected frame type 42 on a message stream/,
    ],
  ]
  try {
    await events.until('a active', () => a.probe.logged('peer became active').length === 1)
    for (const [i, [name, bytes, reason]] of cases.entries()) {
      const { s, closed } = await rawConnect(b.url)
      s.end(bytes)
      await closed
      await events.until(`the log line for ${name}`, () => reasons().length === i + 1)
      assert.match(reasons()[i] as string, reason, name)
      // The transport keeps working: a message from a still arrives.
      a.t.send([app(1n, 2n, i)])
      await events.until(`a message after ${name}`, () => b.probe.received.length === i + 1)
    }
    assert.equal(b.probe.received.filter((m) => m.from === 9n).length, 0)
    assert.equal(a.probe.logged('peer became inactive (message send to peer failed)').length, 0)
  } finally {
    await Promise.all([a.t.stop(), b.t.stop()])
  }
})

test('FrameReader cuts frames the same whatever the chunking', (t) => {
  const r = testRand(t)
  const frames = Array.from({ length: 200 }, (_, i) =>
    frame(FrameType.MSG, new Uint8Array(r.int(3000)).fill(i & 0xff)),
  )
  const stream = concat(...frames)
  for (let round = 0; round < 20; round++) {
    const reader = new FrameReader(4096)
    const got: Uint8Array[] = []
    let at = 0
    while (at < stream.length) {
      const n = 1 + r.int(round % 2 === 0 ? 7 : 9000)
      const bad = reader.push(stream.subarray(at, at + n), (type, payload) => {
        assert.equal(type, FrameType.MSG)
        got.push(payload.slice())
        return true
      })
      assert.equal(bad, null)
      at += n
    }
    assert.equal(reader.pending, false)
    assert.equal(got.length, frames.length)
    for (const [i, f] of frames.entries())
      assert.ok(Buffer.from(got[i] as Uint8Array).equals(f.subarray(5)))
  }
})

test('stop() closes listeners and connections; the port can be bound again', async () => {
  const events = new Events()
  const b = await member(events, { id: 2n })
  const a = await member(events, { id: 1n, peers: new Map([[2n, [b.url]]]) })
  b.t.start(b.probe)
  a.t.start(a.probe)
  await events.until('a active', () => a.probe.logged('peer became active').length === 1)
  await Promise.all([a.t.stop(), b.t.stop()])
  const again = await member(events, { id: 2n, listenUrls: [b.url] })
  assert.equal(again.url, b.url)
  await again.t.stop()
  // A stopped transport neither sends nor delivers, and stop() is idempotent.
  a.t.send([app(1n, 2n, 1)])
  await a.t.stop()
})

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}
