/**
 * Instruction data (the book's chapter 7): `{instruction, input, output}` entries from JSON or JSON
 * Lines, the book's 85/10/5 split, a dataset of tokenised training texts and a loader that collates
 * them into `TokenBatch`es for the language-model loss.
 */
import { batchCount, encode, type TokenBatch } from '@scratchgpt/gpt';
import { ScratchGPTError } from '@scratchgpt/core';
import { collateInstructions, noTargetLeft, type CollateOptions } from './collate';
import { alpacaFormat, checkInstructionEntry, type InstructionEntry, type PromptFormat } from './prompts';
import { permutation } from './random';

/** Options of {@link parseInstructionData}. */
export interface InstructionParseOptions {
  /** `'json'` (an array), `'jsonl'` (one object per line) or `'auto'` (by the first non-space character; default). */
  format?: 'json' | 'jsonl' | 'auto';
}

/**
 * Parses instruction data: a JSON array of `{instruction, input, output}` objects (the book's
 * `instruction-data.json`) or JSON Lines. `input` may be missing (read as `''`); other keys (such as
 * `model_response`) are kept. Errors name the entry index (JSON) or line number (JSONL).
 * @example
 * ```ts
 * const entries = parseInstructionData(readFileSync('packages/finetune/data/instruction-data.json', 'utf8'));
 * entries.length; // 1100
 * ```
 */
export function parseInstructionData(text: string, { format = 'auto' }: InstructionParseOptions = {}): InstructionEntry[] {
  const kind = format === 'auto' ? (text.trimStart().startsWith('[') ? 'json' : 'jsonl') : format;
  if (kind === 'json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ScratchGPTError('format', `scratchgpt: instruction data is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new ScratchGPTError('format', 'scratchgpt: instruction data (JSON) must be an array of entries');
    return parsed.map((value, i) => checkInstructionEntry(value, `data entry ${i}`));
  }
  if (kind !== 'jsonl') throw new ScratchGPTError('format', `scratchgpt: unknown instruction data format '${String(format)}' (json, jsonl or auto)`);
  const entries: InstructionEntry[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new ScratchGPTError('format', `scratchgpt: instruction data line ${i + 1} is not valid JSON: ${(err as Error).message}`);
    }
    entries.push(checkInstructionEntry(parsed, `data line ${i + 1}`));
  });
  return entries;
}

/** The three parts of a split (same shape as the classification splits). */
export interface InstructionSplits<T> {
  train: T[];
  val: T[];
  test: T[];
}

/**
 * The book's split, in file order (no shuffling): the first `int(0.85·n)` entries train, the next
 * `int(0.1·n)` test, the rest validate — 935 / 110 / 55 for the 1100 entries of `instruction-data.json`.
 */
export function bookInstructionSplit<T>(entries: readonly T[], { train = 0.85, test = 0.1 }: { train?: number; test?: number } = {}): InstructionSplits<T> {
  if (!(train >= 0 && test >= 0 && train + test <= 1)) throw new ScratchGPTError('value', `scratchgpt: split fractions must be ≥ 0 with train + test ≤ 1, got train ${train}, test ${test}`);
  const trainEnd = Math.floor(entries.length * train);
  const testEnd = trainEnd + Math.floor(entries.length * test);
  return { train: entries.slice(0, trainEnd), test: entries.slice(trainEnd, testEnd), val: entries.slice(testEnd) };
}

/** Options of {@link InstructionDataset}. */
export interface InstructionDatasetOptions {
  /** Prompt template (default the book's Alpaca format). */
  format?: PromptFormat;
  /** Text → token ids (default GPT-2's BPE `encode`; `<|endoftext|>` in an entry is an error, as with tiktoken). */
  tokenize?: (text: string) => ArrayLike<number>;
}

/**
 * Entries as token ids of their full training texts (prompt + response; the book's
 * `InstructionDataset`), plus each prompt's own token count (for prompt masking, exercise 7.2).
 */
export class InstructionDataset {
  readonly entries: readonly InstructionEntry[];
  readonly format: PromptFormat;
  private readonly encoded: Int32Array[];
  private readonly promptTokens: Int32Array;

  constructor(entries: readonly InstructionEntry[], { format = alpacaFormat, tokenize = encode }: InstructionDatasetOptions = {}) {
    this.entries = entries;
    this.format = format;
    this.encoded = [];
    this.promptTokens = new Int32Array(entries.length);
    entries.forEach((given, i) => {
      const entry = checkInstructionEntry(given, `entry ${i}`); // not "undefined" as a training text
      const prompt = format.prompt(entry);
      try {
        this.encoded.push(Int32Array.from(tokenize(prompt + format.response(entry))));
        this.promptTokens[i] = tokenize(prompt).length;
      } catch (err) {
        throw new ScratchGPTError('value', `scratchgpt: instruction entry ${i} could not be tokenized: ${(err as Error).message}`);
      }
    });
  }

  get length(): number {
    return this.entries.length;
  }

