/**
 * Watchers on the simulated members (`--machine=server`) and the checker of what they saw.
 *
 * Every life of a member's process runs the real `WatchableStore` (src/mvcc) over its store, as
 * the server does: one stream that watches every key from the start of the life (the history
 * recorder), and a few streams with random watchers (a key, a prefix, a range or every key; from
 * the next revision, a past one or a future one; with or without NOPUT / NODELETE), some of whose
 * consumers are slow: they take a response and refuse more until the simulator resumes them, so
 * their watchers fall back to catching up from the backend. Catch-up rounds run when the
 * simulator lets them (a member's queue of scheduled rounds, taken in order, a random number per
 * tick), so writes, compactions, snapshots and crashes land between them.
 *
 * The committed history is what the recorders heard: per revision, its events in order. Members
 * apply the same log, so they must agree on every revision (`watch` violation otherwise). Every
 * watcher must have received exactly the history of its range and filters from its start
 * revision up to the revision its last response was as of (a watch response promises every
 * earlier revision), in order, each event once; a watcher cancelled by a compaction must have
 * needed a revision below the compacted one. At the end of the run, after the liveness phase,
 * every watcher of a live member has caught up with its member's revision once its consumer
 * drains.
 */
import {
  WatchableStore,
  type MvccStore,
  type WatchEvent,
  type WatchResponse,
  type WatchStream,
} from '../mvcc/index.js'
import { Violation } from './checkers.js'
import type { Prng } from './prng.js'
import { SERVER_KEY_COUNT, serverKey } from './server-machine.js'

/** Chance per tick and member life that a new watcher is opened (while below WATCHERS_MAX). */
const OPEN_RATE = 0.05
const WATCHERS_MAX = 6
/** Chance that a watcher's consumer is slow: it takes a response, then refuses until resumed. */
const SLOW_RATE = 0.4
/** Chance per tick that a slow consumer that refused is resumed. */
const RESUME_RATE = 0.2
/** Chance per tick that a queued catch-up round of a member runs (rounds run in order). */
const ROUND_RATE = 0.6

const enc = new TextEncoder()

/** An event as the checker compares them: every field, in one string. */
function describe(e: WatchEvent): string {
  const kv = e.kv
  const key = Buffer.from(kv.key).toString('latin1')
  if (e.type === 'delete') return `delete ${key}@${kv.modRevision}`
  const value = Buffer.from(kv.value).toString('latin1')
  return `put ${key}=${value}@${kv.modRevision} c${kv.createRevision} v${kv.version} l${kv.lease}`
}

interface Range {
  /** latin1 bounds; end undefined: the key alone; '' as end: no upper bound. */
  start: string
  end: string | undefined
  label: string
}

function inRange(r: Range, key: string): boolean {
  if (r.end === undefined) return key === r.start
  return key >= r.start && (r.end === '' || key < r.end)
}

/** One watcher the simulator opened, and what it received. */
class SimWatcher {
  /** Events received, as described, with their revisions. */
  readonly got: { rev: number; text: string }[] = []
  /** The revision the last response (not a compaction cancel) was as of; start - 1 before. */
  asOf: number
  compactRevision = 0
  /** The member's life ended (its process died): it receives nothing more. */
  dead = false

  constructor(
    readonly label: string,
    readonly range: Range,
    /** The first revision it must see. */
    readonly start: number,
    readonly noPut: boolean,
    readonly noDelete: boolean,
  ) {
    this.asOf = start - 1
  }

  wants(key: string, type: 'put' | 'delete'): boolean {
    if (type === 'put' && this.noPut) return false
    if (type === 'delete' && this.noDelete) return false
    return inRange(this.range, key)
  }
}

/** A member life's watchers: its watchable store, recorder and watcher streams. */
export class MemberWatchers {
  private readonly ws: WatchableStore
  private readonly rounds: (() => void)[] = []
  /** One stream per watcher the simulator opened (its id on the stream is 0). */
  private readonly streams: {
    w: SimWatcher
    stream: WatchStream
    slow: boolean
    refused: boolean
  }[] = []
  private dead = false

