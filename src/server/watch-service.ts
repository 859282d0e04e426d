/**
 * etcd's Watch service: '/etcdserverpb.Watch/Watch', a bidirectional stream (etcd 3.4's
 * etcdserver/api/v3rpc/watch.go serverWatchStream). Each call is one mvcc WatchStream with many
 * watchers: create requests (ids chosen by the client, or by the stream from 0), cancels, and
 * progress requests come in; created / canceled answers and the watchers' events go out.
 *
 * What etcd 3.4 does, and so do we:
 * - a create answers `created` with the header revision the stream had before the watch; a
 *   refused one (an empty range, a duplicate id) answers created + canceled, watch id -1 and the
 *   mvcc error as cancel_reason;
 * - a cancel of an unknown id is not answered; a known one answers canceled;
 * - a progress request answers watch id -1 with the current revision in the header, whatever the
 *   watchers' state; progress_notify watchers get a response without events every interval if no
 *   event went to them since the last one (and only while they are synced);
 * - prev_kv is read at mod_revision - 1 when the response is sent (nothing if compacted by then);
 * - fragment splits a response larger than --max-request-bytes (plus gRPC's overhead) into
 *   responses of at most that size, each with fragment set but the last;
 * - a watcher whose history is compacted gets compact_revision and canceled;
 * - a learner refuses the call ("etcdserver: rpc not supported for learner").
 *
 * Every member serves watches from its own applied state, so a follower notifies what it has
 * applied. The consumer's backpressure is the call's: `send` returning false pauses the mvcc
 * stream (its watchers fall back to catching up from the backend), onDrain resumes it.
 */
import {
  EventType,
  RpcError,
  WatchFilterType,
  WatchRequestCodec,
  WatchResponseCodec,
  encodeWatchEvents,
  encodeWatchHeaderField,
  watchEventsFrameSize,
  writeWatchEventsFrame,
  watchEventSize,
  type Event,
  type KeyValue,
  type ResponseHeader,
  type RpcServer,
  type StreamCall,
  type WatchCreateRequest,
  type WatchRequest,
  type WatchResponse,
} from '../api/index.js'
import {
  WatchError,
  type WatchEvent,
  type WatchResponse as MvccWatchResponse,
  type WatchStream,
} from '../mvcc/index.js'
import { ServerError } from './errors.js'
import type { PontoonServer } from './server.js'

/** gRPC accepts this much more than --max-request-bytes (etcd's grpcOverheadBytes). */
const GRPC_OVERHEAD_BYTES = 512 * 1024

export function registerWatchService(rpc: RpcServer, s: PontoonServer): void {
  rpc.stream('/etcdserverpb.Watch/Watch', WatchRequestCodec, WatchResponseCodec, (call) => {
    // etcd 3.4's stream interceptor: a learner serves no watch.
    if (s.machine.members.get(s.id)?.isLearner === true) {
      const e = new ServerError('NOT_SUPPORTED_FOR_LEARNER')
      call.finish(new RpcError(e.status, e.message))
      return
    }
    new ServerWatchStream(call, s)
  })
}

/**
 * A callback's batch of deliveries (sendEvents) starts this small (from Node's buffer pool) and
 * doubles per buffer filled, up to BATCH_MAX_BYTES: a stream holds no buffer between callbacks,
 * so that thousands of streams cost nothing idle.
 */
const BATCH_MIN_BYTES = 2048
const BATCH_MAX_BYTES = 64 * 1024

class ServerWatchStream {
  private readonly ws: WatchStream
  /** Watchers with progress_notify: true if no event went to it since the last notification. */
  private readonly progress = new Map<number, boolean>()
  private readonly prevKv = new Set<number>()
  private readonly fragment = new Set<number>()
  private readonly timer: NodeJS.Timeout
  private readonly maxBytes: number
  private closed = false
  /** A flush of the call's connection is queued for the end of this callback (send). */
  private flushQueued = false
  /** Frames of shared-event deliveries gathered in this callback (sendEvents), and their bytes. */
  private batch: Buffer | null = null
  private batchLen = 0
  private batchNext = BATCH_MIN_BYTES
  private readonly flushBound = (): void => {
    this.flushQueued = false
    if (this.batch !== null && !this.closed) this.sendBatch()
    this.batch = null
    this.batchNext = BATCH_MIN_BYTES
    this.call.flush()
  }
  /** The last events converted without prev_kv, and what they became (shared, read-only). */
  private lastIn: readonly WatchEvent[] | undefined
  private lastOut: Event[] = []
  private lastEncoded: Uint8Array | undefined
  /** The last header field (headerField) and the revision and term it holds. */
  private field: Uint8Array = new Uint8Array(0)
  private fieldRevision = -1
  private fieldTerm = -1

