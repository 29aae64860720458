/**
 * Data for next-token prediction (the book's chapter 2): a sliding-window dataset over token ids,
 * a batching loader with seeded shuffling, and the train/validation split by characters.
 */
import { checkTokenIds, ScratchGPTError, seededRandom } from '@scratchgpt/core';
import { encode } from './tokenizer';

/** One batch of token ids: inputs and next-token targets, both `[B, T]` row-major. */
export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
  shape: readonly [number, number];
}

/** Options of {@link SlidingWindowDataset}. */
export interface DatasetOptions {
  /** The model's vocabulary size: every id must be below it (checked once, here). */
  vocabSize?: number;
}

/** Largest id an i32 batch holds (ids are stored as Int32Array). */
const MAX_ID = 0x7fffffff;

/**
 * Inputs `ids[i·stride .. +maxLength]`, targets shifted by one (like the book's GPTDatasetV1). The
 * ids are checked once on construction: integers in [0, vocabSize) (or [0, 2^31) without it).
 */
export class SlidingWindowDataset {
  readonly length: number;

  constructor(
    readonly ids: ArrayLike<number>,
    readonly maxLength: number,
    readonly stride: number,
    options: DatasetOptions = {},
  ) {
    if (!Number.isInteger(maxLength) || maxLength < 1) throw new ScratchGPTError('value', `scratchgpt: maxLength must be a positive integer, got ${maxLength}`);
    if (!Number.isInteger(stride) || stride < 1) throw new ScratchGPTError('value', `scratchgpt: stride must be a positive integer, got ${stride}`);
    checkTokenIds(ids, options.vocabSize ?? MAX_ID + 1);
    // Windows start at 0, stride, ... while start < len − maxLength (one more token is needed for the target).
    this.length = Math.max(0, Math.ceil((ids.length - maxLength) / stride));
  }

  /** Window `index` as `{ inputs, targets }` (each `maxLength` ids). */
  get(index: number): { inputs: Int32Array; targets: Int32Array } {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new ScratchGPTError('range', `scratchgpt: dataset index ${index} out of range [0, ${this.length})`);
    const start = index * this.stride;
    const inputs = new Int32Array(this.maxLength);
    const targets = new Int32Array(this.maxLength);
    for (let i = 0; i < this.maxLength; i++) {
      inputs[i] = this.ids[start + i];
      targets[i] = this.ids[start + i + 1];
    }
    return { inputs, targets };
  }
}

export interface LoaderOptions {
  batchSize: number;
  /** Shuffle the windows each epoch (default false). */
  shuffle?: boolean;
  /** Drop a last batch smaller than `batchSize` (default true, like the book). */
  dropLast?: boolean;
  /** Shuffle seed; epoch e uses seed + e (default 123). */
  seed?: number;
}

/** Batches of a dataset; each iteration is one epoch (reshuffled with the next seed). */
export class DataLoader implements Iterable<TokenBatch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  private epoch = 0;
  private readonly seed: number;

  constructor(
    readonly dataset: SlidingWindowDataset,
    { batchSize, shuffle = false, dropLast = true, seed = 123 }: LoaderOptions,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ScratchGPTError('value', `scratchgpt: batchSize must be a positive integer, got ${batchSize}`);
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed;
  }

  get numBatches(): number {
    return batchCount(this.dataset.length, this.batchSize, this.dropLast);
  }

  /** The window order of epoch `epoch` (see {@link epochOrder}). */
  order(epoch: number): number[] {
    return epochOrder(this.dataset.length, epoch, this.shuffle ? this.seed : null);
  }

  /** Each iteration is the next epoch (0, 1, ...): `batches(0)`, then `batches(1)`, ... */
  [Symbol.iterator](): Iterator<TokenBatch> {
    return this.batches(this.epoch++);
  }

  /**
   * The batches of epoch `epoch` from batch `from` on, independent of how often the loader was
   * iterated (the training loop uses it to resume mid-run in the same order).
   */
  *batches(epoch: number, from = 0): Generator<TokenBatch> {
    const order = this.order(epoch);
    const T = this.dataset.maxLength;
    for (let b = from; b < this.numBatches; b++) {
      const picks = order.slice(b * this.batchSize, (b + 1) * this.batchSize);
      const inputs = new Int32Array(picks.length * T);
      const targets = new Int32Array(picks.length * T);
      picks.forEach((index, row) => {
        const item = this.dataset.get(index);
        inputs.set(item.inputs, row * T);
        targets.set(item.targets, row * T);
      });
      yield { inputs, targets, shape: [picks.length, T] };
    }
  }
}

export interface CreateLoaderOptions extends LoaderOptions, DatasetOptions {
  maxLength: number;
  stride: number;
}

/** Tokenizes `text` and batches sliding windows over it (the book's `create_dataloader_v1`). */
export function createDataLoader(text: string, options: CreateLoaderOptions): DataLoader {
  const ids = encode(text, { allowedSpecial: 'all' });
  const dataset = new SlidingWindowDataset(ids, options.maxLength, options.stride, { vocabSize: options.vocabSize });
  if (dataset.length === 0) {
    throw new ScratchGPTError('value', `scratchgpt: text of ${ids.length} tokens is too short for windows of ${options.maxLength} (+1) tokens`);
  }
  const loader = new DataLoader(dataset, options);
  if (loader.numBatches === 0) {
    throw new ScratchGPTError('value', 
      `scratchgpt: ${dataset.length} windows of ${options.maxLength} tokens make no batch of ${options.batchSize} with dropLast; ` +
        'use a smaller batchSize, a smaller stride, more text, or dropLast: false',
    );
  }
  return loader;
}

/** Splits text at `trainRatio` of its characters (the book's 90/10 split). */
export function trainValSplit(text: string, trainRatio = 0.9): { train: string; val: string } {
  if (!(trainRatio > 0 && trainRatio < 1)) throw new ScratchGPTError('value', `scratchgpt: trainRatio must be in (0, 1), got ${trainRatio}`);
  const at = Math.floor(trainRatio * text.length);
  return { train: text.slice(0, at), val: text.slice(at) };
}

/**
 * The item order of epoch `epoch` of a loader over `length` items: `0, 1, …` without a seed, else a
 * Fisher–Yates permutation drawn from `seededRandom(seed + epoch)` (each epoch its own, reproducible).
 * Shared by the loaders of this package and of `@scratchgpt/finetune`.
 */
export function epochOrder(length: number, epoch: number, seed: number | null): number[] {
  const order = Array.from({ length }, (_, i) => i);
  if (seed === null) return order;
  const random = seededRandom(seed + epoch);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Batches per epoch of `length` items: a last partial batch counts unless `dropLast`. */
export function batchCount(length: number, batchSize: number, dropLast: boolean): number {
  const n = length / batchSize;
  return dropLast ? Math.floor(n) : Math.ceil(n);
}
