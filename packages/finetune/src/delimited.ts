/**
 * A small reader of delimited text (CSV/TSV) that reports the line each record starts on. Quotes follow
 * RFC 4180: a field that starts with `"` runs to the matching `"`, may hold delimiters and line breaks,
 * and writes a literal quote as `""`; a quote anywhere else is an ordinary character. Lines end with
 * `\n`, `\r\n` or `\r`; blank lines are skipped.
 */
import { ScratchGPTError } from '@scratchgpt/core';

/** One record: its fields and the 1-based line it starts on. */
export interface DelimitedRecord {
  fields: string[];
  line: number;
}

export interface DelimitedOptions {
  /** Field separator (one character). */
  delimiter: string;
  /**
   * What follows a closing quote. `'rfc4180'` (default): only a delimiter or a line end, anything else
   * is an error naming the line. `'pandas'`: further characters continue the field unquoted, which is
   * what `pandas.read_csv` (C parser, default `quoting`) does.
   */
  quoting?: 'rfc4180' | 'pandas';
  /** Name used in error messages (e.g. `'CSV'`). */
  what?: string;
}

type State = 'start' | 'plain' | 'quoted' | 'afterQuote';

/**
 * Splits `text` into records. Throws `scratchgpt: <what> line N: ...` for a quote that is never closed
 * (naming the line where it opened) and, in `'rfc4180'` mode, for characters after a closing quote.
 */
export function readDelimited(text: string, { delimiter, quoting = 'rfc4180', what = 'CSV' }: DelimitedOptions): DelimitedRecord[] {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new ScratchGPTError('format', `scratchgpt: ${what}: invalid delimiter ${JSON.stringify(delimiter)} (one character, not a quote or line break)`);
  }
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // byte-order mark
  const records: DelimitedRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let state: State = 'start';
  let line = 1; // current physical line
  let recordLine = 1; // where the current record started
  let quoteLine = 1; // where the open quote started
  let recordEmpty = true;

  const endField = () => {
    fields.push(field);
    field = '';
    state = 'start';
  };
  const endRecord = () => {
    endField();
    // A line holding nothing at all is blank; `""` alone is a record with one empty field.
    if (!(recordEmpty && fields.length === 1 && fields[0] === '')) records.push({ fields, line: recordLine });
    fields = [];
    recordEmpty = true;
  };

  for (let i = 0; i < src.length; i++) {
    const ch = src[i];
    const eol = ch === '\n' || ch === '\r';
    if (eol && ch === '\r' && src[i + 1] === '\n' && state !== 'quoted') i++; // \r\n outside quotes: one break
    if (state === 'quoted') {
      if (ch === '"') state = 'afterQuote';
      else field += ch;
      if (ch === '\n' || (ch === '\r' && src[i + 1] !== '\n')) line++;
      continue;
    }
    if (eol) {
      endRecord();
      line++;
      recordLine = line;
      continue;
    }
    if (state === 'afterQuote') {
      if (ch === '"') {
        field += '"';
        state = 'quoted';
        continue;
      }
      if (ch !== delimiter) {
        if (quoting === 'rfc4180') {
          throw new ScratchGPTError('format', `scratchgpt: ${what} line ${line}: unexpected ${JSON.stringify(ch)} after a closing quote (a quoted field must end at a delimiter or line end; write a quote inside quotes as "")`);
        }
        field += ch;
        state = 'plain';
        continue;
      }
    }
    if (ch === delimiter) {
      recordEmpty = false;
      endField();
      continue;
    }
    if (state === 'start' && ch === '"') {
      state = 'quoted';
      quoteLine = line;
      recordEmpty = false;
      continue;
    }
    field += ch;
    state = 'plain';
    recordEmpty = false;
  }
  if (state === 'quoted') throw new ScratchGPTError('format', `scratchgpt: ${what} line ${quoteLine}: the quote opened here is never closed`);
  if (state !== 'start' || fields.length > 0 || !recordEmpty) endRecord();
  return records;
}
