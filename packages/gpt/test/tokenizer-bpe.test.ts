/**
 * The BPE encoder: token for token what gpt-tokenizer (and so tiktoken's r50k_base) produces, on
 * natural text, random text of every character class and long runs — and bounded work on
 * pathological input, where gpt-tokenizer's merge loop is quadratic (120k letters: 9–15 s; a
 * 10-million-letter word: hours).
 */
import { describe, expect, it } from 'vitest';
import { encode as libraryEncode } from 'gpt-tokenizer/encoding/r50k_base';
import { encodeWord, type BpeWork } from '../src/bpe';
import { decode, encode } from '../src/index';
import verdict from '../../../data/the-verdict.txt';


let state = 2024;
function random(): number {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state / 2 ** 32;
}
function randomText(alphabet: string[], length: number): string {
  const out = new Array<string>(length);
  for (let i = 0; i < length; i++) out[i] = alphabet[Math.floor(random() * alphabet.length)];
  return out.join('');
}

const LETTERS = Array.from('abcdefghijklmnopqrstuvwxyz');
/** Every pre-tokenizer class: letters (Latin, accented, CJK), digits, symbols, marks, emoji, whitespace, contractions. */
const MIXED = [...Array.from(" aeiouAEZ0123456789.,;:!?'\"()[]-_=+*/\\@#$%&~`\n\t\r éüßñ日本語中🙂👍\u0301\u00a0"), "'s", "'ll", "'re", ' the', ' and'];

describe('BPE encoding is identical to gpt-tokenizer', () => {
  it('on the-verdict and on random text of every character class', () => {
    expect(encode(verdict)).toEqual(libraryEncode(verdict));
    for (let trial = 0; trial < 4; trial++) {
      const text = randomText(MIXED, 50_000);
      expect(encode(text)).toEqual(libraryEncode(text));
    }
  });

  it('on long runs of one class (the long-word path), where the library is still fast enough to compare', () => {
    const runs = [
      randomText(LETTERS, 6000),
      'a'.repeat(5001),
      ` ${randomText(Array.from('0123456789'), 4000)}`,
      randomText(Array.from('.,;:!?()[]{}<>-_=+*/'), 4000),
      randomText(Array.from(' \n\t'), 3000),
      randomText(Array.from('日本語中文字漢'), 2000),
      '🙂'.repeat(1500),
      randomText(Array.from('aé\u0301'), 3000),
    ];
    for (const run of runs) expect(encode(run), run.slice(0, 20)).toEqual(libraryEncode(run));
  });
});

describe('BPE work is bounded', () => {
  it('a 200k-letter word takes O(n log n) steps, not O(n²)', () => {
    const word = randomText(LETTERS, 200_000);
    const work: BpeWork = { steps: 0 };
    const ids = encodeWord(word, work);
    const n = word.length;
    // Heap pushes and pops (≤ 3n each, ≤ log2(3n)+1 sift steps) plus rank lookups; the library's
    // loop would scan the word once per merge: about n²/3 ≈ 1.3e10 steps here.
    expect(work.steps).toBeLessThan(8 * n * Math.log2(n));
    console.log(`200k-letter word: ${ids.length} tokens, ${work.steps} steps (${(work.steps / n).toFixed(1)} per byte; n² would be ${(n * n).toExponential(1)})`);
    expect(decode(ids)).toBe(word);
  });

  it('a 1M-letter word encodes within the test timeout (the library would take about 15 minutes)', () => {
    const text = ` ${randomText(LETTERS, 1_000_000)}`;
    const ids = encode(text);
    expect(ids.length).toBeGreaterThan(400_000);
    expect(decode(ids)).toBe(text);
  });
});
