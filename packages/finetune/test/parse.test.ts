import { describe, expect, it } from 'vitest';
import { parseLabelledCsv, parseLabelledJsonl } from '../src/index';
import { readDelimited } from '../src/delimited';

describe('CSV / TSV with a header (RFC 4180 quoting)', () => {
  it('reads quoted fields with delimiters, line breaks and doubled quotes, by column name', () => {
    const csv = 'id,label,text\r\n1,spam,"Win $1,000 now!"\r\n2,ham,"line one\r\nline two"\r\n3,ham,"she said ""hi"""\r\n\r\n4,spam,plain text with a "quote" inside\r\n';
    expect(parseLabelledCsv(csv)).toEqual([
      { label: 'spam', text: 'Win $1,000 now!' },
      { label: 'ham', text: 'line one\r\nline two' },
      { label: 'ham', text: 'she said "hi"' },
      { label: 'spam', text: 'plain text with a "quote" inside' },
    ]);
    const tsv = '\ufeffmessage\tclass\nhello, you\tham\n"tab\there"\tspam';
    expect(parseLabelledCsv(tsv, { delimiter: '\t', textColumn: 'message', labelColumn: 'class', labels: ['ham', 'spam'] })).toEqual([
      { text: 'hello, you', label: 'ham' },
      { text: 'tab\there', label: 'spam' },
    ]);
  });

  it('reports the line where a record starts, after multi-line fields', () => {
    const records = readDelimited('a,b\n"x\ny\nz",1\nq,2\n', { delimiter: ',' });
    expect(records.map((r) => r.line)).toEqual([1, 2, 5]);
  });

  it('names the line of malformed input', () => {
    const header = 'text,label\n';
    expect(() => parseLabelledCsv(`${header}ok,ham\n"multi\nline",ham\ntoo,many,fields\n`)).toThrow(/CSV line 5: expected 2 fields like the header, found 3/);
    expect(() => parseLabelledCsv(`${header}ok,ham\n"never closed,ham\nmore,ham\n`)).toThrow(/CSV line 3: the quote opened here is never closed/);
    expect(() => parseLabelledCsv(`${header}"quoted"tail,ham\n`)).toThrow(/CSV line 2: unexpected "t" after a closing quote/);
    expect(() => parseLabelledCsv(`${header}ok,ham\n,spam\n`)).toThrow(/CSV line 3: empty text/);
    expect(() => parseLabelledCsv(`${header}ok,\n`)).toThrow(/CSV line 2: empty label/);
    expect(() => parseLabelledCsv(`${header}ok,ham\nfine,eggs\n`, { labels: ['ham', 'spam'] })).toThrow(/CSV line 3: unknown label 'eggs' \(expected one of 'ham', 'spam'\)/);
    expect(() => parseLabelledCsv('message,label\nhi,ham\n')).toThrow(/CSV line 1: no column 'text' in the header \(columns: 'message', 'label'\)/);
    expect(() => parseLabelledCsv('')).toThrow(/no header row/);
    expect(() => parseLabelledCsv('text\tlabel\nx\ty\tz\n', { delimiter: '\t' })).toThrow(/TSV line 2: expected 2 fields/);
  });
});

describe('JSON Lines', () => {
  it('reads objects, integer labels as strings, skips blank lines', () => {
    const jsonl = '{"text":"good film","label":"pos"}\n\n{"text":"bad","label":1,"extra":true}\r\n';
    expect(parseLabelledJsonl(jsonl)).toEqual([
      { text: 'good film', label: 'pos' },
      { text: 'bad', label: '1' },
    ]);
    expect(parseLabelledJsonl('{"body":"x","y":"a"}', { textField: 'body', labelField: 'y' })).toEqual([{ text: 'x', label: 'a' }]);
  });

  it('names the line of malformed input', () => {
    expect(() => parseLabelledJsonl('{"text":"a","label":"x"}\n{"text": oops}\n')).toThrow(/JSONL line 2: invalid JSON/);
    expect(() => parseLabelledJsonl('\n[1, 2]\n')).toThrow(/JSONL line 2: expected a JSON object/);
    expect(() => parseLabelledJsonl('{"label":"x"}')).toThrow(/JSONL line 1: 'text' must be a string, got nothing/);
    expect(() => parseLabelledJsonl('{"text":"a","label":1.5}')).toThrow(/JSONL line 1: 'label' must be a string or an integer, got 1.5/);
    expect(() => parseLabelledJsonl('{"text":"","label":"x"}')).toThrow(/JSONL line 1: empty text/);
    expect(() => parseLabelledJsonl('{"text":"a","label":"x"}\n{"text":"b","label":"z"}', { labels: ['x', 'y'] })).toThrow(/JSONL line 2: unknown label 'z'/);
  });
});
