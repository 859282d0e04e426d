// Goal: every planted bug of src/sim/plants.ts is still caught by the simulator within its seed
// budget, by the checkers it names, and a plant whose text is gone fails loudly. Method: run each
// plant's copy of dist/ (src/sim/plant-runner.ts) over its window of seeds (from 1, or near its
// first catch when only rare seeds catch it), stopping at the first failure, two plants at a
// time; parse the failing seed and its violation from the CLI's report.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { runPlanted } from './plant-runner.js'
import { PLANTS, PlantError, applyEdit, findPlant, type Plant } from './plants.js'
import { slow } from '../../test-support/quick.js'

/** A planted copy that runs away is killed: the simulator's own bounds should stop it first. */
const TIMEOUT_MS = 120_000

describe('planted bugs', { concurrency: 2 }, () => {
  for (const plant of PLANTS) {
    const from = plant.from ?? 1
    const seeds = `${from}..${from + plant.budget - 1}`
    test(
      `${plant.name} is caught within seeds ${seeds}`,
      slow('simulator seeds with a planted bug'),
      async () => {
        const args = [`--seeds=${plant.budget}`, `--from=${from}`, '--stop-on-failure']
        const run = await runPlanted(plant, args, { capture: true, timeoutMs: TIMEOUT_MS })
        const report = `${plant.name}: exit ${run.status}\n${run.stdout}${run.stderr}`
        assert.notEqual(run.status, 0, `not caught in seeds ${seeds}\n${report}`)
        assert.equal(run.status, 1, report)
        const m = /^seed (\d+) FAILED at tick \d+: ([a-z-]+):/m.exec(run.stdout)
        assert.ok(m !== null, `no failing seed reported\n${report}`)
        const kind = m[2] as Plant['kinds'][number]
        assert.ok(
          plant.kinds.includes(kind),
          `seed ${m[1]} failed with ${kind}, not one of ${plant.kinds.join(', ')}\n${report}`,
        )
      },
    )
  }
})

test('a plant whose text is missing, or not unique, fails loudly', () => {
  const plant = findPlant('vote-twice')
  const edit = plant.edits[0]!
  assert.equal(applyEdit(plant, edit, `a ${edit.find} b`), `a ${edit.replace} b`)
  assert.throws(() => applyEdit(plant, edit, 'refactored away'), PlantError)
  assert.throws(() => applyEdit(plant, edit, `${edit.find} ${edit.find}`), PlantError)
  assert.throws(() => findPlant('no-such-plant'), PlantError)
})

test('plant names are unique and every plant has a budget and a kind', () => {
  assert.equal(new Set(PLANTS.map((p) => p.name)).size, PLANTS.length)
  for (const p of PLANTS) {
    assert.ok(p.budget > 0 && p.kinds.length > 0 && p.edits.length > 0, p.name)
  }
})
