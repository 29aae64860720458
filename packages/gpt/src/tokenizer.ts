/**
 * GPT-2's byte-pair encoding (the r50k_base vocabulary of 50,257 tokens; ranks from `gpt-tokenizer`).
 * `<|endoftext|>` (id 50256) is recognised only where allowed, as with tiktoken's `allowed_special`.
 *
 * Encoding runs our own BPE (`bpe.ts`): the same tokens as `gpt-tokenizer` and tiktoken for every
 * text, in O(n log n) for a word of n bytes where the library takes O(n²) — a 10 MB text of any kind
 * (even one 10-million-letter word) encodes in seconds.
 *
 * Decoding is done here from the library's own token table rather than with its `decode`: that one
 * shares a streaming `TextDecoder` between calls and never flushes it, so a call ending inside a
 * multi-byte character leaks those bytes into the next, unrelated call (gpt-tokenizer 3.4).
 */
import { ScratchGPTError } from '@scratchgpt/core';
import ranks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { encodeOrdinary } from './bpe';

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
    throw new ScratchGPTError('value', `scratchgpt: the text contains ${EOT_TEXT}; pass { allowedSpecial: 'all' } to encode it as token ${EOT_TOKEN}`);
  }
  const out: number[] = [];
  text.split(EOT_TEXT).forEach((piece, i) => {
    if (i > 0) out.push(EOT_TOKEN);
    if (piece.length > 0) encodeOrdinary(piece, out);
  });
  return out;
}

const utf8 = new TextEncoder();

function checkId(id: number, position?: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= VOCAB_SIZE) {
    const at = position === undefined ? '' : ` at position ${position}`;
    throw new ScratchGPTError('format', `scratchgpt: token id ${id}${at} is out of range for vocabulary size ${VOCAB_SIZE}`);
  }
}

/**
 * The raw bytes of one token. Most tokens are whole UTF-8 text; 344 hold part of a multi-byte
 * character, so text is only well-defined for a run of tokens (see `StreamDecoder`).
 */
export function tokenBytes(id: number): Uint8Array {
  checkId(id);
  const entry = id === EOT_TOKEN ? EOT_TEXT : ranks[id];
  return typeof entry === 'string' ? utf8.encode(entry) : Uint8Array.from(entry);
}

/**
 * Token ids → text (50256 becomes `<|endoftext|>`). Bytes that do not form valid UTF-8 (an
 * incomplete character at the end, say) decode as U+FFFD. Throws on ids outside the vocabulary.
 */
export function decode(ids: ArrayLike<number>): string {
  // A fresh, non-streaming decode per run of byte tokens: no state carries over between calls.
  const bytesToText = new TextDecoder('utf-8');
  let out = '';
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length > 0) out += bytesToText.decode(Uint8Array.from(pending));
    pending = [];
  };
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    checkId(id, i);
    const entry = id === EOT_TOKEN ? EOT_TEXT : ranks[id];
    if (typeof entry === 'string') {
      // Whole UTF-8 text never starts with a continuation byte, so pending bytes cannot join it.
      flush();
      out += entry;
    } else {
      pending.push(...entry);
    }
  }
  flush();
  return out;
}

/**
 * Incremental decoding for streaming output: `push(id)` returns the text that token completes,
 * holding back the bytes of a character split across tokens until it is whole; `flush()` returns
 * what is left (an incomplete character as U+FFFD) and resets. The pieces concatenate to `decode(ids)`.
 * @example
 * ```ts
 * const text = new StreamDecoder();
 * for await (const id of generateTokens(model, prompt)) process.stdout.write(text.push(id));
 * process.stdout.write(text.flush());
 * ```
 */
export class StreamDecoder {
  private readonly bytesToText = new TextDecoder('utf-8');
  private count = 0;

  push(id: number): string {
    checkId(id, this.count++);
    const entry = id === EOT_TOKEN ? EOT_TEXT : ranks[id];
    return this.bytesToText.decode(typeof entry === 'string' ? utf8.encode(entry) : Uint8Array.from(entry), { stream: true });
  }

  flush(): string {
    this.count = 0;
    return this.bytesToText.decode();
  }
}
