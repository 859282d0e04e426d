/**
 * A linearizability checker for key-value histories (history.ts) of put, get and compare-and-set:
 * Wing and Gong's search with Lowe's just-in-time linearization and memoization, as Porcupine
 * does it. Keys are independent registers, so the history is checked one key at a time
 * (Herlihy and Wing's locality: a history is linearizable iff each key's sub-history is).
 *
 * The search walks a linked list of call and return events in real-time order. At a call it
 * tries to linearize that operation now: if the register model accepts it and the pair (set of
 * linearized operations, register value) was never reached before, the operation's call and
 * return are lifted out of the list and the walk restarts from the front. Reaching a return
 * means the operation it closes was not linearized in time: undo the last choice and try the next
 * call after it. The cache of (bitset, value) pairs is what makes this polynomial on the
 * histories a real system produces; a Zobrist hash of the bitset keeps each step O(1) besides the
 * copy made when a pair is stored.
 *
 * Operations with an unknown outcome (`info`, or still open when the history ends) have no
 * return event: they may be linearized anywhere after their call, or never (equivalently, at the
 * very end), so the search stops once every operation with a known outcome is placed. A `get`
 * with an unknown outcome constrains nothing and is dropped, and so is every `fail` except a cas
 * that reported a mismatch, which is a read that saw a value other than `expected`.
 *
 * The search is bounded: a key that needs more than `stepsMax` steps makes the answer `unknown`,
 * never a guess. On failure the explanation is found from the shortest failing prefix: the
 * operation whose completion first makes the key's history non-linearizable, with the
 * operations that bear on it (see `explain`).
 */
import type { Operation, Value } from './history.js'

export interface CheckOptions {
  /** Search steps allowed per key (and per search while explaining a failure). */
  stepsMax?: number
}

export type CheckResult =
  | { kind: 'linearizable'; keys: number; ops: number; steps: number }
  | { kind: 'not-linearizable'; key: string; explanation: Explanation; steps: number }
  | { kind: 'unknown'; keys: string[]; steps: number }

export interface Explanation {
  key: string
  /** The operation whose completion first makes the key's history impossible to linearize. */
  op: Operation
  /** The operations that bear on it, in invocation order (including `op`). */
  ops: Operation[]
}

export const STEPS_MAX_DEFAULT = 10_000_000

const enum Kind {
  Put = 0,
  Get = 1,
  Cas = 2,
  /** A cas that reported it found another value than `expected`: it wrote nothing. */
  CasMismatch = 3,
  /** A cas whose outcome is unknown: it writes if the value matches, and says nothing. */
  CasUnknown = 4,
}

/** An operation as the search sees it: values interned to small integers (0 = absent). */
interface Item {
  kind: Kind
  value: number
  expected: number
  callAt: number
  /** Infinity when the outcome is unknown. */
  returnAt: number
}

type Verdict = 'ok' | 'fail' | 'budget'

/** Checks a history; operations on different keys are checked separately. */
export function checkOperations(
  ops: readonly Operation[],
  options: CheckOptions = {},
): CheckResult {
  const stepsMax = options.stepsMax ?? STEPS_MAX_DEFAULT
  const byKey = new Map<string, Operation[]>()
  for (const op of ops) {
    const list = byKey.get(op.key)
    if (list === undefined) byKey.set(op.key, [op])
    else list.push(op)
  }
  let steps = 0
  const overBudget: string[] = []
  for (const key of [...byKey.keys()].sort()) {
    const keyOps = byKey.get(key) as Operation[]
    const r = search(toItems(keyOps, Infinity), stepsMax)
    steps += r.steps
    if (r.verdict === 'budget') overBudget.push(key)
    if (r.verdict !== 'fail') continue
    const explained = explain(key, keyOps, stepsMax, r.furthestReturn)
    return {
      kind: 'not-linearizable',
      key,
      explanation: explained.explanation,
      steps: steps + explained.steps,
    }
  }
  if (overBudget.length > 0) return { kind: 'unknown', keys: overBudget, steps }
  return { kind: 'linearizable', keys: byKey.size, ops: ops.length, steps }
}

/**
 * The items of one key's operations as seen at event position `cut`: operations invoked after
 * it are left out, and those that completed after it get an unknown outcome. Cutting a history
 * this way only relaxes it, so a cut that cannot be linearized proves the whole cannot.
 */
