// Unstable: the scenarios of etcd-io/raft log_unstable_test.go as table tests. Each row builds an
// Unstable in a given state, calls one method and checks the resulting cursors, entries and, where
// etcd logs, the exact log lines (the conformance transcripts compare them byte for byte).

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { LevelLogger, LogLevel, type Logger } from './logger.js'
import { Unstable } from './log-unstable.js'
import { emptyConfState, entry, type Entry, type Snapshot } from './raftpb/types.js'

function terms(first: number, ...ts: number[]): Entry[] {
  return ts.map((term, i) => entry({ term, index: first + i }))
}

function snap(index: number, term: number): Snapshot {
  return { data: new Uint8Array(), metadata: { confState: emptyConfState(), index, term } }
}

const levelNames = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']

/** A Logger that records "LEVEL message" lines. */
function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const logger = new LevelLogger(LogLevel.Debug, (level, message) => {
    lines.push(`${levelNames[level]} ${message}`)
  })
  return { logger, lines }
}

interface State {
  entries?: Entry[]
  offset?: number
  offsetInProgress?: number
  snapshot?: Snapshot | null
  snapshotInProgress?: boolean
}

/** An Unstable in an arbitrary state, like a Go struct literal. */
function unstable(state: State, logger: Logger = captureLogger().logger): Unstable {
  const u = new Unstable(state.offset ?? 0, logger)
  u.entries = state.entries ?? []
  u.offsetInProgress = state.offsetInProgress ?? u.offset
  u.snapshot = state.snapshot ?? null
  u.snapshotInProgress = state.snapshotInProgress ?? false
  return u
}

