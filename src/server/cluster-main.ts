#!/usr/bin/env node
/**
 * `npm run cluster`: a local three-member cluster, as etcd's Procfile starts one (infra1..3 on
 * 127.0.0.1, clients on 2379 / 22379 / 32379, peers on 12380 / 22380 / 32380, token
 * etcd-cluster-1), each member a `pontoon` process whose log lines are prefixed with its name.
 * Ctrl-C stops all three. Data dirs are infra1.pontoon .. infra3.pontoon in the working directory.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const main = fileURLToPath(new URL('./main.js', import.meta.url))
const members = [
  { name: 'infra1', client: 2379, peer: 12380 },
  { name: 'infra2', client: 22379, peer: 22380 },
  { name: 'infra3', client: 32379, peer: 32380 },
]
const cluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',')
const extra = process.argv.slice(2)

const children: ChildProcess[] = members.map((m) => {
  const child = spawn(
    process.execPath,
    [
      main,
      '--name',
      m.name,
      '--listen-client-urls',
      `http://127.0.0.1:${m.client}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${m.client}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${m.peer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${m.peer}`,
      '--initial-cluster-token',
      'etcd-cluster-1',
      '--initial-cluster',
      cluster,
      '--initial-cluster-state',
      'new',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      process.stdout.write(`${m.name.padEnd(7)}| ${line}\n`)
    })
  }
  child.on('exit', (code, signal) => {
    process.stdout.write(`${m.name.padEnd(7)}| exited (${signal ?? code})\n`)
  })
  return child
})

const stop = (): void => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
