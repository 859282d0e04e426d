/**
 * The watchable store: etcd's mvcc/watchable_store.go semantics over an MvccStore, in our own
 * design. Every write txn's changes (one revision, in sub-revision order) reach the watchers
 * whose key or range holds them; a watcher sees the committed history of its range from its
 * start revision, in order, each event once, with no gap, or is cancelled with the compacted
 * revision.
 *
 * Watchers are synced (they have seen everything up to the store's revision: each write txn is
 * matched against them as it ends) or unsynced (their next revision is in the past: they catch up
 * from the backend). Synced watchers are grouped by key range (WatcherGroup): watchers of one key
 * in a Map, ranges in an interval tree, so a change costs O(log n) plus the watchers it reaches,
 * not O(watchers).
 *
 * Backpressure: a watch stream (one consumer, a gRPC Watch call) has a queue of responses,
 * bounded in count and bytes, drained into its sink while the sink accepts. A watcher whose
 * stream queue is full is not blocked and blocks no one: it falls back to unsynced, remembering
 * the next revision it must see, and catches up from the backend once its consumer drains
 * (resume()). Unsynced watchers are caught up in rounds (etcd's syncWatchers): up to
 * `watchersPerSyncMax` watchers, the changes of whole revisions up to about `recordsPerSyncMax`
 * records read once for them all, a turn of the event loop between rounds; so catching up never
 * holds more than one round's records and writes go on meanwhile.
 *
 * Differences from etcd's code, same behaviour on the wire: etcd keeps a slow watcher's pending
 * batch as a "victim" and retries it every 10 ms; we drop it and re-read it from the backend, so
 * a slow consumer holds at most its stream's queue. A synced watcher's next revision moves with
 * every response (etcd 3.4 leaves it at the start, so after a snapshot restore it could repeat
 * events; etcd 3.5 fixed that the same way).
 */
import assert from 'node:assert/strict'
import { latin1 } from './bytes.js'
import { IntervalTree } from './interval-tree.js'
import type { WatchEvent } from './kv.js'
import type { MvccStore, StoreObserver } from './store.js'

/** What a watcher receives (etcd mvcc.WatchResponse). */
export interface WatchResponse {
  watchId: number
  /**
   * In revision order; empty for a progress notification or a compaction cancel. Read-only:
   * watchers reached by the same change may share one array.
   */
  events: WatchEvent[]
  /**
   * The store's revision this response is as of (etcd puts it in the header); 0 in a compaction
   * cancel, as etcd's.
   */
  revision: number
  /**
   * Non-zero: the revisions the watcher still needed were compacted at this revision; the
   * watcher is cancelled (it receives nothing more).
   */
  compactRevision: number
}

export interface WatchRequest {
  key: Uint8Array
  /** Undefined or empty: the key alone; [0x00]: every key >= key; otherwise [key, end). */
  end?: Uint8Array
  /**
   * The first revision to deliver (a past one replays history; a future one waits for it);
   * 0 or undefined: the next revision (current + 1).
   */
  startRevision?: number
  /** Chosen by the caller; undefined: the stream picks the lowest free id from its counter. */
  id?: number
  /** etcd's NOPUT filter: put events are not delivered. */
  noPut?: boolean
  /** etcd's NODELETE filter: delete events are not delivered. */
  noDelete?: boolean
}

/**
 * A stream's consumer: takes one response; returns false when it is full (it took this one, but
 * wants no more until the stream's resume()), as gRPC's StreamCall.send does.
 */
export type WatchSink = (r: WatchResponse) => boolean

export interface WatchableStoreOptions {
  /** Responses a stream queues for its consumer at most (default 65536). */
  streamQueueMax?: number
  /** Event bytes (keys and values) a stream queues at most (default 16 MiB). */
  streamQueueBytesMax?: number
  /** Unsynced watchers caught up per round (etcd's maxWatchersPerSync, 512). */
  watchersPerSyncMax?: number
  /** Records read from the backend per round, rounded up to whole revisions (default 1000). */
  recordsPerSyncMax?: number
  /**
   * Runs `fn` later: deliveries to consumers and catch-up rounds. By default in the event loop's
   * next round (setImmediate twice): the acknowledgement of the write that produced the events,
   * flushed in this round's immediates, leaves before them, so that a writer's client reads its
   * answer first and its next request overlaps with the delivery (as etcd's sendLoop does). The
   * simulator and tests pass their own.
   */
  schedule?: (fn: () => void) => void
}

