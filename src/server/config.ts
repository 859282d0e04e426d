/**
 * The server's configuration: etcd's flags, with etcd's names, defaults and meanings, read from
 * the command line, the environment (ETCD_NAME for --name, and PONTOON_NAME too) or a YAML
 * --config-file with etcd's keys, so that an etcd unit file or container manifest works with only
 * the binary changed. Everything is checked before anything starts; a bad flag is a ConfigError
 * whose text is etcd's (Go's flag package: `invalid value "foo" for flag -listen-client-urls:
 * ...`, `flag provided but not defined: -bogus`).
 *
 * Precedence, as etcd: a config file replaces flags and environment entirely; otherwise a flag
 * wins over its environment variable. Pontoon's defaults differ from etcd's in one place: the
 * data dir is `<name>.pontoon` (etcd: `<name>.etcd`), so the two never share one by accident.
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal'
export type ClusterState = 'new' | 'existing'

export interface ServerConfig {
  name: string
  dataDir: string
  /** Entries applied between snapshots (--snapshot-count). */
  snapshotCount: number
  /** Entries kept behind a snapshot for slow followers (--experimental-snapshot-catchup-entries). */
  snapshotCatchupEntries: number
  heartbeatIntervalMs: number
  electionTimeoutMs: number
  listenPeerUrls: URL[]
  listenClientUrls: URL[]
  initialAdvertisePeerUrls: URL[]
  advertiseClientUrls: URL[]
  /** The initial members by name, each with its peer URLs (--initial-cluster). */
  initialCluster: Map<string, URL[]>
  initialClusterState: ClusterState
  initialClusterToken: string
  quotaBackendBytes: number
  maxRequestBytes: number
  maxTxnOps: number
  /**
   * Between progress notifications to watchers that asked for them (etcd 3.5's
   * --experimental-watch-progress-notify-interval; etcd 3.4's fixed 10 minutes by default).
   */
  watchProgressNotifyIntervalMs: number
  maxSnapshots: number
  maxWals: number
  strictReconfigCheck: boolean
  preVote: boolean
  logLevel: LogLevel
  /** Leaders checkpoint remaining lease TTLs through raft (on by default here: divergence.md). */
  leaseCheckpoint: boolean
  /** How often (--experimental-lease-checkpoint-interval). */
  leaseCheckpointIntervalMs: number
}

export type ParsedArgs =
  { kind: 'run'; config: ServerConfig; warnings: string[] } | { kind: 'version' } | { kind: 'help' }

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

type Kind = 'string' | 'uint' | 'bool' | 'urls' | 'cluster' | 'state' | 'level' | 'duration'

interface Flag {
  readonly kind: Kind
  /** etcd's default, as its flag would parse it; null: derived from other flags. */
  readonly dflt: string | null
  readonly help: string
}

