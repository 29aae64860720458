/**
 * The step guard (optim/step-guard.ts): a GPU flag that a non-finite gradient sets, naming the first
 * bad step, and that fused AdamW and SGD read to leave parameters and moments untouched. Checked
 * bitwise against optimizers that never saw the bad steps, with the host counters put back.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, fromArray, init, memory, SGD, StepGuard, sync, type Optimizer, type Tensor } from '../src/node';
import { setArenaBindingLimitForTests } from '../src/optim/arena';
import { randomData } from './helpers';

beforeAll(async () => {
  await init();
});

const SHAPES = [[5], [3, 7], [300]];

function makeParams(seed: number): Tensor[] {
  return SHAPES.map((s, k) => fromArray(randomData(s.reduce((a, b) => a * b, 1), seed + k, -1, 1), s));
}

/** Gradients of step `step`; with `poison`, element 4 of parameter 1 is that value. */
function setGrads(params: Tensor[], step: number, poison?: number): void {
  params.forEach((p, k) => {
    const g = randomData(p.size, 100 * step + k, -2, 2);
    if (poison !== undefined && k === 1) g[4] = poison;
    p.grad?.dispose();
    p.grad = fromArray(g, p.shape);
  });
}

async function bits(t: Tensor): Promise<Uint32Array> {
  return new Uint32Array((await t.toArray()).buffer);
}

/** Every parameter and every state tensor, bitwise. */
async function state(opt: Optimizer): Promise<Uint32Array[]> {
  return Promise.all([...opt.params, ...opt.stateDict().tensors.values()].map(bits));
}

function disposeAll(opt: Optimizer): void {
  for (const p of opt.params) {
    p.zeroGrad();
    p.dispose();
  }
  opt.dispose();
}

describe('StepGuard', () => {
  it('marks the first step with an Inf or NaN value, whatever the order of the checks; read clears it', async () => {
    const guard = new StepGuard();
    const clean = fromArray(randomData(1000, 1, -1e30, 1e30), [1000]);
    guard.check([clean], 1);
    expect(await guard.read()).toBeNull();
    // Odd sizes: 777 = 194 quads + 1 trailing element; 3 elements: trailing ones only.
    for (const [size, at] of [[777, 776], [777, 0], [777, 389], [3, 2], [1, 0]]) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const data = randomData(size, 2, -1, 1);
        data[at] = bad;
        const t = fromArray(data, [size]);
        guard.check([clean, t], 9);
        guard.check([t], 4); // an earlier step checked later: the smaller step wins
        guard.check([t], 12);
        expect(await guard.read(), `${bad} at ${at} of ${size}`).toBe(4);
        expect(await guard.read()).toBeNull();
        t.dispose();
      }
    }
    const tiny = fromArray([1e30, -2], [2]);
    guard.check([tiny], 3);
    expect(await guard.read()).toBeNull();
    tiny.dispose();
    expect(() => guard.check([clean], 0)).toThrow('StepGuard step must be an integer in [1, 4294967294], got 0');
    const ints = fromArray([1, 2], [2], { dtype: 'i32' });
    expect(() => guard.check([ints], 1)).toThrow('StepGuard checks f32 values, got a i32 tensor of shape [2]');
    ints.dispose();
    clean.dispose();
    guard.dispose();
    expect(() => guard.check([], 1)).toThrow('StepGuard.check() after dispose()');
  });

  const optimizers: [string, (params: Tensor[]) => Optimizer][] = [
    ['fused AdamW', (p) => new AdamW(p, { lr: 1e-2, weightDecay: 0.1, fused: true })],
    ['SGD with momentum and weight decay', (p) => new SGD(p, { lr: 1e-2, momentum: 0.9, weightDecay: 0.1 })],
  ];
  for (const [name, make] of optimizers) {
    it(`${name}: a step with a NaN gradient and every step after it change nothing until the host looks`, async () => {
      const base = memory();
      const guarded = make(makeParams(3));
      const reference = make(makeParams(3));
      const guard = new StepGuard();
      expect(guarded.skipsOnGuard).toBe(true);
      // Step 1 is clean, step 2 has a NaN gradient, step 3 is clean again (skipped: the flag is sticky).
      const counters = [guarded.saveCounters()];
      for (const step of [1, 2, 3]) {
        counters.push(guarded.saveCounters());
        setGrads(guarded.params, step, step === 2 ? NaN : undefined);
        guard.checkGradients(guarded.params, step);
        guarded.step(guard);
        guarded.zeroGrad();
      }
      setGrads(reference.params, 1);
      reference.step();
      reference.zeroGrad();
      expect(await guard.read()).toBe(2);
      guarded.restoreCounters(counters[2]); // the counters from before step 2
      expect(await state(guarded)).toEqual(await state(reference));
      // From there both continue the same: the guarded optimizer is exactly where it was after step 1.
      for (const opt of [guarded, reference]) {
        setGrads(opt.params, 4);
        if (opt === guarded) guard.checkGradients(opt.params, 4);
        opt.step(opt === guarded ? guard : undefined);
        opt.zeroGrad();
      }
      expect(await guard.read()).toBeNull();
      expect(await state(guarded)).toEqual(await state(reference));
      if (guarded instanceof AdamW) expect(guarded.steps).toEqual([2, 2, 2]);
      guard.dispose();
      disposeAll(guarded);
      disposeAll(reference);
      await sync();
      expect(memory().liveTensors).toBe(base.liveTensors);
      expect(memory().liveBytes).toBe(base.liveBytes);
    });
  }

  it('checks a fused optimizer’s flat gradient buffers chunk by chunk (a binding smaller than a parameter)', async () => {
    setArenaBindingLimitForTests(512); // 128 elements: the 300-element parameter spans 3 chunks
    try {
      const opt = new AdamW(makeParams(5), { lr: 1e-2, fused: true });
      const guard = new StepGuard();
      setGrads(opt.params, 1);
      const g = (await opt.params[2].grad!.toArray()) as Float32Array;
      g[299] = Infinity;
      opt.params[2].grad!.dispose();
      opt.params[2].grad = fromArray(g, [300]);
      const before = await state(opt);
      guard.checkGradients(opt.params, 7);
      opt.step(guard);
      expect(await guard.read()).toBe(7);
      expect(await state(opt)).toEqual(before);
      guard.dispose();
      disposeAll(opt);
    } finally {
      setArenaBindingLimitForTests(null);
    }
  });

  it('an unfused AdamW cannot skip on the flag and says so', () => {
    const opt = new AdamW(makeParams(7), { lr: 1e-2 });
    const guard = new StepGuard();
    expect(opt.skipsOnGuard).toBe(false);
    setGrads(opt.params, 1);
    expect(() => opt.step(guard)).toThrow("this AdamW cannot skip its update on a StepGuard's flag (skipsOnGuard is false)");
    guard.dispose();
    disposeAll(opt);
  });
});
