#!/usr/bin/env node
/**
 * The `pontoon` command: etcd's flags, etcd's defaults, one member. A flag, URL or data dir it
 * refuses is named on stderr and the exit code is 1, before anything is written or bound.
 * SIGINT and SIGTERM stop the member cleanly (etcd's behaviour); kill -9 is what the WAL is for.
 */
import { ConfigError, parseArgs, usage } from './config.js'
import { createLogger } from './log.js'
import { ETCD_VERSION, PONTOON_VERSION, PontoonServer } from './server.js'

async function main(): Promise<number> {
  let parsed
  try {
    parsed = parseArgs(process.argv.slice(2), process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pontoon: ${err.message}\n`)
      return 2
    }
    throw err
  }
  if (parsed.kind === 'version') {
    process.stdout.write(
      `pontoon Version: ${PONTOON_VERSION}\netcd API Version: ${ETCD_VERSION}\n` +
        `Node.js Version: ${process.version}\nOS/Arch: ${process.platform}/${process.arch}\n`,
    )
    return 0
  }
  if (parsed.kind === 'help') {
    process.stdout.write(usage())
    return 0
  }
  const log = createLogger(parsed.config.logLevel)
  for (const w of parsed.warnings) log.warn({}, w)
  let server: PontoonServer
  try {
    server = await PontoonServer.start(parsed.config, { logger: log })
  } catch (err) {
    log.fatal({ error: (err as Error).message }, 'failed to start the member')
    process.stderr.write(`pontoon: ${(err as Error).message}\n`)
    return 1
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'received signal; shutting down')
      server.stop().then(resolve, (err: unknown) => {
        log.error({ error: (err as Error).message }, 'failed to stop cleanly')
        resolve()
      })
    }
    // Removed from the cluster: the member stops and exits 0, as etcd does.
    void server.removed.then(resolve)
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
    // A clean stop resolves `done` too, halfway through server.stop(): only a failure ends here.
    server.node.done.catch((err: unknown) => {
      log.fatal({ error: (err as Error).message }, 'the raft node failed; exiting')
      process.exitCode = 1
      resolve()
    })
  })
  return process.exitCode === undefined ? 0 : Number(process.exitCode)
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`pontoon: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
