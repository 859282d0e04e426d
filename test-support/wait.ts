/**
 * Waiting for a condition that an outside process makes true (test support). Polling is for what
 * sends no event (another process's state, a key written by a client we do not drive); what
 * happens in this process is awaited through its own promise or event.
 */

/** Resolves with the first truthy value of `probe`, polled every `everyMs`; rejects at the deadline. */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs: number; what: string; everyMs?: number },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== null && v !== false) return v
    if (Date.now() >= deadline) throw new Error(`${opts.what}: not within ${opts.timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 50))
  }
}
