/**
 * Raft core throughput, one core, no I/O (what etcd-io/raft's BenchmarkRawNode measures).
 *
 * (a) single-voter and two-voter: propose one 128-byte entry, then drain Readys until it is
 *     applied: append to MemoryStorage, answer the MsgApps on behalf of the other voter, advance.
 *     Storage calls per proposal catch accidental O(n) work.
 * (b) a 3-voter cluster in one process, messages delivered in memory, proposals in batches of
 *     1, 16 and 256 entries: committed entries per second on the leader.
 *
 * Cost sketch: per entry the leader appends to the unstable log, encodes nothing (no wire), and
 * per batch does one MsgApp per follower, one ack per follower, and one commit; so the per-entry
 * cost should fall with the batch size towards the cost of copying entries between logs.
 */
import { createHash } from 'node:crypto'
import {
  MemoryStorage,
  MessageType,
  RawNode,
  newMessage,
  type Message,
  type NodeId,
} from '../../src/raft/index.js'
import { formatRow, measure, type Measurement } from '../harness.js'

const PAYLOAD = new Uint8Array(128).fill(0x61)

function newStorage(voters: NodeId[]): MemoryStorage {
  const s = new MemoryStorage()
  s.applySnapshot({
    data: new Uint8Array(0),
    metadata: {
      index: 1,
      term: 1,
      confState: { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
  })
  return s
}

function newNode(id: NodeId, storage: MemoryStorage): RawNode {
  return new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: Infinity,
    maxInflightMsgs: 256,
  })
}

/** An answer to `m` from its recipient, at its term. */
function reply(m: Message, type: MessageType): Message {
  const resp = newMessage(type, m.from)
  resp.from = m.to
  resp.term = m.term
  return resp
}

/**
 * The loop of (a), shared with callgrind-proposals.ts: a leader of `voters` (node 1, elected),
 * and `propose(n)`, which proposes n entries one at a time and drains the Readys after each.
 */
export interface RawNodeLoop {
  storage: MemoryStorage
  /** Proposes `n` entries, one per call of propose(), settling after each. */
  propose(n: number): void
  /** The index of the last entry applied. */
  applied(): number
  /** Readys handled so far. */
  readies(): number
}

export function newRawNodeLoop(voters: NodeId[]): RawNodeLoop {
  const storage = newStorage(voters)
  const rn = newNode(1n, storage)
  let applied = 0
  let readies = 0
  const stabilize = (): void => {
    while (rn.hasReady()) {
      readies++
      const rd = rn.ready()
      const n = rd.committedEntries.length
      if (n > 0) applied = (rd.committedEntries[n - 1] as { index: number }).index
      storage.append(rd.entries)
      // Indexed loops: rd.messages may be the core's frozen empty array, and for-of over
      // frozen and ordinary arrays alike leaves V8's fast iteration (an allocation a step).
      for (let k = 0; k < rd.messages.length; k++) {
        const m = rd.messages[k] as Message
        // The other voter's answers are built with newMessage, as the core's own hot
        // messages are, so that the harness does not dominate what it measures.
        if (m.type === MessageType.MsgVote) {
          rn.step(reply(m, MessageType.MsgVoteResp))
        } else if (m.type === MessageType.MsgApp) {
          const resp = reply(m, MessageType.MsgAppResp)
          resp.index =
            m.entries.length > 0
              ? (m.entries[m.entries.length - 1] as { index: number }).index
              : m.index
          rn.step(resp)
        }
      }
      rn.advance()
    }
  }
  rn.campaign()
  stabilize()
  return {
    storage,
    propose(n) {
      for (let i = 0; i < n; i++) {
        rn.propose(PAYLOAD)
        stabilize()
      }
    },
    applied: () => applied,
    readies: () => readies,
  }
}

/** (a) etcd-io/raft's BenchmarkRawNode: one node, the other voter's acks faked. */
export function rawNodeBench(name: string, voters: NodeId[], ops: number): Measurement {
  return measure({
    name,
    ops,
    runs: 5,
    setup() {
      const loop = newRawNodeLoop(voters)
      const base = { ...loop.storage.callStats }
      const readiesBase = loop.readies()
      const first = loop.applied()
      return {
        run() {
          loop.propose(ops)
          const applied = loop.applied()
          if (applied < first + ops) throw new Error(`applied ${applied}, want ${first + ops}`)
        },
        extra() {
          const s = loop.storage.callStats
          return {
            'firstIndex/op': (s.firstIndex - base.firstIndex) / ops,
            'lastIndex/op': (s.lastIndex - base.lastIndex) / ops,
            'term/op': (s.term - base.term) / ops,
            'entries/op': (s.entries - base.entries) / ops,
            'ready/op': (loop.readies() - readiesBase) / ops,
          }
        },
      }
    },
  })
}