function toItems(ops: readonly Operation[], cut: number): Item[] {
  const interned = new Map<string, number>([['null', 0]])
  const intern = (v: Value): number => {
    const k = JSON.stringify(v)
    let n = interned.get(k)
    if (n === undefined) interned.set(k, (n = interned.size))
    return n
  }
  const items: Item[] = []
  for (const op of ops) {
    if (op.callAt > cut) continue
    const known = op.returnAt <= cut && op.outcome !== 'info'
    if (op.outcome === 'fail' || (!known && (op.f === 'get' || op.outcome === 'mismatch'))) {
      continue
    }
    let kind: Kind
    if (op.f === 'put' || op.f === 'delete') kind = Kind.Put
    else if (op.f === 'get') kind = Kind.Get
    else if (!known) kind = Kind.CasUnknown
    else kind = op.outcome === 'mismatch' ? Kind.CasMismatch : Kind.Cas
    items.push({
      kind,
      value: intern(op.value),
      expected: op.f === 'cas' ? intern(op.expected) : 0,
      callAt: op.callAt,
      returnAt: known ? op.returnAt : Infinity,
    })
  }
  return items
}

/** The register after `it` is applied to `state`, or -1 when the outcome rules that out. */
function step(it: Item, state: number): number {
  switch (it.kind) {
    case Kind.Put:
      return it.value
    case Kind.Get:
      return state === it.value ? state : -1
    case Kind.Cas:
      return state === it.expected ? it.value : -1
    case Kind.CasMismatch:
      return state !== it.expected ? state : -1
    case Kind.CasUnknown:
      return state === it.expected ? it.value : state
  }
}

/** Porcupine's checkSingle over one key's items. */
function search(
  items: readonly Item[],
  stepsMax: number,
): { verdict: Verdict; steps: number; furthestReturn: number } {
  const list = new EventList(items)
  const n = items.length
  let definiteLeft = 0
  for (const it of items) if (it.returnAt !== Infinity) definiteLeft++
  const zobrist = zobristKeys(n)
  const set = new LinearizedSet(items)
  const cache = new StateCache()
  const stackEntry: number[] = []
  const stackState: number[] = []
  let hash = 0
  let state = 0
  let entry = list.first()
  let steps = 0
  // The latest return the walk was stopped by: on failure, the end of the shortest failing
  // prefix (every shorter prefix has a linearization, which the exhaustive walk reaches).
  let furthestReturn = -1
  while (definiteLeft > 0) {
    if (++steps > stepsMax) return { verdict: 'budget', steps, furthestReturn }
    if (entry === -1) throw new Error('linearizability search ran off the event list')
    const op = list.opOf(entry)
    if (!list.isCall(entry)) {
      // The operation that returns here was not linearized before its return: backtrack.
      furthestReturn = Math.max(furthestReturn, items[op]!.returnAt)
      const top = stackEntry.pop()
      if (top === undefined) return { verdict: 'fail', steps, furthestReturn }
      const topOp = list.opOf(top)
      state = stackState.pop() as number
      set.remove(topOp)
      hash ^= zobrist[topOp]!
      if (items[topOp]!.returnAt !== Infinity) definiteLeft++
      list.unlift(top)
      entry = list.next(top)
      continue
    }
    const next = step(items[op]!, state)
    if (next !== -1) {
      set.add(op)
      hash ^= zobrist[op]!
      if (cache.add(set, next, hash)) {
        stackEntry.push(entry)
        stackState.push(state)
        state = next
        if (items[op]!.returnAt !== Infinity) definiteLeft--
        list.lift(entry)
        entry = list.first()
        continue
      }
      set.remove(op)
      hash ^= zobrist[op]!
    }
    entry = list.next(entry)
  }
  return { verdict: 'ok', steps, furthestReturn }
}

/**
 * The call and return events of a key's items, in real-time order, as a doubly linked list over
 * arrays (entry 0 is the head sentinel; -1 ends the list). Entry 2i + 1 is item i's call and
 * 2i + 2 its return; an item with an unknown outcome has no return in the list.
 */
class EventList {
  private readonly nextOf: Int32Array
  private readonly prevOf: Int32Array

