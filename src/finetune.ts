/**
 * `scratchgpt finetune spam`: the book's chapter-6 spam classifier on the SMS Spam Collection (the
 * book's balanced split: 1045 / 149 / 300). With `--weights` it runs the book's recipe on GPT-2
 * (last block + final norm + new head trainable, last-token pooling, 5 epochs, batch 8, lr 5e-5; with
 * `--lora`, appendix E's lr 8e-4); without, a small built-in model trained end to end that finishes in
 * minutes on a software adapter (the recipes: `spamRecipeFor` in @scratchgpt/finetune).
 * Prints progress, per-epoch accuracy, the final accuracy table, the test confusion matrix and the
 * verdicts for the book's two sample texts; writes the classifier and SVG plots.
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadGPT2, type GPTModel, type TrainProgress } from '@scratchgpt/gpt';
import {
  accuracy,
  applyLoRA,
  bookSmsSpamSplit,
  BUILT_IN_SPAM_PRETRAINING,
  builtInSpamGPT,
  ClassificationDataset,
  classify,
  createClassificationLoader,
  evaluateClassifier,
  GPTClassifier,
  loraAdapterBytes,
  parseSmsSpam,
  POOLINGS,
  pretrainingTexts,
  pretrainTrunk,
  removeLoRA,
  saveClassifier,
  SMS_SPAM_LABELS,
  spamRecipeFor,
  trainClassifier,
  type Pooling,
  type SpamRecipe,
  type Trainable,
} from '@scratchgpt/finetune';
import { initDevice, lossPlotSvg, readDataFile, recipeSettings, TrainingDisplay } from './finetune-shared';
import { trainingStateBytes, type LoRAOption } from './lora-option';
import { linePlotSvg, ProgressBar } from './progress';

export interface FinetuneOptions {
  /** GPT-2 safetensors path or URL; none = the built-in model. */
  weights?: string;
  trainable?: string;
  pooling?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed: number;
  /** Classifier file to write. */
  out: string;
  /** Plot directory (ends in `/` or exists) or file-name prefix. */
  plot: string;
  /** Use at most this many rows of each split (smoke tests). */
  limit?: number;
  /** Tokens per row (default: the recipe's). */
  maxLength?: number;
  /** Another SMS Spam Collection TSV (default: the bundled one). */
  data?: string;
  /** Train LoRA adapters only (every Linear wrapped, the rest frozen; the book's appendix E). */
  lora?: LoRAOption;
  /**
   * Pretrain the built-in model as a language model on the unlabelled texts outside the validation and
   * test splits first (default: only with `lora`, which cannot adapt a random frozen trunk; the full
   * fine-tune is better without). Ignored with `weights`.
   */
  pretrain?: boolean;
  backend?: string;
}

/** The book's two sample texts and the verdicts it reports. */
export const SAMPLE_TEXTS = [
  { text: 'You are a winner you have been specially selected to receive $1000 cash or a $2000 award.', expected: 'spam' },
  { text: "Hey, just wanted to check if we're still on for dinner tonight? Let me know!", expected: 'ham' },
] as const;

function parseTrainable(text: string | undefined, fallback: Trainable): Trainable {
  if (text === undefined) return fallback;
  if (text === 'book' || text === 'all' || text === 'head') return text;
  const n = Number(text);
  if (Number.isInteger(n) && n >= 0) return { lastBlocks: n };
  throw new Error(`scratchgpt: --trainable must be book, all, head or a number of last blocks, got '${text}'`);
}

function parsePooling(text: string | undefined, fallback: Pooling): Pooling {
  if (text === undefined) return fallback;
  if ((POOLINGS as readonly string[]).includes(text)) return text as Pooling;
  throw new Error(`scratchgpt: --pooling must be one of ${POOLINGS.join(', ')}, got '${text}'`);
}

