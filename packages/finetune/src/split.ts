/**
 * Seeded class balancing and train/validation/test splits (the book's `create_balanced_dataset` and
 * `random_split`), the book's exact SMS spam split, and saving/loading splits as JSON so that a run can
 * be repeated on the same data.
 */
import { ScratchGPTError } from '@scratchgpt/core';
import { checkRow, parseSmsSpam, SMS_SPAM_LABELS, type LabelledText } from './parse';
import { permutation, type RandomSource } from './random';

/** Seeding shared by {@link balance} and {@link randomSplit}. */
export interface SampleOptions {
  /** Default 123 (the book's `random_state`). */
  seed?: number;
  /** Generator; `'numpy'` reproduces pandas' `sample(..., random_state=seed)` (default `'mulberry32'`). */
  rng?: RandomSource;
}

/**
 * Undersamples every class to the size of the smallest one. Classes come out in order of first
 * appearance in `rows`; a class larger than the smallest is replaced by a seeded random sample of it
 * (in sampled order, each class drawn with a fresh generator seeded with `seed`), the smallest keeps its
 * rows in their original order. For the SMS data this is the book's `create_balanced_dataset`
 * (747 sampled ham, then the 747 spam), and with `rng: 'numpy'` the very same rows.
 */
export function balance<T extends { label: string }>(rows: readonly T[], { seed = 123, rng = 'mulberry32' }: SampleOptions = {}): T[] {
  const byClass = new Map<string, T[]>();
  for (const row of rows) {
    const list = byClass.get(row.label);
    if (list) list.push(row);
    else byClass.set(row.label, [row]);
  }
  const smallest = Math.min(...[...byClass.values()].map((l) => l.length));
  const out: T[] = [];
  for (const list of byClass.values()) {
    if (list.length === smallest) out.push(...list);
    else for (const i of permutation(list.length, seed, rng).slice(0, smallest)) out.push(list[i]);
  }
  return out;
}

/** Rows per label: the labels of `labels` in their order (0 for an absent one), then any others in order of first appearance. */
export function classCounts(rows: readonly { label: string }[], labels: readonly string[] = []): Map<string, number> {
  const counts = new Map<string, number>(labels.map((l) => [l, 0]));
  for (const { label } of rows) counts.set(label, (counts.get(label) ?? 0) + 1);
  return counts;
}

/**
 * Refuses data a classifier cannot learn from: rows of fewer than two classes, or (given `labels`) a
 * label of the set with no row at all. The error names `what` and the count of every class.
 */
export function checkClasses(rows: readonly { label: string }[], what: string, labels?: readonly string[]): void {
  const counts = classCounts(rows, labels);
  const table = [...counts].map(([l, n]) => `${l}: ${n}`).join(', ');
  const present = [...counts.values()].filter((n) => n > 0).length;
  if (present < 2) {
    throw new ScratchGPTError('value', `scratchgpt: ${what} has rows of ${present === 0 ? 'no class' : 'one class only'} (${table || 'no rows'}): a classifier needs rows of at least two classes`);
  }
  const missing = labels?.filter((l) => counts.get(l) === 0) ?? [];
  if (missing.length > 0) throw new ScratchGPTError('value', `scratchgpt: ${what} has no row of class ${missing.map((l) => `'${l}'`).join(', ')} (${table}): every class needs rows to be learnt`);
}

/** A train/validation/test split. */
export interface Splits<T> {
  train: T[];
  val: T[];
  test: T[];
}

/**
 * Shuffles `rows` with a seeded permutation and cuts it like the book's `random_split`: the first
 * `floor(n·train)` rows train, the next `floor(n·val)` validate, the rest test
 * (1494 rows at 0.7/0.1 → 1045 / 149 / 300).
 */
export function randomSplit<T>(rows: readonly T[], fractions: { train: number; val: number }, { seed = 123, rng = 'mulberry32' }: SampleOptions = {}): Splits<T> {
  const { train, val } = fractions;
  if (!(train >= 0 && val >= 0 && train + val <= 1)) {
    throw new ScratchGPTError('value', `scratchgpt: randomSplit fractions must be ≥ 0 with train + val ≤ 1, got train ${train}, val ${val}`);
  }
  const shuffled = permutation(rows.length, seed, rng).map((i) => rows[i]);
  const trainEnd = Math.floor(rows.length * train);
  const valEnd = trainEnd + Math.floor(rows.length * val);
  return { train: shuffled.slice(0, trainEnd), val: shuffled.slice(trainEnd, valEnd), test: shuffled.slice(valEnd) };
}

/**
 * The book's chapter-6 split of the SMS Spam Collection, row for row: pandas-style parsing, balance
 * with seed 123 and a 0.7/0.1 split with seed 123, both on NumPy's generator (1045 / 149 / 300 rows;
 * the longest training text is 120 GPT-2 tokens).
 */
export function bookSmsSpamSplit(tsv: string): Splits<LabelledText> {
  const rows = parseSmsSpam(tsv, { quoting: 'pandas' });
  checkClasses(rows, 'the SMS Spam Collection', SMS_SPAM_LABELS);
  const balanced = balance(rows, { seed: 123, rng: 'numpy' });
  return randomSplit(balanced, { train: 0.7, val: 0.1 }, { seed: 123, rng: 'numpy' });
}

