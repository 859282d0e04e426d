// Goal: RaftNode runs a cluster an embedder can use as is: proposals resolve with their own
// result wherever they were made, reads are linearizable and batched, conf changes and snapshots
// work, queues are bounded, and a node restarts from its WAL. Method: three (or four) nodes in one
// process over a LocalNetwork and one ManualClock; each test ticks the clock and lets the event
// loop settle between ticks, in both storage modes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ConfChangeType,
  StateType,
  type Entry,
  type NodeId,
  type Ready,
  type Snapshot,
} from '../raft/index.js'
import { ManualClock, systemClock, type Clock } from '../io/index.js'
import { NodeDisk } from '../io/index.js'
import { WalStorage } from '../wal/index.js'
import { NodeError } from './errors.js'
import { RaftNode } from './node.js'
import type { NodeOptions } from './options.js'
import type { AppliedConfChange, StateMachine } from './state-machine.js'
import { MemoryNodeStorage, type NodeStorage } from './storage.js'
import { LocalNetwork } from './transport.js'
import { testRand } from '../../test-support/seed.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** A replicated map; an entry "k=v" sets k and returns the previous value ('' when none). */
class MapMachine implements StateMachine<string> {
  map = new Map<string, string>()
  index = 0
  confChanges: AppliedConfChange[] = []
  restores = 0

  appliedIndex(): number {
    return this.index
  }
  apply(entries: readonly Entry[]): string[] {
    return entries.map((e) => {
      assert.equal(e.index, this.index + 1, 'entries applied in order, none twice')
      this.index = e.index
      if (e.data.length === 0) return ''
      const [k, v] = dec.decode(e.data).split('=') as [string, string]
      const prev = this.map.get(k) ?? ''
      this.map.set(k, v)
      return prev
    })
  }
  applyConfChange(c: AppliedConfChange): void {
    assert.equal(c.index, this.index + 1)
    this.index = c.index
    this.confChanges.push(c)
  }
  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify([this.index, [...this.map]]))
  }
  restore(s: Snapshot): void {
    const [index, entries] = JSON.parse(dec.decode(s.data)) as [number, [string, string][]]
    this.index = index
    this.map = new Map(entries)
    this.restores++
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

interface Member {
  id: NodeId
  node: RaftNode<string>
  sm: MapMachine
  storage: NodeStorage
}

class Harness {
  readonly clock = new ManualClock()
  readonly net = new LocalNetwork()
  readonly members = new Map<NodeId, Member>()
  readies = new Map<NodeId, Ready[]>()

  constructor(readonly extra: Partial<NodeOptions<string>> = {}) {}

  /** Node `id`'s election jitter and incarnation, from the suite's seed (TEST_SEED). */
  private rand(id: NodeId): { intn(n: number): number } {
    const r = testRand(`node ${id} ${this.runs++}`)
    return { intn: (n) => r.int(n) }
  }
  private runs = 0

  /** The clock the nodes tick by: the manual one unless `extra` names another. */
  get nodeClock(): Clock {
    return this.extra.clock ?? this.clock
  }

  async start(
    id: NodeId,
    opts: Partial<NodeOptions<string>> & { storage?: NodeStorage } = {},
  ): Promise<Member> {
    const sm = new MapMachine()
    const storage = opts.storage ?? new MemoryNodeStorage()
    const readies: Ready[] = []
    this.readies.set(id, readies)
    const node = await RaftNode.start<string>({
      id,
      storage,
      stateMachine: sm,
      transport: this.net.transport(id),
      clock: this.nodeClock,
      rand: this.rand(id),
      observer: { ready: (rd) => void readies.push(rd) },
      ...this.extra,
      ...opts,
    })
    const m = { id, node, sm, storage }
    this.members.set(id, m)
    return m
  }

  /** Advances every node's clock by `n` ticks, letting the event loop settle after each. */
  async tick(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) {
      this.clock.advance(100)
      await settle()
    }
  }

  /** Ticks until the promise settles (at most `max` ticks); returns its outcome. */
  async until<T>(p: Promise<T>, max = 200): Promise<T> {
    let done = false
    p.then(
      () => (done = true),
      () => (done = true),
    )
    for (let i = 0; i < max && !done; i++) await this.tick()
    assert.ok(done, `not settled within ${max} ticks`)
    return p
  }

  leader(): Member {
    const leaders = [...this.members.values()].filter(
      (m) => m.node.status().state === StateType.StateLeader,
    )
    assert.equal(leaders.length, 1, 'one leader')
    return leaders[0]!
  }

  follower(): Member {
    const lead = this.leader().id
    return [...this.members.values()].find((m) => m.id !== lead)!
  }

  async stopAll(): Promise<void> {
    for (const m of this.members.values()) await m.node.stop()
  }
}

async function threeNodes(extra: Partial<NodeOptions<string>> = {}): Promise<Harness> {
  const h = new Harness(extra)
  const peers = [1n, 2n, 3n]
  for (const id of peers) await h.start(id, { peers })
  await h.until(h.members.get(1n)!.node.leader())
  await h.tick(2)
  return h
}

