/**
 * A GPT turned into a text classifier (the book's chapter 6): the trunk of a `GPTModel`, its final
 * norm, and a new `Linear(embDim, numClasses)` head (with bias) in place of the LM head. The head reads
 * only the pooled position(s), never the whole sequence. Parameter names are the book's classifier's
 * (`tok_emb.weight`, `trf_blocks.N.…`, `final_norm.weight`, `out_head.weight`, `out_head.bias`).
 *
 * Frozen parameters (`requiresGrad = false`) follow PyTorch: no gradient, and since ops only record
 * graph nodes when an input requires a gradient, a frozen trunk fed with token ids records nothing
 * below the lowest trainable block (no saved activations, no gradient kernels there). Give the
 * optimizer `namedTrainableParameters()` so that frozen ones get no optimizer state either.
 */
import { crossEntropy, fmt, fromArray, Linear, Module, ScratchGPTError, type Tensor } from '@scratchgpt/core';
import { EOT_TOKEN, type GPTConfig, type GPTModel } from '@scratchgpt/gpt';
import type { ClassificationBatch } from './datasets';
import { checkLengths, POOLINGS, poolingNeedsLengths, poolPositions, type Pooling } from './pooling';

export type { Pooling } from './pooling';

/**
 * What trains: `'book'` (the last transformer block, the final norm and the head: 7,090,946 parameters
 * for GPT-2 124M), `{ lastBlocks: n }` (the last n blocks, the final norm and the head), `'all'`, or
 * `'head'` (the head alone).
 */
export type Trainable = 'book' | { lastBlocks: number } | 'all' | 'head';

/** How {@link GPTClassifier.fromGPT} builds the classifier. */
export interface ClassifierOptions {
  /** Number of classes (≥ 2). */
  numClasses: number;
  /** Class names in index order (default `'0'`, `'1'`, …). */
  labels?: readonly string[];
  /** Default `'book'`. */
  trainable?: Trainable;
  /** Default `'last'` (the book's). */
  pooling?: Pooling;
  /** Padding id of the inputs (default 50256); kept for callers that build batches. */
  padId?: number;
  /** Seed of the head's initialisation (default: the global generator). */
  seed?: number;
  /**
   * Keep the GPT's LM head `[V, C]` alive (default false: it is disposed, like the book replacing
   * `out_head`, which frees 154 MB for GPT-2 124M; `gpt.forward` then no longer works, `gpt.trunk` does).
   */
  keepLMHead?: boolean;
}

/** Options of {@link GPTClassifier.forward}. */
export interface ClassifierForwardOptions {
  /** Non-pad tokens per row (needed by `last-non-pad` and `mean` pooling). */
  lengths?: Int32Array;
  /**
   * Logits at every position, `[B, T, numClasses]` (the book's `model(x)`, for inspection) instead of
   * at the pooled one(s): the head over the final norm of each position's hidden state. With `last`
   * pooling, position T − 1 holds the pooled logits. Default false.
   */
  allPositions?: boolean;
}

/**
 * A `GPTModel` with a classification head: token ids `[B, T]` → class logits `[B, numClasses]`. It
 * takes over the GPT's modules (same tensors, registered under the same names) and replaces its LM head.
 * @example
 * ```ts
 * const gpt = await loadGPT2(gpt2WeightsUrl('gpt2'));
 * const model = GPTClassifier.fromGPT(gpt, { numClasses: 2, labels: ['ham', 'spam'] });
 * model.numParameters({ trainableOnly: true }); // 7_090_946
 * const opt = new AdamW(model.namedTrainableParameters(), { lr: 5e-5, weightDecay: 0.1 });
 * const loss = classificationLoss(model, batch);
 * loss.backward(); opt.step(); opt.zeroGrad();
 * ```
 */
export class GPTClassifier extends Module<[Tensor, ClassifierForwardOptions?]> {
  /** The wrapped model (its modules are this classifier's, except its LM head). */
  readonly gpt: GPTModel;
  /** The classification head `Linear(embDim, numClasses)` with bias. */
  readonly out_head: Linear;
  readonly numClasses: number;
  /** Class names in index order. */
  readonly labels: readonly string[];
  /** Which position(s) feed the head. */
  readonly pooling: Pooling;
  /** Padding id of the inputs (metadata for callers that build batches). */
  readonly padId: number;
  private currentTrainable: Trainable = 'book';

