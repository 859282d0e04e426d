// Goal: the driver keeps raft and the state machine consistent where an asynchronous state
// machine and the network interleave, and a read is never answered from another life of the
// member. Method: one follower driven by hand (messages stepped through its transport handler,
// a state machine whose apply can be held), found by review; each test failed before its fix.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  ConfChangeType,
  EntryType,
  MessageType,
  marshalConfChange,
  message,
  type ConfState,
  type Entry,
  type Message,
  type Snapshot,
} from '../raft/index.js'
import { ManualClock } from '../io/index.js'
import { RaftNode } from './node.js'
import type { AppliedConfChange, StateMachine } from './state-machine.js'
import { MemoryNodeStorage } from './storage.js'
import type { PeerHandler, Transport } from './transport.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const settle = async (rounds = 5): Promise<void> => {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve))
}

const conf = (voters: bigint[]): ConfState => ({
  voters,
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
})

/** A counter machine whose apply() can be held, as a backend committing a transaction. */
class HeldMachine implements StateMachine<number> {
  index = 0
  hold = false
  release: (() => void) | null = null
  appliedIndex(): number {
    return this.index
  }
  apply(entries: readonly Entry[]): readonly number[] | Promise<readonly number[]> {
    const run = (): number[] =>
      entries.map((e) => {
        assert.equal(e.index, this.index + 1, `apply ${e.index} after ${this.index}`)
        this.index = e.index
        return e.index
      })
    if (!this.hold) return run()
    return new Promise((resolve) => (this.release = () => resolve(run())))
  }
  applyConfChange(c: AppliedConfChange): void {
    this.index = c.index
  }
  snapshot(): Uint8Array {
    return enc.encode(String(this.index))
  }
  restore(s: Snapshot): void {
    this.index = Number(dec.decode(s.data))
  }
}

/** A transport the test drives: what the node sends is kept, what it receives is stepped in. */
class HandTransport implements Transport {
  handler: PeerHandler | null = null
  sent: Message[] = []
  start(h: PeerHandler): void {
    this.handler = h
  }
  send(ms: readonly Message[]): void {
    this.sent.push(...ms)
  }
  stop(): void {
    this.handler = null
  }
}

/** Follower 2's storage: a snapshot at 1 of voters 1, 2, 3, committed, at term 1. */
function storageAt1(): MemoryNodeStorage {
  const storage = new MemoryNodeStorage()
  storage.memory.applySnapshot({
    data: enc.encode('1'),
    metadata: { index: 1, term: 1, confState: conf([1n, 2n, 3n]) },
  })
  storage.memory.setHardState({ term: 1, vote: 0n, commit: 1 })
  return storage
}

function follower(
  storage: MemoryNodeStorage,
  sm: StateMachine<number>,
  t: HandTransport,
  asyncStorageWrites = true,
): Promise<RaftNode<number>> {
  return RaftNode.start<number>({
    id: 2n,
    storage,
    stateMachine: sm,
    transport: t,
    clock: new ManualClock(),
    asyncStorageWrites,
    electionTicks: 1000,
  })
}

for (const [asyncStorageWrites, releaseFirst] of [
  [false, false],
  [true, false],
  [true, true],
] as const) {
  test(
    `a snapshot stepped while a conf change waits in the apply lane leaves raft in the snapshot's ` +
      `configuration (async ${asyncStorageWrites}, apply done first ${releaseFirst})`,
    async () => {
      const sm = new HeldMachine()
      const t = new HandTransport()
      const node = await follower(storageAt1(), sm, t, asyncStorageWrites)
      await settle()
      // The leader replicates an empty entry at 2 and "remove 3" at 3, and commits both; the
      // machine holds the apply of entry 2.
      const rm = marshalConfChange({
        id: 0n,
        type: ConfChangeType.ConfChangeRemoveNode,
        nodeId: 3n,
        context: new Uint8Array(0),
      })
      sm.hold = true
      t.handler!.receive(
        message({
          type: MessageType.MsgApp,
          from: 1n,
          to: 2n,
          term: 1,
          index: 1,
          logTerm: 1,
          commit: 3,
          entries: [
            { index: 2, term: 1, type: EntryType.EntryNormal, data: new Uint8Array(0) },
            { index: 3, term: 1, type: rm.type, data: rm.data },
          ],
        }),
      )
      await settle()
      assert.ok(sm.release !== null, 'entry 2 is being applied')
      if (releaseFirst) {
        sm.hold = false
        sm.release()
      }
      // Meanwhile the cluster added 3 back and the leader compacted: a snapshot at 10, voters 1, 2, 3.
      t.handler!.receive(
        message({
          type: MessageType.MsgSnap,
          from: 1n,
          to: 2n,
          term: 1,
          snapshot: {
            data: enc.encode('10'),
            metadata: { index: 10, term: 1, confState: conf([1n, 2n, 3n]) },
          },
        }),
      )
      if (!releaseFirst) {
        sm.hold = false
        sm.release!()
      }
      await settle(10)
      assert.deepEqual(node.status().confState.voters, [1n, 2n, 3n])
      assert.deepEqual(
        node.raftStatus().config.voters.incoming.slice(),
        [1n, 2n, 3n],
        'raft runs with the snapshot configuration',
      )
      assert.equal(sm.index, 10)
      await node.stop()
    },
  )
}

test('a ReadIndex answer meant for a previous life of the member answers no read of the next', async () => {
  const storage = storageAt1()
  // Life A follows leader 1 at term 1, has applied 2, and asks a read.
  const ta = new HandTransport()
  const a = await follower(storage, new HeldMachine(), ta)
  ta.handler!.receive(
    message({
      type: MessageType.MsgApp,
      from: 1n,
      to: 2n,
      term: 1,
      index: 1,
      logTerm: 1,
      commit: 2,
      entries: [{ index: 2, term: 1, type: EntryType.EntryNormal, data: new Uint8Array(0) }],
    }),
  )
  await settle()
  void a.read().catch(() => {})
  await settle()
  const req = ta.sent.find((m) => m.type === MessageType.MsgReadIndex)
  assert.ok(req !== undefined, 'A asked the leader')
  // The leader answers at index 2, but the answer is still on the wire when A's process dies; the
  // leader then acknowledges a write at 3. Life B starts on the same storage and is asked a read.
  const late = message({
    type: MessageType.MsgReadIndexResp,
    from: 1n,
    to: 2n,
    term: 1,
    index: 2,
    entries: req.entries,
  })
  await a.stop()
  const tb = new HandTransport()
  const b = await follower(storage, new HeldMachine(), tb)
  await settle()
  let answered = -1
  void b.read().then(
    (index) => (answered = index),
    () => {},
  )
  await settle()
  tb.handler!.receive(late)
  await settle()
  assert.equal(answered, -1, "B's read is not answered from A's round")
  await b.stop()
})
