/**
 * Catching a diverged training run without a readback per step, and without letting it touch the
 * weights: before every update a `StepGuard` marks the step on the GPU when its gradients (or its
 * gradient norm) hold Inf/NaN, and the optimizer skips its update while the mark is set; gradient
 * norms are kept on the GPU. Both are read back together at the loop's check points, where the first
 * bad step becomes an error naming it, with the optimizer's host counters put back to before it.
 */
import { concat, scope, ScratchGPTError, StepGuard, sum, type Optimizer, type OptimizerCounters, type Tensor } from '@scratchgpt/core';

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

/** The error of a diverged run: what was not finite, where, and what to try. */
export function divergedError(what: string, value: number | string, step: number, epoch: number, kept = ''): ScratchGPTError {
  return new ScratchGPTError(
    'value',
    `scratchgpt: training diverged: ${what} is ${value} at step ${step} (epoch ${epoch + 1})${kept}; ` +
      `lower the learning rate, clip gradients (maxGradNorm), or pass nonFinite: 'skip' to skip such steps`,
  );
}

/** One optimizer step since the last check: where it was, the optimizer's counters before it, its gradient norm. */
interface WatchedStep {
  step: number;
  epoch: number;
  /** The optimizer's counters before the step, when the guard may have skipped it (null: it was applied). */
  counters: OptimizerCounters | null;
  norm: Tensor | null;
}

/**
 * What the loop watches between its check points: a {@link StepGuard} over every update and the
 * gradient norms, read back together by {@link check}.
 */
export class DivergenceWatch {
  /** The guard the updates of this run are checked against. */
  readonly guard = new StepGuard();
  private pending: WatchedStep[] = [];

  constructor(private readonly optimizer: Optimizer) {}

  /**
   * The update of step `step` with the guard (`nonFinite: 'error'`): the guard checks `norm` (a
   * non-finite gradient makes the global norm non-finite) or, without clipping, the gradients of
   * `params`; an optimizer that can skip on the flag steps with it (no readback), any other reads the
   * flag first (one readback) and throws before stepping. `norm` is owned from now on.
   */
  async guardedStep(step: number, epoch: number, params: readonly Tensor[], norm: Tensor | null): Promise<void> {
    if (norm) this.guard.check([norm], step);
    else this.guard.checkGradients(params, step);
    this.pending.push({ step, epoch, counters: this.optimizer.saveCounters(), norm });
    if (this.optimizer.skipsOnGuard) {
      this.optimizer.step(this.guard);
      return;
    }
    await this.check();
    this.optimizer.step();
  }

  /**
   * Whether the values of a step hold Inf/NaN (`nonFinite: 'skip'`): the guard checks `losses` and
   * `norm`, or the gradients of `params` without clipping, and is read back at once (4 bytes). The
   * tensors are freed.
   */
  async stepIsBad(step: number, losses: Tensor[], params: readonly Tensor[], norm: Tensor | null): Promise<boolean> {
    try {
      this.guard.check([...losses, ...(norm ? [norm] : [])], step);
      if (!norm) this.guard.checkGradients(params, step);
      return (await this.guard.read()) !== null;
    } finally {
      for (const t of [...losses, ...(norm ? [norm] : [])]) t.dispose();
    }
  }

  /** Keeps the gradient norm of step `step` (owned from now on) for the next {@link check} (a step the caller stepped itself). */
  addNorm(step: number, epoch: number, norm: Tensor): void {
    this.pending.push({ step, epoch, counters: null, norm });
  }

  /**
   * Reads the guard and the kept norms back (one wait) and throws, naming the first step whose
   * gradients or norm were not finite; the optimizer's counters are then those before that step (its
   * weights and moments never changed from it on). Frees the kept norms either way.
   */
  async check(): Promise<void> {
    const pending = this.pending.splice(0);
    const norms = pending.filter((p) => p.norm !== null);
    const [bad, values] = await Promise.all([this.guard.read(), readScalars(norms.map((p) => p.norm!))]);
    const badNorm = norms.findIndex((_, i) => !Number.isFinite(values[i]));
    const first = bad ?? (badNorm >= 0 ? norms[badNorm].step : null);
    if (first === null) return;
    const at = pending.find((p) => p.step === first);
    if (at?.counters) this.optimizer.restoreCounters(at.counters);
    const kept = at?.counters ? `; the weights and optimizer state are those from before it (no update was applied from step ${first} on)` : '';
    const epoch = at?.epoch ?? 0;
    const normAt = norms.findIndex((p) => p.step === first);
    if (normAt >= 0 && !Number.isFinite(values[normAt])) throw divergedError('the gradient norm', values[normAt], first, epoch, kept);
    throw divergedError('a gradient', 'not finite (Inf or NaN)', first, epoch, kept);
  }

  /** Frees what is kept, unread (a failed run). */
  dispose(): void {
    for (const { norm } of this.pending.splice(0)) norm?.dispose();
    this.guard.dispose();
  }
}
