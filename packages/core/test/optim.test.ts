import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AdamW,
  clipGradNorm,
  cosineDecay,
  fromArray,
  init,
  linearWarmup,
  memory,
  randn,
  scope,
  SGD,
  warmupCosine,
  type Optimizer,
  type Tensor,
} from '../src/node';
import { clipGradNormRef } from '../src/testing';
import { expectClose, randomData } from './helpers';

interface Fixture {
  shapes: number[][];
  params: number[][];
  grads: (number[] | null)[][];
  adamw: { options: Record<string, unknown>; after: number[][][] };
  sgd: { options: Record<string, unknown>; after: number[][][] };
  sgd_nesterov: { options: Record<string, unknown>; after: number[][][] };
  clip: { maxNorm: number; norm: number; grads: number[][] };
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/optim.json', import.meta.url), 'utf8')) as Fixture;

beforeAll(async () => {
  await init();
});

function makeParams(): Tensor[] {
  return fixture.params.map((data, k) => fromArray(data, fixture.shapes[k]).requireGrad());
}

function setGrads(params: Tensor[], step: number): void {
  params.forEach((p, k) => {
    p.zeroGrad();
    const g = fixture.grads[step][k];
    p.grad = g ? fromArray(g, fixture.shapes[k]) : null;
  });
}

/** Largest |a − e| / max(|e|, 1e-3) (printed per step, like the golden model tests). */
function maxRelDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1e-3));
  return worst;
}

async function runAgainstTorch<O extends Optimizer>(label: string, make: (params: [string, Tensor][]) => O, expected: number[][][]): Promise<{ opt: O; params: Tensor[] }> {
  const params = makeParams();
  const buffers = params.map((p) => p.buffer);
  const opt = make(params.map((p, k) => [`p${k}`, p]));
  for (let step = 0; step < expected.length; step++) {
    setGrads(params, step);
    opt.step();
    const diffs: string[] = [];
    for (let k = 0; k < params.length; k++) {
      const actual = await params[k].toArray();
      diffs.push(maxRelDiff(actual, expected[step][k]).toExponential(1));
      expectClose(actual, expected[step][k], { rtol: 1e-6, atol: 1e-7, label: `${label} step ${step} param ${k}` });
    }
    console.log(`${label} vs torch, step ${step}: max rel diff per param ${diffs.join(' ')}`);
  }
  // Updated in place: models keep referencing the same buffers.
  params.forEach((p, k) => expect(p.buffer).toBe(buffers[k]));
  return { opt, params };
}

function dispose(opt: Optimizer, params: Tensor[]): void {
  opt.dispose();
  for (const p of params) {
    p.zeroGrad();
    p.dispose();
  }
}

type AdamWFixtureOptions = { lr: number; betas: [number, number]; eps: number; weightDecay: number };

