/**
 * Catching a diverged training run without a readback per step: one-element results (losses,
 * gradient norms) are kept on the GPU and read back together at the loop's check points, where a
 * non-finite value becomes an error naming the step.
 */
import { concat, scope, sum, type Tensor } from '@scratchgpt/core';

/**
 * Reads one-element tensors back together (one wait for the GPU) and returns their values, disposing
 * the tensors either way.
 */
export async function readScalars(tensors: Tensor[]): Promise<number[]> {
  if (tensors.length === 0) return [];
  try {
    const joined = tensors.length === 1 ? null : scope(() => concat(tensors.map((t) => t.reshape([1])), 0));
    try {
      return Array.from(await (joined ?? tensors[0]).toArray());
    } finally {
      joined?.dispose();
    }
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/** Whether every value of `tensors` is finite: one reduction per tensor, one readback. */
export async function allFinite(tensors: readonly Tensor[]): Promise<boolean> {
  if (tensors.length === 0) return true;
  const total = scope(() => sum(concat(tensors.map((t) => sum(t).reshape([1])), 0)));
  const [value] = await readScalars([total]);
  return Number.isFinite(value);
}

export function divergedError(what: string, value: number, step: number, epoch: number): Error {
  return new Error(
    `scratchgpt: training diverged: ${what} is ${value} at step ${step} (epoch ${epoch + 1}); ` +
      `lower the learning rate, clip gradients (maxGradNorm), or pass nonFinite: 'skip' to skip such steps`,
  );
}

/** Gradient norms of the steps since the last check, read back (and checked) together. */
export class PendingNorms {
  private pending: { step: number; epoch: number; norm: Tensor }[] = [];

  /** Keeps the norm of step `step` (owned from now on) for the next {@link check}. */
  add(step: number, epoch: number, norm: Tensor): void {
    this.pending.push({ step, epoch, norm });
  }

  /** Reads the kept norms back (freeing them); throws naming the first step whose norm is not finite. */
  async check(): Promise<void> {
    const pending = this.pending.splice(0);
    const values = await readScalars(pending.map((p) => p.norm));
    values.forEach((v, i) => {
      if (!Number.isFinite(v)) throw divergedError('the gradient norm', v, pending[i].step, pending[i].epoch);
    });
  }

  /** Frees the kept norms unread (a failed run). */
  dispose(): void {
    for (const { norm } of this.pending.splice(0)) norm.dispose();
  }
}
