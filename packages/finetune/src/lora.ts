/**
 * LoRA, low-rank adaptation (the book's appendix E): a frozen `Linear` plus a trainable update
 * `(alpha / rank) · (x A) B` with `A` `[in, rank]` and `B` `[rank, out]`. Names follow the book's
 * `LinearWithLoRA`: a wrapped layer's parameters are `….linear.weight`, `….linear.bias`, `….lora.A`,
 * `….lora.B`. `applyLoRA` is the book's `replace_linear_with_lora` (after freezing the whole model);
 * `mergeLoRA`/`unmergeLoRA` fold the update into the base weights and back; `removeLoRA` puts plain
 * `Linear`s back (merged) for export.
 */
import { add, type AnyModule, Linear, matmul, Module, mulScalar, noGrad, rand, recordCopy, ScratchGPTError, sub, type Tensor, zeros } from '@scratchgpt/core';

/** Shape of the low-rank update. */
export interface LoRAOptions {
  /** Rank r of A `[in, r]` and B `[r, out]` (the book: 16). */
  rank: number;
  /** Scale numerator: the update is multiplied by alpha / rank (the book: 16). */
  alpha: number;
  /** Initialisation key of A (default: the global generator). */
  seed?: number;
}

function checkLoRAOptions({ rank, alpha }: LoRAOptions): void {
  if (!Number.isInteger(rank) || rank < 1) throw new ScratchGPTError('value', `scratchgpt: LoRA rank must be a positive integer, got ${rank}`);
  if (!Number.isFinite(alpha)) throw new ScratchGPTError('value', `scratchgpt: LoRA alpha must be a finite number, got ${alpha}`);
}

/**
 * The update itself (the book's `LoRALayer`): x `[..., in]` → `(alpha / rank) · (x A) B` `[..., out]`,
 * computed as two thin matmuls (A·B is never formed). B starts at zero, so a fresh layer adds nothing.
 * A starts like `torch.nn.init.kaiming_uniform_(A, a=√5)` on the book's `[in, rank]` tensor: PyTorch
 * takes a 2-D tensor's fan-in from its second dimension, here the rank, so A is uniform in ±1/√rank.
 */
export class LoRALayer extends Module {
  /** `[in, rank]`. */
  readonly A: Tensor;
  /** `[rank, out]`. */
  readonly B: Tensor;
  readonly rank: number;
  readonly alpha: number;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LoRAOptions,
  ) {
    super();
    checkLoRAOptions(options);
    const { rank, alpha, seed } = options;
    this.rank = rank;
    this.alpha = alpha;
    // kaiming_uniform_(a=√5): gain √(2 / (1 + a²)) = √(1/3), bound = gain·√(3 / fan_in) = 1/√rank.
    const bound = 1 / Math.sqrt(rank);
    this.A = this.param('A', rand([inFeatures, rank], { low: -bound, high: bound, seed }));
    this.B = this.param('B', zeros([rank, outFeatures]));
  }

  /** alpha / rank. */
  get scale(): number {
    return this.alpha / this.rank;
  }

  override forward(x: Tensor): Tensor {
    const xa = matmul(x, this.A); // [..., rank]
    if (this.scale === 1) {
      const out = matmul(xa, this.B); // [..., out]
      xa.dispose();
      return out;
    }
    const scaled = mulScalar(xa, this.scale); // scaling the thin [..., rank] tensor is the cheap place
    xa.dispose();
    const out = matmul(scaled, this.B);
    scaled.dispose();
    return out;
  }

  /** The update as a weight `[out, in]`, (alpha / rank)·(A B)ᵀ, without gradients (for merging). */
  deltaWeight(): Tensor {
    return noGrad(() => {
      const delta = matmul(this.B, this.A, { transA: true, transB: true }); // Bᵀ Aᵀ = (A B)ᵀ: [out, in]
      if (this.scale === 1) return delta;
      const scaled = mulScalar(delta, this.scale);
      delta.dispose();
      return scaled;
    });
  }
}

