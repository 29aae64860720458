/**
 * The book's chapter 6 as one function: fine-tune a GPT into an SMS spam classifier. Runtime-neutral —
 * no Node built-ins, only the published packages — so the same file runs in Node (`node.ts` beside it)
 * and in a web page (`main.ts`, bundled by Vite): the caller passes the data (the SMS Spam Collection's
 * TSV text), the options and a progress sink.
 *
 * With GPT-2 weights (bytes, a URL, or in Node a file path) it follows the book's recipe
 * (`BOOK_SPAM_RECIPE`: the last transformer block, the final norm and a new 2-class head train, the
 * last token feeds the head, 5 epochs, batch 8, AdamW lr 5e-5). Without, the CLI's built-in default
 * (`BUILT_IN_SPAM_RECIPE`: a small GPT trained end to end, minutes on a CPU-only adapter). With `lora`,
 * every Linear gets LoRA adapters and only those train (the book's appendix E; on GPT-2 weights with
 * its lr 8e-4, `BOOK_LORA_SPAM_RECIPE`). The recipes come from `spamRecipeFor`, as in the CLI: same
 * recipe, data and seed, the same run as `scratchgpt finetune spam` — except with `lora` on the
 * built-in model, where the CLI first pretrains the trunk as a language model (`pretrainTrunk`) and
 * this script does not.
 */
import { manualSeed, peakMemory, resetPeakMemory, sync } from '@scratchgpt/core';
import {
  ClassificationDataset,
  GPTClassifier,
  SMS_SPAM_LABELS,
  SMS_SPAM_SAMPLES,
  accuracy,
  applyLoRA,
  asEpochSource,
  bookSmsSpamSplit,
  builtInSpamGPT,
  classify,
  createClassificationLoader,
  evaluateClassifier,
  spamRecipeFor,
  trainClassifier,
  type ClassificationReport,
  type SpamRecipe,
} from '@scratchgpt/finetune';
import { fixedOrder, loadGPT2, type WeightsSource } from '@scratchgpt/gpt';

/** LoRA adapters on every Linear (the book's appendix E: rank 16, alpha 16). */
export interface SpamLoRA {
  rank: number;
  alpha: number;
}

/** What the progress sink receives, in this order: model, data, baseline, then steps/losses/epochs. */
export type SpamProgress =
  | { kind: 'model'; recipe: SpamRecipe; lora?: SpamLoRA; embDim: number; nLayers: number; nHeads: number; parameters: number; trainable: number }
  | { kind: 'data'; train: number; val: number; test: number; maxLength: number; batchesPerEpoch: number; totalSteps: number }
  /** Accuracy before training, measured like the per-epoch figures (on `evalIter` batches). */
  | { kind: 'baseline'; trainAccuracy: number; valAccuracy: number }
  /** After every optimizer step, once the GPU has finished it; `seconds` since training started. */
  | { kind: 'step'; step: number; totalSteps: number; epoch: number; seconds: number }
  /** At evaluation points: mean loss over `evalIter` batches of each split. */
  | { kind: 'loss'; step: number; examplesSeen: number; trainLoss: number; valLoss: number }
  | { kind: 'epoch'; epoch: number; trainAccuracy: number; valAccuracy: number }
  | { kind: 'evaluating' };

export interface SpamFinetuneOptions {
  /** The SMS Spam Collection as tab-separated text (label, message per line). */
  tsv: string;
  /**
   * GPT-2 weights in the Hugging Face or the book's safetensors layout (bytes, an http(s) URL, or in
   * Node a file path): the book's recipe. Default: the built-in small GPT.
   */
  weights?: WeightsSource;
  /** Called as the run goes (a console printer in Node, a progress bar and charts in a page). */
  onProgress?: (event: SpamProgress) => void;
  /** Use at most this many texts of each split (quick runs). */
  limit?: number;
  /** Default: the recipe's. */
  epochs?: number;
  /** Seeds the model's initialisation, the head, LoRA's A matrices and the shuffling (default 123, the book's). */
  seed?: number;
  /** Train LoRA adapters only (default: off, the recipe's trainable parameters). */
  lora?: SpamLoRA;
  /** Evaluate the losses every this many steps (default 50, the book's; `Infinity`: never). */
  evalFreq?: number;
  /** Tokens per text (default: the recipe's; the book's is the longest training text). */
  maxLength?: number;
}