export type WatchErrorCode = 'WATCHER_RANGE_EMPTY' | 'WATCHER_DUPLICATE_ID'

/** etcd's texts (mvcc/watcher.go). */
export const ERR_EMPTY_WATCHER_RANGE_TEXT = 'mvcc: watcher range is empty'
export const ERR_WATCHER_DUPLICATE_ID_TEXT = 'mvcc: duplicate watch ID provided on the WatchStream'

/** Counts of watchers by state (tests, benchmarks, metrics). */
export interface WatcherCounts {
  synced: number
  unsynced: number
}

const QUEUE_MAX_DEFAULT = 65536
const QUEUE_BYTES_MAX_DEFAULT = 16 * 1024 * 1024
const WATCHERS_PER_SYNC_DEFAULT = 512
const RECORDS_PER_SYNC_DEFAULT = 1000
/** Bytes counted per event beside its key and value (the record's numbers, the object). */
const EVENT_OVERHEAD_BYTES = 64

type WatcherState = 'synced' | 'unsynced' | 'canceled'

class Watcher {
  state: WatcherState = 'unsynced'
  /**
   * Created to replay history from a past revision and not caught up yet: its next revision is
   * still the one it asked for (see syncRound's compaction check).
   */
  replaying = false
  constructor(
    readonly id: number,
    readonly stream: WatchStream,
    /** The key (latin1), or the range's start. */
    readonly start: string,
    /** undefined: the key alone; otherwise the range's end, '' standing for +infinity. */
    readonly end: string | undefined,
    /** The next revision this watcher must see: every revision before it was delivered. */
    public nextRev: number,
    readonly noPut: boolean,
    readonly noDelete: boolean,
  ) {}

  /** The events this watcher's filters let through. */
  filter(events: WatchEvent[]): WatchEvent[] {
    if (!this.noPut && !this.noDelete) return events
    return events.filter((e) => (e.type === 'put' ? !this.noPut : !this.noDelete))
  }
}

/** Watchers by key range: single keys in a Map, ranges in an interval tree (etcd watcherGroup). */
class WatcherGroup {
  private readonly keys = new Map<string, Set<Watcher>>()
  private readonly ranges = new IntervalTree<Set<Watcher>>()
  size = 0

  add(w: Watcher): void {
    let set: Set<Watcher> | undefined
    if (w.end === undefined) {
      set = this.keys.get(w.start)
      if (set === undefined) this.keys.set(w.start, (set = new Set()))
    } else {
      const end = w.end === '' ? undefined : w.end
      set = this.ranges.get(w.start, end)
      if (set === undefined) this.ranges.insert(w.start, end, (set = new Set()))
    }
    assert(!set.has(w))
    set.add(w)
    this.size++
  }

  delete(w: Watcher): void {
    if (w.end === undefined) {
      const set = this.keys.get(w.start)
      assert(set?.delete(w) === true, 'a watcher not in its group')
      if (set.size === 0) this.keys.delete(w.start)
    } else {
      const end = w.end === '' ? undefined : w.end
      const set = this.ranges.get(w.start, end)
      assert(set?.delete(w) === true, 'a watcher not in its group')
      if (set.size === 0) this.ranges.delete(w.start, end)
    }
    this.size--
  }

  /** Calls fn for every watcher whose key or range holds `key`. */
  match(key: string, fn: (w: Watcher) => void): void {
    const set = this.keys.get(key)
    if (set !== undefined) for (const w of set) fn(w)
    if (this.ranges.size > 0) this.ranges.stab(key, (s) => s.forEach(fn))
  }
}

/** The events of a progress notification or a compaction cancel (read-only, shared). */
const NO_EVENTS: WatchEvent[] = []

/** A queued response and its watcher (responses of a cancelled watcher are dropped). */
interface Queued {
  w: Watcher
  /** The response's fields; its object is made when it is handed to the sink (flush). */
  events: WatchEvent[]
  revision: number
  compactRevision: number
  bytes: number
  /** Sent even though its watcher is cancelled: the compaction cancel itself. */
  last: boolean
}