/** The flags, in etcd's help order; the key is the flag's name without dashes. */
export const FLAGS: Readonly<Record<string, Flag>> = {
  name: { kind: 'string', dflt: 'default', help: 'Human-readable name for this member.' },
  'data-dir': {
    kind: 'string',
    dflt: null,
    help: "Path to the data directory ('${name}.pontoon').",
  },
  'snapshot-count': {
    kind: 'uint',
    dflt: '100000',
    help: 'Number of committed transactions to trigger a snapshot to disk.',
  },
  'experimental-snapshot-catchup-entries': {
    kind: 'uint',
    dflt: '5000',
    help: 'Number of entries for a slow follower to catch up after compacting the raft storage entries.',
  },
  'heartbeat-interval': {
    kind: 'uint',
    dflt: '100',
    help: 'Time (in milliseconds) of a heartbeat interval.',
  },
  'election-timeout': {
    kind: 'uint',
    dflt: '1000',
    help: 'Time (in milliseconds) for an election to timeout.',
  },
  'listen-peer-urls': {
    kind: 'urls',
    dflt: 'http://localhost:2380',
    help: 'List of URLs to listen on for peer traffic.',
  },
  'listen-client-urls': {
    kind: 'urls',
    dflt: 'http://localhost:2379',
    help: 'List of URLs to listen on for client traffic.',
  },
  'max-snapshots': {
    kind: 'uint',
    dflt: '5',
    help: 'Maximum number of snapshot files to retain (0 is unlimited).',
  },
  'max-wals': {
    kind: 'uint',
    dflt: '5',
    help: 'Maximum number of wal files to retain (0 is unlimited).',
  },
  'quota-backend-bytes': {
    kind: 'uint',
    dflt: '0',
    help: 'Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).',
  },
  'max-txn-ops': {
    kind: 'uint',
    dflt: '128',
    help: 'Maximum number of operations permitted in a transaction.',
  },
  'experimental-watch-progress-notify-interval': {
    kind: 'duration',
    dflt: '10m',
    help: 'Duration of periodical watch progress notification.',
  },
  'max-request-bytes': {
    kind: 'uint',
    dflt: '1572864',
    help: 'Maximum client request size in bytes the server will accept.',
  },
  'initial-advertise-peer-urls': {
    kind: 'urls',
    dflt: 'http://localhost:2380',
    help: "List of this member's peer URLs to advertise to the rest of the cluster.",
  },
  'initial-cluster': {
    kind: 'cluster',
    dflt: null,
    help: 'Initial cluster configuration for bootstrapping (default: ${name}=<initial-advertise-peer-urls>).',
  },
  'initial-cluster-state': {
    kind: 'state',
    dflt: 'new',
    help: "Initial cluster state ('new' or 'existing').",
  },
  'initial-cluster-token': {
    kind: 'string',
    dflt: 'etcd-cluster',
    help: 'Initial cluster token for the etcd cluster during bootstrap.',
  },
  'advertise-client-urls': {
    kind: 'urls',
    dflt: 'http://localhost:2379',
    help: "List of this member's client URLs to advertise to the public.",
  },
  'strict-reconfig-check': {
    kind: 'bool',
    dflt: 'true',
    help: 'Reject reconfiguration requests that would cause quorum loss.',
  },
  'pre-vote': {
    kind: 'bool',
    dflt: 'true',
    help: 'Enable to run an additional Raft election phase (on by default, as in etcd 3.5).',
  },
  'log-level': {
    kind: 'level',
    dflt: 'info',
    help: 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.',
  },
  'experimental-enable-lease-checkpoint': {
    kind: 'bool',
    dflt: 'true',
    help: 'Enable to persist lease remaining TTL to prevent indefinite auto-renewal of long lived leases (on by default here).',
  },
  'experimental-lease-checkpoint-interval': {
    kind: 'duration',
    dflt: '2s',
    help: 'Duration of time between two consecutive lease checkpoints (etcd: 5m0s).',
  },
}

/**
 * Parses a command line (without the program name) and an environment. Throws ConfigError with
 * etcd's text for anything it refuses; returns warnings for what it ignored.
 */
export function parseArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedArgs {
  const given = new Map<string, string>()
  let configFile: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      throw new ConfigError(`'${arg}' is not a valid flag`)
    }
    const body = arg.replace(/^--?/, '')
    const eq = body.indexOf('=')
    const name = eq === -1 ? body : body.slice(0, eq)
    if (name === 'version') return { kind: 'version' }
    if (name === 'h' || name === 'help') return { kind: 'help' }
    const flag = name === 'config-file' ? null : FLAGS[name]
    if (name !== 'config-file' && flag === undefined) {
      throw new ConfigError(`flag provided but not defined: -${name}`)
    }
    let value: string
    if (eq !== -1) value = body.slice(eq + 1)
    else if (flag?.kind === 'bool') value = 'true'
    else {
      const next = argv[i + 1]
      if (next === undefined) throw new ConfigError(`flag needs an argument: -${name}`)
      value = next
      i++
    }
    if (name === 'config-file') configFile = value
    else given.set(name, value)
  }
  const warnings: string[] = []
  configFile ??= env.ETCD_CONFIG_FILE ?? env.PONTOON_CONFIG_FILE
  if (configFile !== undefined) {
    if (given.size > 0) {
      warnings.push('--config-file is given: the other flags and the environment are ignored')
    }
    return { kind: 'run', config: build(readConfigFile(configFile)), warnings }
  }
  const values = new Map<string, string>()
  for (const name of Object.keys(FLAGS)) {
    const key = name.toUpperCase().replace(/-/g, '_')
    const fromEnv = env[`PONTOON_${key}`] ?? env[`ETCD_${key}`]
    const fromFlag = given.get(name)
    if (fromFlag !== undefined) {
      if (fromEnv !== undefined) {
        warnings.push(`environment variable for --${name} is shadowed by the command-line flag`)
      }
      values.set(name, fromFlag)
    } else if (fromEnv !== undefined) values.set(name, fromEnv)
  }
  return { kind: 'run', config: build(values), warnings }
}