  constructor(
    private readonly hub: SimWatchers,
    readonly name: string,
    store: MvccStore,
  ) {
    this.ws = new WatchableStore(store, {
      schedule: (fn) => this.rounds.push(fn),
      // Small queues, so slow consumers overflow them and fall back to catching up.
      streamQueueMax: 4,
      recordsPerSyncMax: 3,
      watchersPerSyncMax: 2,
    })
    const recorder = this.ws.newWatchStream((r) => {
      if (!this.dead) hub.heard(this.name, r)
      return true
    })
    recorder.watch({ key: new Uint8Array(0), end: new Uint8Array([0]) })
  }

  /** One tick: catch-up rounds, consumers resumed, perhaps a new watcher. */
  tick(p: Prng): void {
    this.hub.throwFailure()
    if (this.dead) return
    while (this.rounds.length > 0 && p.chance(ROUND_RATE)) this.rounds.shift()!()
    for (const s of this.streams) {
      if (s.refused && p.chance(RESUME_RATE)) {
        s.refused = false
        s.stream.resume()
      }
    }
    if (this.streams.length < WATCHERS_MAX && p.chance(OPEN_RATE)) this.open(p)
    // A progress request: a synced watcher is told the revision it has seen everything up to.
    if (this.streams.length > 0 && p.chance(0.05)) p.pick(this.streams).stream.requestProgress(0)
  }

  private open(p: Prng): void {
    const range = pickRange(p)
    const cur = this.ws.store.currentRevision
    const kind = p.intn(3)
    // 0: from the next revision; 1: from a past one (perhaps compacted); 2: a future one.
    const startRevision =
      kind === 0 ? 0 : kind === 1 ? 1 + p.intn(Math.max(cur, 1)) : cur + 1 + p.intn(4)
    const noPut = p.chance(0.1)
    const noDelete = !noPut && p.chance(0.1)
    const label = `${this.name} w${this.hub.count++} ${range.label} from ${startRevision || 'now'}${noPut ? ' noput' : ''}${noDelete ? ' nodelete' : ''}`
    const w = new SimWatcher(
      label,
      range,
      startRevision === 0 ? cur + 1 : startRevision,
      noPut,
      noDelete,
    )
    const slow = p.chance(SLOW_RATE)
    const entry = { w, stream: null as unknown as WatchStream, slow, refused: false }
    entry.stream = this.ws.newWatchStream((r) => {
      if (!this.dead) this.hub.received(w, r)
      if (entry.slow && !entry.refused && this.hub.prng.chance(0.5)) entry.refused = true
      return !entry.refused
    })
    const end =
      range.end === undefined
        ? undefined
        : range.end === ''
          ? new Uint8Array([0])
          : enc.encode(range.end)
    entry.stream.watch({ key: enc.encode(range.start), end, startRevision, noPut, noDelete })
    this.hub.log(`watch ${label}: opened at revision ${cur}`)
    this.streams.push(entry)
    this.hub.watchers.push(w)
  }

  /** The process died: its watchers end where they are. */
  died(): void {
    this.dead = true
    for (const s of this.streams) s.w.dead = true
    this.ws.close()
  }

  /**
   * At the end of the run: every consumer resumed for good and the work the store scheduled
   * (catch-up rounds, deliveries) run; true if there was any (the caller repeats until none).
   */
  settle(): boolean {
    if (this.dead) return false
    let work = false
    for (const s of this.streams) {
      if (s.slow) {
        // From now on it keeps up.
        s.slow = false
        s.refused = false
        s.stream.resume()
      }
    }
    while (this.rounds.length > 0) {
      this.rounds.shift()!()
      work = true
    }
    return work
  }

  requestProgress(): void {
    if (this.dead) return
    for (const s of this.streams) s.stream.requestProgress(0)
  }