describe('optimizers vs PyTorch 1.13', () => {
  it('AdamW (decoupled decay, bias correction, skipped param without grad)', async () => {
    const { opt, params } = await runAgainstTorch('AdamW', (ps) => new AdamW(ps, fixture.adamw.options as AdamWFixtureOptions), fixture.adamw.after);
    // p1 had no gradient at step 1: skipped, and its step count did not advance.
    expect(opt.steps).toEqual([3, 2, 3]);
    dispose(opt, params);
  });
  it('SGD with momentum, dampening and weight decay', async () => {
    const { opt, params } = await runAgainstTorch('SGD', (ps) => new SGD(ps, fixture.sgd.options as { lr: number }), fixture.sgd.after);
    dispose(opt, params);
  });
  it('SGD with Nesterov momentum', async () => {
    const { opt, params } = await runAgainstTorch('SGD nesterov', (ps) => new SGD(ps, fixture.sgd_nesterov.options as { lr: number }), fixture.sgd_nesterov.after);
    dispose(opt, params);
  });
  it('AdamW state dict: a fresh optimizer resumes identically (moments, steps, hyperparameters)', async () => {
    const o = fixture.adamw.options as AdamWFixtureOptions;
    const params = makeParams();
    const named = params.map((p, k) => [`p${k}`, p] as [string, Tensor]);
    const first = new AdamW(named, o);
    for (let step = 0; step < 2; step++) {
      setGrads(params, step);
      first.step();
    }
    const state = first.stateDict();
    expect([...state.tensors.keys()]).toEqual(['p0.exp_avg', 'p0.exp_avg_sq', 'p1.exp_avg', 'p1.exp_avg_sq', 'p2.exp_avg', 'p2.exp_avg_sq']);
    expect(JSON.parse(JSON.stringify(state.meta))).toEqual({ type: 'AdamW', ...o, steps: { p0: 2, p1: 1, p2: 2 } });
    // Built with other hyperparameters: loading restores the saved ones (as torch's load_state_dict does).
    const resumed = new AdamW(named, { lr: 0.5, betas: [0.5, 0.5], eps: 1, weightDecay: 0 });
    resumed.loadStateDict(state);
    expect(resumed.steps).toEqual([2, 1, 2]);
    expect([resumed.lr, resumed.betas, resumed.eps, resumed.weightDecay]).toEqual([o.lr, o.betas, o.eps, o.weightDecay]);
    first.dispose();
    setGrads(params, 2);
    resumed.step();
    for (let k = 0; k < params.length; k++) expectClose(await params[k].toArray(), fixture.adamw.after[2][k], { rtol: 1e-6, atol: 1e-7, label: `resumed param ${k}` });
    resumed.loadStateDict(resumed.stateDict()); // loading its own state is a no-op, not a GPU error
    expect(resumed.steps).toEqual([3, 2, 3]);

    const wrong = new AdamW([['p0', fromArray([1, 2], [2]).requireGrad()]], o);
    expect(() => wrong.loadStateDict(resumed.stateDict())).toThrow(/p0.exp_avg' has shape \[3, 5\], expected \[2\]/);
    expect(() => wrong.loadStateDict({ tensors: new Map(), meta: { type: 'SGD' } })).toThrow(/cannot load SGD state into AdamW/);
    const noSteps = resumed.stateDict();
    noSteps.meta = { ...noSteps.meta, steps: {} };
    expect(() => resumed.loadStateDict(noSteps)).toThrow(/no valid step count for 'p0'/);
    expect(resumed.steps).toEqual([3, 2, 3]); // a failed load changes nothing
    wrong.dispose();
    wrong.params[0].dispose();
    dispose(resumed, params);
  });
  it('SGD state dict: momentum buffers resume identically', async () => {
    const o = fixture.sgd.options as { lr: number };
    const params = makeParams();
    const named = params.map((p, k) => [`p${k}`, p] as [string, Tensor]);
    const first = new SGD(named, o);
    for (let step = 0; step < 2; step++) {
      setGrads(params, step);
      first.step();
    }
    const resumed = new SGD(named, { lr: 1, momentum: 0.5 });
    resumed.loadStateDict(first.stateDict());
    expect([resumed.lr, resumed.momentum, resumed.dampening, resumed.weightDecay]).toEqual([0.1, 0.9, 0.1, 0.01]);
    first.dispose();
    setGrads(params, 2);
    resumed.step();
    for (let k = 0; k < params.length; k++) expectClose(await params[k].toArray(), fixture.sgd.after[2][k], { rtol: 1e-6, atol: 1e-7, label: `resumed param ${k}` });
    const plain = new SGD(named, { lr: 1 });
    expect(() => plain.loadStateDict(resumed.stateDict())).toThrow(/momentum 0.9 but this optimizer was built with momentum 0/);
    plain.dispose();
    dispose(resumed, params);
  });
  it('learning rate is a uniform: setLr changes the next step without new pipelines', async () => {
    const p = fromArray([1, -2, 3], [3]).requireGrad();
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = fromArray([1, 1, 1], [3]);
    opt.step();
    expect(opt.setLr(0.5)).toBe(opt);
    expect(opt.lr).toBe(0.5);
    opt.step();
    expectClose(await p.toArray(), [1 - 0.6, -2 - 0.6, 3 - 0.6]);
    expect(() => opt.setLr(-1)).toThrow(/invalid learning rate -1/);
    expect(() => (opt.lr = Number.NaN)).toThrow(/invalid learning rate NaN/);
    dispose(opt, [p]);
  });
  it('rejects invalid hyperparameters, gradients and parameters', () => {
    const p = fromArray([1, 2], [2]).requireGrad();
    expect(() => new AdamW([p], { betas: [0.9, 1] })).toThrow(/invalid AdamW beta2 1/);
    expect(() => new AdamW([p], { eps: -1 })).toThrow(/invalid AdamW eps -1/);
    expect(() => new AdamW([p], { weightDecay: -0.1 })).toThrow(/invalid AdamW weight decay -0.1/);
    expect(() => new SGD([p], { lr: 0.1, momentum: -1 })).toThrow(/invalid SGD momentum -1/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/nesterov needs momentum > 0/);
    expect(() => new SGD([p, p], { lr: 0.1 })).toThrow(/same parameter appears twice/);
    const ids = fromArray([1, 2], [2], { dtype: 'i32' });
    expect(() => new SGD([['ids', ids]], { lr: 0.1 })).toThrow(/'ids' is i32/);
    const opt = new SGD([['w', p]], { lr: 0.1 });
    p.grad = fromArray([1, 2, 3], [3]);
    expect(() => opt.step()).toThrow(/gradient of 'w' is \[3\] f32, parameter is \[2\] f32/);
    expect(() => clipGradNorm([p], -1)).toThrow(/invalid clipGradNorm maxNorm -1/);
    ids.dispose();
    dispose(opt, [p]);
  });
});

describe('clipGradNorm', () => {
  it('matches torch.nn.utils.clip_grad_norm_', async () => {
    const params = makeParams();
    setGrads(params, 0);
    const norm = clipGradNorm(params, fixture.clip.maxNorm);
    expect(Math.abs((await norm.item()) - fixture.clip.norm) / fixture.clip.norm).toBeLessThan(1e-6);
    for (let k = 0; k < params.length; k++) expectClose(await params[k].grad!.toArray(), fixture.clip.grads[k], { rtol: 2e-6, atol: 1e-7 });
    norm.dispose();
    for (const p of params) {
      p.zeroGrad();
      p.dispose();
    }
  });
  it('matches the float64 reference over many parameters (odd sizes, several partial sums, one without grad)', async () => {
    const shapes = [[3, 5], [4097], [1], [257, 33], [13]];
    const grads = shapes.map((s, k) => (k === 4 ? null : randomData(s.reduce((a, b) => a * b, 1), 10 + k, -2, 2)));
    for (const maxNorm of [0, 1, 20, 1e6, Infinity]) {
      const params = shapes.map((s, k) => {
        const p = fromArray(new Float32Array(s.reduce((a, b) => a * b, 1)), s).requireGrad();
        const g = grads[k];
        p.grad = g ? fromArray(g, s) : null;
        return [`w${k}`, p] as [string, Tensor];
      });
      const ref = clipGradNormRef(grads, maxNorm);
      const norm = clipGradNorm(params, maxNorm);
      expect(Math.abs((await norm.item()) - ref.norm) / ref.norm, `maxNorm ${maxNorm}: norm`).toBeLessThan(1e-6);
      for (const [k, [, p]] of params.entries()) {
        if (ref.grads[k] === null) expect(p.grad).toBeNull();
        else expectClose(await p.grad!.toArray(), ref.grads[k]!, { rtol: 2e-6, atol: 1e-12, label: `maxNorm ${maxNorm} grad ${k}` });
      }
      norm.dispose();
      for (const [, p] of params) {
        p.zeroGrad();
        p.dispose();
      }
    }
  });
  it('leaves small gradients alone and returns 0 when no parameter has a gradient', async () => {
    const p = fromArray([0, 0, 0], [3]).requireGrad();
    p.grad = fromArray([0.1, -0.2, 0.2]);
    const norm = clipGradNorm([p], 10);
    expect(await norm.item()).toBeCloseTo(0.3, 6);
    expectClose(await p.grad.toArray(), [0.1, -0.2, 0.2]);
    p.zeroGrad();
    const none = clipGradNorm([p], 10);
    expect(await none.item()).toBe(0);
    for (const t of [norm, none, p]) t.dispose();
  });
});

describe('large parameters', () => {
  it('AdamW and clipping on a parameter larger than one storage binding', async () => {
    const n = 34_000_001; // 136 MB > 128 MiB
    const p = randn([n], { seed: 1 }).requireGrad();
    p.grad = randn([n], { seed: 2 });
    const before = await p.toArray();
    const grad = await p.grad.toArray();
    let sq = 0;
    for (const g of grad) sq += g * g;
    const normTensor = clipGradNorm([p], 1e9);
    const norm = await normTensor.item();
    normTensor.dispose();
    expect(Math.abs(norm - Math.sqrt(sq)) / Math.sqrt(sq)).toBeLessThan(1e-4);
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.1 });
    opt.step();
    opt.step(); // same gradient again: the bias-corrected moments are g and g², so the move repeats
    const after = await p.toArray();
    // Each Adam step here moves a weight by lr·sign(g) (up to eps) after decaying it by 1 − lr·wd.
    for (const i of [0, 1, 33_554_431, 33_554_432, 33_554_433, n - 1]) {
      const once = before[i] * 0.99 - 0.1 * Math.sign(grad[i]);
      expect(after[i], `element ${i}`).toBeCloseTo(once * 0.99 - 0.1 * Math.sign(grad[i]), 5);
    }
    expect(opt.steps).toEqual([2]);
    opt.dispose();
    p.zeroGrad();
    p.dispose();
  });
});

