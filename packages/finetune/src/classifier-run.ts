/**
 * One classification fine-tune from start to finish, for every runner (the CLI's `finetune classify` and
 * `finetune spam`, the example page, a user's script): labelled splits and a recipe in, a trained
 * classifier and its evaluation out, and the run reported as events on the way (a terminal prints them,
 * a page charts them). Runtime-neutral: no Node built-ins. The training itself is the gpt package's one
 * loop (`trainClassifier` → `trainLoop`: the classification loss plus an epoch hook).
 */
import { manualSeed, memory, peakMemory, resetPeakMemory, ScratchGPTError, sync } from '@scratchgpt/core';
import { fixedOrder, loadGPT2, type GPTModel, type WeightsSource } from '@scratchgpt/gpt';
import { GPTClassifier, type Trainable } from './classifier';
import { ClassificationDataset, createClassificationLoader, type ClassificationLoader } from './datasets';
import { BagOfWordsClassifier } from './bag-of-words';
import { accuracy, classifyAll, evaluateClassifier, type Classification, type ClassificationReport } from './evaluate';
import { pretrainTrunk, type TrunkPretrainResult } from './lm-pretrain';
import { applyLoRA } from './lora';
import type { LabelledText } from './parse';
import type { Pooling } from './pooling';
import { BUILT_IN_SPAM_PRETRAINING, builtInSpamGPT } from './spam-recipe';
import { checkClasses, classCounts, type Splits } from './split';
import { asEpochSource, trainClassifier } from './train';

/** What trains, how the head pools, and the optimizer settings of a classification run. */
export interface ClassifierRecipe {
  readonly name: string;
  readonly trainable: Trainable;
  readonly pooling: Pooling;
  readonly epochs: number;
  readonly batchSize: number;
  /** AdamW learning rate. */
  readonly lr: number;
  /** AdamW weight decay (default 0.1, the book's). */
  readonly weightDecay?: number;
  /** Tokens per row; undefined = the longest training text, capped at the context length (the book: 120). */
  readonly maxLength?: number;
}

/** LoRA adapters on every Linear (rank, alpha). */
export interface RunLoRA {
  rank: number;
  alpha: number;
}

/** The events of a run, in this order: model, (pretraining), data, baseline, then steps, losses and epochs, evaluating. */
export type ClassifierRunEvent =
  | {
      kind: 'model';
      recipe: ClassifierRecipe;
      lora?: RunLoRA;
      /** Where the weights came from: `'built-in'` or `'GPT-2'`. */
      base: 'built-in' | 'GPT-2';
      embDim: number;
      nLayers: number;
      nHeads: number;
      parameters: number;
      trainable: number;
      /** Parameters the recipe trains without LoRA (what LoRA saves the gradients and moments of). */
      recipeTrainable: number;
    }
  /** Language-model pretraining of the built-in trunk (before LoRA): after every step, then its summary. */
  | { kind: 'pretraining'; step: number; totalSteps: number; epoch: number }
  | { kind: 'pretrained'; result: TrunkPretrainResult; seconds: number }
  | {
      kind: 'data';
      labels: readonly string[];
      /** Rows of each split. */
      train: number;
      val: number;
      test: number;
      /** Rows per class (in `labels` order) of each split. */
      counts: { train: number[]; val: number[]; test: number[] };
      maxLength: number;
      /** Training texts cut to `maxLength`. */
      truncated: number;
      batchesPerEpoch: number;
      totalSteps: number;
    }
  /** Something the user should know that does not stop the run (a class missing from a split). */
  | { kind: 'warning'; message: string }
  /**
   * Before training: the accuracy measured like the per-epoch figures (first `evalIter` batches), and the
   * majority-class baseline — predicting the largest training class for every row — and bag-of-words
   * logistic regression fitted on the training split, on each split.
   */
  | { kind: 'baseline'; trainAccuracy: number; valAccuracy: number; majority: MajorityBaseline; bagOfWords: BagOfWordsBaseline }
  /** After every optimizer step (once the GPU finished it with `waitEachStep`); `seconds` since training started. */
  | { kind: 'step'; step: number; totalSteps: number; epoch: number; seconds: number }
  /** At evaluation points: mean loss over `evalIter` batches of each split. */
  | { kind: 'loss'; step: number; epoch: number; examplesSeen: number; tokensSeen: number; trainLoss: number; valLoss: number }
  | { kind: 'epoch'; epoch: number; trainAccuracy: number; valAccuracy: number; examplesSeen: number }
  | { kind: 'evaluating' };

/**
 * The accuracy of bag-of-words logistic regression ({@link BagOfWordsClassifier}: scikit-learn's TF-IDF
 * word 1–2-grams + `LogisticRegression(C=1)`) fitted on the training split, on each split.
 */
