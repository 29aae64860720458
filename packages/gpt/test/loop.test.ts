/**
 * The generic training loop (`loop.ts`) and `trainModel` on top of it: the reliability regressions of
 * issue 10 (items 2, 5, 8, 14, 17) on a tiny model, each sized to run in a few seconds.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { add, AdamW, init, manualSeed, memory, mulScalar, seededRandom, sqrt, sub, sum, sync, type Tensor } from '@scratchgpt/core/node';
import {
  batchLoss,
  createDataLoader,
  DataLoader,
  GPTModel,
  gptConfig,
  loadCheckpoint,
  loaderLoss,
  resumeFrom,
  saveCheckpoint,
  SlidingWindowDataset,
  trainLoop,
  trainModel,
  type TokenBatch,
  type TrainProgress,
} from '../src/index.node';

beforeAll(async () => {
  await init();
});

const config = gptConfig({ vocabSize: 64, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false });

function tinyModel(seed = 5, overrides = {}): GPTModel {
  manualSeed(seed);
  return new GPTModel({ ...config, ...overrides });
}

/** `n` windows of 8 random ids, batched by 2 (shuffled per epoch when asked). */
function loader(n: number, { shuffle = false, batchSize = 2 } = {}): DataLoader {
  const random = seededRandom(9);
  const ids = Array.from({ length: n * 8 + 1 }, () => Math.floor(random() * 64));
  return new DataLoader(new SlidingWindowDataset(ids, 8, 8), { batchSize, shuffle, seed: 4 });
}

async function weights(model: GPTModel): Promise<Float32Array[]> {
  return Promise.all(model.parameters().map((p) => p.toArray() as Promise<Float32Array>));
}

function gradsLeft(model: GPTModel): string[] {
  return model.namedParameters().filter(([, p]) => p.grad !== null).map(([n]) => n);
}

/** batchLoss, but a NaN loss (and NaN gradients) on the `poisoned`-th training batch (1-based; evaluation runs in eval mode). */
function poisonedLoss(poisoned: number): (m: GPTModel, b: TokenBatch) => Tensor {
  let calls = 0;
  return (m, b) => {
    const loss = batchLoss(m, b);
    if (!m.training || ++calls !== poisoned) return loss;
    const nan = mulScalar(loss, NaN);
    loss.dispose();
    return nan;
  };
}

/**
 * batchLoss, with a finite loss but NaN gradients on the `poisoned`-th training batch: + 0·Σ√(w − w),
 * whose forward is 0 and whose backward is 0·∞.
 */
function nanGradientLoss(poisoned: number): (m: GPTModel, b: TokenBatch) => Tensor {
  let calls = 0;
  return (m, b) => {
    const loss = batchLoss(m, b);
    if (!m.training || ++calls !== poisoned) return loss;
    const w = m.final_norm.weight;
    return add(loss, mulScalar(sum(sqrt(sub(w, w))), 0));
  };
}

/** Every parameter, and (given an AdamW) its moments, bitwise. */
async function stateBits(model: GPTModel, opt?: AdamW): Promise<Uint32Array[]> {
  const moments = opt ? [...opt.stateDict().tensors.values()] : [];
  return Promise.all([...model.parameters(), ...moments].map(async (t) => new Uint32Array((await t.toArray()).buffer)));
}

describe('evaluation schedule (issue 10 #17)', () => {
  it("evaluates after steps 1, 1+N, 1+2N like the book by default; 'interval-end' after N, 2N", async () => {
    const model = tinyModel();
    const data = loader(14); // 7 batches
    const book = await trainModel(model, data, data, { lr: 1e-3, evalFreq: 3, evalIter: 1 });
    expect(book.steps).toEqual([1, 4, 7]);
    const end = await trainModel(model, data, data, { lr: 1e-3, evalFreq: 3, evalIter: 1, evalAt: 'interval-end' });
    expect(end.steps).toEqual([3, 6]);
    // examples and tokens seen at each evaluation point
    expect(book.examplesSeen).toEqual([2, 8, 14]);
    expect(book.tokensSeen).toEqual([16, 64, 112]);
    for (const r of [book, end]) r.optimizer.dispose();
    model.dispose();
  });
});

