/** AdamW with PyTorch 1.13 semantics, one fused kernel per parameter (chunked for huge ones). */
import { ScratchGPTError } from '../engine/errors';
import { zeros } from '../ops/creation';
import { chunks, launch, range } from '../engine/kernel';
import { keep } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { optimKernel } from './kernel';
import { checkHyper, checkStateShape, copyState, gradOf, Optimizer, type OptimizerState, type ParamList } from './optimizer';

export interface AdamWOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator for stability (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay: each step multiplies weights by `1 − lr·weightDecay` (default 0.01). */
  weightDecay?: number;
}

function checkAdamW({ betas, eps, weightDecay }: { betas: readonly number[]; eps: number; weightDecay: number }): void {
  if (!Array.isArray(betas) || betas.length !== 2) throw new ScratchGPTError('value', `scratchgpt: AdamW betas must be a pair, got ${JSON.stringify(betas)}`);
  betas.forEach((b, k) => checkHyper(`AdamW beta${k + 1}`, b, (v) => v >= 0 && v < 1, 'a number in [0, 1)'));
  checkHyper('AdamW eps', eps, (v) => Number.isFinite(v) && v >= 0, 'a finite number ≥ 0');
  checkHyper('AdamW weight decay', weightDecay, (v) => Number.isFinite(v) && v >= 0, 'a finite number ≥ 0');
}

/**
 * AdamW (decoupled weight decay): `p ← p·(1 − lr·wd)`, then Adam with bias corrections. Parameters
 * whose `.grad` is null are skipped and their step count does not advance. Updates happen in place:
 * every parameter keeps its GPU buffer.
 * @example
 * ```ts
 * const opt = new AdamW(model.namedParameters(), { lr: 4e-4, weightDecay: 0.1 });
 * loss.backward(); opt.step(); opt.zeroGrad();
 * ```
 */
export class AdamW extends Optimizer {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  /** Steps taken per parameter. */
  readonly steps: number[];

  constructor(params: ParamList, { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01 }: AdamWOptions = {}) {
    super(params, lr);
    checkAdamW({ betas, eps, weightDecay });
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.m = this.params.map((p) => keep(zeros(p.shape)));
    this.v = this.params.map((p) => keep(zeros(p.shape)));
    this.steps = this.params.map(() => 0);
  }

  step(): void {
    const [beta1, beta2] = this.betas;
    this.params.forEach((p, k) => {
      const g = gradOf(this.names[k], p);
      if (!g) return;
      const t = ++this.steps[k];
      // Scalars in float64, like PyTorch's Python-float arithmetic; the kernel only multiplies.
      const hyper = {
        beta1,
        beta2,
        eps: this.eps,
        step_size: this.lr / (1 - beta1 ** t),
        bc2_sqrt: Math.sqrt(1 - beta2 ** t),
        one_minus_beta1: 1 - beta1,
        one_minus_beta2: 1 - beta2,
        decay: 1 - this.lr * this.weightDecay,
      };
      for (const { start, count } of chunks(p.size)) {
        if (count === 0) continue;
        launch(optimKernel, 'adamw', {
          params: { n: count, ...hyper },
          bind: { param: range(p, start, count), grad: range(g, start, count), m: range(this.m[k], start, count), v: range(this.v[k], start, count) },
          items: count,
        });
      }
    });
  }

  /**
   * The state to save for resuming: `<name>.exp_avg` / `<name>.exp_avg_sq` tensors (the optimizer's
   * own, not copies: read them before the next step) and JSON metadata (hyperparameters, step counts).
   */
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.names.forEach((name, k) => {
      tensors.set(`${name}.exp_avg`, this.m[k]);
      tensors.set(`${name}.exp_avg_sq`, this.v[k]);
    });
    return {
      tensors,
      meta: {
        type: 'AdamW',
        lr: this.lr,
        betas: [...this.betas],
        eps: this.eps,
        weightDecay: this.weightDecay,
        steps: Object.fromEntries(this.names.map((n, k) => [n, this.steps[k]])),
      },
    };
  }

  /** Copies moments into this optimizer's state (on the GPU) and restores step counts and hyperparameters. */
  loadStateDict(state: OptimizerState): void {
    if (state.meta.type !== 'AdamW') throw new ScratchGPTError('format', `scratchgpt: cannot load ${String(state.meta.type)} state into AdamW`);
    const steps = state.meta.steps as Record<string, unknown> | undefined;
    const { lr = this.lr, betas = this.betas, eps = this.eps, weightDecay = this.weightDecay } = state.meta as {
      lr?: number;
      betas?: [number, number];
      eps?: number;
      weightDecay?: number;
    };
    checkAdamW({ betas, eps, weightDecay });
    // Validate everything before changing anything.
    const loaded = this.names.map((name, k) => {
      const m = checkStateShape(`${name}.exp_avg`, this.m[k], state.tensors.get(`${name}.exp_avg`));
      const v = checkStateShape(`${name}.exp_avg_sq`, this.v[k], state.tensors.get(`${name}.exp_avg_sq`));
      const s = steps?.[name];
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) throw new ScratchGPTError('format', `scratchgpt: optimizer state has no valid step count for '${name}' (got ${String(s)})`);
      return { m, v, s };
    });
    this.lr = lr;
    loaded.forEach(({ m, v, s }, k) => {
      copyState(m, this.m[k]);
      copyState(v, this.v[k]);
      this.steps[k] = s;
    });
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}
