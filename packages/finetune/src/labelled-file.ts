/**
 * A user's labelled texts in whatever file they have: CSV or TSV with a header row (RFC 4180 quoting, a
 * byte-order mark and CRLF line ends handled), a JSON array of objects or JSON Lines. The text and label
 * columns are named or found among the usual names; labels are inferred (sorted) or fixed by the caller,
 * and counted per class. Works on text, the same in Node and in a page (decode files with `decodeUtf8`).
 */
import { ScratchGPTError } from '@scratchgpt/core';
import { readDelimited } from './delimited';
import { checkRow, inferLabels, type LabelledText } from './parse';
import { classCounts } from './split';

/** The file formats read. */
export type LabelledFileFormat = 'csv' | 'tsv' | 'json' | 'jsonl';

/** Column names tried, in order, when none is given (case-insensitive). */
export const TEXT_COLUMNS: readonly string[] = Object.freeze(['text', 'sentence', 'message', 'content']);
export const LABEL_COLUMNS: readonly string[] = Object.freeze(['label', 'class', 'category', 'target']);

/** Options of {@link readLabelledFile}. */
export interface LabelledFileOptions {
  /** Default `'auto'`: from the extension of `name` (.csv, .tsv/.tab, .json, .jsonl/.ndjson), else from the content. */
  format?: LabelledFileFormat | 'auto';
  /** The file's name: picks the format by extension and names the file in errors. */
  name?: string;
  /** Field separator of a CSV (default `,`; `\t` for a TSV). */
  delimiter?: string;
  /** The text column (default: the first of {@link TEXT_COLUMNS} present). */
  textColumn?: string;
  /** The label column (default: the first of {@link LABEL_COLUMNS} present). */
  labelColumn?: string;
  /** The classes in index order: a row with another label is an error naming its line. Default: the labels found, sorted. */
  labels?: readonly string[];
}

/** What {@link readLabelledFile} found. */
export interface LabelledFile {
  rows: LabelledText[];
  format: LabelledFileFormat;
  /** Every column (CSV header, or the keys of the first JSON object). */
  columns: string[];
  textColumn: string;
  labelColumn: string;
  /** The classes in index order (given, or found and sorted). */
  labels: string[];
  /** Rows per class, in `labels` order. */
  counts: Map<string, number>;
}

function formatOf(text: string, name: string | undefined): LabelledFileFormat {
  const ext = /\.([a-z]+)$/i.exec(name ?? '')?.[1]?.toLowerCase();
  if (ext === 'csv') return 'csv';
  if (ext === 'tsv' || ext === 'tab') return 'tsv';
  if (ext === 'json') return 'json';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  const start = text.replace(/^\uFEFF/, '').trimStart();
  if (start.startsWith('[')) return 'json';
  if (start.startsWith('{')) return 'jsonl';
  return 'csv';
}

/** The column to read: the one asked for, or the first usual name present; an error lists what is there. */
function pickColumn(columns: readonly string[], asked: string | undefined, usual: readonly string[], role: string, where: string, option: string): string {
  const list = columns.map((c) => `'${c}'`).join(', ') || 'none';
  if (asked !== undefined) {
    if (!columns.includes(asked)) throw new ScratchGPTError('format', `scratchgpt: ${where}: no ${role} column '${asked}' (columns: ${list})`);
    return asked;
  }
  for (const name of usual) {
    const found = columns.find((c) => c.trim().toLowerCase() === name);
    if (found !== undefined) return found;
  }
  throw new ScratchGPTError('format', `scratchgpt: ${where}: no ${role} column among the usual names (${usual.join(', ')}); the columns are ${list}: name it with ${option}`);
}

