/** Subvocabulary: GPT-2 ids renumbered densely, one unknown id, text round trips. */
import { describe, expect, it } from 'vitest';
import { encode } from '@scratchgpt/gpt';
import { Subvocabulary } from '../src/index';

describe('Subvocabulary', () => {
  const texts = ['The cat sat.', 'The dog ran.<|endoftext|>'];
  const vocab = Subvocabulary.fromTexts(texts);

  it('keeps the distinct ids of the texts plus <|endoftext|>, in GPT-2 order, and one unknown id', () => {
    const ids = [...new Set([...encode('The cat sat.'), ...encode('The dog ran.'), 50256])].sort((a, b) => a - b);
    expect(Array.from(vocab.gpt2Ids)).toEqual(ids);
    expect(vocab.size).toBe(ids.length + 1);
    expect(vocab.unknownId).toBe(ids.length);
    expect(vocab.id(50256)).toBe(ids.length - 1);
    expect(vocab.id(encode(' mouse')[0])).toBe(vocab.unknownId);
  });

  it('encodes and decodes known text exactly; unknown tokens read as U+FFFD', () => {
    const sub = vocab.encode('The dog sat.<|endoftext|>');
    expect(vocab.toGPT2(sub)).toEqual(encode('The dog sat.<|endoftext|>', { allowedSpecial: 'all' }));
    expect(vocab.decode(sub)).toBe('The dog sat.<|endoftext|>');
    const withUnknown = vocab.encode('The mouse sat.');
    expect(withUnknown.filter((id) => id === vocab.unknownId)).toHaveLength(1);
    expect(vocab.decode(withUnknown)).toBe('The\uFFFD sat.');
    expect(vocab.toGPT2([vocab.unknownId])).toEqual([-1]);
  });

  it('bad ids: clear errors', () => {
    expect(() => new Subvocabulary([5, 9, 5])).toThrow('scratchgpt: subvocabulary lists GPT-2 id 5 twice');
    expect(() => new Subvocabulary([50257])).toThrow('scratchgpt: subvocabulary id 50257 is not a GPT-2 token id (0…50256)');
    expect(() => vocab.decode([0, vocab.size])).toThrow(`scratchgpt: subvocabulary id ${vocab.size} at position 1 is out of range for its size ${vocab.size}`);
  });
});
