/**
 * `scratchgpt finetune classify` and its preset `scratchgpt finetune spam`: classification fine-tuning on
 * a labelled file (CSV/TSV/JSON/JSONL, any number of classes) or on the book's SMS Spam Collection split.
 * The data becomes splits here; the run is the finetune package's `fineTuneClassifier` (the example page
 * runs the same function), whose events this file prints: the per-class counts, progress bar, losses,
 * per-epoch accuracies, the final table beside the majority-class and bag-of-words baselines, the N×N test confusion matrix
 * with per-class and macro precision/recall/F1; then it writes the classifier (labels and config inside)
 * and SVG plots. Recipes: `classifierRecipeFor` (the book's chapter 6 or appendix E on GPT-2 weights, else
 * the built-in small GPT), overridden by the options.
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  balance,
  BUILT_IN_SPAM_PRETRAINING,
  checkClasses,
  bookSmsSpamSplit,
  classCounts,
  classifierRecipeFor,
  fineTuneClassifier,
  loraAdapterBytes,
  parseSmsSpam,
  POOLINGS,
  pretrainingTexts,
  readLabelledFile,
  removeLoRA,
  saveClassifier,
  SMS_SPAM_LABELS,
  SMS_SPAM_SAMPLES,
  stratifiedSplit,
  type ClassifierRecipe,
  type ClassifierRunEvent,
  type ClassifierRunResult,
  type LabelledText,
  type Pooling,
  type Splits,
  type Trainable,
} from '@scratchgpt/finetune';
import { initDevice, lossPlotSvg, readDataFile, readTextFile } from './finetune-shared';
import { trainingStateBytes, type LoRAOption } from './lora-option';
import { linePlotSvg, ProgressBar } from './progress';

export interface FinetuneOptions {
  /** `spam`: the book's data, split and recipe; `classify`: the user's labelled file. */
  task: 'spam' | 'classify';
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
  /** spam: another SMS Spam Collection TSV (default the bundled one); classify: the labelled file (required). */
  data?: string;
  /** classify: CSV field separator (default from the extension: `,`, or a tab for .tsv). */
  delimiter?: string;
  textColumn?: string;
  labelColumn?: string;
  /** classify: `a,b,c` fixes the classes and their order (default: the labels found, sorted). */
  labels?: string;
  /** classify: `train,val` fractions of a stratified split (default 0.7,0.1; the rest tests). */
  split?: string;
  /** classify: validation / test rows from files of their own instead of from the split. */
  val?: string;
  test?: string;
  /** classify: `none` (default) or `undersample` every class to the smallest. */
  balance?: string;
  /** Train LoRA adapters only (every Linear wrapped, the rest frozen; the book's appendix E). */
  lora?: LoRAOption;
  /**
   * Pretrain the built-in model as a language model on the texts outside the validation and test splits
   * first (default: only with `lora`, which cannot adapt a random frozen trunk). Ignored with `weights`.
   */
  pretrain?: boolean;
  backend?: string;
}

/** The data of a run: splits, classes, and the rows whose texts may be used for pretraining. */
interface RunData {
  splits: Splits<LabelledText>;
  labels: string[];
  /** Every row of the data (the pretraining texts are those outside the validation and test splits). */
  rows: LabelledText[];
  /** What the data is, for the log and the classifier file. */
  source: string;
}

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

function parseSplit(text: string | undefined): { train: number; val: number } {
  if (text === undefined) return { train: 0.7, val: 0.1 };
  const parts = text.split(',').map((t) => Number(t.trim()));
  const [train, val] = parts;
  if (parts.length !== 2 || !(train > 0 && val >= 0 && train + val <= 1)) {
    throw new Error(`scratchgpt: --split must be 'train,val' fractions with train > 0, val ≥ 0 and train + val ≤ 1 (the rest tests), e.g. 0.7,0.1; got '${text}'`);
  }
  return { train, val };
}

/** The book's SMS Spam Collection and its balanced split (1045 / 149 / 300). */
async function spamData(o: FinetuneOptions): Promise<RunData> {
  const tsv = await readDataFile(o.data, 'SMSSpamCollection.tsv', 'the SMS Spam Collection');
  const splits = bookSmsSpamSplit(tsv);
  return { splits, labels: [...SMS_SPAM_LABELS], rows: parseSmsSpam(tsv, { quoting: 'pandas' }), source: o.data ?? 'the SMS Spam Collection (bundled)' };
}

