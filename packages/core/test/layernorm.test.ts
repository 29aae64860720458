import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, layerNorm, memory } from '../src/node';
import { layerNormBackwardRef, layerNormRef } from '../src/testing';
import { expectClose, expectError, numericGrads, randomData, randomTensor, size } from './helpers';

beforeAll(async () => {
  await init();
});

const rowCounts = [1, 5, 33];
type Affine = 'both' | 'weight' | 'bias' | 'none';

function params(c: number, which: Affine, seed: number) {
  const w = which === 'both' || which === 'weight' ? randomTensor([c], seed, 0.5, 1.5) : undefined;
  const b = which === 'both' || which === 'bias' ? randomTensor([c], seed + 1, -0.5, 0.5) : undefined;
  return { w, b };
}

// Forward for C in {1, 7, 64, 768} × rows in {1, 5, 33} with every weight/bias combination, backward
// against finite differences, leaks, pipelines and dtypes: the registry (ops.test.ts).
describe('layerNorm forward', () => {
  it('leading dims, a custom eps, and a constant row (variance 0)', async () => {
    const shape = [2, 3, 7];
    const data = randomData(size(shape), 3, -1, 1);
    data.fill(0.25, 7, 14); // row 1 is constant: output is exactly the bias
    const x = fromArray(data, shape);
    const { w, b } = params(7, 'both', 9);
    const y = layerNorm(x, w!.t, b!.t, 1e-3);
    expect(y.shape).toEqual(shape);
    expectClose(await y.toArray(), layerNormRef(data, 7, w!.data, b!.data, 1e-3).y, { label: 'layerNorm [2, 3, 7]', rtol: 1e-5, atol: 1e-5 });
  });

  it('clear errors for bad parameter shapes and dtypes', () => {
    const x = fromArray(randomData(12, 1), [3, 4]);
    expect(() => layerNorm(x, fromArray([1, 2, 3]))).toThrow(/weight must have shape \[4\] for input \[3, 4\], got \[3\]/);
    expect(() => layerNorm(x, undefined, fromArray(randomData(8, 2), [2, 4]))).toThrow(/bias must have shape \[4\]/);
    expect(() => layerNorm(fromArray(new Int32Array([1, 2])))).toThrow(/layerNorm expects f32/);
    expectError(() => layerNorm(x, fromArray([1, 2, 3])), 'shape', /weight must have shape \[4\]/);
  });
});

describe('layerNorm backward', () => {
  it('the float64 backward reference agrees with finite differences', () => {
    const c = 7;
    const rows = 5;
    const x = randomData(rows * c, 1, -2, 2);
    const w = randomData(c, 2, 0.5, 1.5);
    const b = randomData(c, 3);
    const dy = randomData(rows * c, 4);
    const [gx, gw, gb] = numericGrads(([xs, ws, bs]) => layerNormRef(xs, c, ws, bs).y, [x, w, b], dy);
    const ref = layerNormBackwardRef(x, c, dy, w);
    expectClose(ref.dx, gx, { rtol: 1e-5, atol: 1e-7, label: 'dx ref' });
    expectClose(ref.dweight, gw, { rtol: 1e-5, atol: 1e-7, label: 'dweight ref' });
    expectClose(ref.dbias, gb, { rtol: 1e-5, atol: 1e-7, label: 'dbias ref' });
  });

  it('C = 768 and 100 rows (several row chunks) vs the float64 backward reference', async () => {
    for (const rows of [...rowCounts, 100]) {
      const c = 768;
      const { t: x, data } = randomTensor([rows, c], rows, -2, 2);
      const { w, b } = params(c, 'both', 5);
      x.requireGrad();
      w!.t.requireGrad();
      b!.t.requireGrad();
      const dy = randomTensor([rows, c], 77);
      const y = layerNorm(x, w!.t, b!.t);
      y.backward(dy.t);
      const ref = layerNormBackwardRef(data, c, dy.data, w!.data);
      const label = `layerNorm [${rows}, ${c}]`;
      expectClose(await x.grad!.toArray(), ref.dx, { label: `${label} dx`, rtol: 1e-4, atol: 2e-5 });
      expectClose(await w!.t.grad!.toArray(), ref.dweight, { label: `${label} dweight`, rtol: 1e-4, atol: 2e-5 });
      expectClose(await b!.t.grad!.toArray(), ref.dbias, { label: `${label} dbias`, rtol: 1e-4, atol: 2e-5 });
      for (const t of [x, w!.t, b!.t, dy.t, y]) {
        t.zeroGrad();
        t.dispose();
      }
    }
  });

  it('gives gradients to exactly the inputs that need them, and frees everything', async () => {
    const before = memory().liveTensors;
    for (const needs of ['w', 'b', 'x'] as const) {
      const { t: x, data } = randomTensor([40, 5], 1);
      const { w, b } = params(5, 'both', 2);
      const inputs = { x, w: w!.t, b: b!.t };
      inputs[needs].requireGrad();
      const y = layerNorm(x, w!.t, b!.t);
      const dy = randomTensor([40, 5], 3);
      y.backward(dy.t);
      const ref = layerNormBackwardRef(data, 5, dy.data, w!.data);
      const grads = { x: [x, ref.dx], w: [w!.t, ref.dweight], b: [b!.t, ref.dbias] } as const;
      for (const [name, [t, expected]] of Object.entries(grads)) {
        if (name !== needs) expect(t.grad, `${name} needs no gradient`).toBeNull();
        else expectClose(await t.grad!.toArray(), expected, { rtol: 1e-4, atol: 1e-5, label: `d${name} only` });
      }
      for (const t of [x, w!.t, b!.t, y, dy.t]) {
        t.zeroGrad();
        t.dispose();
      }
    }
    expect(memory().liveTensors).toBe(before);
  });
});
