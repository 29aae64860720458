/**
 * Text files as users bring them: decoded as UTF-8 strictly, so that a file in another encoding (Latin-1,
 * Windows-1252, UTF-16) is an error naming the file, the byte offset and the line, instead of text with
 * U+FFFD replacement characters that trains without a word.
 */
import { ScratchGPTError } from '@scratchgpt/core';

/** Offset of the first byte that does not belong to a valid UTF-8 sequence (−1 when all are valid). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    // Sequence length and the allowed range of its second byte (no overlongs, surrogates or > U+10FFFF).
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    if (i + n > bytes.length) return i;
    if (bytes[i + 1] < lo || bytes[i + 1] > hi) return i;
    for (let k = 2; k < n; k++) if (bytes[i + k] < 0x80 || bytes[i + k] > 0xbf) return i;
    i += n;
  }
  return -1;
}

/**
 * `bytes` as UTF-8 text (a leading byte-order mark dropped); throws a `format` error naming `name`, the
 * byte offset, its line and the bytes there when the data is not valid UTF-8.
 * @example
 * ```ts
 * const tsv = decodeUtf8(await readFile('my-data.tsv'), 'my-data.tsv');
 * ```
 */
export function decodeUtf8(bytes: Uint8Array, name: string): string {
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    let line = 1;
    for (let i = 0; i < bad; i++) if (bytes[i] === 0x0a) line++;
    const shown = Array.from(bytes.subarray(bad, bad + 4), (b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');
    const utf16 = (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff) ? ' (it starts with a UTF-16 byte-order mark)' : '';
    throw new ScratchGPTError('format',
      `scratchgpt: ${name} is not UTF-8${utf16}: invalid byte sequence at byte offset ${bad} (line ${line}): ${shown}. ` +
        'Convert it to UTF-8 first (for example `iconv -f latin1 -t utf-8 in.tsv > out.tsv`, with its real encoding)',
    );
  }
  return new TextDecoder('utf-8').decode(bytes);
}
