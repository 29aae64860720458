/**
 * Model rows of the GPU benchmark: GPT training steps (forward + backward + fused AdamW) and KV-cache decoding,
 * tokens/s and dispatches per step (`commandCounts()` differences), with TF.js's WebGPU training step
 * on the same device for the ratio. Weights are random (seeded); token ids are fixed.
 */
import { AdamW, autocast, commandCounts, fromArray, manualSeed, noGrad, peakMemory, resetPeakMemory, sampleLogits, scope, sync, trimPool, type Gpu, type Tensor } from '../../packages/core/src/node';
import { batchLoss, GPTModel, type GPTConfig, type KVCacheDType, type WeightDType } from '../../packages/gpt/src/index';
import { ids, tfjsTrain, type Weights } from '../gpt';
import { median } from '../run';
import { withTfjs } from '../tfjs';
import type { Budget } from './budget';
import { attempt } from './timing';

export interface TrainMeasurement {
  batch: number;
  seq: number;
  tokensPerSecond: number;
  stepMs: number;
  /** Compute dispatches recorded by one training step. */
  dispatchesPerStep: number;
  /** Of those, the dispatches of the optimizer step (fused AdamW: one per binding-sized flat parameter buffer). */
  optimizerDispatchesPerStep: number;
  firstLoss: number;
  /** Peak live GPU bytes during a training step (forward, backward, optimizer), above what was live before it. */
  peakStepBytes: number;
  /** Precision of the products (`'f16'`: mixed precision, `autocast`). */
  precision: 'f32' | 'f16';
  /** The initial weights (for TF.js), when asked for. */
  weights: Weights | null;
}

/**
 * Times training steps of `config` at `batch`×`seq`: one warm-up step, then up to `maxReps` within
 * `targetMs` (and the budget).
 */
export async function trainOurs(
  config: GPTConfig,
  batch: number,
  seq: number,
  budget: Budget,
  { keepWeights = false, maxReps = 3, targetMs = 20_000, precision = 'f32' as 'f32' | 'f16' } = {},
): Promise<TrainMeasurement> {
  manualSeed(1);
  const model = new GPTModel(config);
  let opt: AdamW | null = null;
  try {
    let weights: Weights | null = null;
    if (keepWeights) {
      weights = [];
      for (const [name, t] of model.namedParameters()) weights.push([name, (await t.toArray()) as Float32Array, t.shape]);
    }
    opt = new AdamW(model.namedParameters(), { lr: 1e-4, weightDecay: 0.1, fused: 'auto' });
    const optimizer = opt;
    const data = { inputs: ids(batch * seq, config.vocabSize, 1), targets: ids(batch * seq, config.vocabSize, 2), shape: [batch, seq] as const };
    let dispatches = 0;
    let optimizerDispatches = 0;
    let peakStepBytes = 0;
    const step = async () => {
      const before = commandCounts().dispatches;
      resetPeakMemory();
      const live = peakMemory();
      const loss = precision === 'f16' ? autocast('f16', () => batchLoss(model, data)) : batchLoss(model, data);
      loss.backward();
      const beforeStep = commandCounts().dispatches;
      optimizer.step();
      optimizerDispatches = commandCounts().dispatches - beforeStep;
      optimizer.zeroGrad();
      peakStepBytes = peakMemory() - live;
      const value = await loss.item(); // waits for the whole step (the queue runs in order)
      loss.dispose();
      dispatches = commandCounts().dispatches - before;
      return value;
    };
    let t0 = performance.now();
    const firstLoss = await step();
    const firstMs = performance.now() - t0;
    const reps = budget.reps(firstMs, targetMs, maxReps);
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      t0 = performance.now();
      await step();
      times.push(performance.now() - t0);
    }
    const stepMs = median(times);
    return { batch, seq, tokensPerSecond: (batch * seq) / (stepMs / 1000), stepMs, dispatchesPerStep: dispatches, optimizerDispatchesPerStep: optimizerDispatches, firstLoss, peakStepBytes, precision, weights };
  } finally {
    opt?.dispose();
    model.dispose();
    trimPool();
  }
}

