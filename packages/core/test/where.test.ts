import { beforeAll, describe, expect, it } from 'vitest';
import {
  causalMask,
  causalMaskRef,
  fromArray,
  init,
  maskedFill,
  maskedFillRef,
  memory,
  softmax,
  softmaxRef,
  tril,
  trilRef,
  triu,
  triuRef,
  where,
  whereRef,
} from '../src/node';
import { checkGradients, expectClose, randomData, rng, size } from './helpers';

beforeAll(async () => {
  await init();
});

function randomInts(n: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor((r() - 0.5) * 2 ** 32));
}

/** A 0/1-ish condition: about half the entries zero, the rest assorted nonzero values. */
function randomCond(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() < 0.5 ? 0 : r() < 0.5 ? 1 : -3.5));
}

// [cond, a, b] shapes: NumPy broadcasting among all three.
const triples: [number[], number[], number[]][] = [
  [[1], [1], [1]],
  [[7], [7], [7]],
  [[3, 1], [1, 5], [5]],
  [[], [3], [3]],
  [[3], [], [2, 3]],
  [[2, 1, 37], [3, 1], [1]],
  [[1, 13], [11, 1], [1, 13]],
  [[4, 1, 3, 1], [2, 1, 5], [1, 1, 1, 1, 1]],
  [[2, 3, 1, 5, 2], [3, 5, 1], [2, 1, 1, 1, 2]],
];

describe('where', () => {
  it('f32 branches, f32 / i32 / u32 conditions, broadcasting among all three', async () => {
    for (const [sc, sa, sb] of triples) {
      const condData = randomCond(size(sc), 1);
      const aData = randomData(size(sa), 2);
      const bData = randomData(size(sb), 3);
      const expected = whereRef(condData, sc, aData, sa, bData, sb);
      const a = fromArray(aData, sa);
      const b = fromArray(bData, sb);
      for (const condArray of [condData, Int32Array.from(condData), Uint32Array.from(condData, (v) => (v === 0 ? 0 : 0x80000000))]) {
        const cond = fromArray(condArray, sc);
        const y = where(cond, a, b);
        expect(y.shape).toEqual(expected.shape);
        expectClose(await y.toArray(), expected.data, { rtol: 0, atol: 0, label: `where ${cond.dtype} ${sc} ${sa} ${sb}` });
        cond.dispose();
        y.dispose();
      }
      a.dispose();
      b.dispose();
    }
  });

  it('f32 conditions: -0 is false, NaN is true', async () => {
    const cond = fromArray([0, -0, NaN, 1e-30, -1]);
    const a = fromArray([1, 1, 1, 1, 1]);
    const b = fromArray([2, 2, 2, 2, 2]);
    const y = where(cond, a, b);
    expect(Array.from(await y.toArray())).toEqual([2, 2, 1, 1, 1]);
    for (const t of [cond, a, b, y]) t.dispose();
  });

  it('i32 branches move words exactly', async () => {
    for (const [sc, sa, sb] of triples) {
      const condData = Int32Array.from(randomCond(size(sc), 4));
      const aData = randomInts(size(sa), 5);
      const bData = randomInts(size(sb), 6);
      const [cond, a, b] = [fromArray(condData, sc), fromArray(aData, sa), fromArray(bData, sb)];
      const y = where(cond, a, b);
      expect(y.dtype).toBe('i32');
      expect(Array.from(await y.toArray())).toEqual(Array.from(whereRef(condData, sc, aData, sa, bData, sb).data));
      for (const t of [cond, a, b, y]) t.dispose();
    }
  });

  it('backward: gradient to a where cond holds, to b elsewhere, summed to the input shapes', async () => {
    for (const [sc, sa, sb] of triples) {
      const condData = randomCond(size(sc), 7);
      for (const dtype of ['f32', 'i32'] as const) {
        await checkGradients({
          label: `where ${dtype} ${sc} ${sa} ${sb}`,
          shapes: [sc, sa, sb],
          data: [dtype === 'i32' ? Int32Array.from(condData) : condData],
          dtypes: [dtype, 'f32', 'f32'],
          noGrad: [0],
          gpu: ([c, a, b]) => where(c, a, b),
          ref: ([c, a, b]) => whereRef(c, sc, a, sa, b, sb).data,
        });
      }
    }
  });

  it('clear errors', () => {
    const c = fromArray([1, 0, 1]);
    const a = fromArray([1, 2, 3]);
    const i = fromArray(new Int32Array([1, 2, 3]));
    const b = fromArray([1, 2, 3, 4], [4]);
    expect(() => where(c, a, i)).toThrow(/dtype.*f32 \[3\] vs i32 \[3\]/);
    expect(() => where(c, a, b)).toThrow(/\[3\] and \[4\] cannot be broadcast/);
    for (const t of [c, a, i, b]) t.dispose();
  });
});

