import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { init, manualSeed, memory, sync } from '@scratchgpt/core/node';
import {
  checkpointBytes,
  createDataLoader,
  decode,
  encode,
  generate,
  generateText,
  generateTokens,
  GPTModel,
  gptConfig,
  loadCheckpoint,
  loaderLoss,
  restoreCheckpoint,
  saveCheckpoint,
  trainModel,
  trainValSplit,
} from '../src/index.node';
import { goldenModel } from './golden';
import verdict from '../../../data/the-verdict.txt';

beforeAll(async () => {
  await init();
});


describe('generation', () => {
  it('seeded sampling is reproducible, identical with and without the KV cache, and stops at EOS', async () => {
    const model = goldenModel();
    const prompt = [1, 2, 3];
    const options = { maxNewTokens: 18, temperature: 1.2, topK: 20, topP: 0.95, seed: 42 };
    const a = await generate(model, prompt, options);
    const b = await generate(model, prompt, options);
    const c = await generate(model, prompt, { ...options, useCache: false });
    expect(a).toEqual(b);
    expect(a).toEqual(c);
    expect(new Set(a.slice(3)).size).toBeGreaterThan(1);
    // EOS: stop right after the first occurrence of the 5th generated token
    const eos = a[3 + 4];
    const stopped = await generate(model, prompt, { ...options, eosId: eos });
    expect(stopped[stopped.length - 1]).toBe(eos);
    expect(stopped.length).toBeLessThanOrEqual(3 + 5);
    model.dispose();
  });
  it('streams tokens and text; rejects bad prompts', async () => {
    const model = goldenModel();
    const streamed: number[] = [];
    for await (const id of generateTokens(model, [5, 6], { maxNewTokens: 4 })) streamed.push(id);
    expect(streamed).toEqual((await generate(model, [5, 6], { maxNewTokens: 4 })).slice(2));
    const pieces: string[] = [];
    for await (const piece of generateText(model, [5, 6], (ids) => ids.map((i) => String.fromCharCode(65 + (i % 26))).join(''), { maxNewTokens: 4 })) pieces.push(piece);
    expect(pieces.join('')).toBe(streamed.map((i) => String.fromCharCode(65 + (i % 26))).join(''));
    await expect(generate(model, [5, 96])).rejects.toThrow(/token id 96 at position 1 is out of range for vocabulary size 96/);
    await expect(generate(model, [])).rejects.toThrow(/non-empty prompt/);
    model.dispose();
  });
});

describe('checkpoints', () => {
  it('round trip restores identical logits and optimizer state; resume continues the same loss curve', async () => {
    const config = gptConfig({ vocabSize: 50257, contextLength: 32, embDim: 32, nHeads: 4, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: true });
    const { train, val } = trainValSplit(verdict, 0.9);
    const loader = () => createDataLoader(train, { batchSize: 2, maxLength: 16, stride: 16, seed: 1 });
    const valLoader = createDataLoader(val, { batchSize: 2, maxLength: 16, stride: 16, dropLast: false });
    manualSeed(3);
    const model = new GPTModel(config);
    const first = await trainModel(model, [...loader()].slice(0, 4), valLoader, { lr: 1e-3, evalFreq: 2, evalIter: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'sg-ckpt-'));
    const path = join(dir, 'model.safetensors');
    await saveCheckpoint(path, model, first.optimizer, { step: first.finalStep, extra: { note: 'test' } });
    // continue the original for 4 more steps
    const batches = [...loader()].slice(4, 8);
    const cont = await trainModel(model, batches, valLoader, { lr: 1e-3, evalFreq: 2, evalIter: 1, optimizer: first.optimizer, startStep: first.finalStep });
    // resume from the file into a fresh model and optimizer
    const restored = await loadCheckpoint(path);
    expect(restored.step).toBe(4);
    expect(restored.extra).toEqual({ note: 'test' });
    expect(restored.optimizer).not.toBeNull();
    const resumed = await trainModel(restored.model, batches, valLoader, { lr: 1e-3, evalFreq: 2, evalIter: 1, optimizer: restored.optimizer!, startStep: restored.step });
    for (let i = 0; i < cont.trainLosses.length; i++) {
      expect(Math.abs(resumed.trainLosses[i] - cont.trainLosses[i])).toBeLessThan(1e-5);
      expect(Math.abs(resumed.valLosses[i] - cont.valLosses[i])).toBeLessThan(1e-5);
    }
    // a corrupted file is rejected, and the old checkpoint stays readable
    writeFileSync(join(dir, 'bad.safetensors'), 'not a checkpoint at all');
    await expect(loadCheckpoint(join(dir, 'bad.safetensors'))).rejects.toThrow(/not a safetensors file/);
    expect(readdirSync(dir).sort()).toEqual(['bad.safetensors', 'model.safetensors']);
    const bytes = await checkpointBytes(restored.model);
    expect(() => restoreCheckpoint(bytes, goldenModel())).toThrow(/does not match the model/);
  });
});