  constructor(
    private readonly call: StreamCall<WatchRequest, WatchResponse>,
    private readonly s: PontoonServer,
  ) {
    this.maxBytes = s.config.maxRequestBytes + GRPC_OVERHEAD_BYTES
    this.ws = s.watchable.newWatchStream((r) => this.onResponse(r))
    call.onMessage = (q) => this.onRequest(q)
    // etcd keeps the stream open after the client's half-close (its recvLoop ends, the call
    // waits for its context): the watchers go on.
    call.onHalfClose = () => {}
    call.onDrain = () => this.ws.resume()
    call.signal.addEventListener('abort', () => this.close(), { once: true })
    // etcd's GetProgressReportInterval: the interval plus up to a tenth of it as jitter, so
    // watchers created together are not notified together.
    const base = s.config.watchProgressNotifyIntervalMs
    this.timer = setInterval(() => this.progressTick(), base + Math.random() * (base / 10))
    this.timer.unref()
  }

  /** The header of `revision` as field 1, encoded once per revision and term. */
  private headerField(revision: number): Uint8Array {
    const term = this.s.node.view.term
    if (revision !== this.fieldRevision || term !== this.fieldTerm) {
      this.field = encodeWatchHeaderField(this.header(revision))
      this.fieldRevision = revision
      this.fieldTerm = term
    }
    return this.field
  }

  private header(revision: number): ResponseHeader {
    return {
      clusterId: this.s.clusterId,
      memberId: this.s.id,
      revision,
      raftTerm: this.s.node.view.term,
    }
  }

  private onRequest(q: WatchRequest): void {
    if (this.closed) return
    switch (q.type) {
      case 'createRequest':
        this.create(q.createRequest)
        return
      case 'cancelRequest': {
        const id = q.cancelRequest.watchId
        if (!this.ws.cancel(id)) return // etcd 3.4 answers nothing
        this.forget(id)
        this.send(this.response({ watchId: id, canceled: true }, this.ws.revision))
        return
      }
      case 'progressRequest':
        // Not tied to a watcher: etcd 3.4 answers watch id -1 with the current revision.
        this.send(this.response({ watchId: -1 }, this.ws.revision))
        return
      case 'none':
        return
    }
  }

  private create(c: WatchCreateRequest): void {
    // etcd: an empty key is \x00, the smallest; a range end of \x00 means every key >= key.
    const key = c.key.length === 0 ? new Uint8Array([0]) : c.key
    const end = c.rangeEnd.length === 0 ? undefined : c.rangeEnd
    const wsrev = this.ws.revision
    const start = c.startRevision === 0 ? wsrev + 1 : c.startRevision
    let id = -1
    let reason = ''
    try {
      id = this.ws.watch({
        key,
        end,
        startRevision: start,
        // etcd 3.4's AutoWatchID is 0: a client asking for id 0 gets one chosen.
        id: c.watchId === 0 ? undefined : c.watchId,
        noPut: c.filters.includes(WatchFilterType.NOPUT),
        noDelete: c.filters.includes(WatchFilterType.NODELETE),
      })
    } catch (err) {
      if (!(err instanceof WatchError)) throw err
      reason = err.message
    }
    if (reason === '') {
      if (c.progressNotify) this.progress.set(id, true)
      if (c.prevKv) this.prevKv.add(id)
      if (c.fragment) this.fragment.add(id)
    }
    // Sent now, before any event of the watcher: its events leave the mvcc queue later.
    this.send(
      this.response(
        { watchId: id, created: true, canceled: reason !== '', cancelReason: reason },
        wsrev,
      ),
    )
  }

  /** A watcher's events (or progress, or compaction cancel) from the mvcc stream. */
  private onResponse(r: MvccWatchResponse): boolean {
    if (this.closed) return false
    const id = r.watchId
    const withPrev = this.prevKv.has(id)
    const fragment = this.fragment.has(id)
    let events: Event[]
    let encodedEvents: Uint8Array | undefined
    if (!withPrev && r.events === this.lastIn) {
      // Watchers reached by one change share its events (mvcc hands them the same array):
      // converted and encoded once per stream.
      events = this.lastOut
      encodedEvents = fragment ? undefined : (this.lastEncoded ??= encodeWatchEvents(events))
    } else {
      events = r.events.map((e) => this.event(e, withPrev))
      if (!withPrev) {
        this.lastIn = r.events
        this.lastOut = events
        this.lastEncoded = undefined
      }
    }
    const canceled = r.compactRevision !== 0
    if (events.length > 0 && this.progress.get(id) === true) {
      // An event went out: the next progress notification is not needed (etcd elides it).
      this.progress.set(id, false)
    }
    if (encodedEvents !== undefined && !canceled) {
      // The common delivery: the frame built from the parts every watcher shares.
      return this.sendEvents(this.headerField(r.revision), id, encodedEvents)
    }
    // A literal of one shape (no spread): this runs once per watcher per change.
    const wr: WatchResponse = {
      header: this.header(r.revision),
      watchId: id,
      created: false,
      canceled,
      compactRevision: r.compactRevision,
      cancelReason: '',
      fragment: false,
      events,
      encodedEvents,
    }
    if (canceled) this.forget(id)
    return fragment ? this.sendFragments(wr) : this.send(wr)
  }

