import { beforeAll, describe, it } from 'vitest';
import { binary, binaryOps, fromArray, init, unary, unaryOps, type BinaryOpName, type UnaryOpName } from '../src/node';
import { broadcastRef } from '../src/testing';
import { expectClose, randomData } from './helpers';

beforeAll(async () => {
  await init();
});

/**
 * Special cases of the elementwise ops. Forward against the float64 reference on odd shapes, backward
 * against finite differences, leaks, pipelines and dtypes: the registry (ops.test.ts).
 */
describe('unary ops', () => {
  it('each analytic reference derivative matches finite differences of its reference', () => {
    const domains: Partial<Record<UnaryOpName, [number, number]>> = { log: [0.1, 3], sqrt: [0.1, 3], rsqrt: [0.1, 3], pow: [0.1, 2], exp: [-4, 4], tanh: [-4, 4], gelu: [-5, 5] };
    const params: Partial<Record<UnaryOpName, [number, number]>> = { pow: [2.5, 0], affine: [-1.5, 0.25] };
    for (const name of Object.keys(unaryOps) as UnaryOpName[]) {
      const [low, high] = domains[name] ?? [-3, 3];
      const [a, b] = params[name] ?? [0, 0];
      const { ref, dref } = unaryOps[name];
      // relu/abs are not differentiable at 0: keep inputs away from it.
      const data = randomData(23, 5, low, high).map((x) => (Math.abs(x) < 0.05 ? x + 0.1 : x));
      expectClose(Array.from(data, (x) => dref(x, a, b)), Array.from(data, (x) => (ref(x + 1e-6, a, b) - ref(x - 1e-6, a, b)) / 2e-6), { rtol: 1e-5, atol: 1e-6, label: `${name} dref` });
    }
  });
  it('tanh/gelu stay finite for huge inputs', async () => {
    const x = fromArray([-1e4, -100, 100, 1e4]);
    expectClose(await unary('tanh', x).toArray(), [-1, -1, 1, 1]);
    expectClose(await unary('gelu', x).toArray(), [0, 0, 100, 1e4]);
  });
});

describe('binary ops on i32', () => {
  for (const name of Object.keys(binaryOps) as BinaryOpName[]) {
    const { ref } = binaryOps[name];
    it(`${name} i32 forward`, async () => {
      const aData = Int32Array.from(randomData(15, 8, -20, 20), Math.round);
      const bData = Int32Array.from(randomData(5, 9, 1, 7), Math.round).map((v, i) => (i % 2 ? -v : v));
      const y = binary(name, fromArray(aData, [3, 5]), fromArray(bData, [5]));
      const intRef = name === 'div' ? (x: number, z: number) => Math.floor(x / z) : ref;
      const expected = broadcastRef(aData, [3, 5], bData, [5], intRef);
      expectClose(await y.toArray(), expected.data, { label: `${name} i32` });
    });
  }
});

describe('maximum/minimum gradients at ties and NaN', () => {
  // The gradient goes to `a` where a ≥ b (maximum) or a ≤ b (minimum), ties included; everywhere else,
  // NaN in either operand included, it goes to `b`.
  const aData = [1, 2, 3, NaN, 5, NaN];
  const bData = [1, 1, 4, 0, NaN, NaN];
  const cases = {
    maximum: { a: [1, 1, 0, 0, 0, 0], b: [0, 0, 1, 1, 1, 1] },
    minimum: { a: [1, 0, 1, 0, 0, 0], b: [0, 1, 0, 1, 1, 1] },
  };
  for (const [name, expected] of Object.entries(cases) as [BinaryOpName, { a: number[]; b: number[] }][]) {
    it(name, async () => {
      const a = fromArray(aData).requireGrad();
      const b = fromArray(bData).requireGrad();
      const upstream = fromArray([2, 3, 5, 7, 11, 13]);
      const y = binary(name, a, b);
      y.backward(upstream);
      expectClose(await a.grad!.toArray(), expected.a.map((m, i) => m * [2, 3, 5, 7, 11, 13][i]), { label: `${name} d/da` });
      expectClose(await b.grad!.toArray(), expected.b.map((m, i) => m * [2, 3, 5, 7, 11, 13][i]), { label: `${name} d/db` });
      for (const t of [a, b, upstream, y]) {
        t.zeroGrad();
        t.dispose();
      }
    });
  }
});
