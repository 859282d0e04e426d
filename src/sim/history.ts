/**
 * A client-visible history of key-value operations, in a file format close to Jepsen's and
 * Porcupine's: one JSON object per line (JSONL), one line per event, in the order the events
 * happened. The linearizability checker (linearizability.ts) judges these histories whether they
 * come from the simulator or from clients of real server processes, so nothing here knows about
 * the simulator.
 *
 * Events:
 *
 *   {"process":0,"type":"invoke","f":"put","key":"k","value":1,"time":5,"index":0}
 *   {"process":0,"type":"ok","f":"put","key":"k","time":9,"index":0}
 *   {"process":1,"type":"invoke","f":"get","key":"k","time":6}
 *   {"process":1,"type":"ok","f":"get","key":"k","value":1,"time":12}
 *   {"process":2,"type":"invoke","f":"cas","key":"k","expected":1,"value":2,"time":13}
 *   {"process":2,"type":"fail","f":"cas","key":"k","error":"mismatch","time":15}
 *
 * - `process`: a non-negative integer naming a client. A process runs one operation at a time:
 *   an `invoke` is followed by that process's completion (`ok`, `fail` or `info`) before its
 *   next `invoke`. After an `info` the process may invoke again: the unknown operation stays
 *   concurrent with everything after it (Jepsen would switch to a new process id; either works).
 * - `type`: `invoke` starts an operation. `ok`: it took effect, with the result shown. `fail`:
 *   it certainly took no effect. `info`: the outcome is unknown (a timeout, a lost connection);
 *   the operation may take effect at any point after its invocation, or never.
 * - `f`: `put` (write `value`), `get` (read; the `ok` event carries the `value` read), `cas`
 *   (compare-and-set: if the key holds `expected`, write `value`), `delete` (the key becomes
 *   absent: a put of `null`; it has no `value`). A cas that found another value
 *   completes with `fail` and `"error":"mismatch"`: it took no effect, but the checker also
 *   learns that the key did not hold `expected` at that moment. Any other `fail` is ignored.
 * - `key`: a string. `value` / `expected`: a number, a string or `null`; `null` is an absent key,
 *   and every key starts absent.
 * - `time`: a non-negative number, non-decreasing down the file (logical ticks or nanoseconds);
 *   reports quote it. The order of the lines is the real-time order the checker uses: an
 *   operation that completed on an earlier line precedes one invoked on a later line.
 * - `index` (optional): an operation id. When present on both events it must match.
 * - `error` (optional): text on a completion; only `"mismatch"` on a failed cas has a meaning.
 *
 * Blank lines are skipped. Anything else that does not fit is a HistoryError naming the line.
 */

export type Value = number | string | null
export type EventType = 'invoke' | 'ok' | 'fail' | 'info'
export type OpName = 'put' | 'get' | 'cas' | 'delete'

export interface HistoryEvent {
  process: number
  type: EventType
  f: OpName
  key: string
  value?: Value
  expected?: Value
  time: number
  index?: number
  error?: string
}

/** What happened to an operation, folded from its two events. */
export type Outcome = 'ok' | 'fail' | 'mismatch' | 'info'

/** One operation: an invocation and its completion (or none: the history ended first). */
export interface Operation {
  /** Position in the history's list of operations, in invocation order. */
  id: number
  process: number
  f: OpName
  key: string
  /** put / cas: the value written. get: the value read (ok only). */
  value: Value
  /** cas only. */
  expected: Value
  outcome: Outcome
  /** Event positions (0-based) of the invocation and the completion; Infinity when unknown. */
  callAt: number
  returnAt: number
  callTime: number
  returnTime: number
  /** The 1-based line numbers of the two events (0 when there was no completion line). */
  callLine: number
  returnLine: number
  index?: number
}

export type HistoryErrorCode = 'BAD_JSON' | 'BAD_FIELD' | 'BAD_ORDER'

const kHistoryError = Symbol.for('pontoon.sim.history-error')

export class HistoryError extends Error {
  readonly code: HistoryErrorCode
  /** 1-based line number in the file (the event's position + 1 for in-memory histories). */
  readonly line: number
  readonly [kHistoryError] = true

  constructor(code: HistoryErrorCode, line: number, message: string) {
    super(`line ${line}: ${message}`)
    this.name = 'HistoryError'
    this.code = code
    this.line = line
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kHistoryError in value
  }
}

