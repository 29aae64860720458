/**
 * Dropout (shaders/dropout.wgsl): inverted scaling, mask from a counter-based hash of (seed, index).
 * Nothing is stored for backward: the rule regenerates the same mask from the seed.
 */
import source from '../../../../shaders/dropout.wgsl';
import { record } from '../autograd';
import { nextSeed, zeros } from './creation';
import { chunks, defineKernel, dispatch, grid, range, Uniforms } from '../engine/kernel';
import { expectDType, Tensor } from '../engine/tensor';

const kernel = defineKernel('dropout', source);

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
    dispatch(kernel, {
      uniforms: new Uniforms().u32(count, start, seed).f32(p, scale),
      storage: [range(x, start, count), range(out, start, count)],
      workgroups: grid(count, 256),
    });
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
  if (!(p >= 0 && p <= 1)) throw new Error(`scratchgpt: dropout probability must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x.reshape(x.shape) as Tensor<'f32'>;
  if (p === 1) {
    const out = zeros(x.shape);
    return record(out, 'dropout', [x], [], (g) => [zeros(g.shape)]);
  }
  const key = seed === undefined ? nextSeed() : seed >>> 0;
  const out = applyMask(x, p, key);
  return record(out, 'dropout', [x], [], (g) => [applyMask(g, p, key)]);
}

function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/**
 * float64 reference of the kernel's mask: the factor (0 or 1/(1−p), rounded to f32 as the kernel
 * uses it) that element `k` of a tensor is multiplied by for key `seed`.
 */
export function dropoutMaskRef(seed: number, p: number, k: number): number {
  if (p === 0) return 1;
  if (p === 1) return 0;
  const s = seed >>> 0;
  const h = pcg((pcg((k ^ pcg((s ^ 0xd1b54a32) >>> 0)) >>> 0) + s) >>> 0);
  const u = (h >>> 8) / 16777216;
  return u >= Math.fround(p) ? Math.fround(1 / (1 - p)) : 0;
}

/** float64 reference of {@link dropout} in training mode: x · mask (dropped elements are +0, as the kernel writes). */
export function dropoutRef(x: ArrayLike<number>, p: number, seed: number): Float64Array {
  return Float64Array.from(x, (v, k) => {
    const m = dropoutMaskRef(seed, p, k);
    return m === 0 ? 0 : v * m;
  });
}
