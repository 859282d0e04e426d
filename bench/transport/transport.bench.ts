/**
 * `npm run bench -- transport [--size=N]`: raft messages between two TcpTransports in one
 * process over 127.0.0.1, messages/s and MB/s, with batching on and off.
 *
 * Cost sketch: a small MsgApp (one entry of 128 B) encodes to about 150 B; unbatched, each costs a
 * socket write (a syscall and a TCP segment, some microseconds) on the sender and a read on the
 * receiver, so the syscall dominates; batched, one write carries hundreds of messages and the
 * per-message cost is the protobuf encode and decode and one copy into the batch. Sender and
 * receiver share this process's one thread, so the figures are the sum of both sides' CPU.
 *
 * Method: the sender keeps a window of messages in flight (sent, not yet received: at most
 * 1,024 and 16 MiB, below the queue's bounds, so nothing is dropped, which each row checks) and
 * sends more from the receiver's callback; `perCall` messages go into each send() call. Rows: entry sizes 128 B
 * and 1 KiB, and 64 KiB for MB/s; `batched` is the default (everything handed over in one turn
 * of the event loop goes out in one write), `unbatched` is writeMessagesMax = 1 (one write per
 * message). 200,000 x size messages per small row (fewer for big entries); best of 3 runs. The
 * hash covers the received indexes and payload sizes, so a change that loses or reorders
 * messages shows.
 */
import { createHash } from 'node:crypto'
import { MessageType, entry, message, type Message, type NodeId } from '../../src/raft/index.js'
import { TcpTransport, type PeerHandler } from '../../src/transport/index.js'

interface Row {
  name: string
  entryBytes: number
  messages: number
  perCall: number
  writeMessagesMax?: number
}

/** Messages in flight at most, and bytes: both well below the queue's bounds. */
const WINDOW = 1024
const WINDOW_BYTES = 16 << 20

async function runRow(
  row: Row,
): Promise<{ seconds: number; bytes: number; writes: number; hash: string }> {
  let received = 0
  const total = row.messages + 1
  const hash = createHash('sha256')
  let wake: (() => void) | null = null
  let failure: Error | null = null
  const window = Math.max(1, Math.min(WINDOW, Math.floor(WINDOW_BYTES / row.entryBytes)))
  const handler: PeerHandler = {
    receive(m) {
      received++
      const e = m.entries[0]
      hash.update(`${m.index}:${e?.data.length ?? 0};`)
      if (wake !== null && (received % 64 === 0 || received === total)) {
        const w = wake
        wake = null
        w()
      }
    },
    unreachable(peer) {
      // The transport catches what its handler throws: fail the run through the loop instead.
      failure = new Error(`peer ${peer} reported unreachable during the benchmark`)
      wake?.()
    },
    snapshotStatus() {},
  }
  const limits =
    row.writeMessagesMax === undefined ? {} : { writeMessagesMax: row.writeMessagesMax }
  const b = new TcpTransport({
    id: 2n,
    clusterId: 1n,
    listenUrls: ['http://127.0.0.1:0'],
    peers: new Map(),
    limits,
  })
  const [url] = await b.listen()
  const a = new TcpTransport({
    id: 1n,
    clusterId: 1n,
    listenUrls: ['http://127.0.0.1:0'],
    peers: new Map([[2n as NodeId, [url as string]]]),
    limits,
  })
  await a.listen()
  b.start(handler)
  a.start({ receive() {}, unreachable: handler.unreachable, snapshotStatus() {} })
  // The first message waits for the connection; timing starts once it arrived.
  const data = new Uint8Array(row.entryBytes).fill(7)
  const msg = (i: number): Message =>
    message({
      type: MessageType.MsgApp,
      from: 1n,
      to: 2n,
      term: 1,
      index: i,
      logTerm: 1,
      commit: i,
      entries: [entry({ term: 1, index: i + 1, data })],
    })
  a.send([msg(0)])
  await until(() => received === 1)
  const writes0 = a.stats(2n).writes
  const t0 = process.hrtime.bigint()
  let sent = 1
  while (received < total) {
    while (sent < total && sent - received < window) {
      const batch: Message[] = []
      for (let k = 0; k < row.perCall && sent < total; k++) batch.push(msg(sent++))
      a.send(batch)
    }
    if (failure === null) await new Promise<void>((r) => (wake = r))
    if (failure !== null) throw failure
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const s = a.stats(2n)
  if (s.droppedMessages !== 0) throw new Error(`${s.droppedMessages} messages dropped`)
  const writes = s.writes - writes0
  await Promise.all([a.stop(), b.stop()])
  return { seconds, bytes: s.sentBytes, writes, hash: hash.digest('hex').slice(0, 12) }

  function until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const poll = (): void => (check() ? resolve() : void setImmediate(poll))
      poll()
    })
  }
}

export async function runTransportBench(size: number): Promise<string> {
  const n = (base: number): number => Math.max(200, Math.round(base * size))
  const rows: Row[] = [
    { name: '128 B entries, batched', entryBytes: 128, messages: n(200_000), perCall: 1 },
    {
      name: '128 B entries, unbatched',
      entryBytes: 128,
      messages: n(200_000),
      perCall: 1,
      writeMessagesMax: 1,
    },
    { name: '128 B entries, 64 per send()', entryBytes: 128, messages: n(200_000), perCall: 64 },
    { name: '1 KiB entries, batched', entryBytes: 1024, messages: n(100_000), perCall: 1 },
    {
      name: '1 KiB entries, unbatched',
      entryBytes: 1024,
      messages: n(100_000),
      perCall: 1,
      writeMessagesMax: 1,
    },
    { name: '64 KiB entries, batched', entryBytes: 65536, messages: n(10_000), perCall: 1 },
  ]
  let out = `transport benchmark (node ${process.version}): two TcpTransports over 127.0.0.1, one process\n`
  out += `${'row'.padEnd(30)} ${'messages/s'.padStart(12)} ${'MB/s'.padStart(8)} ${'msgs/write'.padStart(10)}  hash\n`
  for (const row of rows) {
    let best: Awaited<ReturnType<typeof runRow>> | null = null
    for (let run = 0; run < 3; run++) {
      const r = await runRow(row)
      if (best !== null && r.hash !== best.hash) throw new Error(`${row.name}: runs disagree`)
      if (best === null || r.seconds < best.seconds) best = r
    }
    const b = best as Awaited<ReturnType<typeof runRow>>
    out +=
      `${row.name.padEnd(30)} ${Math.round(row.messages / b.seconds)
        .toLocaleString('en-US')
        .padStart(12)} ` +
      `${(b.bytes / b.seconds / 1e6).toFixed(1).padStart(8)} ${(row.messages / Math.max(1, b.writes)).toFixed(1).padStart(10)}  ${b.hash}\n`
  }
  return out
}
