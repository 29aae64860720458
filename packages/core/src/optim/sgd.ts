/** SGD with momentum, dampening, Nesterov and L2 weight decay (PyTorch semantics), fused per parameter. */
import { ScratchGPTError } from '../engine/errors';
import { zeros } from '../ops/creation';
import { chunks, launch, range } from '../engine/kernel';
import { keep } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { optimKernel } from './kernel';
import { checkHyper, checkStateShape, copyState, gradOf, Optimizer, type OptimizerCounters, type OptimizerState, type ParamList } from './optimizer';
import type { StepGuard } from './step-guard';

export interface SGDOptions {
  lr: number;
  /** Momentum factor (default 0: plain SGD, no state). */
  momentum?: number;
  /** Dampening of the gradient added to the momentum buffer (default 0). */
  dampening?: number;
  /** L2 penalty added to the gradient: `g + weightDecay·p` (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
}

function checkSGD({ momentum, dampening, weightDecay, nesterov }: Required<Omit<SGDOptions, 'lr'>>): void {
  checkHyper('SGD momentum', momentum, (v) => Number.isFinite(v) && v >= 0, 'a finite number ≥ 0');
  checkHyper('SGD dampening', dampening, Number.isFinite, 'a finite number');
  checkHyper('SGD weight decay', weightDecay, (v) => Number.isFinite(v) && v >= 0, 'a finite number ≥ 0');
  if (nesterov && (momentum <= 0 || dampening !== 0)) throw new ScratchGPTError('value', 'scratchgpt: SGD nesterov needs momentum > 0 and dampening 0');
}

/**
 * Stochastic gradient descent as `torch.optim.SGD`: `d = g + wd·p`; with momentum
 * `buf = momentum·buf + (1 − dampening)·d` (`buf = d` on the first step), `d = buf` or, Nesterov,
 * `d + momentum·buf`; then `p ← p − lr·d`. Parameters without `.grad` are skipped.
 */
export class SGD extends Optimizer {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  private readonly buffers: (Tensor | null)[];
  private readonly started: boolean[];

  constructor(params: ParamList, { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false }: SGDOptions) {
    super(params, lr);
    checkSGD({ momentum, dampening, weightDecay, nesterov });
    this.momentum = momentum;
    this.dampening = dampening;
    this.weightDecay = weightDecay;
    this.nesterov = nesterov;
    this.buffers = this.params.map((p) => (momentum !== 0 ? keep(zeros(p.shape)) : null));
    this.started = this.params.map(() => false);
  }

  /** Every SGD update can skip on a {@link StepGuard}'s flag. */
  override get skipsOnGuard(): boolean {
    return true;
  }

  step(guard?: StepGuard): void {
    this.params.forEach((p, k) => {
      const g = gradOf(this.names[k], p);
      if (!g) return;
      const buf = this.buffers[k];
      for (const { start, count } of chunks(p.size)) {
        if (count === 0) continue;
        launch(optimKernel, 'sgd', {
          constants: { GUARDED: guard !== undefined },
          params: {
            n: count,
            lr: this.lr,
            beta1: this.momentum,
            one_minus_beta1: 1 - this.dampening,
            weight_decay: this.weightDecay,
            nesterov: this.nesterov,
            first: !this.started[k],
          },
          bind: { param: range(p, start, count), grad: range(g, start, count), m: buf ? range(buf, start, count) : null, skip: guard?.flag ?? null },
          items: count,
        });
      }
      this.started[k] = buf !== null;
    });
  }

  /** The learning rate and which momentum buffers have started. */
  override saveCounters(): OptimizerCounters {
    return { ...super.saveCounters(), started: [...this.started] };
  }

  override restoreCounters(saved: OptimizerCounters): void {
    super.restoreCounters(saved);
    (saved.started as boolean[]).forEach((s, k) => (this.started[k] = s));
  }

  /** `<name>.momentum_buffer` for every parameter that has one (the optimizer's own tensors), plus hyperparameters. */
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.names.forEach((name, k) => {
      const buf = this.buffers[k];
      if (buf && this.started[k]) tensors.set(`${name}.momentum_buffer`, buf);
    });
    return { tensors, meta: { type: 'SGD', lr: this.lr, momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov } };
  }

  /** Restores momentum buffers (a parameter without one starts afresh) and hyperparameters. */
  loadStateDict(state: OptimizerState): void {
    if (state.meta.type !== 'SGD') throw new ScratchGPTError('format', `scratchgpt: cannot load ${String(state.meta.type)} state into SGD`);
    const {
      lr = this.lr,
      momentum = this.momentum,
      dampening = this.dampening,
      weightDecay = this.weightDecay,
      nesterov = this.nesterov,
    } = state.meta as Partial<SGDOptions>;
    checkSGD({ momentum, dampening, weightDecay, nesterov });
    if ((momentum === 0) !== (this.momentum === 0)) {
      throw new ScratchGPTError('format', `scratchgpt: SGD state has momentum ${momentum} but this optimizer was built with momentum ${this.momentum}`);
    }
    const loaded = this.names.map((name, k) => {
      const key = `${name}.momentum_buffer`;
      const buf = this.buffers[k];
      return buf && state.tensors.has(key) ? checkStateShape(key, buf, state.tensors.get(key)) : null;
    });
    this.lr = lr;
    loaded.forEach((src, k) => {
      const buf = this.buffers[k];
      if (src && buf) copyState(src, buf);
      this.started[k] = src !== null;
    });
    this.momentum = momentum;
    this.dampening = dampening;
    this.weightDecay = weightDecay;
    this.nesterov = nesterov;
  }

  dispose(): void {
    for (const b of this.buffers) b?.dispose();
  }
}
