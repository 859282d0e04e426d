/**
 * KeyIndex: the revisions of one key (etcd server/mvcc/key_index.go). A key's life is a list of
 * generations; a generation runs from the put that created the key to the deletion that ended it
 * (the tombstone, its last revision). The last generation is the current one, empty if the key
 * is deleted now. Example (etcd's): put@1.0, put@2.0, tombstone@3.0, put@4.0, tombstone@5.0 give
 *
 *     generations: {empty}, {4.0, 5.0(t)}, {1.0, 2.0, 3.0(t)}   (newest first)
 *
 * Revisions are kept as two parallel number arrays per generation (main, sub): no object per
 * revision, so a put costs two array pushes.
 */
import assert from 'node:assert/strict'

export class Generation {
  /** Puts in this generation so far, including compacted ones (the key's version). */
  ver = 0
  createdMain = 0
  createdSub = 0
  readonly mains: number[] = []
  readonly subs: number[] = []

  get length(): number {
    return this.mains.length
  }

  isEmpty(): boolean {
    return this.mains.length === 0
  }
}

/** What get() found: the revision of the key at or below a revision, its creation, its version. */
export interface KeyIndexGet {
  main: number
  sub: number
  createdMain: number
  ver: number
}

/** A revision compaction dropped: the store deletes its record from the backend. */
export interface DroppedRevision {
  main: number
  sub: number
  tombstone: boolean
}

export class KeyIndex {
  readonly key: Uint8Array
  modMain = 0
  modSub = 0
  generations: Generation[] = []

  constructor(key: Uint8Array) {
    this.key = key
  }

  /** Records a put at (main, sub); it must be above every revision recorded. */
  put(main: number, sub: number): void {
    assert(
      main > this.modMain || (main === this.modMain && sub > this.modSub),
      `put ${main}.${sub} not above the last revision ${this.modMain}.${this.modSub}`,
    )
    if (this.generations.length === 0) this.generations.push(new Generation())
    const g = this.generations[this.generations.length - 1]!
    if (g.isEmpty()) {
      g.createdMain = main
      g.createdSub = sub
    }
    g.mains.push(main)
    g.subs.push(sub)
    g.ver++
    this.modMain = main
    this.modSub = sub
  }

  /**
   * A key index built from a stored record that is its first (etcd keyIndex.restore): earlier
   * revisions were compacted, so the generation starts at the record with its stored creation
   * and version.
   */
  restore(createdMain: number, main: number, sub: number, ver: number): void {
    assert(!this.isLive(), 'restore of a live key index')
    assert(
      main > this.modMain || (main === this.modMain && sub > this.modSub),
      `restore ${main}.${sub} not above the last revision ${this.modMain}.${this.modSub}`,
    )
    if (this.generations.length === 0) this.generations.push(new Generation())
    const g = this.generations[this.generations.length - 1]!
    g.createdMain = createdMain
    g.createdSub = 0
    g.ver = ver
    g.mains.push(main)
    g.subs.push(sub)
    this.modMain = main
    this.modSub = sub
  }

  /**
   * Records a deletion at (main, sub): the current generation ends there and an empty one
   * starts. False (nothing recorded) if the key is not live (etcd ErrRevisionNotFound).
   */
  tombstone(main: number, sub: number): boolean {
    const last = this.generations[this.generations.length - 1]
    if (last === undefined || last.isEmpty()) return false
    this.put(main, sub)
    this.generations.push(new Generation())
    return true
  }

  /** True if the key is live at the latest revision. */
  isLive(): boolean {
    const last = this.generations[this.generations.length - 1]
    return last !== undefined && !last.isEmpty()
  }

  isEmpty(): boolean {
    return this.generations.length === 1 && this.generations[0]!.isEmpty()
  }

  /**
   * The key's latest revision at or below `atRev`, if it is live there (etcd keyIndex.get); the
   * answer goes into `out`, so a range allocates nothing per key.
   */
  get(atRev: number, out: KeyIndexGet): boolean {
    const g = this.findGeneration(atRev)
    if (g === undefined || g.isEmpty()) return false
    for (let n = g.length - 1; n >= 0; n--) {
      if (g.mains[n]! <= atRev) {
        out.main = g.mains[n]!
        out.sub = g.subs[n]!
        out.createdMain = g.createdMain
        out.ver = g.ver - (g.length - n - 1)
        return true
      }
    }
    return false
  }

  /**
   * The generation live at `rev`: the newest whose first revision is <= rev, unless it ended
   * (its tombstone) at or before rev (etcd keyIndex.findGeneration).
   */
  private findGeneration(rev: number): Generation | undefined {
    const lastg = this.generations.length - 1
    for (let cg = lastg; cg >= 0; cg--) {
      const g = this.generations[cg]!
      if (g.isEmpty()) continue
      if (cg !== lastg && g.mains[g.length - 1]! <= rev) return undefined
      if (g.mains[0]! <= rev) return g
    }
    return undefined
  }

  /**
   * Drops every revision at or below `atRev` except the latest of the generation live at atRev
   * (etcd keyIndex.compact): whole generations that ended at or before atRev go, tombstone and
   * all. The dropped revisions go to `dropped`, for the store to delete from the backend; they
   * are exactly the records etcd's compaction deletes (those <= atRev not in its `keep` set).
   */
  compact(atRev: number, dropped: DroppedRevision[]): void {
    assert(this.generations.length > 0, 'compact of an empty key index')
    let genIdx = 0
    while (genIdx < this.generations.length - 1) {
      const g = this.generations[genIdx]!
      if (g.mains[g.length - 1]! > atRev) break
      genIdx++
    }
    const g = this.generations[genIdx]!
    let revIndex = -1
    for (let n = g.length - 1; n >= 0; n--) {
      if (g.mains[n]! <= atRev) {
        revIndex = n
        break
      }
    }
    let keepFrom = genIdx
    if (!g.isEmpty()) {
      if (revIndex > 0) {
        for (let i = 0; i < revIndex; i++)
          dropped.push({ main: g.mains[i]!, sub: g.subs[i]!, tombstone: false })
        g.mains.splice(0, revIndex)
        g.subs.splice(0, revIndex)
      }
      // A generation left with its tombstone alone is gone too (etcd: "remove any tombstone").
      if (g.length === 1 && genIdx !== this.generations.length - 1) {
        dropped.push({ main: g.mains[0]!, sub: g.subs[0]!, tombstone: true })
        keepFrom = genIdx + 1
      }
    }
    for (let gi = 0; gi < genIdx; gi++) {
      const old = this.generations[gi]!
      const last = old.length - 1
      for (let i = 0; i <= last; i++) {
        dropped.push({ main: old.mains[i]!, sub: old.subs[i]!, tombstone: i === last })
      }
    }
    if (keepFrom > 0) this.generations = this.generations.slice(keepFrom)
  }

  /** Every revision held, oldest first, with its tombstone flag (hash, tests). */
  forEachRevision(visit: (main: number, sub: number, tombstone: boolean) => void): void {
    const lastg = this.generations.length - 1
    for (let gi = 0; gi <= lastg; gi++) {
      const g = this.generations[gi]!
      for (let i = 0; i < g.length; i++) {
        visit(g.mains[i]!, g.subs[i]!, gi !== lastg && i === g.length - 1)
      }
    }
  }
}