/**
 * A `Linear` with a LoRA update (the book's `LinearWithLoRA`): `linear(x) + lora(x)`. The wrapped
 * layer is kept as submodule `linear` (its tensors unchanged); `weight`, `bias`, `inFeatures` and
 * `outFeatures` read through to it, so code that reads those of a `Linear` keeps working.
 */
export class LoRALinear extends Module {
  readonly linear: Linear;
  readonly lora: LoRALayer;
  private isMerged = false;

  /** Wraps `linear` (kept as is, with its `requiresGrad`) with a fresh update (B = 0). */
  constructor(linear: Linear, options: LoRAOptions) {
    super();
    this.linear = this.module('linear', linear);
    this.lora = this.module('lora', new LoRALayer(linear.inFeatures, linear.outFeatures, options));
    this.training = linear.training;
  }

  /** The base layer's weight `[out, in]`. */
  get weight(): Tensor {
    return this.linear.weight;
  }

  /** The base layer's bias `[out]`, or null. */
  get bias(): Tensor | null {
    return this.linear.bias;
  }

  /** Input width. */
  get inFeatures(): number {
    return this.linear.inFeatures;
  }

  /** Output width. */
  get outFeatures(): number {
    return this.linear.outFeatures;
  }

  /** Whether the update is folded into `linear.weight` (forward then runs the base layer alone). */
  get merged(): boolean {
    return this.isMerged;
  }

  override forward(x: Tensor): Tensor {
    const y = this.linear.forward(x); // checks x's shape
    if (this.isMerged) return y;
    const update = this.lora.forward(x);
    const out = add(y, update);
    y.dispose();
    update.dispose();
    return out;
  }

  /** Folds the update into the base weight: W ← W + (alpha/rank)·(A B)ᵀ (in place; no-op if merged). */
  merge(): void {
    if (this.isMerged) return;
    this.fold(add);
    this.isMerged = true;
  }

  /** Takes the update back out: W ← W − (alpha/rank)·(A B)ᵀ (exact up to float rounding; no-op if not merged). */
  unmerge(): void {
    if (!this.isMerged) return;
    this.fold(sub);
    this.isMerged = false;
  }

  private fold(op: (a: Tensor, b: Tensor) => Tensor): void {
    noGrad(() => {
      const weight = this.linear.weight;
      const delta = this.lora.deltaWeight();
      const updated = op(weight, delta);
      // Into the existing buffer, so references to the parameter (optimizers, state dicts) stay valid.
      recordCopy(updated.buffer, updated.byteOffset, weight.buffer, weight.byteOffset, weight.byteLength);
      delta.dispose();
      updated.dispose();
    });
  }
}

/** Options of {@link applyLoRA}. */
export interface ApplyLoRAOptions extends LoRAOptions {
  /**
   * Which `Linear`s to wrap, by dotted module path (`trf_blocks.0.att.W_query`, `out_head`): a regular
   * expression tested against the path, or a predicate. Default: every `Linear` (the book).
   */
  targets?: RegExp | ((path: string, linear: Linear) => boolean);
  /** Freeze every parameter of the model first, as the book does, except existing LoRA adapters (default true). */
  freeze?: boolean;
}

function matches(targets: ApplyLoRAOptions['targets'], path: string, linear: Linear): boolean {
  if (targets === undefined) return true;
  if (targets instanceof RegExp) {
    targets.lastIndex = 0; // a global/sticky regex would otherwise remember its last match
    return targets.test(path);
  }
  return targets(path, linear);
}

/**
 * Every `Linear` in `model`'s module tree with its path and parent (a module reached twice, as when a
 * classifier registers its GPT's blocks, is listed under each parent). Does not descend into LoRA layers.
 */
function findLinears(model: AnyModule): { path: string; parent: AnyModule; name: string; linear: Linear }[] {
  const out: { path: string; parent: AnyModule; name: string; linear: Linear }[] = [];
  const visit = (module: AnyModule, prefix: string): void => {
    for (const [name, child] of module.namedChildren()) {
      const path = prefix === '' ? name : `${prefix}.${name}`;
      if (child instanceof Linear) out.push({ path, parent: module, name, linear: child });
      else if (!(child instanceof LoRALinear)) visit(child, path);
    }
  };
  visit(model, '');
  return out;
}