describe('pretraining loop', () => {
  it('lowers the loss on the-verdict, reports progress, and does not grow GPU memory', async () => {
    manualSeed(11);
    const config = gptConfig({ vocabSize: 50257, contextLength: 32, embDim: 48, nHeads: 4, nLayers: 2, dropRate: 0.1, qkvBias: false, tieWeights: false });
    const model = new GPTModel(config);
    const { train, val } = trainValSplit(verdict, 0.9);
    // A fifth of the story (9 batches per epoch): sized for the slowest CI machine (AVX2 llvmpipe, busy).
    const trainLoader = createDataLoader(train.slice(0, 5000), { batchSize: 4, maxLength: 32, stride: 32, shuffle: true, seed: 2 });
    const valLoader = createDataLoader(val, { batchSize: 4, maxLength: 32, stride: 32, dropLast: false });
    const before = await loaderLoss(model, valLoader, 2);
    const progress: number[] = [];
    const samples: string[] = [];
    await trainModel(model, trainLoader, valLoader, { epochs: 1, lr: 2e-3, evalFreq: Infinity, onProgress: (p) => p.sampleText ?? progress.push(p.step) });
    await sync();
    const base = memory();
    const result = await trainModel(model, trainLoader, valLoader, {
      epochs: 2,
      lr: 2e-3,
      warmupSteps: 3,
      minLr: 1e-4,
      maxGradNorm: 1,
      gradAccumulation: 2,
      evalFreq: 5,
      evalIter: 2,
      sample: { prompt: encode('Every effort moves you'), decode, options: { maxNewTokens: 5 } },
      onProgress: (p) => {
        if (p.sampleText) samples.push(p.sampleText);
      },
    });
    const after = await loaderLoss(model, trainLoader, 4);
    console.log(`pretraining test: val loss before ${before.toFixed(3)}, train losses ${result.trainLosses.map((l) => l.toFixed(3)).join(' ')}`);
    expect(after).toBeLessThan(before - 1);
    expect(progress.length).toBe(trainLoader.numBatches);
    expect(samples.length).toBe(2);
    expect(samples[0].startsWith('Every effort moves you')).toBe(true);
    expect(result.lrs[0]).toBeLessThan(result.lrs[3]);
    const lastLr = result.lrs[result.lrs.length - 1];
    // The last step is one short of the cosine's end: the book's formula at progress (n − 1 − warmup) / (n − warmup).
    const n = result.lrs.length;
    const progressAtLast = (n - 1 - 3) / (n - 3);
    expect(lastLr).toBeCloseTo(1e-4 + 0.5 * (2e-3 - 1e-4) * (1 + Math.cos(Math.PI * progressAtLast)), 9);
    result.optimizer.dispose();
    expect(memory().liveTensors).toBe(base.liveTensors + 0);
    expect(memory().liveBytes).toBe(base.liveBytes);
  });
});