export class WatchableStore implements StoreObserver {
  readonly store: MvccStore
  private readonly synced = new WatcherGroup()
  /**
   * Streams with unsynced watchers (each keeps its own, oldest first), in the order rounds serve
   * them: a stream served goes to the back. A round skips a stream without room at the cost of
   * one check, not one per watcher (a stuck consumer may hold thousands).
   */
  private readonly behind = new Set<WatchStream>()
  private unsyncedCount = 0
  /** The revision every synced watcher has seen (the store's, as of the last change heard). */
  private rev: number
  private syncScheduled = false
  private closed = false
  readonly queueMax: number
  readonly queueBytesMax: number
  private readonly watchersPerSync: number
  private readonly recordsPerSync: number
  private readonly schedule: (fn: () => void) => void

  constructor(store: MvccStore, opts: WatchableStoreOptions = {}) {
    this.store = store
    this.queueMax = opts.streamQueueMax ?? QUEUE_MAX_DEFAULT
    this.queueBytesMax = opts.streamQueueBytesMax ?? QUEUE_BYTES_MAX_DEFAULT
    this.watchersPerSync = opts.watchersPerSyncMax ?? WATCHERS_PER_SYNC_DEFAULT
    this.recordsPerSync = opts.recordsPerSyncMax ?? RECORDS_PER_SYNC_DEFAULT
    this.schedule = opts.schedule ?? ((fn) => void setImmediate(() => setImmediate(fn)))
    assert(this.queueMax >= 1 && this.watchersPerSync >= 1 && this.recordsPerSync >= 1)
    this.rev = store.currentRevision
    store.observe(this)
  }

  /** A stream of watchers delivering to one consumer (etcd NewWatchStream). */
  newWatchStream(sink: WatchSink): WatchStream {
    assert(!this.closed, 'newWatchStream on a closed WatchableStore')
    return new WatchStream(this, sink)
  }

  counts(): WatcherCounts {
    return { synced: this.synced.size, unsynced: this.unsyncedCount }
  }

  /** Stops listening to the store; every stream stops delivering. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.store.observe(undefined)
  }

  // --- StoreObserver ---

  get listening(): boolean {
    return this.synced.size > 0
  }

  /** etcd notify: a write txn's changes to the synced watchers that cover them. */
  committed(rev: number, events: WatchEvent[]): void {
    assert(rev === this.rev + 1, `change at revision ${rev} after ${this.rev}`)
    this.rev = rev
    if (this.synced.size === 0 || events.length === 0) return
    if (events.length === 1) {
      // The common case, a single change: every watcher it reaches gets the same array (events
      // arrays are read-only), with no batch per watcher.
      const behind: Watcher[] = []
      this.synced.match(latin1(events[0]!.kv.key), (w) => {
        if (rev < w.nextRev) return
        if (this.deliver(w, events, rev)) {
          w.nextRev = rev + 1
          w.replaying = false
        } else behind.push(w) // moved after the walk: the group must not change during it
      })
      for (const w of behind) this.fallBehind(w, rev)
      return
    }
    const batches = new Map<Watcher, WatchEvent[]>()
    for (const ev of events) {
      this.synced.match(latin1(ev.kv.key), (w) => {
        // A watcher of a future revision waits in the synced group until it comes.
        if (rev < w.nextRev) return
        const b = batches.get(w)
        if (b === undefined) batches.set(w, [ev])
        else b.push(ev)
      })
    }
    for (const [w, evs] of batches) {
      if (this.deliver(w, evs, rev)) {
        w.nextRev = rev + 1
        w.replaying = false
        continue
      }
      this.fallBehind(w, rev)
    }
  }

  /** A synced watcher whose consumer is behind: it re-reads `rev` on from the backend later. */
  private fallBehind(w: Watcher, rev: number): void {
    this.synced.delete(w)
    w.nextRev = rev
    w.replaying = false
    this.addUnsynced(w)
  }

  private addUnsynced(w: Watcher): void {
    w.state = 'unsynced'
    w.stream.unsynced.add(w)
    this.unsyncedCount++
    this.behind.add(w.stream)
  }

