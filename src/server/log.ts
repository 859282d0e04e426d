/**
 * The server's logs: JSON lines through pino, shaped as etcd 3.4's zap logger writes them
 * (`{"level":"info","ts":"...","caller":"...","msg":"..."}` with etcd's field names such as
 * "local-member-id" and "cluster-id"), so that scripts and harnesses that read etcd's log, and
 * wait for its milestone messages, read ours unchanged.
 */
import { pino, type DestinationStream, type Logger as Pino } from 'pino'
import type { Logger as RaftLogger } from '../raft/index.js'
import type { LogLevel } from './config.js'

export type ServerLogger = Pino

/** etcd's milestones, word for word: harnesses wait for them. */
export const MILESTONES = {
  published: 'published local member to cluster through raft',
  capabilities: 'enabled capabilities for version',
  ready: 'ready to serve client requests',
} as const

export function createLogger(level: LogLevel, dest?: DestinationStream): ServerLogger {
  const opts = {
    // zap's levels have the same names; pino has no "panic": it logs as fatal.
    level: level === 'panic' ? 'fatal' : level,
    base: undefined,
    messageKey: 'msg',
    timestamp: () => `,"ts":"${new Date().toISOString()}"`,
    formatters: { level: (label: string) => ({ level: label }) },
  }
  // Synchronous writes: the server logs little per request, and the last lines before an exit
  // (a fatal error, a shutdown) must not be lost in a buffer.
  return pino(opts, dest ?? pino.destination({ dest: 1, sync: true }))
}

/** The raft core's and the node driver's Logger, over the server's. */
export function raftLogger(log: ServerLogger): RaftLogger {
  const raft = log.child({ caller: 'raft' })
  return {
    debug: (m) => raft.debug(m),
    info: (m) => raft.info(m),
    warn: (m) => raft.warn(m),
    error: (m) => raft.error(m),
    fatal: (m) => raft.fatal(m),
    panic: (m) => {
      raft.fatal(m)
      throw new Error(m)
    },
  }
}