/**
 * Splits every class the same way (scikit-learn's `train_test_split(..., stratify=labels)`): each
 * class's rows, in a seeded random order, are cut into `floor(n·train)` training, `floor(n·val)`
 * validation and the rest test rows, at least one of each (one training row and, where its fraction is
 * not 0, one validation and one test row), so no class is silently missing from a split; each split is
 * then shuffled. Throws, naming the class and its count, when a class has too few rows for that.
 * @example
 * ```ts
 * const { train, val, test } = stratifiedSplit(rows, { train: 0.7, val: 0.1 }, { seed: 123 });
 * ```
 */
export function stratifiedSplit<T extends { label: string }>(rows: readonly T[], fractions: { train: number; val: number }, { seed = 123, rng = 'mulberry32' }: SampleOptions = {}): Splits<T> {
  const { train, val } = fractions;
  if (!(train > 0 && val >= 0 && train + val <= 1)) {
    throw new ScratchGPTError('value', `scratchgpt: split fractions must have train > 0, val ≥ 0 and train + val ≤ 1, got train ${train}, val ${val}`);
  }
  const test = 1 - train - val > 1e-9;
  const byClass = new Map<string, T[]>();
  for (const row of rows) {
    const list = byClass.get(row.label);
    if (list) list.push(row);
    else byClass.set(row.label, [row]);
  }
  const need = 1 + (val > 0 ? 1 : 0) + (test ? 1 : 0);
  const out: Splits<T> = { train: [], val: [], test: [] };
  for (const [label, list] of byClass) {
    const n = list.length;
    if (n < need) {
      throw new ScratchGPTError('value',
        `scratchgpt: class '${label}' has ${n} row${n === 1 ? '' : 's'}: too few to appear in the training${val > 0 ? ', validation' : ''}${test ? ' and test' : ''} splits ` +
          `(${need} needed); add rows of it, merge it into another class, or give --val/--test files`,
      );
    }
    let nVal = val > 0 ? Math.max(1, Math.floor(n * val)) : 0;
    let nTest = test ? Math.max(1, n - Math.max(1, Math.floor(n * train)) - nVal) : 0;
    // Small classes: the minimum of one row per split comes out of the larger parts.
    while (n - nVal - nTest < 1) {
      if (nVal >= nTest && nVal > 1) nVal--;
      else nTest--;
    }
    const nTrain = n - nVal - nTest;
    const order = permutation(n, seed, rng).map((i) => list[i]);
    out.train.push(...order.slice(0, nTrain));
    out.val.push(...order.slice(nTrain, nTrain + nVal));
    out.test.push(...order.slice(nTrain + nVal));
  }
  const shuffle = (part: T[], k: number) => permutation(part.length, seed + k, rng).map((i) => part[i]);
  return { train: shuffle(out.train, 1), val: shuffle(out.val, 2), test: shuffle(out.test, 3) };
}

const FORMAT = 'scratchgpt-splits';

/**
 * Serialises splits (and optionally the label list) as JSON, to be written to a file and read back with
 * {@link splitsFromJson}.
 */
export function splitsToJson(splits: Splits<LabelledText>, { labels }: { labels?: readonly string[] } = {}): string {
  const rows = (list: LabelledText[]) => list.map(({ text, label }) => ({ text, label }));
  const doc = { format: FORMAT, version: 1, ...(labels ? { labels: [...labels] } : {}), train: rows(splits.train), val: rows(splits.val), test: rows(splits.test) };
  return `${JSON.stringify(doc)}\n`;
}

/**
 * Reads splits saved by {@link splitsToJson}. Throws a clear error for another format, a missing split
 * or a bad row (naming the split and row), or a label missing from the saved label list.
 */
export function splitsFromJson(json: string): Splits<LabelledText> & { labels?: string[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new ScratchGPTError('format', `scratchgpt: splits file is not valid JSON (${(err as Error).message})`);
  }
  const d = doc as Record<string, unknown>;
  if (typeof d !== 'object' || d === null || d.format !== FORMAT) throw new ScratchGPTError('format', `scratchgpt: not a splits file (expected "format": "${FORMAT}")`);
  if (d.version !== 1) throw new ScratchGPTError('value', `scratchgpt: splits file version ${String(d.version)} is not supported (expected 1)`);
  let labels: string[] | undefined;
  if (d.labels !== undefined) {
    if (!Array.isArray(d.labels) || !d.labels.every((l) => typeof l === 'string')) throw new ScratchGPTError('value', 'scratchgpt: splits file: "labels" must be an array of strings');
    labels = d.labels as string[];
  }
  const read = (name: 'train' | 'val' | 'test'): LabelledText[] => {
    const list = d[name];
    if (!Array.isArray(list)) throw new ScratchGPTError('value', `scratchgpt: splits file has no "${name}" array`);
    return list.map((row: unknown, i) => {
      const r = (typeof row === 'object' && row !== null ? row : {}) as Record<string, unknown>;
      return checkRow({ text: r.text as string, label: r.label as string }, `splits file ${name} row ${i}`, labels);
    });
  };
  return { ...(labels ? { labels } : {}), train: read('train'), val: read('val'), test: read('test') };
}
