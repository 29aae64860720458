import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encode } from '@scratchgpt/gpt';
import {
  balance,
  bookSmsSpamSplit,
  ClassificationDataset,
  createClassificationLoader,
  inferLabels,
  parseSmsSpam,
  permutation,
  randomSplit,
  SMS_SPAM_LABELS,
  splitsFromJson,
  splitsToJson,
  type LabelledText,
} from '../src/index';

const tsv = readFileSync(new URL('../data/SMSSpamCollection.tsv', import.meta.url), 'utf8');
const fixture = JSON.parse(readFileSync(new URL('./fixtures/spam_split.json', import.meta.url), 'utf8')) as {
  rows: number;
  counts: Record<string, number>;
  rowsSha256: string;
  mergedRow: { row: number; text: string };
  balancedRows: number[];
  split: { train: number[]; val: number[]; test: number[] };
  permutations: { seed: number; n: number; perm: number[] }[];
};

function countLabels(rows: readonly LabelledText[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.label] = (out[r.label] ?? 0) + 1;
  return out;
}

describe('SMS Spam Collection parsing', () => {
  it('reads the file literally: 5574 rows, 4827 ham, 747 spam', () => {
    const rows = parseSmsSpam(tsv);
    expect(rows.length).toBe(5574);
    expect(countLabels(rows)).toEqual({ ham: 4827, spam: 747 });
    expect(rows[0]).toEqual({ label: 'ham', text: 'Go until jurong point, crazy.. Available only in bugis n great world la e buffet... Cine there got amore wat...' });
    // Quotes are kept as written.
    expect(rows[616].text.startsWith('"Happy valentines day" I know')).toBe(true);
  });

  it("with quoting: 'pandas' gives exactly pandas.read_csv's rows (5572: 4825 ham, 747 spam)", () => {
    const rows = parseSmsSpam(tsv, { quoting: 'pandas' });
    expect(rows.length).toBe(fixture.rows);
    expect(countLabels(rows)).toEqual(fixture.counts);
    expect(rows[fixture.mergedRow.row].text).toBe(fixture.mergedRow.text);
    const digest = createHash('sha256')
      .update(rows.map((r) => `${r.label}\t${r.text}`).join('\0'), 'utf8')
      .digest('hex');
    expect(digest).toBe(fixture.rowsSha256);
  });

  it('names the line of a malformed row, an unknown label or an empty text', () => {
    expect(() => parseSmsSpam('ham\tok\nspam no tab here\n')).toThrow(/SMS Spam Collection line 2: expected 'label<TAB>text' \(2 tab-separated fields\), found 1/);
    expect(() => parseSmsSpam('ham\tok\n\nmaybe\thello\n')).toThrow(/line 3: unknown label 'maybe' \(expected one of 'ham', 'spam'\)/);
    expect(() => parseSmsSpam('ham\tok\nspam\t\n')).toThrow(/line 2: empty text/);
    expect(() => parseSmsSpam('ham\ta\tb\n')).toThrow(/line 1: .*found 3/);
    expect(() => parseSmsSpam('ham\t"never closed\nham\tx\n', { quoting: 'pandas' })).toThrow(/line 1: the quote opened here is never closed/);
  });
});

describe('seeded sampling', () => {
  it("permutation(n, seed, 'numpy') equals numpy.random.RandomState(seed).permutation(n)", () => {
    for (const { seed, n, perm } of fixture.permutations) expect(permutation(n, seed, 'numpy'), `seed ${seed}, n ${n}`).toEqual(perm);
  });

  it("reproduces the book's balanced set and 1045/149/300 split row for row", () => {
    const rows = parseSmsSpam(tsv, { quoting: 'pandas' });
    const balanced = balance(rows, { seed: 123, rng: 'numpy' });
    expect(balanced).toEqual(fixture.balancedRows.map((i) => rows[i]));
    const split = bookSmsSpamSplit(tsv);
    for (const name of ['train', 'val', 'test'] as const) expect(split[name]).toEqual(fixture.split[name].map((i) => rows[i]));
    expect([split.train.length, split.val.length, split.test.length]).toEqual([1045, 149, 300]);
  });

  it('balance and randomSplit: exact counts and invariants for any seed, reproducible per seed', () => {
    const rows = parseSmsSpam(tsv);
    const spam = rows.filter((r) => r.label === 'spam');
    for (const seed of [1, 123, 9999]) {
      const balanced = balance(rows, { seed });
      expect(balanced.length).toBe(1494);
      expect(countLabels(balanced)).toEqual({ ham: 747, spam: 747 });
      expect(balanced.slice(747)).toEqual(spam); // the minority class keeps its order
      expect(new Set(balanced).size).toBe(1494); // sampled without replacement
      const split = randomSplit(balanced, { train: 0.7, val: 0.1 }, { seed });
      expect([split.train.length, split.val.length, split.test.length]).toEqual([1045, 149, 300]);
      const all = [...split.train, ...split.val, ...split.test];
      expect(new Set(all)).toEqual(new Set(balanced)); // a partition of the input
      expect(randomSplit(balanced, { train: 0.7, val: 0.1 }, { seed })).toEqual(split);
    }
    expect(balance(rows, { seed: 1 })).not.toEqual(balance(rows, { seed: 2 }));
    expect(() => randomSplit(rows, { train: 0.8, val: 0.3 })).toThrow(/train \+ val ≤ 1/);
    expect(() => permutation(3, -1)).toThrow(/seed must be an integer/);
  });
});

