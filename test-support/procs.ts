/**
 * Real-process clusters for end-to-end tests (test support: only the test project compiles this
 * folder): N members of etcd 3.4 or of pontoon, started with etcd's flags on free localhost
 * ports and fresh data dirs, killed (-9), stopped, restarted on the same data dir, and always
 * cleaned up.
 *
 * Both kinds take the same flags, so a test written against etcd runs against pontoon by
 * changing `kind` (and giving pontoon's command):
 *
 *   const c = await startCluster({ kind: 'etcd', size: 3, t })
 *   const c = await startCluster({ kind: 'pontoon', size: 3, t })   // pontoonCommand()
 *   const c = await startCluster({ kind: 'pontoon', command: [process.execPath,
 *                                  'dist/src/cli/pontoon.js'], size: 3, t })
 *
 * Readiness is read from the member's log, JSON lines with a "msg" field: etcd 3.4.23 runs with
 * `--logger=zap` so that both kinds log JSON. NB: etcd 3.4's zap logger never prints "ready to
 * serve client requests" (only its capnslog logger does); it prints "serving client traffic
 * insecurely; this is strongly discouraged!" once the server is ready (embed/serve.go logs it
 * after ReadyNotify). READY_MESSAGES holds both, for either kind.
 *
 * Cleanup, in layers: `t.after` (when `t` is given) and `cluster.close()` kill the processes and
 * remove the data dirs; a process 'exit' hook (and SIGINT/SIGTERM) does it synchronously for any
 * cluster still open; a watchdog process, holding a pipe from this one, kills the members and
 * removes the dirs when this process dies without running its hooks (SIGKILL, a crash).
 */

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { endpointStatus } from './etcdctl.js'
import type { EndpointStatus } from './etcdctl.js'

export type MemberKind = 'etcd' | 'pontoon'

/** The etcd binary; ETCD_BIN overrides it. */
export const ETCD = process.env.ETCD_BIN ?? '/usr/bin/etcd'

/** The compiled tree (dist/), two levels above this file once built (dist/test-support/). */
const distRoot = fileURLToPath(new URL('..', import.meta.url))

/**
 * The command that runs the built pontoon server: node and `dist/<entry>`. The entry defaults to
 * src/server/main.js; PONTOON_ENTRY (a path under dist/, or absolute) overrides it.
 */
export function pontoonCommand(
  entry = process.env.PONTOON_ENTRY ?? 'src/server/main.js',
): string[] {
  return [process.execPath, resolve(distRoot, entry)]
}

/** A log line's "msg" that says the member serves clients (see the module comment). */
export const READY_MESSAGES: readonly string[] = [
  'ready to serve client requests',
  'serving client traffic insecurely; this is strongly discouraged!',
]

/** The subset of node:test's TestContext the harness uses (cleanup after the test). */
export interface TestHooks {
  after(fn: () => unknown): void
}

export interface ClusterOptions {
  readonly kind: MemberKind
  /** Members (default 1). */
  readonly size?: number
  /**
   * The program and leading arguments, e.g. `[process.execPath, 'dist/src/server/main.js']`;
   * the member's flags follow. Defaults: [ETCD] for 'etcd', pontoonCommand() for 'pontoon'.
   */
  readonly command?: readonly string[]
  /** --heartbeat-interval and --election-timeout in ms (defaults 25 and 250: fast tests). */
  readonly heartbeatIntervalMs?: number
  readonly electionTimeoutMs?: number
  /** --snapshot-count (etcd's default when unset). */
  readonly snapshotCount?: number
  /** --log-level (the binary's default when unset). */
  readonly logLevel?: string
  /** More flags for every member, e.g. ['--max-txn-ops', '4', '--max-request-bytes', '4096']. */
  readonly extraArgs?: readonly string[]
  /** Extra environment for every member. */
  readonly env?: Readonly<Record<string, string>>
  /** How long a member may take to log readiness (default 20 s); the error shows its log tail. */
  readonly readyTimeoutMs?: number
  /** Where the data dirs go: default /dev/shm when it exists (fsync is free), else os.tmpdir(). */
  readonly baseDir?: string
  /** Register cluster.close() with this test's after hook. */
  readonly t?: TestHooks
  /** Allocates the 2 * size ports (client, peer per member); default freePorts. A seam for tests. */
  readonly allocatePorts?: (n: number) => Promise<number[]>
}

