/**
 * Mixed-precision training: `autocast('f16', …)` on the PyTorch golden model (the accuracy cost of
 * f16 products against the f32 fixture: logits, loss, every gradient, an AdamW run), and the training
 * loop's `precision: 'f16'` and `gradScaler` options (f32 master weights, dynamic loss scaling).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { autocast, crossEntropy, fromArray, GradScaler, init, manualSeed, memory, mulScalar, noGrad, seededRandom } from '@scratchgpt/core/node';
import { batchLoss, DataLoader, GPTModel, gptConfig, SlidingWindowDataset, trainLoop, trainModel, type TokenBatch } from '../src/index.node';
import { deviation, goldenAdamWLosses, goldenConfig, goldenModel, gradientDeviations, tensorOf } from './golden';

beforeAll(async () => {
  await init();
});

const ids = tensorOf('input_ids');
const targets = tensorOf('target_ids');
const [B, T] = ids.shape;
const batch: TokenBatch = { inputs: ids.data as Int32Array, targets: targets.data as Int32Array, shape: [B, T] as const };

/** Unit roundoff of binary16. */
const HALF_U = 2 ** -11;
/**
 * Operand roundings a logit passes through in series: per block the Q/K/V projections, out_proj and
 * the two feed-forward products, then the head, each rounding both of its operands; to first order
 * each perturbs its output by at most 2u of the scale of its terms.
 */
const BOUND = 2 * (4 * goldenConfig.nLayers + 1) * HALF_U;

describe("autocast('f16') on the golden model (accuracy cost vs PyTorch f32)", () => {
  it('logits and loss within the f16 rounding bound (and visibly not f32)', async () => {
    const model = goldenModel();
    model.eval();
    const x = fromArray(ids.data, ids.shape, { dtype: 'i32' });
    const logits = noGrad(() => autocast('f16', () => model.forward(x)));
    const d = deviation(await logits.toArray(), tensorOf('logits').data);
    const loss = noGrad(() => crossEntropy(logits.reshape([B * T, goldenConfig.vocabSize]), fromArray(targets.data, [B * T], { dtype: 'i32' })));
    const torchLoss = tensorOf('loss').data[0];
    const lossRel = Math.abs((await loss.item()) - torchLoss) / torchLoss;
    console.log(`autocast f16 golden logits: max |Δ| ${d.maxAbs.toExponential(2)} (scale ${d.scale.toFixed(2)}), mean rel ${d.meanRel.toExponential(2)}; loss rel ${lossRel.toExponential(2)} (bound ${BOUND.toExponential(2)})`);
    expect(d.maxAbs / d.scale).toBeLessThan(BOUND);
    expect(d.maxAbs).toBeGreaterThan(1e-5); // f32 products are within 6e-7 of the fixture
    expect(lossRel).toBeLessThan(BOUND);
    for (const t of [x, logits, loss]) t.dispose();
    model.dispose();
  });

  it('every parameter gradient (f32, from the products of the halves) within 0.5% of its scale', async () => {
    const model = goldenModel();
    const loss = autocast('f16', () => batchLoss(model, batch));
    loss.backward();
    const deviations = await gradientDeviations(model);
    for (const { name, dtype, rel } of deviations) {
      expect(dtype, name).toBe('f32');
      expect(rel, `grad ${name}`).toBeLessThan(5e-3);
    }
    const worst = Math.max(...deviations.map((d) => d.rel));
    console.log(`autocast f16 golden gradients: worst max-rel diff over ${deviations.length} tensors ${worst.toExponential(2)}`);
    loss.dispose();
    model.dispose();
  });

  it('5 AdamW steps on f32 master weights follow the PyTorch f32 loss curve within 1e-4', async () => {
    const model = goldenModel();
    const { ours, torch } = await goldenAdamWLosses(model, (m) => autocast('f16', () => batchLoss(m, batch)));
    console.log(`autocast f16 golden AdamW losses: ${ours.map((l) => l.toFixed(6)).join(' ')} | torch f32 ${torch.map((l) => l.toFixed(6)).join(' ')}`);
    expect(ours).toHaveLength(5);
    ours.forEach((l, i) => expect(Math.abs(l - torch[i]) / torch[i]).toBeLessThan(1e-4));
    expect(ours[4]).toBeLessThan(ours[0]);
    model.dispose();
  });
});

const config = gptConfig({ vocabSize: 64, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: false, tieWeights: false });

function tinyModel(): GPTModel {
  manualSeed(5);
  return new GPTModel(config);
}

