/** Global-norm gradient clipping, entirely on the GPU (like `torch.nn.utils.clip_grad_norm_`). */
import { chunks, dispatch, grid, range } from '../kernel';
import { recordCopy } from '../queue';
import { Tensor } from '../tensor';
import { optimKernel, optimUniforms } from './kernel';

const PER_GROUP = 256 * 16;

/**
 * Scales every gradient by `min(1, maxNorm / (‖g‖ + 1e-6))` where ‖g‖ is the L2 norm over all of
 * them, and returns the norm (before clipping) as a one-element tensor — no readback.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): Tensor<'f32'> {
  const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
  const plan = grads.flatMap((g) => chunks(g.size).filter((c) => c.count > 0).map((c) => ({ g, ...c, groups: Math.ceil(c.count / PER_GROUP) })));
  const total = Math.max(1, plan.reduce((s, c) => s + c.groups, 0));
  const partials = Tensor.empty([total], 'f32');
  const norm = Tensor.empty([2], 'f32');
  let offset = 0;
  for (const { g, start, count, groups } of plan) {
    dispatch(optimKernel, {
      entry: 'sumsq',
      uniforms: optimUniforms({ n: count, partial: offset }),
      storage: [null, range(g, start, count), null, null, partials],
      workgroups: grid(groups, 1),
    });
    offset += groups;
  }
  dispatch(optimKernel, {
    entry: 'finalize',
    uniforms: optimUniforms({ n: 0, partial: offset, maxNorm }),
    storage: [null, null, null, null, partials, norm],
    workgroups: 1,
  });
  for (const { g, start, count } of plan) {
    dispatch(optimKernel, {
      entry: 'scale',
      uniforms: optimUniforms({ n: count }),
      storage: [null, range(g, start, count), null, null, null, norm],
      workgroups: grid(count, 256),
    });
  }
  partials.dispose();
  const out = Tensor.empty([1], 'f32');
  recordCopy(norm.buffer, 0, out.buffer, 0, 4);
  norm.dispose();
  return out;
}