  private removeUnsynced(w: Watcher): void {
    assert(w.stream.unsynced.delete(w), 'an unsynced watcher not in its stream')
    this.unsyncedCount--
    if (w.stream.unsynced.size === 0) this.behind.delete(w.stream)
  }

  /**
   * etcd Restore: the content was replaced (a snapshot from the leader, always ahead of us).
   * Every synced watcher has seen everything up to the revision before; it catches up from there
   * (or is cancelled if the snapshot compacted past it).
   */
  restored(): void {
    const before = this.rev
    this.rev = this.store.currentRevision
    const all: Watcher[] = []
    this.forEachSynced((w) => all.push(w))
    for (const w of all) {
      this.synced.delete(w)
      if (w.nextRev <= before) w.nextRev = before + 1
      this.addUnsynced(w)
    }
    this.scheduleSync()
  }

  // --- for WatchStream ---

  /** @internal */
  addWatcher(w: Watcher, startRevision: number): void {
    // etcd watch(): a start at or before the current revision replays history from the backend;
    // 0 or a future one joins the synced group and waits.
    const cur = this.store.currentRevision
    if (startRevision > cur || startRevision === 0) {
      w.nextRev = Math.max(startRevision, cur + 1)
      w.state = 'synced'
      this.synced.add(w)
      return
    }
    w.nextRev = startRevision
    w.replaying = true
    this.addUnsynced(w)
    this.scheduleSync()
  }

  /** @internal */
  removeWatcher(w: Watcher): void {
    if (w.state === 'synced') this.synced.delete(w)
    else if (w.state === 'unsynced') this.removeUnsynced(w)
    w.state = 'canceled'
  }

  /** @internal A progress notification if the watcher is synced (etcd progress()). */
  progress(w: Watcher): void {
    if (w.state !== 'synced') return
    // If the queue is full the watcher is receiving events: it needs no progress report.
    w.stream.enqueue(w, NO_EVENTS, this.rev, 0)
  }

  /** @internal */
  get revision(): number {
    return this.rev
  }

  /** @internal Runs `fn` on the store's scheduler (deliveries, catch-up rounds). */
  later(fn: () => void): void {
    this.schedule(fn)
  }

  /** @internal A catch-up round soon, if there is work for one. */
  scheduleSync(): void {
    if (this.syncScheduled || this.closed || this.unsyncedCount === 0) return
    this.syncScheduled = true
    this.schedule(() => {
      this.syncScheduled = false
      if (!this.closed) this.syncRound()
    })
  }

  /**
   * One catch-up round (etcd syncWatchers): choose unsynced watchers whose consumer has room,
   * cancel those whose next revision was compacted, read the changes from the smallest next
   * revision once, hand each watcher its part, and move those that reached the store's revision
   * to the synced group. Another round follows while any chosen watcher is still behind.
   */
  syncRound(): void {
    const cur = this.store.currentRevision
    assert(cur === this.rev, `store at ${cur}, watchers at ${this.rev}`)
    const compactRev = this.store.compactMainRevision
    const chosen = new WatcherGroup()
    const chosenList: Watcher[] = []
    let minRev = Infinity
    for (const s of [...this.behind]) {
      if (chosenList.length >= this.watchersPerSync) break
      if (!s.hasRoom()) continue
      this.behind.delete(s)
      this.behind.add(s) // served: to the back (removeUnsynced drops it once it has none)
      for (const w of s.unsynced) {
        if (chosenList.length >= this.watchersPerSync || !s.hasRoom()) break
        if (w.nextRev > cur) {
          // Restored while it waited for a future revision: it waits synced again.
          this.removeUnsynced(w)
          w.state = 'synced'
          this.synced.add(w)
          continue
        }
        // etcd cancels a watcher whose next revision is below the compacted one. One at exactly
        // the compacted revision is served, though a compaction at C also removes a tombstone at
        // C: etcd's watch created from C misses that delete, and ours does too (a client asked
        // for C and etcd answers so). A watcher that fell behind later (a slow consumer, a
        // snapshot restore) has been promised every event: if the compaction removed a delete
        // at C, it is cancelled then, rather than skip it.
        const lost = w.nextRev === compactRev && this.store.tombstoneAtCompactRevision
        if (w.nextRev < compactRev || (lost && !w.replaying)) {
          // etcd leaves the revision unset (0) here, and its header says 0.
          if (s.enqueue(w, NO_EVENTS, 0, compactRev, true)) s.cancelled(w)
          continue
        }
        chosen.add(w)
        chosenList.push(w)
        if (w.nextRev < minRev) minRev = w.nextRev
      }
    }
    if (chosenList.length === 0) return
    const { events, untilRev } = this.store.changes(Math.max(1, minRev), this.recordsPerSync)
    const batches = new Map<Watcher, WatchEvent[]>()
    for (const ev of events) {
      chosen.match(latin1(ev.kv.key), (w) => {
        if (ev.kv.modRevision < w.nextRev) return
        const b = batches.get(w)
        if (b === undefined) batches.set(w, [ev])
        else b.push(ev)
      })
    }
    let behind = false
    for (const w of chosenList) {
      const evs = batches.get(w)
      if (evs !== undefined && !this.deliver(w, evs, untilRev)) continue // stays where it was
      // A watcher that starts after what this round read keeps its start.
      if (w.nextRev <= untilRev) w.nextRev = untilRev + 1
      w.replaying = false
      if (untilRev >= cur) {
        this.removeUnsynced(w)
        w.state = 'synced'
        this.synced.add(w)
      } else {
        behind = true
      }
    }
    if (behind || this.unsyncedCount > 0) this.scheduleSyncIfRoom()
  }