const modes = [
  { name: 'async storage writes', asyncStorageWrites: true },
  { name: 'Ready/Advance', asyncStorageWrites: false },
]

for (const mode of modes) {
  test(`${mode.name}: a proposal resolves with its result and is applied on every node`, async () => {
    const h = await threeNodes({ asyncStorageWrites: mode.asyncStorageWrites })
    const leader = h.leader()
    assert.equal(await h.until(leader.node.propose(enc.encode('a=1'))), '')
    assert.equal(await h.until(leader.node.propose(enc.encode('a=2'))), '1')
    await h.tick(3)
    for (const m of h.members.values()) {
      assert.equal(m.sm.map.get('a'), '2', `node ${m.id}`)
      assert.equal(m.node.status().applied, m.sm.index)
    }
    await h.stopAll()
  })

  test(`${mode.name}: a follower's proposal is forwarded and its result comes back to it`, async () => {
    const h = await threeNodes({ asyncStorageWrites: mode.asyncStorageWrites })
    const f = h.follower()
    const results = await h.until(
      Promise.all([f.node.propose(enc.encode('x=1')), f.node.propose(enc.encode('x=2'))]),
    )
    assert.deepEqual(results, ['', '1'])
    await h.stopAll()
  })

  test(`${mode.name}: a read after an acknowledged write sees it, on every node`, async () => {
    const h = await threeNodes({ asyncStorageWrites: mode.asyncStorageWrites })
    await h.until(h.leader().node.propose(enc.encode('k=v')))
    for (const m of h.members.values()) {
      const index = await h.until(m.node.read())
      assert.ok(m.sm.index >= index)
      assert.equal(m.sm.map.get('k'), 'v', `node ${m.id}`)
    }
    await h.stopAll()
  })
}

test('reads that arrive while a round is in flight share the next round', async () => {
  const h = await threeNodes()
  const f = h.follower()
  const readies = h.readies.get(f.id)!
  readies.length = 0
  // The first read starts a round at once; the next nine arrive while it is in flight.
  const first = f.node.read()
  await settle()
  const rest = Array.from({ length: 9 }, () => f.node.read())
  const indexes = await h.until(Promise.all([first, ...rest]))
  assert.equal(indexes.length, 10)
  const states = readies.flatMap((rd) => rd.readStates)
  assert.equal(states.length, 2, 'two ReadIndex rounds for ten reads')
  await h.stopAll()
})

test('a proposal with no leader is dropped at once; a node stopped refuses everything', async () => {
  const h = new Harness()
  const m = await h.start(1n, { peers: [1n, 2n, 3n] })
  await assert.rejects(m.node.propose(enc.encode('a=1')), (e) =>
    NodeError.is(e, 'PROPOSAL_DROPPED'),
  )
  const waiting = m.node.read()
  await m.node.stop()
  await assert.rejects(waiting, (e) => NodeError.is(e, 'STOPPED'))
  await assert.rejects(m.node.propose(enc.encode('a=1')), (e) => NodeError.is(e, 'STOPPED'))
  await assert.rejects(m.node.read(), (e) => NodeError.is(e, 'STOPPED'))
})

test('a partitioned leader times out its proposal as LEADER_LOST once it loses leadership', async () => {
  const h = await threeNodes({ requestTimeoutTicks: 40 })
  const old = h.leader()
  h.net.isolate(old.id, true)
  const lost = old.node.propose(enc.encode('lost=1'))
  await assert.rejects(h.until(lost), (e) => NodeError.is(e, 'LEADER_LOST'))
  h.net.isolate(old.id, false)
  await h.tick(30)
  // The new leader never had the entry; the old one dropped it when it rejoined.
  for (const m of h.members.values()) assert.equal(m.sm.map.get('lost'), undefined)
  await h.stopAll()
})

test('proposals past proposalsMax get TOO_MANY_REQUESTS and change nothing', async () => {
  const h = await threeNodes({ proposalsMax: 2 })
  const leader = h.leader()
  const ok = [leader.node.propose(enc.encode('a=1')), leader.node.propose(enc.encode('b=1'))]
  await assert.rejects(leader.node.propose(enc.encode('c=1')), (e) =>
    NodeError.is(e, 'TOO_MANY_REQUESTS'),
  )
  await h.until(Promise.all(ok))
  await h.tick(3)
  for (const m of h.members.values()) assert.equal(m.sm.map.has('c'), false)
  await h.stopAll()
})

test('reads past readsMax get TOO_MANY_REQUESTS; the others are answered', async () => {
  const h = await threeNodes({ readsMax: 3 })
  const f = h.follower()
  const ok = [f.node.read(), f.node.read(), f.node.read()]
  await assert.rejects(f.node.read(), (e) => NodeError.is(e, 'TOO_MANY_REQUESTS'))
  await h.until(Promise.all(ok))
  assert.equal(typeof (await h.until(f.node.read())), 'number', 'room again once answered')
  await h.stopAll()
})

