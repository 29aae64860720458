/**
 * Test helpers: seeded random data, float64 comparisons, and gradient checks of GPU backward rules
 * against central finite differences of the float64 reference.
 */
import { expect } from 'vitest';
import { seededRandom } from '../src/ops/creation';
import { fromArray, type Tensor } from '../src/node';

/** Deterministic PRNG (mulberry32, shared with the library). */
export const rng = seededRandom;

/** `n` uniform values in [low, high), rounded to f32. */
export function randomData(n: number, seed: number, low = -1, high = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = low + (high - low) * r();
  return out;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** Random f32 tensor plus its data (for the reference). */
export function randomTensor(shape: readonly number[], seed: number, low = -1, high = 1): { t: Tensor<'f32'>; data: Float32Array } {
  const data = randomData(size(shape), seed, low, high);
  return { t: fromArray(data, shape), data };
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise, and reports the worst element.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6, label = '' }: { rtol?: number; atol?: number; label?: string } = {},
): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (e === a) continue; // covers matching infinities
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${label}: element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/**
 * Numeric gradients of L(x) = Σ ref(x)·upstream w.r.t. each input, by central differences in float64.
 * `ref` maps float64 inputs to a flat float64 output.
 */
export function numericGrads(
  ref: (inputs: Float64Array[]) => ArrayLike<number>,
  inputs: ArrayLike<number>[],
  upstream: ArrayLike<number>,
  eps = 1e-6,
): Float64Array[] {
  const xs = inputs.map((x) => Float64Array.from(x));
  const loss = () => {
    const y = ref(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * upstream[i];
    return s;
  };
  return xs.map((x) => {
    const g = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      x[i] = v + eps;
      const up = loss();
      x[i] = v - eps;
      const down = loss();
      x[i] = v;
      g[i] = (up - down) / (2 * eps);
    }
    return g;
  });
}

/**
 * Checks an op's GPU backward against finite differences of its float64 reference.
 * `gpu` builds the output from tensors; `ref` computes the same from float64 arrays.
 * Inputs listed in `noGrad` (indices) are passed but not differentiated (e.g. integer ids).
 */
export async function checkGradients(options: {
  label: string;
  shapes: (readonly number[])[];
  gpu: (inputs: Tensor[]) => Tensor;
  ref: (inputs: Float64Array[]) => ArrayLike<number>;
  seed?: number;
  low?: number;
  high?: number;
  rtol?: number;
  atol?: number;
  /** Custom input data (e.g. ids); defaults to uniform random. */
  data?: (ArrayLike<number> | undefined)[];
  noGrad?: number[];
  dtypes?: ('f32' | 'i32')[];
}): Promise<void> {
  const { label, shapes, seed = 1, low = -1, high = 1, rtol = 1e-3, atol = 1e-4 } = options;
  const datas = shapes.map((shape, k) => options.data?.[k] ?? randomData(size(shape), seed + k * 101, low, high));
  const tensors = shapes.map((shape, k) => {
    const dtype = options.dtypes?.[k] ?? 'f32';
    const t = fromArray(datas[k], shape, { dtype }) as Tensor;
    if (!options.noGrad?.includes(k) && dtype === 'f32') t.requireGrad();
    return t;
  });
  const out = options.gpu(tensors);
  const upstreamData = randomData(out.size, seed + 7, -1, 1);
  const upstream = fromArray(upstreamData, out.shape);
  out.backward(upstream);
  const numeric = numericGrads(options.ref, datas, upstreamData);
  for (let k = 0; k < tensors.length; k++) {
    const t = tensors[k];
    if (!t.requiresGrad) continue;
    expect(t.grad, `${label}: input ${k} has no gradient`).not.toBeNull();
    expect(t.grad!.shape, `${label}: grad ${k} shape`).toEqual(t.shape);
    expectClose(await t.grad!.toArray(), numeric[k], { rtol, atol, label: `${label} d/dinput${k}` });
  }
  for (const t of [...tensors, out, upstream]) {
    t.zeroGrad();
    t.dispose();
  }
}
