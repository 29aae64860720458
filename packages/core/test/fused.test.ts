/**
 * The fused decoding/training ops beyond their registry entries (ops.test.ts): the one-dispatch linear
 * against the composed ops on GPT-2 widths, weights split over storage bindings, the QKV projection's
 * three-launch fallback and its prompt path, cache rows left alone, dispatch counts, clear errors.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, linear, linearEpilogue, matmul, memory, noGrad, qkvProjection, zeros, type Tensor } from '../src/node';
import { setLinearBindingLimitForTests } from '../src/ops/linear';
import { setQkvFallbackForTests } from '../src/ops/qkv';
import { linearRef, qkvProjectionRef } from '../src/testing';
import { commandsOf, expectClose, expectError, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

afterEach(() => {
  setLinearBindingLimitForTests(null);
  setQkvFallbackForTests(false);
});

describe('linear', () => {
  it('one dispatch for a decoding row with norm, bias, GELU and residual; the same values as the composed ops', async () => {
    const [k, n] = [96, 389];
    const x = randomTensor([2, 1, k], 1);
    const w = randomTensor([n, k], 2, -0.2, 0.2);
    const b = randomTensor([n], 3);
    const r = randomTensor([2, 1, n], 4);
    const g = randomTensor([k], 5, 0.5, 1.5);
    const beta = randomTensor([k], 6);
    const options = { bias: b.t, activation: 'gelu' as const, residual: r.t, norm: { weight: g.t, bias: beta.t } };
    let fused: Tensor | undefined;
    expect(commandsOf(() => (fused = linear(x.t, w.t, options)))).toBe(1);
    const expected = linearRef(x.data, k, w.data, n, { bias: b.data, activation: 'gelu', residual: r.data, norm: { weight: g.data, bias: beta.data } });
    expectClose(await fused!.toArray(), expected, { rtol: 1e-4, atol: 1e-5, label: 'fused' });
    // With gradients recorded: layerNorm, matmul and the epilogue.
    x.t.requireGrad();
    const composed = linear(x.t, w.t, options);
    expectClose(await composed.toArray(), expected, { rtol: 1e-4, atol: 1e-5, label: 'composed' });
    for (const t of [x, w, b, r, g, beta]) t.t.dispose();
    fused!.dispose();
    composed.dispose();
  });

  it('weights larger than one binding are cut into column ranges (odd and aligned K)', async () => {
    for (const [k, n, limit] of [[64, 301, 1000], [7, 53, 300]] as const) {
      setLinearBindingLimitForTests(limit);
      const x = randomTensor([3, k], k);
      const w = randomTensor([n, k], k + 1);
      const b = randomTensor([n], k + 2);
      const y = noGrad(() => linear(x.t, w.t, { bias: b.t }));
      expectClose(await y.toArray(), linearRef(x.data, k, w.data, n, { bias: b.data }), { rtol: 1e-4, atol: 1e-5, label: `split K=${k}` });
      for (const t of [x.t, w.t, b.t, y]) t.dispose();
    }
  });

  it('a weight without gradient and an input that requires one take the composed ops (gradients flow)', async () => {
    const x = randomTensor([1, 8], 11);
    const w = randomTensor([5, 8], 12);
    x.t.requireGrad();
    const y = linear(x.t, w.t, { activation: 'gelu' });
    expect(y.requiresGrad).toBe(true);
    y.backward(fromArray(new Float32Array(5).fill(1), [1, 5]));
    expect(x.t.grad?.shape).toEqual([1, 8]);
    for (const t of [x.t, w.t, y]) t.dispose();
  });

  it('clear errors', () => {
    const x = randomTensor([2, 4], 1).t;
    const w = randomTensor([3, 4], 2).t;
    expectError(() => linear(x, randomTensor([3, 5], 3).t), 'shape', /weight must be \[N, 4\] \(\[out, in\]\) for input \[2, 4\], got \[3, 5\]/);
    expectError(() => linear(x, w, { bias: randomTensor([4], 4).t }), 'shape', /bias must have shape \[3\] for input \[2, 4\], got \[4\]/);
    expectError(() => linear(x, w, { residual: randomTensor([2, 4], 5).t }), 'shape', /residual must have the output's shape \[2, 3\], got \[2, 4\]/);
    expectError(() => linear(x, w, { norm: { weight: randomTensor([3], 6).t } }), 'shape', /norm.weight must have shape \[4\]/);
    expectError(() => linear(x, w, { activation: 'relu' as 'gelu' }), 'value', /unknown activation 'relu'/);
    expectError(() => linearEpilogue(x, { bias: randomTensor([3], 7).t }), 'shape', /bias must have shape \[4\] for y \[2, 4\], got \[3\]/);
  });
});

describe('qkvProjection', () => {
  const args = { batch: 2, t: 1, capacity: 6, position: 3, bias: true, norm: true };
  const [k, n] = [36, 44];
  function inputs() {
    const x = randomTensor([args.batch, args.t, k], 21);
    const ws = [22, 23, 24].map((s) => randomTensor([n, k], s, -0.3, 0.3));
    const bs = [25, 26, 27].map((s) => randomTensor([n], s));
    const norm = [randomTensor([k], 28, 0.5, 1.5), randomTensor([k], 29)];
    return { x, ws, bs, norm, all: [x, ...ws, ...bs, ...norm] };
  }

  async function run(expectedCommands: number) {
    const { x, ws, bs, norm, all } = inputs();
    const keys = zeros([args.batch, args.capacity, n]);
    const values = zeros([args.batch, args.capacity, n]);
    let q: Tensor | undefined;
    const commands = commandsOf(() => {
      q = qkvProjection(x.t, { query: ws[0].t, key: ws[1].t, value: ws[2].t, queryBias: bs[0].t, keyBias: bs[1].t, valueBias: bs[2].t }, { keys, values, position: args.position }, { norm: { weight: norm[0].t, bias: norm[1].t } });
    });
    expect(commands).toBe(expectedCommands);
    const got = [...(await q!.toArray()), ...(await keys.toArray()), ...(await values.toArray())];
    expectClose(got, qkvProjectionRef(all.map((t) => t.data), k, n, args), { rtol: 1e-4, atol: 1e-5 });
    for (const t of [...all.map((i) => i.t), keys, values, q!]) t.dispose();
  }

  it('one dispatch writes the queries and the new cache rows (other rows untouched)', () => run(1));

  it('three launches of the fused linear kernel where twelve storage bindings are not available', async () => {
    setQkvFallbackForTests(true);
    await run(3);
  });

  it('frees what it allocates and rejects a cache that is too short', () => {
    const { x, ws, all } = inputs();
    const keys = zeros([2, 3, n]);
    const values = zeros([2, 3, n]);
    const before = memory().liveTensors;
    expectError(() => qkvProjection(x.t, { query: ws[0].t, key: ws[1].t, value: ws[2].t }, { keys, values, position: 3 }), 'range', /1 new rows at position 3 do not fit a cache of 3 rows/);
    expectError(() => qkvProjection(x.t, { query: ws[0].t, key: ws[1].t, value: ws[2].t, queryBias: ws[0].t }, { keys, values, position: 0 }), 'value', /all three biases or none/);
    expect(memory().liveTensors).toBe(before);
    for (const t of [...all.map((i) => i.t), keys, values]) t.dispose();
  });

  it('matches three matmuls on a decoding step of GPT-2 width', async () => {
    const [c, cap] = [768, 4];
    const x = randomTensor([1, 1, c], 31);
    const ws = [32, 33, 34].map((s) => randomTensor([c, c], s, -0.05, 0.05));
    const keys = zeros([1, cap, c]);
    const values = zeros([1, cap, c]);
    const q = qkvProjection(x.t, { query: ws[0].t, key: ws[1].t, value: ws[2].t }, { keys, values, position: 2 });
    const plain = noGrad(() => ws.map((w) => matmul(x.t, w.t, { transB: true })));
    expectClose(await q.toArray(), await plain[0].toArray(), { rtol: 1e-4, atol: 1e-5, label: 'q' });
    expectClose((await keys.toArray()).slice(2 * c, 3 * c), await plain[1].toArray(), { rtol: 1e-4, atol: 1e-5, label: 'k' });
    expectClose((await values.toArray()).slice(2 * c, 3 * c), await plain[2].toArray(), { rtol: 1e-4, atol: 1e-5, label: 'v' });
    for (const t of [x.t, ...ws.map((w) => w.t), keys, values, q, ...plain]) t.dispose();
  });
});