  /** Every live watcher has received everything up to the store's revision. */
  caughtUp(): void {
    if (this.dead) return
    const rev = this.ws.store.currentRevision
    for (const { w, stream } of this.streams) {
      if (w.compactRevision !== 0) continue
      if (w.asOf < rev && w.start <= rev) {
        throw new Violation(
          'watch',
          `${w.label}: as of ${w.asOf} at the end, the store at ${rev} (${stream.queued} responses queued, ${this.rounds.length} rounds left)`,
        )
      }
    }
  }
}

function pickRange(p: Prng): Range {
  const a = p.intn(SERVER_KEY_COUNT)
  switch (p.intn(4)) {
    case 0: {
      const k = Buffer.from(serverKey(a)).toString('latin1')
      return { start: k, end: undefined, label: k }
    }
    case 1:
      return { start: 'k', end: 'l', label: 'prefix k' }
    case 2: {
      const b = a + 1 + p.intn(SERVER_KEY_COUNT - a)
      const s = Buffer.from(serverKey(a)).toString('latin1')
      const e = Buffer.from(serverKey(b)).toString('latin1')
      return { start: s, end: e, label: `[${s},${e})` }
    }
    default:
      return { start: '', end: '', label: 'all' }
  }
}

interface HistoryEvent {
  key: string
  type: 'put' | 'delete'
  text: string
}

/** The cluster's watchers and the committed history they are judged against. */
export class SimWatchers {
  /** Per revision, its events in order: the key, the type and the event as described. */
  private readonly history = new Map<number, HistoryEvent[]>()
  readonly watchers: SimWatcher[] = []
  private readonly lives: MemberWatchers[] = []
  /** Every revision some member compacted at. */
  private readonly compactions = new Set<number>()
  count = 0

  constructor(
    readonly prng: Prng,
    /** The trace (cluster.log): watchers opened, responses. */
    readonly log: (line: string) => void = () => {},
  ) {}

  compacted(rev: number): void {
    if (rev > 0) this.compactions.add(rev)
  }

  attach(name: string, store: MvccStore): MemberWatchers {
    const m = new MemberWatchers(this, name, store)
    this.lives.push(m)
    return m
  }

  /** Runs every member's scheduled work (catch-up rounds, deliveries) until none is left. */
  private async settle(drain: () => Promise<void>): Promise<void> {
    for (let i = 0; ; i++) {
      let work = false
      for (const m of this.lives) if (m.settle()) work = true
      await drain()
      if (!work) return
      if (i > 100_000) throw new Violation('watch', 'catch-up rounds never end')
    }
  }

  /**
   * The end of the run: the members' scheduled work run out (twice: around a progress request to
   * every watcher); then every live watcher must have caught up, and all must have seen the
   * history.
   */
  async finish(drain: () => Promise<void>): Promise<void> {
    await this.settle(drain)
    // Filtered revisions send nothing: a progress request tells each watcher where it stands.
    for (const m of this.lives) m.requestProgress()
    await this.settle(drain)
    this.throwFailure()
    this.check()
    for (const m of this.lives) m.caughtUp()
  }

  /** A recorder's response: the revisions it holds must agree with every other member's. */
  private record(member: string, r: WatchResponse): void {
    if (r.compactRevision !== 0) return // the recorder of a life restored past a compaction
    let i = 0
    while (i < r.events.length) {
      const rev = r.events[i]!.kv.modRevision
      const evs: HistoryEvent[] = []
      while (i < r.events.length && r.events[i]!.kv.modRevision === rev) {
        const e = r.events[i++]!
        evs.push({ key: Buffer.from(e.kv.key).toString('latin1'), type: e.type, text: describe(e) })
      }
      const known = this.history.get(rev)
      if (known === undefined) {
        this.history.set(rev, evs)
        continue
      }
      const texts = evs.map((e) => e.text).join(', ')
      const theirs = known.map((e) => e.text).join(', ')
      if (texts !== theirs) {
        throw new Violation(
          'watch',
          `revision ${rev}: ${member} heard [${texts}], another member [${theirs}]`,
        )
      }
    }
  }