describe('learning-rate schedules', () => {
  // The book's chapter-5 appendix loop, written out independently.
  function bookLr(step: number, peak: number, initial: number, min: number, warmup: number, total: number): number {
    if (step < warmup) return initial + step * ((peak - initial) / warmup);
    const progress = (step - warmup) / (total - warmup);
    return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
  }

  it('warmupCosine matches the book at warmup, peak, middle and end', () => {
    const [peak, initial, min, warmup, total] = [1e-3, 1e-5, 1e-4, 20, 120];
    const lr = warmupCosine({ peakLr: peak, initialLr: initial, minLr: min, warmupSteps: warmup, totalSteps: total });
    for (const s of [0, 1, 10, 19, 20, 21, 70, 119, 120]) expect(lr(s)).toBeCloseTo(bookLr(s, peak, initial, min, warmup, total), 15);
    expect(lr(0)).toBe(initial);
    expect(lr(20)).toBeCloseTo(peak, 15);
    expect(lr(70)).toBeCloseTo((peak + min) / 2, 15);
    expect(lr(120)).toBeCloseTo(min, 15);
    expect(lr(500)).toBeCloseTo(min, 15); // stays at the floor past the end
    const noWarmup = warmupCosine({ peakLr: 1, warmupSteps: 0, totalSteps: 10 });
    expect(noWarmup(0)).toBe(1);
    expect(noWarmup(5)).toBeCloseTo(0.5, 15);
    expect(() => warmupCosine({ peakLr: 1, warmupSteps: 10, totalSteps: 5 })).toThrow(/totalSteps \(5\) < warmupSteps \(10\)/);
    expect(() => warmupCosine({ peakLr: 1, warmupSteps: 1.5, totalSteps: 5 })).toThrow(/invalid warmupCosine warmupSteps 1.5/);
  });
  it('linearWarmup and cosineDecay', () => {
    const warm = linearWarmup({ peakLr: 2, initialLr: 1, warmupSteps: 4 });
    expect([0, 1, 2, 3, 4, 9].map(warm)).toEqual([1, 1.25, 1.5, 1.75, 2, 2]);
    expect(linearWarmup({ peakLr: 3, warmupSteps: 0 })(0)).toBe(3);
    const decay = cosineDecay({ peakLr: 1, minLr: 0.1, decaySteps: 8 });
    for (const s of [0, 1, 4, 7, 8]) expect(decay(s)).toBeCloseTo(0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * s) / 8)), 15);
    expect(decay(100)).toBeCloseTo(0.1, 15);
  });
});

describe('memory', () => {
  it('optimizer steps and clipping do not grow GPU memory; dispose frees the state', async () => {
    const base = memory();
    const params = makeParams();
    const adamw = new AdamW(params);
    const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
    setGrads(params, 0);
    adamw.step();
    sgd.step();
    await params[0].toArray();
    const steady = memory();
    for (let i = 0; i < 20; i++) {
      scope(() => {
        clipGradNorm(params, 0.5);
        adamw.step();
        sgd.step();
      });
    }
    await params[0].toArray();
    expect(memory().liveBytes).toBe(steady.liveBytes);
    expect(memory().liveTensors).toBe(steady.liveTensors);
    adamw.dispose();
    sgd.dispose();
    for (const p of params) {
      p.zeroGrad();
      p.dispose();
    }
    expect(memory().liveTensors).toBe(base.liveTensors);
    expect(memory().liveBytes).toBe(base.liveBytes);
  });
});