/** `--plot` as two file names: a directory gets `loss.svg`/`accuracy.svg`, anything else is a prefix. */
async function plotPaths(plot: string): Promise<{ loss: string; accuracy: string }> {
  const isDir = plot.endsWith('/') || (await stat(plot).then((s) => s.isDirectory(), () => false));
  return isDir ? { loss: join(plot, 'loss.svg'), accuracy: join(plot, 'accuracy.svg') } : { loss: `${plot}loss.svg`, accuracy: `${plot}accuracy.svg` };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/**
 * The built-in model's language-model pretraining on `texts` (none of them in the validation or test
 * split), with a progress bar; prints what it did.
 */
async function pretrainBuiltIn(gpt: GPTModel, texts: string[], seed: number): Promise<void> {
  const settings = BUILT_IN_SPAM_PRETRAINING;
  const t0 = performance.now();
  let bar: ProgressBar | undefined;
  const r = await pretrainTrunk(gpt, texts, {
    ...settings,
    seed,
    onProgress: (p: TrainProgress) => {
      bar ??= new ProgressBar(p.totalSteps);
      bar.update(p.step, `pretraining epoch ${p.epoch + 1}/${settings.epochs}`);
    },
  });
  bar?.finish();
  console.log(
    `pretraining on ${r.texts.toLocaleString('en-US')} unlabelled texts (${r.tokens.toLocaleString('en-US')} tokens, ${r.windows} windows, ` +
      `head over the ${r.headVocab - 1} most frequent tokens + other; ${settings.epochs} epochs, batch ${settings.batchSize}, lr ${settings.lr}): ` +
      `loss ${r.lossBefore.toFixed(3)} → ${r.lossAfter.toFixed(3)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

export async function runFinetune(o: FinetuneOptions): Promise<number> {
  const started = performance.now();
  // Options first: a typo should not wait for the GPU.
  const base = spamRecipeFor({ weights: o.weights !== undefined, lora: o.lora !== undefined });
  const recipe: SpamRecipe = {
    ...base,
    trainable: parseTrainable(o.trainable, base.trainable),
    pooling: parsePooling(o.pooling, base.pooling),
    epochs: o.epochs ?? base.epochs,
    batchSize: o.batchSize ?? base.batchSize,
    lr: o.lr ?? base.lr,
    maxLength: o.maxLength ?? base.maxLength,
  };
  const tsv = await readDataFile(o.data, 'SMSSpamCollection.tsv', 'the SMS Spam Collection');
  const split = bookSmsSpamSplit(tsv);
  // Every text of the collection but the (whole) validation and test splits' — labels unused.
  const pretrain = !o.weights && (o.pretrain ?? o.lora !== undefined);
  const pretrainTexts = pretrain ? pretrainingTexts(parseSmsSpam(tsv, { quoting: 'pandas' }), [split.val, split.test]) : [];
  if (o.limit !== undefined) {
    for (const key of ['train', 'val', 'test'] as const) split[key] = split[key].slice(0, o.limit);
    pretrainTexts.splice(o.limit);
  }

  await initDevice(o.backend, o.seed);
  const gpt = o.weights ? await loadGPT2(o.weights) : builtInSpamGPT(recipe.maxLength);
  if (pretrainTexts.length > 0) await pretrainBuiltIn(gpt, pretrainTexts, o.seed);
  const model = GPTClassifier.fromGPT(gpt, { numClasses: 2, labels: SMS_SPAM_LABELS, trainable: recipe.trainable, pooling: recipe.pooling, seed: o.seed });
  // Parameters the recipe would train without LoRA (for the memory comparison below).
  const recipeTrainable = model.numParameters({ trainableOnly: true });
  if (o.lora) applyLoRA(model, { ...o.lora, seed: o.seed });
  const { contextLength } = gpt.config;
  const trainSet = new ClassificationDataset(split.train, { labels: SMS_SPAM_LABELS, maxLength: recipe.maxLength, contextLength });
  const maxLength = trainSet.maxLength;
  const valSet = new ClassificationDataset(split.val, { labels: SMS_SPAM_LABELS, maxLength });
  const testSet = new ClassificationDataset(split.test, { labels: SMS_SPAM_LABELS, maxLength });
  const trainLoader = createClassificationLoader(trainSet, { batchSize: recipe.batchSize, shuffle: true, dropLast: true, seed: o.seed });
  const valLoader = createClassificationLoader(valSet, { batchSize: recipe.batchSize });
  const testLoader = createClassificationLoader(testSet, { batchSize: recipe.batchSize });
  const c = gpt.config;
  console.log(
    `recipe: ${recipe.name}; trainable ${JSON.stringify(recipe.trainable)}, pooling ${recipe.pooling}, ${recipe.epochs} epochs, batch ${recipe.batchSize}, ` +
      `lr ${recipe.lr}, weight decay 0.1, seed ${o.seed}${o.lora ? `; LoRA rank ${o.lora.rank} alpha ${o.lora.alpha} (every Linear, the rest frozen)` : ''}` +
      `${pretrainTexts.length > 0 ? '; trunk pretrained on the unlabelled texts' : ''}`,
  );
  console.log(
    `model: C=${c.embDim}, L=${c.nLayers}, NH=${c.nHeads}, ${(model.numParameters() / 1e6).toFixed(2)}M parameters, ` +
      `${model.numParameters({ trainableOnly: true }).toLocaleString('en-US')} trainable`,
  );
  if (o.lora) {
    const lora = model.numParameters({ trainableOnly: true });
    console.log(
      `LoRA: gradients + AdamW moments ${trainingStateBytes(lora).toLocaleString('en-US')} bytes instead of ` +
        `${trainingStateBytes(recipeTrainable).toLocaleString('en-US')} for the recipe's ${recipeTrainable.toLocaleString('en-US')} trainable parameters ` +
        `(${(trainingStateBytes(recipeTrainable) - trainingStateBytes(lora)).toLocaleString('en-US')} bytes saved)`,
    );
  }
  console.log(
    `data: ${split.train.length} train / ${split.val.length} val / ${split.test.length} test texts, ${maxLength} tokens per row ` +
      `(${trainSet.truncated} training texts cut); ${trainLoader.numBatches} train batches per epoch`,
  );

  const display = new TrainingDisplay(trainLoader.numBatches * recipe.epochs, recipe.epochs, {
    bytes: (n) => `${n.toLocaleString('en-US')} bytes`,
    epochEnd: (p) =>
      p.metrics
        ? `epoch ${p.epoch + 1}: training accuracy ${pct(p.metrics.trainAccuracy)}, validation accuracy ${pct(p.metrics.valAccuracy)} (${p.examplesSeen} examples seen)`
        : undefined,
  });
  const result = await trainClassifier(model, trainLoader, valLoader, { ...recipeSettings(recipe, 50), onProgress: display.onProgress });
  const trainSeconds = display.finish();
  console.log(`trained ${result.finalStep} steps in ${trainSeconds.toFixed(1)} s`);

  const accuracies = {
    train: await accuracy(model, trainLoader),
    val: await accuracy(model, valLoader),
    test: await accuracy(model, testLoader),
  };
  console.log('\naccuracy   train     val       test');
  console.log(`           ${pct(accuracies.train).padEnd(10)}${pct(accuracies.val).padEnd(10)}${pct(accuracies.test)}`);

  const report = await evaluateClassifier(model, testLoader);
  const w = Math.max(...SMS_SPAM_LABELS.map((l) => l.length)) + 2;
  console.log(`\nconfusion matrix (test; rows: true, columns: predicted)`);
  console.log(`${''.padEnd(w + 5)}${SMS_SPAM_LABELS.map((l) => l.padStart(7)).join('')}`);
  report.matrix.forEach((row, i) => console.log(`true ${SMS_SPAM_LABELS[i].padEnd(w)}${row.map((n) => String(n).padStart(7)).join('')}`));
  for (const k of report.classes) {
    console.log(`${k.label.padEnd(w)} precision ${pct(k.precision)}, recall ${pct(k.recall)}, F1 ${k.f1.toFixed(4)} (${k.support} texts)`);
  }

  console.log('');
  for (const { text, expected } of SAMPLE_TEXTS) {
    const verdict = await classify(model, text, { maxLength });
    const shown = verdict.label === 'spam' ? 'spam' : 'not spam';
    const mark = verdict.label === expected ? 'as in the book' : `the book says ${expected === 'spam' ? 'spam' : 'not spam'}`;
    console.log(`${JSON.stringify(text)}\n  → ${shown} (p(spam) = ${verdict.probabilities[1].toFixed(3)}; ${mark})`);
  }

  if (o.lora) {
    const adapters = o.out.replace(/(\.safetensors)?$/, '.lora.safetensors');
    await writeFile(adapters, await loraAdapterBytes(model));
    console.log(`LoRA adapters: ${adapters}`);
    removeLoRA(model); // merged into the weights: the classifier file has the plain names
  }
  await saveClassifier(o.out, model, {
    maxLength,
    extra: { recipe, lora: o.lora ?? null, accuracies, trainAccuracies: result.trainAccuracies, valAccuracies: result.valAccuracies },
  });
  console.log(`\nclassifier: ${o.out}`);
  const plots = await plotPaths(o.plot);
  await writeFile(plots.loss, lossPlotSvg(result.examplesSeen, 'examples seen', result));
  await writeFile(
    plots.accuracy,
    linePlotSvg({
      x: result.epochReports.map((r) => r.epoch + 1),
      xLabel: 'epoch',
      yLabel: 'accuracy',
      series: [
        { label: 'training accuracy', values: result.trainAccuracies },
        { label: 'validation accuracy', values: result.valAccuracies, dashed: true },
      ],
    }),
  );
  console.log(`plots: ${plots.loss}, ${plots.accuracy}`);
  console.log(`total time ${((performance.now() - started) / 1000).toFixed(1)} s`);
  result.optimizer.dispose();
  model.dispose();
  return 0;
}
