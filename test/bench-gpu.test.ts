/**
 * The GPU benchmark's own logic (bench/gpu.ts, bench/gpu/*): the peak table, the time budget, the markdown
 * report, and that its batched decoding loop produces what `generate()` produces.
 */
import { describe, expect, it } from 'vitest';
import { init, manualSeed, memory } from '../packages/core/src/node';
import { generate, GPTModel, gptConfig } from '../packages/gpt/src/index';
import { ids } from '../bench/gpt';
import { markdown, type GpuBenchReport } from '../bench/gpu';
import { Budget } from '../bench/gpu/budget';
import { decodeOurs, trainFirstFitting, trainOurs } from '../bench/gpu/model';
import { f32Peak } from '../bench/gpu/peak';

describe('f32Peak', () => {
  it('finds cards by the names drivers report, specific names before families', () => {
    expect(f32Peak('NVIDIA H100 80GB HBM3').tflops).toBe(67);
    expect(f32Peak('NVIDIA H100 PCIe').tflops).toBe(51);
    expect(f32Peak('NVIDIA H100 NVL').tflops).toBe(60);
    expect(f32Peak('NVIDIA H200').tflops).toBe(67);
    expect(f32Peak('NVIDIA A100-SXM4-80GB').tflops).toBe(19.5);
    expect(f32Peak('NVIDIA L4').tflops).toBe(30.3);
    expect(f32Peak('NVIDIA L40S').tflops).toBe(91.6);
  });

  it('says n/a for an unknown adapter, and takes an override', () => {
    expect(f32Peak('llvmpipe (LLVM 15.0.6, 256 bits)')).toEqual({ tflops: null, source: expect.stringContaining('--peak-tflops') });
    expect(f32Peak('llvmpipe', 1.5)).toEqual({ tflops: 1.5, source: '--peak-tflops' });
    expect(() => f32Peak('x', Number.NaN)).toThrow(/^scratchgpt: --peak-tflops must be a positive number/);
    expect(() => f32Peak('x', 0)).toThrow(/^scratchgpt: --peak-tflops/);
  });
});

describe('Budget', () => {
  it('admits rows while time is left and names the skipped ones', () => {
    const budget = new Budget(60_000);
    expect(budget.allows('small row', 1_000)).toBe(true);
    expect(budget.allows('huge row', 120_000)).toBe(false);
    expect(budget.skipped).toEqual(['huge row']);
    const spent = new Budget(0);
    expect(spent.allows('anything')).toBe(false);
    expect(spent.skipped).toEqual(['anything']);
  });

  it('sizes repetitions to the target, at least one, at most maxReps', () => {
    const budget = new Budget(60_000);
    expect(budget.reps(100, 1_000, 5)).toBe(5);
    expect(budget.reps(300, 1_000, 5)).toBe(3);
    expect(budget.reps(5_000, 1_000, 5)).toBe(1);
    expect(new Budget(0).reps(1, 1_000, 5)).toBe(1);
  });
});

function report(): GpuBenchReport {
  const row = { benchmark: 'train x', shape: '8×1024', kernels: 'subgroups rows, flash attention', scratchgpt: 30_000, tfjs: 10_000, dispatches: 400, note: 'a|b' };
  return {
    date: '2026-11-28T00:00:00.000Z',
    quick: false,
    elapsedS: 200,
    budgetS: 330,
    machine: { node: 'v20', platform: 'linux', arch: 'x64', cpus: 16, loadavg: [1, 1, 1] },
    adapter: { name: 'NVIDIA H100 80GB HBM3', backend: 'dawn vulkan', description: 'NVIDIA H100 80GB HBM3', class: 'gpu' },
    features: ['shader-f16', 'subgroups'],
    limits: { maxBufferSize: 2 ** 32 },
    peak: { tflops: 67, source: 'H100 SXM (80GB HBM3) datasheet' },
    model: { name: 'GPT-2 124M', config: gptConfig('gpt2-small'), parameters: 163e6 },
    matmul: {
      validation: { simple: 0.5, shared128: 3 },
      cells: [
        { kernel: 'simple', size: 4096, gflops: 6700, percentPeak: 10, error: 0.2, note: '' },
        { kernel: 'shared128', size: 4096, gflops: 1, percentPeak: null, error: null, note: 'failed validation' },
        { kernel: 'tfjs', size: 4096, gflops: 3350, percentPeak: 5, error: 0.1, note: '' },
      ],
    },
    rows: [row],
    variantRows: [],
    f16: { available: true, rows: [{ op: 'attention', shape: '8×1024', f32Ms: 2, f16Ms: 1, maxDiff: 1e-3, note: '' }], note: 'op level' },
    skipped: ['variants: tree rows, rows attention (forced)'],
  };
}

