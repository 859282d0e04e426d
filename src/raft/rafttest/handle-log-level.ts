/**
 * `log-level DEBUG|INFO|WARN|ERROR|FATAL|NONE` (case-insensitive): lines below the level are not
 * printed, and NONE silences the harness's output too, errors excepted
 * (etcd-io/raft rafttest/interaction_env_handler_log_level.go).
 */

import type { LogLevel } from '../logger.js'
import type { CmdArg } from './deps.js'
import { HarnessError, HarnessFatal, type InteractionEnv } from './interaction-env.js'
import { levelNames } from './interaction-logger.js'

export function handleLogLevel(env: InteractionEnv, args: CmdArg[]): void {
  const arg = args[0]
  if (arg === undefined) throw new HarnessFatal('log-level: expected a level')
  setLogLevel(env, arg.key)
}

export function setLogLevel(env: InteractionEnv, name: string): void {
  const level = levelNames.findIndex((n) => n.toLowerCase() === name.toLowerCase())
  if (level < 0) throw new HarnessError(`log levels must be either of [${levelNames.join(' ')}]`)
  env.output.level = level as LogLevel
}
