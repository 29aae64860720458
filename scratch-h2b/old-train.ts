/**
 * Pretraining (the book's chapter 5, plus its appendix D refinements): loss on a batch and on a
 * loader, and a training loop with AdamW, linear warmup + cosine decay, global-norm clipping,
 * gradient accumulation, periodic evaluation and sample text. Losses are read back only at
 * evaluation points; a step itself never waits for the GPU.
 */
import {
  AdamW,
  clipGradNorm,
  crossEntropy,
  fromArray,
  mulScalar,
  noGrad,
  scope,
  sync,
  warmupCosine,
  type Tensor,
} from '@scratchgpt/core';
import { generate, type GenerateOptions } from '@scratchgpt/gpt';
import type { GPTModel } from '@scratchgpt/gpt';

/** One batch of token ids: inputs and next-token targets, both `[B, T]` row-major. */
export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
  shape: readonly [number, number];
}

/** Anything that yields batches (e.g. the `DataLoader` of `data.ts`). */
export type BatchSource = Iterable<TokenBatch>;

/** Mean cross-entropy of the model's next-token predictions on one batch (a 1-element tensor). */
export function batchLoss(model: GPTModel, batch: TokenBatch): Tensor {
  const [B, T] = batch.shape;
  const ids = fromArray(batch.inputs, [B, T], { dtype: 'i32' });
  const targets = fromArray(batch.targets, [B * T], { dtype: 'i32' });
  const logits = model.forward(ids); // [B, T, V]
  const flat = logits.reshape([B * T, model.config.vocabSize]);
  const loss = crossEntropy(flat, targets);
  for (const t of [ids, targets, logits, flat]) t.dispose();
  return loss;
}

/**
 * Average loss over the first `numBatches` batches (all by default), in eval mode without
 * gradients; one readback at the end. NaN for an empty source (like the book).
 */
export async function loaderLoss(model: GPTModel, source: BatchSource, numBatches?: number): Promise<number> {
  const wasTraining = model.training;
  model.eval();
  try {
    const losses: Tensor[] = [];
    noGrad(() => {
      let i = 0;
      for (const batch of source) {
        if (numBatches !== undefined && i >= numBatches) break;
        losses.push(batchLoss(model, batch));
        i++;
      }
    });
    if (losses.length === 0) return NaN;
    const values = await Promise.all(losses.map((l) => l.item()));
    for (const l of losses) l.dispose();
    return values.reduce((a, b) => a + b, 0) / values.length;
  } finally {
    if (wasTraining) model.train();
  }
}

/** Perplexity = exp(loss). */
export function perplexity(loss: number): number {
  return Math.exp(loss);
}

export interface TrainOptions {
  epochs?: number;
  /** Peak learning rate (default 4e-4, the book's). */
  lr?: number;
  /** Linear warmup steps from `initialLr` (default 0: constant lr unless `minLr` is set). */
  warmupSteps?: number;
  initialLr?: number;
  /** Cosine-decay floor reached at the last step; undefined = no decay. */
  minLr?: number;
  weightDecay?: number;
  /** Global gradient-norm clip (default none; the book's appendix uses 1.0). */
  maxGradNorm?: number;
  /** Batches whose gradients are summed before each optimizer step (default 1). */
  gradAccumulation?: number;
  /** Evaluate every N optimizer steps (default 5). */
  evalFreq?: number;
  /** Batches used per evaluation (default 5). */
  evalIter?: number;
  /** Prompt whose continuation is generated after every epoch (needs `decode`). */
  sample?: { prompt: number[]; decode: (ids: number[]) => string; options?: GenerateOptions };
  /** Called after every optimizer step (and with losses at evaluation points). */
  onProgress?: (progress: TrainProgress) => void;
  /** Resume: optimizer steps already taken (the loop continues the schedule from there). */
  startStep?: number;
  /** An optimizer to reuse (e.g. restored from a checkpoint); default a new AdamW. */
  optimizer?: AdamW;
}

export interface TrainProgress {
  epoch: number;
  step: number;
  totalSteps: number;
  tokensSeen: number;
  lr: number;
  /** Present at evaluation points. */
  trainLoss?: number;
  valLoss?: number;
  /** Present after each epoch when `sample` is set. */
  sampleText?: string;
}

