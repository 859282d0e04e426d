/**
 * A raw etcdserverpb.KV gRPC client for tests (test support): @grpc/grpc-js over the rpc.proto
 * that the etcd3 package ships, with no retries, no failover and no error rewriting, so a test
 * sees exactly what the server answered: the response message as protobufjs decodes it, or the
 * gRPC status code and details text.
 *
 * Messages use rpc.proto's field names (snake_case, `keepCase`), int64 fields as decimal strings
 * (`longs: String`, so member ids keep every bit), bytes as Buffer, and every field present with
 * its default (`defaults: true`), so two answers compare field by field whether or not a server
 * omitted a zero field on the wire. @grpc/proto-loader is resolved through etcd3 (its
 * dependency), so the harness needs no package of its own.
 */

import * as grpc from '@grpc/grpc-js'
import { etcdService, type ServiceCtor } from './etcd-services.js'

const kvService = (): ServiceCtor => etcdService('KV')

export type KvMethod = 'range' | 'put' | 'deleteRange' | 'txn' | 'compact'

/** A decoded message: rpc.proto field names, int64 as strings, bytes as Buffer. */
export type Message = Record<string, unknown>

/** What one call came back with: a response, or a gRPC error (code and details text). */
export type CallResult =
  | { readonly ok: true; readonly response: Message }
  | { readonly ok: false; readonly code: number; readonly details: string }

/** The gRPC status names by code, for readable diffs. */
export const GRPC_STATUS_NAMES: readonly string[] = Object.entries(grpc.status)
  .filter(([, v]) => typeof v === 'number')
  .sort((a, b) => (a[1] as number) - (b[1] as number))
  .map(([k]) => k)

export interface KvClientOptions {
  /** Per-call deadline (default 10 s). */
  readonly deadlineMs?: number
  /** grpc-js channel options, e.g. {'grpc.max_send_message_length': -1}. */
  readonly channelOptions?: grpc.ClientOptions
}

/** One channel to one endpoint ("http://127.0.0.1:2379" or "127.0.0.1:2379"). */
export class KvClient {
  readonly endpoint: string
  private readonly client: grpc.Client
  private readonly deadlineMs: number

  constructor(endpoint: string, opts: KvClientOptions = {}) {
    this.endpoint = endpoint
    const Ctor = kvService()
    this.client = new Ctor(
      endpoint.replace(/^https?:\/\//, ''),
      grpc.credentials.createInsecure(),
      {
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
        ...opts.channelOptions,
      },
    )
    this.deadlineMs = opts.deadlineMs ?? 10_000
  }

  /** Calls one KV method; resolves with the response or the gRPC error, never rejects on one. */
  call(method: KvMethod, request: Message): Promise<CallResult> {
    const fn = (this.client as unknown as Record<string, unknown>)[method] as (
      req: Message,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Message) => void,
    ) => void
    return new Promise((resolve) => {
      fn.call(this.client, request, { deadline: Date.now() + this.deadlineMs }, (err, res) => {
        if (err !== null) resolve({ ok: false, code: err.code, details: err.details })
        else resolve({ ok: true, response: res ?? {} })
      })
    })
  }

  close(): void {
    this.client.close()
  }
}
