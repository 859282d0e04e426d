/**
 * The backends the mvcc tests run every suite on (STYLE.md §6: one suite per interface, every
 * implementation): MemoryBackend, and LmdbBackend on a real file in a temporary directory
 * (noSync: the suites test semantics; the crash tests in src/mvcc open with fsync on).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { LmdbBackend, MemoryBackend, type Backend, type MvccStore } from '../src/mvcc/index.js'

export interface BackendKind {
  name: 'memory' | 'lmdb'
  /** A fresh, empty backend. */
  make(): Backend
  /**
   * The same content, opened again: memory, the same object (the old store is dropped as a
   * crashed process would be); lmdb, the file after the store is closed.
   */
  reopen(store: MvccStore, b: Backend): Promise<Backend>
}

let tmpRoot: string | undefined
let seq = 0

/** A temporary directory for this process, removed at exit. */
export function mvccTmpDir(): string {
  if (tmpRoot === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pontoon-mvcc-'))
    tmpRoot = dir
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  }
  return tmpRoot
}

export function freshLmdbPath(): string {
  return path.join(mvccTmpDir(), `db-${process.pid}-${++seq}.mdb`)
}

export const backendKinds: BackendKind[] = [
  {
    name: 'memory',
    make: () => new MemoryBackend(),
    reopen: (_store, b) => Promise.resolve(b),
  },
  {
    name: 'lmdb',
    make: () => LmdbBackend.open(freshLmdbPath(), { noSync: true }),
    reopen: async (store, b) => {
      const p = (b as LmdbBackend).path
      await store.close()
      return LmdbBackend.open(p, { noSync: true })
    },
  },
]

export const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1')
export const dec = (b: Uint8Array): string => Buffer.from(b).toString('latin1')