  constructor(items: readonly Item[]) {
    const size = 2 * items.length + 1
    this.nextOf = new Int32Array(size).fill(-1)
    this.prevOf = new Int32Array(size).fill(-1)
    const events: { at: number; entry: number }[] = []
    items.forEach((it, i) => {
      events.push({ at: it.callAt, entry: 2 * i + 1 })
      if (it.returnAt !== Infinity) events.push({ at: it.returnAt, entry: 2 * i + 2 })
    })
    events.sort((a, b) => a.at - b.at)
    let prev = 0
    for (const e of events) {
      this.nextOf[prev] = e.entry
      this.prevOf[e.entry] = prev
      prev = e.entry
    }
  }

  first(): number {
    return this.nextOf[0]!
  }

  next(entry: number): number {
    return this.nextOf[entry]!
  }

  isCall(entry: number): boolean {
    return (entry & 1) === 1
  }

  opOf(entry: number): number {
    return (entry - 1) >>> 1
  }

  /** Removes a call and its return (if listed). */
  lift(call: number): void {
    this.remove(call)
    if (this.prevOf[call + 1] !== -1) this.remove(call + 1)
  }

  /** Puts back what `lift` removed; the removed entries kept their own links. */
  unlift(call: number): void {
    const ret = call + 1
    if (this.prevOf[ret] !== -1) this.reinsert(ret)
    this.reinsert(call)
  }

  private remove(e: number): void {
    const p = this.prevOf[e]!
    const n = this.nextOf[e]!
    this.nextOf[p] = n
    if (n !== -1) this.prevOf[n] = p
  }

  private reinsert(e: number): void {
    const p = this.prevOf[e]!
    const n = this.nextOf[e]!
    this.nextOf[p] = e
    if (n !== -1) this.prevOf[n] = e
  }
}

/**
 * The set of linearized items as a bitset. Behind the search's frontier nearly everything is
 * linearized (the walk linearizes each call it meets when it can), so a cache entry stores only
 * the words between `low` (every word below it full) and the highest non-zero word: a copy the
 * size of the concurrency window, not of the history. Equal sets have equal `low` and equal
 * trimmed tails, so comparing those is exact.
 */
class LinearizedSet {
  readonly bits: Uint32Array
  private readonly fullMask: Uint32Array
  /** Invariant: every word below `low` is full. */
  low = 0
  /** An upper bound on the highest non-zero word. */
  private high = 0

  constructor(items: readonly Item[]) {
    const words = (items.length + 31) >>> 5
    this.bits = new Uint32Array(words)
    this.fullMask = new Uint32Array(words).fill(0xffffffff)
    if ((items.length & 31) !== 0) this.fullMask[words - 1] = (1 << (items.length & 31)) - 1
  }

  add(i: number): void {
    const w = i >>> 5
    this.bits[w]! |= 1 << (i & 31)
    if (w > this.high) this.high = w
    while (this.low < this.bits.length && this.bits[this.low] === this.fullMask[this.low]) {
      this.low++
    }
  }

  remove(i: number): void {
    const w = i >>> 5
    this.bits[w]! &= ~(1 << (i & 31))
    if (w < this.low) this.low = w
  }

  /** The words from `low` to the highest non-zero one. */
  tail(): Uint32Array {
    while (this.high > this.low && this.bits[this.high] === 0) this.high--
    return this.bits.subarray(this.low, Math.max(this.low, this.high + 1))
  }
}

interface CacheEntry {
  state: number
  low: number
  tail: Uint32Array
}

/** The (linearized set, register value) pairs the search has reached. */
class StateCache {
  private readonly buckets = new Map<number, CacheEntry[]>()

