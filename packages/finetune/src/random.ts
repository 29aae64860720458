/**
 * Seeded permutations for sampling and splitting. Two generators:
 * - `'mulberry32'`: the library's own `seededRandom` with a Fisher–Yates shuffle (the default);
 * - `'numpy'`: NumPy's legacy `RandomState(seed).permutation(n)` bit for bit (MT19937 seeded with
 *   `init_genrand`, Fisher–Yates from the end with masked rejection sampling), which is what pandas'
 *   `DataFrame.sample(n, random_state=seed)` draws — so the book's splits can be reproduced exactly.
 */
import { ScratchGPTError, seededRandom } from '@scratchgpt/core';

/** Which generator drives sampling and shuffling. */
export type RandomSource = 'mulberry32' | 'numpy';

const N = 624;
const M = 397;

/** MT19937 as seeded by NumPy's `RandomState(seed)` for an integer seed. */
class MersenneTwister {
  private readonly mt = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** The next 32-bit output (tempered). */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A uniform integer in [0, max] by masked rejection (NumPy's legacy `random_interval`, max < 2³²). */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    for (const shift of [1, 2, 4, 8, 16]) mask |= mask >>> shift;
    mask >>>= 0;
    for (;;) {
      const value = (this.nextUint32() & mask) >>> 0;
      if (value <= max) return value;
    }
  }
}

function checkSeed(seed: number, source: RandomSource): void {
  const max = source === 'numpy' ? 2 ** 32 - 1 : Number.MAX_SAFE_INTEGER;
  if (!Number.isInteger(seed) || seed < 0 || seed > max) throw new ScratchGPTError('value', `scratchgpt: seed must be an integer in [0, ${max}], got ${seed}`);
}

/**
 * A seeded permutation of `0 … n−1`. With `'numpy'` it equals `numpy.random.RandomState(seed).permutation(n)`.
 * @example permutation(5, 123, 'numpy') // same order as NumPy
 */
export function permutation(n: number, seed: number, source: RandomSource = 'mulberry32'): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 32 - 1) throw new ScratchGPTError('value', `scratchgpt: permutation size must be a non-negative integer, got ${n}`);
  checkSeed(seed, source);
  const order = Array.from({ length: n }, (_, i) => i);
  if (source === 'numpy') {
    const mt = new MersenneTwister(seed);
    for (let i = n - 1; i > 0; i--) {
      const j = mt.interval(i);
      [order[i], order[j]] = [order[j], order[i]];
    }
  } else {
    const random = seededRandom(seed);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  return order;
}