describe('silently accepted options (issue 10 #14)', () => {
  it('rejects evalFreq 0, evalIter 0, empty sources and loaders that make no batch, naming the problem', async () => {
    const model = tinyModel();
    const data = loader(3);
    await expect(trainModel(model, data, data, { evalFreq: 0 })).rejects.toThrow(/evalFreq must be an integer ≥ 1, got 0/);
    await expect(trainModel(model, data, data, { evalIter: 0 })).rejects.toThrow(/evalIter must be an integer ≥ 1, got 0/);
    await expect(loaderLoss(model, data, 0)).rejects.toThrow(/numBatches must be an integer ≥ 1, got 0/);
    await expect(trainModel(model, [], data)).rejects.toThrow(/training source yields no batches/);
    await expect(trainModel(model, data, [])).rejects.toThrow(/validation source yields no batches/);
    // 3 windows, batch 4, dropLast: no batch at all
    const text = 'Every effort moves you forward, one token at a time.';
    expect(() => createDataLoader(text, { batchSize: 4, maxLength: 4, stride: 4 })).toThrow(/make no batch of 4 with dropLast/);
    // evalFreq: Infinity is the explicit way to train without evaluation
    const r = await trainModel(model, data, [], { evalFreq: Infinity });
    expect(r.steps).toEqual([]);
    expect(r.finalStep).toBe(1);
    r.optimizer.dispose();
    model.dispose();
  });

  it('resumes mid-run from a checkpoint in the same data order: identical weights to an uninterrupted run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-resume-'));
    const path = join(dir, 'run.safetensors');
    const data = loader(8, { shuffle: true }); // 4 steps per epoch, a new order each epoch
    const dropout = { dropRate: 0.2 }; // dropout masks too must follow the step (option `seed`)
    const settings = { epochs: 2, lr: 3e-3, evalFreq: 2, evalIter: 1, seed: 7 };
    const a = tinyModel(5, dropout);
    const full = await trainLoop(a, data, data, {
      ...settings,
      loss: batchLoss,
      checkpointEvery: 3,
      onCheckpoint: async (c) => {
        if (c.step === 3) await saveCheckpoint(path, a, c.optimizer, c.info);
      },
    });
    const ckpt = await loadCheckpoint(path);
    expect(resumeFrom(ckpt)).toEqual({ step: 3, epoch: 0, batch: 3, tokensSeen: 48, examplesSeen: 6 });
    const resumed = await trainModel(ckpt.model, data, data, { ...settings, optimizer: ckpt.optimizer!, resume: resumeFrom(ckpt) });
    expect(resumed.finalStep).toBe(8);
    expect(resumed.steps).toEqual([5, 7]);
    expect(resumed.trainLosses).toEqual(full.trainLosses.slice(2));
    expect(resumed.position).toEqual(full.position);
    const [wa, wb] = [await weights(a), await weights(ckpt.model)];
    wa.forEach((w, i) => expect(wb[i]).toEqual(w));
    full.optimizer.dispose();
    resumed.optimizer.dispose();
    a.dispose();
    ckpt.model.dispose();
  });
});

describe('stale gradients (issue 10 #5)', () => {
  it('a failure mid-accumulation leaves no .grad, and a retry matches a fresh run', async () => {
    const data = loader(8);
    const failing = tinyModel();
    let calls = 0;
    const loss = (m: GPTModel, b: TokenBatch) => {
      if (++calls === 4) throw new Error('boom');
      return batchLoss(m, b);
    };
    await expect(trainLoop(failing, data, data, { loss, gradAccumulation: 2, evalFreq: Infinity, lr: 1e-2 })).rejects.toThrow('boom');
    expect(gradsLeft(failing)).toEqual([]);
    // gradients left by a manual backward are not added into the first update either
    batchLoss(failing, [...data][0]).backward();
    const fresh = tinyModel();
    // restore `failing` to the initial weights: it took one step before the failure
    failing.loadStateDict(fresh.stateDict());
    const r1 = await trainModel(failing, data, data, { gradAccumulation: 2, evalFreq: Infinity, lr: 1e-2 });
    const r2 = await trainModel(fresh, data, data, { gradAccumulation: 2, evalFreq: Infinity, lr: 1e-2 });
    const [w1, w2] = [await weights(failing), await weights(fresh)];
    w1.forEach((w, i) => expect(w).toEqual(w2[i]));
    expect(gradsLeft(failing)).toEqual([]);
    for (const r of [r1, r2]) r.optimizer.dispose();
    failing.dispose();
    fresh.dispose();
  });

  it('gradAccumulation larger than the batches per epoch is an error, not zero steps', async () => {
    const model = tinyModel();
    const data = loader(3);
    await expect(trainModel(model, data, data, { gradAccumulation: 4 })).rejects.toThrow(/gradAccumulation 4 exceeds the 1 training batches per epoch/);
    model.dispose();
  });
});