export interface SpamFinetuneResult {
  /** The fine-tuned classifier (LoRA adapters still attached when `lora` was set): the caller's to `dispose()`. */
  model: GPTClassifier;
  recipe: SpamRecipe;
  /** Tokens per input row in training (pass to `classify`). */
  maxLength: number;
  /** Validation accuracy on the whole (limited) validation split before training. */
  valAccuracyBefore: number;
  /** Accuracy on the whole (limited) splits after training. */
  accuracy: { train: number; val: number; test: number };
  /** The evaluation points: step, train loss, validation loss. */
  losses: { step: number; trainLoss: number; valLoss: number }[];
  /** Seconds of each optimizer step, loss evaluations at that step included. */
  stepSeconds: number[];
  /** Most bytes live on the GPU at once during training (weights, optimizer state, activations, gradients). */
  trainingPeakBytes: number;
  /** Confusion matrix, precision, recall and F1 on the test split. */
  report: ClassificationReport;
  /** The book's two sample texts and their verdicts. */
  samples: { text: string; expected: string; label: string; spamProbability: number }[];
}

/** Number of batches the per-epoch accuracies and the losses are measured on (the book's `eval_iter`). */
const EVAL_ITER = 5;

/**
 * Fine-tunes a spam classifier and evaluates it. Call `init()` first. On success the returned model is
 * the caller's to `dispose()`; on failure everything the run allocated is freed.
 * @example
 * ```ts
 * await init();
 * const run = await fineTuneSpamClassifier({ tsv, limit: 200, onProgress: (e) => console.log(e) });
 * console.log(run.accuracy, run.samples);
 * run.model.dispose();
 * ```
 */
export async function fineTuneSpamClassifier(options: SpamFinetuneOptions): Promise<SpamFinetuneResult> {
  const { tsv, weights, lora, onProgress = () => undefined, limit, seed = 123, evalFreq = 50 } = options;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new Error(`scratchgpt: limit must be a positive integer, got ${limit}`);
  const split = bookSmsSpamSplit(tsv); // the book's balanced 1045 / 149 / 300 split
  if (limit !== undefined) for (const key of ['train', 'val', 'test'] as const) split[key] = split[key].slice(0, limit);
  const base = spamRecipeFor({ weights: weights !== undefined, lora: lora !== undefined });
  const recipe: SpamRecipe = { ...base, epochs: options.epochs ?? base.epochs, maxLength: options.maxLength ?? base.maxLength };

  manualSeed(seed);
  const gpt = weights === undefined ? builtInSpamGPT(recipe.maxLength) : await loadGPT2(weights);
  let model: GPTClassifier | undefined;
  try {
    model = GPTClassifier.fromGPT(gpt, { numClasses: 2, labels: SMS_SPAM_LABELS, trainable: recipe.trainable, pooling: recipe.pooling, seed });
    if (lora) applyLoRA(model, { ...lora, seed });
    const c = gpt.config;
    onProgress({
      kind: 'model',
      recipe,
      lora,
      embDim: c.embDim,
      nLayers: c.nLayers,
      nHeads: c.nHeads,
      parameters: model.numParameters(),
      trainable: model.numParameters({ trainableOnly: true }),
    });
    return await fineTune(model, split, recipe, { ...options, evalFreq, seed, onProgress });
  } catch (err) {
    (model ?? gpt).dispose();
    throw err;
  }
}

type Splits = ReturnType<typeof bookSmsSpamSplit>;