export interface BagOfWordsBaseline {
  train: number;
  val: number;
  test: number;
  /** Terms (word uni- and bigrams) of its vocabulary, and the seconds its fit took. */
  terms: number;
  seconds: number;
}

/** The accuracy of always predicting the largest class of the training split. */
export interface MajorityBaseline {
  label: string;
  train: number;
  val: number;
  test: number;
}

/** Options of {@link fineTuneClassifier}. */
export interface ClassifierRunOptions {
  /** The labelled rows of each split (validation and test rows are never trained on). */
  splits: Splits<LabelledText>;
  /** The classes in index order (a row with another label is an error). */
  labels: readonly string[];
  recipe: ClassifierRecipe;
  /** GPT-2 weights (bytes, an http(s) URL, or in Node a file path); default the built-in small GPT. */
  weights?: WeightsSource;
  /** Train LoRA adapters only (every Linear wrapped, the rest frozen: the book's appendix E). */
  lora?: RunLoRA;
  /**
   * Unlabelled texts (none of them in the validation or test split) the built-in model first learns as a
   * language model (`pretrainTrunk`, {@link BUILT_IN_SPAM_PRETRAINING}): what LoRA on a random trunk needs.
   * Ignored with `weights`. Default none.
   */
  pretrainTexts?: readonly string[];
  /** Seeds the model, the head, LoRA's A, dropout and the shuffling (default 123, the book's). */
  seed?: number;
  /** Evaluate the losses every this many steps (default 50, the book's; `Infinity`: never). */
  evalFreq?: number;
  /** Batches per evaluation and per-epoch accuracy (default 5, the book's). */
  evalIter?: number;
  /** Texts classified after training (e.g. the book's two samples). */
  samples?: readonly string[];
  /** Wait for the GPU after every step, so `step` events (a page's progress bar) follow the work, not its recording (default false). */
  waitEachStep?: boolean;
  /** Called with every event (awaited). */
  onEvent?: (event: ClassifierRunEvent) => unknown;
}

/** What {@link fineTuneClassifier} returns. */
export interface ClassifierRunResult {
  /** The fine-tuned classifier (LoRA adapters still attached with `lora`): the caller's to `dispose()`. */
  model: GPTClassifier;
  recipe: ClassifierRecipe;
  labels: readonly string[];
  /** Tokens per input row in training (pass to `classify`, save with the classifier). */
  maxLength: number;
  /** Accuracy on the whole splits after training. */
  accuracy: { train: number; val: number; test: number };
  /** Accuracy on the whole validation split before training. */
  valAccuracyBefore: number;
  majority: MajorityBaseline;
  /** Bag-of-words logistic regression on the same splits: what the fine-tuned GPT should beat. */
  bagOfWords: BagOfWordsBaseline;
  /** After each epoch, on `evalIter` batches (the book's figures). */
  trainAccuracies: number[];
  valAccuracies: number[];
  /** The evaluation points. */
  losses: { step: number; examplesSeen: number; tokensSeen: number; trainLoss: number; valLoss: number }[];
  /** Optimizer steps taken. */
  steps: number;
  /** Seconds of training (evaluations included), and of each step with `waitEachStep`. */
  trainSeconds: number;
  stepSeconds: number[];
  /** Most bytes live on the GPU at once during training; and the optimizer state's bytes after the first step. */
  trainingPeakBytes: number;
  optimizerStateBytes: number;
  /** Confusion matrix, per-class precision/recall/F1 and macro averages on the test split. */
  report: ClassificationReport;
  /** The `samples`, classified. */
  samples: (Classification & { text: string })[];
}

const EVAL_ITER = 5;

function checkSplits(splits: Splits<LabelledText>, labels: readonly string[], onWarning: (message: string) => void): void {
  for (const key of ['train', 'val', 'test'] as const) {
    if (!Array.isArray(splits[key])) throw new ScratchGPTError('value', `scratchgpt: fineTuneClassifier needs splits.${key} (an array of { text, label })`);
    if (splits[key].length === 0) throw new ScratchGPTError('value', `scratchgpt: the ${key === 'val' ? 'validation' : key} split is empty`);
  }
  checkClasses(splits.train, 'the training split', labels);
  for (const key of ['val', 'test'] as const) {
    const counts = classCounts(splits[key], labels);
    const missing = labels.filter((l) => counts.get(l) === 0);
    if (missing.length > 0) {
      onWarning(`the ${key === 'val' ? 'validation' : 'test'} split has no row of ${missing.map((l) => `'${l}'`).join(', ')}: its accuracy and per-class figures do not cover ${missing.length === 1 ? 'that class' : 'those classes'}`);
    }
  }
}

