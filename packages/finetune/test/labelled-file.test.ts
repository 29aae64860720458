/**
 * Users' labelled files (issue 19): CSV/TSV/JSON/JSONL with the columns found among the usual names or
 * given, labels inferred or fixed, counts per class; texts to classify; and the stratified split that
 * keeps every class in every split. Hostile inputs get errors naming the file, the line and the problem.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readLabelledFile, readTextsFile, stratifiedSplit } from '../src/index';

const fixture = readFileSync(new URL('../../../test/fixtures/three-class.csv', import.meta.url), 'utf8');

describe('readLabelledFile', () => {
  it('reads the three-class fixture: CRLF, quoted commas, quotes and line breaks, columns found by their usual names', () => {
    const file = readLabelledFile(fixture, { name: 'three-class.csv' });
    expect(file.format).toBe('csv');
    expect(file.columns).toEqual(['id', 'message', 'category']);
    expect([file.textColumn, file.labelColumn]).toEqual(['message', 'category']);
    expect(file.labels).toEqual(['ham', 'instruction', 'spam']);
    expect([...file.counts]).toEqual([['ham', 60], ['instruction', 60], ['spam', 60]]);
    expect(file.rows[0].text).toBe('Go until jurong point, crazy.. Available only in bugis n great world la e buffet... Cine there got amore wat...');
    expect(file.rows[2]).toEqual({ text: 'Evaluate the following phrase by transforming it into the spelling given.\nfreind --> friend', label: 'instruction' });
    expect(file.rows.some((r) => r.text.includes('"'))).toBe(true);
  });

  it('takes TSV, JSON arrays and JSON Lines (integer labels as their decimal string), with a byte-order mark', () => {
    const tsv = readLabelledFile('\uFEFFSentence\tTarget\tnote\ngood film\tpos\t\nbad, bad film\tneg\tx\n', { name: 'reviews.tsv' });
    expect([tsv.format, tsv.textColumn, tsv.labelColumn, tsv.labels]).toEqual(['tsv', 'Sentence', 'Target', ['neg', 'pos']]);
    const json = readLabelledFile('[{"content": "a", "class": 1}, {"content": "b", "class": 0}]', { name: 'x.json' });
    expect(json.rows).toEqual([{ text: 'a', label: '1' }, { text: 'b', label: '0' }]);
    const jsonl = readLabelledFile('{"text": "a", "label": "x"}\r\n\r\n{"text": "b", "label": "y"}\r\n');
    expect([jsonl.format, jsonl.rows.length]).toEqual(['jsonl', 2]);
    // --labels fixes the order (and the set)
    expect(readLabelledFile(fixture, { labels: ['spam', 'ham', 'instruction'] }).labels).toEqual(['spam', 'ham', 'instruction']);
    // --text-column / --label-column / --delimiter
    const semi = readLabelledFile('a;b\nhello;x\nbye;y\n', { delimiter: ';', textColumn: 'a', labelColumn: 'b' });
    expect(semi.rows).toEqual([{ text: 'hello', label: 'x' }, { text: 'bye', label: 'y' }]);
  });

  const hostile: [string, string, Parameters<typeof readLabelledFile>[1], RegExp][] = [
    ['no usual text column', 'body,label\nhi,x\n', { name: 'a.csv' }, /a\.csv line 1: no text column among the usual names \(text, sentence, message, content\); the columns are 'body', 'label': name it with --text-column/],
    ['a missing named column', 'text,label\nhi,x\n', { name: 'a.csv', labelColumn: 'kind' }, /a\.csv line 1: no label column 'kind' \(columns: 'text', 'label'\)/],
    ['an unknown label', 'text,label\nhi,x\nho,z\n', { name: 'a.csv', labels: ['x', 'y'] }, /a\.csv line 3: unknown label 'z' \(expected one of 'x', 'y'\)/],
    ['an empty text', 'text,label\nhi,x\n,y\n', { name: 'a.csv' }, /a\.csv line 3: empty text/],
    ['a ragged row', 'text,label\nhi,x\nho,y,extra\n', { name: 'a.csv' }, /a\.csv line 3: expected 2 fields like the header, found 3/],
    ['an unclosed quote', 'text,label\n"hi,x\nho,y\n', { name: 'a.csv' }, /a\.csv line 2: the quote opened here is never closed/],
    ['a JSON label of the wrong type', '[{"text": "a", "label": true}]', { name: 'a.json' }, /a\.json entry 0: 'label' must be a string or an integer, got true/],
    ['a JSONL line that is not an object', '{"text": "a", "label": "x"}\n[1]\n', { name: 'a.jsonl' }, /a\.jsonl line 2: expected a JSON object/],
    ['no rows', 'text,label\n', { name: 'a.csv' }, /a\.csv holds no rows/],
    ['one label given', 'text,label\nhi,x\n', { labels: ['x'] }, /labels must be at least two distinct non-empty names, got \[x\]/],
  ];
  for (const [what, text, options, message] of hostile) {
    it(`refuses ${what}`, () => expect(() => readLabelledFile(text, options)).toThrow(message));
  }
});

describe('readTextsFile', () => {
  it('reads the text column only (no label needed), and names an empty text', () => {
    expect(readTextsFile(fixture, { name: 'f.csv' }).texts).toHaveLength(180);
    expect(readTextsFile('{"message": "hi"}\n{"message": "ho"}\n').texts).toEqual(['hi', 'ho']);
    expect(() => readTextsFile('text\nhi\n""\n', { name: 'in.csv' })).toThrow(/in\.csv line 3: empty text/);
  });
});

describe('stratifiedSplit', () => {
  it('keeps every class in every split in its proportion, seeded, without losing or repeating a row', () => {
    const rows = readLabelledFile(fixture).rows;
    const a = stratifiedSplit(rows, { train: 0.7, val: 0.1 }, { seed: 123 });
    const b = stratifiedSplit(rows, { train: 0.7, val: 0.1 }, { seed: 123 });
    expect(a).toEqual(b);
    expect([a.train.length, a.val.length, a.test.length]).toEqual([126, 18, 36]);
    for (const part of [a.train, a.val, a.test]) {
      const per = new Map<string, number>();
      for (const r of part) per.set(r.label, (per.get(r.label) ?? 0) + 1);
      expect(new Set(per.values()).size, 'the same count for each class').toBe(1);
    }
    expect(new Set([...a.train, ...a.val, ...a.test]).size).toBe(180);
    expect(stratifiedSplit(rows, { train: 0.7, val: 0.1 }, { seed: 7 }).train).not.toEqual(a.train);
  });

  it('gives a small class one row in each split, and refuses a class too small to appear in all of them', () => {
    const rows = [...Array.from({ length: 20 }, (_, i) => ({ text: `a${i}`, label: 'a' })), ...Array.from({ length: 3 }, (_, i) => ({ text: `b${i}`, label: 'b' }))];
    const s = stratifiedSplit(rows, { train: 0.7, val: 0.1 });
    for (const part of [s.train, s.val, s.test]) expect(part.some((r) => r.label === 'b')).toBe(true);
    expect(() => stratifiedSplit([...rows, { text: 'c', label: 'c' }, { text: 'c2', label: 'c' }], { train: 0.7, val: 0.1 })).toThrow(
      /class 'c' has 2 rows: too few to appear in the training, validation and test splits \(3 needed\)/,
    );
    expect(() => stratifiedSplit(rows, { train: 0.95, val: 0.1 })).toThrow(/split fractions must have train > 0, val ≥ 0 and train \+ val ≤ 1/);
  });
});
