/**
 * Standard layers: Linear, Embedding, LayerNorm, Dropout, GELU, ReLU, and the containers
 * Sequential and ModuleList. Initialisation follows PyTorch's defaults.
 */
import { ScratchGPTError } from '../engine/errors';
import { full, rand, randn } from '../ops/creation';
import { add } from '../ops/binary';
import { dropout } from '../ops/dropout';
import { embedding } from '../ops/embedding';
import { layerNorm } from '../ops/layernorm';
import { matmul } from '../ops/matmul';
import { gelu, relu } from '../ops/unary';
import { fmt, type Tensor } from '../engine/tensor';
import { Module, type AnyModule } from './module';

export interface LinearOptions {
  /** Add a learned bias. Default true. */
  bias?: boolean;
  /** Initialisation key (the bias uses seed + 1). Default: the global generator. */
  seed?: number;
}

/**
 * y = x·Wᵀ + b over the last axis: x `[..., in]` → `[..., out]`. `weight` is `[out, in]` like
 * PyTorch's (so checkpoints load without transposes); weight and bias start uniform in ±1/√in.
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    { bias = true, seed }: LinearOptions = {},
  ) {
    super();
    const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
    this.weight = this.param('weight', rand([outFeatures, inFeatures], { low: -bound, high: bound, seed }));
    this.bias = bias
      ? this.param('bias', rand([outFeatures], { low: -bound, high: bound, seed: seed === undefined ? undefined : seed + 1 }))
      : null;
  }

  override forward(x: Tensor): Tensor {
    if (x.rank < 2 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new ScratchGPTError('shape',
        `scratchgpt: Linear(${this.inFeatures}, ${this.outFeatures}) expects input [..., ${this.inFeatures}] with at least 2 dims, got ${fmt(x.shape)}`,
      );
    }
    const y = matmul(x, this.weight, { transB: true }); // [..., out]
    return this.bias ? add(y, this.bias) : y;
  }
}

/** A lookup table: ids `[...]` (i32) → rows of `weight` `[num, dim]`, giving `[..., dim]`. Weight starts normal(0, 1). */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    { seed }: { seed?: number } = {},
  ) {
    super();
    this.weight = this.param('weight', randn([numEmbeddings, embeddingDim], { seed }));
  }

  override forward(ids: Tensor): Tensor {
    return embedding(ids, this.weight);
  }
}

/** Layer normalisation over the last axis (size `dim`), with `weight` (ones) and `bias` (zeros). */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly eps: number;

  constructor(
    readonly dim: number,
    { eps = 1e-5 }: { eps?: number } = {},
  ) {
    super();
    this.eps = eps;
    this.weight = this.param('weight', full([dim], 1));
    this.bias = this.param('bias', full([dim], 0));
  }

  override forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** Dropout with probability `p` while `training`; the identity in `eval()` mode. */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ScratchGPTError('range', `scratchgpt: Dropout probability must be in [0, 1], got ${p}`);
  }

  override forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training });
  }
}

/** GELU (tanh approximation, as in GPT-2). */
export class GELU extends Module {
  override forward(x: Tensor): Tensor {
    return gelu(x);
  }
}

export class ReLU extends Module {
  override forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/**
 * Modules applied in order; parameters are named by position (`0.weight`, `2.bias`, ...).
 * Always returns a new tensor (an empty Sequential a fresh handle on its input, never the input).
 */
export class Sequential extends Module {
  readonly layers: readonly Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.module(String(i), m));
  }

  override forward(x: Tensor): Tensor {
    let h = x;
    for (const layer of this.layers) h = layer.forward(h);
    return h === x ? x.reshape(x.shape) : h; // the caller owns the result: never hand back its input
  }
}

/**
 * A list of submodules named by index (`blocks.0.…`, `blocks.1.…`). It has no forward of its own:
 * iterate it.
 * @example
 * ```ts
 * this.blocks = this.module('blocks', new ModuleList(range(n).map(() => new Block(config))));
 * for (const block of this.blocks) x = block.forward(x);
 * ```
 */
export class ModuleList<M extends AnyModule = Module> extends Module<never[], never> implements Iterable<M> {
  private readonly items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.push(m);
  }

  /** Appends a module (named by its index); returns it. */
  push(module: M): M {
    this.items.push(this.module(String(this.items.length), module));
    return module;
  }

  get length(): number {
    return this.items.length;
  }

  /** The module at `index` (negative counts from the end). */
  at(index: number): M {
    const m = this.items.at(index);
    if (!m) throw new ScratchGPTError('range', `scratchgpt: ModuleList index ${index} is out of range (length ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  override forward(): never {
    throw new ScratchGPTError('state', 'scratchgpt: ModuleList has no forward(); iterate over it and call each module');
  }
}
