/**
 * Debian's etcdctl 3.4 as a test client (test support: only the test project compiles this
 * folder): run it against endpoints, get stdout, stderr and the exit code, and parse its `-w json`
 * output exactly.
 *
 * etcdctl prints member, cluster and lease ids as bare JSON numbers, most of them above 2^53, so
 * JSON.parse would round them. parseJsonExact reads every integer literal from the raw text:
 * the id fields (and any integer beyond 2^53) become bigint, the others stay numbers.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process'

/** The etcdctl binary; ETCDCTL_BIN overrides it. */
export const ETCDCTL = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl'

export interface EtcdctlResult {
  readonly stdout: string
  readonly stderr: string
  /** The exit code; null when the process was killed (signal says by what). */
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface EtcdctlOptions {
  /** Written to etcdctl's standard input (for `txn -i`); none by default. */
  readonly input?: string
  /** Kills etcdctl after this long (default 10 s); the result then has signal SIGKILL. */
  readonly timeoutMs?: number
  /** etcdctl's own --dial-timeout and --command-timeout (defaults 2 s and 5 s, etcdctl's). */
  readonly dialTimeout?: string
  readonly commandTimeout?: string
}

/**
 * Runs `etcdctl --endpoints=<endpoints> <args>` (API v3, the default of 3.4) and resolves with
 * what it printed and its exit code; never rejects on a non-zero exit (tests check the code).
 */
export function etcdctl(
  endpoints: string | readonly string[],
  args: readonly string[],
  opts: EtcdctlOptions = {},
): Promise<EtcdctlResult> {
  const list = typeof endpoints === 'string' ? endpoints : endpoints.join(',')
  const flags = [`--endpoints=${list}`]
  if (opts.dialTimeout !== undefined) flags.push(`--dial-timeout=${opts.dialTimeout}`)
  if (opts.commandTimeout !== undefined) flags.push(`--command-timeout=${opts.commandTimeout}`)
  return new Promise((resolve, reject) => {
    const child = execFile(
      ETCDCTL,
      [...flags, ...args],
      {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? 10_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, ETCDCTL_API: '3' },
      },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code === 'string') {
          reject(new Error(`etcdctl ${args.join(' ')}: ${err.message}`)) // ENOENT and the like
          return
        }
        const exit = child.exitCode
        resolve({ stdout, stderr, code: exit, signal: child.signalCode })
      },
    )
    if (opts.input !== undefined) child.stdin?.end(opts.input)
    else child.stdin?.end()
  })
}

/** The result's text for a failure message: the command, the code and both streams. */
export function describeResult(args: readonly string[], r: EtcdctlResult): string {
  return (
    `etcdctl ${args.join(' ')} exited ${r.code ?? r.signal}\n` +
    `stdout: ${r.stdout.trimEnd()}\nstderr: ${r.stderr.trimEnd()}`
  )
}

/**
 * Runs etcdctl with `-w json`, requires exit code 0, and parses stdout with parseJsonExact.
 * Rejects with the command, the code and both streams otherwise.
 */
export async function etcdctlJson(
  endpoints: string | readonly string[],
  args: readonly string[],
  opts: EtcdctlOptions = {},
): Promise<unknown> {
  const full = [...args, '-w', 'json']
  const r = await etcdctl(endpoints, full, opts)
  if (r.code !== 0) throw new Error(describeResult(full, r))
  return parseJsonExact(r.stdout)
}

/** Field names whose integer values are 64-bit ids: always bigint, whatever their size. */
export const ID_FIELDS: ReadonlySet<string> = new Set([
  'cluster_id',
  'member_id',
  'leader',
  'ID',
  'id',
  'lease',
])

const BIG_MARK = '\u0000int:'

/**
 * JSON.parse that loses no integer: every integer literal outside strings is read from the raw
 * text; under a key in `idFields`, or when beyond Number.MAX_SAFE_INTEGER, it becomes a bigint,
 * otherwise a number. Fractions and exponents parse as JSON.parse does. Several JSON documents
 * one after another (etcdctl prints one per endpoint for some commands) are not accepted: use
 * parseJsonStream.
 */
export function parseJsonExact(text: string, idFields: ReadonlySet<string> = ID_FIELDS): unknown {
  // Quote each integer literal (outside strings) as a string starting with a NUL and "int:",
  // which the reviver turns back into a number or bigint. An input string that itself starts
  // with an escaped NUL and "int:" would be misread; etcdctl prints none.
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === '"') {
      let j = i + 1
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      out += text.slice(i, j + 1)
      i = j + 1
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
      if (m === null) throw new SyntaxError(`bad number at ${i} in ${text.slice(i, i + 40)}`)
      const lit = m[0]
      // The JSON escape \u0000 decodes to BIG_MARK's NUL (a raw NUL in a string is not JSON).
      out += m[1] === undefined && m[2] === undefined ? `"\\u0000int:${lit}"` : lit
      i += lit.length
    } else {
      out += c
      i++
    }
  }
  return JSON.parse(out, function (key: string, value: unknown) {
    if (typeof value !== 'string' || !value.startsWith(BIG_MARK)) return value
    const lit = value.slice(BIG_MARK.length)
    const n = Number(lit)
    return idFields.has(key) || !Number.isSafeInteger(n) ? BigInt(lit) : n
  })
}

