/**
 * The consumer test's app: what a user of the published packages writes, one script for Node and the
 * browser (no Node built-ins here). It trains a small GPT for a few steps, generates, round-trips a
 * checkpoint through bytes and runs a custom WGSL op with its gradient, and reports the numbers that the
 * test compares across runtimes.
 */
import { defineOp, fromArray, init, manualSeed, memory, noGrad, sum, VERSION } from '@scratchgpt/core';
import { BOOK_CLASSIFIER_SETTINGS } from '@scratchgpt/finetune';
import {
  GPTModel,
  checkpointBytes,
  createDataLoader,
  decode,
  encode,
  generate,
  gptConfig,
  restoreCheckpoint,
  trainModel,
} from '@scratchgpt/gpt';

export interface AppReport {
  version: string;
  adapter: string;
  featureLevel: string;
  /** Training loss after every optimizer step (evaluated on the first batches). */
  losses: number[];
  valLosses: number[];
  steps: number;
  generated: string;
  /** Largest |difference| between the logits of the trained model and of its restored checkpoint. */
  checkpointMaxDiff: number;
  checkpointStep: number;
  /** Custom op vs float64 references: forward values and input gradient. */
  customOp: { forwardError: number; gradError: number };
  finetuneEpochs: number;
  /** Live tensors before the run and after everything was disposed. */
  liveBefore: number;
  liveAfter: number;
}

const TRAIN_TEXT =
  'I had always thought Jack Gisburn rather a cheap genius--though a good fellow enough--so it was no great ' +
  'surprise to me to hear that, in the height of his glory, he had dropped his painting, married a rich widow, ' +
  'and established himself in a villa on the Riviera. The height of his glory--that was what the women called it.';
const VAL_TEXT = 'Every effort moves you forward, he said, and the picture on the wall looked back at me with a smile.';

/** SiLU as a custom WGSL op with a WGSL backward (the README's custom-kernel example). */
const silu = defineOp({
  name: 'consumer_silu',
  backward: 'wgsl',
  wgsl: /* wgsl */ `
    struct Params { n: u32, rank: u32, _pad0: u32, _pad1: u32, shape: array<vec4u, 2>, scalars: vec4f }
    @group(0) @binding(0) var<uniform> params: Params;
    @group(0) @binding(1) var<storage, read> x: array<f32>;
    @group(0) @binding(2) var<storage, read_write> y: array<f32>;
    @group(0) @binding(3) var<storage, read> gy: array<f32>;
    @group(0) @binding(4) var<storage, read_write> gx: array<f32>;
    fn sig(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
    @compute @workgroup_size(64) fn forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
      let i = g.x + g.y * n.x * 64u;
      if (i < params.n) { y[i] = x[i] * sig(x[i]); }
    }
    @compute @workgroup_size(64) fn backward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
      let i = g.x + g.y * n.x * 64u;
      if (i < params.n) { let s = sig(x[i]); gx[i] = gy[i] * s * (1.0 + x[i] * (1.0 - s)); }
    }`,
});

async function checkCustomOp(): Promise<AppReport['customOp']> {
  const values = Array.from({ length: 131 }, (_, i) => Math.sin(i * 0.7) * 4);
  const x = fromArray(values, [131]).requireGrad();
  const y = silu([x]);
  const loss = sum(y);
  loss.backward();
  const [out, grad] = [await y.toArray(), await x.grad!.toArray()];
  let forwardError = 0;
  let gradError = 0;
  values.forEach((v, i) => {
    const s = 1 / (1 + Math.exp(-v));
    forwardError = Math.max(forwardError, Math.abs(out[i] - v * s));
    gradError = Math.max(gradError, Math.abs(grad[i] - s * (1 + v * (1 - s))));
  });
  for (const t of [x, y, loss]) t.dispose();
  return { forwardError, gradError };
}

/** Runs the whole app; the same code in Node and in a browser page. */
export async function runApp(): Promise<AppReport> {
  const gpu = await init();
  const liveBefore = memory().liveTensors;
  manualSeed(1234);
  const config = gptConfig('gpt2-small', { contextLength: 16, embDim: 32, nHeads: 2, nLayers: 2, dropRate: 0 });
  const model = new GPTModel(config);
  const train = createDataLoader(TRAIN_TEXT, { batchSize: 2, maxLength: 16, stride: 8 });
  const val = createDataLoader(VAL_TEXT, { batchSize: 1, maxLength: 16, stride: 16 });
  const losses: number[] = [];
  const valLosses: number[] = [];
  const result = await trainModel(model, train, val, {
    epochs: 1,
    lr: 1e-3,
    evalFreq: 1,
    evalIter: 1,
    onProgress: (p) => {
      if (p.trainLoss !== undefined) losses.push(p.trainLoss);
      if (p.valLoss !== undefined) valLosses.push(p.valLoss);
    },
  });
  const generated = decode(await generate(model, encode('Every effort moves'), { maxNewTokens: 4 }));

  const bytes = await checkpointBytes(model, result.optimizer, { step: result.finalStep });
  const restored = restoreCheckpoint(bytes);
  const ids = fromArray(encode('The height of his glory'), [1, 5], { dtype: 'i32' });
  const [a, b] = noGrad(() => [model.forward(ids), restored.model.forward(ids)]);
  const [la, lb] = [await a.toArray(), await b.toArray()];
  let checkpointMaxDiff = 0;
  la.forEach((v, i) => (checkpointMaxDiff = Math.max(checkpointMaxDiff, Math.abs(v - lb[i]))));
  for (const t of [ids, a, b]) t.dispose();
  restored.optimizer?.dispose();
  restored.model.dispose();
  result.optimizer.dispose();
  model.dispose();

  const customOp = await checkCustomOp();
  return {
    version: VERSION,
    adapter: gpu.adapterName,
    featureLevel: gpu.featureLevel,
    losses,
    valLosses,
    steps: result.finalStep,
    generated,
    checkpointMaxDiff,
    checkpointStep: restored.step,
    customOp,
    finetuneEpochs: BOOK_CLASSIFIER_SETTINGS.epochs,
    liveBefore,
    liveAfter: memory().liveTensors,
  };
}
