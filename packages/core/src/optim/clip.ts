/** Global-norm gradient clipping, entirely on the GPU (like `torch.nn.utils.clip_grad_norm_`). */
import { chunks, launch, range } from '../engine/kernel';
import { recordCopy } from '../engine/queue';
import { Tensor } from '../engine/tensor';
import { flatGradients } from './arena';
import { optimKernel } from './kernel';
import { checkHyper, gradOf, normalizeParams, type ParamList } from './optimizer';

/** Elements one workgroup of `sumsq` folds into a partial sum. */
const PER_GROUP = optimKernel.workgroupSize('sumsq') * optimKernel.consts.PER_THREAD;
const F32_MAX = 3.4028234663852886e38;

/**
 * Scales every gradient by `min(1, maxNorm / (‖g‖ + 1e-6))` where ‖g‖ is the L2 norm over all of
 * them (parameters without `.grad` are ignored), and returns the norm before clipping as a
 * one-element tensor: nothing is read back, so a training loop does not stall. Dispose the result
 * (or call inside a `scope`). The gradients of a fused optimizer's parameters (`AdamW` with `fused`)
 * are read and scaled a whole flat buffer per dispatch when all of that buffer's parameters are given.
 * @example
 * ```ts
 * loss.backward();
 * const norm = clipGradNorm(model.parameters(), 1.0); // read with `await norm.item()` when logging
 * opt.step();
 * ```
 */
export function clipGradNorm(params: ParamList, maxNorm: number): Tensor<'f32'> {
  checkHyper('clipGradNorm maxNorm', maxNorm, (v) => v >= 0, 'a number ≥ 0');
  const { names, tensors } = normalizeParams(params);
  const grads = flatGradients(tensors, tensors.map((p, k) => gradOf(names[k], p)).filter((g): g is Tensor => g !== null));
  const plan = grads.flatMap((g) => chunks(g.size).filter((c) => c.count > 0).map((c) => ({ g, ...c, groups: Math.ceil(c.count / PER_GROUP) })));
  const total = Math.max(1, plan.reduce((s, c) => s + c.groups, 0));
  const partials = Tensor.empty([total], 'f32');
  const norm = Tensor.empty([2], 'f32');
  let offset = 0;
  for (const { g, start, count, groups } of plan) {
    launch(optimKernel, 'sumsq', { params: { n: count, partial: offset }, bind: { grad: range(g, start, count), partials }, groups });
    offset += groups;
  }
  launch(optimKernel, 'clip_factor', { params: { partial: offset, max_norm: Math.min(maxNorm, F32_MAX) }, bind: { partials, norm }, groups: 1 });
  for (const { g, start, count } of plan) {
    launch(optimKernel, 'clip_grads', { params: { n: count }, bind: { grad: range(g, start, count), norm }, items: count });
  }
  partials.dispose();
  const out = Tensor.empty([1], 'f32');
  recordCopy(norm.buffer, norm.byteOffset, out.buffer, out.byteOffset, 4);
  norm.dispose();
  return out;
}

/** Float64 reference: the total norm and the clipped gradients (null stays null). */
export function clipGradNormRef(grads: readonly (ArrayLike<number> | null)[], maxNorm: number): { norm: number; grads: (Float64Array | null)[] } {
  let sq = 0;
  for (const g of grads) for (let i = 0; g && i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const factor = Math.min(1, maxNorm / (norm + 1e-6));
  return { norm, grads: grads.map((g) => (g ? Float64Array.from(g, (x) => x * factor) : null)) };
}