  private scheduleSyncIfRoom(): void {
    for (const s of this.behind) {
      if (s.hasRoom()) {
        this.scheduleSync()
        return
      }
    }
  }

  /** Queues a response for a watcher; false if its stream's queue is full (nothing queued). */
  private deliver(w: Watcher, events: WatchEvent[], rev: number): boolean {
    const evs = w.filter(events)
    // Everything filtered out: nothing to send, and nothing missed (etcd watcher.send).
    if (evs.length === 0) return true
    return w.stream.enqueue(w, evs, rev, 0)
  }

  private forEachSynced(fn: (w: Watcher) => void): void {
    for (const s of this.streams)
      for (const w of s.watchers.values()) if (w.state === 'synced') fn(w)
  }

  /** @internal The open streams (restore walks their watchers). */
  readonly streams = new Set<WatchStream>()
}

/**
 * The watchers of one consumer (etcd mvcc.WatchStream, one per gRPC Watch call), with its queue
 * of responses. Ids are the stream's: chosen by the caller or taken from a counter from 0,
 * skipping ids in use (etcd's AutoWatchID).
 */
export class WatchStream {
  /** @internal */
  readonly watchers = new Map<number, Watcher>()
  /** @internal Its unsynced watchers, oldest first (the store's catch-up rounds take them). */
  readonly unsynced = new Set<Watcher>()
  private nextId = 0
  private readonly queue: Queued[] = []
  private head = 0
  private queuedBytes = 0
  /** The consumer takes responses (until its sink returns false, then until resume()). */
  private ready = true
  private flushScheduled = false
  private closed = false

  /** @internal */
  constructor(
    private readonly ws: WatchableStore,
    private readonly sink: WatchSink,
  ) {
    ws.streams.add(this)
  }

  /** The store's revision as the watchers know it (etcd WatchStream.Rev). */
  get revision(): number {
    return this.ws.revision
  }

  /**
   * Creates a watcher and returns its id. Throws a WatchError WATCHER_RANGE_EMPTY for a range
   * whose end is not after its key, WATCHER_DUPLICATE_ID for an id in use (etcd's errors).
   */
  watch(req: WatchRequest): number {
    assert(!this.closed, 'watch on a closed WatchStream')
    const end = req.end
    const single = end === undefined || end.length === 0
    const toInf = !single && end.length === 1 && end[0] === 0
    const start = latin1(req.key)
    const endStr = single ? undefined : toInf ? '' : latin1(end)
    if (endStr !== undefined && endStr !== '' && endStr <= start) {
      throw new WatchError('WATCHER_RANGE_EMPTY', ERR_EMPTY_WATCHER_RANGE_TEXT)
    }
    let id = req.id
    if (id === undefined) {
      while (this.watchers.has(this.nextId)) this.nextId++
      id = this.nextId++
    } else if (this.watchers.has(id)) {
      throw new WatchError('WATCHER_DUPLICATE_ID', ERR_WATCHER_DUPLICATE_ID_TEXT)
    }
    const startRevision = req.startRevision ?? 0
    // A negative start is a client's (etcd takes it as a past one, compacted or from the start).
    assert(Number.isSafeInteger(startRevision), `start ${startRevision}`)
    const w = new Watcher(id, this, start, endStr, 0, req.noPut === true, req.noDelete === true)
    this.watchers.set(id, w)
    this.ws.addWatcher(w, startRevision)
    return id
  }