  /** Token ids of entry `index`'s training text (do not modify). */
  ids(index: number): Int32Array {
    this.checkIndex(index);
    return this.encoded[index];
  }

  /** Number of tokens of entry `index`'s prompt on its own (the book's `instruction_length`). */
  promptLength(index: number): number {
    this.checkIndex(index);
    return this.promptTokens[index];
  }

  /** The longest training text, in tokens. */
  get maxLength(): number {
    return this.encoded.reduce((m, ids) => Math.max(m, ids.length), 0);
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new ScratchGPTError('range', `scratchgpt: dataset index ${index} out of range [0, ${this.length})`);
  }
}

/** Options of {@link InstructionLoader}. */
export interface InstructionLoaderOptions extends Omit<CollateOptions, 'promptLengths'> {
  batchSize: number;
  /** Reshuffle the entries every epoch (default false; the book shuffles the training set). */
  shuffle?: boolean;
  /** Shuffle seed; epoch e uses seed + e (default 123). */
  seed?: number;
  /** Drop a last batch smaller than `batchSize` (default false; the book's training loader drops it). */
  dropLast?: boolean;
  /** Mask the prompt tokens in the targets too (exercise 7.2; default false). */
  maskPrompt?: boolean;
}

/**
 * Batches of an {@link InstructionDataset}, collated like the book's `custom_collate_fn` into
 * `TokenBatch`es (`[B, T]` with T the batch's longest text, -100 where targets are ignored); each
 * iteration is one epoch. The book: batch 8, training shuffled with `dropLast` (116 batches of 935
 * entries), validation and test not (7 and 14 batches).
 * @example
 * ```ts
 * const { train } = bookInstructionSplit(parseInstructionData(json));
 * const loader = new InstructionLoader(new InstructionDataset(train), { batchSize: 8, shuffle: true, dropLast: true, allowedMaxLength: 1024 });
 * for (const batch of loader) batchLoss(model, batch).backward(); // @scratchgpt/gpt's LM loss
 * ```
 */
export class InstructionLoader implements Iterable<TokenBatch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly seed: number;
  readonly maskPrompt: boolean;
  private readonly collate: CollateOptions;
  private epoch = 0;

  constructor(
    readonly dataset: InstructionDataset,
    { batchSize, shuffle = false, seed = 123, dropLast = false, maskPrompt = false, ...collate }: InstructionLoaderOptions,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ScratchGPTError('value', `scratchgpt: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(seed) || seed < 0) throw new ScratchGPTError('value', `scratchgpt: seed must be a non-negative integer, got ${seed}`);
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.seed = seed;
    this.dropLast = dropLast;
    this.maskPrompt = maskPrompt;
    this.collate = collate;
    // Check the collate options now rather than at the first batch.
    collateInstructions([[0]], collate);
    // An entry left with no target by the prompt mask is an error now, naming it, not a NaN loss later.
    if (maskPrompt) {
      const empty: { label: string; prompt: number }[] = [];
      for (let i = 0; i < dataset.length; i++) {
        try {
          collateInstructions([dataset.ids(i)], { ...collate, promptLengths: [dataset.promptLength(i)] });
        } catch (err) {
          if (!(err instanceof ScratchGPTError) || !err.message.includes('no target left')) throw err;
          empty.push({ label: `entry ${i}`, prompt: dataset.promptLength(i) });
        }
      }
      if (empty.length > 0) throw noTargetLeft(empty, dataset.length, 'entry', collate.allowedMaxLength);
    }
  }

  /** Batches per epoch. */
  get numBatches(): number {
    return batchCount(this.dataset.length, this.batchSize, this.dropLast);
  }

  /** The entry order of epoch `epoch` (a seeded permutation when shuffling). */
  order(epoch: number): number[] {
    if (!this.shuffle) return Array.from({ length: this.dataset.length }, (_, i) => i);
    return permutation(this.dataset.length, this.seed + epoch);
  }

  /** The batch of the given entry indices. */
  batch(indices: readonly number[]): TokenBatch {
    const sequences = indices.map((i) => this.dataset.ids(i));
    const promptLengths = this.maskPrompt ? indices.map((i) => this.dataset.promptLength(i)) : undefined;
    return collateInstructions(sequences, { ...this.collate, promptLengths });
  }

  /** Each iteration is the next epoch (0, 1, ...): `batches(0)`, then `batches(1)`, ... */
  [Symbol.iterator](): Iterator<TokenBatch> {
    return this.batches(this.epoch++);
  }

  /**
   * The batches of epoch `epoch` from batch `from` on, independent of how often the loader was
   * iterated: what the training loop uses, so that evaluation never changes the training order and a
   * resumed run continues in the same order.
   */
  *batches(epoch: number, from = 0): Generator<TokenBatch> {
    const order = this.order(epoch);
    for (let b = from; b < this.numBatches; b++) yield this.batch(order.slice(b * this.batchSize, (b + 1) * this.batchSize));
  }
}