describe('markdown report', () => {
  it('shows percent of peak, validation, ratios, dispatches, f16 and skipped rows', () => {
    const text = markdown(report()).join('\n');
    expect(text).toContain('| simple | ✓ (0.50) | 6700.0 (10.0%) |');
    expect(text).toContain('| shared128 | ✗ (3.0) |');
    expect(text).toContain('4096: 2.00×'); // best validated kernel / TF.js
    expect(text).toContain('| 30000.0 | 10000.0 | 3.00× | 400 | a\\|b |');
    expect(text).toContain('| attention | 8×1024 | 2.000 | 1.000 | 2.00× | 1.0e-3 |');
    expect(text).toContain('Skipped (time budget): variants: tree rows, rows attention (forced)');
    expect(text).toContain('67 TFLOP/s');
  });
});

describe('benchmark model loops', () => {
  const config = gptConfig('gpt2-small', { vocabSize: 97, contextLength: 32, embDim: 32, nHeads: 4, nLayers: 2, dropRate: 0 });

  it('batch-1 KV-cache decoding gives generate()’s greedy tokens, with a dispatch count', async () => {
    await init();
    const d = await decodeOurs(config, 1, 5, 4);
    manualSeed(2); // decodeOurs's seed: the same weights
    const model = new GPTModel(config);
    const prompt = Array.from(ids(5, config.vocabSize, 3));
    const want = (await generate(model, prompt, { maxNewTokens: 6 })).slice(5);
    model.dispose();
    expect(d.firstSequence).toEqual(want);
    expect(d.dispatchesPerStep).toBeGreaterThan(0);
    expect(d.tokensPerSecond).toBeGreaterThan(0);
  });

  it('batch-8 decoding keeps sequences apart, and a training step reports loss, dispatches and weights', async () => {
    await init();
    const live = memory().liveBytes;
    // Sequence 0 of the batch has batch 1's prompt (ids depend on the position only): same tokens.
    const [one, eight] = [await decodeOurs(config, 1, 5, 4), await decodeOurs(config, 8, 5, 4)];
    expect(eight.firstSequence).toEqual(one.firstSequence);
    expect(eight.dispatchesPerStep).toBe(one.dispatchesPerStep);
    const t = await trainOurs(config, 2, 8, new Budget(10_000), { keepWeights: true, maxReps: 1 });
    expect(Math.abs(t.firstLoss - Math.log(config.vocabSize))).toBeLessThan(1); // random init: near ln V
    expect(t.dispatchesPerStep).toBeGreaterThan(0);
    // A shape that cannot run (T beyond the context) is reported, and the next one is measured.
    const fitted = await trainFirstFitting(config, [[1, 64], [2, 8]], new Budget(10_000));
    expect(fitted.failures).toHaveLength(1);
    expect(fitted.failures[0]).toMatch(/^1×64: scratchgpt: /);
    expect([fitted.result?.batch, fitted.result?.seq]).toEqual([2, 8]);
    expect(memory().liveBytes).toBe(live); // models, caches, optimizer state all freed
    const model = new GPTModel(config);
    expect(t.weights?.map(([name]) => name)).toEqual(model.namedParameters().map(([name]) => name));
    model.dispose();
  });
});