  /** Same as {@link GPTClassifier.fromGPT}. */
  constructor(gpt: GPTModel, options: ClassifierOptions) {
    super();
    const { numClasses, labels, trainable = 'book', pooling = 'last', padId = EOT_TOKEN, seed, keepLMHead = false } = options;
    if (!Number.isInteger(numClasses) || numClasses < 2) throw new ScratchGPTError('value', `scratchgpt: numClasses must be an integer ≥ 2, got ${numClasses}`);
    const names = labels ?? Array.from({ length: numClasses }, (_, i) => String(i));
    if (names.length !== numClasses || new Set(names).size !== numClasses) {
      throw new ScratchGPTError('range', `scratchgpt: labels must be ${numClasses} distinct names, got [${names.join(', ')}]`);
    }
    if (!POOLINGS.includes(pooling)) throw new ScratchGPTError('range', `scratchgpt: unknown pooling '${String(pooling)}'`);
    if (!Number.isInteger(padId) || padId < 0 || padId >= gpt.config.vocabSize) {
      throw new ScratchGPTError('range', `scratchgpt: padId ${padId} is outside the vocabulary [0, ${gpt.config.vocabSize}); pass padId`);
    }
    trainableBlocks(trainable, gpt.config.nLayers); // validate before allocating anything
    this.gpt = gpt;
    // The GPT's own modules under their own names, so the state dict reads like the book's classifier.
    for (const [name, child] of gpt.namedChildren()) if (name !== 'out_head') this.module(name, child);
    this.out_head = this.module('out_head', new Linear(gpt.config.embDim, numClasses, { seed }));
    this.numClasses = numClasses;
    this.labels = Object.freeze([...names]);
    this.pooling = pooling;
    this.padId = padId;
    this.training = gpt.training;
    if (!keepLMHead) gpt.out_head?.dispose();
    this.setTrainable(trainable);
  }

  /** Turns `gpt` into a classifier (the book: `model.out_head = Linear(768, 2)` plus freezing). */
  static fromGPT(gpt: GPTModel, options: ClassifierOptions): GPTClassifier {
    return new GPTClassifier(gpt, options);
  }

  /** The GPT's configuration. */
  get config(): GPTConfig {
    return this.gpt.config;
  }

  /** The current choice of trainable parameters. */
  get trainable(): Trainable {
    return this.currentTrainable;
  }

  /** Freezes everything, then unfreezes what `trainable` names. Clears gradients of frozen parameters. */
  setTrainable(trainable: Trainable): this {
    const L = this.gpt.config.nLayers;
    const blocks = trainableBlocks(trainable, L);
    this.requiresGrad(trainable === 'all');
    this.out_head.requiresGrad(true);
    if (blocks >= 0) this.gpt.final_norm.requiresGrad(true);
    for (let i = Math.max(0, L - blocks); i < L; i++) this.gpt.trf_blocks.at(i).requiresGrad(true);
    for (const p of this.parameters()) if (!p.requiresGrad) p.zeroGrad();
    this.currentTrainable = typeof trainable === 'object' ? { lastBlocks: blocks } : trainable;
    return this;
  }

  /** The parameters that train, with their names (give these to the optimizer). */
  namedTrainableParameters(): [string, Tensor][] {
    return this.namedParameters().filter(([, p]) => p.requiresGrad);
  }

  /** The parameters that train. */
  trainableParameters(): Tensor[] {
    return this.namedTrainableParameters().map(([, p]) => p);
  }

  /** ids i32 `[B, T]` → logits `[B, numClasses]` at the pooled position(s) (`[B, T, numClasses]` with `allPositions`). */
  override forward(ids: Tensor, { lengths, allPositions = false }: ClassifierForwardOptions = {}): Tensor {
    if (ids.dtype !== 'i32' || ids.rank !== 2) throw new ScratchGPTError('dtype', `scratchgpt: GPTClassifier expects i32 token ids [B, T], got ${ids.dtype} ${fmt(ids.shape)}`);
    const [B, T] = ids.shape;
    if (allPositions) return this.out_head.forward(this.gpt.final_norm.forward(this.gpt.trunk(ids))); // [B, T, classes]
    if (poolingNeedsLengths(this.pooling)) checkLengths(this.pooling, lengths, B, T); // before any GPU work
    const h = this.gpt.trunk(ids); // [B, T, C]
    let normed: Tensor; // [B, C]
    if (this.pooling === 'mean') {
      const all = this.gpt.final_norm.forward(h); // [B, T, C]: the mean is of normalised states
      normed = poolPositions(all, 'mean', lengths);
      all.dispose();
    } else {
      const pooled = poolPositions(h, this.pooling, lengths); // [B, C]
      normed = this.gpt.final_norm.forward(pooled);
      pooled.dispose();
    }
    h.dispose();
    const logits = this.out_head.forward(normed); // [B, numClasses]
    normed.dispose();
    return logits;
  }

