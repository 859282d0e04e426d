/**
 * A raw HTTP/2 load for the api benchmark, run as a child process: `connections` sockets,
 * `depth` calls in flight on each, every request the same precomputed HEADERS + DATA (a unary
 * KV.Range). It reads only frame headers, counts the calls whose trailers (END_STREAM) came back
 * and sends the next ones in one write per read, so it costs far less per call than any server
 * here (7 us or so against node:http2's client's 70-85): the server is the bottleneck.
 *
 * argv: port connections depth calls. Prints "done <calls> <ms>" when `calls` calls have
 * completed, then exits.
 */

import net from 'node:net'

const [port, connections, depth, total] = process.argv.slice(2).map(Number) as [
  number,
  number,
  number,
  number,
]

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

function frameHeader(length: number, type: number, flags: number, id: number): Buffer {
  const b = Buffer.alloc(9)
  b.writeUIntBE(length, 0, 3)
  b[3] = type
  b[4] = flags
  b.writeUInt32BE(id, 5)
  return b
}

/** A literal header field without indexing, the name indexed in the static table (RFC 7541). */
function literal(nameIndex: number, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([nameIndex < 15 ? nameIndex : 15]),
    nameIndex >= 15 ? Buffer.from([nameIndex - 15]) : Buffer.alloc(0),
    Buffer.from([value.length]),
    Buffer.from(value, 'latin1'),
  ])
}

function literalNewName(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0, name.length]),
    Buffer.from(name, 'latin1'),
    Buffer.from([value.length]),
    Buffer.from(value, 'latin1'),
  ])
}

const block = Buffer.concat([
  Buffer.from([0x83, 0x86]), // :method POST, :scheme http
  literal(4, '/etcdserverpb.KV/Range'),
  literal(1, `127.0.0.1:${port}`),
  literal(31, 'application/grpc'),
  literalNewName('te', 'trailers'),
])
// RangeRequest{key: "bench-key"}, gRPC-framed.
const message = Buffer.from([0, 0, 0, 0, 11, 0x0a, 9, ...Buffer.from('bench-key')])

function requestBytes(id: number): Buffer[] {
  return [
    frameHeader(block.length, 0x1, 0x4, id),
    block,
    frameHeader(message.length, 0x0, 0x1, id),
    message,
  ]
}

let calls = 0
let started = 0
const t0 = process.hrtime.bigint()

function startConnection(): void {
  const socket = net.connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  let nextId = 1
  let pending: Buffer = Buffer.alloc(0)
  const send = (want: number): void => {
    const n = Math.min(want, total - started)
    if (n <= 0) return
    started += n
    const parts: Buffer[] = []
    for (let i = 0; i < n; i++) {
      parts.push(...requestBytes(nextId))
      nextId += 2
    }
    socket.write(Buffer.concat(parts))
  }
  const settings = Buffer.alloc(6)
  settings.writeUInt16BE(0x4, 0)
  settings.writeUInt32BE(1 << 30, 2)
  const wu = Buffer.alloc(4)
  wu.writeUInt32BE((1 << 30) - 65535)
  socket.write(
    Buffer.concat([PREFACE, frameHeader(6, 0x4, 0, 0), settings, frameHeader(4, 0x8, 0, 0), wu]),
  )
  send(depth)
  socket.on('data', (chunk: Buffer) => {
    let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let at = 0
    let done = 0
    let ack = false
    while (buf.length - at >= 9) {
      const len = buf.readUIntBE(at, 3)
      if (buf.length - at < 9 + len) break
      const type = buf[at + 3] as number
      const flags = buf[at + 4] as number
      if (type === 0x4 && (flags & 1) === 0) ack = true
      if ((type === 0x1 || type === 0x0) && (flags & 1) !== 0) done++
      if (type === 0x3 || type === 0x7) throw new Error(`load client: frame type ${type}`)
      at += 9 + len
    }
    pending = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
    buf = pending
    if (ack) socket.write(frameHeader(0, 0x4, 0x1, 0))
    calls += done
    if (calls >= total) {
      process.stdout.write(`done ${calls} ${Number(process.hrtime.bigint() - t0) / 1e6}\n`)
      process.exit(0)
    }
    if (done > 0) send(done)
  })
  socket.on('error', (err) => {
    process.stderr.write(`load client: ${err.message}\n`)
    process.exit(1)
  })
}

for (let i = 0; i < connections; i++) startConnection()
