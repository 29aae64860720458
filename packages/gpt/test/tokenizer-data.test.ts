import { describe, expect, it } from 'vitest';
import { createDataLoader, DataLoader, decode, encode, EOT_TOKEN, SlidingWindowDataset, StreamDecoder, tokenBytes, trainValSplit } from '../src/index';
import verdict from '../../../data/the-verdict.txt';


describe('GPT-2 tokenizer', () => {
  it('encodes the book examples', () => {
    const ids = encode(verdict);
    expect(ids.length).toBe(5145);
    expect(ids.slice(0, 5)).toEqual([40, 367, 2885, 1464, 1807]);
    expect(encode('Every effort moves you')).toEqual([6109, 3626, 6100, 345]);
    expect(encode('Hello, I am')).toEqual([15496, 11, 314, 716]);
  });
  it('handles <|endoftext|> only when allowed, and round-trips', () => {
    const text = 'Hello<|endoftext|> world';
    expect(encode(text, { allowedSpecial: 'all' })).toEqual([15496, EOT_TOKEN, 995]);
    expect(() => encode(text)).toThrow(/contains <\|endoftext\|>; pass \{ allowedSpecial: 'all' \}/);
    expect(decode(encode(text, { allowedSpecial: 'all' }))).toBe(text);
    expect(decode(encode(verdict))).toBe(verdict);
    expect(() => decode([50257])).toThrow(/token id 50257 at position 0 is out of range/);
  });
});

describe('GPT-2 decoding of characters split across tokens', () => {
  // 🙂 is two tokens (bytes F0 9F | 99 82), 日 three (" " E6 | 97 | A5): byte tokens that are not text alone.
  const text = '🙂 café 日本語, naïve “quotes”';
  const ids = encode(text);

  it('round-trips, and decode keeps no state between calls', () => {
    expect(decode(ids)).toBe(text);
    expect(ids.slice(0, 2)).toEqual([8582, 25081]);
    expect(Array.from(tokenBytes(8582))).toEqual([0xf0, 0x9f]);
    expect(Array.from(tokenBytes(EOT_TOKEN))).toEqual(Array.from(new TextEncoder().encode('<|endoftext|>')));
    // An incomplete character decodes as U+FFFD and must not leak into the next call.
    expect(decode([8582])).toBe('\uFFFD');
    expect(decode([40])).toBe('I');
    expect(decode(ids)).toBe(text);
    // F0 9F cut short by <|endoftext|>: one U+FFFD; then 99 82, two stray continuation bytes: one each.
    expect(decode([8582, EOT_TOKEN, 25081])).toBe('\uFFFD<|endoftext|>\uFFFD\uFFFD');
  });

  it('agrees with UTF-8 decoding of the concatenated token bytes on random ids', () => {
    let state = 12345;
    const next = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
    for (let trial = 0; trial < 20; trial++) {
      const random = Array.from({ length: 1 + (next() % 40) }, () => next() % 50257);
      const bytes = random.flatMap((id) => Array.from(tokenBytes(id)));
      expect(decode(random)).toBe(new TextDecoder().decode(Uint8Array.from(bytes)));
    }
  });

  it('StreamDecoder emits whole characters only, and its pieces join to decode(ids)', () => {
    const stream = new StreamDecoder();
    const pieces = ids.map((id) => stream.push(id));
    expect(pieces[0]).toBe(''); // half of 🙂 held back
    expect(pieces[1]).toBe('🙂');
    expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
    expect(pieces.join('') + stream.flush()).toBe(text);
    expect(stream.push(8582)).toBe('');
    expect(stream.flush()).toBe('\uFFFD');
    expect(stream.push(40)).toBe('I'); // flush reset the held bytes
    expect(() => stream.push(50257)).toThrow(/token id 50257 at position 1 is out of range/);
    expect(() => tokenBytes(-1)).toThrow(/token id -1 is out of range/);
  });

  it('encodes texts longer than the argument-spread limit', () => {
    // 'a', then ' a' 199,999 times, then the trailing ' '.
    expect(encode('a '.repeat(200_000)).length).toBe(200_001);
  });
});

describe('sliding-window data', () => {
  it('matches the book: maxLength 4, stride 1, batch 1', () => {
    const it1 = createDataLoader(verdict, { batchSize: 1, maxLength: 4, stride: 1 })[Symbol.iterator]();
    const first = it1.next().value!;
    expect(Array.from(first.inputs)).toEqual([40, 367, 2885, 1464]);
    expect(Array.from(first.targets)).toEqual([367, 2885, 1464, 1807]);
    expect(Array.from(it1.next().value!.inputs)).toEqual([367, 2885, 1464, 1807]);
  });
  it('matches the book: maxLength 4, stride 4, batch 8', () => {
    const batch = createDataLoader(verdict, { batchSize: 8, maxLength: 4, stride: 4 })[Symbol.iterator]().next().value!;
    expect(batch.shape).toEqual([8, 4]);
    expect(Array.from(batch.inputs.slice(0, 8))).toEqual([40, 367, 2885, 1464, 1807, 3619, 402, 271]);
  });
  it('train/val split gives the book’s 9 + 1 batches of 2×256', () => {
    const { train, val } = trainValSplit(verdict, 0.9);
    expect(train.length + val.length).toBe(verdict.length);
    const trainLoader = createDataLoader(train, { batchSize: 2, maxLength: 256, stride: 256, dropLast: true, shuffle: true });
    const valLoader = createDataLoader(val, { batchSize: 2, maxLength: 256, stride: 256, dropLast: false });
    expect(trainLoader.numBatches).toBe(9);
    expect([...trainLoader].length).toBe(9);
    expect([...valLoader].length).toBe(1);
  });
  it('seeded shuffling is a deterministic permutation, different per epoch', () => {
    const ds = new SlidingWindowDataset(Array.from({ length: 50 }, (_, i) => i), 3, 2);
    const a = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 5 });
    const b = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 5 });
    expect(a.order(0)).toEqual(b.order(0));
    expect([...a.order(0)].sort((x, y) => x - y)).toEqual(Array.from({ length: ds.length }, (_, i) => i));
    expect(a.order(0)).not.toEqual(a.order(1));
    expect(new DataLoader(ds, { batchSize: 4 }).order(0)).toEqual(Array.from({ length: ds.length }, (_, i) => i));
    expect(ds.length).toBe(24); // starts 0, 2, ..., 46 (< 50 − 3)
  });
  it('rejects text that is too short and bad options', () => {
    expect(() => createDataLoader('Hi there', { batchSize: 1, maxLength: 16, stride: 16 })).toThrow(/too short/);
    expect(() => new SlidingWindowDataset([1, 2, 3], 0, 1)).toThrow(/maxLength/);
    expect(() => trainValSplit('abc', 1)).toThrow(/trainRatio/);
  });
});
