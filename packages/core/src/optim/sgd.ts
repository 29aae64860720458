/** SGD with momentum, dampening, Nesterov and L2 weight decay (PyTorch semantics), fused per parameter. */
import { zeros } from '../creation';
import { chunks, dispatch, grid, range } from '../kernel';
import { recordCopy } from '../queue';
import { keep } from '../scope';
import type { Tensor } from '../tensor';
import { optimKernel, optimUniforms } from './kernel';
import { checkStateShape, Optimizer, type OptimizerState, type ParamList } from './optimizer';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly buffers: (Tensor | null)[];
  private readonly started: boolean[];

  constructor(params: ParamList, { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false }: SGDOptions) {
    super(params, lr);
    if (nesterov && (momentum <= 0 || dampening !== 0)) throw new Error('scratchgpt: SGD nesterov needs momentum > 0 and dampening 0');
    this.momentum = momentum;
    this.dampening = dampening;
    this.weightDecay = weightDecay;
    this.nesterov = nesterov;
    this.buffers = this.params.map((p) => (momentum !== 0 ? keep(zeros(p.shape)) : null));
    this.started = this.params.map(() => false);
  }

  step(): void {
    this.params.forEach((p, k) => {
      const g = p.grad;
      if (!g) return;
      const buf = this.buffers[k];
      for (const { start, count } of chunks(p.size)) {
        if (count === 0) continue;
        dispatch(optimKernel, {
          entry: 'sgd',
          uniforms: optimUniforms({ n: count, lr: this.lr, beta1: this.momentum, beta2: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov, first: !this.started[k] }),
          storage: [range(p, start, count), range(g, start, count), buf ? range(buf, start, count) : null],
          workgroups: grid(count, 256),
        });
      }
      this.started[k] = true;
    });
  }

  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.names.forEach((name, k) => {
      const buf = this.buffers[k];
      if (buf && this.started[k]) tensors.set(`${name}.momentum_buffer`, buf);
    });
    return { tensors, meta: { type: 'SGD', lr: this.lr, momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov } };
  }

  loadStateDict(state: OptimizerState): void {
    if (state.meta.type !== 'SGD') throw new Error(`scratchgpt: cannot load ${String(state.meta.type)} state into SGD`);
    this.names.forEach((name, k) => {
      const buf = this.buffers[k];
      const key = `${name}.momentum_buffer`;
      if (!buf || !state.tensors.has(key)) return;
      const src = checkStateShape(key, buf, state.tensors.get(key));
      recordCopy(src.buffer, 0, buf.buffer, 0, src.byteLength);
      this.started[k] = true;
    });
    if (typeof state.meta.lr === 'number') this.lr = state.meta.lr;
  }

  dispose(): void {
    for (const b of this.buffers) b?.dispose();
  }
}
