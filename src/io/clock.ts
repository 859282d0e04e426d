/**
 * Time as the node driver sees it: a periodic callback, nothing else. The driver counts its own
 * ticks (Raft's logical clock, etcd's --heartbeat-interval) and measures every timeout in them, so
 * a clock that fires on demand makes a whole node deterministic.
 */

export interface Clock {
  /** Calls `fn` every `ms` milliseconds until the returned function is called. */
  every(ms: number, fn: () => void): () => void
}

/** The real clock: node:timers. A running node keeps the process alive, as a server does. */
export const systemClock: Clock = {
  every(ms, fn) {
    const timer = setInterval(fn, ms)
    return () => clearInterval(timer)
  },
}

interface ManualTimer {
  readonly ms: number
  readonly fn: () => void
  due: number
  cancelled: boolean
}

/**
 * A clock that moves only when told to (tests, the simulator): advance(ms) fires every callback
 * that falls due, in order of due time, then of registration.
 */
export class ManualClock implements Clock {
  now = 0
  private timers: ManualTimer[] = []

  every(ms: number, fn: () => void): () => void {
    if (!(ms > 0)) throw new RangeError(`ManualClock.every: interval ${ms} must be positive`)
    const t: ManualTimer = { ms, fn, due: this.now + ms, cancelled: false }
    this.timers.push(t)
    return () => {
      t.cancelled = true
      this.timers = this.timers.filter((x) => x !== t)
    }
  }

  advance(ms: number): void {
    const end = this.now + ms
    // Bounded by the callbacks due before `end`: each firing moves its timer's due time on.
    while (true) {
      let next: ManualTimer | undefined
      for (const t of this.timers)
        if (t.due <= end && (next === undefined || t.due < next.due)) next = t
      if (next === undefined) break
      this.now = next.due
      next.due += next.ms
      next.fn()
    }
    this.now = end
  }
}
