/**
 * The book's chapter 6 as one function: fine-tune a GPT into an SMS spam classifier. Runtime-neutral —
 * no Node built-ins — so a web page can call it as well as `node.ts` beside it: the caller passes the
 * data (the SMS Spam Collection's TSV text), optionally a pretrained GPT, and a progress sink.
 *
 * With a pretrained GPT-2 (`loadGPT2(gpt2WeightsUrl('gpt2'))`) it follows the book's recipe: the last
 * transformer block, the final norm and a new 2-class head train; the last token's hidden state feeds
 * the head; 5 epochs, batch 8, AdamW lr 5e-5. Without one, a small GPT is built and trained end to end
 * (mean pooling over the real tokens, texts cut to 64 tokens) — minutes on a CPU-only adapter.
 */
import { manualSeed, mulScalar, noGrad, randn } from '@scratchgpt/core';
import {
  ClassificationDataset,
  GPTClassifier,
  SMS_SPAM_LABELS,
  accuracy,
  bookSmsSpamSplit,
  classify,
  createClassificationLoader,
  evaluateClassifier,
  trainClassifier,
  type ClassificationReport,
  type Pooling,
  type Trainable,
} from '@scratchgpt/finetune';
import { GPTModel, gptConfig } from '@scratchgpt/gpt';

/** What the progress sink receives. */
export type SpamProgress =
  | { kind: 'data'; train: number; val: number; test: number; maxLength: number; batchesPerEpoch: number; parameters: number; trainable: number }
  | { kind: 'step'; step: number; totalSteps: number; epoch: number }
  | { kind: 'loss'; step: number; trainLoss: number; valLoss: number }
  | { kind: 'epoch'; epoch: number; trainAccuracy: number; valAccuracy: number };

export interface SpamFinetuneOptions {
  /** The SMS Spam Collection as tab-separated text (label, message per line). */
  tsv: string;
  /** A pretrained GPT (the book: GPT-2 124M); default a small GPT trained from scratch. */
  gpt?: GPTModel;
  /** Called as the run goes (a console printer in Node, a progress bar in a page). */
  onProgress?: (event: SpamProgress) => void;
  /** Use at most this many texts of each split (quick runs). */
  limit?: number;
  epochs?: number;
  seed?: number;
}

export interface SpamFinetuneResult {
  model: GPTClassifier;
  /** Tokens per input row in training (pass to `classify`). */
  maxLength: number;
  accuracy: { train: number; val: number; test: number };
  /** Confusion matrix, precision, recall and F1 on the test split. */
  report: ClassificationReport;
  /** The book's two sample texts and their verdicts. */
  samples: { text: string; label: string; spamProbability: number }[];
}

const SAMPLE_TEXTS = [
  'You are a winner you have been specially selected to receive $1000 cash or a $2000 award.',
  "Hey, just wanted to check if we're still on for dinner tonight? Let me know!",
];

/** The small from-scratch GPT: token embeddings drawn like GPT-2's (N(0, 0.02²)), so unseen tokens add little noise. */
function smallGPT(contextLength: number): GPTModel {
  const gpt = new GPTModel(gptConfig('gpt2-small', { contextLength, embDim: 32, nHeads: 2, nLayers: 1, dropRate: 0 }));
  const weight = noGrad(() => {
    const unit = randn([gpt.config.vocabSize, gpt.config.embDim]);
    const scaled = mulScalar(unit, 0.02);
    unit.dispose();
    return scaled;
  });
  gpt.tok_emb.loadStateDict(new Map([['weight', weight]]));
  weight.dispose();
  return gpt;
}

/**
 * Fine-tunes a spam classifier and evaluates it. Call `init()` first. The returned model is the
 * caller's to use and `dispose()`.
 */
export async function fineTuneSpamClassifier(options: SpamFinetuneOptions): Promise<SpamFinetuneResult> {
  const { tsv, onProgress = () => undefined, limit, seed = 123 } = options;
  const split = bookSmsSpamSplit(tsv); // the book's balanced 1045 / 149 / 300 split
  if (limit !== undefined) for (const key of ['train', 'val', 'test'] as const) split[key] = split[key].slice(0, limit);
  const pretrained = options.gpt !== undefined;
  const recipe: { trainable: Trainable; pooling: Pooling; epochs: number; lr: number; maxLength?: number } = pretrained
    ? { trainable: 'book', pooling: 'last', epochs: 5, lr: 5e-5 }
    : { trainable: 'all', pooling: 'mean', epochs: 3, lr: 2e-3, maxLength: 64 };
  const epochs = options.epochs ?? recipe.epochs;

  manualSeed(seed);
  const gpt = options.gpt ?? smallGPT(recipe.maxLength!);
  const model = GPTClassifier.fromGPT(gpt, { numClasses: 2, labels: SMS_SPAM_LABELS, trainable: recipe.trainable, pooling: recipe.pooling, seed });
  const trainSet = new ClassificationDataset(split.train, { labels: SMS_SPAM_LABELS, maxLength: recipe.maxLength, contextLength: gpt.config.contextLength });
  const { maxLength } = trainSet;
  const valSet = new ClassificationDataset(split.val, { labels: SMS_SPAM_LABELS, maxLength });
  const testSet = new ClassificationDataset(split.test, { labels: SMS_SPAM_LABELS, maxLength });
  const trainLoader = createClassificationLoader(trainSet, { batchSize: 8, shuffle: true, dropLast: true, seed });
  const valLoader = createClassificationLoader(valSet, { batchSize: 8 });
  const testLoader = createClassificationLoader(testSet, { batchSize: 8 });
  onProgress({
    kind: 'data',
    train: split.train.length,
    val: split.val.length,
    test: split.test.length,
    maxLength,
    batchesPerEpoch: trainLoader.numBatches,
    parameters: model.numParameters(),
    trainable: model.numParameters({ trainableOnly: true }),
  });

  const result = await trainClassifier(model, trainLoader, valLoader, {
    epochs,
    lr: recipe.lr,
    weightDecay: 0.1,
    evalFreq: 50,
    evalIter: 5,
    onProgress: (p) => {
      if (p.metrics) onProgress({ kind: 'epoch', epoch: p.epoch, trainAccuracy: p.metrics.trainAccuracy, valAccuracy: p.metrics.valAccuracy });
      else if (p.trainLoss !== undefined) onProgress({ kind: 'loss', step: p.step, trainLoss: p.trainLoss, valLoss: p.valLoss! });
      else onProgress({ kind: 'step', step: p.step, totalSteps: p.totalSteps, epoch: p.epoch });
    },
  });
  result.optimizer.dispose();

  const samples = [];
  for (const text of SAMPLE_TEXTS) {
    const verdict = await classify(model, text, { maxLength });
    samples.push({ text, label: verdict.label, spamProbability: verdict.probabilities[1] });
  }
  return {
    model,
    maxLength,
    accuracy: {
      train: await accuracy(model, trainLoader),
      val: await accuracy(model, valLoader),
      test: await accuracy(model, testLoader),
    },
    report: await evaluateClassifier(model, testLoader),
    samples,
  };
}