describe('Unstable', () => {
  it('maybeFirstIndex', () => {
    const table: [State, number | undefined][] = [
      // no snapshot
      [{ entries: terms(5, 1), offset: 5 }, undefined],
      [{ entries: [], offset: 0 }, undefined],
      // has snapshot
      [{ entries: terms(5, 1), offset: 5, snapshot: snap(4, 1) }, 5],
      [{ entries: [], offset: 5, snapshot: snap(4, 1) }, 5],
    ]
    for (const [state, want] of table) assert.equal(unstable(state).maybeFirstIndex(), want)
  })

  it('maybeLastIndex', () => {
    const table: [State, number | undefined][] = [
      // last in entries
      [{ entries: terms(5, 1), offset: 5 }, 5],
      [{ entries: terms(5, 1), offset: 5, snapshot: snap(4, 1) }, 5],
      // last in snapshot
      [{ entries: [], offset: 5, snapshot: snap(4, 1) }, 4],
      // empty unstable
      [{ entries: [], offset: 0 }, undefined],
    ]
    for (const [state, want] of table) assert.equal(unstable(state).maybeLastIndex(), want)
  })

  it('maybeTerm', () => {
    const table: [State, number, number | undefined][] = [
      // term from entries
      [{ entries: terms(5, 1), offset: 5 }, 5, 1],
      [{ entries: terms(5, 1), offset: 5 }, 6, undefined],
      [{ entries: terms(5, 1), offset: 5 }, 4, undefined],
      [{ entries: terms(5, 1), offset: 5, snapshot: snap(4, 1) }, 5, 1],
      [{ entries: terms(5, 1), offset: 5, snapshot: snap(4, 1) }, 6, undefined],
      // term from snapshot
      [{ entries: terms(5, 1), offset: 5, snapshot: snap(4, 1) }, 4, 1],
      [{ entries: terms(5, 1), offset: 5, snapshot: snap(4, 1) }, 3, undefined],
      [{ entries: [], offset: 5, snapshot: snap(4, 1) }, 5, undefined],
      [{ entries: [], offset: 5, snapshot: snap(4, 1) }, 4, 1],
      [{ entries: [], offset: 0 }, 5, undefined],
    ]
    for (const [state, index, want] of table) {
      assert.equal(unstable(state).maybeTerm(index), want, `maybeTerm(${index})`)
    }
  })

  it('restore', () => {
    const u = unstable({
      entries: terms(5, 1),
      offset: 5,
      offsetInProgress: 6,
      snapshot: snap(4, 1),
      snapshotInProgress: true,
    })
    const s = snap(6, 2)
    u.restore(s)
    assert.equal(u.offset, 7)
    assert.equal(u.offsetInProgress, 7)
    assert.equal(u.entries.length, 0)
    assert.deepEqual(u.snapshot, s)
    assert.equal(u.snapshotInProgress, false)
  })

  it('nextEntries', () => {
    const table: [State, Entry[]][] = [
      // nothing in progress
      [{ entries: terms(5, 1, 1), offset: 5, offsetInProgress: 5 }, terms(5, 1, 1)],
      // partially in progress
      [{ entries: terms(5, 1, 1), offset: 5, offsetInProgress: 6 }, terms(6, 1)],
      // everything in progress
      [{ entries: terms(5, 1, 1), offset: 5, offsetInProgress: 7 }, []],
    ]
    for (const [state, want] of table) assert.deepEqual(unstable(state).nextEntries(), want)
  })

  it('nextSnapshot', () => {
    const s = snap(4, 1)
    const table: [Snapshot | null, boolean, Snapshot | null][] = [
      // no unstable snapshot
      [null, false, null],
      // snapshot not in progress
      [s, false, s],
      // snapshot in progress
      [s, true, null],
    ]
    for (const [snapshot, snapshotInProgress, want] of table) {
      assert.deepEqual(unstable({ snapshot, snapshotInProgress }).nextSnapshot(), want)
    }
  })

  it('acceptInProgress', () => {
    const s = snap(4, 1)
    const table: [Entry[], Snapshot | null, number, boolean, number, boolean][] = [
      [[], null, 5, false, 5, false], // no entries
      [terms(5, 1), null, 5, false, 6, false], // entries not in progress
      [terms(5, 1, 1), null, 5, false, 7, false], // entries not in progress
      [terms(5, 1, 1), null, 6, false, 7, false], // in progress to the first entry
      [terms(5, 1, 1), null, 7, false, 7, false], // in progress to the second entry
      // with snapshot
      [[], s, 5, false, 5, true], // no entries
      [terms(5, 1), s, 5, false, 6, true], // entries not in progress
      [terms(5, 1, 1), s, 5, false, 7, true],
      [terms(5, 1, 1), s, 6, false, 7, true], // in progress to the first entry
      [terms(5, 1, 1), s, 7, false, 7, true], // in progress to the second entry
      // snapshot already in progress
      [[], s, 5, true, 5, true],
      [terms(5, 1), s, 5, true, 6, true],
      [terms(5, 1, 1), s, 5, true, 7, true],
      [terms(5, 1, 1), s, 6, true, 7, true],
      [terms(5, 1, 1), s, 7, true, 7, true],
    ]
    for (const [entries, snapshot, inProgress, snapInProgress, wOffset, wSnap] of table) {
      const u = unstable({
        entries,
        snapshot,
        offsetInProgress: inProgress,
        snapshotInProgress: snapInProgress,
      })
      u.acceptInProgress()
      assert.equal(u.offsetInProgress, wOffset)
      assert.equal(u.snapshotInProgress, wSnap)
    }
  })

  it('stableTo', () => {
    const missing = (i: number) => [`INFO entry at index ${i} missing from unstable log; ignoring`]
    const mismatch = (i: number, t: number, gt: number) => [
      `INFO entry at (index,term)=(${i},${t}) mismatched with entry at (${i},${gt}) in unstable log; ignoring`,
    ]
    const matchedSnap = (i: number) => [
      `INFO entry at index ${i} matched unstable snapshot; ignoring`,
    ]
    const table: {
      state: State
      index: number
      term: number
      want: [offset: number, offsetInProgress: number, len: number]
      log: string[]
    }[] = [
      { state: { offset: 0 }, index: 5, term: 1, want: [0, 0, 0], log: missing(5) },
      // stable to the first entry
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 6 },
        index: 5,
        term: 1,
        want: [6, 6, 0],
        log: [],
      },
      {
        state: { entries: terms(5, 1, 1), offset: 5, offsetInProgress: 6 },
        index: 5,
        term: 1,
        want: [6, 6, 1],
        log: [],
      },
      // stable to the first entry and in-progress ahead
      {
        state: { entries: terms(5, 1, 1), offset: 5, offsetInProgress: 7 },
        index: 5,
        term: 1,
        want: [6, 7, 1],
        log: [],
      },
      // stable to the first entry and term mismatch
      {
        state: { entries: terms(6, 2), offset: 6, offsetInProgress: 7 },
        index: 6,
        term: 1,
        want: [6, 7, 1],
        log: mismatch(6, 1, 2),
      },
      // stable to old entry
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 6 },
        index: 4,
        term: 1,
        want: [5, 6, 1],
        log: missing(4),
      },
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 6 },
        index: 4,
        term: 2,
        want: [5, 6, 1],
        log: missing(4),
      },
      // with snapshot: stable to the first entry
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 6, snapshot: snap(4, 1) },
        index: 5,
        term: 1,
        want: [6, 6, 0],
        log: [],
      },
      {
        state: { entries: terms(5, 1, 1), offset: 5, offsetInProgress: 6, snapshot: snap(4, 1) },
        index: 5,
        term: 1,
        want: [6, 6, 1],
        log: [],
      },
      // stable to the first entry and in-progress ahead
      {
        state: { entries: terms(5, 1, 1), offset: 5, offsetInProgress: 7, snapshot: snap(4, 1) },
        index: 5,
        term: 1,
        want: [6, 7, 1],
        log: [],
      },
      // stable to the first entry and term mismatch
      {
        state: { entries: terms(6, 2), offset: 6, offsetInProgress: 7, snapshot: snap(5, 1) },
        index: 6,
        term: 1,
        want: [6, 7, 1],
        log: mismatch(6, 1, 2),
      },
      // stable to snapshot
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 6, snapshot: snap(4, 1) },
        index: 4,
        term: 1,
        want: [5, 6, 1],
        log: matchedSnap(4),
      },
      // stable to old entry
      {
        state: { entries: terms(5, 2), offset: 5, offsetInProgress: 6, snapshot: snap(4, 2) },
        index: 4,
        term: 1,
        want: [5, 6, 1],
        log: matchedSnap(4),
      },
    ]
    for (const { state, index, term, want, log } of table) {
      const { logger, lines } = captureLogger()
      const u = unstable(state, logger)
      u.stableTo({ term, index })
      assert.deepEqual(
        [u.offset, u.offsetInProgress, u.entries.length],
        want,
        `stableTo(${index}, ${term})`,
      )
      assert.deepEqual(lines, log)
    }
  })

  it('stableSnapTo drops only the matching snapshot', () => {
    const u = unstable({ offset: 5, snapshot: snap(4, 1), snapshotInProgress: true })
    u.stableSnapTo(3)
    assert.notEqual(u.snapshot, null)
    u.stableSnapTo(4)
    assert.equal(u.snapshot, null)
    assert.equal(u.snapshotInProgress, false)
  })

  it('truncateAndAppend', () => {
    const replace = (i: number) => [`INFO replace the unstable entries from index ${i}`]
    const truncate = (i: number) => [`INFO truncate the unstable entries before index ${i}`]
    const table: {
      state: State
      append: Entry[]
      want: [offset: number, offsetInProgress: number]
      entries: Entry[]
      log: string[]
    }[] = [
      // append to the end
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 5 },
        append: terms(6, 1, 1),
        want: [5, 5],
        entries: terms(5, 1, 1, 1),
        log: [],
      },
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 6 },
        append: terms(6, 1, 1),
        want: [5, 6],
        entries: terms(5, 1, 1, 1),
        log: [],
      },
      // replace the unstable entries
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 5 },
        append: terms(5, 2, 2),
        want: [5, 5],
        entries: terms(5, 2, 2),
        log: replace(5),
      },
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 5 },
        append: terms(4, 2, 2, 2),
        want: [4, 4],
        entries: terms(4, 2, 2, 2),
        log: replace(4),
      },
      {
        state: { entries: terms(5, 1), offset: 5, offsetInProgress: 6 },
        append: terms(5, 2, 2),
        want: [5, 5],
        entries: terms(5, 2, 2),
        log: replace(5),
      },
      // truncate the existing entries and append
      {
        state: { entries: terms(5, 1, 1, 1), offset: 5, offsetInProgress: 5 },
        append: terms(6, 2),
        want: [5, 5],
        entries: terms(5, 1, 2),
        log: truncate(6),
      },
      {
        state: { entries: terms(5, 1, 1, 1), offset: 5, offsetInProgress: 5 },
        append: terms(7, 2, 2),
        want: [5, 5],
        entries: terms(5, 1, 1, 2, 2),
        log: truncate(7),
      },
      {
        state: { entries: terms(5, 1, 1, 1), offset: 5, offsetInProgress: 6 },
        append: terms(6, 2),
        want: [5, 6],
        entries: terms(5, 1, 2),
        log: truncate(6),
      },
      {
        state: { entries: terms(5, 1, 1, 1), offset: 5, offsetInProgress: 7 },
        append: terms(6, 2),
        want: [5, 6],
        entries: terms(5, 1, 2),
        log: truncate(6),
      },
    ]
    for (const { state, append, want, entries, log } of table) {
      const { logger, lines } = captureLogger()
      const u = unstable(state, logger)
      u.truncateAndAppend(append)
      assert.deepEqual([u.offset, u.offsetInProgress], want)
      assert.deepEqual(u.entries, entries)
      assert.deepEqual(lines, log)
    }
  })

  it('truncateAndAppend does not alias the caller array', () => {
    const u = unstable({ entries: terms(5, 1), offset: 5 })
    const replacement = terms(5, 2)
    u.truncateAndAppend(replacement)
    replacement.push(entry({ index: 6, term: 2 }))
    assert.equal(u.entries.length, 1)
  })

  it('truncateAndAppend adopts an owned array', () => {
    const u = unstable({ entries: [], offset: 5 })
    const owned = terms(5, 1)
    u.truncateAndAppend(owned, true)
    assert.equal(u.entries, owned)
  })

  it('nextEntries hands out the tail, which later appends do not change', () => {
    const u = unstable({ entries: [], offset: 5 })
    u.truncateAndAppend(terms(5, 1, 1))
    const out = u.nextEntries()
    assert.equal(out, u.entries) // the tail itself, not a copy
    u.truncateAndAppend(terms(7, 1))
    assert.deepEqual(out, terms(5, 1, 1))
    assert.deepEqual(u.entries, terms(5, 1, 1, 1))
    u.acceptInProgress()
    assert.equal(u.nextEntries().length, 0)
  })

  it('slice panics out of bounds', () => {
    const u = unstable({ entries: terms(5, 1, 1), offset: 5 })
    assert.deepEqual(u.slice(5, 7), terms(5, 1, 1))
    assert.throws(() => u.slice(6, 5), { message: 'invalid unstable.slice 6 > 5' })
    assert.throws(() => u.slice(4, 6), { message: 'unstable.slice[4,6) out of bound [5,7]' })
    assert.throws(() => u.slice(5, 8), { message: 'unstable.slice[5,8) out of bound [5,7]' })
  })
})
