/**
 * Directive argument parsing with the semantics of the Go harness: node arguments are 1-based
 * ids given as bare keys, values scan like datadriven's CmdArg.Scan (strconv rules), and a
 * malformed argument is a broken test file (Go's t.Fatal), not output.
 */

import type { CmdArg } from './deps.js'
import { HarnessError, HarnessFatal } from './interaction-env.js'

const maxUint64 = (1n << 64n) - 1n

function syntaxError(fn: string, s: string, why = 'invalid syntax'): string {
  return `strconv.${fn}: parsing ${JSON.stringify(s)}: ${why}`
}

/** strconv.Atoi or ParseInt(s, 10, 64): an optional sign, then decimal digits. */
function parseInt64(s: string, fn = 'Atoi'): number | string {
  if (!/^[+-]?[0-9]+$/.test(s)) return syntaxError(fn, s)
  const n = Number(s)
  if (!Number.isSafeInteger(n)) return syntaxError(fn, s, 'value out of range')
  return n
}

/** strconv.ParseUint(s, 10, 64). */
function parseUint64(s: string): bigint | string {
  if (!/^[0-9]+$/.test(s)) return syntaxError('ParseUint', s)
  const n = BigInt(s)
  if (n > maxUint64) return syntaxError('ParseUint', s, 'value out of range')
  return n
}

/** strconv.ParseBool. */
function parseBool(s: string): boolean | string {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(s)) return true
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(s)) return false
  return syntaxError('ParseBool', s)
}

function orFatal<T>(value: T | string): T {
  if (typeof value === 'string') throw new HarnessFatal(value)
  return value
}

/** A bare key parsed with ParseUint, as deliver-msgs reads its recipients. */
export function keyAsUint64(arg: CmdArg): bigint {
  return orFatal(parseUint64(arg.key))
}

/** ParseUint whose failure the Go harness returns as an error (printed as output). */
export function parseUint64OrError(s: string): bigint {
  const n = parseUint64(s)
  if (typeof n === 'string') throw new HarnessError(n)
  return n
}

/** ParseBool whose failure the Go harness returns as an error (printed as output). */
export function parseBoolOrError(s: string): boolean {
  const b = parseBool(s)
  if (typeof b === 'string') throw new HarnessError(b)
  return b
}

function first(args: CmdArg[]): CmdArg {
  const arg = args[0]
  if (arg === undefined) throw new HarnessFatal('expected a node argument')
  return arg
}

/** Go firstAsInt: the first argument's key as an int. */
export function firstAsInt(args: CmdArg[]): number {
  return orFatal(parseInt64(first(args).key))
}

/** Go firstAsNodeIdx: the first argument, a 1-based node id, as a 0-based node index. */
export function firstAsNodeIdx(args: CmdArg[]): number {
  return firstAsInt(args) - 1
}

/** Go nodeIdxs: every bare argument as a 0-based node index; key=value arguments are skipped. */
export function nodeIdxs(args: CmdArg[]): number[] {
  return args.filter((arg) => arg.vals.length === 0).map((arg) => orFatal(parseInt64(arg.key)) - 1)
}

function val(arg: CmdArg, i: number): string {
  const v = arg.vals[i]
  if (v === undefined) throw new HarnessFatal(`cannot scan index ${i} of key ${arg.key}`)
  return v
}

/** CmdArg.Scan into a uint64. */
export function scanUint64(arg: CmdArg, i: number): bigint {
  return orFatal(parseUint64(val(arg, i)))
}

/** CmdArg.Scan into a uint64 that the caller uses as a size or count (a JS number). */
export function scanUint64Number(arg: CmdArg, i: number): number {
  return Number(scanUint64(arg, i))
}

/** CmdArg.Scan into an int. */
export function scanInt(arg: CmdArg, i: number): number {
  return orFatal(parseInt64(val(arg, i), 'ParseInt'))
}

export function scanBool(arg: CmdArg, i: number): boolean {
  return orFatal(parseBool(val(arg, i)))
}

export function scanString(arg: CmdArg, i: number): string {
  return val(arg, i)
}

/** datadriven ScanArgs for a key with exactly one value; a missing key is a broken test file. */
export function scanArgOne(args: CmdArg[], key: string): CmdArg {
  const arg = args.find((a) => a.key === key)
  if (arg === undefined) throw new HarnessFatal(`missing argument: ${key}`)
  if (arg.vals.length !== 1) {
    throw new HarnessFatal(`${key}: got 1 destinations, but ${arg.vals.length} values`)
  }
  return arg
}

/** Go's []byte(s): the UTF-8 encoding of a string. */
export function utf8Bytes(s: string): Uint8Array {
  const out: number[] = []
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0
    if (c < 0x80) out.push(c)
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f))
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f))
    else {
      out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f))
      out.push(0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f))
    }
  }
  return Uint8Array.from(out)
}