// [x, mask] shapes: the mask broadcasts to x.
const maskPairs: [number[], number[]][] = [
  [[1], [1]],
  [[7], [7]],
  [[7], []],
  [[3, 5], [5]],
  [[3, 5], [3, 1]],
  [[2, 3, 37], [3, 37]],
  [[2, 1, 3, 5, 2], [1, 3, 1, 2]],
];

describe('maskedFill', () => {
  it('f32 with -Infinity, and finite values, masks of any dtype', async () => {
    for (const [sx, sm] of maskPairs) {
      const xData = randomData(size(sx), 8);
      const maskData = randomCond(size(sm), 9);
      const x = fromArray(xData, sx);
      for (const value of [-Infinity, 2.5, Infinity]) {
        const expected = maskedFillRef(xData, sx, maskData, sm, value);
        for (const mask of [fromArray(maskData, sm), fromArray(Int32Array.from(maskData), sm), fromArray(Uint32Array.from(maskData, Math.abs), sm)]) {
          const y = maskedFill(x, mask, value);
          expect(y.shape).toEqual(sx);
          expectClose(await y.toArray(), expected, { rtol: 0, atol: 0, label: `maskedFill ${mask.dtype} ${sx} ${sm} ${value}` });
          mask.dispose();
          y.dispose();
        }
      }
      x.dispose();
    }
  });

  it('-Infinity survives the upload exactly', async () => {
    const x = fromArray([1, 2, 3, 4]);
    const mask = fromArray(new Int32Array([0, 1, 1, 0]));
    const got = await maskedFill(x, mask, -Infinity).toArray();
    expect(got[1]).toBe(-Infinity);
    expect(got[2]).toBe(-Infinity);
    expect([got[0], got[3]]).toEqual([1, 4]);
    x.dispose();
    mask.dispose();
  });

  it('i32 data with an integer value', async () => {
    const [sx, sm] = [[4, 3, 5], [3, 1]];
    const xData = randomInts(size(sx), 10);
    const maskData = Int32Array.from(randomCond(size(sm), 11));
    const x = fromArray(xData, sx);
    const mask = fromArray(maskData, sm);
    const y = maskedFill(x, mask, -2147483648);
    expect(Array.from(await y.toArray())).toEqual(Array.from(maskedFillRef(xData, sx, maskData, sm, -2147483648)));
    expect(() => maskedFill(x, mask, 0.5)).toThrow(/0.5 is not representable as i32/);
    for (const t of [x, mask, y]) t.dispose();
  });

  it('backward zeroes the gradient where masked', async () => {
    for (const [sx, sm] of maskPairs) {
      await checkGradients({
        label: `maskedFill ${sx} ${sm}`,
        shapes: [sx, sm],
        data: [undefined, randomCond(size(sm), 12)],
        noGrad: [1],
        gpu: ([x, m]) => maskedFill(x, m, -7),
        ref: ([x, m]) => maskedFillRef(x, sx, m, sm, -7),
      });
    }
  });

  it('the mask must broadcast to x itself', () => {
    const x = fromArray(randomData(5, 1), [5]);
    const m = fromArray(new Int32Array(15), [3, 5]);
    expect(() => maskedFill(x, m, 0)).toThrow(/mask of shape \[3, 5\] does not broadcast to the input shape \[5\]/);
    x.dispose();
    m.dispose();
  });
});

const triShapes = [[1, 1], [3, 5], [5, 3], [2, 3, 7, 4], [2, 1, 3, 5, 2], [1, 17, 13]];
const diagonals = [0, 1, -1, 2, -3, 100, -100];