function loader(n: number): DataLoader {
  const random = seededRandom(9);
  const tokens = Array.from({ length: n * 8 + 1 }, () => Math.floor(random() * 64));
  return new DataLoader(new SlidingWindowDataset(tokens, 8, 8), { batchSize: 2 });
}

async function weights(model: GPTModel): Promise<Float32Array[]> {
  return Promise.all(model.parameters().map((p) => p.toArray() as Promise<Float32Array>));
}

describe("trainModel with precision: 'f16' and a GradScaler", () => {
  it("'f16' trains like 'f32' (losses within 1e-2) and differs from it; nothing is left behind but the model", async () => {
    const data = loader(12);
    const run = async (precision: 'f32' | 'f16') => {
      const before = memory().liveTensors;
      const model = tinyModel();
      const result = await trainModel(model, data, data, { lr: 1e-3, evalFreq: 2, evalIter: 2, precision });
      const left = memory().liveTensors - before;
      model.dispose();
      return { result, left };
    };
    const base = await run('f32');
    const half = await run('f16');
    expect(half.result.trainLosses.length).toBe(base.result.trainLosses.length);
    half.result.trainLosses.forEach((l, i) => expect(Math.abs(l - base.result.trainLosses[i]), `eval ${i}`).toBeLessThan(1e-2));
    expect(half.result.trainLosses.at(-1)!).toBeLessThan(half.result.trainLosses[0]);
    expect(half.result.trainLosses).not.toEqual(base.result.trainLosses);
    // No halves or saved tensors outlive the run: exactly what the f32 run leaves (the model).
    expect(half.left).toBe(base.left);
  });

  it('a power-of-two loss scale gives the bits of an unscaled run (f32 gradients, exact scaling)', async () => {
    const data = loader(8);
    const plain = tinyModel();
    await trainModel(plain, data, data, { lr: 1e-3, evalFreq: Infinity, precision: 'f16', maxGradNorm: 1 });
    const scaled = tinyModel();
    const scaler = new GradScaler({ initScale: 1024, growthInterval: 2 });
    await trainModel(scaled, data, data, { lr: 1e-3, evalFreq: Infinity, precision: 'f16', maxGradNorm: 1, gradScaler: scaler });
    const [a, b] = [await weights(plain), await weights(scaled)];
    a.forEach((w, i) => expect(Array.from(b[i])).toEqual(Array.from(w)));
    expect(scaler.getScale()).toBe(1024 * 2 ** 2); // 4 finite steps, growth every 2
    for (const m of [plain, scaled]) m.dispose();
    scaler.dispose();
  });

  it('overflowing scaled gradients skip the step and back the scale off until they fit; training goes on', async () => {
    const data = loader(8);
    const model = tinyModel();
    const start = await weights(model);
    // A loss of order 2^40 scaled by 2^100 overflows f32 in the backward pass: Inf gradients until the scale has backed off.
    const scaler = new GradScaler({ initScale: 2 ** 100 });
    const loss = (m: GPTModel, b: TokenBatch) => {
      const l = batchLoss(m, b);
      const big = mulScalar(l, 2 ** 40);
      l.dispose();
      return big;
    };
    const result = await trainLoop(model, data, data, { loss, lr: 1e-3, evalFreq: Infinity, epochs: 10, precision: 'f16', gradScaler: scaler });
    const skipped = result.skippedSteps.length;
    console.log(`GradScaler in trainLoop: ${skipped} skipped steps of ${result.finalStep}, scale 2^${Math.log2(scaler.getScale())}`);
    expect(skipped).toBeGreaterThan(0);
    expect(result.skippedSteps).toEqual(Array.from({ length: skipped }, (_, i) => i + 1));
    expect(scaler.getScale()).toBe(2 ** (100 - skipped));
    expect(result.finalStep).toBeGreaterThan(skipped + 5);
    const end = await weights(model);
    for (const w of end) for (const v of w) expect(Number.isFinite(v)).toBe(true);
    expect(end.some((w, i) => w.some((v, j) => v !== start[i][j]))).toBe(true);
    model.dispose();
    scaler.dispose();
  });

  it('bad settings are refused before anything is allocated', async () => {
    const model = tinyModel();
    const data = loader(2);
    await expect(trainModel(model, data, data, { precision: 'bf16' as 'f16' })).rejects.toThrow(/precision must be 'f32' or 'f16', got "bf16"/);
    const scaler = new GradScaler();
    await expect(trainModel(model, data, data, { gradScaler: scaler, nonFinite: 'skip' })).rejects.toThrow(/gradScaler skips non-finite steps itself/);
    scaler.dispose();
    model.dispose();
  });
});
