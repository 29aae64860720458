/** Strict UTF-8 decoding of users' text files (issue 18 #8): the offset and line of the first bad byte. */
import { describe, expect, it } from 'vitest';
import { decodeUtf8, firstInvalidUtf8 } from '../src/index';

const bytes = (...b: number[]) => Uint8Array.from(b);

describe('decodeUtf8', () => {
  it('decodes valid UTF-8 of every length (BOM dropped) exactly as TextDecoder does', () => {
    const text = 'ham\tcafé, 東京, 𝄞 and emoji 🎉\r\nspam\tWIN £1000!\n';
    const encoded = new TextEncoder().encode(text);
    expect(firstInvalidUtf8(encoded)).toBe(-1);
    expect(decodeUtf8(encoded, 'x')).toBe(text);
    expect(decodeUtf8(Uint8Array.from([0xef, 0xbb, 0xbf, ...encoded]), 'x')).toBe(text);
    expect(decodeUtf8(new Uint8Array(0), 'x')).toBe('');
  });

  const invalid: [string, Uint8Array, number][] = [
    ['a Latin-1 é', bytes(0x63, 0x61, 0x66, 0xe9, 0x0a), 3],
    ['a lone continuation byte', bytes(0x41, 0x80), 1],
    ['an overlong 2-byte form of "/"', bytes(0xc0, 0xaf), 0],
    ['an overlong 3-byte form', bytes(0x41, 0xe0, 0x80, 0xaf), 1],
    ['a UTF-16 surrogate (CESU-8)', bytes(0xed, 0xa0, 0x80), 0],
    ['a code point above U+10FFFF', bytes(0xf4, 0x90, 0x80, 0x80), 0],
    ['a sequence cut at the end', bytes(0x41, 0x42, 0xe6, 0x9d), 2],
    ['a 4-byte lead with a bad third byte', bytes(0xf0, 0x9f, 0x41, 0x80), 0],
    ['0xff', bytes(0x0a, 0x0a, 0xff), 2],
  ];
  for (const [what, data, at] of invalid) {
    it(`refuses ${what}, naming the offset and the line`, () => {
      expect(firstInvalidUtf8(data)).toBe(at);
      const line = 1 + Array.from(data.subarray(0, at)).filter((b) => b === 0x0a).length;
      expect(() => decodeUtf8(data, 'my.tsv')).toThrow(new RegExp(`^scratchgpt: my.tsv is not UTF-8: invalid byte sequence at byte offset ${at} \\(line ${line}\\): 0x`));
    });
  }

  it('says so when the file is UTF-16', () => {
    const utf16 = bytes(0xff, 0xfe, 0x68, 0x00, 0x61, 0x00);
    expect(() => decodeUtf8(utf16, 'u.tsv')).toThrow('u.tsv is not UTF-8 (it starts with a UTF-16 byte-order mark): invalid byte sequence at byte offset 0 (line 1): 0xff 0xfe 0x68 0x00');
  });
});
