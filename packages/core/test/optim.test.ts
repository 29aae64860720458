import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, clipGradNorm, fromArray, init, memory, randn, SGD, warmupCosine, type Optimizer, type Tensor } from '../src/node';
import { expectClose } from './helpers';

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

async function runAgainstTorch(make: (params: [string, Tensor][]) => Optimizer, expected: number[][][], steps = expected.length, start?: (ps: Tensor[]) => Optimizer): Promise<void> {
  const params = makeParams();
  const opt = start ? start(params) : make(params.map((p, k) => [`p${k}`, p]));
  for (let step = 0; step < steps; step++) {
    setGrads(params, step);
    opt.step();
    for (let k = 0; k < params.length; k++) {
      expectClose(await params[k].toArray(), expected[step][k], { rtol: 2e-6, atol: 1e-7, label: `step ${step} param ${k}` });
    }
  }
}

describe('optimizers vs PyTorch 1.13', () => {
  it('AdamW (decoupled decay, bias correction, skipped param without grad)', async () => {
    const o = fixture.adamw.options as { lr: number; betas: [number, number]; eps: number; weightDecay: number };
    await runAgainstTorch((ps) => new AdamW(ps, o), fixture.adamw.after);
  });
  it('SGD with momentum and dampening', async () => {
    await runAgainstTorch((ps) => new SGD(ps, fixture.sgd.options as { lr: number }), fixture.sgd.after);
  });
  it('SGD with Nesterov momentum', async () => {
    await runAgainstTorch((ps) => new SGD(ps, fixture.sgd_nesterov.options as { lr: number }), fixture.sgd_nesterov.after);
  });
  it('AdamW state dict: a fresh optimizer resumes identically', async () => {
    const o = fixture.adamw.options as { lr: number; betas: [number, number]; eps: number; weightDecay: number };
    const params = makeParams();
    const named = params.map((p, k) => [`p${k}`, p] as [string, Tensor]);
    const first = new AdamW(named, o);
    for (let step = 0; step < 2; step++) {
      setGrads(params, step);
      first.step();
    }
    const resumed = new AdamW(named, o);
    resumed.loadStateDict(first.stateDict());
    expect(resumed.steps).toEqual(first.steps);
    setGrads(params, 2);
    resumed.step();
    for (let k = 0; k < params.length; k++) expectClose(await params[k].toArray(), fixture.adamw.after[2][k], { rtol: 2e-6, atol: 1e-7 });
    const wrong = new AdamW([['p0', fromArray([1, 2], [2]).requireGrad()]], o);
    expect(() => wrong.loadStateDict(first.stateDict())).toThrow(/p0.exp_avg' has shape \[3, 5\], expected \[2\]/);
  });
});

describe('clipGradNorm', () => {
  it('matches torch.nn.utils.clip_grad_norm_', async () => {
    const params = makeParams();
    setGrads(params, 0);
    const norm = clipGradNorm(params, fixture.clip.maxNorm);
    expect(Math.abs((await norm.item()) - fixture.clip.norm) / fixture.clip.norm).toBeLessThan(1e-6);
    for (let k = 0; k < params.length; k++) expectClose(await params[k].grad!.toArray(), fixture.clip.grads[k], { rtol: 2e-6, atol: 1e-7 });
  });
  it('leaves small gradients alone and sums across chunks of a large one', async () => {
    const p = fromArray([0, 0, 0], [3]).requireGrad();
    p.grad = fromArray([0.1, -0.2, 0.2]);
    const norm = await clipGradNorm([p], 10).item();
    expect(norm).toBeCloseTo(0.3, 6);
    expectClose(await p.grad.toArray(), [0.1, -0.2, 0.2]);
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
    const norm = await clipGradNorm([p], 1e9).item();
    expect(Math.abs(norm - Math.sqrt(sq)) / Math.sqrt(sq)).toBeLessThan(1e-4);
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0 });
    opt.step();
    const after = await p.toArray();
    // First Adam step moves each weight by lr·sign(g) (up to eps).
    for (const i of [0, 1, 33_554_431, 33_554_432, n - 1]) {
      expect(after[i]).toBeCloseTo(before[i] - 0.1 * Math.sign(grad[i]), 5);
    }
    opt.dispose();
    p.zeroGrad();
    p.dispose();
  });
});

describe('warmupCosine', () => {
  it('matches the reference formula', () => {
    const [peak, initial, min, warmup, total] = [1e-3, 1e-5, 1e-4, 20, 120];
    const lr = warmupCosine({ peakLr: peak, initialLr: initial, minLr: min, warmupSteps: warmup, totalSteps: total });
    const ref = (s: number) =>
      s < warmup ? initial + (s * (peak - initial)) / warmup : min + (peak - min) * 0.5 * (1 + Math.cos((Math.PI * (s - warmup)) / (total - warmup)));
    for (const s of [0, 1, 10, 19, 20, 21, 70, 119, 120]) expect(lr(s)).toBeCloseTo(ref(s), 12);
    expect(lr(20)).toBeCloseTo(peak, 12);
    expect(lr(120)).toBeCloseTo(min, 12);
  });
});

describe('memory', () => {
  it('optimizer steps do not grow GPU memory', async () => {
    const params = makeParams();
    const opt = new AdamW(params);
    setGrads(params, 0);
    opt.step();
    await params[0].toArray();
    const base = memory();
    for (let i = 0; i < 20; i++) opt.step();
    await params[0].toArray();
    expect(memory().liveBytes).toBe(base.liveBytes);
    expect(memory().liveTensors).toBe(base.liveTensors);
  });
});
