import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, sampleLogits, type SampleOptions } from '../src/node';
import { samplingDistributionRef } from '../src/testing';
import { randomData } from './helpers';

beforeAll(async () => {
  await init();
});

/** Draws `n` samples (one row repeated n times, different seeds per batch) and returns frequencies. */
async function frequencies(logits: Float32Array, options: SampleOptions, n: number): Promise<Float64Array> {
  const v = logits.length;
  const rows = 1000;
  const data = new Float32Array(rows * v);
  for (let r = 0; r < rows; r++) data.set(logits, r * v);
  const t = fromArray(data, [rows, v]);
  const counts = new Float64Array(v);
  for (let b = 0; b < n / rows; b++) {
    const ids = await sampleLogits(t, { ...options, seed: 1000 + b }).toArray();
    for (const id of ids) counts[id]++;
  }
  t.dispose();
  return counts.map((c) => c / n);
}

describe('sampleLogits', () => {
  it('greedy picks the first maximum per row, for odd vocab sizes', async () => {
    for (const v of [1, 7, 50257]) {
      const data = randomData(3 * v, v, -5, 5);
      if (v > 1) data[2 * v + 3 % v] = data[2 * v + (3 % v)];
      const ids = await sampleLogits(fromArray(data, [3, v])).toArray();
      for (let r = 0; r < 3; r++) {
        const row = data.subarray(r * v, (r + 1) * v);
        let best = 0;
        for (let i = 1; i < v; i++) if (row[i] > row[best]) best = i;
        expect(ids[r]).toBe(best);
      }
    }
  });
  const logits = Float32Array.from([1.0, 2.0, 0.5, -1.0, 1.9, 0.0, 3.0, -2.0, 2.5, 1.2, 0.3]);
  const settings: SampleOptions[] = [
    { temperature: 1 },
    { temperature: 0.7 },
    { temperature: 1, topK: 3 },
    { temperature: 1.3, topP: 0.8 },
    { temperature: 1, topK: 5, topP: 0.9 },
  ];
  for (const options of settings) {
    it(`matches the reference distribution ${JSON.stringify(options)}`, async () => {
      const n = 8000;
      const freq = await frequencies(logits, options, n);
      const probs = samplingDistributionRef(logits, options);
      for (let i = 0; i < logits.length; i++) {
        if (probs[i] === 0) expect(freq[i], `token ${i} must never be drawn`).toBe(0);
        // 5 standard deviations of a binomial proportion
        else expect(Math.abs(freq[i] - probs[i])).toBeLessThan(5 * Math.sqrt((probs[i] * (1 - probs[i])) / n) + 1e-3);
      }
    });
  }
  it('is deterministic for a seed and differs across seeds', async () => {
    const t = fromArray(randomData(4 * 50257, 3, -3, 3), [4, 50257]);
    const a = await sampleLogits(t, { temperature: 1, seed: 5 }).toArray();
    const b = await sampleLogits(t, { temperature: 1, seed: 5 }).toArray();
    expect(Array.from(a)).toEqual(Array.from(b));
    const draws = new Set<string>();
    for (let s = 0; s < 5; s++) draws.add((await sampleLogits(t, { temperature: 1, seed: s }).toArray()).join());
    expect(draws.size).toBeGreaterThan(1);
    for (const id of a) expect(id >= 0 && id < 50257).toBe(true);
  });
  it('top-k over a large vocabulary keeps only the k largest', async () => {
    const v = 50257;
    const data = randomData(v, 9, -3, 3);
    const sorted = Array.from(data).sort((x, y) => y - x);
    const rows = 64;
    const all = new Float32Array(rows * v);
    for (let r = 0; r < rows; r++) all.set(data, r * v);
    const ids = await sampleLogits(fromArray(all, [rows, v]), { temperature: 1, topK: 10, seed: 2 }).toArray();
    for (const id of ids) expect(data[id]).toBeGreaterThanOrEqual(sorted[9]);
  });
  it('validates options', () => {
    const t = fromArray([1, 2, 3]);
    expect(() => sampleLogits(t, { topP: 0 })).toThrow(/topP/);
    expect(() => sampleLogits(t, { topK: 1.5 })).toThrow(/topK/);
    expect(() => sampleLogits(t, { temperature: -1 })).toThrow(/temperature/);
  });
});