  /** Training mode here and in the wrapped GPT. */
  override train(flag = true): this {
    super.train(flag);
    this.gpt.train(flag);
    return this;
  }

  /** Frees every parameter (and the GPT's LM head if it was kept). */
  override dispose(): void {
    super.dispose();
    const lmHead = this.gpt.out_head;
    if (lmHead) for (const p of lmHead.parameters()) if (!p.isDisposed) p.dispose();
  }
}

/** Trailing blocks that train: L for 'all', 1 for 'book', −1 for 'head' (final norm frozen too). */
function trainableBlocks(trainable: Trainable, L: number): number {
  if (trainable === 'all') return L;
  if (trainable === 'head') return -1;
  if (trainable === 'book') return 1;
  const n = typeof trainable === 'object' && trainable !== null ? trainable.lastBlocks : NaN;
  if (!Number.isInteger(n) || n < 0 || n > L) {
    throw new ScratchGPTError('format', `scratchgpt: trainable must be 'book', 'all', 'head' or { lastBlocks: 0…${L} }, got ${JSON.stringify(trainable)}`);
  }
  return n;
}

function checkBatch(model: GPTClassifier, batch: ClassificationBatch): void {
  const [B, T] = batch.shape;
  if (batch.inputs.length !== B * T) throw new ScratchGPTError('shape', `scratchgpt: batch inputs hold ${batch.inputs.length} ids, shape ${fmt(batch.shape)} needs ${B * T}`);
  if (batch.labels.length !== B) throw new ScratchGPTError('range', `scratchgpt: batch has ${batch.labels.length} labels for ${B} rows`);
  batch.labels.forEach((label, row) => {
    if (!Number.isInteger(label) || label < 0 || label >= model.numClasses) {
      throw new ScratchGPTError('range', `scratchgpt: batch label ${label} at row ${row} is out of range for ${model.numClasses} classes`);
    }
  });
}

/**
 * Refuses a batch whose label names (`batch.classes`, set by `ClassificationDataset`) are not the
 * model's, in the same order: class index i would mean another label to the data than to the model,
 * and training would teach the model the wrong names without a sign.
 */
export function checkBatchClasses(model: GPTClassifier, batch: ClassificationBatch): void {
  const classes = batch.classes;
  if (classes === undefined || classes === model.labels) return;
  if (classes.length === model.labels.length && classes.every((c, i) => c === model.labels[i])) return;
  const sameSet = classes.length === model.labels.length && classes.every((c) => model.labels.includes(c));
  throw new ScratchGPTError('value',
    `scratchgpt: the data's labels are [${classes.join(', ')}] but the model's are [${model.labels.join(', ')}]` +
      `${sameSet ? ' (the same names in another order: class index i would be a different label to each)' : ''}; ` +
      'build the dataset with the model\'s labels in the model\'s order (labels: model.labels)',
  );
}

/** Logits `[B, numClasses]` of one batch (lengths passed along for the pooling); the batch's label names must be the model's. */
export function classificationLogits(model: GPTClassifier, batch: ClassificationBatch): Tensor {
  const [B, T] = batch.shape;
  if (batch.inputs.length !== B * T) throw new ScratchGPTError('shape', `scratchgpt: batch inputs hold ${batch.inputs.length} ids, shape ${fmt(batch.shape)} needs ${B * T}`);
  checkBatchClasses(model, batch);
  const ids = fromArray(batch.inputs, [B, T], { dtype: 'i32' });
  try {
    return model.forward(ids, { lengths: batch.lengths });
  } finally {
    ids.dispose();
  }
}

/**
 * Mean cross-entropy of the classifier on one batch, a 1-element tensor (the book's
 * `calc_loss_batch`: `cross_entropy(model(x)[:, -1, :], y)` with `last` pooling).
 */
export function classificationLoss(model: GPTClassifier, batch: ClassificationBatch): Tensor {
  checkBatch(model, batch);
  const logits = classificationLogits(model, batch);
  const targets = fromArray(batch.labels, [batch.shape[0]], { dtype: 'i32' });
  const loss = crossEntropy(logits, targets);
  logits.dispose();
  targets.dispose();
  return loss;
}
