// RaftLog: the scenarios of etcd-io/raft log_test.go as table tests, over a MemoryStorage. Rows
// that expect a Go panic expect a throw here; log lines the conformance transcripts depend on
// (conflicts, restores, out-of-range commits) are checked with a capturing Logger.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { RaftError, type RaftErrorCode } from './errors.js'
import { LevelLogger, LogLevel, discardLogger, type Logger } from './logger.js'
import { RaftLog } from './raft-log.js'
import { emptyConfState, entry, type Entry, type Snapshot } from './raftpb/types.js'
import { entrySize, entsSize } from './size.js'
import { MemoryStorage } from './storage.js'
import { LogSlice, pbEntryID, type EntryID } from './types.js'
import { errorCode } from './rafttest/network.js'

/** Entries at consecutive indexes from `first`, with the given terms (Go's index(i).terms()). */
function terms(first: number, ...ts: number[]): Entry[] {
  return ts.map((term, i) => entry({ term, index: first + i }))
}

/** Entries at consecutive indexes from `first`, with consecutive terms in [from, to). */
function termRange(first: number, from: number, to: number): Entry[] {
  const ents: Entry[] = []
  for (let term = from; term < to; term++) ents.push(entry({ term, index: first + term - from }))
  return ents
}

function snap(index: number, term: number): Snapshot {
  return { data: new Uint8Array(), metadata: { confState: emptyConfState(), index, term } }
}

function id(term: number, index: number): EntryID {
  return { term, index }
}

const levelNames = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']

function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const logger = new LevelLogger(LogLevel.Debug, (level, message) => {
    lines.push(`${levelNames[level]} ${message}`)
  })
  return { logger, lines }
}

/** A panic is a throw that is not a RaftError (logger.panic, assert). */
function panics(fn: () => unknown): boolean {
  try {
    fn()
    return false
  } catch (err) {
    if (err instanceof RaftError) throw err
    return true
  }
}

function newLogWith(ents: Entry[], logger: Logger = discardLogger): RaftLog {
  const log = RaftLog.newLog(new MemoryStorage(), logger)
  log.append(ents)
  return log
}