describe('failure paths free memory (issue 10 #8)', () => {
  it('a failing trainModel frees its AdamW state, every time', async () => {
    const model = tinyModel();
    const data = loader(4);
    // the third batch is malformed: batchLoss throws after two steps (and an evaluation)
    const bad: TokenBatch = { inputs: new Int32Array(5), targets: new Int32Array(5), shape: [2, 8] };
    const batches = [...data, bad];
    await sync();
    const base = memory();
    for (let i = 0; i < 3; i++) {
      await expect(trainModel(model, batches, data, { evalFreq: 1, evalIter: 1 })).rejects.toThrow(/do not fill shape/);
      expect(gradsLeft(model)).toEqual([]);
      expect(memory().liveTensors).toBe(base.liveTensors);
      expect(memory().liveBytes).toBe(base.liveBytes);
    }
    model.dispose();
  });

  it('a failing loaderLoss frees the losses computed before the bad batch', async () => {
    const model = tinyModel();
    const good = [...loader(4)];
    const bad: TokenBatch = { inputs: new Int32Array(5), targets: new Int32Array(5), shape: [2, 8] };
    await sync();
    const base = memory();
    await expect(loaderLoss(model, [...good, bad])).rejects.toThrow(/do not fill shape/);
    expect(memory().liveTensors).toBe(base.liveTensors);
    expect(memory().liveBytes).toBe(base.liveBytes);
    expect(model.training).toBe(true);
    model.dispose();
  });
});

