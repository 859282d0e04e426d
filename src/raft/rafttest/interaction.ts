/**
 * The entry point of the data-driven interaction tests (etcd-io/raft rafttest/
 * interaction_env_handler.go): one handler per test file, each directive run against the same
 * environment, its output (raft's log lines and the harness's own) returned as one string.
 *
 * As in Go, the returned string may lack a final newline (the datadriven runner adds one) and
 * an empty output reads `ok`. An error Go would return is appended to the output; a malformed
 * directive or a raft panic is thrown and fails the test.
 */

import type { CmdArg, Deps, Directive } from './deps.js'
import { handleAddNodes } from './handle-add-nodes.js'
import { handleDeliverMsgs } from './handle-deliver-msgs.js'
import { handleCompact, handleRaftLog, handleRaftState, handleStatus } from './handle-inspect.js'
import { handleLogLevel } from './handle-log-level.js'
import {
  handleCampaign,
  handleForgetLeader,
  handlePropose,
  handleProposeBatch,
  handleReportUnreachable,
  handleSetRandomizedElectionTimeout,
  handleTickElection,
  handleTickHeartbeat,
  handleTransferLeadership,
} from './handle-node-calls.js'
import { handleProcessAppendThread } from './handle-process-append-thread.js'
import { handleProcessApplyThread } from './handle-process-apply-thread.js'
import { handleProcessReady } from './handle-process-ready.js'
import { handleProposeConfChange } from './handle-propose-conf-change.js'
import { handleSendSnapshot } from './handle-send-snapshot.js'
import { handleStabilize } from './handle-stabilize.js'
import { handleStep } from './handle-step.js'
import { HarnessError, InteractionEnv, isReportable } from './interaction-env.js'

type Handler = (env: InteractionEnv, args: CmdArg[]) => void

const handlers: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  // A no-op to hang a debugger breakpoint on.
  ['_breakpoint', () => {}],
  ['add-nodes', handleAddNodes],
  ['campaign', handleCampaign],
  ['compact', handleCompact],
  ['deliver-msgs', handleDeliverMsgs],
  ['process-ready', handleProcessReady],
  ['process-append-thread', handleProcessAppendThread],
  ['process-apply-thread', handleProcessApplyThread],
  ['log-level', handleLogLevel],
  ['raft-log', handleRaftLog],
  ['raft-state', (env) => handleRaftState(env)],
  ['set-randomized-election-timeout', handleSetRandomizedElectionTimeout],
  ['stabilize', handleStabilize],
  ['status', handleStatus],
  ['tick-election', handleTickElection],
  ['tick-heartbeat', handleTickHeartbeat],
  ['transfer-leadership', handleTransferLeadership],
  ['forget-leader', handleForgetLeader],
  ['send-snapshot', handleSendSnapshot],
  ['propose', handlePropose],
  // Pontoon's own directives, for the transcripts of its divergences (src/raft/testdata).
  ['propose-batch', handleProposeBatch],
  ['step', handleStep],
  ['report-unreachable', handleReportUnreachable],
])

/** A directive handler with a fresh environment: create one per test file. */
export function createInteractionHandler(deps: Deps): (d: Directive) => string {
  const env = new InteractionEnv(deps)
  return (d) => handle(env, d)
}

function handle(env: InteractionEnv, d: Directive): string {
  env.output.reset()
  try {
    // propose-conf-change reads its input as the changes; other directives as more commands.
    if (d.cmd === 'propose-conf-change') handleProposeConfChange(env, d)
    else handleMultiCommand(env, d)
  } catch (err) {
    if (!isReportable(err)) throw err
    // Errors are shown even at log level NONE, which silences everything else.
    if (env.output.quiet()) return err.message
    env.output.write(err.message)
  }
  return env.output.length === 0 ? 'ok' : env.output.toString()
}

function handleMultiCommand(env: InteractionEnv, d: Directive): void {
  handleSingle(env, d.cmd, d.args)
  let commands = d.input
  while (commands.length !== 0) {
    const next = commands.indexOf('\n')
    const command = next === -1 ? commands : commands.slice(0, next)
    commands = next === -1 ? '' : commands.slice(next + 1)
    const { cmd, args } = env.deps.parseLine(command)
    try {
      handleSingle(env, cmd, args)
    } catch (err) {
      if (!isReportable(err) || env.output.quiet()) throw err
      env.output.write(err.message)
    }
  }
}

function handleSingle(env: InteractionEnv, cmd: string, args: CmdArg[]): void {
  const handler = handlers.get(cmd)
  if (handler === undefined) throw new HarnessError('unknown command')
  handler(env, args)
}