  /** Stores the pair; false when it was already there. */
  add(set: LinearizedSet, state: number, zobrist: number): boolean {
    const h = (zobrist ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0
    let bucket = this.buckets.get(h)
    if (bucket === undefined) this.buckets.set(h, (bucket = []))
    const tail = set.tail()
    for (const b of bucket) {
      if (b.state === state && b.low === set.low && equalWords(b.tail, tail)) return false
    }
    bucket.push({ state, low: set.low, tail: tail.slice() })
    return true
  }
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Fixed pseudo-random keys (xorshift32), so checks are deterministic. */
function zobristKeys(n: number): Uint32Array {
  const keys = new Uint32Array(n)
  let x = 0x2545f491
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    keys[i] = x >>> 0
  }
  return keys
}

/**
 * Finds the shortest failing prefix: the failed search's furthest return, confirmed by checking
 * that prefix alone, or else by bisection over the completions with a known outcome (failure is
 * monotone in the prefix: see toItems). Then gathers the operations that bear on
 * the one whose completion ends it: those concurrent with it, the last operations to complete
 * before it started (any of which may be the state it must follow), and the writes of the value
 * it observed.
 */
function explain(
  key: string,
  ops: readonly Operation[],
  stepsMax: number,
  furthestReturn: number,
): { explanation: Explanation; steps: number } {
  const first = search(toItems(ops, furthestReturn), stepsMax)
  if (first.verdict === 'fail') {
    return { explanation: involved(key, ops, furthestReturn), steps: first.steps }
  }
  const returns = ops
    .filter((op) => op.outcome !== 'info' && op.returnAt !== Infinity)
    .map((op) => op.returnAt)
    .sort((a, b) => a - b)
  let lo = 0
  let hi = returns.length - 1
  let steps = first.steps
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const r = search(toItems(ops, returns[mid]!), stepsMax)
    steps += r.steps
    if (r.verdict === 'fail') hi = mid
    else lo = mid + 1 // a budget overrun proves nothing: keep the longer, proven prefix
  }
  return { explanation: involved(key, ops, returns[hi]!), steps }
}

/** The operation completing at `cut` and those that bear on it. */
function involved(key: string, ops: readonly Operation[], cut: number): Explanation {
  const x = ops.find((op) => op.returnAt === cut) as Operation
  const inPrefix = ops.filter((op) => op.callAt <= cut && op.outcome !== 'fail')
  const found = new Set<Operation>([x])
  for (const op of inPrefix) {
    if (op.callAt < x.returnAt && op.returnAt > x.callAt && op.f !== 'get') found.add(op)
  }
  const before = inPrefix.filter((op) => op.returnAt < x.callAt && op.outcome !== 'info')
  for (const op of before) {
    const superseded = before.some((o) => o.callAt > op.returnAt)
    if (!superseded) found.add(op)
  }
  const observed = x.f === 'get' ? x.value : x.f === 'cas' ? x.expected : undefined
  for (const op of inPrefix) {
    if (op.f !== 'get' && observed !== undefined && sameValue(op.value, observed)) {
      found.add(op)
    }
  }
  const list = [...found].sort((a, b) => a.callAt - b.callAt)
  return { key, op: x, ops: list }
}

function sameValue(a: Value, b: Value): boolean {
  return a === b
}

/** One operation, one line: "process 2 cas k 1->2 ok [time 13..15, lines 5-6]". */
export function describeOperation(op: Operation): string {
  const v = (x: Value): string => JSON.stringify(x)
  let what: string
  if (op.f === 'put') what = `put ${v(op.value)}`
  else if (op.f === 'delete') what = 'delete'
  else if (op.f === 'get') what = op.outcome === 'ok' ? `get -> ${v(op.value)}` : 'get'
  else what = `cas ${v(op.expected)}->${v(op.value)}`
  const outcome = op.outcome === 'info' ? 'unknown outcome' : op.outcome
  const end = op.returnLine === 0 ? 'never completed' : `${op.returnTime}`
  const lines =
    op.returnLine === 0 ? `line ${op.callLine}` : `lines ${op.callLine}-${op.returnLine}`
  return `process ${op.process} ${what} ${outcome} ` + `[time ${op.callTime}..${end}, ${lines}]`
}

/** The result as text, for the CLI and failing tests. */
export function describeResult(r: CheckResult): string {
  if (r.kind === 'linearizable') {
    return `linearizable: ${r.ops} operations on ${r.keys} keys (${r.steps} search steps)`
  }
  if (r.kind === 'unknown') {
    return (
      `unknown (budget exceeded): the search gave up on key(s) ` +
      `${r.keys.map((k) => JSON.stringify(k)).join(', ')} after ${r.steps} steps; ` +
      `no key was found non-linearizable`
    )
  }
  const e = r.explanation
  const lines = [
    `not linearizable: key ${JSON.stringify(e.key)}`,
    `  no order of the key's operations explains: ${describeOperation(e.op)}`,
    `  operations involved:`,
  ]
  for (const op of e.ops) lines.push(`    ${op === e.op ? '*' : ' '} ${describeOperation(op)}`)
  return lines.join('\n')
}
