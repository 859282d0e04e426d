/**
 * A raw etcdserverpb.Lease gRPC client for tests (test support), the twin of kv-client.ts: no
 * retries, no error rewriting, the same message conventions (rpc.proto field names, int64 as
 * decimal strings, defaults filled), so an answer of etcd and one of pontoon compare as they are.
 * Unary calls resolve with the response or the gRPC status; `keepAlive` sends requests on one
 * LeaseKeepAlive stream and collects one answer per request.
 */

import * as grpc from '@grpc/grpc-js'
import { etcdService, type ServiceCtor } from './etcd-services.js'
import type { CallResult, Message } from './kv-client.js'

const leaseService = (): ServiceCtor => etcdService('Lease')

export type LeaseMethod = 'LeaseGrant' | 'LeaseRevoke' | 'LeaseTimeToLive' | 'LeaseLeases'

export class LeaseClient {
  private readonly client: grpc.Client

  constructor(
    readonly endpoint: string,
    private readonly deadlineMs = 10_000,
  ) {
    const Ctor = leaseService()
    this.client = new Ctor(endpoint.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure())
  }

  call(method: LeaseMethod, request: Message): Promise<CallResult> {
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

  /**
   * Sends one keepalive per id on one stream, each after the previous answer, then half-closes;
   * resolves with the answers, or with the stream's error status if it failed first.
   */
  keepAlive(ids: readonly string[]): Promise<CallResult[]> {
    const fn = (this.client as unknown as Record<string, unknown>).LeaseKeepAlive as (
      opts: grpc.CallOptions,
    ) => grpc.ClientDuplexStream<Message, Message>
    const call = fn.call(this.client, { deadline: Date.now() + this.deadlineMs })
    const out: CallResult[] = []
    return new Promise((resolve) => {
      let i = 0
      const next = (): void => {
        if (i < ids.length) call.write({ ID: ids[i++] })
        else call.end()
      }
      call.on('data', (m: Message) => {
        out.push({ ok: true, response: m })
        next()
      })
      call.on('error', (err: grpc.ServiceError) => {
        out.push({ ok: false, code: err.code, details: err.details })
        resolve(out)
      })
      call.on('end', () => resolve(out))
      next()
    })
  }

  close(): void {
    this.client.close()
  }
}