describe('RaftLog', () => {
  it('findConflict', () => {
    const table: [Entry[], number][] = [
      // no conflict, empty ent
      [[], 0],
      // no conflict
      [terms(1, 1, 2, 3), 0],
      [terms(2, 2, 3), 0],
      [terms(3, 3), 0],
      // no conflict, but has new entries
      [terms(1, 1, 2, 3, 4, 4), 4],
      [terms(2, 2, 3, 4, 5), 4],
      [terms(3, 3, 4, 4), 4],
      [terms(4, 4, 4), 4],
      // conflicts with existing entries
      [terms(1, 4, 4), 1],
      [terms(2, 1, 4, 4), 2],
      [terms(3, 1, 2, 4, 4), 3],
    ]
    for (const [ents, want] of table) {
      assert.equal(newLogWith(terms(1, 1, 2, 3)).findConflict(ents), want)
    }
  })

  it('findConflict logs a conflict inside the log', () => {
    const { logger, lines } = captureLogger()
    const log = newLogWith(terms(1, 1, 2, 3), logger)
    lines.length = 0
    log.findConflict(terms(2, 2, 4))
    log.findConflict(terms(4, 4))
    assert.deepEqual(lines, [
      'INFO found conflict at index 3 [existing term: 3, conflicting term: 4]',
    ])
  })

  it('findConflictByTerm', () => {
    const table: [Entry[], number, number, number][] = [
      // Log starts from index 1.
      [terms(0, 0, 2, 2, 5, 5, 5), 100, 2, 100], // unavailable
      [terms(0, 0, 2, 2, 5, 5, 5), 5, 6, 5],
      [terms(0, 0, 2, 2, 5, 5, 5), 5, 5, 5],
      [terms(0, 0, 2, 2, 5, 5, 5), 5, 4, 2],
      [terms(0, 0, 2, 2, 5, 5, 5), 5, 2, 2],
      [terms(0, 0, 2, 2, 5, 5, 5), 5, 1, 0],
      [terms(0, 0, 2, 2, 5, 5, 5), 1, 2, 1],
      [terms(0, 0, 2, 2, 5, 5, 5), 1, 1, 0],
      [terms(0, 0, 2, 2, 5, 5, 5), 0, 0, 0],
      // Log with compacted entries.
      [terms(10, 3, 3, 3, 4, 4, 4), 30, 3, 30], // unavailable
      [terms(10, 3, 3, 3, 4, 4, 4), 14, 9, 14],
      [terms(10, 3, 3, 3, 4, 4, 4), 14, 4, 14],
      [terms(10, 3, 3, 3, 4, 4, 4), 14, 3, 12],
      [terms(10, 3, 3, 3, 4, 4, 4), 14, 2, 9],
      [terms(10, 3, 3, 3, 4, 4, 4), 11, 5, 11],
      [terms(10, 3, 3, 3, 4, 4, 4), 10, 5, 10],
      [terms(10, 3, 3, 3, 4, 4, 4), 10, 3, 10],
      [terms(10, 3, 3, 3, 4, 4, 4), 10, 2, 9],
      [terms(10, 3, 3, 3, 4, 4, 4), 9, 2, 9], // compacted
      [terms(10, 3, 3, 3, 4, 4, 4), 4, 2, 4], // compacted
      [terms(10, 3, 3, 3, 4, 4, 4), 0, 0, 0], // compacted
    ]
    for (const [ents, index, term, want] of table) {
      const st = new MemoryStorage()
      const first = ents[0] as Entry
      st.applySnapshot(snap(first.index, first.term))
      const log = RaftLog.newLog(st, discardLogger)
      log.append(ents.slice(1))
      const got = log.findConflictByTerm(index, term)
      assert.equal(got.index, want, `findConflictByTerm(${index}, ${term})`)
      assert.equal(got.term, log.zeroTermOnOutOfBounds(want))
    }
  })

  it('isUpToDate', () => {
    const log = newLogWith(terms(1, 1, 2, 3))
    const last = log.lastIndex()
    const table: [number, number, boolean][] = [
      // greater term, ignore lastIndex
      [last - 1, 4, true],
      [last, 4, true],
      [last + 1, 4, true],
      // smaller term, ignore lastIndex
      [last - 1, 2, false],
      [last, 2, false],
      [last + 1, 2, false],
      // equal term, equal or larger lastIndex wins
      [last - 1, 3, false],
      [last, 3, true],
      [last + 1, 3, true],
    ]
    for (const [index, term, want] of table) assert.equal(log.isUpToDate(id(term, index)), want)
  })

  it('append', () => {
    const table: [Entry[], number, Entry[], number][] = [
      [[], 2, terms(1, 1, 2), 3],
      [terms(3, 2), 3, terms(1, 1, 2, 2), 3],
      // conflicts with index 1
      [terms(1, 2), 1, terms(1, 2), 1],
      // conflicts with index 2
      [terms(2, 3, 3), 3, terms(1, 1, 3, 3), 2],
    ]
    for (const [ents, windex, wents, wunstable] of table) {
      const storage = new MemoryStorage()
      storage.append(terms(1, 1, 2))
      const log = RaftLog.newLog(storage, discardLogger)
      assert.equal(log.append(ents), windex)
      assert.deepEqual(log.entries(1, Infinity), wents)
      assert.equal(log.unstable.offset, wunstable)
    }
  })

  it('maybeAppend', () => {
    const [lastIndex, lastTerm, commit] = [3, 3, 1]
    const table: {
      prev: EntryID
      committed: number
      ents: Entry[]
      want: number | undefined
      wcommit: number
      wpanic?: boolean
    }[] = [
      // not match: term is different
      {
        prev: id(lastTerm - 1, lastIndex),
        committed: lastIndex,
        ents: terms(lastIndex + 1, 4),
        want: undefined,
        wcommit: commit,
      },
      // not match: index out of bound
      {
        prev: id(lastTerm, lastIndex + 1),
        committed: lastIndex,
        ents: terms(lastIndex + 2, 4),
        want: undefined,
        wcommit: commit,
      },
      // match with the last existing entry
      {
        prev: id(lastTerm, lastIndex),
        committed: lastIndex,
        ents: [],
        want: lastIndex,
        wcommit: lastIndex,
      },
      // do not increase commit higher than lastnewi
      {
        prev: id(lastTerm, lastIndex),
        committed: lastIndex + 1,
        ents: [],
        want: lastIndex,
        wcommit: lastIndex,
      },
      // commit up to the commit in the message
      {
        prev: id(lastTerm, lastIndex),
        committed: lastIndex - 1,
        ents: [],
        want: lastIndex,
        wcommit: lastIndex - 1,
      },
      // commit does not decrease
      { prev: id(lastTerm, lastIndex), committed: 0, ents: [], want: lastIndex, wcommit: commit },
      { prev: id(0, 0), committed: lastIndex, ents: [], want: 0, wcommit: commit },
      {
        prev: id(lastTerm, lastIndex),
        committed: lastIndex,
        ents: terms(lastIndex + 1, 4),
        want: lastIndex + 1,
        wcommit: lastIndex,
      },
      {
        prev: id(lastTerm, lastIndex),
        committed: lastIndex + 1,
        ents: terms(lastIndex + 1, 4),
        want: lastIndex + 1,
        wcommit: lastIndex + 1,
      },
      // do not increase commit higher than lastnewi
      {
        prev: id(lastTerm, lastIndex),
        committed: lastIndex + 2,
        ents: terms(lastIndex + 1, 4),
        want: lastIndex + 1,
        wcommit: lastIndex + 1,
      },
      {
        prev: id(lastTerm, lastIndex),
        committed: lastIndex + 2,
        ents: terms(lastIndex + 1, 4, 4),
        want: lastIndex + 2,
        wcommit: lastIndex + 2,
      },
      // match with the entry in the middle
      {
        prev: id(lastTerm - 1, lastIndex - 1),
        committed: lastIndex,
        ents: terms(lastIndex, 4),
        want: lastIndex,
        wcommit: lastIndex,
      },
      {
        prev: id(lastTerm - 2, lastIndex - 2),
        committed: lastIndex,
        ents: terms(lastIndex - 1, 4),
        want: lastIndex - 1,
        wcommit: lastIndex - 1,
      },
      // conflict with existing committed entry
      {
        prev: id(lastTerm - 3, lastIndex - 3),
        committed: lastIndex,
        ents: terms(lastIndex - 2, 4),
        want: lastIndex - 2,
        wcommit: lastIndex - 2,
        wpanic: true,
      },
      {
        prev: id(lastTerm - 2, lastIndex - 2),
        committed: lastIndex,
        ents: terms(lastIndex - 1, 4, 4),
        want: lastIndex,
        wcommit: lastIndex,
      },
    ]
    for (const { prev, committed, ents, want, wcommit, wpanic } of table) {
      // A high enough leader term makes every row a valid append.
      const a = new LogSlice(100, prev, ents)
      assert.equal(a.valid(), null)
      const log = newLogWith(terms(1, 1, 2, 3))
      log.committed = commit
      if (wpanic === true) {
        assert.throws(() => log.maybeAppend(a, committed), {
          message: 'entry 1 conflict with committed entry [committed(1)]',
        })
        continue
      }
      assert.equal(log.maybeAppend(a, committed), want)
      assert.equal(log.committed, wcommit)
      if (want !== undefined && ents.length !== 0) {
        const last = log.lastIndex()
        assert.deepEqual(log.slice(last - ents.length + 1, last + 1, Infinity), ents)
      }
    }
  })

  it('compaction side effects', () => {
    // 750 entries in stable storage and 250 unstable.
    const [lastIndex, unstableIndex] = [1000, 750]
    const storage = new MemoryStorage()
    storage.append(termRange(1, 1, unstableIndex + 1))
    const log = RaftLog.newLog(storage, discardLogger)
    log.append(termRange(unstableIndex + 1, unstableIndex + 1, lastIndex + 1))

    assert.equal(log.maybeCommit(log.lastEntryID()), true)
    log.appliedTo(log.committed, 0)

    const offset = 500
    storage.compact(offset)
    assert.equal(log.lastIndex(), lastIndex)
    for (let j = offset; j <= log.lastIndex(); j++) {
      assert.equal(log.term(j), j)
      assert.equal(log.matchTerm(id(j, j)), true)
    }

    const unstableEnts = log.nextUnstableEnts()
    assert.equal(unstableEnts.length, 250)
    assert.equal(unstableEnts[0]?.index, 751)

    const prev = log.lastIndex()
    log.append([entry({ index: prev + 1, term: prev + 1 })])
    assert.equal(log.lastIndex(), prev + 1)
    assert.equal(log.entries(log.lastIndex(), Infinity).length, 1)
  })

  // The log of the committed-entries tests: snapshot at 3, entry 4 stable, 5 and 6 unstable,
  // committed up to 5.
  function appliableLog(maxSize = Infinity): RaftLog {
    const ents = terms(4, 1, 1, 1)
    const storage = new MemoryStorage()
    storage.applySnapshot(snap(3, 1))
    storage.append(ents.slice(0, 1))
    const log = RaftLog.newLogWithSize(storage, discardLogger, maxSize)
    log.append(ents)
    log.stableTo(id(1, 4))
    log.maybeCommit(id(1, 5))
    return log
  }

  interface ApplyRow {
    applied: number
    applying: number
    allowUnstable: boolean
    paused?: boolean
    snap?: boolean
  }
  const applyRows: [ApplyRow, Entry[]][] = [
    [{ applied: 3, applying: 3, allowUnstable: true }, terms(4, 1, 1)],
    [{ applied: 3, applying: 4, allowUnstable: true }, terms(5, 1)],
    [{ applied: 3, applying: 5, allowUnstable: true }, []],
    [{ applied: 4, applying: 4, allowUnstable: true }, terms(5, 1)],
    [{ applied: 4, applying: 5, allowUnstable: true }, []],
    [{ applied: 5, applying: 5, allowUnstable: true }, []],
    // Don't allow unstable entries.
    [{ applied: 3, applying: 3, allowUnstable: false }, terms(4, 1)],
    [{ applied: 3, applying: 4, allowUnstable: false }, []],
    [{ applied: 3, applying: 5, allowUnstable: false }, []],
    [{ applied: 4, applying: 4, allowUnstable: false }, []],
    [{ applied: 4, applying: 5, allowUnstable: false }, []],
    [{ applied: 5, applying: 5, allowUnstable: false }, []],
    // Paused.
    [{ applied: 3, applying: 3, allowUnstable: true, paused: true }, []],
    // With snapshot.
    [{ applied: 3, applying: 3, allowUnstable: true, snap: true }, []],
  ]

  function applyState(row: ApplyRow): RaftLog {
    const log = appliableLog()
    log.appliedTo(row.applied, 0)
    log.acceptApplying(row.applying, 0, row.allowUnstable)
    log.applyingEntsPaused = row.paused ?? false
    if (row.snap === true) log.restore(snap(4, 1))
    return log
  }

  it('hasNextCommittedEnts', () => {
    for (const [row, wents] of applyRows) {
      const log = applyState(row)
      assert.equal(
        log.hasNextCommittedEnts(row.allowUnstable),
        wents.length > 0,
        JSON.stringify(row),
      )
    }
  })

  it('nextCommittedEnts', () => {
    for (const [row, wents] of applyRows) {
      const log = applyState(row)
      assert.deepEqual(log.nextCommittedEnts(row.allowUnstable), wents, JSON.stringify(row))
    }
  })

  it('acceptApplying', () => {
    const maxSize = 100
    const table: [number, boolean, number, boolean][] = [
      [3, true, maxSize - 1, true],
      [3, true, maxSize, true],
      [3, true, maxSize + 1, true],
      [4, true, maxSize - 1, true],
      [4, true, maxSize, true],
      [4, true, maxSize + 1, true],
      [5, true, maxSize - 1, false],
      [5, true, maxSize, true],
      [5, true, maxSize + 1, true],
      // Don't allow unstable entries.
      [3, false, maxSize - 1, true],
      [3, false, maxSize, true],
      [3, false, maxSize + 1, true],
      [4, false, maxSize - 1, false],
      [4, false, maxSize, true],
      [4, false, maxSize + 1, true],
      [5, false, maxSize - 1, false],
      [5, false, maxSize, true],
      [5, false, maxSize + 1, true],
    ]
    for (const [index, allowUnstable, size, wpaused] of table) {
      const log = appliableLog(maxSize)
      log.appliedTo(3, 0)
      log.acceptApplying(index, size, allowUnstable)
      assert.equal(
        log.applyingEntsPaused,
        wpaused,
        `acceptApplying(${index}, ${size}, ${allowUnstable})`,
      )
    }
  })

  it('appliedTo', () => {
    const [maxSize, overshoot] = [100, 5]
    const table: [number, number, number, boolean][] = [
      // Apply some of the in-progress entries (applying = 5 below).
      [4, overshoot - 1, maxSize + 1, true],
      [4, overshoot, maxSize, true],
      [4, overshoot + 1, maxSize - 1, false],
      // Apply all of the in-progress entries.
      [5, overshoot - 1, maxSize + 1, true],
      [5, overshoot, maxSize, true],
      [5, overshoot + 1, maxSize - 1, false],
      // Apply all of the outstanding bytes.
      [4, maxSize + overshoot, 0, false],
      // Apply more than the outstanding bytes: the accounting does not underflow.
      [4, maxSize + overshoot + 1, 0, false],
    ]
    for (const [index, size, wapplyingSize, wpaused] of table) {
      const log = appliableLog(maxSize)
      log.appliedTo(3, 0)
      log.acceptApplying(5, maxSize + overshoot, false)
      log.appliedTo(index, size)
      assert.equal(log.applied, index)
      assert.equal(log.applying, 5)
      assert.equal(log.applyingEntsSize, wapplyingSize)
      assert.equal(log.applyingEntsPaused, wpaused)
    }
  })

  it('appliedTo and acceptApplying panic out of range', () => {
    const log = appliableLog()
    assert.throws(() => log.appliedTo(6, 0), {
      message: 'applied(6) is out of range [prevApplied(3), committed(5)]',
    })
    assert.throws(() => log.acceptApplying(6, 0, true), {
      message: 'applying(6) is out of range [prevApplying(3), committed(5)]',
    })
  })

  it('nextUnstableEnts', () => {
    const previous = terms(1, 1, 2)
    const table: [number, Entry[]][] = [
      [3, []],
      [1, previous],
    ]
    for (const [unstable, wents] of table) {
      // Entries before `unstable` are stable, the rest unstable.
      const storage = new MemoryStorage()
      storage.append(previous.slice(0, unstable - 1))
      const log = RaftLog.newLog(storage, discardLogger)
      log.append(previous.slice(unstable - 1))

      const ents = log.nextUnstableEnts()
      const last = ents[ents.length - 1]
      if (last !== undefined) log.stableTo(pbEntryID(last))
      assert.deepEqual(ents, wents)
      assert.equal(log.unstable.offset, 3)
    }
  })

  it('commitTo', () => {
    const table: [number, number][] = [
      [3, 3],
      [1, 2], // never decrease
    ]
    for (const [commit, wcommit] of table) {
      const log = newLogWith(terms(1, 1, 2, 3))
      log.committed = 2
      log.commitTo(commit)
      assert.equal(log.committed, wcommit)
    }
  })

  it('commitTo past the last index is fatal and commits nothing', () => {
    const log = newLogWith(terms(1, 1, 2, 3))
    log.committed = 2
    assert.throws(
      () => log.commitTo(4),
      /tocommit\(4\) is out of range \[lastIndex\(3\)\]\. Was the raft log corrupted, truncated, or lost\?/,
    )
    assert.equal(log.committed, 2)
  })

  it('stableTo', () => {
    const table: [number, number, number][] = [
      [1, 1, 2],
      [2, 2, 3],
      [2, 1, 1], // bad term
      [3, 1, 1], // bad index
    ]
    for (const [index, term, wunstable] of table) {
      const log = newLogWith(terms(1, 1, 2))
      log.stableTo(id(term, index))
      assert.equal(log.unstable.offset, wunstable)
    }
  })

  it('stableTo with a snapshot', () => {
    const [snapi, snapt] = [5, 2]
    const table: [number, number, Entry[], number][] = [
      [snapi + 1, snapt, [], snapi + 1],
      [snapi, snapt, [], snapi + 1],
      [snapi - 1, snapt, [], snapi + 1],

      [snapi + 1, snapt + 1, [], snapi + 1],
      [snapi, snapt + 1, [], snapi + 1],
      [snapi - 1, snapt + 1, [], snapi + 1],

      [snapi + 1, snapt, terms(snapi + 1, snapt), snapi + 2],
      [snapi, snapt, terms(snapi + 1, snapt), snapi + 1],
      [snapi - 1, snapt, terms(snapi + 1, snapt), snapi + 1],

      [snapi + 1, snapt + 1, terms(snapi + 1, snapt), snapi + 1],
      [snapi, snapt + 1, terms(snapi + 1, snapt), snapi + 1],
      [snapi - 1, snapt + 1, terms(snapi + 1, snapt), snapi + 1],
    ]
    for (const [index, term, newEnts, wunstable] of table) {
      const s = new MemoryStorage()
      s.applySnapshot(snap(snapi, snapt))
      const log = RaftLog.newLog(s, discardLogger)
      log.append(newEnts)
      log.stableTo(id(term, index))
      assert.equal(log.unstable.offset, wunstable)
    }
  })

  it('compaction', () => {
    const table: [number, number[], number[], boolean][] = [
      // out of upper bound
      [1000, [1001], [-1], false],
      [1000, [300, 500, 800, 900], [700, 500, 200, 100], true],
      // out of lower bound
      [1000, [300, 299], [700, -1], false],
    ]
    for (const [lastIndex, compact, wleft, wallow] of table) {
      const storage = new MemoryStorage()
      storage.append(termRange(1, 1, lastIndex + 1))
      const log = RaftLog.newLog(storage, discardLogger)
      log.maybeCommit(id(0, lastIndex)) // term 0 never commits: a no-op, as in etcd
      log.appliedTo(log.committed, 0)
      const run = () => {
        compact.forEach((index, j) => {
          if (errorCode(() => storage.compact(index)) !== null) {
            assert.equal(wallow, false)
            return
          }
          assert.equal(log.allEntries().length, wleft[j])
        })
      }
      if (panics(run)) assert.equal(wallow, false)
    }
  })

  it('restore from storage', () => {
    const [index, term] = [1000, 1000]
    const storage = new MemoryStorage()
    storage.applySnapshot(snap(index, term))
    const log = RaftLog.newLog(storage, discardLogger)

    assert.equal(log.allEntries().length, 0)
    assert.equal(log.firstIndex(), index + 1)
    assert.equal(log.committed, index)
    assert.equal(log.unstable.offset, index + 1)
    assert.equal(log.term(index), term)
  })

  it('restore logs and moves committed', () => {
    const { logger, lines } = captureLogger()
    const log = newLogWith(terms(1, 1, 1), logger)
    lines.length = 0
    log.restore(snap(11, 1))
    assert.deepEqual(lines, [
      'INFO log [committed=0, applied=0, applying=0, unstable.offset=1, unstable.offsetInProgress=1, ' +
        'len(unstable.Entries)=2] starts to restore snapshot [index: 11, term: 1]',
    ])
    assert.equal(log.committed, 11)
    assert.equal(log.lastIndex(), 11)
    assert.equal(log.hasNextUnstableSnapshot(), true)
  })

  it('mustCheckOutOfBounds', () => {
    const [offset, num] = [100, 100]
    const storage = new MemoryStorage()
    storage.applySnapshot(snap(offset, 0))
    const log = RaftLog.newLog(storage, discardLogger)
    log.append(termRange(offset + 1, offset + 1, offset + num + 1))

    const first = offset + 1
    const table: [number, number, boolean, boolean][] = [
      [first - 2, first + 1, false, true],
      [first - 1, first + 1, false, true],
      [first, first, false, false],
      [first + num / 2, first + num / 2, false, false],
      [first + num - 1, first + num - 1, false, false],
      [first + num, first + num, false, false],
      [first + num, first + num + 1, true, false],
      [first + num + 1, first + num + 1, true, false],
    ]
    for (const [lo, hi, wpanic, wcompacted] of table) {
      let code: RaftErrorCode | null = null
      assert.equal(
        panics(() => (code = errorCode(() => log.mustCheckOutOfBounds(lo, hi)))),
        wpanic,
      )
      if (!wpanic) assert.equal(code, wcompacted ? 'COMPACTED' : null)
    }
  })

  it('term', () => {
    const [offset, num] = [100, 100]
    const storage = new MemoryStorage()
    storage.applySnapshot(snap(offset, 1))
    const log = RaftLog.newLog(storage, discardLogger)
    log.append(termRange(offset + 1, 1, num))

    const table: [number, number, RaftErrorCode | null][] = [
      [offset - 1, 0, 'COMPACTED'],
      [offset, 1, null],
      [offset + num / 2, num / 2, null],
      [offset + num - 1, num - 1, null],
      [offset + num, 0, 'UNAVAILABLE'],
    ]
    for (const [index, wterm, werr] of table) {
      let term = 0
      assert.equal(
        errorCode(() => (term = log.term(index))),
        werr,
      )
      assert.equal(term, wterm)
      assert.equal(log.zeroTermOnOutOfBounds(index), wterm)
    }
  })

  it('term with an unstable snapshot', () => {
    const storagesnapi = 100
    const unstablesnapi = storagesnapi + 5
    const storage = new MemoryStorage()
    storage.applySnapshot(snap(storagesnapi, 1))
    const log = RaftLog.newLog(storage, discardLogger)
    log.restore(snap(unstablesnapi, 1))

    const table: [number, number, RaftErrorCode | null][] = [
      // cannot get term from storage
      [storagesnapi, 0, 'COMPACTED'],
      // cannot get term from the gap between storage entries and the unstable snapshot
      [storagesnapi + 1, 0, 'COMPACTED'],
      [unstablesnapi - 1, 0, 'COMPACTED'],
      // get term from the unstable snapshot index
      [unstablesnapi, 1, null],
      // the log beyond the unstable snapshot is empty
      [unstablesnapi + 1, 0, 'UNAVAILABLE'],
    ]
    for (const [index, wterm, werr] of table) {
      let term = 0
      assert.equal(
        errorCode(() => (term = log.term(index))),
        werr,
      )
      assert.equal(term, wterm)
    }
  })

  it('slice', () => {
    // Indexes and terms 201..300 all take two-byte varints, so every entry has the same encoded
    // size and the limits below count whole entries (upstream's 100..200 mixes 1- and 2-byte
    // varints, which the codec's zero-omitting sizes make visible).
    const [offset, num] = [200, 100]
    const last = offset + num
    const half = offset + num / 2
    const halfSize = entrySize(entry({ index: half, term: half }))
    const ents = (from: number, to: number) => termRange(from, from, to)

    const storage = new MemoryStorage()
    storage.applySnapshot(snap(offset, 0))
    storage.append(ents(offset + 1, half))
    const log = RaftLog.newLog(storage, discardLogger)
    log.append(ents(half, last))

    const table: { lo: number; hi: number; lim: number; w: Entry[]; wpanic?: boolean }[] = [
      // compacted
      { lo: offset - 1, hi: offset + 1, lim: Infinity, w: [] },
      { lo: offset, hi: offset + 1, lim: Infinity, w: [] },
      // panics
      { lo: half, hi: half - 1, lim: Infinity, w: [], wpanic: true }, // lo and hi inversion
      { lo: last, hi: last + 1, lim: Infinity, w: [], wpanic: true }, // hi is out of bounds

      // no limit
      { lo: offset + 1, hi: offset + 1, lim: Infinity, w: [] },
      { lo: offset + 1, hi: half - 1, lim: Infinity, w: ents(offset + 1, half - 1) },
      { lo: offset + 1, hi: half, lim: Infinity, w: ents(offset + 1, half) },
      { lo: offset + 1, hi: half + 1, lim: Infinity, w: ents(offset + 1, half + 1) },
      { lo: offset + 1, hi: last, lim: Infinity, w: ents(offset + 1, last) },
      { lo: half - 1, hi: half, lim: Infinity, w: ents(half - 1, half) },
      { lo: half - 1, hi: half + 1, lim: Infinity, w: ents(half - 1, half + 1) },
      { lo: half - 1, hi: last, lim: Infinity, w: ents(half - 1, last) },
      { lo: half, hi: half + 1, lim: Infinity, w: ents(half, half + 1) },
      { lo: half, hi: last, lim: Infinity, w: ents(half, last) },
      { lo: last - 1, hi: last, lim: Infinity, w: ents(last - 1, last) },

      // at least one entry is always returned
      { lo: offset + 1, hi: last, lim: 0, w: ents(offset + 1, offset + 2) },
      { lo: half - 1, hi: half + 1, lim: 0, w: ents(half - 1, half) },
      { lo: half, hi: last, lim: 0, w: ents(half, half + 1) },
      { lo: half + 1, hi: last, lim: 0, w: ents(half + 1, half + 2) },
      // low limit
      { lo: offset + 1, hi: last, lim: halfSize - 1, w: ents(offset + 1, offset + 2) },
      { lo: half - 1, hi: half + 1, lim: halfSize - 1, w: ents(half - 1, half) },
      { lo: half, hi: last, lim: halfSize - 1, w: ents(half, half + 1) },
      // just enough for one
      { lo: offset + 1, hi: last, lim: halfSize, w: ents(offset + 1, offset + 2) },
      { lo: half - 1, hi: half + 1, lim: halfSize, w: ents(half - 1, half) },
      { lo: half, hi: last, lim: halfSize, w: ents(half, half + 1) },
      // not enough for two
      { lo: offset + 1, hi: last, lim: halfSize + 1, w: ents(offset + 1, offset + 2) },
      { lo: half - 1, hi: half + 1, lim: halfSize + 1, w: ents(half - 1, half) },
      { lo: half, hi: last, lim: halfSize + 1, w: ents(half, half + 1) },
      // enough for two
      { lo: offset + 1, hi: last, lim: halfSize * 2, w: ents(offset + 1, offset + 3) },
      { lo: half - 2, hi: half + 1, lim: halfSize * 2, w: ents(half - 2, half) },
      { lo: half - 1, hi: half + 1, lim: halfSize * 2, w: ents(half - 1, half + 1) },
      { lo: half, hi: last, lim: halfSize * 2, w: ents(half, half + 2) },
      // not enough for three
      { lo: half - 2, hi: half + 1, lim: halfSize * 3 - 1, w: ents(half - 2, half) },
      // enough for three
      { lo: half - 1, hi: half + 2, lim: halfSize * 3, w: ents(half - 1, half + 2) },
    ]
    for (const { lo, hi, lim, w, wpanic } of table) {
      let got: Entry[] = []
      let code: RaftErrorCode | null = null
      const panicked = panics(() => (code = errorCode(() => (got = log.slice(lo, hi, lim)))))
      assert.equal(panicked, wpanic ?? false, `slice(${lo}, ${hi}, ${lim})`)
      if (panicked) continue
      assert.equal(code, lo <= offset ? 'COMPACTED' : null)
      assert.deepEqual(got, w, `slice(${lo}, ${hi}, ${lim})`)
    }
  })

  it('scan', () => {
    const [offset, num] = [47, 20]
    const last = offset + num
    const half = offset + num / 2
    const ents = (from: number, to: number) => termRange(from, from, to)
    const size = entsSize(ents(half, half + 1))

    const storage = new MemoryStorage()
    storage.applySnapshot(snap(offset, 0))
    storage.append(ents(offset + 1, half))
    const log = RaftLog.newLog(storage, discardLogger)
    log.append(ents(half, last))

    // scan() returns the same entries as slice(), on all inputs.
    for (const pageSize of [0, 1, 10, 100, size, size + 1]) {
      for (let lo = offset + 1; lo < last; lo++) {
        for (let hi = lo; hi <= last; hi++) {
          const got: Entry[] = []
          log.scan(lo, hi, pageSize, (page) => {
            got.push(...page)
            assert.ok(page.length === 1 || entsSize(page) <= pageSize)
            return true
          })
          assert.deepEqual(got, log.slice(lo, hi, Infinity), `scan [${lo}, ${hi}) @ ${pageSize}`)
        }
      }
    }

    // The visitor stops the scan early.
    let iters = 0
    log.scan(offset + 1, half, 0, () => ++iters !== 2)
    assert.equal(iters, 2)

    // Pages are filled up to the limit, not one entry at a time. This works only because the
    // requested range length is even.
    log.scan(offset + 1, offset + 11, size * 2, (page) => {
      assert.equal(page.length, 2)
      assert.equal(entsSize(page), size * 2)
      return true
    })
  })

  it('toString', () => {
    const log = newLogWith(terms(1, 1, 1))
    log.acceptUnstable()
    assert.equal(
      log.toString(),
      'committed=0, applied=0, applying=0, unstable.offset=1, unstable.offsetInProgress=3, ' +
        'len(unstable.Entries)=2',
    )
  })
})
