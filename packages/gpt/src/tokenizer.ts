/**
 * GPT-2's byte-pair encoding (the r50k_base vocabulary of 50,257 tokens) via `gpt-tokenizer`.
 * `<|endoftext|>` (id 50256) is recognised only where allowed, as with tiktoken's `allowed_special`.
 */
import { decode as bpeDecode, encode as bpeEncode } from 'gpt-tokenizer/encoding/r50k_base';

/** Vocabulary size of GPT-2's tokenizer. */
export const VOCAB_SIZE = 50257;
/** `<|endoftext|>`: separates documents; the usual end-of-sequence and padding token. */
export const EOT_TOKEN = 50256;
export const EOT_TEXT = '<|endoftext|>';

export interface EncodeOptions {
  /**
   * `'all'` (or a set containing `<|endoftext|>`) turns `<|endoftext|>` in the text into id 50256.
   * By default the special token is disallowed in the text (an error, like tiktoken's default).
   */
  allowedSpecial?: 'all' | ReadonlySet<string>;
}

/** Text → token ids. */
export function encode(text: string, { allowedSpecial }: EncodeOptions = {}): number[] {
  const special = allowedSpecial === 'all' || allowedSpecial?.has(EOT_TEXT) === true;
  if (!special && text.includes(EOT_TEXT)) {
    throw new Error(`scratchgpt: the text contains ${EOT_TEXT}; pass { allowedSpecial: 'all' } to encode it as token ${EOT_TOKEN}`);
  }
  const out: number[] = [];
  text.split(EOT_TEXT).forEach((piece, i) => {
    if (i > 0) out.push(EOT_TOKEN);
    if (piece.length > 0) out.push(...bpeEncode(piece));
  });
  return out;
}

/** Token ids → text (50256 becomes `<|endoftext|>`). Throws on ids outside the vocabulary. */
export function decode(ids: ArrayLike<number>): string {
  const list = Array.from(ids);
  list.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= VOCAB_SIZE) {
      throw new Error(`scratchgpt: token id ${id} at position ${i} is out of range for vocabulary size ${VOCAB_SIZE}`);
    }
  });
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= list.length; i++) {
    if (i === list.length || list[i] === EOT_TOKEN) {
      if (i > start) out.push(bpeDecode(list.slice(start, i)));
      if (i < list.length) out.push(EOT_TEXT);
      start = i + 1;
    }
  }
  return out.join('');
}