/** Data, baseline, training and evaluation of a built classifier. */
async function fineTune(
  model: GPTClassifier,
  split: Splits,
  recipe: SpamRecipe,
  options: SpamFinetuneOptions & { evalFreq: number; seed: number; onProgress: (event: SpamProgress) => void },
): Promise<SpamFinetuneResult> {
  const { evalFreq, seed, onProgress } = options;
  const trainSet = new ClassificationDataset(split.train, { labels: SMS_SPAM_LABELS, maxLength: recipe.maxLength, contextLength: model.config.contextLength });
  const { maxLength } = trainSet;
  const valSet = new ClassificationDataset(split.val, { labels: SMS_SPAM_LABELS, maxLength });
  const testSet = new ClassificationDataset(split.test, { labels: SMS_SPAM_LABELS, maxLength });
  const trainLoader = createClassificationLoader(trainSet, { batchSize: recipe.batchSize, shuffle: true, dropLast: true, seed });
  const valLoader = createClassificationLoader(valSet, { batchSize: recipe.batchSize });
  const testLoader = createClassificationLoader(testSet, { batchSize: recipe.batchSize });
  const totalSteps = trainLoader.numBatches * recipe.epochs;
  onProgress({ kind: 'data', train: split.train.length, val: split.val.length, test: split.test.length, maxLength, batchesPerEpoch: trainLoader.numBatches, totalSteps });

  // Before training: the per-epoch measure (first batches in a fixed order, which leaves the shuffling
  // untouched) for the accuracy curve, and the whole validation split for the before/after comparison.
  const firstBatches = fixedOrder(asEpochSource(trainLoader));
  onProgress({ kind: 'baseline', trainAccuracy: await accuracy(model, firstBatches, EVAL_ITER), valAccuracy: await accuracy(model, valLoader, EVAL_ITER) });
  const valAccuracyBefore = await accuracy(model, valLoader);

  const stepSeconds: number[] = [];
  const losses: SpamFinetuneResult['losses'] = [];
  resetPeakMemory();
  const started = performance.now();
  let last = started;
  const result = await trainClassifier(model, trainLoader, valLoader, {
    epochs: recipe.epochs,
    lr: recipe.lr,
    weightDecay: 0.1,
    evalFreq,
    evalIter: EVAL_ITER,
    onProgress: async (p) => {
      if (p.metrics) {
        onProgress({ kind: 'epoch', epoch: p.epoch, trainAccuracy: p.metrics.trainAccuracy, valAccuracy: p.metrics.valAccuracy });
        last = performance.now(); // the epoch's accuracies (read back, so finished) count in no step
        return;
      }
      await sync(); // a step's time (and a page's progress bar) once the GPU has done it, not when it was queued
      const now = performance.now();
      stepSeconds.push((now - last) / 1000);
      last = now;
      if (p.trainLoss !== undefined && p.valLoss !== undefined) {
        losses.push({ step: p.step, trainLoss: p.trainLoss, valLoss: p.valLoss });
        onProgress({ kind: 'loss', step: p.step, examplesSeen: p.examplesSeen, trainLoss: p.trainLoss, valLoss: p.valLoss });
      }
      onProgress({ kind: 'step', step: p.step, totalSteps: p.totalSteps, epoch: p.epoch, seconds: (now - started) / 1000 });
    },
  });
  const trainingPeakBytes = peakMemory();
  result.optimizer.dispose();

  onProgress({ kind: 'evaluating' });
  const samples = [];
  for (const { text, expected } of SMS_SPAM_SAMPLES) {
    const verdict = await classify(model, text, { maxLength });
    samples.push({ text, expected, label: verdict.label, spamProbability: verdict.probabilities[1] });
  }
  return {
    model,
    recipe,
    maxLength,
    valAccuracyBefore,
    accuracy: {
      train: await accuracy(model, trainLoader),
      val: await accuracy(model, valLoader),
      test: await accuracy(model, testLoader),
    },
    losses,
    stepSeconds,
    trainingPeakBytes,
    report: await evaluateClassifier(model, testLoader),
    samples,
  };
}
