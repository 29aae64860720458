/**
 * Dropout (shaders/dropout.wgsl): inverted scaling, mask from a counter-based hash of (seed, index).
 * Nothing is stored for backward: the rule regenerates the same mask from the seed.
 */
import source from '../../../../shaders/dropout.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { nextSeed, zeros } from './creation';
import { chunks, defineKernel, launch, range } from '../engine/kernel';
import { expectDType, Tensor } from '../engine/tensor';
import type { OpInfo } from './info';
import { commonWgsl, pcg, uniform01 } from './shared';

const kernel = defineKernel('dropout', source, { with: [commonWgsl] });

export interface DropoutOptions {
  /** When false, dropout is the identity (evaluation). Default true. */
  training?: boolean;
  /** Mask key: same seed, same shape → same mask on every device. Default: the global generator (see `manualSeed`). */
  seed?: number;
}

/** y = x · mask with mask = 0 (probability p) or 1/(1−p); runs for both directions (dx = dy · mask). */
function applyMask(x: Tensor, p: number, seed: number): Tensor<'f32'> {
  const out = Tensor.empty(x.shape, 'f32');
  const scale = 1 / (1 - p);
  for (const { start, count } of chunks(x.size)) {
    if (count === 0) continue;
    launch(kernel, 'forward', { params: { n: count, start, seed, p, scale }, bind: { x: range(x, start, count), y: range(out, start, count) }, items: count });
  }
  return out;
}

/**
 * Zeroes each element with probability `p` and scales the rest by 1/(1−p), like
 * `torch.nn.functional.dropout`. Identity (a view sharing `x`'s data) when `!training` or `p == 0`;
 * zeros when `p == 1`.
 * @example
 * ```ts
 * const h = dropout(x, 0.1, { training: model.training });
 * ```
 */
export function dropout(x: Tensor, p: number, { training = true, seed }: DropoutOptions = {}): Tensor<'f32'> {
  expectDType('dropout', x, 'f32');
  if (!(p >= 0 && p <= 1)) throw new ScratchGPTError('range', `scratchgpt: dropout probability must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x.reshape(x.shape) as Tensor<'f32'>;
  if (p === 1) {
    const out = zeros(x.shape);
    return record(out, 'dropout', [x], [], (g) => [() => zeros(g.shape)]);
  }
  const key = seed === undefined ? nextSeed() : seed >>> 0;
  const out = applyMask(x, p, key);
  return record(out, 'dropout', [x], [], (g) => [() => applyMask(g, p, key)]);
}

/**
 * float64 reference of the kernel's mask: the factor (0 or 1/(1−p), rounded to f32 as the kernel
 * uses it) that element `k` of a tensor is multiplied by for key `seed`.
 */
export function dropoutMaskRef(seed: number, p: number, k: number): number {
  if (p === 0) return 1;
  if (p === 1) return 0;
  const s = seed >>> 0;
  const u = uniform01(pcg((pcg((k ^ pcg((s ^ 0xd1b54a32) >>> 0)) >>> 0) + s) >>> 0));
  return u >= Math.fround(p) ? Math.fround(1 / (1 - p)) : 0;
}

/** float64 reference of {@link dropout} in training mode: x · mask (dropped elements are +0, as the kernel writes). */
export function dropoutRef(x: ArrayLike<number>, p: number, seed: number): Float64Array {
  return Float64Array.from(x, (v, k) => {
    const m = dropoutMaskRef(seed, p, k);
    return m === 0 ? 0 : v * m;
  });
}

/** Registry entry of dropout in training mode with explicit seeds (see `ops/info.ts`). */
export const dropoutInfo: OpInfo<{ p: number; seed: number }> = {
  name: 'dropout',
  samples: [
    { shapes: [[1]], args: { p: 0.5, seed: 1 } },
    { shapes: [[7]], args: { p: 0.3, seed: 2 } },
    { shapes: [[3, 37]], args: { p: 0.1, seed: 3 } },
    { shapes: [[2, 5, 257]], args: { p: 0.75, seed: 0xffffffff }, forwardOnly: true },
  ],
  run: ([x], { p, seed }) => dropout(x, p, { seed }),
  ref: ([x], _shapes, { p, seed }) => dropoutRef(x, p, seed),
  // One f32 rounding of x·scale (test/dropout.test.ts also checks the mask bit for bit).
  tol: { rtol: 1e-7, atol: 0 },
  domain: [-2, 2],
  dtype: { reject: 'i32' },
};
