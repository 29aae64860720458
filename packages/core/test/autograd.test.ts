/**
 * The gradient engine itself (op gradients are tested per op against finite differences): un-broadcast
 * of rule results, thunks run only for inputs that need them, ownership of what rules return, the
 * error for a second backward, `.grad` freed with its tensor, and `noGrad` under concurrency.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { add, fromArray, init, isGradEnabled, memory, mul, mulScalar, noGrad, record, scope, sum, zeros, type Tensor } from '../src/node';
import { expectClose } from './helpers';

beforeAll(async () => {
  await init();
});

/** `out` (a fresh tensor of `shape`) recorded as an op of `inputs` with the given thunks. */
function fakeOp(shape: number[], inputs: Tensor[], thunks: ((g: Tensor) => (() => Tensor) | null)[]): Tensor {
  return record(zeros(shape), 'fake', inputs, [], (g) => thunks.map((t) => t(g)));
}

describe('gradient engine', () => {
  it('sums a rule result of the broadcast shape down to the input, reshapes one of equal size', async () => {
    const before = memory().liveTensors;
    const a = fromArray([1, 2, 3]).requireGrad();
    const b = fromArray([1, 2, 3, 4], [2, 2]).requireGrad();
    const out = fakeOp([2, 3], [a, b], [() => () => fromArray([1, 2, 3, 10, 20, 30], [2, 3]), () => () => fromArray([5, 6, 7, 8])]);
    const g = zeros([2, 3]);
    out.backward(g);
    expect(a.grad!.shape).toEqual([3]);
    expectClose(await a.grad!.toArray(), [11, 22, 33]);
    expect(b.grad!.shape).toEqual([2, 2]);
    expectClose(await b.grad!.toArray(), [5, 6, 7, 8]);
    for (const t of [a, b, out, g]) t.dispose();
    expect(memory().liveTensors).toBe(before);
  });

  it('rejects a rule result that does not broadcast to its input, naming both shapes, and frees what it made', () => {
    const before = memory().liveTensors;
    const a = fromArray([1, 2, 3]).requireGrad();
    const out = fakeOp([3], [a], [() => () => zeros([2])]);
    const g = zeros([3]);
    expect(() => out.backward(g)).toThrow(/scratchgpt: fake backward produced a gradient of 2 elements \(shape \[2\]\), not broadcastable to the input of shape \[3\]/);
    for (const t of [a, out, g]) t.dispose();
    expect(memory().liveTensors).toBe(before);
  });

  it('runs only the thunks of inputs that need a gradient, and owns what they return', async () => {
    const before = memory().liveTensors;
    const a = fromArray([1, 2]).requireGrad();
    const frozen = fromArray([3, 4]);
    let ran = 0;
    // Both thunks hand back the incoming gradient itself: the engine must not free it twice.
    const out = fakeOp([2], [a, frozen, a], [(g) => () => g, () => () => (ran++, zeros([2])), (g) => () => g]);
    const up = fromArray([5, 7]);
    out.backward(up);
    expect(ran).toBe(0);
    expect(frozen.grad).toBeNull();
    expectClose(await a.grad!.toArray(), [10, 14]);
    expect(up.isDisposed).toBe(false);
    for (const t of [a, frozen, out, up]) t.dispose();
    expect(memory().liveTensors).toBe(before);
  });

  it('backpropagates from a leaf into its own .grad', async () => {
    const x = fromArray([1, 2, 3]).requireGrad();
    const g = fromArray([4, 5, 6]);
    x.backward(g);
    expectClose(await x.grad!.toArray(), [4, 5, 6]);
    x.dispose();
    g.dispose();
  });

  it('a second backward() on the same graph throws a clear error and changes nothing', async () => {
    const before = memory().liveTensors;
    const x = fromArray([1, 2, 3]).requireGrad();
    const loss = scope(() => sum(mul(x, x)));
    loss.backward();
    const grad = await x.grad!.toArray();
    const live = memory().liveTensors;
    expect(() => loss.backward()).toThrow(/scratchgpt: backward\(\) reached a tensor of shape \[\] whose graph is gone: backward\(\) was already called on this graph/);
    expect(memory().liveTensors).toBe(live);
    expectClose(await x.grad!.toArray(), grad);
    loss.dispose();
    x.dispose();
    expect(memory().liveTensors).toBe(before);
  });

  it('backward() through part of a graph freed by an earlier backward() throws instead of dropping gradients', () => {
    const x = fromArray([1, 2, 3]).requireGrad();
    const h = mulScalar(x, 2);
    const first = sum(h);
    const second = sum(mul(h, h));
    first.backward();
    expect(() => second.backward()).toThrow(/backward\(\) reached a tensor of shape \[3\] whose graph is gone/);
    for (const t of [x, h, first, second]) t.dispose();
  });

  it('dispose() frees .grad too', () => {
    const before = memory();
    const x = fromArray([1, 2, 3]).requireGrad();
    scope(() => sum(mul(x, x)).backward());
    const grad = x.grad!;
    expect(grad.isDisposed).toBe(false);
    x.dispose();
    expect(grad.isDisposed).toBe(true);
    expect(x.grad).toBeNull();
    expect(memory().liveTensors).toBe(before.liveTensors);
    expect(memory().liveBytes).toBe(before.liveBytes);
  });

  it('a scope may return the .grad of a tensor it frees', async () => {
    const grad = scope(() => {
      const x = fromArray([1, 2, 3]).requireGrad();
      sum(mul(x, x)).backward();
      return x.grad!;
    });
    expectClose(await grad.toArray(), [2, 4, 6]);
    grad.dispose();
  });
});

describe('noGrad', () => {
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('overlapping async calls leave recording on once all have settled, in either order', async () => {
    for (const [first, second] of [
      [5, 20],
      [20, 5],
    ]) {
      const a = noGrad(async () => tick(first));
      const b = noGrad(async () => tick(second));
      expect(isGradEnabled()).toBe(false);
      await Promise.race([a, b]);
      expect(isGradEnabled()).toBe(false); // the other one is still pending
      await Promise.all([a, b]);
      expect(isGradEnabled()).toBe(true);
    }
  });

  it('nests synchronously, restores after a throw, and records nothing inside', () => {
    const x = fromArray([1, 2]).requireGrad();
    const y = noGrad(() => noGrad(() => add(x, x)));
    expect(y.requiresGrad).toBe(false);
    expect(() =>
      noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    expect(add(x, x).requiresGrad).toBe(true);
    x.dispose();
    y.dispose();
  });
});