  /**
   * A violation found in a consumer (a sink runs in a microtask, where a throw would escape the
   * run): thrown at the next tick or at the end.
   */
  failure: Violation | null = null

  /** A watcher's response (see check()); a violation is kept for the next tick. */
  received(w: SimWatcher, r: WatchResponse): void {
    if (this.failure !== null) return
    try {
      this.takeResponse(w, r)
    } catch (err) {
      if (!(err instanceof Violation)) throw err
      this.failure = err
    }
  }

  /** A recorder's response (see record()); a violation is kept for the next tick. */
  heard(member: string, r: WatchResponse): void {
    if (this.failure !== null) return
    try {
      this.record(member, r)
    } catch (err) {
      if (!(err instanceof Violation)) throw err
      this.failure = err
    }
  }

  throwFailure(): void {
    if (this.failure !== null) throw this.failure
  }

  /** Events in revision order, after what the watcher had, and as of the response's revision. */
  private takeResponse(w: SimWatcher, r: WatchResponse): void {
    this.log(
      `watch ${w.label}: as of ${r.revision}${r.compactRevision !== 0 ? ` compacted ${r.compactRevision}` : ''} [${r.events.map(describe).join(', ')}]`,
    )
    if (r.compactRevision !== 0) {
      if (w.compactRevision !== 0) throw new Violation('watch', `${w.label}: cancelled twice`)
      w.compactRevision = r.compactRevision
      return
    }
    if (w.compactRevision !== 0) {
      throw new Violation('watch', `${w.label}: a response after its compaction cancel`)
    }
    for (const e of r.events) {
      const rev = e.kv.modRevision
      const last = w.got.length === 0 ? w.start : w.got[w.got.length - 1]!.rev
      if (rev < last || rev <= w.asOf || rev > r.revision) {
        throw new Violation(
          'watch',
          `${w.label}: event at ${rev} after revision ${last} (as of ${w.asOf}), response as of ${r.revision}`,
        )
      }
      w.got.push({ rev, text: describe(e) })
    }
    if (r.revision > w.asOf) w.asOf = r.revision
  }

  /**
   * Every watcher received exactly the history of its range from its start up to what it was
   * told it had (as far as the recorders heard it: a revision no recorder heard ends the check of
   * that watcher there), and a cancelled one needed a compacted revision.
   */
  check(): void {
    for (const w of this.watchers) {
      const want: string[] = []
      let rev = w.start
      let complete = true
      for (; rev <= w.asOf; rev++) {
        const evs = this.history.get(rev)
        if (evs === undefined) {
          complete = false
          break
        }
        for (const e of evs) if (w.wants(e.key, e.type)) want.push(e.text)
      }
      const got = w.got.filter((g) => g.rev < rev).map((g) => g.text)
      // etcd's quirk, kept: a compaction at C drops a tombstone at C, so a watch from exactly C
      // (replayed from the backend) misses that delete (etcd 3.4 does; watch --rev=C shows it).
      if (this.compactions.has(w.start)) {
        const at = `@${w.start}`
        for (let i = want.length - 1; i >= 0; i--) {
          const t = want[i]!
          if (t.startsWith('delete ') && t.endsWith(at) && !got.includes(t)) want.splice(i, 1)
        }
      }
      if (got.join('|') !== want.join('|')) {
        let i = 0
        while (i < got.length && got[i] === want[i]) i++
        throw new Violation(
          'watch',
          `${w.label}: received [${got.slice(i, i + 3).join(', ')}] where the history from ${w.start} to ${rev - 1} has [${want.slice(i, i + 3).join(', ')}] (after ${i} equal events)`,
        )
      }
      if (
        complete &&
        w.compactRevision !== 0 &&
        !(Math.max(w.start, w.asOf + 1) <= w.compactRevision)
      ) {
        throw new Violation(
          'watch',
          `${w.label}: cancelled by compaction at ${w.compactRevision}, but it needed only revisions from ${w.asOf + 1}`,
        )
      }
    }
  }
}
