/**
 * GPT benchmarks, ours and TensorFlow.js's WebGPU backend on the same GPUDevice in one process:
 * - a training step (forward + backward + optimizer) of the same GPT in both libraries → tokens/s.
 *   TF.js starts from our initial weights (read back), so the first step's loss must agree;
 * - generation tokens/s of ours (greedy, with and without the KV cache).
 * TF.js has no fused attention: its model uses matMul + causal mask + softmax (see ./block).
 */
import { AdamW, init, manualSeed, memory, sync, trimPool, type Gpu } from '../packages/core/src/node';
import { batchLoss, generate, GPTModel, gptConfig, type GPTConfig } from '../packages/gpt/src/index';
import { tfBlock, tfCausalMask, tfLayerNorm, TfParams, isLinearWeight } from './block';
import { median, table } from './run';
import { withTfjs, type Tf } from './tfjs';

export interface GPTBenchRow {
  model: string;
  batch: string;
  scratchgpt: number | null;
  tfjs: number | null;
  note: string;
}

/** Fixed token ids `(i·7919 + seed·104729) mod v` (shared with bench/gpu.ts and bench/pytorch_ref.py). */
export function ids(n: number, v: number, seed: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % v);
}

interface TrainResult {
  tokensPerSecond: number;
  /** Loss of the first (warm-up) step, computed with the initial weights. */
  firstLoss: number;
}

/** Our model's initial parameters on the CPU, by name (for the TF.js copy). */
export type Weights = [name: string, data: Float32Array, shape: readonly number[]][];

async function oursTrain(config: GPTConfig, B: number, T: number, reps: number, keepWeights: boolean): Promise<TrainResult & { weights: Weights | null }> {
  manualSeed(1);
  const model = new GPTModel(config);
  let weights: Weights | null = null;
  if (keepWeights) {
    weights = [];
    for (const [name, t] of model.namedParameters()) weights.push([name, (await t.toArray()) as Float32Array, t.shape]);
  }
  const opt = new AdamW(model.namedParameters(), { lr: 1e-4, weightDecay: 0.1 });
  const batch = { inputs: ids(B * T, config.vocabSize, 1), targets: ids(B * T, config.vocabSize, 2), shape: [B, T] as const };
  const step = async () => {
    const loss = batchLoss(model, batch);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    const value = await loss.item(); // waits for the whole step (the queue runs in order)
    loss.dispose();
    return value;
  };
  try {
    const firstLoss = await step();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await step();
      times.push(performance.now() - t0);
    }
    return { tokensPerSecond: (B * T) / (median(times) / 1000), firstLoss, weights };
  } finally {
    opt.dispose();
    model.dispose();
    trimPool();
  }
}

/** The same GPT (untied head, no dropout) in TF.js ops, from our initial weights, trained with tf.train.adam. */
export async function tfjsTrain(tf: Tf, device: GPUDevice, c: GPTConfig, B: number, T: number, reps: number, weights: Weights): Promise<TrainResult> {
  const { embDim: C, nHeads: H, vocabSize: V } = c;
  const p = new TfParams(tf, `bench-gpt-${C}-${c.nLayers}-${B}x${T}`);
  const inputs = tf.tensor1d(ids(B * T, V, 1), 'int32');
  const targets = tf.oneHot(tf.tensor1d(ids(B * T, V, 2), 'int32'), V);
  const positions = tf.range(0, T, 1, 'int32');
  const mask = tfCausalMask(tf, T);
  const opt = tf.train.adam(1e-4);
  try {
    for (const [name, data, shape] of weights) p.add(name, data, shape, isLinearWeight(name, shape));
    const loss = () =>
      tf.tidy(() => {
        const tok = tf.reshape(tf.gather(p.get('tok_emb.weight'), inputs), [B, T, C]);
        let x = tf.reshape(tf.add(tok, tf.gather(p.get('pos_emb.weight'), positions)), [B * T, C]);
        for (let l = 0; l < c.nLayers; l++) x = tfBlock(tf, p, `trf_blocks.${l}.`, x, { B, T, C, H }, mask);
        const logits = tf.matMul(tfLayerNorm(tf, x, p.get('final_norm.weight'), p.get('final_norm.bias')), p.get('out_head.weight'));
        return tf.losses.softmaxCrossEntropy(targets, logits) as ReturnType<Tf['scalar']>;
      });
    const step = async () => {
      const l = opt.minimize(loss, true) as ReturnType<Tf['scalar']>;
      const value = (await l.data())[0];
      l.dispose();
      return value;
    };
    // TF.js binds whole buffers: on adapters with small binding limits its kernels fail validation.
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    const firstLoss = await step();
    const [oom, invalid] = [await device.popErrorScope(), await device.popErrorScope()];
    const error = oom ?? invalid;
    if (error) throw new Error(`WebGPU error in TF.js: ${error.message.split('\n')[0]}`);
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await step();
      times.push(performance.now() - t0);
    }
    return { tokensPerSecond: (B * T) / (median(times) / 1000), firstLoss };
  } finally {
    opt.dispose();
    p.dispose();
    for (const t of [inputs, targets, positions, mask]) t.dispose();
  }
}