  /** Cancels a watcher: nothing more is delivered for it. False if the id is unknown. */
  cancel(id: number): boolean {
    const w = this.watchers.get(id)
    if (w === undefined) return false
    this.cancelled(w)
    return true
  }

  /** A progress notification for the watcher if it is synced (etcd RequestProgress). */
  requestProgress(id: number): void {
    const w = this.watchers.get(id)
    if (w !== undefined) this.ws.progress(w)
  }

  /** The consumer drained: deliver what is queued, then let its unsynced watchers catch up. */
  resume(): void {
    if (this.closed) return
    this.ready = true
    this.flush()
    this.ws.scheduleSync()
  }

  /** Responses queued and not yet taken by the consumer (tests, memory checks). */
  get queued(): number {
    return this.queue.length - this.head
  }

  /** Cancels every watcher and drops the queue. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const w of this.watchers.values()) this.ws.removeWatcher(w)
    this.watchers.clear()
    this.queue.length = 0
    this.head = 0
    this.queuedBytes = 0
    this.ws.streams.delete(this)
  }

  /** @internal */
  cancelled(w: Watcher): void {
    this.ws.removeWatcher(w)
    this.watchers.delete(w.id)
  }

  /** @internal Room for a response: the consumer reads and the queue is below its bounds. */
  hasRoom(): boolean {
    return (
      !this.closed &&
      this.ready &&
      this.queue.length - this.head < this.ws.queueMax &&
      this.queuedBytes < this.ws.queueBytesMax
    )
  }

  /**
   * @internal Queues a response for `w` unless the queue is full; `last` sends it though w is
   * done. The response object itself is made at delivery: a queued entry lives until the next
   * delivery turn, and with thousands of watchers on one key, one object each instead of two is
   * less for the garbage collector to carry over.
   */
  enqueue(
    w: Watcher,
    events: WatchEvent[],
    revision: number,
    compactRevision: number,
    last = false,
  ): boolean {
    if (this.closed) return false
    if (this.queue.length - this.head >= this.ws.queueMax) return false
    if (this.queuedBytes >= this.ws.queueBytesMax) return false
    let bytes = EVENT_OVERHEAD_BYTES
    for (const e of events) bytes += e.kv.key.length + e.kv.value.length + EVENT_OVERHEAD_BYTES
    this.queue.push({ w, events, revision, compactRevision, bytes, last })
    this.queuedBytes += bytes
    if (this.ready && !this.flushScheduled) {
      this.flushScheduled = true
      // Later (see WatchableStoreOptions.schedule): the write that produced these events is
      // acknowledged first, and the writer's next request overlaps with the delivery.
      this.ws.later(() => {
        this.flushScheduled = false
        this.flush()
      })
    }
    return true
  }

  private flush(): void {
    while (this.ready && this.head < this.queue.length && !this.closed) {
      const q = this.queue[this.head]!
      this.queue[this.head++] = undefined as unknown as Queued
      this.queuedBytes -= q.bytes
      if (q.w.state === 'canceled' && !q.last) continue // etcd drops a cancelled id's events
      const r: WatchResponse = {
        watchId: q.w.id,
        events: q.events,
        revision: q.revision,
        compactRevision: q.compactRevision,
      }
      if (!this.sink(r)) this.ready = false
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    if (this.ready) this.ws.scheduleSync()
  }
}

const kWatchError = Symbol.for('pontoon.mvcc.watch-error')

/** A refused watch (etcd's mvcc watcher errors), with etcd's text. */
export class WatchError extends Error {
  readonly code: WatchErrorCode
  readonly [kWatchError] = true

  constructor(code: WatchErrorCode, message: string) {
    super(message)
    this.name = 'WatchError'
    this.code = code
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kWatchError in value
  }
}