export interface TrainResult {
  trainLosses: number[];
  valLosses: number[];
  /** Tokens seen at each evaluation point. */
  tokensSeen: number[];
  /** Optimizer steps at each evaluation point. */
  steps: number[];
  /** Learning rate used at every step. */
  lrs: number[];
  optimizer: AdamW;
  /** Optimizer steps taken in total (including `startStep`). */
  finalStep: number;
}

function countBatches(source: BatchSource): number {
  const maybe = source as { numBatches?: number; length?: number };
  if (typeof maybe.numBatches === 'number') return maybe.numBatches;
  if (typeof maybe.length === 'number') return maybe.length;
  let n = 0;
  for (const _ of source) n++;
  return n;
}

/**
 * Trains `model` on `train` batches, evaluating on `train`/`val` every `evalFreq` steps
 * (the book's `train_model_simple`, with the appendix's warmup, cosine decay and clipping).
 */
export async function trainModel(model: GPTModel, train: BatchSource, val: BatchSource, options: TrainOptions = {}): Promise<TrainResult> {
  const {
    epochs = 1,
    lr = 4e-4,
    warmupSteps = 0,
    initialLr = warmupSteps > 0 ? lr * 0.01 : lr,
    minLr,
    weightDecay = 0.1,
    maxGradNorm,
    gradAccumulation = 1,
    evalFreq = 5,
    evalIter = 5,
    sample,
    onProgress,
    startStep = 0,
  } = options;
  if (!Number.isInteger(gradAccumulation) || gradAccumulation < 1) throw new Error(`scratchgpt: gradAccumulation must be a positive integer, got ${gradAccumulation}`);
  const stepsPerEpoch = Math.floor(countBatches(train) / gradAccumulation);
  const totalSteps = stepsPerEpoch * epochs + startStep;
  const schedule =
    minLr !== undefined || warmupSteps > 0
      ? warmupCosine({ peakLr: lr, initialLr, minLr: minLr ?? lr, warmupSteps, totalSteps: Math.max(totalSteps, warmupSteps) })
      : () => lr;
  const optimizer = options.optimizer ?? new AdamW(model.namedParameters(), { lr, weightDecay });
  const result: TrainResult = { trainLosses: [], valLosses: [], tokensSeen: [], steps: [], lrs: [], optimizer, finalStep: startStep };
  let step = startStep;
  let tokensSeen = 0;
  model.train();
  for (let epoch = 0; epoch < epochs; epoch++) {
    let micro = 0;
    for (const batch of train) {
      // A trailing group smaller than gradAccumulation would leave stale gradients: it is not used.
      if (micro === stepsPerEpoch * gradAccumulation) break;
      scope(() => {
        const loss = batchLoss(model, batch);
        const scaled = gradAccumulation > 1 ? mulScalar(loss, 1 / gradAccumulation) : loss;
        scaled.backward();
      });
      tokensSeen += batch.inputs.length;
      micro++;
      if (micro % gradAccumulation !== 0) continue;
      const stepLr = schedule(step);
      optimizer.lr = stepLr;
      scope(() => {
        if (maxGradNorm !== undefined) clipGradNorm(model.parameters(), maxGradNorm);
        optimizer.step();
      });
      optimizer.zeroGrad();
      result.lrs.push(stepLr);
      step++;
      const progress: TrainProgress = { epoch, step, totalSteps, tokensSeen, lr: stepLr };
      if ((step - startStep) % evalFreq === 0) {
        progress.trainLoss = await loaderLoss(model, train, evalIter);
        progress.valLoss = await loaderLoss(model, val, evalIter);
        result.trainLosses.push(progress.trainLoss);
        result.valLosses.push(progress.valLoss);
        result.tokensSeen.push(tokensSeen);
        result.steps.push(step);
      }
      onProgress?.(progress);
    }
    if (sample) {
      const ids = await generate(model, sample.prompt, { maxNewTokens: 50, ...sample.options });
      const sampleText = sample.decode(ids);
      onProgress?.({ epoch, step, totalSteps, tokensSeen, lr: optimizer.lr, sampleText });
      model.train();
    }
  }
  await sync();
  result.finalStep = step;
  return result;
}