/** etcd's YAML config file: keys are the flag names; lists may be YAML lists or comma strings. */
function readConfigFile(path: string): Map<string, string> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`error parsing config file ${path}: ${(err as Error).message}`)
  }
  if (doc === null || doc === undefined) return new Map()
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`config file ${path}: expected a mapping of flag names to values`)
  }
  const values = new Map<string, string>()
  for (const [key, raw] of Object.entries(doc as Record<string, unknown>)) {
    if (FLAGS[key] === undefined) {
      throw new ConfigError(`config file ${path}: unknown key "${key}"`)
    }
    if (raw === null) continue
    values.set(key, Array.isArray(raw) ? raw.map(String).join(',') : String(raw))
  }
  return values
}

function build(values: ReadonlyMap<string, string>): ServerConfig {
  const get = (name: string): string => {
    const v = values.get(name) ?? FLAGS[name]?.dflt
    if (v === null || v === undefined) throw new Error(`no value for ${name}`)
    return v
  }
  const str = (name: string): string => get(name)
  const uint = (name: string): number => parseUint(name, get(name))
  const urls = (name: string): URL[] => parseUrls(name, get(name))
  const bool = (name: string): boolean => parseBool(name, get(name))
  const name = str('name')
  const initialAdvertisePeerUrls = urls('initial-advertise-peer-urls')
  const clusterText =
    values.get('initial-cluster') ??
    initialAdvertisePeerUrls.map((u) => `${name}=${formatUrl(u)}`).join(',')
  const state = get('initial-cluster-state')
  if (state !== 'new' && state !== 'existing')
    invalid('initial-cluster-state', state, 'invalid value')
  const level = get('log-level')
  if (!['debug', 'info', 'warn', 'error', 'panic', 'fatal'].includes(level)) {
    invalid('log-level', level, 'invalid value')
  }
  const config: ServerConfig = {
    name,
    dataDir: values.get('data-dir') ?? `${name}.pontoon`,
    snapshotCount: uint('snapshot-count'),
    snapshotCatchupEntries: uint('experimental-snapshot-catchup-entries'),
    heartbeatIntervalMs: uint('heartbeat-interval'),
    electionTimeoutMs: uint('election-timeout'),
    listenPeerUrls: urls('listen-peer-urls'),
    listenClientUrls: urls('listen-client-urls'),
    initialAdvertisePeerUrls,
    advertiseClientUrls: urls('advertise-client-urls'),
    initialCluster: parseCluster(clusterText),
    initialClusterState: state as ClusterState,
    initialClusterToken: str('initial-cluster-token'),
    quotaBackendBytes: uint('quota-backend-bytes'),
    maxRequestBytes: uint('max-request-bytes'),
    maxTxnOps: uint('max-txn-ops'),
    watchProgressNotifyIntervalMs: parseDuration(
      'experimental-watch-progress-notify-interval',
      get('experimental-watch-progress-notify-interval'),
    ),
    maxSnapshots: uint('max-snapshots'),
    maxWals: uint('max-wals'),
    strictReconfigCheck: bool('strict-reconfig-check'),
    preVote: bool('pre-vote'),
    logLevel: level as LogLevel,
    leaseCheckpoint: bool('experimental-enable-lease-checkpoint'),
    leaseCheckpointIntervalMs: parseDuration(
      'experimental-lease-checkpoint-interval',
      get('experimental-lease-checkpoint-interval'),
    ),
  }
  check(config)
  return config
}

/** The rules etcd's embed.Config.Validate applies, in its words where it has them. */
function check(c: ServerConfig): void {
  if (c.heartbeatIntervalMs === 0) invalid('heartbeat-interval', '0', 'must be positive')
  if (5 * c.heartbeatIntervalMs > c.electionTimeoutMs) {
    throw new ConfigError(
      `--election-timeout[${c.electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${c.heartbeatIntervalMs}ms]`,
    )
  }
  if (c.electionTimeoutMs > 50000) {
    throw new ConfigError(
      `--election-timeout[${c.electionTimeoutMs}ms] is too long, and should be set less than 50 seconds`,
    )
  }
  if (c.maxTxnOps === 0) invalid('max-txn-ops', '0', 'must be positive')
  if (c.watchProgressNotifyIntervalMs <= 0) {
    invalid('experimental-watch-progress-notify-interval', '0', 'must be positive')
  }
  if (c.maxRequestBytes === 0) invalid('max-request-bytes', '0', 'must be positive')
  const own = c.initialCluster.get(c.name)
  if (c.initialClusterState === 'new' && own === undefined) {
    throw new ConfigError(
      `couldn't find local name "${c.name}" in the initial cluster configuration`,
    )
  }
  if (own !== undefined) {
    const a = c.initialAdvertisePeerUrls.map(formatUrl).sort().join(',')
    const b = own.map(formatUrl).sort().join(',')
    if (a !== b) {
      throw new ConfigError(
        `--initial-cluster has ${c.name}=${b} but missing from --initial-advertise-peer-urls=${a}`,
      )
    }
  }
}