function bagOfWordsBaseline(splits: Splits<LabelledText>, labels: readonly string[]): BagOfWordsBaseline {
  const t0 = performance.now();
  const bow = BagOfWordsClassifier.fit(splits.train, labels);
  const seconds = (performance.now() - t0) / 1000;
  return { train: bow.accuracy(splits.train), val: bow.accuracy(splits.val), test: bow.accuracy(splits.test), terms: bow.features.size, seconds };
}

function majorityBaseline(splits: Splits<LabelledText>, labels: readonly string[]): MajorityBaseline {
  const counts = classCounts(splits.train, labels);
  const label = labels.reduce((best, l) => (counts.get(l)! > counts.get(best)! ? l : best), labels[0]);
  const share = (rows: readonly LabelledText[]) => rows.filter((r) => r.label === label).length / rows.length;
  return { label, train: share(splits.train), val: share(splits.val), test: share(splits.test) };
}

/**
 * Fine-tunes a GPT into a classifier of `labels` on `splits` with `recipe`, reporting the run as
 * {@link ClassifierRunEvent}s: builds the model (GPT-2 weights, or the built-in small GPT, optionally
 * pretrained as a language model first), LoRA if asked, the datasets and loaders (training shuffled with
 * `dropLast`, like the book), measures the majority-class and bag-of-words baselines and the accuracy before training,
 * trains (`trainClassifier`), and evaluates every split, the test split's confusion matrix and the sample
 * texts. The same options and seed give the same run, in Node and in a page. On failure everything the
 * run allocated is freed.
 * @example
 * ```ts
 * const file = readLabelledFile(csvText, { name: 'tickets.csv' });
 * const splits = stratifiedSplit(file.rows, { train: 0.7, val: 0.1 });
 * const run = await fineTuneClassifier({ splits, labels: file.labels, recipe: BUILT_IN_CLASSIFIER_RECIPE, onEvent: console.log });
 * run.accuracy.test; run.report.macro.f1;
 * run.model.dispose();
 * ```
 */
export async function fineTuneClassifier(options: ClassifierRunOptions): Promise<ClassifierRunResult> {
  const { splits, labels, recipe, weights, lora, pretrainTexts = [], seed = 123, evalFreq = 50, evalIter = EVAL_ITER, samples = [], waitEachStep = false } = options;
  const emit = async (event: ClassifierRunEvent) => {
    await options.onEvent?.(event);
  };
  const warnings: string[] = [];
  checkSplits(splits, labels, (message) => warnings.push(message));

  manualSeed(seed);
  const gpt: GPTModel = weights === undefined ? builtInSpamGPT(recipe.maxLength) : await loadGPT2(weights);
  let model: GPTClassifier | undefined;
  try {
    if (weights === undefined && pretrainTexts.length > 0) {
      const t0 = performance.now();
      const settings = BUILT_IN_SPAM_PRETRAINING;
      const result = await pretrainTrunk(gpt, pretrainTexts, { ...settings, seed, onProgress: (p) => emit({ kind: 'pretraining', step: p.step, totalSteps: p.totalSteps, epoch: p.epoch }) });
      await emit({ kind: 'pretrained', result, seconds: (performance.now() - t0) / 1000 });
    }
    model = GPTClassifier.fromGPT(gpt, { numClasses: labels.length, labels, trainable: recipe.trainable, pooling: recipe.pooling, seed });
    const recipeTrainable = model.numParameters({ trainableOnly: true });
    if (lora) applyLoRA(model, { ...lora, seed });
    const c = gpt.config;
    await emit({
      kind: 'model',
      recipe,
      lora,
      base: weights === undefined ? 'built-in' : 'GPT-2',
      embDim: c.embDim,
      nLayers: c.nLayers,
      nHeads: c.nHeads,
      parameters: model.numParameters(),
      trainable: model.numParameters({ trainableOnly: true }),
      recipeTrainable,
    });
    return await train(model, { ...options, seed, evalFreq, evalIter, samples, waitEachStep, warnings, emit });
  } catch (err) {
    (model ?? gpt).dispose();
    throw err;
  }
}

interface TrainContext extends ClassifierRunOptions {
  seed: number;
  evalFreq: number;
  evalIter: number;
  samples: readonly string[];
  waitEachStep: boolean;
  warnings: string[];
  emit: (event: ClassifierRunEvent) => Promise<void>;
}

