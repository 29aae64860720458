import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, permute, transpose } from '../src/node';
import { expectError } from './helpers';

beforeAll(async () => {
  await init();
});

// permute and transpose on ranks 1 to 5 (f32 against the reference, i32 and u32 words exactly, empty
// tensors), backward against finite differences, leaks and pipelines: the registry (ops.test.ts).
describe('permute / transpose', () => {
  it('empty tensors and clear errors', async () => {
    const x = fromArray([], [0, 3]);
    const y = permute(x, [1, 0]);
    expect(y.shape).toEqual([3, 0]);
    const z = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => permute(z, [0, 0])).toThrow(/\[0, 0\].*permutation.*\[2, 3\]/);
    expect(() => permute(z, [0])).toThrow(/permutation/);
    expect(() => permute(z, [0, 2])).toThrow(/permutation/);
    expect(() => transpose(z, 0, 2)).toThrow(/dim 2 is out of range.*\[2, 3\]/);
    expectError(() => transpose(z, 0, 2), 'range', /dim 2/);
    for (const t of [x, y, z]) t.dispose();
  });
});