describe('ClassificationDataset and loader (the book: 120 tokens, 130/19/38 batches of 8)', () => {
  const split = bookSmsSpamSplit(tsv);
  const labels = SMS_SPAM_LABELS;
  const train = new ClassificationDataset(split.train, { labels, contextLength: 1024 });
  const val = new ClassificationDataset(split.val, { labels, maxLength: train.maxLength });
  const test = new ClassificationDataset(split.test, { labels, maxLength: train.maxLength });

  it('pads to the longest training text (120) and to that length for validation and test', () => {
    expect(train.maxLength).toBe(120);
    expect(train.truncated).toBe(0);
    expect([val.maxLength, test.maxLength]).toEqual([120, 120]);
    expect(val.longestLength + test.longestLength).toBeGreaterThan(0);
    const row = train.get(0);
    expect(row.ids.length).toBe(120);
    expect(row.label).toBe(labels.indexOf(split.train[0].label));
    expect(Array.from(row.ids.slice(row.length)).every((id) => id === 50256)).toBe(true);
    expect(row.ids[row.length - 1]).not.toBe(50256);
    for (let i = 0; i < train.length; i++) expect(train.get(i).length).toBeGreaterThan(0);
  });

  it('truncates to a given maxLength, caps at the context length, and rejects bad input', () => {
    const short = new ClassificationDataset(split.train.slice(0, 50), { labels, maxLength: 8 });
    expect(short.maxLength).toBe(8);
    expect(short.truncated).toBeGreaterThan(0);
    const capped = new ClassificationDataset(split.train.slice(0, 50), { labels, contextLength: 16 });
    expect(capped.maxLength).toBe(16);
    expect(capped.truncated).toBe(split.train.slice(0, 50).filter((r) => encode(r.text).length > 16).length);
    expect(() => new ClassificationDataset(split.train, { labels, maxLength: 2048, contextLength: 1024 })).toThrow(/maxLength 2048 exceeds the model's context length 1024/);
    expect(() => new ClassificationDataset([{ text: 'hi', label: 'eggs' }], { labels })).toThrow(/row 0: unknown label 'eggs'/);
    expect(() => new ClassificationDataset([{ text: 'hi', label: 'ham' }, { text: '', label: 'spam' }], { labels })).toThrow(/row 1: empty text/);
    expect(() => new ClassificationDataset([], { labels })).toThrow(/empty dataset/);
    expect(() => new ClassificationDataset([{ text: 'hi', label: 'ham' }], { labels: ['ham', 'ham'] })).toThrow(/distinct/);
  });

  it('loaders give 130 / 19 / 38 batches and cover every row once per epoch', () => {
    const trainLoader = createClassificationLoader(train, { batchSize: 8, shuffle: true, dropLast: true, seed: 123 });
    const valLoader = createClassificationLoader(val, { batchSize: 8 });
    const testLoader = createClassificationLoader(test, { batchSize: 8 });
    expect([trainLoader.numBatches, valLoader.numBatches, testLoader.numBatches]).toEqual([130, 19, 38]);
    const valBatches = [...valLoader];
    expect(valBatches.length).toBe(19);
    expect(valBatches.at(-1)!.shape).toEqual([5, 120]); // 149 = 18·8 + 5
    expect(valBatches.flatMap((b) => Array.from(b.labels))).toEqual(split.val.map((r) => labels.indexOf(r.label)));
    const trainBatches = [...trainLoader];
    expect(trainBatches.length).toBe(130);
    for (const b of trainBatches) {
      expect(b.shape).toEqual([8, 120]);
      expect(b.inputs.length).toBe(8 * 120);
      expect(b.lengths.every((n) => n >= 1 && n <= 120)).toBe(true);
    }
    expect([...testLoader].reduce((n, b) => n + b.shape[0], 0)).toBe(300);
  });

  it('shuffling is reproducible with a seed and differs between epochs', () => {
    const a = createClassificationLoader(train, { batchSize: 8, shuffle: true, seed: 7 });
    const b = createClassificationLoader(train, { batchSize: 8, shuffle: true, seed: 7 });
    const firstA = [...a][0];
    expect([...b][0]).toEqual(firstA);
    expect([...a][0].inputs).not.toEqual(firstA.inputs); // epoch 2 reshuffles
    expect(a.order(0)).toEqual(b.order(0));
    expect([...a.order(3)].sort((x, y) => x - y)).toEqual(Array.from({ length: train.length }, (_, i) => i));
    expect(() => createClassificationLoader(train, { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
  });
});

describe('saving and loading splits', () => {
  it('round-trips through JSON and rejects damaged files', () => {
    const split = bookSmsSpamSplit(tsv);
    const json = splitsToJson(split, { labels: SMS_SPAM_LABELS });
    const back = splitsFromJson(json);
    expect(back.train).toEqual(split.train);
    expect(back.val).toEqual(split.val);
    expect(back.test).toEqual(split.test);
    expect(back.labels).toEqual(['ham', 'spam']);
    expect(() => splitsFromJson('{')).toThrow(/not valid JSON/);
    expect(() => splitsFromJson('{"format":"other"}')).toThrow(/not a splits file/);
    const doc = JSON.parse(json);
    doc.val[3].label = 'eggs';
    expect(() => splitsFromJson(JSON.stringify(doc))).toThrow(/splits file val row 3: unknown label 'eggs'/);
    doc.val[3].label = 'ham';
    delete doc.test;
    expect(() => splitsFromJson(JSON.stringify(doc))).toThrow(/no "test" array/);
  });

  it('inferLabels sorts the distinct labels', () => {
    expect(inferLabels(parseSmsSpam(tsv))).toEqual(['ham', 'spam']);
    expect(inferLabels([{ text: 'a', label: 'b' }, { text: 'c', label: 'a' }, { text: 'd', label: 'b' }])).toEqual(['a', 'b']);
  });
});
