/**
 * The simulator's only source of randomness: a seeded xoshiro128** generator (Blackman and
 * Vigna), in 32-bit arithmetic so it needs no bigint on the hot path. One seed decides a whole
 * run; `fork()` splits off an independent substream so that, for example, a node's election
 * timeouts do not shift when the workload draws one more number.
 */

export class Prng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  /** `seed` is any safe integer; it is spread over the 128-bit state with splitmix32. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed (${seed}) must be a safe integer`)
    let x = (seed ^ Math.floor(seed / 0x1_0000_0000)) | 0
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) | 0
    }
    this.s0 = next()
    this.s1 = next()
    this.s2 = next()
    this.s3 = next()
    // The all-zero state is the one fixed point of xoshiro; splitmix32 cannot produce four zeros
    // in a row, but the invariant is cheap to state.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextU32(): number {
    const s1 = this.s1
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9)
    const t = s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result >>> 0
  }

  /**
   * A uniform integer in [0, n), for 0 < n <= 2^32. Multiply-high instead of modulo; the bias is
   * below n / 2^32, irrelevant for the small ranges a simulation draws.
   */
  intn(n: number): number {
    if (!(n > 0 && n <= 0x1_0000_0000 && Number.isInteger(n))) {
      throw new RangeError(`intn(${n}): n must be an integer in [1, 2^32]`)
    }
    return Math.floor((this.nextU32() * n) / 0x1_0000_0000)
  }

  /** A uniform integer in [lo, hi], both inclusive. */
  between(lo: number, hi: number): number {
    return lo + this.intn(hi - lo + 1)
  }

  /** True with probability p (p <= 0 never, p >= 1 always). */
  chance(p: number): boolean {
    if (p <= 0) return false
    if (p >= 1) return true
    return this.nextU32() < p * 0x1_0000_0000
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[this.intn(items.length)] as T
  }

  /** Shuffles `items` in place (Fisher–Yates). */
  shuffle<T>(items: T[]): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.intn(i + 1)
      const tmp = items[i] as T
      items[i] = items[j] as T
      items[j] = tmp
    }
  }

  /** An independent generator seeded from this one's next 53 bits. */
  fork(): Prng {
    const hi = this.nextU32() & 0x1f_ffff
    return new Prng(hi * 0x1_0000_0000 + this.nextU32())
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
