/**
 * Pretraining (the book's chapter 5, plus its appendix D refinements): the next-token loss on a batch
 * and on a loader, and `trainModel`, the language-model instance of the generic training loop
 * (`loop.ts`: AdamW, warmup + cosine decay, clipping, gradient accumulation, evaluation, resume) with
 * a sample text after every epoch. Losses are read back only at evaluation points.
 */
import { checkTokenIds, crossEntropy, fromArray, scope, type Tensor } from '@scratchgpt/core';
import type { TokenBatch } from './data';
import { generate, type GenerateOptions } from './generate';
import { meanLoss, trainLoop, type EpochSource, type TrainResult, type TrainSettings } from './loop';
import type { GPTModel } from './model';

export type { TrainProgress, TrainResult } from './loop';

/** Defined next to its producer, `DataLoader`; re-exported here for existing imports. */
export type { TokenBatch };

/** Anything that yields batches, re-iterable (e.g. the `DataLoader` of `data.ts`, or an array). */
export type BatchSource = EpochSource<TokenBatch>;

/**
 * Mean cross-entropy of the model's next-token predictions on one batch (a 1-element tensor). The
 * ids are checked against the model's vocabulary on the CPU first (targets may be -100: ignored).
 */
export function batchLoss(model: GPTModel, batch: TokenBatch): Tensor {
  const { vocabSize } = model.config;
  checkTokenIds(batch.inputs, vocabSize, { what: 'input token id', shape: batch.shape });
  checkTokenIds(batch.targets, vocabSize, { what: 'target token id', shape: batch.shape, ignoreIndex: -100 });
  return scope(() => {
    const [B, T] = batch.shape;
    const logits = model.forward(fromArray(batch.inputs, [B, T], { dtype: 'i32' })); // [B, T, V]
    const targets = fromArray(batch.targets, [B * T], { dtype: 'i32' }); // [B·T]
    return crossEntropy(logits.reshape([B * T, model.config.vocabSize]), targets); // [1]
  });
}

/**
 * Average next-token loss over the first `numBatches` batches (all by default), in eval mode without
 * gradients; one readback at the end. NaN for an empty source (like the book). A batch that fails
 * frees the losses computed before it.
 */
export async function loaderLoss(model: GPTModel, source: Iterable<TokenBatch>, numBatches?: number): Promise<number> {
  return meanLoss(model, source, batchLoss, numBatches);
}

/** Perplexity = exp(loss). */
export function perplexity(loss: number): number {
  return Math.exp(loss);
}

/** Options of {@link trainModel}: the loop's settings plus a sample prompt. */
export interface TrainOptions extends TrainSettings {
  /** Prompt whose continuation is generated after every epoch (needs `decode`). */
  sample?: { prompt: number[]; decode: (ids: number[]) => string; options?: GenerateOptions };
}

/**
 * Trains `model` on `train` batches, evaluating on `train`/`val` every `evalFreq` steps — the book's
 * `train_model_simple` (evaluation after steps 1, 1 + evalFreq, ...; `evalAt: 'interval-end'` for
 * N, 2N, ...), with the appendix's warmup, cosine decay and clipping. See {@link trainLoop} for the
 * settings, the non-finite guard, checkpoints and resume.
 * @example
 * ```ts
 * const result = await trainModel(model, trainLoader, valLoader, {
 *   epochs: 10, lr: 4e-4, evalFreq: 5, evalIter: 5,
 *   sample: { prompt: encode('Every effort moves you'), decode },
 *   onCheckpoint: (c) => saveCheckpoint('run.safetensors', model, c.optimizer, c.info),
 * });
 * ```
 */
export async function trainModel(model: GPTModel, train: BatchSource, val: BatchSource, options: TrainOptions = {}): Promise<TrainResult> {
  const { sample, ...settings } = options;
  return trainLoop(model, train, val, {
    ...settings,
    loss: batchLoss,
    onEpochEnd: sample
      ? async (m) => {
          const ids = await generate(m, sample.prompt, { maxNewTokens: 50, ...sample.options });
          return { sampleText: sample.decode(ids) };
        }
      : undefined,
  });
}