/**
 * Tries `shapes` (B×T) in order until one trains (a big one may not fit the device's memory or
 * binding limits); returns the measurement and the failures before it.
 */
export async function trainFirstFitting(
  config: GPTConfig,
  shapes: readonly [number, number][],
  budget: Budget,
  options: { keepWeights?: boolean } = {},
): Promise<{ result: TrainMeasurement | null; failures: string[] }> {
  const failures: string[] = [];
  for (const [b, t] of shapes) {
    const result = await attempt(() => trainOurs(config, b, t, budget, options));
    if (typeof result !== 'string') return { result, failures };
    failures.push(`${b}×${t}: ${result}`);
    await sync().catch(() => undefined); // drain the failed step's device errors
    trimPool();
  }
  return { result: null, failures };
}

/** TF.js's training step of the same model from our initial weights: tokens/s and its first loss. */
export async function trainTfjs(gpu: Gpu, config: GPTConfig, m: TrainMeasurement, reps: number): Promise<{ tokensPerSecond: number; firstLoss: number } | string> {
  if (!m.weights) return 'no weights';
  const weights = m.weights;
  const result = await withTfjs(gpu, (tf) => attempt(() => tfjsTrain(tf, gpu.device, config, m.batch, m.seq, reps, weights)));
  trimPool();
  return result;
}

export interface DecodeMeasurement {
  batch: number;
  promptLength: number;
  newTokens: number;
  /** Generated tokens per second over all sequences (batch × steps / time). */
  tokensPerSecond: number;
  /** Compute dispatches of one decoding step (one new token per sequence). */
  dispatchesPerStep: number;
  /** Greedy ids of the first sequence (a check that decoding ran). */
  firstSequence: number[];
}

/**
 * Greedy decoding with the KV cache, `batch` sequences at once: a prompt of `promptLength` fixed ids
 * (prefill, untimed), one untimed decoding step, then `newTokens` timed steps, each reading back only
 * the chosen ids — what `generate()` does per step, for a batch.
 */
export async function decodeOurs(
  config: GPTConfig,
  batch: number,
  promptLength: number,
  newTokens: number,
  kvCache: KVCacheDType = 'f32',
  weights: WeightDType = 'f32',
): Promise<DecodeMeasurement> {
  manualSeed(2);
  const model = new GPTModel(config);
  model.eval();
  model.castWeights(weights);
  const cache = model.createCache(batch, { dtype: kvCache });
  try {
    const next = (input: Int32Array, length: number): Promise<Int32Array> => {
      const chosen: Tensor = noGrad(() =>
        scope(() => sampleLogits(model.forward(fromArray(input, [batch, length], { dtype: 'i32' }), { cache, lastOnly: true }))),
      ); // [batch]
      return chosen.toArray().then((v) => {
        chosen.dispose();
        return Int32Array.from(v);
      });
    };
    let last = await next(ids(batch * promptLength, config.vocabSize, 3), promptLength); // prefill
    const firstSequence = [last[0]];
    last = await next(last, 1); // warm-up: compiles the single-position kernels
    firstSequence.push(last[0]);
    let dispatches = 0;
    const t0 = performance.now();
    for (let i = 0; i < newTokens; i++) {
      const before = commandCounts().dispatches;
      last = await next(last, 1);
      dispatches = commandCounts().dispatches - before;
      firstSequence.push(last[0]);
    }
    const seconds = (performance.now() - t0) / 1000;
    return { batch, promptLength, newTokens, tokensPerSecond: (batch * newTokens) / seconds, dispatchesPerStep: dispatches, firstSequence };
  } finally {
    cache.dispose();
    model.dispose();
    trimPool();
  }
}
