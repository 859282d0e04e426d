// Goal: the flags behave as etcd 3.4.23's do: the same names and defaults, the environment
// (ETCD_X and PONTOON_X), etcd's YAML config file, and etcd's texts for what is refused (each text
// below is what `etcd` printed here for the same input).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, formatUrl, parseArgs, type ServerConfig } from './config.js'

function run(argv: string[], env: Record<string, string> = {}): ServerConfig {
  const p = parseArgs(argv, env)
  assert.equal(p.kind, 'run')
  if (p.kind !== 'run') throw new Error('unreachable')
  return p.config
}

function refused(argv: string[], text: string, env: Record<string, string> = {}): void {
  assert.throws(
    () => parseArgs(argv, env),
    (err: unknown) => err instanceof ConfigError && err.message === text,
  )
}

test("no flags: etcd's defaults, with the data dir default.pontoon", () => {
  const c = run([])
  assert.equal(c.name, 'default')
  assert.equal(c.dataDir, 'default.pontoon')
  assert.deepEqual(c.listenClientUrls.map(formatUrl), ['http://localhost:2379'])
  assert.deepEqual(c.listenPeerUrls.map(formatUrl), ['http://localhost:2380'])
  assert.deepEqual(
    [...c.initialCluster].map(([n, u]) => [n, u.map(formatUrl)]),
    [['default', ['http://localhost:2380']]],
  )
  assert.equal(c.initialClusterState, 'new')
  assert.equal(c.initialClusterToken, 'etcd-cluster')
  assert.equal(c.heartbeatIntervalMs, 100)
  assert.equal(c.electionTimeoutMs, 1000)
  assert.equal(c.snapshotCount, 100000)
  assert.equal(c.maxRequestBytes, 1572864)
  assert.equal(c.maxTxnOps, 128)
  assert.equal(c.preVote, true)
  assert.equal(c.logLevel, 'info')
})

test('both --flag value and -flag=value; the name changes the default data dir', () => {
  const c = run(['--name', 'infra1', '-snapshot-count=5', '--pre-vote=false'])
  assert.equal(c.name, 'infra1')
  assert.equal(c.dataDir, 'infra1.pontoon')
  assert.equal(c.snapshotCount, 5)
  assert.equal(c.preVote, false)
})

test('the environment: ETCD_ and PONTOON_ names; a flag wins over both', () => {
  assert.equal(run([], { ETCD_NAME: 'e' }).name, 'e')
  assert.equal(run([], { PONTOON_NAME: 'p' }).name, 'p')
  assert.equal(run([], { ETCD_DATA_DIR: '/d' }).dataDir, '/d')
  const p = parseArgs(['--name', 'f'], { ETCD_NAME: 'e' })
  assert.ok(p.kind === 'run' && p.config.name === 'f')
  assert.ok(p.kind === 'run' && p.warnings.length === 1)
})

test("a YAML config file with etcd's keys replaces flags and environment", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pontoon-config-'))
  const file = join(dir, 'etcd.yaml')
  writeFileSync(
    file,
    [
      'name: infra2',
      'data-dir: /var/lib/etcd',
      'listen-client-urls: http://127.0.0.1:22379',
      'advertise-client-urls: http://127.0.0.1:22379',
      'listen-peer-urls: http://127.0.0.1:22380',
      'initial-advertise-peer-urls: http://127.0.0.1:22380',
      'initial-cluster: infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380',
      'initial-cluster-token: tok',
      'heartbeat-interval: 50',
      'election-timeout: 500',
    ].join('\n'),
  )
  const c = run(['--config-file', file], { ETCD_NAME: 'ignored' })
  assert.equal(c.name, 'infra2')
  assert.equal(c.dataDir, '/var/lib/etcd')
  assert.equal(c.initialCluster.size, 2)
  assert.equal(c.heartbeatIntervalMs, 50)
  writeFileSync(file, 'bogus-key: 1\n')
  refused(['--config-file', file], `config file ${file}: unknown key "bogus-key"`)
})

test("refusals carry etcd's texts", () => {
  refused(['--bogus'], 'flag provided but not defined: -bogus')
  refused(
    ['--listen-client-urls=foo'],
    'invalid value "foo" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: foo',
  )
  refused(['--snapshot-count=abc'], 'invalid value "abc" for flag -snapshot-count: parse error')
  refused(
    ['--initial-cluster-state=bad'],
    'invalid value "bad" for flag -initial-cluster-state: invalid value',
  )
  refused(
    ['--election-timeout=100'],
    '--election-timeout[100ms] should be at least as 5 times as --heartbeat-interval[100ms]',
  )
  refused(
    ['--initial-cluster=a=http://1.1.1.1:2380'],
    `couldn't find local name "default" in the initial cluster configuration`,
  )
  refused(['--name'], 'flag needs an argument: -name')
})

test('--version and --help stop parsing', () => {
  assert.equal(parseArgs(['--version'], {}).kind, 'version')
  assert.equal(parseArgs(['--help'], {}).kind, 'help')
})

test("lease checkpoints: on by default every 2 s; etcd 3.5's interval flag takes Go durations", () => {
  const c = run([])
  assert.equal(c.leaseCheckpoint, true)
  assert.equal(c.leaseCheckpointIntervalMs, 2000)
  const d = run([
    '--experimental-enable-lease-checkpoint=false',
    '--experimental-lease-checkpoint-interval=1m30.5s',
  ])
  assert.equal(d.leaseCheckpoint, false)
  assert.equal(d.leaseCheckpointIntervalMs, 90_500)
  assert.equal(
    run(['--experimental-lease-checkpoint-interval=250ms']).leaseCheckpointIntervalMs,
    250,
  )
  refused(
    ['--experimental-lease-checkpoint-interval=abc'],
    'invalid value "abc" for flag -experimental-lease-checkpoint-interval: parse error',
  )
  // etcd 3.4.23's words for a bad boolean.
  refused(
    ['--experimental-enable-lease-checkpoint=maybe'],
    'invalid boolean value "maybe" for -experimental-enable-lease-checkpoint: parse error',
  )
})
