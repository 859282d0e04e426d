/**
 * An interval tree of key ranges (etcd pkg/adt's IntervalTree, for the watchers of ranges): a
 * treap ordered by (start, end) whose nodes carry the largest end in their subtree, so a
 * stabbing query ("which ranges hold this key?") visits O(log n + k) nodes instead of every
 * range. Keys are latin1 strings (bytes.ts), whose `<` is etcd's byte order; an end of undefined
 * is +infinity (a range to the end of the keyspace).
 *
 * The priorities come from a fixed xorshift sequence: the shape is deterministic for a given
 * sequence of inserts and deletes (the simulator replays exactly), and balanced in expectation
 * for any key order.
 */

interface Node<V> {
  start: string
  /** Exclusive; undefined: +infinity. */
  end: string | undefined
  value: V
  priority: number
  /** The largest end in this subtree (undefined: +infinity). */
  maxEnd: string | undefined
  left: Node<V> | undefined
  right: Node<V> | undefined
}

export class IntervalTree<V> {
  private root: Node<V> | undefined
  private seed = 0x9e3779b9
  private count = 0

  get size(): number {
    return this.count
  }

  /** The value of the range [start, end), or undefined. */
  get(start: string, end: string | undefined): V | undefined {
    let n = this.root
    while (n !== undefined) {
      const c = compareRange(start, end, n.start, n.end)
      if (c === 0) return n.value
      n = c < 0 ? n.left : n.right
    }
    return undefined
  }

  /** Adds the range [start, end) with `value`; the range must not be in the tree. */
  insert(start: string, end: string | undefined, value: V): void {
    const node: Node<V> = {
      start,
      end,
      value,
      priority: this.nextPriority(),
      maxEnd: end,
      left: undefined,
      right: undefined,
    }
    const [l, r] = this.split(this.root, start, end)
    this.root = this.merge(this.merge(l, node), r)
    this.count++
  }

  /** Removes the range [start, end); true if it was there. */
  delete(start: string, end: string | undefined): boolean {
    let parent: Node<V> | undefined
    let n = this.root
    while (n !== undefined) {
      const c = compareRange(start, end, n.start, n.end)
      if (c === 0) break
      parent = n
      n = c < 0 ? n.left : n.right
    }
    if (n === undefined) return false
    const joined = this.merge(n.left, n.right)
    if (parent === undefined) this.root = joined
    else if (parent.left === n) parent.left = joined
    else parent.right = joined
    this.count--
    // The maxEnd of every ancestor may shrink: recompute along the path from the root.
    this.fixPath(start, end)
    return true
  }

  /** Calls `fn` with the value of every range that holds `key` (start <= key < end). */
  stab(key: string, fn: (value: V) => void): void {
    const visit = (n: Node<V> | undefined): void => {
      // No range below ends after key: nothing here holds it.
      if (n === undefined || (n.maxEnd !== undefined && n.maxEnd <= key)) return
      visit(n.left)
      if (n.start > key) return // this node and its right subtree start after key
      if (n.end === undefined || n.end > key) fn(n.value)
      visit(n.right)
    }
    visit(this.root)
  }

  /** Every value, in range order. */
  forEach(fn: (value: V, start: string, end: string | undefined) => void): void {
    const visit = (n: Node<V> | undefined): void => {
      if (n === undefined) return
      visit(n.left)
      fn(n.value, n.start, n.end)
      visit(n.right)
    }
    visit(this.root)
  }

  private nextPriority(): number {
    let x = this.seed
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.seed = x >>> 0
    return this.seed
  }

  /** Splits into ranges < (start, end) and ranges >= it. */
  private split(
    n: Node<V> | undefined,
    start: string,
    end: string | undefined,
  ): [Node<V> | undefined, Node<V> | undefined] {
    if (n === undefined) return [undefined, undefined]
    if (compareRange(n.start, n.end, start, end) < 0) {
      const [l, r] = this.split(n.right, start, end)
      n.right = l
      update(n)
      return [n, r]
    }
    const [l, r] = this.split(n.left, start, end)
    n.left = r
    update(n)
    return [l, n]
  }

  /** Joins two treaps where every range of `a` orders before every range of `b`. */
  private merge(a: Node<V> | undefined, b: Node<V> | undefined): Node<V> | undefined {
    if (a === undefined) return b
    if (b === undefined) return a
    if (a.priority > b.priority) {
      a.right = this.merge(a.right, b)
      update(a)
      return a
    }
    b.left = this.merge(a, b.left)
    update(b)
    return b
  }

  private fixPath(start: string, end: string | undefined): void {
    const path: Node<V>[] = []
    let n = this.root
    while (n !== undefined) {
      path.push(n)
      n = compareRange(start, end, n.start, n.end) < 0 ? n.left : n.right
    }
    for (let i = path.length - 1; i >= 0; i--) update(path[i]!)
  }
}

function update<V>(n: Node<V>): void {
  let m = n.end
  if (n.left !== undefined) m = maxEnd(m, n.left.maxEnd)
  if (n.right !== undefined) m = maxEnd(m, n.right.maxEnd)
  n.maxEnd = m
}

function maxEnd(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return undefined
  return a > b ? a : b
}

function compareRange(
  aStart: string,
  aEnd: string | undefined,
  bStart: string,
  bEnd: string | undefined,
): number {
  if (aStart !== bStart) return aStart < bStart ? -1 : 1
  if (aEnd === bEnd) return 0
  if (aEnd === undefined) return 1
  if (bEnd === undefined) return -1
  return aEnd < bEnd ? -1 : 1
}