function invalid(flag: string, value: string, why: string): never {
  throw new ConfigError(`invalid value "${value}" for flag -${flag}: ${why}`)
}

function parseUint(flag: string, value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) invalid(flag, value, 'parse error')
  return n
}

/** A Go duration ("10m0s", "100ms", "1.5s") in milliseconds, as Go's time.ParseDuration reads it. */
function parseDuration(flag: string, value: string): number {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  }
  const v = value.trim()
  if (v === '0') return 0
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y
  let ms = 0
  let at = 0
  while (at < v.length) {
    re.lastIndex = at
    const m = re.exec(v)
    if (m === null) invalid(flag, value, 'parse error')
    ms += Number(m[1]) * units[m[2]!]!
    at = re.lastIndex
  }
  if (at === 0) invalid(flag, value, 'parse error')
  return ms
}

function parseBool(flag: string, value: string): boolean {
  const v = value.toLowerCase()
  if (['1', 't', 'true'].includes(v)) return true
  if (['0', 'f', 'false'].includes(v)) return false
  // Go's flag package words a bad boolean its own way (etcd 3.4.23 prints exactly this).
  throw new ConfigError(`invalid boolean value "${value}" for -${flag}: parse error`)
}

/** A comma-separated list of URLs, checked as etcd's types.NewURLs checks them. */
export function parseUrls(flag: string, value: string): URL[] {
  const out: URL[] = []
  for (const part of value.split(',')) {
    const s = part.trim()
    let u: URL
    try {
      u = new URL(s)
    } catch {
      return invalid(flag, value, `URL scheme must be http, https, unix, or unixs: ${s}`)
    }
    if (!['http:', 'https:', 'unix:', 'unixs:'].includes(u.protocol)) {
      invalid(flag, value, `URL scheme must be http, https, unix, or unixs: ${s}`)
    }
    if ((u.protocol === 'http:' || u.protocol === 'https:') && u.port === '') {
      invalid(flag, value, `URL address does not have the form "host:port": ${s}`)
    }
    if (u.pathname !== '/' && u.pathname !== '') {
      invalid(flag, value, `URL must not contain a path: ${s}`)
    }
    out.push(u)
  }
  if (out.length === 0) invalid(flag, value, 'no URLs given')
  return out
}

/** `name=url,name=url,...` (etcd's --initial-cluster); a name may repeat for several URLs. */
function parseCluster(value: string): Map<string, URL[]> {
  const out = new Map<string, URL[]>()
  for (const part of value.split(',')) {
    const eq = part.indexOf('=')
    if (eq <= 0) invalid('initial-cluster', value, `${part} is not a valid name=URL pair`)
    const [url] = parseUrls('initial-cluster', part.slice(eq + 1))
    const name = part.slice(0, eq).trim()
    const urls = out.get(name) ?? []
    urls.push(url as URL)
    out.set(name, urls)
  }
  return out
}

/** A URL as etcd prints it: scheme://host:port, no trailing slash. */
export function formatUrl(u: URL): string {
  return `${u.protocol}//${u.host}`
}

/** The help text: etcd's flags, with their defaults. */
export function usage(): string {
  const lines = [
    'Usage:',
    '',
    '  pontoon [flags]',
    '    Start a Pontoon server (etcd v3 API).',
    '',
    '  pontoon --version',
    '    Show the version of Pontoon and the etcd version it speaks.',
    '',
    '  pontoon --config-file',
    "    Path to the server configuration file (etcd's YAML keys); other flags and environment",
    '    variables are then ignored.',
    '',
    'Flags (each also read from ETCD_<NAME> or PONTOON_<NAME>, e.g. ETCD_DATA_DIR):',
  ]
  for (const [name, f] of Object.entries(FLAGS)) {
    lines.push(`  --${name} '${f.dflt ?? ''}'`, `    ${f.help}`)
  }
  return lines.join('\n') + '\n'
}