/** Splits concatenated JSON documents (`{..}{..}` or one per line) and parses each exactly. */
export function parseJsonStream(
  text: string,
  idFields: ReadonlySet<string> = ID_FIELDS,
): unknown[] {
  const docs: unknown[] = []
  let depth = 0
  let start = -1
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '"') {
      i++
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1
    } else if (c === '{' || c === '[') {
      if (depth === 0) start = i
      depth++
    } else if (c === '}' || c === ']') {
      depth--
      if (depth === 0) docs.push(parseJsonExact(text.slice(start, i + 1), idFields))
    }
  }
  return docs
}

/** One endpoint's `etcdctl endpoint status -w json` entry, ids exact. */
export interface EndpointStatus {
  readonly endpoint: string
  readonly memberId: bigint
  readonly clusterId: bigint
  readonly leader: bigint
  readonly revision: number
  readonly raftTerm: number
  readonly raftIndex: number
  readonly raftAppliedIndex: number
  readonly version: string
  readonly dbSize: number
  readonly isLearner: boolean
  /** The whole parsed entry, for fields not named here. */
  readonly raw: Record<string, unknown>
}

/**
 * `etcdctl endpoint status -w json` against one endpoint. Resolves with its status, or null
 * when etcdctl fails (the endpoint is down or has no leader to answer with).
 */
export async function endpointStatus(
  endpoint: string,
  opts: EtcdctlOptions = {},
): Promise<EndpointStatus | null> {
  const r = await etcdctl(endpoint, ['endpoint', 'status', '-w', 'json'], {
    dialTimeout: '1s',
    commandTimeout: '2s',
    ...opts,
  })
  if (r.code !== 0) return null
  const list = parseJsonExact(r.stdout) as { Endpoint: string; Status: Record<string, unknown> }[]
  const entry = list[0]
  if (entry === undefined) return null
  const s = entry.Status
  const header = s.header as Record<string, unknown>
  return {
    endpoint: entry.Endpoint,
    memberId: header.member_id as bigint,
    clusterId: header.cluster_id as bigint,
    leader: (s.leader as bigint | undefined) ?? 0n,
    revision: (header.revision as number | undefined) ?? 0,
    raftTerm: (s.raftTerm as number | undefined) ?? 0,
    raftIndex: (s.raftIndex as number | undefined) ?? 0,
    raftAppliedIndex: (s.raftAppliedIndex as number | undefined) ?? 0,
    version: (s.version as string | undefined) ?? '',
    dbSize: (s.dbSize as number | undefined) ?? 0,
    isLearner: (s.isLearner as boolean | undefined) ?? false,
    raw: s,
  }
}

/**
 * A long-running etcdctl (`lock`, `elect`, `watch`, `lease keep-alive`): its stdout as lines as
 * they come, a wait for a line that matches, signals, and its exit.
 */
export class EtcdctlProcess {
  readonly lines: string[] = []
  stderr = ''
  /** Settles when the process exits: its code, or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private readonly child: ChildProcess
  private partial = ''
  private waiters: (() => void)[] = []

  constructor(endpoints: string | readonly string[], args: readonly string[]) {
    const list = typeof endpoints === 'string' ? endpoints : endpoints.join(',')
    this.child = spawn(ETCDCTL, [`--endpoints=${list}`, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child.stdout!.setEncoding('utf8')
    this.child.stdout!.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n')
      this.partial = parts.pop()!
      this.lines.push(...parts)
      this.wake()
    })
    this.child.stderr!.setEncoding('utf8')
    this.child.stderr!.on('data', (chunk: string) => (this.stderr += chunk))
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.wake()
        resolve({ code, signal })
      }),
    )
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /**
   * Resolves with the index of the first line at or after `from` that matches; rejects with what
   * the process printed if none comes within `timeoutMs` or the process exits first.
   */
  waitForLine(re: RegExp, opts: { from?: number; timeoutMs?: number } = {}): Promise<number> {
    const from = opts.from ?? 0
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = this.lines.findIndex((l, j) => j >= from && re.test(l))
        if (i >= 0) {
          clearTimeout(timer)
          resolve(i)
          return true
        }
        if (!this.running) {
          clearTimeout(timer)
          reject(new Error(`etcdctl exited before printing ${re}: ${this.describe()}`))
          return true
        }
        return false
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== onWake)
        reject(new Error(`no line ${re} within ${opts.timeoutMs ?? 10_000} ms: ${this.describe()}`))
      }, opts.timeoutMs ?? 10_000)
      const onWake = (): void => {
        if (check()) this.waiters = this.waiters.filter((w) => w !== onWake)
      }
      if (!check()) this.waiters.push(onWake)
    })
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig)
  }

  describe(): string {
    return `stdout: ${JSON.stringify(this.lines)} ${JSON.stringify(this.partial)}, stderr: ${this.stderr.trimEnd()}`
  }

  private wake(): void {
    for (const w of [...this.waiters]) w()
  }
}