function labelOf(value: unknown, key: string, where: string): string {
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return String(value);
  throw new ScratchGPTError('format', `scratchgpt: ${where}: '${key}' must be a string or an integer, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
}

/** A file's records as values by column, each with where it is (`FILE line N` / `FILE entry N`). */
interface Table {
  format: LabelledFileFormat;
  file: string;
  columns: string[];
  /** Where the columns come from (the header line, or the file). */
  headerWhere: string;
  records: { get(column: string): unknown; where: string }[];
}

function readTable(text: string, options: Pick<LabelledFileOptions, 'format' | 'name' | 'delimiter'>): Table {
  const format = options.format === undefined || options.format === 'auto' ? formatOf(text, options.name) : options.format;
  const file = options.name ?? format.toUpperCase();
  if (format === 'csv' || format === 'tsv') {
    const delimiter = options.delimiter ?? (format === 'tsv' ? '\t' : ',');
    const [header, ...rows] = readDelimited(text, { delimiter, what: file });
    if (!header) throw new ScratchGPTError('format', `scratchgpt: ${file}: empty (no header row)`);
    const index = new Map(header.fields.map((f, i) => [f, i]));
    const records = rows.map(({ fields, line }) => {
      const where = `${file} line ${line}`;
      if (fields.length !== header.fields.length) throw new ScratchGPTError('format', `scratchgpt: ${where}: expected ${header.fields.length} fields like the header, found ${fields.length}`);
      return { get: (column: string) => fields[index.get(column)!], where };
    });
    return { format, file, columns: header.fields, headerWhere: `${file} line ${header.line}`, records };
  }
  let values: { value: unknown; where: string }[];
  if (format === 'json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch (err) {
      throw new ScratchGPTError('format', `scratchgpt: ${file} is not valid JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(parsed)) throw new ScratchGPTError('format', `scratchgpt: ${file}: expected a JSON array of objects`);
    values = parsed.map((value, i) => ({ value, where: `${file} entry ${i}` }));
  } else {
    values = [];
    text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/).forEach((raw, i) => {
      if (raw.trim() === '') return;
      const where = `${file} line ${i + 1}`;
      try {
        values.push({ value: JSON.parse(raw), where });
      } catch (err) {
        throw new ScratchGPTError('format', `scratchgpt: ${where}: invalid JSON (${(err as Error).message})`);
      }
    });
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const first = values.find((v) => isObject(v.value));
  const records = values.map(({ value, where }) => {
    if (!isObject(value)) throw new ScratchGPTError('format', `scratchgpt: ${where}: expected a JSON object`);
    return { get: (column: string) => value[column], where };
  });
  return { format, file, columns: first ? Object.keys(first.value as object) : [], headerWhere: file, records };
}

function textOf(value: unknown, column: string, where: string): string {
  if (typeof value !== 'string') throw new ScratchGPTError('format', `scratchgpt: ${where}: '${column}' must be a string, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  return value;
}

/**
 * Reads labelled texts from a file's text: CSV/TSV with a header, a JSON array of objects, or JSON Lines.
 * Errors name the file, the line (CSV/JSONL) or entry (JSON) and the problem: a missing column (listing
 * the columns found), a row with the wrong number of fields, a bad quote, an empty text or label, or a
 * label outside `labels`.
 * @example
 * ```ts
 * const file = readLabelledFile('id,message,category\n1,"Hi, you",ham\n2,WIN NOW,spam\n', { name: 'sms.csv' });
 * file.textColumn; // 'message'
 * file.labels;     // ['ham', 'spam']
 * ```
 */
export function readLabelledFile(text: string, options: LabelledFileOptions = {}): LabelledFile {
  const labels = options.labels;
  if (labels && (labels.length < 2 || new Set(labels).size !== labels.length || labels.some((l) => typeof l !== 'string' || l === ''))) {
    throw new ScratchGPTError('value', `scratchgpt: labels must be at least two distinct non-empty names, got [${labels.join(', ')}]`);
  }
  const table = readTable(text, options);
  const textColumn = pickColumn(table.columns, options.textColumn, TEXT_COLUMNS, 'text', table.headerWhere, '--text-column / textColumn');
  const labelColumn = pickColumn(table.columns, options.labelColumn, LABEL_COLUMNS, 'label', table.headerWhere, '--label-column / labelColumn');
  const rows = table.records.map((r) => checkRow({ text: textOf(r.get(textColumn), textColumn, r.where), label: labelOf(r.get(labelColumn), labelColumn, r.where) }, r.where, labels));
  if (rows.length === 0) throw new ScratchGPTError('value', `scratchgpt: ${table.file} holds no rows`);
  const classes = labels ? [...labels] : inferLabels(rows);
  return { rows, format: table.format, columns: table.columns, textColumn, labelColumn, labels: classes, counts: classCounts(rows, classes) };
}

/** What {@link readTextsFile} found: the texts, in file order. */
export interface TextsFile {
  texts: string[];
  format: LabelledFileFormat;
  columns: string[];
  textColumn: string;
}

/**
 * Reads the texts of a file to classify (CSV/TSV/JSON/JSONL, as {@link readLabelledFile}; no label
 * needed): the `textColumn`, or the first of {@link TEXT_COLUMNS} present. An empty text is an error
 * naming its line.
 */
export function readTextsFile(text: string, options: Omit<LabelledFileOptions, 'labelColumn' | 'labels'> = {}): TextsFile {
  const table = readTable(text, options);
  const textColumn = pickColumn(table.columns, options.textColumn, TEXT_COLUMNS, 'text', table.headerWhere, '--text-column / textColumn');
  const texts = table.records.map((r) => {
    const t = textOf(r.get(textColumn), textColumn, r.where);
    if (t.length === 0) throw new ScratchGPTError('value', `scratchgpt: ${r.where}: empty text`);
    return t;
  });
  if (texts.length === 0) throw new ScratchGPTError('value', `scratchgpt: ${table.file} holds no rows`);
  return { texts, format: table.format, columns: table.columns, textColumn };
}
