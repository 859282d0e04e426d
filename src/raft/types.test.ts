// EntryID and LogSlice: the scenarios of etcd-io/raft types_test.go.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { entry, type Entry } from './raftpb/types.js'
import { LogSlice, pbEntryID, type EntryID } from './types.js'

function id(index: number, term: number): EntryID {
  return { term, index }
}

function e(index: number, term: number): Entry {
  return entry({ term, index })
}

describe('EntryID', () => {
  it('is read from an entry', () => {
    assert.deepEqual(pbEntryID(entry({})), id(0, 0))
    const data = new TextEncoder().encode('data')
    assert.deepEqual(pbEntryID(entry({ term: 1, index: 2, data })), id(2, 1))
    assert.deepEqual(pbEntryID(entry({ term: 10, index: 123 })), id(123, 10))
  })
})

describe('LogSlice', () => {
  it('valid, lastIndex and lastEntryID', () => {
    const table: { term: number; prev: EntryID; entries: Entry[]; last: EntryID | null }[] = [
      // Empty "dummy" slice, starting at the (0, 0) origin of the log.
      { term: 0, prev: id(0, 0), entries: [], last: id(0, 0) },
      // Empty slice with a given prev ID: valid only if term >= prev.term.
      { term: 0, prev: id(123, 10), entries: [], last: null },
      { term: 9, prev: id(123, 10), entries: [], last: null },
      { term: 10, prev: id(123, 10), entries: [], last: id(123, 10) },
      { term: 11, prev: id(123, 10), entries: [], last: id(123, 10) },
      // A single entry.
      { term: 0, prev: id(0, 0), entries: [e(1, 1)], last: null },
      { term: 1, prev: id(0, 0), entries: [e(1, 1)], last: id(1, 1) },
      { term: 2, prev: id(0, 0), entries: [e(1, 1)], last: id(1, 1) },
      // Multiple entries.
      { term: 2, prev: id(0, 0), entries: [e(2, 1), e(3, 1), e(4, 2)], last: null },
      { term: 1, prev: id(1, 1), entries: [e(2, 1), e(3, 1), e(4, 2)], last: null },
      { term: 2, prev: id(1, 1), entries: [e(2, 1), e(3, 1), e(4, 2)], last: id(4, 2) },
      // First entry inconsistent with prev.
      { term: 10, prev: id(123, 5), entries: [e(111, 5)], last: null },
      { term: 10, prev: id(123, 5), entries: [e(124, 4)], last: null },
      { term: 10, prev: id(123, 5), entries: [e(234, 6)], last: null },
      { term: 10, prev: id(123, 5), entries: [e(124, 6)], last: id(124, 6) },
      // Inconsistent entries.
      { term: 10, prev: id(12, 2), entries: [e(13, 2), e(12, 2)], last: null },
      { term: 10, prev: id(12, 2), entries: [e(13, 2), e(15, 2)], last: null },
      { term: 10, prev: id(12, 2), entries: [e(13, 2), e(14, 1)], last: null },
      { term: 10, prev: id(12, 2), entries: [e(13, 2), e(14, 3)], last: id(14, 3) },
    ]
    for (const { term, prev, entries, last } of table) {
      const s = new LogSlice(term, prev, entries)
      assert.equal(s.valid() === null, last !== null, JSON.stringify({ term, prev, entries }))
      if (last === null) continue
      assert.deepEqual(s.lastEntryID(), last)
      assert.equal(s.lastIndex(), last.index)
    }
  })

  it('describes the first violation', () => {
    assert.equal(
      new LogSlice(10, id(12, 2), [e(13, 2), e(15, 2)]).valid(),
      'leader term 10: entries {term:2 index:13} and {term:2 index:15} not consistent',
    )
    assert.equal(
      new LogSlice(1, id(0, 0), [e(1, 2)]).valid(),
      'leader term 1: entry {term:2 index:1} has a newer term',
    )
  })
})