/**
 * Wraps the model's `Linear` layers in {@link LoRALinear}s (the book's `replace_linear_with_lora`,
 * which also wraps a classifier's head and the LM head), after freezing every parameter of the model
 * but the LoRA adapters it may already have (`freeze: false` leaves `requiresGrad` as it is). Only A
 * and B train then. Each wrapped layer gets
 * its own A (seeded with `seed + i` in path order when `seed` is given). Returns the wrapped paths.
 * Throws if nothing matches.
 * @example
 * ```ts
 * const model = GPTClassifier.fromGPT(await loadGPT2(gpt2WeightsUrl('gpt2')), { numClasses: 2 });
 * applyLoRA(model, { rank: 16, alpha: 16 });
 * model.numParameters({ trainableOnly: true }); // 2_666_528, as in the book
 * const opt = new AdamW(model.namedParameters().filter(([, p]) => p.requiresGrad), { lr: 5e-5, weightDecay: 0.1 });
 * ```
 */
export function applyLoRA(model: AnyModule, options: ApplyLoRAOptions): string[] {
  checkLoRAOptions(options);
  const { rank, alpha, seed, targets, freeze = true } = options;
  const found = findLinears(model).filter(({ path, linear }) => matches(targets, path, linear));
  if (found.length === 0) throw new ScratchGPTError('value', `scratchgpt: applyLoRA found no Linear layer${targets ? ` matching ${String(targets)}` : ''} to wrap`);
  if (freeze) {
    // Everything but the LoRA adapters already there (a second call must not freeze the first's).
    const adapters = loraLayers(model).flatMap(([, layer]) => layer.lora.parameters());
    const states = adapters.map((p) => p.requiresGrad);
    model.requiresGrad(false);
    for (let i = 0; i < adapters.length; i++) adapters[i].requiresGrad = states[i];
  }
  const wrapped = new Map<Linear, LoRALinear>();
  const paths: string[] = [];
  for (const { path, parent, name, linear } of found) {
    let lora = wrapped.get(linear);
    if (!lora) {
      lora = new LoRALinear(linear, { rank, alpha, seed: seed === undefined ? undefined : seed + wrapped.size });
      wrapped.set(linear, lora);
    }
    parent.replaceModule(name, lora);
    paths.push(path);
  }
  return paths;
}

/** Every {@link LoRALinear} of the model with its dotted path. */
export function loraLayers(model: AnyModule): [string, LoRALinear][] {
  return model.namedModules().filter((entry): entry is [string, LoRALinear] => entry[1] instanceof LoRALinear);
}

/** Folds every LoRA update into its base weight (for inference or export); see {@link LoRALinear.merge}. */
export function mergeLoRA(model: AnyModule): void {
  for (const layer of new Set(loraLayers(model).map(([, m]) => m))) layer.merge();
}

/** Undoes {@link mergeLoRA}; see {@link LoRALinear.unmerge}. */
export function unmergeLoRA(model: AnyModule): void {
  for (const layer of new Set(loraLayers(model).map(([, m]) => m))) layer.unmerge();
}

/**
 * Replaces every {@link LoRALinear} by its base `Linear` again, with the update merged into the
 * weights unless `merge: false`, and frees A and B. The state dict then has the plain model's names.
 * The base weights keep the `requiresGrad` they had (frozen after {@link applyLoRA}).
 */
export function removeLoRA(model: AnyModule, { merge = true }: { merge?: boolean } = {}): void {
  const layers = new Set<LoRALinear>();
  const visit = (module: AnyModule): void => {
    for (const [name, child] of module.namedChildren()) {
      if (child instanceof LoRALinear) {
        if (merge) child.merge();
        else child.unmerge();
        module.replaceModule(name, child.linear);
        layers.add(child);
      } else {
        visit(child);
      }
    }
  };
  visit(model);
  for (const layer of layers) layer.lora.dispose();
}
