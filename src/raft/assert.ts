/**
 * Always-on assertions for the core's invariants (STYLE.md §5). An assertion failure means a bug
 * in Pontoon, never bad input: input is filtered before it reaches an assert.
 */

export class AssertionError extends Error {
  override readonly name = 'AssertionError'
}

export function assert(condition: boolean, message?: string): asserts condition {
  if (!condition) throw new AssertionError(message ?? 'assertion failed')
}

export function assertNever(value: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${String(value)}`)
}
