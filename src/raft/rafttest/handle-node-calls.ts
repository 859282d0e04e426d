/**
 * The directives that call one RawNode method: campaign, propose, tick-election, tick-heartbeat,
 * set-randomized-election-timeout, transfer-leadership, forget-leader and report-unreachable
 * (etcd-io/raft rafttest/interaction_env_handler_{campaign,propose,tick,...}.go).
 */

import { firstAsNodeIdx, nodeIdxs, scanArgOne, scanInt, scanUint64, utf8Bytes } from './args.js'
import type { CmdArg } from './deps.js'
import {
  HarnessError,
  HarnessFatal,
  type InteractionEnv,
  type InteractionNode,
} from './interaction-env.js'

/** `campaign <id>` */
export function handleCampaign(env: InteractionEnv, args: CmdArg[]): void {
  const idx = firstAsNodeIdx(args)
  // Unlike the other directives, Go reports a bad node here as output rather than failing.
  if (idx < 0 || idx >= env.nodes.length) {
    throw new HarnessError(`node index ${idx} out of range [0, ${env.nodes.length})`)
  }
  env.node(idx).rawNode.campaign()
}

/** `propose <id> <data>`: the data is the key's bytes, quotes included. */
export function handlePropose(env: InteractionEnv, args: CmdArg[]): void {
  const idx = firstAsNodeIdx(args)
  const data = args[1]
  if (args.length !== 2 || data === undefined || data.vals.length > 0) {
    throw new HarnessFatal('propose: expected exactly one key with no vals')
  }
  env.node(idx).rawNode.propose(utf8Bytes(data.key))
}

/**
 * `propose-batch <id> <data>...`: RawNode.proposeBatch, one MsgProp carrying every datum (a
 * Pontoon addition; etcd-io/raft has no such directive).
 */
export function handleProposeBatch(env: InteractionEnv, args: CmdArg[]): void {
  const idx = firstAsNodeIdx(args)
  const datas = args.slice(1)
  if (datas.length === 0 || datas.some((d) => d.vals.length > 0)) {
    throw new HarnessFatal('propose-batch: expected one or more keys with no vals')
  }
  env.node(idx).rawNode.proposeBatch(datas.map((d) => utf8Bytes(d.key)))
}

/** `tick-election <id>`: ElectionTick ticks (the randomized timeout may need more). */
export function handleTickElection(env: InteractionEnv, args: CmdArg[]): void {
  const node = env.node(firstAsNodeIdx(args))
  tick(node, node.config.electionTick)
}

/** `tick-heartbeat <id>`: HeartbeatTick ticks. */
export function handleTickHeartbeat(env: InteractionEnv, args: CmdArg[]): void {
  const node = env.node(firstAsNodeIdx(args))
  tick(node, node.config.heartbeatTick)
}

function tick(node: InteractionNode, count: number): void {
  for (let i = 0; i < count; i++) node.rawNode.tick()
}

/** `set-randomized-election-timeout <id> timeout=<ticks>`: lasts until the next state change. */
export function handleSetRandomizedElectionTimeout(env: InteractionEnv, args: CmdArg[]): void {
  const idx = firstAsNodeIdx(args)
  const timeout = scanInt(scanArgOne(args, 'timeout'), 0)
  if (timeout === 0) throw new HarnessFatal('set-randomized-election-timeout: timeout is zero')
  env.node(idx).rawNode.setRandomizedElectionTimeout(timeout)
}

/** `transfer-leadership from=<id> to=<id>` */
export function handleTransferLeadership(env: InteractionEnv, args: CmdArg[]): void {
  const from = scanUint64(scanArgOne(args, 'from'), 0)
  const to = scanUint64(scanArgOne(args, 'to'), 0)
  const count = BigInt(env.nodes.length)
  if (from === 0n || from > count) throw new HarnessFatal('expected valid "from" argument')
  if (to === 0n || to > count) throw new HarnessFatal('expected valid "to" argument')
  env.node(Number(from) - 1).rawNode.transferLeader(to)
}

/** `forget-leader <id>` */
export function handleForgetLeader(env: InteractionEnv, args: CmdArg[]): void {
  env.node(firstAsNodeIdx(args)).rawNode.forgetLeader()
}

/** `report-unreachable <id> <peer>`: <id>'s RawNode learns that <peer> is unreachable. */
export function handleReportUnreachable(env: InteractionEnv, args: CmdArg[]): void {
  const idxs = nodeIdxs(args)
  const [reporter, peer] = idxs
  if (idxs.length !== 2 || reporter === undefined || peer === undefined) {
    throw new HarnessError(
      'must specify exactly two node indexes: node on which to report, and reported node',
    )
  }
  env.node(reporter).rawNode.reportUnreachable(env.node(peer).config.id)
}
