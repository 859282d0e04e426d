// EntryIndex against a plain model of the WAL's record stream: seeded random puts (appends and
// overwrites of the tail, with term changes and entries large enough to cross the byte stride),
// writes reported in chunks, compactions (which move the first checkpoint up) and resets. After each step, every term and written flag
// is checked, and for every entry a seek is followed through the model stream: from the
// checkpoint's record to the end of its run, the entry records must be exactly the live records
// of consecutive indexes, which is what lets WalStorage read entries back by scanning forward.

import assert from 'node:assert/strict'
import { it } from 'node:test'

import { CHECKPOINT_BYTES, EntryIndex, UNWRITTEN } from './entry-index.js'
import { mulberry32 } from '../../test-support/storage-suite.js'
import { seedFor } from '../../test-support/seed.js'

/** One put, in put order: the WAL writes records in this order, stream[k] at location 10 * k. */
interface Put {
  index: number
  term: number
}

it('EntryIndex: terms, written flags and seeks match a model of the record stream', (t) => {
  const rand = mulberry32(seedFor(t))
  const index = new EntryIndex()
  const stream: Put[] = []
  let written = 0
  let offset = 0
  // live[i] is the ordinal (stream position) of entry i's live record, compacted ones included.
  let live = new Map<number, number>()
  let last = 0
  let term = 1
  for (let step = 0; step < 6_000; step++) {
    const op = rand(100)
    if (op < 60) {
      // Append 1..100 entries, or overwrite from somewhere in the last few, maybe in a new term.
      const overwrite = last > offset && rand(4) === 0
      let i = overwrite ? last + 1 - (1 + rand(Math.min(5, last - offset))) : last + 1
      if (rand(8) === 0) term += 1 + rand(2)
      for (let n = 1 + rand(100); n > 0; n--, i++) {
        const bytes = rand(20) === 0 ? CHECKPOINT_BYTES : 1 + rand(400)
        index.put(i, term, bytes)
        for (let j = i; j <= last; j++) live.delete(j)
        live.set(i, stream.length)
        stream.push({ index: i, term })
        last = i
      }
    } else if (op < 85) {
      const n = rand(stream.length - written + 1)
      const chunk = stream.slice(written, written + n)
      index.written(
        chunk,
        chunk.map((_, k) => 10 * (written + k)),
      )
      written += n
    } else if (op < 98 && last > offset) {
      const i = offset + rand(last - offset + 1)
      const t = i === offset ? index.offsetTerm : (stream[live.get(i) as number] as Put).term
      // Entry i + 1 becomes the first checkpoint: WalStorage reads its location, the model knows.
      const next = live.get(i + 1)
      const anchor = i < last && next !== undefined && next < written && !index.isCheckpoint(i + 1)
      index.compactTo(i, t, anchor ? 10 * next : UNWRITTEN)
      offset = i
    } else {
      offset = last + 1 + rand(3)
      last = offset
      index.reset(offset, term)
      live = new Map()
    }
    check(index, { stream, written, offset, last, live }, step)
  }
})

function check(
  index: EntryIndex,
  m: { stream: Put[]; written: number; offset: number; last: number; live: Map<number, number> },
  step: number,
): void {
  assert.equal(index.last(), m.last)
  assert.equal(index.offset, m.offset)
  for (let i = m.offset + 1; i <= m.last; i++) {
    const ordinal = m.live.get(i) as number
    assert.equal(index.term(i), (m.stream[ordinal] as Put).term, `term of ${i} at step ${step}`)
    assert.equal(index.isWritten(i), ordinal < m.written, `written ${i} at step ${step}`)
  }
  // Seeks from a few entries (each one is too slow) over ranges up to the end.
  for (let i = m.offset + 1; i <= m.last; i += 1 + ((i * 7) % 13)) {
    const hi = Math.min(m.last + 1, i + 1 + ((i * 31) % 200))
    const seek = index.seek(i, hi)
    assert.ok(seek.index <= i && i < seek.end && seek.end <= hi, `seek(${i}) at step ${step}`)
    if ((m.live.get(i) as number) >= m.written) continue // not written: read from the cache
    assert.notEqual(seek.location, UNWRITTEN, `seek(${i}) at step ${step}`)
    // The stream from the checkpoint's record on holds the run's live records, one after another.
    const from = seek.location / 10
    for (let j = seek.index; j < seek.end; j++) {
      const ordinal = from + j - seek.index
      assert.equal((m.stream[ordinal] as Put).index, j, `scan for ${i} at step ${step}`)
      assert.equal(m.live.get(j), ordinal, `record of ${j} is live, scan for ${i} step ${step}`)
    }
  }
}