test('snapshots every N entries, compacts keeping a tail, and a new member catches up from one', async () => {
  const h = await threeNodes({ snapshotCount: 10, snapshotCatchUpEntries: 3 })
  const leader = h.leader()
  for (let i = 0; i < 40; i++) await h.until(leader.node.propose(enc.encode(`k${i}=${i}`)))
  await h.tick(3)
  const storage = leader.storage
  const snapIndex = storage.snapshot().metadata.index
  assert.ok(snapIndex >= 30, `snapshot at ${snapIndex}`)
  assert.equal(storage.firstIndex(), snapIndex - 3 + 1, 'the log keeps 3 entries behind it')

  const cs = await h.until(
    leader.node.proposeConfChange({
      id: 0n,
      type: ConfChangeType.ConfChangeAddNode,
      nodeId: 4n,
      context: enc.encode('member 4'),
    }),
  )
  assert.deepEqual(cs.voters, [1n, 2n, 3n, 4n])
  const added = leader.sm.confChanges.at(-1)!
  assert.deepEqual(
    dec.decode(added.change.context),
    'member 4',
    'the machine sees the context as proposed',
  )
  const joiner = await h.start(4n)
  await h.until(joiner.node.read())
  assert.equal(joiner.sm.restores, 1, 'caught up from a snapshot')
  assert.equal(joiner.sm.map.get('k39'), '39')
  assert.deepEqual(joiner.node.status().confState.voters, [1n, 2n, 3n, 4n])
  await h.stopAll()
})

test('a second conf change while one is pending is dropped', async () => {
  const h = await threeNodes()
  const leader = h.leader()
  const add = (id: bigint): Promise<unknown> =>
    leader.node.proposeConfChange({
      id: 0n,
      type: ConfChangeType.ConfChangeAddLearnerNode,
      nodeId: id,
      context: new Uint8Array(0),
    })
  const first = add(4n)
  const second = add(5n)
  await assert.rejects(h.until(second), (e) => NodeError.is(e, 'PROPOSAL_DROPPED'))
  await h.until(first)
  await h.stopAll()
})

test('leadership moves on transferLeader', async () => {
  const h = await threeNodes()
  const old = h.leader()
  const to = h.follower().id
  old.node.transferLeader(to)
  await h.tick(5)
  assert.equal(h.leader().id, to)
  await h.stopAll()
})

test('three nodes on WalStorage restart from their data dirs with everything acknowledged', async (t) => {
  // Real files and fdatasyncs: the nodes tick on the real clock (10 ms), so elections and the
  // request timeout run in real time while the disk works; every wait is bounded by them.
  const dir = mkdtempSync(join(tmpdir(), 'pontoon-node-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const disk = new NodeDisk()
  const open = (id: bigint): Promise<WalStorage> =>
    WalStorage.open({ disk, dir: join(dir, `m${id}`), nodeId: id, clusterId: 1n })
  const peers = [1n, 2n, 3n]
  const real = { clock: systemClock, tickMs: 10 }
  const leaderOf = async (h: Harness): Promise<Member> =>
    h.members.get(await h.members.get(1n)!.node.leader())!
  let h = new Harness(real)
  for (const id of peers) await h.start(id, { peers, storage: await open(id) })
  const first = await leaderOf(h)
  for (let i = 0; i < 20; i++) await first.node.propose(enc.encode(`w${i}=${i}`))
  await h.stopAll()
  for (const m of h.members.values()) await (m.storage as WalStorage).close()

  h = new Harness(real)
  for (const id of peers) await h.start(id, { storage: await open(id) })
  await leaderOf(h)
  for (const m of h.members.values()) {
    await m.node.read()
    assert.equal(m.sm.map.get('w19'), '19', `node ${m.id} after restart`)
  }
  await h.stopAll()
  for (const m of h.members.values()) await (m.storage as WalStorage).close()
})

test('a restart raises a HardState that lags behind its log (a batch torn between entries and state)', async () => {
  // Entries 2..3 of term 3 kept, the HardState of their write lost: term 1, commit 1.
  const storage = new MemoryNodeStorage()
  const cs = {
    voters: [1n, 2n, 3n],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  }
  storage.memory.applySnapshot({
    data: new TextEncoder().encode(JSON.stringify([1, []])),
    metadata: { index: 1, term: 1, confState: cs },
  })
  storage.memory.append([
    { index: 2, term: 3, type: 0, data: new Uint8Array(0) },
    { index: 3, term: 3, type: 0, data: new Uint8Array(0) },
  ])
  storage.memory.setHardState({ term: 1, vote: 2n, commit: 1 })
  const h = new Harness()
  const m = await h.start(1n, { storage })
  assert.deepEqual(storage.initialState().hardState, { term: 3, vote: 0n, commit: 1 })
  assert.equal(m.node.status().term, 3)
  await m.node.stop()
})
