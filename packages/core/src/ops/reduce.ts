/** Reductions over an axis. (placeholder: being implemented) */
import type { Shape, Tensor } from '../tensor';

/** Sums `t` down to `shape` (the reverse of broadcasting `shape` up to `t.shape`). */
export function sumTo(t: Tensor, shape: Shape): Tensor {
  throw new Error(`sumTo not implemented yet (${t.shape} → ${shape})`);
}