const TYPES: readonly string[] = ['invoke', 'ok', 'fail', 'info']
const OPS: readonly string[] = ['put', 'get', 'cas', 'delete']
const FIELDS: readonly string[] = [
  'process',
  'type',
  'f',
  'key',
  'value',
  'expected',
  'time',
  'index',
  'error',
]

/** Parses a JSONL history into events, checking each line's fields. */
export function parseEvents(text: string): { events: HistoryEvent[]; lines: number[] } {
  const events: HistoryEvent[] = []
  const lines: number[] = []
  const rows = text.split('\n')
  for (let i = 0; i < rows.length; i++) {
    const row = (rows[i] as string).trim()
    if (row === '') continue
    let json: unknown
    try {
      json = JSON.parse(row)
    } catch (e) {
      throw new HistoryError('BAD_JSON', i + 1, `not JSON: ${(e as Error).message}`)
    }
    events.push(toEvent(json, i + 1))
    lines.push(i + 1)
  }
  return { events, lines }
}

/** Parses a JSONL history and pairs its events into operations. */
export function parseHistory(text: string): Operation[] {
  const { events, lines } = parseEvents(text)
  return toOperations(events, lines)
}

/** One event as a line of the file format (without the newline). */
export function formatEvent(e: HistoryEvent): string {
  return JSON.stringify(e)
}

function toEvent(json: unknown, line: number): HistoryEvent {
  const bad = (msg: string): HistoryError => new HistoryError('BAD_FIELD', line, msg)
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw bad('an event must be a JSON object')
  }
  const o = json as Record<string, unknown>
  for (const k of Object.keys(o)) if (!FIELDS.includes(k)) throw bad(`unknown field "${k}"`)
  const { process, type, f, key, time } = o
  if (!Number.isSafeInteger(process) || (process as number) < 0) {
    throw bad(`"process" must be a non-negative integer, got ${JSON.stringify(process)}`)
  }
  if (typeof type !== 'string' || !TYPES.includes(type)) {
    throw bad(`"type" must be one of ${TYPES.join(', ')}, got ${JSON.stringify(type)}`)
  }
  if (typeof f !== 'string' || !OPS.includes(f)) {
    throw bad(`"f" must be one of ${OPS.join(', ')}, got ${JSON.stringify(f)}`)
  }
  if (typeof key !== 'string') throw bad(`"key" must be a string, got ${JSON.stringify(key)}`)
  if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) {
    throw bad(`"time" must be a non-negative number, got ${JSON.stringify(time)}`)
  }
  const e: HistoryEvent = {
    process: process as number,
    type: type as EventType,
    f: f as OpName,
    key,
    time,
  }
  for (const k of ['value', 'expected'] as const) {
    if (!(k in o)) continue
    const v = o[k]
    if (v !== null && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw bad(`"${k}" must be a number, a string or null, got ${JSON.stringify(v)}`)
    }
    e[k] = v as Value
  }
  if ('index' in o) {
    if (!Number.isSafeInteger(o.index)) throw bad(`"index" must be an integer`)
    e.index = o.index as number
  }
  if ('error' in o) {
    if (typeof o.error !== 'string') throw bad(`"error" must be a string`)
    e.error = o.error
  }
  checkEventShape(e, bad)
  return e
}

/** The fields each kind of event needs. */
function checkEventShape(e: HistoryEvent, bad: (msg: string) => HistoryError): void {
  if (e.type === 'invoke') {
    if (e.f === 'delete' && 'value' in e) throw bad(`a delete invocation has no "value"`)
    if (e.f !== 'get' && e.f !== 'delete' && !('value' in e)) {
      throw bad(`a ${e.f} invocation needs "value"`)
    }
    if (e.f === 'cas' && !('expected' in e)) throw bad(`a cas invocation needs "expected"`)
    if (e.f !== 'cas' && 'expected' in e) throw bad(`only a cas has "expected"`)
    if ('error' in e) throw bad(`an invocation has no "error"`)
    return
  }
  if (e.f === 'get' && e.type === 'ok' && !('value' in e)) {
    throw bad(`a get that completed ok needs the "value" it read`)
  }
}

/**
 * Pairs invocations with completions by process. `lines[i]` is the line of `events[i]`
 * (defaults to i + 1). Operations still open at the end get outcome `info`.
 */
