/**
 * The differential engine from the command line, for exploring outside the test suite: a fresh
 * etcd 3.4 against a fresh server of the given kind, many runs, the shrunk report on failure.
 *
 *   npm run build && TEST_SEED=7 node dist/test-support/differential-cli.js --runs=500
 *   node dist/test-support/differential-cli.js --kind=etcd --size=3      (etcd against itself)
 *
 * Flags: --kind=pontoon|etcd (default pontoon), --entry=<path under dist/> (pontoon's entry,
 * default pontoonCommand()'s), --runs=N (default 200), --ops=N (longest sequence, default 25),
 * --size=N (members of the compared server, default 1). TEST_SEED picks the seed, as in tests.
 * Exits 1 with the report when the answers differ.
 */

import { differentialAgainstEtcd } from './differential.js'
import { pontoonCommand } from './procs.js'
import type { MemberKind } from './procs.js'
import { testSeed } from './seed.js'

function flag(name: string): string | undefined {
  const prefix = `--${name}=`
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length)
}

function intFlag(name: string, fallback: number): number {
  const v = flag(name)
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name}=${v}: a positive integer`)
  return n
}

const kind = (flag('kind') ?? 'pontoon') as MemberKind
if (kind !== 'pontoon' && kind !== 'etcd') throw new Error(`--kind=${kind}: pontoon or etcd`)
const entry = flag('entry')
const cleanups: (() => unknown)[] = []
const hooks = { name: 'differential-cli', after: (fn: () => unknown) => cleanups.push(fn) }
const started = Date.now()
try {
  await differentialAgainstEtcd(
    hooks,
    {
      kind,
      size: intFlag('size', 1),
      ...(entry === undefined ? {} : { command: pontoonCommand(entry) }),
    },
    { numRuns: intFlag('runs', 200), opsMax: intFlag('ops', 25) },
  )
  process.stdout.write(`etcd and ${kind} agreed (seed ${testSeed}, ${Date.now() - started} ms)\n`)
} catch (err) {
  process.stdout.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