function loaders(model: GPTClassifier, { splits, labels, recipe, seed }: TrainContext): { train: ClassificationLoader; val: ClassificationLoader; test: ClassificationLoader; set: ClassificationDataset } {
  const set = new ClassificationDataset(splits.train, { labels, maxLength: recipe.maxLength, contextLength: model.config.contextLength });
  const { maxLength } = set;
  const valSet = new ClassificationDataset(splits.val, { labels, maxLength });
  const testSet = new ClassificationDataset(splits.test, { labels, maxLength });
  const train = createClassificationLoader(set, { batchSize: recipe.batchSize, shuffle: true, dropLast: true, seed });
  if (train.numBatches === 0) throw new ScratchGPTError('value', `scratchgpt: ${splits.train.length} training rows make no full batch of ${recipe.batchSize} (lower the batch size)`);
  return { train, val: createClassificationLoader(valSet, { batchSize: recipe.batchSize }), test: createClassificationLoader(testSet, { batchSize: recipe.batchSize }), set };
}

async function train(model: GPTClassifier, ctx: TrainContext): Promise<ClassifierRunResult> {
  const { splits, labels, recipe, evalFreq, evalIter, emit } = ctx;
  const l = loaders(model, ctx);
  const { maxLength } = l.set;
  const totalSteps = l.train.numBatches * recipe.epochs;
  const count = (rows: readonly LabelledText[]) => [...classCounts(rows, labels).values()];
  await emit({
    kind: 'data',
    labels,
    train: splits.train.length,
    val: splits.val.length,
    test: splits.test.length,
    counts: { train: count(splits.train), val: count(splits.val), test: count(splits.test) },
    maxLength,
    truncated: l.set.truncated,
    batchesPerEpoch: l.train.numBatches,
    totalSteps,
  });
  for (const message of ctx.warnings) await emit({ kind: 'warning', message });

  // Before training: the per-epoch measure (first batches in a fixed order, which leaves the shuffling
  // untouched) for the accuracy curve, and the whole validation split for the before/after comparison.
  const majority = majorityBaseline(splits, labels);
  const bagOfWords = bagOfWordsBaseline(splits, labels);
  await emit({ kind: 'baseline', trainAccuracy: await accuracy(model, fixedOrder(asEpochSource(l.train)), evalIter), valAccuracy: await accuracy(model, l.val, evalIter), majority, bagOfWords });
  const valAccuracyBefore = await accuracy(model, l.val);

  const stepSeconds: number[] = [];
  const losses: ClassifierRunResult['losses'] = [];
  let optimizerStateBytes = 0;
  await sync();
  const liveBefore = memory().liveBytes;
  resetPeakMemory();
  const started = performance.now();
  let last = started;
  const result = await trainClassifier(model, l.train, l.val, {
    epochs: recipe.epochs,
    lr: recipe.lr,
    weightDecay: recipe.weightDecay ?? 0.1,
    evalFreq,
    evalIter,
    onProgress: async (p) => {
      if (p.epochEnd && p.metrics) {
        await emit({ kind: 'epoch', epoch: p.epoch, trainAccuracy: p.metrics.trainAccuracy, valAccuracy: p.metrics.valAccuracy, examplesSeen: p.examplesSeen });
        last = performance.now(); // the epoch's accuracies (read back, so finished) count in no step
        return;
      }
      // After the first step the only new live buffers are AdamW's moments (gradients are freed after each step).
      if (p.step === 1) optimizerStateBytes = memory().liveBytes - liveBefore;
      if (ctx.waitEachStep) await sync();
      const now = performance.now();
      stepSeconds.push((now - last) / 1000);
      last = now;
      if (p.trainLoss !== undefined && p.valLoss !== undefined) {
        const point = { step: p.step, examplesSeen: p.examplesSeen, tokensSeen: p.tokensSeen, trainLoss: p.trainLoss, valLoss: p.valLoss };
        losses.push(point);
        await emit({ kind: 'loss', epoch: p.epoch, ...point });
      }
      await emit({ kind: 'step', step: p.step, totalSteps: p.totalSteps, epoch: p.epoch, seconds: (now - started) / 1000 });
    },
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const trainingPeakBytes = peakMemory();
  result.optimizer.dispose();

  await emit({ kind: 'evaluating' });
  const classified = ctx.samples.length > 0 ? await classifyAll(model, ctx.samples, { maxLength }) : [];
  return {
    model,
    recipe,
    labels,
    maxLength,
    accuracy: { train: await accuracy(model, l.train), val: await accuracy(model, l.val), test: await accuracy(model, l.test) },
    valAccuracyBefore,
    majority,
    bagOfWords,
    trainAccuracies: result.trainAccuracies,
    valAccuracies: result.valAccuracies,
    losses,
    steps: result.finalStep,
    trainSeconds,
    stepSeconds,
    trainingPeakBytes,
    optimizerStateBytes,
    report: await evaluateClassifier(model, l.test),
    samples: classified.map((c, i) => ({ ...c, text: ctx.samples[i] })),
  };
}
