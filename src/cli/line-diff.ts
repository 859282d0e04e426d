/**
 * A small line diff for showing how a rewritten conformance file differs from the original:
 * unified-diff-like hunks with a few lines of context.
 */

type Op = { kind: ' ' | '-' | '+'; line: string }

/** Above this many cells the LCS table is too big; the differing middle is shown whole. */
const lcsCellsMax = 4_000_000

/** The edit script from `a` to `b`: common prefix and suffix, and an LCS diff in between. */
function editScript(a: string[], b: string[]): Op[] {
  let pre = 0
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++
  let suf = 0
  while (
    suf < a.length - pre &&
    suf < b.length - pre &&
    a[a.length - 1 - suf] === b[b.length - 1 - suf]
  ) {
    suf++
  }
  const am = a.slice(pre, a.length - suf)
  const bm = b.slice(pre, b.length - suf)
  const same = (lines: string[]): Op[] => lines.map((line) => ({ kind: ' ', line }))
  return [...same(a.slice(0, pre)), ...middle(am, bm), ...same(a.slice(a.length - suf))]
}

function middle(a: string[], b: string[]): Op[] {
  const del = a.map((line): Op => ({ kind: '-', line }))
  const add = b.map((line): Op => ({ kind: '+', line }))
  if (a.length === 0 || b.length === 0 || a.length * b.length > lcsCellsMax) {
    return [...del, ...add]
  }
  // lcs[i][j] = length of the LCS of a[i..] and b[j..].
  const w = b.length + 1
  const lcs = new Uint32Array((a.length + 1) * w)
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * w + j] =
        a[i] === b[j]
          ? (lcs[(i + 1) * w + j + 1] as number) + 1
          : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number)
    }
  }
  const ops: Op[] = []
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      ops.push({ kind: ' ', line: a[i] as string })
      i++
      j++
    } else if ((lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number)) {
      ops.push(del[i++] as Op)
    } else {
      ops.push(add[j++] as Op)
    }
  }
  return [...ops, ...del.slice(i), ...add.slice(j)]
}

/**
 * The differences between `expected` and `actual` as hunks with `context` lines around each
 * change: `@@ -l,n +l,n @@`, then lines prefixed with ' ', '-' (expected) or '+' (actual).
 * Empty when the texts are equal.
 */
export function lineDiff(expected: string, actual: string, context = 3): string {
  const ops = editScript(expected.split('\n'), actual.split('\n'))
  const out: string[] = []
  let k = 0
  while (k < ops.length) {
    const first = ops.findIndex((op, i) => i >= k && op.kind !== ' ')
    if (first === -1) break
    // Extend the hunk while the next change is within 2 * context unchanged lines.
    let last = first
    for (let i = first + 1; i < ops.length && i <= last + 2 * context + 1; i++) {
      if ((ops[i] as Op).kind !== ' ') last = i
    }
    const lo = Math.max(k, first - context)
    const hi = Math.min(ops.length, last + context + 1)
    out.push(hunkHeader(ops, lo, hi))
    for (let i = lo; i < hi; i++) out.push(`${(ops[i] as Op).kind}${(ops[i] as Op).line}`)
    k = hi
  }
  return out.join('\n')
}

function hunkHeader(ops: Op[], lo: number, hi: number): string {
  const count = (kinds: string, end: number): number =>
    ops.slice(0, end).filter((op) => kinds.includes(op.kind)).length
  const aStart = count(' -', lo) + 1
  const bStart = count(' +', lo) + 1
  return `@@ -${aStart},${count(' -', hi) - aStart + 1} +${bStart},${count(' +', hi) - bStart + 1} @@`
}
