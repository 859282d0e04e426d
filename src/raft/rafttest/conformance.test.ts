// Goal: Pontoon's Raft core (interaction/) and its quorum and confchange packages reproduce
// etcd-io/raft's data-driven files exactly, all 41 of them. Method: run each file through its handler and compare the rewrite
// with the original (the files live outside the repository, in ../shared).

import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { createConfChangeHandler } from './confchange-handler.js'
import type { Handler } from './datadriven.js'
import { runDataDriven } from './datadriven.js'
import { createInteractionHandler } from './interaction.js'
import { createQuorumHandler } from './quorum-handler.js'
import { realDeps } from './real-deps.js'

const conformanceDir = fileURLToPath(
  new URL('../../../../../shared/conformance/etcd-raft/', import.meta.url),
)

const suites: [string, () => Handler][] = [
  ['quorum', createQuorumHandler],
  ['confchange', createConfChangeHandler],
  ['interaction', () => createInteractionHandler(realDeps)],
]

for (const [dir, createHandler] of suites) {
  test(`etcd-raft ${dir} conformance files`, async (t) => {
    if (!existsSync(conformanceDir + dir)) {
      t.skip(`${conformanceDir}${dir} absent`)
      return
    }
    const names = readdirSync(conformanceDir + dir).filter((n) => n.endsWith('.txt'))
    assert.ok(names.length > 0)
    for (const name of names.sort()) {
      await t.test(name, () => {
        const text = readFileSync(`${conformanceDir}${dir}/${name}`, 'utf8')
        assert.equal(runDataDriven(text, createHandler(), name), text)
      })
    }
  })
}
