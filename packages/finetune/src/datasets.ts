/**
 * Data for classification fine-tuning (the book's chapter 6): labelled texts as GPT-2 token ids,
 * right-padded to one length (the book's `SpamDataset`), and a batching loader with seeded shuffling
 * and `dropLast`. Parsing, balancing and splitting live in `parse.ts` and `split.ts` and are
 * re-exported here.
 */
import { ScratchGPTError } from '@scratchgpt/core';
import { batchCount, encode, EOT_TOKEN, epochOrder } from '@scratchgpt/gpt';
import { checkRow, type LabelledText } from './parse';

export {
  inferLabels,
  parseLabelledCsv,
  parseLabelledJsonl,
  parseSmsSpam,
  SMS_SPAM_LABELS,
  type LabelledCsvOptions,
  type LabelledJsonlOptions,
  type LabelledText,
  type LabelOptions,
  type SmsSpamOptions,
} from './parse';
export * from './split';
export { permutation, type RandomSource } from './random';

/**
 * A batch: token ids `[B, T]` row-major (right-padded), class indices `[B]`, and the number of real
 * (non-pad) tokens of each row `[B]` (what `last-non-pad` and `mean` pooling read).
 */
export interface ClassificationBatch {
  inputs: Int32Array;
  labels: Int32Array;
  lengths: Int32Array;
  shape: readonly [number, number];
  /**
   * The label names of the class indices, in index order (set by {@link ClassificationDataset}):
   * training and evaluation refuse a batch whose names are not the model's, in the model's order.
   */
  classes?: readonly string[];
}

export interface ClassificationDatasetOptions {
  /** The classes in index order (class i is `labels[i]`); a row with another label is an error. */
  labels: readonly string[];
  /**
   * Length every row is padded (or truncated) to. Default: the longest text, capped at `contextLength`.
   * Validation and test sets should pass the training set's `maxLength` (as the book does).
   */
  maxLength?: number;
  /** Padding id (default 50256, GPT-2's `<|endoftext|>`, as in the book). */
  padId?: number;
  /**
   * The model's context length: the hard cap. A `maxLength` above it is an error; without `maxLength`,
   * texts longer than it are truncated to it (counted in `truncated`).
   */
  contextLength?: number;
  /** Text → token ids (default GPT-2's BPE `encode`; `<|endoftext|>` in a text is an error). */
  tokenize?: (text: string) => ArrayLike<number>;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ScratchGPTError('value', `scratchgpt: ${name} must be a positive integer, got ${v}`);
}

/**
 * Labelled texts as fixed-length token-id rows (the book's `SpamDataset`): each text is tokenized,
 * truncated to `maxLength` and right-padded with `padId`.
 * @example
 * ```ts
 * const { train, val } = bookSmsSpamSplit(tsv);
 * const trainSet = new ClassificationDataset(train, { labels: SMS_SPAM_LABELS, contextLength: 1024 });
 * const valSet = new ClassificationDataset(val, { labels: SMS_SPAM_LABELS, maxLength: trainSet.maxLength });
 * trainSet.maxLength; // 120
 * ```
 */
export class ClassificationDataset {
  readonly labels: readonly string[];
  /** Tokens per row after padding. */
  readonly maxLength: number;
  readonly padId: number;
  /** Tokens of the longest text before truncation. */
  readonly longestLength: number;
  /** How many texts were cut to `maxLength`. */
  readonly truncated: number;
  /** The rows, as given. */
  readonly rows: readonly LabelledText[];
  private readonly ids: Int32Array;
  private readonly classes: Int32Array;
  private readonly lens: Int32Array;

