/**
 * `step <id> type=<MsgType> from=<id> [term=<t>] [log-term=<t>] [index=<i>] [commit=<c>]
 * [entries=(<term>/<index>[/<EntryType>[/<data>]], ...)]`: steps a hand-made message into node
 * <id>, as if it had come from the network, and prints it (with the error RawNode.step throws,
 * if any). An entry is EntryNormal without data unless its type and data (the bytes of the
 * text) follow. A Pontoon addition, for the transcripts of input RawNode refuses where
 * etcd-io/raft does not (docs/divergence.md).
 */

import { EMPTY_BYTES, EntryType, message, type Entry, type Message } from '../raftpb/types.js'
import { firstAsNodeIdx, scanString, scanUint64, scanUint64Number, utf8Bytes } from './args.js'
import type { CmdArg } from './deps.js'
import { messageType } from './handle-deliver-msgs.js'
import { HarnessFatal, isReportable, type InteractionEnv } from './interaction-env.js'

export function handleStep(env: InteractionEnv, args: CmdArg[]): void {
  const node = env.node(firstAsNodeIdx(args))
  const fields = args.slice(1)
  const type = fields.find((a) => a.key === 'type')
  if (type === undefined) throw new HarnessFatal('step: type=<MsgType> is required')
  const m = message({ type: messageType(scanString(type, 0)), to: node.config.id })
  for (const arg of fields) scanField(m, arg)
  env.output.write(env.deps.describeMessage(m) + '\n')
  try {
    node.rawNode.step(m)
  } catch (err) {
    if (!isReportable(err)) throw err
    env.output.write(err.message + '\n')
  }
}

function scanField(m: Message, arg: CmdArg): void {
  if (arg.key === 'entries') {
    m.entries = arg.vals.map((_, i) => scanEntry(scanString(arg, i)))
    return
  }
  if (arg.vals.length !== 1) throw new HarnessFatal(`step: ${arg.key} takes one value`)
  switch (arg.key) {
    case 'type':
      break // read first
    case 'from':
      m.from = scanUint64(arg, 0)
      break
    case 'term':
      m.term = scanUint64Number(arg, 0)
      break
    case 'log-term':
      m.logTerm = scanUint64Number(arg, 0)
      break
    case 'index':
      m.index = scanUint64Number(arg, 0)
      break
    case 'commit':
      m.commit = scanUint64Number(arg, 0)
      break
    default:
      throw new HarnessFatal(`step: unknown field ${arg.key}`)
  }
}

/** `<term>/<index>[/<EntryType>[/<data>]]` */
function scanEntry(s: string): Entry {
  const match = /^(\d+)\/(\d+)(?:\/(\w+)(?:\/(.*))?)?$/.exec(s)
  if (match === null)
    throw new HarnessFatal(`step: entry ${s} is not <term>/<index>[/<type>[/<data>]]`)
  const term = Number(match[1])
  const index = Number(match[2])
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) {
    throw new HarnessFatal(`step: entry ${s} out of range`)
  }
  const type = match[3] === undefined ? EntryType.EntryNormal : entryType(match[3])
  const data = match[4] === undefined ? EMPTY_BYTES : utf8Bytes(match[4])
  return { term, index, type, data }
}

function entryType(name: string): EntryType {
  const value: unknown = EntryType[name as keyof typeof EntryType]
  if (typeof value !== 'number') throw new HarnessFatal(`step: unknown entry type ${name}`)
  return value
}