/** Thrown when a member could not bind its ports (the cluster start retries with new ones). */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError'
}

/** A member whose process exited or logged nothing ready in time; message has the log tail. */
export class MemberStartError extends Error {
  override readonly name = 'MemberStartError'
}

const LOG_LINES_MAX = 20_000
const START_ATTEMPTS = 4

/** One member: its URLs, data dir, process and captured log. */
export class Member {
  readonly name: string
  readonly clientUrl: string
  readonly peerUrl: string
  readonly dataDir: string
  /** Every line the current and earlier incarnations printed (stdout and stderr), oldest first. */
  readonly lines: string[] = []
  private proc: ChildProcess | null = null
  private exited: Promise<void> = Promise.resolve()
  private readonly waiters = new Set<(line: string) => void>()
  /** Set by the cluster: the full argument vector (program first) of this member. */
  argv: readonly string[] = []
  env: Readonly<Record<string, string>> = {}

  constructor(opts: { name: string; clientUrl: string; peerUrl: string; dataDir: string }) {
    this.name = opts.name
    this.clientUrl = opts.clientUrl
    this.peerUrl = opts.peerUrl
    this.dataDir = opts.dataDir
  }

  /** The pid of the running incarnation, or undefined. */
  get pid(): number | undefined {
    return this.running ? this.proc?.pid : undefined
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null
  }

  /** The last `n` log lines as one string, for failure messages. */
  logTail(n = 40): string {
    return this.lines.slice(-n).join('\n')
  }

  /** Log lines parsed as JSON (the others skipped), for checks on fields. */
  jsonLines(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = []
    for (const line of this.lines) {
      if (!line.startsWith('{')) continue
      try {
        out.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        // A partial or non-JSON line: not ours to judge here.
      }
    }
    return out
  }

