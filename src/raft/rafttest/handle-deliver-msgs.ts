/**
 * `deliver-msgs [<id>...] [drop=(ids)] [type=<MsgType>]`: steps the queued messages addressed to
 * each listed node into it, or drops them, in the order the recipients are listed
 * (etcd-io/raft rafttest/interaction_env_handler_deliver_msgs.go).
 */

import { MessageType, type Message, type NodeId } from '../raftpb/types.js'
import { keyAsUint64, scanString, scanUint64 } from './args.js'
import type { CmdArg } from './deps.js'
import {
  HarnessFatal,
  isLocalMsgTarget,
  isReportable,
  type InteractionEnv,
} from './interaction-env.js'

export interface Recipient {
  id: NodeId
  drop: boolean
}

/** A message type to select, or -1 for all types. */
export type TypeFilter = MessageType | -1

export function handleDeliverMsgs(env: InteractionEnv, args: CmdArg[]): void {
  let type: TypeFilter = -1
  const recipients: Recipient[] = []
  for (const arg of args) {
    if (arg.vals.length === 0) recipients.push({ id: keyAsUint64(arg), drop: false })
    for (let i = 0; i < arg.vals.length; i++) {
      if (arg.key === 'drop') recipients.push(dropRecipient(recipients, scanUint64(arg, i)))
      else if (arg.key === 'type') type = messageType(scanString(arg, i))
    }
  }
  if (deliverMsgs(env, type, recipients) === 0) env.output.write('no messages\n')
}

function dropRecipient(recipients: Recipient[], id: NodeId): Recipient {
  if (recipients.some((r) => r.id === id)) {
    throw new HarnessFatal(`can't both deliver and drop msgs to ${id}`)
  }
  return { id, drop: true }
}

export function messageType(name: string): MessageType {
  const value: unknown = MessageType[name as keyof typeof MessageType]
  if (typeof value !== 'number') throw new HarnessFatal(`unknown message type ${name}`)
  return value
}

/**
 * Go DeliverMsgs: for each recipient, takes its messages of the selected type off the queue and
 * prints each; delivered ones are stepped into the recipient, whose Step error is printed on its
 * own line. Returns the number of messages delivered or dropped.
 */
export function deliverMsgs(
  env: InteractionEnv,
  type: TypeFilter,
  recipients: Recipient[],
): number {
  let handled = 0
  for (const r of recipients) {
    const { selected, rest } = splitMsgs(env.messages, r.id, type, r.drop)
    env.messages = rest
    handled += selected.length
    for (const m of selected) {
      if (r.drop) env.output.write('dropped: ')
      env.output.write(env.deps.describeMessage(m) + '\n')
      // A dropped message may be addressed to a node that does not exist yet.
      if (!r.drop) stepInto(env, m)
    }
  }
  return handled
}

function stepInto(env: InteractionEnv, m: Message): void {
  try {
    env.node(Number(m.to - 1n)).rawNode.step(m)
  } catch (err) {
    if (!isReportable(err)) throw err
    env.output.write(err.message + '\n')
  }
}

/**
 * The messages to `to` of the selected type, and the rest, both in their original order. When
 * dropping, local messages stay queued: they model reliable in-process delivery.
 */
export function splitMsgs(
  msgs: Message[],
  to: NodeId,
  type: TypeFilter,
  drop: boolean,
): { selected: Message[]; rest: Message[] } {
  const selected: Message[] = []
  const rest: Message[] = []
  for (const m of msgs) {
    const match = m.to === to && !(drop && isLocalMsg(m)) && (type === -1 || m.type === type)
    ;(match ? selected : rest).push(m)
  }
  return { selected, rest }
}

function isLocalMsg(m: Message): boolean {
  return m.from === m.to || isLocalMsgTarget(m.from) || isLocalMsgTarget(m.to)
}
