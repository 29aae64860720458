/**
 * AdamW with PyTorch 1.13 semantics. Fused (`fused: true` or `'auto'`): the parameters live in a few
 * flat buffers (optim/arena.ts) and one dispatch updates a whole binding-sized buffer. Otherwise
 * kernels update two parameters (or binding-sized chunks of huge ones) per dispatch.
 */
import { ScratchGPTError } from '../engine/errors';
import { zeros } from '../ops/creation';
import { chunks, grid, launch, range, type StorageBinding } from '../engine/kernel';
import { recordCopy } from '../engine/queue';
import { keep } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { cannotPack, ParameterArenas, type ArenaChunk } from './arena';
import { adamwFlatKernel, adamwKernel } from './kernel';
import { checkHyper, checkStateShape, copyState, gradOf, Optimizer, type OptimizerCounters, type OptimizerState, type ParamList } from './optimizer';
import type { StepGuard } from './step-guard';

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
  /**
   * Like `torch.optim.AdamW(..., fused=True)`: move the parameters into a few flat GPU buffers and
   * update each buffer with one dispatch (GPT-2 124M: a handful of dispatches instead of 74). The
   * parameters keep their identity but their data moves, and backward writes their gradients in place
   * into a flat gradient buffer; results are bitwise those of the unfused kernels. `true` requires it
   * (throws when a parameter shares its storage with another tensor, or belongs to another live fused
   * optimizer), `'auto'` fuses when it can, `false` (default) never does (each parameter keeps its own
   * buffer).
   */
  fused?: boolean | 'auto';
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
  /** The flat buffers when fused (null otherwise). */
  private readonly arenas: ParameterArenas | null;
  /** Steps taken per parameter. */
  readonly steps: number[];

  constructor(params: ParamList, { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0.01, fused }: AdamWOptions = {}) {
    super(params, lr);
    checkAdamW({ betas, eps, weightDecay });
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
    const obstacle = fused === false || fused === undefined ? 'not asked for' : cannotPack(this.names, this.params);
    if (fused === true && obstacle) throw new ScratchGPTError('state', `scratchgpt: AdamW fused: ${obstacle}`);
    this.arenas = obstacle ? null : new ParameterArenas(this.params);
    this.m = this.arenas ? this.arenas.m : this.params.map((p) => keep(zeros(p.shape)));
    this.v = this.arenas ? this.arenas.v : this.params.map((p) => keep(zeros(p.shape)));
    this.steps = this.params.map(() => 0);
  }

  /** Whether this optimizer keeps its parameters in flat buffers (see {@link AdamWOptions.fused}). */
  get fused(): boolean {
    return this.arenas !== null;
  }

  /**
   * A fused AdamW can skip on a {@link StepGuard}'s flag (its one kernel per flat buffer takes it); the
   * unfused kernel binds eight buffers already, the most WebGPU guarantees, so it cannot.
   */
  override get skipsOnGuard(): boolean {
    return this.arenas !== null;
  }

  step(guard?: StepGuard): void {
    this.checkGuard(guard);
    if (this.arenas) {
      this.fusedStep(this.arenas, guard);
      return;
    }
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

  /** One dispatch per binding-sized chunk of the flat buffers, listing the parameters that have a gradient. */
  private fusedStep(arenas: ParameterArenas, guard: StepGuard | undefined): void {
    const [beta1, beta2] = this.betas;
    const active = this.params.map((p, k) => {
      const g = gradOf(this.names[k], p);
      if (!g) return null;
      // A gradient assigned by hand (not accumulated by backward) is copied into the flat buffer.
      const slot = arenas.slots[k];
      if (g !== slot && g.byteLength > 0) recordCopy(g.buffer, g.byteOffset, slot.buffer, slot.byteOffset, slot.byteLength);
      const t = ++this.steps[k];
      return { stepSize: this.lr / (1 - beta1 ** t), bc2Sqrt: Math.sqrt(1 - beta2 ** t) };
    });
    for (const chunk of arenas.chunks()) {
      const spans = spansOf(chunk, this.params, active);
      if (spans.length === 0) continue;
      const n = spans[spans.length - 1].start + spans[spans.length - 1].count;
      const at = (x: Tensor) => range(x, chunk.start, n);
      launch(adamwFlatKernel, 'step', {
        constants: { GUARDED: guard !== undefined },
        params: {
          n,
          spans: spans.length,
          beta1,
          beta2,
          eps: this.eps,
          one_minus_beta1: 1 - beta1,
          one_minus_beta2: 1 - beta2,
          decay: 1 - this.lr * this.weightDecay,
          bounds: spans.flatMap((s) => [s.start, s.count]),
          scales: spans.flatMap((s) => [s.stepSize, s.bc2Sqrt]),
        },
        bind: { param: at(chunk.arena.param), grad: at(chunk.arena.grad), m: at(chunk.arena.m), v: at(chunk.arena.v), skip: guard?.flag ?? null },
        items: n,
      });
    }
  }

  /** The learning rate and every parameter's step count. */
  override saveCounters(): OptimizerCounters {
    return { ...super.saveCounters(), steps: [...this.steps] };
  }

  override restoreCounters(saved: OptimizerCounters): void {
    super.restoreCounters(saved);
    (saved.steps as number[]).forEach((s, k) => (this.steps[k] = s));
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

  /**
   * Frees the moments. Fused, the parameters stay in their flat buffer (freed with the last of them)
   * and a gradient they hold stays theirs.
   */
  dispose(): void {
    if (this.arenas) this.arenas.dispose();
    else for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

/** The parameters of `chunk` that have a gradient this step, as spans relative to the chunk's start. */
function spansOf(
  chunk: ArenaChunk,
  params: readonly Tensor[],
  active: readonly ({ stepSize: number; bc2Sqrt: number } | null)[],
): { start: number; count: number; stepSize: number; bc2Sqrt: number }[] {
  const spans: { start: number; count: number; stepSize: number; bc2Sqrt: number }[] = [];
  for (const { index, start } of chunk.arena.members) {
    const scales = active[index];
    const from = Math.max(start, chunk.start);
    const to = Math.min(start + params[index].size, chunk.start + chunk.count);
    if (scales && to > from) spans.push({ start: from - chunk.start, count: to - from, ...scales });
  }
  return spans;
}
