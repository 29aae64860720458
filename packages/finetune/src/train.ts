/**
 * Fine-tuning a classifier (the book's `train_classifier_simple`): the gpt package's training loop
 * (`trainLoop`: AdamW over the trainable parameters, schedules, clipping, accumulation, evaluation,
 * checkpoints, resume, non-finite guard) with the classification loss, plus train/validation accuracy
 * after every epoch.
 */
import { fixedOrder, trainLoop, type EpochSource, type TrainResult, type TrainSettings } from '@scratchgpt/gpt';
import { classificationLoss, type GPTClassifier } from './classifier';
import type { ClassificationBatch } from './datasets';
import { accuracy } from './evaluate';
import { checkClasses } from './split';

/** The book's chapter-6 settings: AdamW lr 5e-5, weight decay 0.1, 5 epochs, evaluation every 50 steps on 5 batches. */
export const BOOK_CLASSIFIER_SETTINGS = Object.freeze({ epochs: 5, lr: 5e-5, weightDecay: 0.1, evalFreq: 50, evalIter: 5 });

/** The book's appendix-E settings (LoRA on GPT-2 124M, rank 16, alpha 16): AdamW lr 8e-4, weight decay 0.1, 5 epochs, evaluation every 50 steps on 5 batches. */
export const BOOK_LORA_CLASSIFIER_SETTINGS = Object.freeze({ epochs: 5, lr: 8e-4, weightDecay: 0.1, evalFreq: 50, evalIter: 5 });

/** Options of {@link trainClassifier}: the loop's settings, with the book's chapter-6 defaults. */
export type ClassifierTrainOptions = TrainSettings;

export interface ClassifierTrainResult extends TrainResult {
  /** Training accuracy after each epoch (on `evalIter` batches, like the book). */
  trainAccuracies: number[];
  /** Validation accuracy after each epoch (on `evalIter` batches). */
  valAccuracies: number[];
}

/** The methods of `ClassificationLoader` that let the loop pick an epoch's order explicitly. */
interface OrderedLoader {
  readonly numBatches: number;
  readonly batchSize: number;
  order(epoch: number): number[];
  readonly dataset: { batch(indices: readonly number[]): ClassificationBatch };
}

function isOrderedLoader(source: unknown): source is OrderedLoader {
  const s = source as Partial<OrderedLoader> | null;
  return typeof s?.order === 'function' && typeof s.numBatches === 'number' && typeof s.batchSize === 'number' && typeof s.dataset?.batch === 'function';
}

/**
 * The source as the loop wants it: a loader that can produce any epoch's order (a
 * `ClassificationLoader`) gets `batches(epoch, from)`, so a resumed run continues in the same order
 * and evaluation never advances the loader's own epoch counter.
 */
export function asEpochSource(source: EpochSource<ClassificationBatch>): EpochSource<ClassificationBatch> {
  if (typeof source.batches === 'function' || !isOrderedLoader(source)) return source;
  const loader = source;
  function* batches(epoch: number, from = 0): Generator<ClassificationBatch> {
    const order = loader.order(epoch);
    for (let b = from; b < loader.numBatches; b++) yield loader.dataset.batch(order.slice(b * loader.batchSize, (b + 1) * loader.batchSize));
  }
  return { numBatches: loader.numBatches, batches, [Symbol.iterator]: () => batches(0) };
}

/**
 * Fine-tunes `model` on `train` (the book's `train_classifier_simple`): cross-entropy on the pooled
 * logits, AdamW over the trainable parameters only, evaluation of the train/validation loss every
 * `evalFreq` steps on `evalIter` batches (after steps 1, 1 + evalFreq, ... like the book), and
 * train/validation accuracy after every epoch. Examples seen are counted. Defaults are the book's
 * ({@link BOOK_CLASSIFIER_SETTINGS}); every `trainLoop` setting applies (warmup, cosine decay,
 * clipping, accumulation, checkpoints, resume, `nonFinite`).
 * @example
 * ```ts
 * const model = GPTClassifier.fromGPT(await loadGPT2(gpt2WeightsUrl('gpt2')), { numClasses: 2, labels: SMS_SPAM_LABELS });
 * const result = await trainClassifier(model, trainLoader, valLoader, {
 *   onProgress: (p) => p.metrics && console.log(`epoch ${p.epoch + 1}`, p.metrics),
 * });
 * result.valAccuracies; // per epoch
 * ```
 */
export async function trainClassifier(
  model: GPTClassifier,
  train: EpochSource<ClassificationBatch>,
  val: EpochSource<ClassificationBatch>,
  options: ClassifierTrainOptions = {},
): Promise<ClassifierTrainResult> {
  const settings = { ...BOOK_CLASSIFIER_SETTINGS, ...options };
  // A loader over a dataset shows its rows: one class only is an error before any work.
  const rows = (train as { dataset?: { rows?: readonly { label: string }[] } }).dataset?.rows;
  if (rows) checkClasses(rows, 'the training data');
  const trainSource = asEpochSource(train);
  const valSource = asEpochSource(val);
  const result = await trainLoop(model, trainSource, valSource, {
    ...settings,
    loss: classificationLoss,
    onEpochEnd: async (m) => ({
      metrics: {
        trainAccuracy: await accuracy(m, fixedOrder(trainSource), settings.evalIter),
        valAccuracy: await accuracy(m, fixedOrder(valSource), settings.evalIter),
      },
    }),
  });
  return {
    ...result,
    trainAccuracies: result.epochReports.map((r) => r.metrics!.trainAccuracy),
    valAccuracies: result.epochReports.map((r) => r.metrics!.valAccuracy),
  };
}
