/**
 * A raw etcdserverpb.Watch gRPC client for tests (test support): one bidirectional stream over
 * @grpc/grpc-js and the rpc.proto the etcd3 package ships, with no retries and no reconnects, so
 * a test sees exactly what the server sent: every WatchResponse as protobufjs decodes it
 * (KvClient's options: snake_case, int64 as strings, bytes as Buffer, defaults filled).
 *
 * `until(pred)` waits for an answer (an event of the stream, no polling); `flatten` turns the
 * responses of one watch id into the items a comparison with etcd uses: batching is timing
 * dependent (a catch-up sends many revisions at once, a live watcher one per revision), the
 * events and the created / canceled / compact answers are not.
 */

import * as grpc from '@grpc/grpc-js'
import { etcdService, type ServiceCtor } from './etcd-services.js'
import type { Message } from './kv-client.js'

const watchService = (): ServiceCtor => etcdService('Watch')

/** One Watch call to one endpoint ("http://127.0.0.1:2379" or "127.0.0.1:2379"). */
export class WatchClient {
  readonly responses: Message[] = []
  /** The call's end: its status (code and details) once it ended. */
  ended: { code: number; details: string } | undefined
  private readonly client: grpc.Client
  private readonly call: grpc.ClientDuplexStream<Message, Message>
  private readonly waiters = new Set<() => void>()

  constructor(endpoint: string) {
    const Ctor = watchService()
    this.client = new Ctor(
      endpoint.replace(/^https?:\/\//, ''),
      grpc.credentials.createInsecure(),
      { 'grpc.max_receive_message_length': -1 },
    )
    const watch = (this.client as unknown as Record<string, () => unknown>).watch!
    this.call = watch.call(this.client) as grpc.ClientDuplexStream<Message, Message>
    this.call.on('data', (m: Message) => {
      this.responses.push(m)
      this.wake()
    })
    this.call.on('error', (err: grpc.ServiceError) => {
      this.ended = { code: err.code, details: err.details }
      this.wake()
    })
    this.call.on('status', (s: grpc.StatusObject) => {
      this.ended ??= { code: s.code, details: s.details }
      this.wake()
    })
  }

  /** A create request (rpc.proto field names; bytes as Buffer). */
  create(req: Message): void {
    this.call.write({ create_request: req })
  }

  cancel(watchId: number): void {
    this.call.write({ cancel_request: { watch_id: watchId } })
  }

  progress(): void {
    this.call.write({ progress_request: {} })
  }

  /** Resolves once `pred` holds (checked now and after every response); rejects after timeoutMs. */
  until(pred: () => boolean, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
    if (pred()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred()) return
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`watch: ${what} did not happen within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.add(check)
    })
  }

  /** The responses of one watch id. */
  of(watchId: number): Message[] {
    return this.responses.filter((r) => Number(r.watch_id) === watchId)
  }

  close(): void {
    this.call.cancel()
    this.client.close()
  }

  private wake(): void {
    for (const w of [...this.waiters]) w()
  }
}

/**
 * One watch id's responses as comparable items: 'created' (with canceled and cancel_reason when
 * refused), each event (type, kv and prev_kv, bytes as text), 'canceled' with compact_revision.
 * Progress notifications (no events, not canceled) and fragment boundaries leave no item.
 */
export function flatten(responses: readonly Message[]): unknown[] {
  const out: unknown[] = []
  for (const r of responses) {
    if (r.created === true) {
      out.push({ created: true, canceled: r.canceled, reason: r.cancel_reason })
      continue
    }
    for (const e of r.events as Message[]) out.push(eventItem(e))
    if (r.canceled === true) {
      out.push({ canceled: true, compact_revision: r.compact_revision, reason: r.cancel_reason })
    }
  }
  return out
}

function eventItem(e: Message): unknown {
  const kv = (m: Message | null | undefined): unknown =>
    m === null || m === undefined
      ? null
      : {
          key: (m.key as Buffer).toString('latin1'),
          create_revision: m.create_revision,
          mod_revision: m.mod_revision,
          version: m.version,
          value: (m.value as Buffer).toString('latin1'),
          lease: m.lease,
        }
  return { type: e.type, kv: kv(e.kv as Message), prev_kv: kv(e.prev_kv as Message) }
}