export function toOperations(events: readonly HistoryEvent[], lines?: number[]): Operation[] {
  const ops: Operation[] = []
  const open = new Map<number, Operation>()
  let lastTime = 0
  for (let at = 0; at < events.length; at++) {
    const e = events[at] as HistoryEvent
    const line = lines?.[at] ?? at + 1
    const bad = (msg: string): HistoryError => new HistoryError('BAD_ORDER', line, msg)
    if (e.time < lastTime) throw bad(`time ${e.time} is before the previous event's ${lastTime}`)
    lastTime = e.time
    const pending = open.get(e.process)
    if (e.type === 'invoke') {
      if (pending !== undefined) {
        throw bad(`process ${e.process} invokes while its op of line ${pending.callLine} is open`)
      }
      const op = newOperation(ops.length, e, at, line)
      ops.push(op)
      open.set(e.process, op)
      continue
    }
    if (pending === undefined) throw bad(`process ${e.process} completes an op it never invoked`)
    if (pending.f !== e.f || pending.key !== e.key) {
      throw bad(
        `completion ${e.f} ${JSON.stringify(e.key)} does not match the invocation ` +
          `${pending.f} ${JSON.stringify(pending.key)} of line ${pending.callLine}`,
      )
    }
    if (e.index !== undefined && pending.index !== undefined && e.index !== pending.index) {
      throw bad(`index ${e.index} does not match the invocation's ${pending.index}`)
    }
    complete(pending, e, at, line)
    open.delete(e.process)
  }
  return ops
}

function newOperation(id: number, e: HistoryEvent, at: number, line: number): Operation {
  const op: Operation = {
    id,
    process: e.process,
    f: e.f,
    key: e.key,
    // A delete writes absent (null).
    value: e.f === 'get' || e.f === 'delete' ? null : (e.value ?? null),
    expected: e.expected ?? null,
    outcome: 'info',
    callAt: at,
    returnAt: Infinity,
    callTime: e.time,
    returnTime: Infinity,
    callLine: line,
    returnLine: 0,
  }
  if (e.index !== undefined) op.index = e.index
  return op
}

function complete(op: Operation, e: HistoryEvent, at: number, line: number): void {
  op.returnLine = line
  op.returnTime = e.time
  if (e.type === 'info') return
  op.returnAt = at
  if (e.type === 'ok') {
    op.outcome = 'ok'
    if (op.f === 'get') op.value = e.value ?? null
  } else {
    op.outcome = op.f === 'cas' && e.error === 'mismatch' ? 'mismatch' : 'fail'
  }
}

/**
 * Builds a history as it happens: `invoke` when a client starts an operation, `complete` when
 * it learns the outcome, `finish` at the end (whatever is still open becomes `info`).
 */
export class HistoryRecorder {
  readonly events: HistoryEvent[] = []
  private readonly open = new Map<number, HistoryEvent>()
  private opCount = 0

  invoke(
    process: number,
    f: OpName,
    key: string,
    time: number,
    value?: Value,
    expected?: Value,
  ): void {
    if (this.open.has(process)) throw new Error(`process ${process} already has an open op`)
    // Spread in this order so that the file reads process, type, f, key, value, expected, time.
    const e: HistoryEvent = {
      process,
      type: 'invoke',
      f,
      key,
      ...(value !== undefined ? { value } : {}),
      ...(expected !== undefined ? { expected } : {}),
      time,
      index: this.opCount++,
    }
    this.events.push(e)
    this.open.set(process, e)
  }

  complete(
    process: number,
    type: 'ok' | 'fail' | 'info',
    time: number,
    extra: { value?: Value; error?: string } = {},
  ): void {
    const inv = this.open.get(process)
    if (inv === undefined) throw new Error(`process ${process} has no open op`)
    this.open.delete(process)
    const e: HistoryEvent = {
      process,
      type,
      f: inv.f,
      key: inv.key,
      ...(extra.value !== undefined ? { value: extra.value } : {}),
      time,
      index: inv.index!,
      ...(extra.error !== undefined ? { error: extra.error } : {}),
    }
    this.events.push(e)
  }

  /** Ends the history: every open operation gets an `info` completion. */
  finish(time: number): void {
    for (const p of [...this.open.keys()].sort((a, b) => a - b)) this.complete(p, 'info', time)
  }

  toJsonl(): string {
    return this.events.map((e) => formatEvent(e) + '\n').join('')
  }
}
