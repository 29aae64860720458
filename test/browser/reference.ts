/**
 * Independent float64 references and seeded inputs for the end-to-end tests (headless Chromium and the
 * per-backend Node children). Written from the definitions, not imported from the op files, so that these
 * tests still load while an op is being rewritten and check the references too.
 */
import { expect } from 'vitest';
import { seededRandom } from '../../packages/core/src/ops/creation';

/** A flat row-major array with its shape. */
export interface Shaped {
  data: number[];
  shape: number[];
}

/** Deterministic PRNG (mulberry32, shared with the library). */
export const rng = seededRandom;

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** Uniform values in [low, high) rounded to f32 (so GPU and reference see the same inputs). */
export function randomInput(shape: number[], seed: number, low = -1, high = 1): Shaped {
  const r = rng(seed);
  const data = Array.from(Float32Array.from({ length: sizeOf(shape) }, () => low + (high - low) * r()));
  return { data, shape };
}

/** a + b with numpy broadcasting. */
export function addRef(a: Shaped, b: Shaped): Shaped {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const sa = pad(a.shape);
  const sb = pad(b.shape);
  const shape = sa.map((d, i) => {
    if (d !== sb[i] && d !== 1 && sb[i] !== 1) throw new Error(`addRef: cannot broadcast [${a.shape}] and [${b.shape}]`);
    return Math.max(d, sb[i]);
  });
  const data = new Array<number>(sizeOf(shape));
  for (let i = 0; i < data.length; i++) {
    let rem = i;
    let ia = 0;
    let ib = 0;
    let stepA = 1;
    let stepB = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      if (sa[d] !== 1) ia += c * stepA;
      if (sb[d] !== 1) ib += c * stepB;
      stepA *= sa[d];
      stepB *= sb[d];
    }
    data[i] = a.data[ia] + b.data[ib];
  }
  return { data, shape };
}

/** GELU, tanh approximation (GPT-2's). */
export function geluRef(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** [..., M, K] @ [K, N] → [..., M, N] (batch dims on `a` only). */
export function matmulRef(a: Shaped, b: Shaped): Shaped {
  const [m, k] = a.shape.slice(-2);
  const [kb, n] = b.shape;
  if (k !== kb || b.shape.length !== 2) throw new Error(`matmulRef: bad shapes [${a.shape}] @ [${b.shape}]`);
  const batch = sizeOf(a.shape.slice(0, -2));
  const data = new Array<number>(batch * m * n).fill(0);
  for (let e = 0; e < batch; e++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a.data[e * m * k + i * k + p] * b.data[p * n + j];
        data[e * m * n + i * n + j] = s;
      }
    }
  }
  return { data, shape: [...a.shape.slice(0, -2), m, n] };
}

/** softmax over the last axis. */
export function softmaxRef(x: Shaped): Shaped {
  const c = x.shape[x.shape.length - 1];
  const data = new Array<number>(x.data.length);
  for (let start = 0; start < x.data.length; start += c) {
    const row = x.data.slice(start, start + c);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((p, v) => p + v, 0);
    e.forEach((v, j) => (data[start + j] = v / s));
  }
  return { data, shape: [...x.shape] };
}

/** Asserts the shape matches and |actual − expected| ≤ atol + rtol·|expected| everywhere (reports the worst element). */
export function expectClose(actual: Shaped, expected: Shaped, label: string, { rtol = 1e-5, atol = 1e-6 } = {}): void {
  expect(actual.shape, `${label}: shape`).toEqual(expected.shape);
  expect(actual.data.length, `${label}: length`).toBe(expected.data.length);
  let worst = -1;
  let worstExcess = 0;
  expected.data.forEach((e, i) => {
    const excess = Math.abs(actual.data[i] - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  });
  if (worst >= 0) {
    expect.fail(`${label}: element ${worst}: got ${actual.data[worst]}, expected ${expected.data[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}
