/**
 * GPT benchmarks, ours and TensorFlow.js's WebGPU backend on the same GPUDevice in one process:
 * - a training step (forward + backward + Adam) of the same GPT in both libraries → tokens/s;
 * - generation tokens/s of ours (greedy, with and without the KV cache).
 * TF.js has no fused attention: its model uses matMul + causal mask + softmax, the standard way.
 */
import { AdamW, init, manualSeed, memory, sync, trimPool, type Gpu } from '../packages/core/src/node';
import { batchLoss, generate, GPTModel, gptConfig, type GPTConfig } from '../packages/gpt/src/index';
import { median, table } from './run';
import { withTfjs, type Tf } from './tfjs';

export interface GPTBenchRow {
  model: string;
  batch: string;
  scratchgpt: number | null;
  tfjs: number | null;
  note: string;
}

function ids(n: number, v: number, seed: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % v);
}

async function oursTrain(config: GPTConfig, B: number, T: number, reps: number): Promise<number> {
  manualSeed(1);
  const model = new GPTModel(config);
  const opt = new AdamW(model.namedParameters(), { lr: 1e-4, weightDecay: 0.1 });
  const batch = { inputs: ids(B * T, config.vocabSize, 1), targets: ids(B * T, config.vocabSize, 2), shape: [B, T] as const };
  const step = async () => {
    const loss = batchLoss(model, batch);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    await loss.item();
    loss.dispose();
  };
  await step();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  opt.dispose();
  model.dispose();
  trimPool();
  return (B * T) / (median(times) / 1000);
}

/** The same GPT (untied head, no dropout) in TF.js ops, trained with tf.train.adam. */
async function tfjsTrain(tf: Tf, c: GPTConfig, B: number, T: number, reps: number): Promise<number> {
  const C = c.embDim;
  const H = c.nHeads;
  const D = C / H;
  const V = c.vocabSize;
  const vars: ReturnType<Tf['variable']>[] = [];
  const w = (shape: number[], scale = 0.02) => {
    const v = tf.variable(tf.randomNormal(shape, 0, scale));
    vars.push(v);
    return v;
  };
  const ones = (n: number) => {
    const v = tf.variable(tf.ones([n]));
    vars.push(v);
    return v;
  };
  const zeros = (n: number) => {
    const v = tf.variable(tf.zeros([n]));
    vars.push(v);
    return v;
  };
  const wte = w([V, C]);
  const wpe = w([c.contextLength, C]);
  const layers = Array.from({ length: c.nLayers }, () => ({
    g1: ones(C), b1: zeros(C), wq: w([C, C]), wk: w([C, C]), wv: w([C, C]), wo: w([C, C]), bo: zeros(C),
    g2: ones(C), b2: zeros(C), w1: w([C, 4 * C]), c1: zeros(4 * C), w2: w([4 * C, C]), c2: zeros(C),
  }));
  const gf = ones(C);
  const bf = zeros(C);
  const head = w([C, V]);
  const mask = tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([T, T]), -1, 0), 1), 1e9); // 0 on/below the diagonal, −1e9 above
  const ln = (x: ReturnType<Tf['tensor']>, g: ReturnType<Tf['tensor']>, b: ReturnType<Tf['tensor']>) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
  };
  const gelu = (x: ReturnType<Tf['tensor']>) =>
    tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));
  const inputs = tf.tensor2d(ids(B * T, V, 1), [B, T], 'int32');
  const targets = tf.oneHot(tf.tensor1d(ids(B * T, V, 2), 'int32'), V);
  const positions = tf.range(0, T, 1, 'int32');
  const heads = (x: ReturnType<Tf['tensor']>) => tf.transpose(tf.reshape(x, [B, T, H, D]), [0, 2, 1, 3]);
  const loss = () =>
    tf.tidy(() => {
      let x = tf.add(tf.gather(wte, inputs), tf.gather(wpe, positions)) as ReturnType<Tf['tensor']>;
      for (const l of layers) {
        const h = tf.reshape(ln(x, l.g1, l.b1), [B * T, C]);
        const q = heads(tf.matMul(h, l.wq));
        const k = heads(tf.matMul(h, l.wk));
        const v = heads(tf.matMul(h, l.wv));
        const att = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(D)), mask));
        const ctx = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B * T, C]);
        x = tf.add(x, tf.reshape(tf.add(tf.matMul(ctx, l.wo), l.bo), [B, T, C]));
        const h2 = tf.reshape(ln(x, l.g2, l.b2), [B * T, C]);
        const f = tf.add(tf.matMul(gelu(tf.add(tf.matMul(h2, l.w1), l.c1)), l.w2), l.c2);
        x = tf.add(x, tf.reshape(f, [B, T, C]));
      }
      const logits = tf.matMul(tf.reshape(ln(x, gf, bf), [B * T, C]), head);
      return tf.losses.softmaxCrossEntropy(targets, logits) as ReturnType<Tf['scalar']>;
    });
  const opt = tf.train.adam(1e-4);
  const step = async () => {
    const l = opt.minimize(loss, true) as ReturnType<Tf['scalar']>;
    await l.data();
    l.dispose();
  };
  try {
    await step();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await step();
      times.push(performance.now() - t0);
    }
    return (B * T) / (median(times) / 1000);
  } finally {
    opt.dispose();
    for (const t of [...vars, mask, inputs, targets, positions]) t.dispose();
  }
}

