// Goal: Pontoon's Raft core (interaction/) and its quorum and confchange packages reproduce
// etcd-io/raft's data-driven files exactly, all 41 of them, and Pontoon's own transcripts of its
// deliberate divergences (src/raft/testdata, docs/divergence.md) hold byte for byte too.
// Method: run each file through the handler its folder names and compare the rewrite with the
// original. etcd-io/raft's files live outside the repository, in ../shared, and are never copied
// in: under CI their absence fails the run; elsewhere it skips with a message saying so.
// `REWRITE=1` rewrites Pontoon's own transcripts with the actual output (never etcd's files);
// keep a diff only if you can explain it.

import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test, type TestContext } from 'node:test'
import { createConfChangeHandler } from './confchange-handler.js'
import type { Handler } from './datadriven.js'
import { runDataDriven } from './datadriven.js'
import { createInteractionHandler } from './interaction.js'
import { createQuorumHandler } from './quorum-handler.js'
import { realDeps } from './real-deps.js'

const sharedDir = fileURLToPath(
  new URL('../../../../../shared/conformance/etcd-raft/', import.meta.url),
)
const ownDir = fileURLToPath(new URL('../../../../src/raft/testdata/', import.meta.url))

const handlers = new Map<string, () => Handler>([
  ['quorum', createQuorumHandler],
  ['confchange', createConfChangeHandler],
  ['interaction', () => createInteractionHandler(realDeps)],
])

/** CI services set CI (GitHub Actions, GitLab, CircleCI: "true"). */
export function underCi(env: NodeJS.ProcessEnv): boolean {
  const ci = env.CI
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0'
}

/** What a missing etcd-io/raft folder means: a failure under CI, else a skip that says why. */
export function missingShared(
  path: string,
  env: NodeJS.ProcessEnv,
): { fail: true; message: string } | { fail: false; message: string } {
  if (underCi(env)) {
    return {
      fail: true,
      message:
        `${path} is missing: CI must run etcd-io/raft's conformance files; ` +
        'check out the shared folder beside the project (../shared/conformance/etcd-raft)',
    }
  }
  return {
    fail: false,
    message: `${path} absent: etcd-io/raft's conformance files are not beside this checkout (CI fails here)`,
  }
}

async function runFolder(
  t: TestContext,
  dir: string,
  createHandler: () => Handler,
  rewrite: boolean,
): Promise<void> {
  const names = readdirSync(dir).filter((n) => n.endsWith('.txt'))
  assert.ok(names.length > 0, `no .txt files in ${dir}`)
  for (const name of names.sort()) {
    await t.test(name, () => {
      const text = readFileSync(dir + name, 'utf8')
      const actual = runDataDriven(text, createHandler(), name)
      if (rewrite && actual !== text) writeFileSync(dir + name, actual)
      else assert.equal(actual, text)
    })
  }
}

for (const [dir, createHandler] of handlers) {
  test(`etcd-raft ${dir} conformance files`, async (t) => {
    const path = sharedDir + dir
    if (!existsSync(path)) {
      const missing = missingShared(path, process.env)
      if (missing.fail) assert.fail(missing.message)
      t.skip(missing.message)
      return
    }
    await runFolder(t, path + '/', createHandler, false)
  })
}

test("Pontoon's own transcripts (src/raft/testdata)", async (t) => {
  const dirs = readdirSync(ownDir).sort()
  assert.ok(dirs.includes('interaction'), `${ownDir}interaction is missing`)
  for (const dir of dirs) {
    const createHandler = handlers.get(dir)
    assert.ok(createHandler !== undefined, `no handler for ${ownDir}${dir}/`)
    await t.test(dir, (t) =>
      runFolder(t, `${ownDir}${dir}/`, createHandler, process.env.REWRITE === '1'),
    )
  }
})

test('a missing etcd-io/raft folder fails under CI and is skipped, saying why, elsewhere', () => {
  const path = '/nowhere/etcd-raft/interaction'
  for (const CI of ['true', '1', 'yes']) {
    const r = missingShared(path, { CI })
    assert.equal(r.fail, true, `CI=${CI}`)
    assert.match(r.message, /is missing: CI must run etcd-io\/raft's conformance files/)
  }
  for (const CI of [undefined, '', 'false', '0']) {
    const r = missingShared(path, CI === undefined ? {} : { CI })
    assert.equal(r.fail, false, `CI=${CI}`)
    assert.match(
      r.message,
      /^\/nowhere\/etcd-raft\/interaction absent: .* not beside this checkout/,
    )
  }
})
