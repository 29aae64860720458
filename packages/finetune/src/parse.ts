/**
 * Labelled text from files: the UCI SMS Spam Collection (the book's chapter 6), CSV/TSV with a header
 * row, and JSON Lines. Every parser checks each row and throws an error naming the line; none reads
 * files itself (pass the text: it works the same in Node and browsers).
 */
import { ScratchGPTError } from '@scratchgpt/core';
import { readDelimited } from './delimited';

/** One example: a text and its class label. */
export interface LabelledText {
  text: string;
  label: string;
}

/** The SMS Spam Collection's classes in index order: `ham` → 0, `spam` → 1 (as in the book). */
export const SMS_SPAM_LABELS: readonly string[] = Object.freeze(['ham', 'spam']);

/** Label checking shared by the parsers. */
export interface LabelOptions {
  /** The allowed labels: a row with any other label is an error. Default: any non-empty label. */
  labels?: readonly string[];
}

/** @internal Throws for an empty text or label, or a label outside `labels`. `where` names the row. */
export function checkRow(row: LabelledText, where: string, labels?: readonly string[]): LabelledText {
  if (typeof row.text !== 'string' || row.text.length === 0) throw new ScratchGPTError('value', `scratchgpt: ${where}: empty text`);
  if (typeof row.label !== 'string' || row.label.length === 0) throw new ScratchGPTError('value', `scratchgpt: ${where}: empty label`);
  if (labels && !labels.includes(row.label)) {
    throw new ScratchGPTError('format', `scratchgpt: ${where}: unknown label '${row.label}' (expected one of ${labels.map((l) => `'${l}'`).join(', ')})`);
  }
  return row;
}

export interface SmsSpamOptions {
  /**
   * `'none'` (default): every line is one message, read literally (5574 rows: 4827 ham, 747 spam).
   * `'pandas'`: a `"` at the start of a text opens a CSV quote, as with the book's
   * `pd.read_csv(sep="\t", header=None)`: quotes are stripped and one unclosed quote swallows the two
   * lines after it (5572 rows: 4825 ham, 747 spam) — use it to reproduce the book's split exactly.
   */
  quoting?: 'none' | 'pandas';
}

/**
 * Parses the SMS Spam Collection (`label<TAB>text` per line, no header; labels `ham`/`spam`).
 * Throws, naming the line, for a line without exactly one tab, an unknown label or an empty text.
 * @example
 * ```ts
 * const rows = parseSmsSpam(readFileSync('packages/finetune/data/SMSSpamCollection.tsv', 'utf8'));
 * rows.length; // 5574
 * ```
 */
export function parseSmsSpam(tsv: string, { quoting = 'none' }: SmsSpamOptions = {}): LabelledText[] {
  const records =
    quoting === 'pandas'
      ? readDelimited(tsv, { delimiter: '\t', quoting: 'pandas', what: 'SMS Spam Collection' })
      : literalLines(tsv);
  return records.map(({ fields, line }) => {
    const where = `SMS Spam Collection line ${line}`;
    if (fields.length !== 2) throw new ScratchGPTError('format', `scratchgpt: ${where}: expected 'label<TAB>text' (2 tab-separated fields), found ${fields.length}`);
    return checkRow({ label: fields[0], text: fields[1] }, where, SMS_SPAM_LABELS);
  });
}

/** Non-blank lines split at every tab, with their line numbers. */
function literalLines(text: string): { fields: string[]; line: number }[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const out: { fields: string[]; line: number }[] = [];
  src.split(/\r\n|\n|\r/).forEach((line, i) => {
    if (line.length > 0) out.push({ fields: line.split('\t'), line: i + 1 });
  });
  return out;
}

export interface LabelledCsvOptions extends LabelOptions {
  /** Field separator (default `,`; `\t` for TSV). */
  delimiter?: ',' | '\t';
  /** Header name of the text column (default `text`). */
  textColumn?: string;
  /** Header name of the label column (default `label`). */
  labelColumn?: string;
}