  constructor(rows: readonly LabelledText[], options: ClassificationDatasetOptions) {
    const { labels, padId = EOT_TOKEN, contextLength, tokenize = (t: string) => encode(t) } = options;
    if (!Array.isArray(labels) || labels.length === 0) throw new ScratchGPTError('value', 'scratchgpt: ClassificationDataset needs a non-empty labels list');
    if (new Set(labels).size !== labels.length) throw new ScratchGPTError('value', `scratchgpt: ClassificationDataset labels must be distinct, got [${labels.join(', ')}]`);
    if (!Number.isInteger(padId) || padId < 0) throw new ScratchGPTError('range', `scratchgpt: padId must be a non-negative integer, got ${padId}`);
    if (contextLength !== undefined) positiveInt('contextLength', contextLength);
    if (options.maxLength !== undefined) {
      positiveInt('maxLength', options.maxLength);
      if (contextLength !== undefined && options.maxLength > contextLength) {
        throw new ScratchGPTError('range', `scratchgpt: maxLength ${options.maxLength} exceeds the model's context length ${contextLength}`);
      }
    }
    const classOf = new Map(labels.map((l, i) => [l, i]));
    const tokens = rows.map((row, i) => {
      checkRow(row, `row ${i}`, labels);
      const ids = tokenize(row.text);
      if (ids.length === 0) throw new ScratchGPTError('value', `scratchgpt: row ${i}: the text has no tokens`);
      return ids;
    });
    this.longestLength = tokens.reduce((m, t) => Math.max(m, t.length), 0);
    if (options.maxLength === undefined && rows.length === 0) throw new ScratchGPTError('value', 'scratchgpt: cannot infer maxLength from an empty dataset; pass maxLength');
    const T = options.maxLength ?? Math.min(this.longestLength, contextLength ?? Infinity);
    this.labels = Object.freeze([...labels]);
    this.maxLength = T;
    this.padId = padId;
    this.rows = rows;
    this.ids = new Int32Array(rows.length * T).fill(padId);
    this.classes = new Int32Array(rows.length);
    this.lens = new Int32Array(rows.length);
    let truncated = 0;
    tokens.forEach((ids, i) => {
      const n = Math.min(ids.length, T);
      if (n < ids.length) truncated++;
      for (let j = 0; j < n; j++) this.ids[i * T + j] = ids[j];
      this.classes[i] = classOf.get(rows[i].label)!;
      this.lens[i] = n;
    });
    this.truncated = truncated;
  }

  get length(): number {
    return this.rows.length;
  }

  /** Row `index`: padded ids (`maxLength`), class index and non-pad length. */
  get(index: number): { ids: Int32Array; label: number; length: number } {
    this.checkIndex(index);
    const T = this.maxLength;
    return { ids: this.ids.slice(index * T, (index + 1) * T), label: this.classes[index], length: this.lens[index] };
  }

  /** The rows at `indices` as one batch. */
  batch(indices: readonly number[]): ClassificationBatch {
    const T = this.maxLength;
    const B = indices.length;
    const inputs = new Int32Array(B * T);
    const labels = new Int32Array(B);
    const lengths = new Int32Array(B);
    indices.forEach((index, row) => {
      this.checkIndex(index);
      inputs.set(this.ids.subarray(index * T, (index + 1) * T), row * T);
      labels[row] = this.classes[index];
      lengths[row] = this.lens[index];
    });
    return { inputs, labels, lengths, shape: [B, T], classes: this.labels };
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new ScratchGPTError('range', `scratchgpt: dataset index ${index} out of range [0, ${this.length})`);
  }
}

export interface ClassificationLoaderOptions {
  batchSize: number;
  /** Reshuffle the rows every epoch (default false). */
  shuffle?: boolean;
  /** Shuffle seed; epoch e uses seed + e (default 123). */
  seed?: number;
  /** Drop a last batch smaller than `batchSize` (default false, like PyTorch; the book's training loader drops it). */
  dropLast?: boolean;
}

/** Batches of a {@link ClassificationDataset}; each iteration is one epoch. */
export class ClassificationLoader implements Iterable<ClassificationBatch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly seed: number;
  private epoch = 0;

  constructor(
    readonly dataset: ClassificationDataset,
    { batchSize, shuffle = false, seed = 123, dropLast = false }: ClassificationLoaderOptions,
  ) {
    positiveInt('batchSize', batchSize);
    if (!Number.isInteger(seed) || seed < 0) throw new ScratchGPTError('value', `scratchgpt: seed must be a non-negative integer, got ${seed}`);
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed;
  }

  /** Batches per epoch. */
  get numBatches(): number {
    return batchCount(this.dataset.length, this.batchSize, this.dropLast);
  }

  /** The row order of epoch `epoch` (a seeded Fisher–Yates permutation when shuffling: `epochOrder`). */
  order(epoch: number): number[] {
    return epochOrder(this.dataset.length, epoch, this.shuffle ? this.seed : null);
  }

  *[Symbol.iterator](): Iterator<ClassificationBatch> {
    const order = this.order(this.epoch++);
    for (let b = 0; b < this.numBatches; b++) yield this.dataset.batch(order.slice(b * this.batchSize, (b + 1) * this.batchSize));
  }
}

/**
 * A loader over `dataset` (the book: batch 8, shuffled with `dropLast` for training → 130 batches of
 * the 1045 training rows; 19 validation and 38 test batches without).
 * @example
 * ```ts
 * const trainLoader = createClassificationLoader(trainSet, { batchSize: 8, shuffle: true, dropLast: true });
 * for (const batch of trainLoader) classificationLoss(model, batch).backward();
 * ```
 */
export function createClassificationLoader(dataset: ClassificationDataset, options: ClassificationLoaderOptions): ClassificationLoader {
  return new ClassificationLoader(dataset, options);
}
