/**
 * AdamW with PyTorch 1.13 semantics: fused kernels that update two parameters (or binding-sized
 * chunks of huge ones) per dispatch.
 */
import { ScratchGPTError } from '../engine/errors';
import { zeros } from '../ops/creation';
import { chunks, grid, launch, range, type StorageBinding } from '../engine/kernel';
import { keep } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { adamwKernel } from './kernel';
import { checkHyper, checkStateShape, copyState, gradOf, Optimizer, type OptimizerState, type ParamList } from './optimizer';

/** One chunk of one parameter in a step: its size, bias corrections and bindings (param, grad, m, v). */
interface Slot {
  n: number;
  stepSize: number;
  bc2Sqrt: number;
  bind: [StorageBinding, StorageBinding, StorageBinding, StorageBinding];
}

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
    // Every binding-sized chunk of every parameter with a gradient, with its bias corrections
    // (scalars in float64, like PyTorch's Python-float arithmetic; the kernel only multiplies).
    const work: Slot[] = [];
    this.params.forEach((p, k) => {
      const g = gradOf(this.names[k], p);
      if (!g) return;
      const t = ++this.steps[k];
      const stepSize = this.lr / (1 - beta1 ** t);
      const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
      for (const { start, count } of chunks(p.size)) {
        if (count === 0) continue;
        const at = (x: Tensor) => range(x, start, count);
        work.push({ n: count, stepSize, bc2Sqrt, bind: [at(p), at(g), at(this.m[k]), at(this.v[k])] });
      }
    });
    const shared = { beta1, beta2, eps: this.eps, one_minus_beta1: 1 - beta1, one_minus_beta2: 1 - beta2, decay: 1 - this.lr * this.weightDecay };
    const wg = adamwKernel.workgroupSize('step');
    for (let i = 0; i < work.length; i += 2) {
      const [a, b] = [work[i], work[i + 1]];
      const groups0 = Math.ceil(a.n / wg);
      const groups = groups0 + (b ? Math.ceil(b.n / wg) : 0);
      launch(adamwKernel, 'step', {
        params: { ...shared, n0: a.n, n1: b?.n ?? 0, groups0, step_size0: a.stepSize, bc2_sqrt0: a.bc2Sqrt, step_size1: b?.stepSize ?? 0, bc2_sqrt1: b?.bc2Sqrt ?? 1 },
        bind: {
          param0: a.bind[0], grad0: a.bind[1], m0: a.bind[2], v0: a.bind[3],
          param1: b?.bind[0] ?? null, grad1: b?.bind[1] ?? null, m1: b?.bind[2] ?? null, v1: b?.bind[3] ?? null,
        },
        workgroups: grid(groups, 1),
      });
    }
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