async function oursGenerate(config: GPTConfig, promptLength: number, newTokens: number, useCache: boolean): Promise<number> {
  manualSeed(2);
  const model = new GPTModel(config);
  const prompt = Array.from(ids(promptLength, config.vocabSize, 3));
  try {
    await generate(model, prompt, { maxNewTokens: 2, useCache }); // warm-up
    const t0 = performance.now();
    await generate(model, prompt, { maxNewTokens: newTokens, useCache });
    return newTokens / ((performance.now() - t0) / 1000);
  } finally {
    model.dispose();
    trimPool();
  }
}

async function attempt<T>(fn: () => Promise<T>): Promise<T | string> {
  try {
    return await fn();
  } catch (err) {
    return (err as Error).message.split('\n')[0].slice(0, 140);
  }
}

export interface GPTBenchOptions {
  /** Skip the 124M model (fast runs). */
  quick?: boolean;
  log?: (line: string) => void;
}

const millions = (c: GPTConfig) => `${(GPTModel.countParameters(c) / 1e6).toFixed(0)}M`;

export async function benchGPT(options: GPTBenchOptions = {}): Promise<GPTBenchRow[]> {
  const log = options.log ?? console.log;
  const gpu: Gpu = await init();
  log(`\nGPT training step (forward + backward + optimizer) and generation, tokens/s, on ${gpu.adapterName} (${gpu.backend})`);
  const rows: GPTBenchRow[] = [];
  /** One training row; returns whether TF.js ran it. */
  const runTrain = async (label: string, config: GPTConfig, B: number, T: number, reps: number, note = ''): Promise<boolean> => {
    const ours = await attempt(() => oursTrain(config, B, T, reps, true));
    await sync();
    const weights = typeof ours === 'string' ? null : ours.weights;
    const theirs = weights ? await withTfjs(gpu, (tf) => attempt(() => tfjsTrain(tf, gpu.device, config, B, T, reps, weights))) : 'not run';
    const notes = [note];
    if (typeof ours === 'string') notes.push(`scratchgpt failed: ${ours}`);
    if (typeof theirs === 'string') notes.push(`tfjs failed: ${theirs}`);
    if (typeof ours !== 'string' && typeof theirs !== 'string') {
      const diff = Math.abs(ours.firstLoss - theirs.firstLoss);
      notes.push(`first loss ${ours.firstLoss.toFixed(6)} vs ${theirs.firstLoss.toFixed(6)} (|Δ| ${diff.toExponential(1)})`);
      if (!(diff < 1e-3 * Math.max(1, Math.abs(ours.firstLoss)))) log(`warning: ${label}: first-step losses differ (${ours.firstLoss} vs ${theirs.firstLoss})`);
    }
    rows.push({
      model: `train ${label}`,
      batch: `${B}×${T}`,
      scratchgpt: typeof ours === 'string' ? null : ours.tokensPerSecond,
      tfjs: typeof theirs === 'string' ? null : theirs.tokensPerSecond,
      note: notes.filter(Boolean).join('; '),
    });
    return typeof theirs !== 'string';
  };

  const small = gptConfig('gpt2-small', { embDim: 256, nLayers: 4, nHeads: 4, contextLength: 128, dropRate: 0 });
  await runTrain(`GPT C=256 L=4 NH=4 V=50257 (${millions(small)})`, small, 4, 128, 3);
  if (!options.quick) {
    const gpt2 = gptConfig('gpt2-small', { dropRate: 0 });
    const [B, T] = [1, 64];
    const ran = await runTrain(`GPT-2 124M config (${millions(gpt2)} untied)`, gpt2, B, T, 2);
    if (!ran) {
      // The widest V×C table TF.js can bind whole: the 124M layout (12 layers, 64-dim heads) at C=640.
      const narrow = gptConfig('gpt2-small', { dropRate: 0, embDim: 640, nHeads: 10 });
      await runTrain(`GPT-2 124M layout at C=640 NH=10 (${millions(narrow)})`, narrow, B, T, 2, 'fallback: TF.js failed at C=768');
    }
    for (const useCache of [true, false]) {
      const tps = await attempt(() => oursGenerate(gpt2, 16, 20, useCache));
      rows.push({
        model: `generate GPT-2 124M config, greedy, ${useCache ? 'KV cache' : 'no cache'}`,
        batch: '1, 16+20',
        scratchgpt: typeof tps === 'number' ? tps : null,
        tfjs: null,
        note: typeof tps === 'string' ? tps : '',
      });
    }
  }
  log(
    table(
      ['benchmark', 'B×T', 'scratchgpt tok/s', 'tfjs tok/s', 'ours/tfjs', 'note'],
      rows.map((r) => [r.model, r.batch, r.scratchgpt?.toFixed(1) ?? '-', r.tfjs?.toFixed(1) ?? '-', r.scratchgpt && r.tfjs ? `${(r.scratchgpt / r.tfjs).toFixed(2)}×` : '-', r.note]),
    ),
  );
  log('(ours: AdamW lr 1e-4, weight decay 0.1; TF.js: tf.train.adam lr 1e-4, no weight decay; fixed token ids; dropout 0)');
  log(`(live GPU memory after the GPT benchmarks: ${(memory().liveBytes / 2 ** 20).toFixed(1)} MiB)`);
  return rows;
}
