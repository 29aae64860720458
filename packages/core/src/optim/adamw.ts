/** AdamW with PyTorch 1.13 semantics, one fused kernel per parameter (chunked for huge ones). */
import { zeros } from '../creation';
import { chunks, dispatch, grid, range } from '../kernel';
import { recordCopy } from '../queue';
import { keep } from '../scope';
import type { Tensor } from '../tensor';
import { optimKernel, optimUniforms } from './kernel';
import { checkStateShape, Optimizer, type OptimizerState, type ParamList } from './optimizer';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/**
 * AdamW (decoupled weight decay): `p ← p·(1 − lr·wd)`, then Adam with bias corrections. Parameters
 * whose `.grad` is null are skipped and their step count does not advance.
 * @example
 * ```ts
 * const opt = new AdamW(model.namedParameters(), { lr: 4e-4, weightDecay: 0.1 });
 * loss.backward(); opt.step(); opt.zeroGrad();
 * ```
 */
export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  /** Steps taken per parameter. */
  readonly steps: number[];

  constructor(params: ParamList, { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01 }: AdamWOptions = {}) {
    super(params, lr);
    this.betas = betas;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.m = this.params.map((p) => keep(zeros(p.shape)));
    this.v = this.params.map((p) => keep(zeros(p.shape)));
    this.steps = this.params.map(() => 0);
  }

  step(): void {
    const [beta1, beta2] = this.betas;
    this.params.forEach((p, k) => {
      const g = p.grad;
      if (!g) return;
      const t = ++this.steps[k];
      const stepSize = this.lr / (1 - beta1 ** t);
      const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
      for (const { start, count } of chunks(p.size)) {
        if (count === 0) continue;
        dispatch(optimKernel, {
          entry: 'adamw',
          uniforms: optimUniforms({ n: count, lr: this.lr, beta1, beta2, eps: this.eps, weightDecay: this.weightDecay, stepSize, bc2Sqrt }),
          storage: [range(p, start, count), range(g, start, count), range(this.m[k], start, count), range(this.v[k], start, count)],
          workgroups: grid(count, 256),
        });
      }
    });
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.names.forEach((name, k) => {
      tensors.set(`${name}.exp_avg`, this.m[k]);
      tensors.set(`${name}.exp_avg_sq`, this.v[k]);
    });
    return {
      tensors,
      meta: { type: 'AdamW', lr: this.lr, betas: this.betas, eps: this.eps, weightDecay: this.weightDecay, steps: Object.fromEntries(this.names.map((n, k) => [n, this.steps[k]])) },
    };
  }

  loadStateDict(state: OptimizerState): void {
    if (state.meta.type !== 'AdamW') throw new Error(`scratchgpt: cannot load ${String(state.meta.type)} state into AdamW`);
    const steps = state.meta.steps as Record<string, number> | undefined;
    this.names.forEach((name, k) => {
      const m = checkStateShape(`${name}.exp_avg`, this.m[k], state.tensors.get(`${name}.exp_avg`));
      const v = checkStateShape(`${name}.exp_avg_sq`, this.v[k], state.tensors.get(`${name}.exp_avg_sq`));
      recordCopy(m.buffer, 0, this.m[k].buffer, 0, m.byteLength);
      recordCopy(v.buffer, 0, this.v[k].buffer, 0, v.byteLength);
      const s = steps?.[name];
      if (typeof s !== 'number') throw new Error(`scratchgpt: optimizer state has no step count for '${name}'`);
      this.steps[k] = s;
    });
    if (typeof state.meta.lr === 'number') this.lr = state.meta.lr;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}