async function oursGenerate(config: GPTConfig, promptLength: number, newTokens: number, useCache: boolean): Promise<number> {
  manualSeed(2);
  const model = new GPTModel(config);
  const prompt = Array.from(ids(promptLength, config.vocabSize, 3));
  await generate(model, prompt, { maxNewTokens: 2, useCache }); // warm-up
  const t0 = performance.now();
  await generate(model, prompt, { maxNewTokens: newTokens, useCache });
  const seconds = (performance.now() - t0) / 1000;
  model.dispose();
  trimPool();
  return newTokens / seconds;
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

export async function benchGPT(options: GPTBenchOptions = {}): Promise<GPTBenchRow[]> {
  const log = options.log ?? console.log;
  const gpu: Gpu = await init();
  log(`\nGPT training step (forward + backward + Adam) and generation, tokens/s, on ${gpu.adapterName} (${gpu.backend})`);
  const rows: GPTBenchRow[] = [];
  const runTrain = async (label: string, config: GPTConfig, B: number, T: number, reps: number) => {
    const ours = await attempt(() => oursTrain(config, B, T, reps));
    await sync();
    const theirs = await withTfjs(gpu, (tf) => attempt(() => tfjsTrain(tf, config, B, T, reps)));
    const notes = [typeof ours === 'string' ? `scratchgpt failed: ${ours}` : '', typeof theirs === 'string' ? `tfjs failed: ${theirs}` : ''].filter(Boolean);
    rows.push({ model: `train ${label}`, batch: `${B}×${T}`, scratchgpt: typeof ours === 'number' ? ours : null, tfjs: typeof theirs === 'number' ? theirs : null, note: notes.join('; ') });
  };
  const small = gptConfig('gpt2-small', { embDim: 256, nLayers: 4, nHeads: 4, contextLength: 128, dropRate: 0 });
  await runTrain('GPT C=256 L=4 NH=4 (V=50257)', small, 4, 128, 3);
  if (!options.quick) {
    const gpt2 = gptConfig('gpt2-small', { contextLength: 1024, dropRate: 0 });
    await runTrain('GPT-2 124M (163M untied)', gpt2, 1, 64, 2);
    for (const useCache of [true, false]) {
      const tps = await attempt(() => oursGenerate(gpt2, 16, 20, useCache));
      rows.push({ model: `generate GPT-2 124M, greedy, ${useCache ? 'KV cache' : 'no cache'}`, batch: '1, 16+20', scratchgpt: typeof tps === 'number' ? tps : null, tfjs: null, note: typeof tps === 'string' ? tps : '' });
    }
  }
  log(
    table(
      ['benchmark', 'B×T', 'scratchgpt tok/s', 'tfjs tok/s', 'ratio', 'note'],
      rows.map((r) => [r.model, r.batch, r.scratchgpt?.toFixed(1) ?? '-', r.tfjs?.toFixed(1) ?? '-', r.scratchgpt && r.tfjs ? `${(r.scratchgpt / r.tfjs).toFixed(2)}×` : '-', r.note]),
    ),
  );
  log(`(live GPU memory after the GPT benchmarks: ${(memory().liveBytes / 2 ** 20).toFixed(1)} MiB)`);
  return rows;
}