describe('triu / tril / causalMask', () => {
  it('triu and tril match the reference for every diagonal, f32 and i32', async () => {
    for (const shape of triShapes) {
      const data = randomData(size(shape), 13);
      const ints = randomInts(size(shape), 14);
      const x = fromArray(data, shape);
      const xi = fromArray(ints, shape);
      for (const diagonal of diagonals) {
        for (const [op, ref] of [[triu, triuRef], [tril, trilRef]] as const) {
          const y = op(x, diagonal);
          expectClose(await y.toArray(), ref(data, shape, diagonal), { rtol: 0, atol: 0, label: `${op.name} ${shape} ${diagonal}` });
          const yi = op(xi, diagonal);
          expect(Array.from(await yi.toArray())).toEqual(Array.from(ref(ints, shape, diagonal)));
          y.dispose();
          yi.dispose();
        }
      }
      x.dispose();
      xi.dispose();
    }
  });

  it('the reference matches torch.triu on a small example', () => {
    const data = [1, 2, 3, 4, 5, 6];
    expect(Array.from(triuRef(data, [2, 3]))).toEqual([1, 2, 3, 0, 5, 6]);
    expect(Array.from(triuRef(data, [2, 3], 1))).toEqual([0, 2, 3, 0, 0, 6]);
    expect(Array.from(trilRef(data, [2, 3], -1))).toEqual([0, 0, 0, 4, 0, 0]);
    expect(Array.from(causalMaskRef(3))).toEqual([0, 1, 1, 0, 0, 1, 0, 0, 0]);
  });

  it('triu / tril backward', async () => {
    for (const [shape, diagonal] of [[[3, 5], 0], [[2, 4, 3], -1], [[2, 1, 3, 5, 2], 1]] as const) {
      await checkGradients({ label: `triu ${shape} ${diagonal}`, shapes: [shape], gpu: ([x]) => triu(x, diagonal), ref: ([x]) => triuRef(x, shape, diagonal) });
      await checkGradients({ label: `tril ${shape} ${diagonal}`, shapes: [shape], gpu: ([x]) => tril(x, diagonal), ref: ([x]) => trilRef(x, shape, diagonal) });
    }
  });

  it('causalMask in f32, i32 and u32', async () => {
    for (const T of [1, 2, 5, 37]) {
      for (const dtype of ['f32', 'i32', 'u32'] as const) {
        const m = causalMask(T, { dtype });
        expect(m.shape).toEqual([T, T]);
        expect(m.dtype).toBe(dtype);
        expect(Array.from(await m.toArray())).toEqual(Array.from(causalMaskRef(T)));
        m.dispose();
      }
    }
    expect(causalMask(3).dtype).toBe('f32');
    expect(() => causalMask(-1)).toThrow(/non-negative integer/);
  });

  it('maskedFill(scores, causalMask(T), -Infinity) then softmax, as in the book', async () => {
    const [B, H, T] = [2, 3, 7];
    const shape = [B, H, T, T];
    const scoresData = randomData(size(shape), 15, -3, 3);
    const scores = fromArray(scoresData, shape);
    const mask = causalMask(T);
    const masked = maskedFill(scores, mask, -Infinity);
    const expected = maskedFillRef(scoresData, shape, causalMaskRef(T), [T, T], -Infinity);
    const got = await masked.toArray();
    expectClose(got, expected, { rtol: 0, atol: 0, label: 'masked scores' });
    expect(got.filter((v) => v === -Infinity).length).toBe((B * H * T * (T - 1)) / 2);
    const weights = softmax(masked);
    const w = await weights.toArray();
    expectClose(w, softmaxRef(expected, T), { rtol: 1e-5, atol: 1e-7, label: 'causal softmax' });
    expect(w.every((v, i) => (i % T > Math.floor(i / T) % T ? v === 0 : v > 0))).toBe(true);
    for (const t of [scores, mask, masked, weights]) t.dispose();
  });

  it('clear errors', () => {
    const x = fromArray([1, 2, 3]);
    expect(() => triu(x)).toThrow(/triu needs at least 2 dimensions, got shape \[3\]/);
    expect(() => tril(x)).toThrow(/tril needs at least 2 dimensions/);
    x.dispose();
  });

  it('forward and backward do not leak', () => {
    const before = memory();
    const x = fromArray(randomData(30, 1), [2, 3, 5]).requireGrad();
    const b = fromArray(randomData(5, 2), [5]).requireGrad();
    const cond = fromArray(new Int32Array([1, 0, 1, 1, 0]));
    const mask = fromArray(new Int32Array([0, 1, 0]), [3, 1]);
    const lower = tril(x, 1);
    const filled = maskedFill(lower, mask, 0);
    const y = where(cond, filled, b);
    const g = fromArray(randomData(30, 3), [2, 3, 5]);
    y.backward(g);
    expect(x.grad!.shape).toEqual([2, 3, 5]);
    expect(b.grad!.shape).toEqual([5]);
    for (const t of [x, b]) t.zeroGrad();
    for (const t of [x, b, cond, mask, lower, filled, y, g]) t.dispose();
    expect(memory().liveTensors).toBe(before.liveTensors);
    expect(memory().liveBuffers).toBe(before.liveBuffers);
  });
});
