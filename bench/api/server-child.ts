/**
 * The server side of the api benchmark, in its own process so that its CPU time is its own:
 * `node server-child.js grpc-js|node-http2|own-h2` listens on a free port, sends it to the parent, and
 * answers 'cpu' with process.cpuUsage(). node-http2 and own-h2 are our RpcServer on node:http2
 * and on our own HTTP/2 (src/api/h2). All servers answer Range with the same response
 * through the same codecs: only the gRPC/HTTP/2 layer differs.
 */
import * as grpc from '@grpc/grpc-js'
import {
  RangeRequestCodec,
  RangeResponseCodec,
  RpcServer,
  decodeMessage,
  encodeMessage,
  keyValue,
  type RangeRequest,
  type RangeResponse,
} from '../../src/api/index.js'

export const RANGE_PATH = '/etcdserverpb.KV/Range'

/** One key of 100 bytes, a header: a typical small Range answer. */
export function rangeAnswer(q: RangeRequest): RangeResponse {
  return {
    header: { clusterId: 0x1234n, memberId: 0xabcdn, revision: 1000, raftTerm: 3 },
    kvs: [
      keyValue({
        key: q.key,
        value: VALUE,
        createRevision: 10,
        modRevision: 900,
        version: 7,
      }),
    ],
    more: false,
    count: 1,
  }
}
const VALUE = new Uint8Array(100).fill(0x61)

async function startGrpcJs(): Promise<number> {
  const server = new grpc.Server()
  server.addService(
    {
      Range: {
        path: RANGE_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: RangeRequest) => Buffer.from(encodeMessage(RangeRequestCodec, v)),
        requestDeserialize: (b: Buffer) => decodeMessage(RangeRequestCodec, b),
        responseSerialize: (v: RangeResponse) => Buffer.from(encodeMessage(RangeResponseCodec, v)),
        responseDeserialize: (b: Buffer) => decodeMessage(RangeResponseCodec, b),
      },
    },
    {
      Range: (
        call: grpc.ServerUnaryCall<RangeRequest, RangeResponse>,
        cb: grpc.sendUnaryData<RangeResponse>,
      ) => cb(null, rangeAnswer(call.request)),
    },
  )
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
      err === null ? resolve(port) : reject(err),
    ),
  )
}

async function startRpcServer(http2: 'node' | 'own'): Promise<number> {
  const server = new RpcServer({ maxRecvBytes: 2 * 1024 * 1024, http2 })
  server.unary(RANGE_PATH, RangeRequestCodec, RangeResponseCodec, rangeAnswer)
  return (await server.listen({ host: '127.0.0.1', port: 0 })).port
}

if (process.send !== undefined && process.argv[2] !== undefined) {
  const kind = process.argv[2]
  const port =
    kind === 'grpc-js'
      ? await startGrpcJs()
      : await startRpcServer(kind === 'node-http2' ? 'node' : 'own')
  process.on('message', (m) => {
    if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() })
    else if (m === 'exit') process.exit(0)
  })
  process.send({ port })
}
