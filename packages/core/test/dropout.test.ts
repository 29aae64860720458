import { beforeAll, describe, expect, it } from 'vitest';
import { dropout, fromArray, init, manualSeed, memory, sum } from '../src/node';
import { dropoutMaskRef, dropoutRef } from '../src/testing';
import { checkGradients, expectClose, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

describe('dropout', () => {
  it('matches the float64 reference mask exactly, odd shapes', async () => {
    for (const [shape, p, seed] of [
      [[1], 0.5, 1],
      [[7], 0.3, 2],
      [[3, 37], 0.1, 3],
      [[2, 5, 257], 0.75, 0xffffffff],
    ] as [number[], number, number][]) {
      const { t, data } = randomTensor(shape, 9, -2, 2);
      const y = dropout(t, p, { seed });
      const got = await y.toArray();
      // Kept values are x·fround(1/(1−p)) rounded once to f32: compare exactly.
      const expected = Array.from(dropoutRef(data, p, seed), (v) => Math.fround(v));
      expect(Array.from(got), `shape ${shape} p ${p}`).toEqual(expected);
      t.dispose();
      y.dispose();
    }
  });

  it('keeps a fraction ≈ 1−p and scales kept values by 1/(1−p)', async () => {
    const n = 40_000;
    const ones = fromArray(new Float32Array(n).fill(1));
    for (const p of [0.1, 0.5, 0.9]) {
      const y = dropout(ones, p, { seed: 1234 });
      const got = await y.toArray();
      const scale = Math.fround(1 / (1 - p));
      let kept = 0;
      for (const v of got) {
        if (v !== 0) {
          expect(v).toBe(scale);
          kept++;
        }
      }
      // Binomial std of the kept fraction is √(p(1−p)/n) ≤ 0.0025: allow 5σ.
      expect(Math.abs(kept / n - (1 - p)), `p ${p}: kept ${kept}/${n}`).toBeLessThan(0.0125);
      y.dispose();
    }
    ones.dispose();
  });

  it('same seed → same mask; different seeds and the global generator differ', async () => {
    const { t } = randomTensor([1031], 3, 0.5, 1.5);
    const before = memory().liveTensors;
    const run = async (seed?: number) => {
      const y = dropout(t, 0.5, { seed });
      const values = Array.from(await y.toArray());
      y.dispose();
      return values;
    };
    const a = await run(42);
    expect(await run(42)).toEqual(a);
    expect(await run(43)).not.toEqual(a);
    manualSeed(7);
    const g1 = await run();
    const g2 = await run();
    expect(g2).not.toEqual(g1);
    manualSeed(7);
    expect(await run()).toEqual(g1);
    expect(memory().liveTensors).toBe(before);
    t.dispose();
  });

  it('masks of nearby seeds and indices are uncorrelated', () => {
    // Element k under seed s vs element k under seed s+1, and k vs k+1: agreement ≈ 1/2 for p = 0.5.
    const n = 20_000;
    let sameSeedNeighbour = 0;
    let sameIndexNeighbour = 0;
    for (let k = 0; k < n; k++) {
      const m = dropoutMaskRef(100, 0.5, k) > 0;
      if (m === dropoutMaskRef(100, 0.5, k + 1) > 0) sameSeedNeighbour++;
      if (m === dropoutMaskRef(101, 0.5, k) > 0) sameIndexNeighbour++;
    }
    expect(Math.abs(sameSeedNeighbour / n - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(sameIndexNeighbour / n - 0.5)).toBeLessThan(0.02);
  });

  it('gradient equals upstream · mask/(1−p)', async () => {
    const p = 0.3;
    const seed = 99;
    await checkGradients({
      label: 'dropout',
      shapes: [[3, 41]],
      gpu: ([x]) => dropout(x, p, { seed }),
      ref: ([x]) => dropoutRef(x, p, seed),
    });
    // d/dx Σ dropout(x) is exactly the mask.
    const x = fromArray(new Float32Array(523).fill(0.25)).requireGrad();
    const y = dropout(x, p, { seed });
    const loss = sum(y);
    loss.backward();
    const mask = Array.from({ length: 523 }, (_, k) => dropoutMaskRef(seed, p, k));
    expect(Array.from(await x.grad!.toArray())).toEqual(mask);
    for (const t of [x, y, loss]) {
      t.zeroGrad();
      t.dispose();
    }
  });

  it('is the identity when not training or p = 0, zeros when p = 1 (with gradients)', async () => {
    const { t, data } = randomTensor([5, 7], 4);
    t.requireGrad();
    for (const [y, factor] of [
      [dropout(t, 0.5, { training: false }), 1],
      [dropout(t, 0), 1],
      [dropout(t, 1), 0],
    ] as const) {
      expectClose(await y.toArray(), Array.from(data, (v) => v * factor));
      const loss = sum(y);
      loss.backward();
      expectClose(await t.grad!.toArray(), new Array(35).fill(factor));
      t.zeroGrad();
      y.dispose();
      loss.dispose();
    }
    t.dispose();
  });

  it('rejects bad probabilities and dtypes, and frees what it allocates', () => {
    const before = memory().liveTensors;
    const x = fromArray([1, 2, 3]);
    expect(() => dropout(x, 1.5)).toThrow(/\[0, 1\], got 1.5/);
    expect(() => dropout(x, -0.1)).toThrow(/\[0, 1\]/);
    const ids = fromArray([1, 2], [2], { dtype: 'i32' });
    expect(() => dropout(ids, 0.5)).toThrow(/dropout expects f32 but got a i32 tensor of shape \[2\]/);
    x.dispose();
    ids.dispose();
    expect(memory().liveTensors).toBe(before);
  });
});
