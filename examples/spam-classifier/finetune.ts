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
 * its lr 8e-4, `BOOK_LORA_SPAM_RECIPE`). The recipes come from `classifierRecipeFor`, as in the CLI: same
 * recipe, data and seed, the same run as `scratchgpt finetune spam` — except with `lora` on the
 * built-in model, where the CLI first pretrains the trunk as a language model (`pretrainTrunk`) and
 * this script does not.
 */
import {
  balance,
  bookSmsSpamSplit,
  checkClasses,
  classifierRecipeFor,
  fineTuneClassifier,
  readLabelledFile,
  stratifiedSplit,
  SMS_SPAM_LABELS,
  SMS_SPAM_SAMPLES,
  type ClassifierRecipe,
  type ClassifierRunEvent,
  type ClassifierRunResult,
  type SpamRecipe,
} from '@scratchgpt/finetune';
import type { WeightsSource } from '@scratchgpt/gpt';

/** LoRA adapters on every Linear (the book's appendix E: rank 16, alpha 16). */
export interface SpamLoRA {
  rank: number;
  alpha: number;
}

/** What the progress sink receives: the package run's events (model, data, baseline, then steps/losses/epochs). */
export type SpamProgress = ClassifierRunEvent;

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

/** The run's result, with the book's two sample texts as verdicts. */
export type SpamFinetuneResult = Omit<ClassifierRunResult, 'samples'> & {
  /** The book's two sample texts and their verdicts. */
  samples: { text: string; expected: string; label: string; spamProbability: number }[];
};

/**
 * Fine-tunes a spam classifier and evaluates it: the book's data and split (`bookSmsSpamSplit`) and the
 * recipe of `classifierRecipeFor`, run by the finetune package's `fineTuneClassifier` (the CLI's run).
 * Call `init()` first. On success the returned model is the caller's to `dispose()`; on failure everything
 * the run allocated is freed.
 * @example
 * ```ts
 * await init();
 * const run = await fineTuneSpamClassifier({ tsv, limit: 200, onProgress: (e) => console.log(e) });
 * console.log(run.accuracy, run.samples);
 * run.model.dispose();
 * ```
 */
export async function fineTuneSpamClassifier(options: SpamFinetuneOptions): Promise<SpamFinetuneResult> {
  const { tsv, weights, lora, onProgress, limit, seed = 123, evalFreq = 50 } = options;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new Error(`scratchgpt: limit must be a positive integer, got ${limit}`);
  const splits = bookSmsSpamSplit(tsv); // the book's balanced 1045 / 149 / 300 split
  if (limit !== undefined) for (const key of ['train', 'val', 'test'] as const) splits[key] = splits[key].slice(0, limit);
  const base = classifierRecipeFor({ weights: weights !== undefined, lora: lora !== undefined });
  const recipe: SpamRecipe = { ...base, epochs: options.epochs ?? base.epochs, maxLength: options.maxLength ?? base.maxLength };
  const run = await fineTuneClassifier({
    splits,
    labels: SMS_SPAM_LABELS,
    recipe,
    weights,
    lora,
    seed,
    evalFreq,
    samples: SMS_SPAM_SAMPLES.map((s) => s.text),
    waitEachStep: true, // a step's time (and a page's progress bar) once the GPU has done it, not when it was queued
    onEvent: onProgress,
  });
  const spam = SMS_SPAM_LABELS.indexOf('spam');
  return { ...run, samples: run.samples.map((c, i) => ({ text: c.text, expected: SMS_SPAM_SAMPLES[i].expected, label: c.label, spamProbability: c.probabilities[spam] })) };
}

/** A run on the user's own labelled file (CSV, TSV, JSON or JSON Lines): `scratchgpt finetune classify` in a function. */
export interface FileFinetuneOptions extends Omit<SpamFinetuneOptions, 'tsv'> {
  /** The file's text (decode its bytes with `decodeUtf8`) and its name (the format comes from the extension). */
  text: string;
  name: string;
  /** Columns (default: found among the usual names, see `readLabelledFile`). */
  textColumn?: string;
  labelColumn?: string;
  /** Stratified split fractions (default 0.7 / 0.1, the rest tests, as the CLI). */
  split?: { train: number; val: number };
  /** Undersample every class to the smallest first (default false, as the CLI's `--balance none`). */
  balance?: boolean;
}

/**
 * Fine-tunes a classifier of the file's classes with the recipe of `classifierRecipeFor` (the CLI's
 * `finetune classify`: the same reading, balancing and stratified split, the same run): the page's "your
 * data" path. The returned model is the caller's to `dispose()`.
 */
export async function fineTuneFileClassifier(options: FileFinetuneOptions): Promise<ClassifierRunResult> {
  const { text, name, weights, lora, onProgress, limit, seed = 123, evalFreq = 50 } = options;
  const file = readLabelledFile(text, { name, textColumn: options.textColumn, labelColumn: options.labelColumn });
  checkClasses(file.rows, name);
  const rows = options.balance ? balance(file.rows, { seed }) : file.rows;
  const splits = stratifiedSplit(rows, options.split ?? { train: 0.7, val: 0.1 }, { seed });
  if (limit !== undefined) for (const key of ['train', 'val', 'test'] as const) splits[key] = splits[key].slice(0, limit);
  const base = classifierRecipeFor({ weights: weights !== undefined, lora: lora !== undefined });
  const recipe: ClassifierRecipe = { ...base, epochs: options.epochs ?? base.epochs, maxLength: options.maxLength ?? base.maxLength };
  return fineTuneClassifier({ splits, labels: file.labels, recipe, weights, lora, seed, evalFreq, waitEachStep: true, onEvent: onProgress });
}