describe('non-finite guard (issue 10 #2)', () => {
  it('a diverging run stops with an error naming the step; no progress report or checkpoint sees NaN', async () => {
    const model = tinyModel();
    const data = loader(6);
    const reported: TrainProgress[] = [];
    const checkpoints: number[] = [];
    await expect(
      trainModel(model, data, data, {
        lr: 1e30,
        evalFreq: 1,
        evalIter: 1,
        onProgress: (p) => reported.push(p),
        checkpointEvery: 1,
        onCheckpoint: (c) => checkpoints.push(c.step),
      }),
    ).rejects.toThrow(/training diverged: the training loss is (NaN|Infinity) at step 1 \(epoch 1\)/);
    expect(reported.filter((p) => p.trainLoss !== undefined)).toEqual([]);
    expect(checkpoints).toEqual([]);
    expect(gradsLeft(model)).toEqual([]);
    model.dispose();
  });

  it('names the step whose gradient norm went non-finite (read at the next evaluation, no per-step readback)', async () => {
    const model = tinyModel();
    const data = loader(6);
    const checkpoints: number[] = [];
    const run = trainLoop(model, data, data, {
      loss: poisonedLoss(3),
      lr: 1e-3,
      maxGradNorm: 1,
      evalFreq: 5,
      evalIter: 1,
      checkpointEvery: 1,
      onCheckpoint: (c) => checkpoints.push(c.step),
    });
    await expect(run).rejects.toThrow(/the gradient norm is NaN at step 3 \(epoch 1\)/);
    expect(checkpoints).toEqual([1, 2]);
    model.dispose();
  });

  for (const [label, extra] of [
    ['fused AdamW, no clipping', { fused: true }],
    ['fused AdamW, clipping', { fused: true, maxGradNorm: 1 }],
    ['an unfused AdamW (read before every step)', { fused: false }],
  ] as const) {
    it(`a NaN gradient leaves the weights and the optimizer as they were before that step (issue 18 #2: ${label})`, async () => {
      const data = loader(8); // 4 batches: step 2 goes bad; steps 3 and 4 must not apply either
      const guarded = tinyModel();
      const reference = tinyModel();
      const make = (m: GPTModel) => new AdamW(m.namedParameters(), { lr: 1e-3, weightDecay: 0.1, fused: extra.fused });
      const [optG, optR] = [make(guarded), make(reference)];
      const maxGradNorm = 'maxGradNorm' in extra ? extra.maxGradNorm : undefined;
      const what = maxGradNorm ? 'the gradient norm is NaN' : 'a gradient is not finite \\(Inf or NaN\\)';
      await expect(trainLoop(guarded, data, data, { loss: poisonedLoss(2), optimizer: optG, lr: 1e-3, maxGradNorm, evalFreq: 10, evalIter: 1 })).rejects.toThrow(
        new RegExp(`training diverged: ${what} at step 2 \\(epoch 1\\); the weights and optimizer state are those from before it`),
      );
      const r = await trainLoop(reference, [[...data][0]], data, { loss: batchLoss, optimizer: optR, lr: 1e-3, maxGradNorm, evalFreq: Infinity });
      expect(optG.steps).toEqual(optR.steps);
      expect(optG.lr).toBe(optR.lr);
      expect(await stateBits(guarded, optG)).toEqual(await stateBits(reference, optR));
      expect(gradsLeft(guarded)).toEqual([]);
      // and without a given optimizer, the model's weights are those after step 1
      const own = tinyModel();
      await expect(trainLoop(own, data, data, { loss: poisonedLoss(2), lr: 1e-3, maxGradNorm, evalFreq: 10, evalIter: 1 })).rejects.toThrow(/at step 2 \(epoch 1\)/);
      expect(await stateBits(own)).toEqual(await stateBits(reference));
      r.optimizer.dispose();
      optG.dispose();
      for (const m of [guarded, reference, own]) m.dispose();
    });
  }

  it('a finite loss with NaN gradients is caught too, before any weight changes (error and skip)', async () => {
    const data = loader(6);
    const model = tinyModel();
    const before = await stateBits(model);
    await expect(trainLoop(model, data, data, { loss: nanGradientLoss(1), lr: 1e-3, evalFreq: 10, evalIter: 1 })).rejects.toThrow(/a gradient is not finite \(Inf or NaN\) at step 1/);
    expect(await stateBits(model)).toEqual(before);
    const skipping = tinyModel();
    const r = await trainLoop(skipping, data, data, { loss: nanGradientLoss(2), nonFinite: 'skip', lr: 1e-3, evalFreq: 10, evalIter: 1 });
    expect(r.skippedSteps).toEqual([2]);
    expect((await weights(skipping)).every((w) => w.every(Number.isFinite))).toBe(true);
    r.optimizer.dispose();
    model.dispose();
    skipping.dispose();
  });

  it("nonFinite: 'skip' drops the bad step and keeps training on finite weights", async () => {
    const data = loader(6);
    const skipping = tinyModel();
    const reference = tinyModel();
    await sync();
    const base = memory();
    const r = await trainLoop(skipping, data, data, { loss: poisonedLoss(2), nonFinite: 'skip', lr: 1e-3, evalFreq: 2, evalIter: 1 });
    r.optimizer.dispose();
    expect(memory().liveTensors).toBe(base.liveTensors); // the losses read before each step are freed
    expect(r.skippedSteps).toEqual([2]);
    expect(r.finalStep).toBe(3);
    expect(r.trainLosses.every(Number.isFinite)).toBe(true);
    // the same as a run over batches 1 and 3 only (step 2's schedule slot stays used)
    const batches = [...data];
    const ref = await trainModel(reference, [batches[0], batches[2]], data, { lr: 1e-3, evalFreq: Infinity });
    const [ws, wr] = [await weights(skipping), await weights(reference)];
    ws.forEach((w, i) => expect(w).toEqual(wr[i]));
    ref.optimizer.dispose();
    skipping.dispose();
    reference.dispose();
  });
});

describe('trainable parameters', () => {
  it('only parameters with requiresGrad reach the optimizer; frozen ones stay unchanged', async () => {
    const model = tinyModel();
    model.tok_emb.requiresGrad(false);
    const before = await model.tok_emb.weight.toArray();
    const data = loader(4);
    const r = await trainModel(model, data, data, { lr: 1e-2, evalFreq: Infinity });
    expect(r.optimizer.params).not.toContain(model.tok_emb.weight);
    expect(r.optimizer.params.length).toBe(model.parameters().length - 1);
    expect(await model.tok_emb.weight.toArray()).toEqual(before);
    r.optimizer.dispose();
    model.dispose();
  });
});