/**
 * Parses CSV or TSV with a header row (RFC 4180 quoting: quoted fields may hold delimiters, line breaks
 * and `""`), taking the text and label columns by name; other columns are ignored. Throws, naming the
 * line, for a missing column, a row with the wrong number of fields, a bad quote, an empty text or label,
 * or a label outside `labels`.
 * @example
 * ```ts
 * parseLabelledCsv('text,label\n"Hello, world",greeting\n', { labels: ['greeting', 'other'] });
 * // [{ text: 'Hello, world', label: 'greeting' }]
 * ```
 */
export function parseLabelledCsv(text: string, options: LabelledCsvOptions = {}): LabelledText[] {
  const { delimiter = ',', textColumn = 'text', labelColumn = 'label', labels } = options;
  const what = delimiter === '\t' ? 'TSV' : 'CSV';
  const [header, ...records] = readDelimited(text, { delimiter, what });
  if (!header) throw new ScratchGPTError('format', `scratchgpt: ${what}: no header row (expected columns '${textColumn}' and '${labelColumn}')`);
  const column = (name: string) => {
    const index = header.fields.indexOf(name);
    if (index < 0) {
      throw new ScratchGPTError('format', `scratchgpt: ${what} line ${header.line}: no column '${name}' in the header (columns: ${header.fields.map((f) => `'${f}'`).join(', ')})`);
    }
    return index;
  };
  const textIndex = column(textColumn);
  const labelIndex = column(labelColumn);
  return records.map(({ fields, line }) => {
    const where = `${what} line ${line}`;
    if (fields.length !== header.fields.length) {
      throw new ScratchGPTError('format', `scratchgpt: ${where}: expected ${header.fields.length} fields like the header, found ${fields.length}`);
    }
    return checkRow({ text: fields[textIndex], label: fields[labelIndex] }, where, labels);
  });
}

export interface LabelledJsonlOptions extends LabelOptions {
  /** Key of the text (default `text`). */
  textField?: string;
  /** Key of the label (default `label`); a string or an integer (integers become their decimal string). */
  labelField?: string;
}

/**
 * Parses JSON Lines: one object per non-blank line, e.g. `{"text": "...", "label": "spam"}`. Throws,
 * naming the line, for invalid JSON, a non-object, a missing or empty text, a label that is neither a
 * string nor an integer, or a label outside `labels`.
 */
export function parseLabelledJsonl(text: string, options: LabelledJsonlOptions = {}): LabelledText[] {
  const { textField = 'text', labelField = 'label', labels } = options;
  const rows: LabelledText[] = [];
  text.split(/\r\n|\n|\r/).forEach((raw, i) => {
    if (raw.trim() === '') return;
    const where = `JSONL line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new ScratchGPTError('format', `scratchgpt: ${where}: invalid JSON (${(err as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ScratchGPTError('format', `scratchgpt: ${where}: expected a JSON object`);
    const record = value as Record<string, unknown>;
    const t = record[textField];
    if (typeof t !== 'string') throw new ScratchGPTError('value', `scratchgpt: ${where}: '${textField}' must be a string, got ${describe(t)}`);
    const l = record[labelField];
    if (typeof l !== 'string' && !Number.isInteger(l)) throw new ScratchGPTError('format', `scratchgpt: ${where}: '${labelField}' must be a string or an integer, got ${describe(l)}`);
    rows.push(checkRow({ text: t, label: String(l) }, where, labels));
  });
  return rows;
}

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/**
 * The distinct labels of `rows` in sorted order (JavaScript's default string sort, by UTF-16 code
 * units), so the label → index mapping does not depend on row order: `['ham', 'spam']` for the SMS data.
 */
export function inferLabels(rows: readonly LabelledText[]): string[] {
  return [...new Set(rows.map((r) => r.label))].sort();
}
