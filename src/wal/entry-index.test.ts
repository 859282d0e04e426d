// EntryIndex against a plain array model: seeded random puts (appends and overwrites of the tail,
// with term changes), location updates, compactions and resets, checking every term and location.

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { EntryIndex } from './entry-index.js'
import { mulberry32 } from './storage-suite.js'

it('EntryIndex: terms (kept as runs) and locations match a plain model', () => {
  const rand = mulberry32(7)
  const index = new EntryIndex()
  let offset = 0
  let model: { term: number; location: number }[] = [] // model[k] is entry offset + 1 + k
  let term = 1
  for (let step = 0; step < 20_000; step++) {
    const op = rand(100)
    const last = offset + model.length
    if (op < 70) {
      // Append, or overwrite from somewhere in the last few entries, sometimes in a new term.
      const i =
        model.length > 0 && rand(4) === 0 ? last + 1 - rand(Math.min(5, model.length)) : last + 1
      if (rand(8) === 0) term += 1 + rand(2)
      index.put(i, term, step)
      model = model.slice(0, i - offset - 1)
      model.push({ term, location: step })
    } else if (op < 85 && model.length > 0) {
      const i = offset + 1 + rand(model.length)
      index.setLocation(i, -step)
      ;(model[i - offset - 1] as { location: number }).location = -step
    } else if (op < 98 && model.length > 0) {
      const i = offset + rand(model.length + 1)
      const t = i === offset ? index.offsetTerm : (model[i - offset - 1] as { term: number }).term
      index.compactTo(i, t)
      model = model.slice(i - offset)
      offset = i
    } else {
      offset = last + 1 + rand(3)
      index.reset(offset, term)
      model = []
    }
    assert.equal(index.last(), offset + model.length)
    model.forEach((m, k) => {
      assert.equal(index.term(offset + 1 + k), m.term, `term of ${offset + 1 + k} at step ${step}`)
      assert.equal(index.location(offset + 1 + k), m.location)
    })
  }
})