/** (b) three RawNodes exchanging messages in memory; node 1 leads and takes the proposals. */
/**
 * How a batch reaches the leader: `proposals` calls propose() once per entry (each proposal
 * broadcasts its own MsgApp, as etcd's node.Propose does), `msgprop` steps one MsgProp carrying
 * the whole batch (one MsgApp per follower per batch, the cost sketch above).
 */
export type BatchMode = 'proposals' | 'msgprop'

export function clusterBench(
  batch: number,
  entries: number,
  mode: BatchMode = 'proposals',
): Measurement {
  const ops = Math.max(batch, Math.floor(entries / batch) * batch)
  let digest = ''
  const m = measure({
    name: mode === 'proposals' ? `3 voters, batch ${batch}` : `3 voters, proposeBatch of ${batch}`,
    ops,
    runs: 5,
    setup() {
      const ids = [1n, 2n, 3n]
      const storages = ids.map(() => newStorage(ids))
      const nodes = ids.map((id, i) => newNode(id, storages[i] as MemoryStorage))
      const queue: Message[] = []
      let committed = 0
      const hash = createHash('sha256')
      const pump = (): void => {
        for (let round = 0; round < 1000; round++) {
          let busy = false
          for (let i = 0; i < nodes.length; i++) {
            const rn = nodes[i] as RawNode
            if (!rn.hasReady()) continue
            busy = true
            const rd = rn.ready()
            ;(storages[i] as MemoryStorage).append(rd.entries)
            if (rd.hardState !== null) (storages[i] as MemoryStorage).setHardState(rd.hardState)
            for (let k = 0; k < rd.messages.length; k++) queue.push(rd.messages[k] as Message)
            if (i === 0 && rd.committedEntries.length > 0) {
              committed = (rd.committedEntries[rd.committedEntries.length - 1] as { index: number })
                .index
            }
            rn.advance()
          }
          // Delivered in FIFO order by walking an index rather than queue.shift(), which is O(n)
          // per call and dominated the batch-256 run. Stepping never enqueues here (new messages
          // only leave through the next Ready), so the queue is simply emptied afterwards.
          if (queue.length > 0) busy = true
          for (let q = 0; q < queue.length; q++) {
            const msg = queue[q] as Message
            ;(nodes[Number(msg.to) - 1] as RawNode).step(msg)
          }
          queue.length = 0
          if (!busy) return
        }
        throw new Error('cluster did not settle')
      }
      ;(nodes[0] as RawNode).campaign()
      pump()
      const start = committed
      return {
        run() {
          const leader = nodes[0] as RawNode
          const batchData = new Array<Uint8Array>(batch).fill(PAYLOAD)
          for (let done = 0; done < ops; done += batch) {
            if (mode === 'proposals') {
              for (let j = 0; j < batch; j++) leader.propose(PAYLOAD)
            } else {
              leader.proposeBatch(batchData)
            }
            pump()
          }
          if (committed < start + ops)
            throw new Error(`committed ${committed}, want ${start + ops}`)
          hash.update(String(committed))
          digest = hash.digest('hex').slice(0, 12)
        },
      }
    },
  })
  m.extra.hash = digest
  return m
}

/**
 * Proposals per run of the RawNode rows at size 1. Go's BenchmarkRawNode grows b.N until a run
 * lasts a second, about 1.1 million proposals at its 0.9 us, so its figure is a steady state.
 * Runs of 20,000 (what the other rows use) measured a heap growing again from the collection
 * before each run as much as the core: process CPU time was 1.3-1.8x the wall time (parallel
 * scavenges of a young generation still small), against 1.03-1.06x in runs of a million.
 */
const RAW_NODE_OPS = 1_000_000

export function runRaftBench(size: number): string {
  const n = Math.max(1, Math.round(20_000 * size))
  const rawOps = Math.max(1, Math.round(RAW_NODE_OPS * size))
  const rows = [
    rawNodeBench('RawNode single-voter (1 per op)', [1n], rawOps),
    rawNodeBench('RawNode two-voters (1 per op)', [1n, 2n], rawOps),
    clusterBench(1, n),
    clusterBench(16, n * 4),
    clusterBench(256, n * 16),
    clusterBench(16, n * 4, 'msgprop'),
    clusterBench(256, n * 16, 'msgprop'),
  ]
  const header = `raft benchmark (node ${process.version}, size=${size}); 128-byte entries; medians of 5 runs\n`
  return header + rows.map(formatRow).join('\n') + '\n'
}