  private event(e: WatchEvent, withPrev: boolean): Event {
    const kv = e.kv as KeyValue
    let prevKv: KeyValue | null = null
    const create = e.type === 'put' && kv.createRevision === kv.modRevision
    if (withPrev && !create) {
      try {
        const r = this.s.kv.range(kv.key, undefined, { rev: kv.modRevision - 1 })
        prevKv = r.kvs[0] ?? null
      } catch {
        // Compacted since (etcd leaves prev_kv out on any range error).
      }
    }
    return { type: e.type === 'put' ? EventType.PUT : EventType.DELETE, kv, prevKv }
  }

  /**
   * etcd's sendFragments: a response of at least maxBytes with two or more events goes out in
   * pieces, each as many events as keep it under maxBytes (at least one), `fragment` set on all
   * but the last.
   */
  private sendFragments(wr: WatchResponse): boolean {
    if (wr.events.length < 2 || WatchResponseCodec.size(wr) < this.maxBytes) return this.send(wr)
    const all = wr.events
    const base = WatchResponseCodec.size({ ...wr, events: [], fragment: true })
    let ok = true
    let at = 0
    while (at < all.length) {
      const part: Event[] = []
      let size = base
      while (at < all.length) {
        const n = watchEventSize(all[at]!)
        if (part.length > 0 && size + n >= this.maxBytes) break
        part.push(all[at]!)
        size += n
        at++
      }
      ok = this.send({ ...wr, events: part, fragment: at < all.length })
    }
    return ok
  }

  private progressTick(): void {
    for (const [id, due] of this.progress) {
      if (due) this.ws.requestProgress(id)
      this.progress.set(id, true)
    }
  }

  private response(init: Partial<WatchResponse>, revision: number): WatchResponse {
    return {
      header: this.header(revision),
      watchId: 0,
      created: false,
      canceled: false,
      compactRevision: 0,
      cancelReason: '',
      fragment: false,
      events: [],
      ...init,
    }
  }

  private send(wr: WatchResponse): boolean {
    // After the frames gathered so far, in order.
    if (this.batch !== null) this.sendBatch()
    return this.sent(this.call.send(wr))
  }

  /**
   * A delivery of shared events: its frame joins the others of this callback in `batch`, sent
   * as one chunk at its end (or when the batch is full). False, as from send, once the call's
   * buffer is over its mark (its drain resumes the mvcc stream).
   */
  private sendEvents(headerField: Uint8Array, id: number, encodedEvents: Uint8Array): boolean {
    const n = watchEventsFrameSize(headerField, id, encodedEvents)
    let ok = true
    if (this.batch !== null && this.batchLen + n > this.batch.length) ok = this.sendBatch()
    if (this.batch === null) {
      this.batch = Buffer.allocUnsafe(Math.max(n, this.batchNext))
      this.batchNext = Math.min(BATCH_MAX_BYTES, this.batchNext * 2)
    }
    this.batchLen = writeWatchEventsFrame(this.batch, this.batchLen, headerField, id, encodedEvents)
    return this.sent(ok)
  }

  /** The gathered frames go to the call (the buffer with them: the next batch is a new one). */
  private sendBatch(): boolean {
    const chunk = (this.batch as Buffer).subarray(0, this.batchLen)
    this.batch = null
    this.batchLen = 0
    return this.call.sendFrame(chunk)
  }

  private sent(ok: boolean): boolean {
    if (!this.flushQueued) {
      // Deliveries run in an immediate of their own; the connection's flush, scheduled from
      // there, would wait for the next round of the loop, after whatever I/O it polls (the
      // writer's next request): out at the end of this callback instead.
      this.flushQueued = true
      queueMicrotask(this.flushBound)
    }
    return ok
  }

  private forget(id: number): void {
    this.progress.delete(id)
    this.prevKv.delete(id)
    this.fragment.delete(id)
  }

  private close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    this.ws.close()
  }
}