  /**
   * Spawns the member (same argv and data dir each time) and waits until its log says it is
   * ready. Rejects with PortInUseError when a port was taken, MemberStartError otherwise.
   */
  async start(readyTimeoutMs: number): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`)
    const from = this.lines.length
    this.lines.push(`--- ${this.name}: ${this.argv.join(' ')}`)
    const [program, ...args] = this.argv
    const proc = spawn(program!, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    })
    this.proc = proc
    this.exited = new Promise((resolve) => proc.once('close', () => resolve()))
    // A program that cannot start (ENOENT, EACCES) emits 'error' and no 'exit': end the wait.
    proc.once('error', (err) => this.push(`--- ${this.name} exited (spawn error: ${err.message})`))
    proc.once('exit', (code, signal) => {
      watchdog.forget(proc.pid)
      this.push(`--- ${this.name} exited (code ${code}, signal ${signal})`)
    })
    if (proc.pid !== undefined) watchdog.track(proc.pid)
    for (const stream of [proc.stdout!, proc.stderr!]) {
      let partial = ''
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n')
        partial = parts.pop()!
        for (const line of parts) this.push(line)
      })
      stream.on('end', () => {
        if (partial !== '') this.push(partial)
        partial = ''
      })
    }
    try {
      await this.waitForLine((line) => isReadyLine(line), readyTimeoutMs, 'ready')
    } catch (err) {
      const tail = this.lines.slice(from).join('\n')
      if (/address already in use|EADDRINUSE/.test(tail)) {
        await this.kill()
        throw new PortInUseError(`${this.name}: a port was taken\n${tail.slice(-4000)}`)
      }
      await this.kill()
      throw new MemberStartError(
        `${this.name} (${this.argv[0]}) did not become ready: ${(err as Error).message}\n` +
          `log tail:\n${this.lines.slice(Math.max(from, this.lines.length - 60)).join('\n')}`,
      )
    }
  }

  /**
   * Waits for a log line (from now on, or already printed since `since` if given) that matches.
   * Rejects when the process exits first or after timeoutMs.
   */
  waitForLine(
    match: string | RegExp | ((line: string) => boolean),
    timeoutMs: number,
    what = String(match),
    since?: number,
  ): Promise<string> {
    const test =
      typeof match === 'function'
        ? match
        : typeof match === 'string'
          ? (l: string) => l.includes(match)
          : (l: string) => match.test(l)
    if (since !== undefined) {
      const found = this.lines.slice(since).find(test)
      if (found !== undefined) return Promise.resolve(found)
    }
    return new Promise((resolve, reject) => {
      const onLine = (line: string): void => {
        if (line.startsWith(`--- ${this.name} exited`)) {
          done()
          reject(new Error(`the process exited before logging ${what} (${line.slice(4)})`))
        } else if (test(line)) {
          done()
          resolve(line)
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`nothing logged ${what} within ${timeoutMs} ms`))
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        this.waiters.delete(onLine)
      }
      this.waiters.add(onLine)
      if (!this.running && this.proc !== null) {
        done()
        reject(new Error(`the process is not running (waiting for ${what})`))
      }
    })
  }

  /** kill -9, then waits until the process is gone. No-op when not running. */
  async kill(): Promise<void> {
    if (this.running) this.proc!.kill('SIGKILL')
    await this.exited
  }

  /** SIGTERM (a graceful stop), then waits; SIGKILL after timeoutMs (default 10 s). */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return this.exited
    const proc = this.proc!
    proc.kill('SIGTERM')
    const timer = setTimeout(() => {
      if (this.running) proc.kill('SIGKILL')
    }, timeoutMs)
    await this.exited
    clearTimeout(timer)
  }

  /** The exit code and signal of the last incarnation (undefined while it runs). */
  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    if (this.proc === null || this.running) return undefined
    return { code: this.proc.exitCode, signal: this.proc.signalCode }
  }

  /** `etcdctl endpoint status -w json` on this member; null when it does not answer. */
  status(): Promise<EndpointStatus | null> {
    return endpointStatus(this.clientUrl)
  }

  private push(line: string): void {
    if (this.lines.length >= LOG_LINES_MAX) this.lines.splice(0, LOG_LINES_MAX / 2)
    this.lines.push(line)
    for (const w of [...this.waiters]) w(line)
  }
}

/** True for a JSON log line whose "msg" is one of READY_MESSAGES (or capnslog's plain line). */
export function isReadyLine(line: string): boolean {
  if (line.startsWith('{')) {
    try {
      const msg = (JSON.parse(line) as { msg?: unknown }).msg
      return typeof msg === 'string' && READY_MESSAGES.includes(msg)
    } catch {
      return false
    }
  }
  return line.includes('ready to serve client requests')
}

export class Cluster {
  readonly members: readonly Member[]
  readonly kind: MemberKind
  readonly baseDir: string
  private readonly readyTimeoutMs: number
  private closed = false

  constructor(opts: {
    kind: MemberKind
    members: Member[]
    baseDir: string
    readyTimeoutMs: number
  }) {
    this.kind = opts.kind
    this.members = opts.members
    this.baseDir = opts.baseDir
    this.readyTimeoutMs = opts.readyTimeoutMs
  }

  /** Every member's client URL, in member order (for etcdctl --endpoints and clients). */
  get clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl)
  }

  /** The client URLs of the members running now. */
  get runningUrls(): string[] {
    return this.members.filter((m) => m.running).map((m) => m.clientUrl)
  }

  member(i: number): Member {
    const m = this.members[i]
    if (m === undefined) throw new RangeError(`no member ${i} in a cluster of ${this.size}`)
    return m
  }

  get size(): number {
    return this.members.length
  }

  /** Restarts a stopped or killed member on its data dir and waits for its readiness line. */
  async restart(member: Member): Promise<void> {
    await member.start(this.readyTimeoutMs)
  }

  /** Restarts all stopped members at once (a majority must come back for any to be ready). */
  async restartAll(): Promise<void> {
    await Promise.all(this.members.filter((m) => !m.running).map((m) => this.restart(m)))
  }

  /**
   * Polls `etcdctl endpoint status -w json` on every running member until all of them answer
   * and name the same leader, itself a running member; resolves with it. Rejects after
   * timeoutMs (default 15 s) with the last statuses seen and the members' log tails.
   */
  async waitForLeader(timeoutMs = 15_000): Promise<{ leader: Member; statuses: EndpointStatus[] }> {
    const deadline = Date.now() + timeoutMs
    let last: (EndpointStatus | null)[] = []
    while (Date.now() < deadline) {
      const running = this.members.filter((m) => m.running)
      last = await Promise.all(running.map((m) => m.status()))
      const leaders = new Set(last.map((s) => s?.leader))
      if (last.length > 0 && leaders.size === 1 && last.every((s) => s !== null)) {
        const id = last[0]!.leader
        const i = last.findIndex((s) => s!.memberId === id)
        if (id !== 0n && i >= 0) return { leader: running[i]!, statuses: last as EndpointStatus[] }
      }
      await new Promise((r) => setTimeout(r, 50)) // polling an outside process: no event to await
    }
    throw new Error(
      `no leader agreed by all running members within ${timeoutMs} ms; statuses: ` +
        JSON.stringify(last, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v)) +
        this.members.map((m) => `\n--- ${m.name} log tail:\n${m.logTail(15)}`).join(''),
    )
  }

  /** Kills every member (-9) and removes the data dirs. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    openClusters.delete(this)
    await Promise.all(this.members.map((m) => m.kill()))
    await rm(this.baseDir, { recursive: true, force: true })
    watchdog.forgetDir(this.baseDir)
  }

  /** Synchronous last-resort cleanup for the exit hook. */
  closeSync(): void {
    if (this.closed) return
    this.closed = true
    for (const m of this.members) {
      const pid = m.pid
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // Already gone.
        }
      }
    }
    rmSync(this.baseDir, { recursive: true, force: true })
  }
}

/**
 * Starts a cluster of `size` members, all ready (each logged readiness), on free ports. A port
 * taken between allocation and bind restarts the whole attempt with new ports (up to 4 tries).
 * With `t`, the cluster closes after the test; always, it closes on process exit.
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const size = opts.size ?? 1
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`size ${size}: at least 1`)
  const command = opts.command ?? (opts.kind === 'etcd' ? [ETCD] : pontoonCommand())
  if (command.length === 0) throw new Error('opts.command is empty')
  let lastErr: unknown
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const cluster = await layOut(opts, size, command)
    opts.t?.after(() => cluster.close())
    try {
      await Promise.all(cluster.members.map((m) => m.start(opts.readyTimeoutMs ?? 20_000)))
      return cluster
    } catch (err) {
      await cluster.close()
      lastErr = err
      if (!(err instanceof PortInUseError)) throw err
    }
  }
  throw lastErr
}

let clusterCount = 0

async function layOut(opts: ClusterOptions, size: number, command: readonly string[]) {
  const ports = await (opts.allocatePorts ?? freePorts)(2 * size)
  const base = opts.baseDir ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir())
  const baseDir = mkdtempSync(join(base, `pontoon-e2e-${opts.kind}-`))
  watchdog.trackDir(baseDir)
  const token = `e2e-${process.pid}-${++clusterCount}`
  const members = Array.from(
    { length: size },
    (_, i) =>
      new Member({
        name: `m${i + 1}`,
        clientUrl: `http://127.0.0.1:${ports[2 * i]!}`,
        peerUrl: `http://127.0.0.1:${ports[2 * i + 1]!}`,
        dataDir: join(baseDir, `m${i + 1}`),
      }),
  )
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',')
  for (const m of members) {
    const flags = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-state=new`,
      `--initial-cluster-token=${token}`,
      `--heartbeat-interval=${opts.heartbeatIntervalMs ?? 25}`,
      `--election-timeout=${opts.electionTimeoutMs ?? 250}`,
    ]
    if (opts.snapshotCount !== undefined) flags.push(`--snapshot-count=${opts.snapshotCount}`)
    if (opts.logLevel !== undefined) flags.push(`--log-level=${opts.logLevel}`)
    // etcd 3.4 defaults to capnslog (plain text); zap prints JSON lines like pontoon's.
    if (opts.kind === 'etcd') flags.push('--logger=zap', '--log-outputs=stderr')
    m.argv = [...command, ...flags, ...(opts.extraArgs ?? [])]
    m.env = opts.env ?? {}
  }
  const cluster = new Cluster({
    kind: opts.kind,
    members,
    baseDir,
    readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
  })
  openClusters.add(cluster)
  return cluster
}

/** Ports this process handed out, never handed out twice (the kernel may offer one again). */
const handedOut = new Set<number>()

/**
 * `n` distinct free TCP ports on 127.0.0.1: bind port 0, read the port, close. Another process
 * may take one before the member binds it: startCluster retries on PortInUseError.
 */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = []
  for (let tries = 0; ports.length < n; tries++) {
    if (tries > 100 * n) throw new Error(`could not find ${n} free ports`)
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer()
      srv.once('error', reject)
      srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
        const addr = srv.address()
        const p = typeof addr === 'object' && addr !== null ? addr.port : 0
        srv.close(() => resolve(p))
      })
    })
    if (port === 0 || handedOut.has(port)) continue
    handedOut.add(port)
    ports.push(port)
  }
  return ports
}

// --- cleanup when the test process ends -------------------------------------------------------

const openClusters = new Set<Cluster>()

function closeAllSync(): void {
  for (const c of [...openClusters]) c.closeSync()
  openClusters.clear()
}

process.on('exit', closeAllSync)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    closeAllSync()
    process.kill(process.pid, signal) // the default action, now that the members are gone
  })
}

/**
 * A small process that outlives this one only to clean up after it: it reads "+pid", "-pid",
 * "+dir", "-dir" lines on its stdin and, when the pipe closes (this process ended, however),
 * kills the pids still listed and removes the dirs. Started on first use.
 */
const watchdog = new (class Watchdog {
  private proc: ChildProcess | null = null

  track(pid: number): void {
    this.send(`+p${pid}`)
  }
  forget(pid: number | undefined): void {
    if (pid !== undefined) this.send(`-p${pid}`)
  }
  trackDir(dir: string): void {
    this.send(`+d${dir}`)
  }
  forgetDir(dir: string): void {
    this.send(`-d${dir}`)
  }

  private send(line: string): void {
    if (this.proc === null) this.proc = this.spawn()
    if (this.proc.stdin?.writable === true) this.proc.stdin.write(line + '\n')
  }

  private spawn(): ChildProcess {
    const script = `
      const fs = require('node:fs')
      const pids = new Set(), dirs = new Set()
      let buf = ''
      process.stdin.setEncoding('utf8')
      process.stdin.on('data', (c) => {
        const lines = (buf + c).split('\\n'); buf = lines.pop()
        for (const l of lines) {
          const set = l[1] === 'p' ? pids : dirs, v = l.slice(2)
          if (l[0] === '+') set.add(v); else set.delete(v)
        }
      })
      process.stdin.on('end', () => {
        for (const p of pids) { try { process.kill(Number(p), 'SIGKILL') } catch {} }
        for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
      })`
    const proc = spawn(process.execPath, ['-e', script], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true, // its own process group: a ^C to the tests does not end it first
    })
    proc.unref()
    const stdin = proc.stdin as unknown as { unref?: () => void } | null
    stdin?.unref?.()
    return proc
  }
})()
