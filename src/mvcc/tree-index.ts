/**
 * The ordered index of keys (etcd server/mvcc/index.go treeIndex, a B-tree of keyIndex): a B+ tree
 * (the `sorted-btree` package) from the key, as a latin1 string whose `<` order is the byte order,
 * to its KeyIndex. Insert, lookup and seek are O(log n); a range visits its keys in order.
 */
import btree from 'sorted-btree'
import type { KeyIndex } from './key-index.js'

// sorted-btree is CommonJS with `exports.default = BTree`: Node's ESM default is module.exports.
const BTree = btree.default

export class TreeIndex {
  // A plain string comparator: the package's default one handles mixed types, slower.
  private readonly tree = new BTree<string, KeyIndex>(undefined, (a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  )

  get size(): number {
    return this.tree.size
  }

  // Point lookups (every put, every single-key range) go to a Map, O(1): the tree is for order.
  private readonly byKey = new Map<string, KeyIndex>()

  get(k: string): KeyIndex | undefined {
    return this.byKey.get(k)
  }

  set(k: string, ki: KeyIndex): void {
    this.byKey.set(k, ki)
    this.tree.set(k, ki)
  }

  delete(k: string): void {
    this.byKey.delete(k)
    this.tree.delete(k)
  }

  /** Visits the keys in [lo, hi) in order; `hi` undefined: every key >= lo. */
  visit(lo: string, hi: string | undefined, fn: (ki: KeyIndex) => void): void {
    if (hi === undefined) {
      const max = this.tree.maxKey()
      if (max === undefined || max < lo) return
      this.tree.forRange(lo, max, true, (_k, ki) => fn(ki))
      return
    }
    if (hi <= lo) return
    this.tree.forRange(lo, hi, false, (_k, ki) => fn(ki))
  }

  forEach(fn: (ki: KeyIndex, k: string) => void): void {
    this.tree.forEachPair((k, ki) => fn(ki, k))
  }
}