/** The user's labelled file(s): columns found, classes inferred or given, a stratified split or given files. */
async function fileData(o: FinetuneOptions): Promise<RunData> {
  if (o.data === undefined) throw new Error('scratchgpt: finetune classify needs --data FILE (CSV, TSV, JSON or JSON Lines with a text and a label column)');
  const labels = o.labels?.split(',').map((l) => l.trim());
  const read = async (path: string, fixed?: readonly string[]) =>
    readLabelledFile(await readTextFile(path, 'the data'), { name: path, delimiter: o.delimiter, textColumn: o.textColumn, labelColumn: o.labelColumn, labels: fixed ?? labels });
  const file = await read(o.data);
  checkClasses(file.rows, `the data ${o.data}`); // one class only: an error before any work
  if (o.balance !== undefined && o.balance !== 'none' && o.balance !== 'undersample') throw new Error(`scratchgpt: --balance must be none or undersample, got '${o.balance}'`);
  const table = [...file.counts].map(([l, n]) => `${l} ${n}`).join(', ');
  console.log(`data: ${o.data} (${file.format}): ${file.rows.length} rows, text column '${file.textColumn}', label column '${file.labelColumn}'; ${file.labels.length} classes: ${table}`);
  const rows = o.balance === 'undersample' ? balance(file.rows, { seed: o.seed }) : file.rows;
  if (o.balance === 'undersample') console.log(`balanced by undersampling: ${rows.length} rows (${rows.length / file.labels.length} per class)`);
  const fractions = parseSplit(o.split);
  const val = o.val === undefined ? null : (await read(o.val, file.labels)).rows;
  const test = o.test === undefined ? null : (await read(o.test, file.labels)).rows;
  let splits: Splits<LabelledText>;
  if (val && test) splits = { train: rows, val, test };
  else if (val) splits = { ...stratifiedSplit(rows, { train: fractions.train / (1 - fractions.val), val: 0 }, { seed: o.seed }), val };
  else if (test) {
    const s = stratifiedSplit(rows, { train: fractions.train / (fractions.train + fractions.val), val: fractions.val / (fractions.train + fractions.val) }, { seed: o.seed });
    splits = { train: s.train, val: s.val, test };
  } else splits = stratifiedSplit(rows, fractions, { seed: o.seed });
  return { splits, labels: file.labels, rows, source: o.data };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** `--plot` as two file names: a directory gets `loss.svg`/`accuracy.svg`, anything else is a prefix. */
async function plotPaths(plot: string): Promise<{ loss: string; accuracy: string }> {
  const isDir = plot.endsWith('/') || (await stat(plot).then((s) => s.isDirectory(), () => false));
  return isDir ? { loss: join(plot, 'loss.svg'), accuracy: join(plot, 'accuracy.svg') } : { loss: `${plot}loss.svg`, accuracy: `${plot}accuracy.svg` };
}

/** Prints the run's events on the terminal: a bar over the steps, a line per evaluation, epoch and warning. */
class RunPrinter {
  private bar: ProgressBar | null = null;
  private pretrainBar: ProgressBar | null = null;
  private epochs = 0;

  constructor(
    private readonly o: FinetuneOptions,
    private readonly pretrained: boolean,
  ) {}

  readonly onEvent = (e: ClassifierRunEvent): void => {
    switch (e.kind) {
      case 'pretraining':
        this.pretrainBar ??= new ProgressBar(e.totalSteps);
        this.pretrainBar.update(e.step, 'pretraining');
        break;
      case 'pretrained': {
        this.pretrainBar?.finish();
        const r = e.result;
        console.log(
          `pretraining on ${r.texts.toLocaleString('en-US')} unlabelled texts (${r.tokens.toLocaleString('en-US')} tokens, ${r.windows} windows, ` +
            `head over the ${r.headVocab - 1} most frequent tokens + other; ${BUILT_IN_SPAM_PRETRAINING.epochs} epochs, batch ${BUILT_IN_SPAM_PRETRAINING.batchSize}, lr ${BUILT_IN_SPAM_PRETRAINING.lr}): ` +
            `loss ${r.lossBefore.toFixed(3)} → ${r.lossAfter.toFixed(3)} in ${e.seconds.toFixed(1)} s`,
        );
        break;
      }
      case 'model': {
        const { recipe: r, lora } = e;
        this.epochs = r.epochs;
        console.log(
          `recipe: ${r.name}; trainable ${JSON.stringify(r.trainable)}, pooling ${r.pooling}, ${r.epochs} epochs, batch ${r.batchSize}, ` +
            `lr ${r.lr}, weight decay ${r.weightDecay ?? 0.1}, seed ${this.o.seed}${lora ? `; LoRA rank ${lora.rank} alpha ${lora.alpha} (every Linear, the rest frozen)` : ''}` +
            `${this.pretrained ? '; trunk pretrained on the unlabelled texts' : ''}`,
        );
        console.log(`model: C=${e.embDim}, L=${e.nLayers}, NH=${e.nHeads}, ${(e.parameters / 1e6).toFixed(2)}M parameters, ${e.trainable.toLocaleString('en-US')} trainable`);
        if (lora) {
          const [mine, recipe] = [trainingStateBytes(e.trainable), trainingStateBytes(e.recipeTrainable)];
          console.log(
            `LoRA: gradients + AdamW moments ${mine.toLocaleString('en-US')} bytes instead of ${recipe.toLocaleString('en-US')} for the recipe's ` +
              `${e.recipeTrainable.toLocaleString('en-US')} trainable parameters (${(recipe - mine).toLocaleString('en-US')} bytes saved)`,
          );
        }
        break;
      }
      case 'data': {
        console.log(`data: ${e.train} train / ${e.val} val / ${e.test} test texts, ${e.maxLength} tokens per row (${e.truncated} training texts cut); ${e.batchesPerEpoch} train batches per epoch`);
        const w = Math.max(5, ...e.labels.map((l) => l.length)) + 2;
        console.log(`${'class'.padEnd(w)}${'train'.padStart(7)}${'val'.padStart(7)}${'test'.padStart(7)}`);
        e.labels.forEach((l, i) => console.log(`${l.padEnd(w)}${String(e.counts.train[i]).padStart(7)}${String(e.counts.val[i]).padStart(7)}${String(e.counts.test[i]).padStart(7)}`));
        this.bar = new ProgressBar(e.totalSteps);
        break;
      }
      case 'warning':
        (this.bar ?? console).log(`warning: ${e.message}`);
        break;
      case 'baseline':
        this.bar?.log(`before training: training accuracy ${pct(e.trainAccuracy)}, validation accuracy ${pct(e.valAccuracy)}; always '${e.majority.label}' (the largest class) would score ${pct(e.majority.val)} on validation`);
        break;
      case 'loss':
        this.bar?.log(`epoch ${e.epoch + 1} step ${String(e.step).padStart(4)}: train loss ${e.trainLoss.toFixed(3)}, val loss ${e.valLoss.toFixed(3)}`);
        break;
      case 'epoch':
        this.bar?.log(`epoch ${e.epoch + 1}: training accuracy ${pct(e.trainAccuracy)}, validation accuracy ${pct(e.valAccuracy)} (${e.examplesSeen} examples seen)`);
        break;
      case 'step':
        this.bar?.update(e.step, `epoch ${e.epoch + 1}/${this.epochs}`);
        break;
      case 'evaluating':
        this.bar?.finish();
        break;
    }
  };
}

/** The final figures: accuracy table beside the majority baseline, confusion matrix, per-class and macro metrics. */
function printResults(run: ClassifierRunResult): void {
  const { accuracy: a, majority: m, report, labels } = run;
  console.log(`trained ${run.steps} steps in ${run.trainSeconds.toFixed(1)} s; AdamW state ${run.optimizerStateBytes.toLocaleString('en-US')} bytes live on the GPU (measured)`);
  console.log('\naccuracy   train     val       test');
  console.log(`           ${pct(a.train).padEnd(10)}${pct(a.val).padEnd(10)}${pct(a.test)}`);
  console.log(`majority   ${pct(m.train).padEnd(10)}${pct(m.val).padEnd(10)}${pct(m.test)}   (always '${m.label}', the largest training class)`);
  const b = run.bagOfWords;
  console.log(`bag of words ${pct(b.train).padEnd(8)}${pct(b.val).padEnd(10)}${pct(b.test)}   (TF-IDF word 1–2-grams + logistic regression, ${b.terms.toLocaleString('en-US')} terms)`);
  const w = Math.max(...labels.map((l) => l.length)) + 2;
  const cell = Math.max(7, ...labels.map((l) => l.length + 2));
  console.log(`\nconfusion matrix (test; rows: true, columns: predicted)`);
  console.log(`${''.padEnd(w + 5)}${labels.map((l) => l.padStart(cell)).join('')}`);
  report.matrix.forEach((row, i) => console.log(`true ${labels[i].padEnd(w)}${row.map((n) => String(n).padStart(cell)).join('')}`));
  for (const k of report.classes) console.log(`${k.label.padEnd(w)} precision ${pct(k.precision)}, recall ${pct(k.recall)}, F1 ${k.f1.toFixed(4)} (${k.support} texts)`);
  console.log(`${'macro'.padEnd(w)} precision ${pct(report.macro.precision)}, recall ${pct(report.macro.recall)}, F1 ${report.macro.f1.toFixed(4)}`);
}

export async function runFinetune(o: FinetuneOptions): Promise<number> {
  const started = performance.now();
  // Options and data first: a typo or a bad file should not wait for the GPU.
  const base = classifierRecipeFor({ weights: o.weights !== undefined, lora: o.lora !== undefined });
  const recipe: ClassifierRecipe = {
    ...base,
    trainable: parseTrainable(o.trainable, base.trainable),
    pooling: parsePooling(o.pooling, base.pooling),
    epochs: o.epochs ?? base.epochs,
    batchSize: o.batchSize ?? base.batchSize,
    lr: o.lr ?? base.lr,
    maxLength: o.maxLength ?? base.maxLength,
  };
  const data = o.task === 'spam' ? await spamData(o) : await fileData(o);
  const { splits } = data;
  // Pretraining texts: every text outside the (whole) validation and test splits — labels unused.
  const pretrain = o.weights === undefined && (o.pretrain ?? o.lora !== undefined);
  const pretrainTexts = pretrain ? pretrainingTexts(data.rows, [splits.val, splits.test]) : [];
  if (o.limit !== undefined) {
    for (const key of ['train', 'val', 'test'] as const) splits[key] = splits[key].slice(0, o.limit);
    pretrainTexts.splice(o.limit);
  }

  await initDevice(o.backend, o.seed);
  const printer = new RunPrinter(o, pretrainTexts.length > 0);
  const run = await fineTuneClassifier({
    splits,
    labels: data.labels,
    recipe,
    weights: o.weights,
    lora: o.lora,
    pretrainTexts,
    seed: o.seed,
    samples: o.task === 'spam' ? SMS_SPAM_SAMPLES.map((s) => s.text) : [],
    onEvent: printer.onEvent,
  });
  printResults(run);
  if (o.task === 'spam') {
    console.log('');
    run.samples.forEach((verdict, i) => {
      const { text, expected } = SMS_SPAM_SAMPLES[i];
      const shown = verdict.label === 'spam' ? 'spam' : 'not spam';
      const mark = verdict.label === expected ? 'as in the book' : `the book says ${expected === 'spam' ? 'spam' : 'not spam'}`;
      console.log(`${JSON.stringify(text)}\n  → ${shown} (p(spam) = ${verdict.probabilities[SMS_SPAM_LABELS.indexOf('spam')].toFixed(3)}; ${mark})`);
    });
  }

  const { model } = run;
  if (o.lora) {
    const adapters = o.out.replace(/(\.safetensors)?$/, '.lora.safetensors');
    await writeFile(adapters, await loraAdapterBytes(model));
    console.log(`LoRA adapters: ${adapters}`);
    removeLoRA(model); // merged into the weights: the classifier file has the plain names
  }
  await saveClassifier(o.out, model, {
    maxLength: run.maxLength,
    extra: {
      recipe,
      lora: o.lora ?? null,
      data: data.source,
      classCounts: Object.fromEntries(classCounts(splits.train, data.labels)),
      accuracies: run.accuracy,
      majority: run.majority,
      bagOfWords: run.bagOfWords,
      macroF1: run.report.macro.f1,
      trainAccuracies: run.trainAccuracies,
      valAccuracies: run.valAccuracies,
    },
  });
  console.log(`\nclassifier: ${o.out}`);
  const plots = await plotPaths(o.plot);
  await writeFile(plots.loss, lossPlotSvg(run.losses.map((l) => l.examplesSeen), 'examples seen', { trainLosses: run.losses.map((l) => l.trainLoss), valLosses: run.losses.map((l) => l.valLoss) }));
  await writeFile(
    plots.accuracy,
    linePlotSvg({
      x: run.trainAccuracies.map((_, i) => i + 1),
      xLabel: 'epoch',
      yLabel: 'accuracy',
      series: [
        { label: 'training accuracy', values: run.trainAccuracies },
        { label: 'validation accuracy', values: run.valAccuracies, dashed: true },
      ],
    }),
  );
  console.log(`plots: ${plots.loss}, ${plots.accuracy}`);
  console.log(`total time ${((performance.now() - started) / 1000).toFixed(1)} s`);
  model.dispose();
  return 0;
}
