import { createServer } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, manualSeed, memory, noGrad, sync } from '@scratchgpt/core/node';
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
  loadGPT2,
  restoreCheckpoint,
  saveCheckpoint,
  serializeSafetensors,
  trainModel,
  trainValSplit,
  type TensorToWrite,
} from '../src/index';
import { bookParameterNames, compare, goldenModel, tensorOf } from './golden';

beforeAll(async () => {
  await init();
});

const verdict = readFileSync(new URL('./fixtures/the-verdict.txt', import.meta.url), 'utf8');

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

/** Our (book-layout) golden weights rewritten in the Hugging Face GPT-2 layout. */
function goldenAsHF(prefix = ''): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  const get = (n: string) => tensorOf(n).data as Float32Array;
  const C = tensorOf('tok_emb.weight').shape[1];
  const put = (name: string, data: Float32Array, shape: number[]) => out.set(prefix + name, { dtype: 'F32', shape, data });
  const t = (w: Float32Array, rows: number, cols: number) => {
    const o = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[c * rows + r] = w[r * cols + c];
    return o;
  };
  put('wte.weight', get('tok_emb.weight'), tensorOf('tok_emb.weight').shape);
  put('wpe.weight', get('pos_emb.weight'), tensorOf('pos_emb.weight').shape);
  const layers = new Set(bookParameterNames().filter((n) => n.startsWith('trf_blocks.')).map((n) => n.split('.')[1])).size;
  for (let i = 0; i < layers; i++) {
    const b = `trf_blocks.${i}.`;
    const h = `h.${i}.`;
    put(`${h}ln_1.weight`, get(`${b}norm1.scale`), [C]);
    put(`${h}ln_1.bias`, get(`${b}norm1.shift`), [C]);
    put(`${h}ln_2.weight`, get(`${b}norm2.scale`), [C]);
    put(`${h}ln_2.bias`, get(`${b}norm2.shift`), [C]);
    // c_attn: [in, 3·out] with q | k | v column blocks
    const qkv = new Float32Array(C * 3 * C);
    ['W_query', 'W_key', 'W_value'].forEach((p, k) => {
      const wt = t(get(`${b}att.${p}.weight`), C, C); // [in, out]
      for (let r = 0; r < C; r++) qkv.set(wt.subarray(r * C, (r + 1) * C), r * 3 * C + k * C);
    });
    put(`${h}attn.c_attn.weight`, qkv, [C, 3 * C]);
    put(`${h}attn.c_attn.bias`, Float32Array.from([...get(`${b}att.W_query.bias`), ...get(`${b}att.W_key.bias`), ...get(`${b}att.W_value.bias`)]), [3 * C]);
    put(`${h}attn.c_proj.weight`, t(get(`${b}att.out_proj.weight`), C, C), [C, C]);
    put(`${h}attn.c_proj.bias`, get(`${b}att.out_proj.bias`), [C]);
    put(`${h}attn.bias`, new Float32Array(16 * 16), [1, 1, 16, 16]); // HF's causal-mask buffer: ignored
    put(`${h}mlp.c_fc.weight`, t(get(`${b}ff.layers.0.weight`), 4 * C, C), [C, 4 * C]);
    put(`${h}mlp.c_fc.bias`, get(`${b}ff.layers.0.bias`), [4 * C]);
    put(`${h}mlp.c_proj.weight`, t(get(`${b}ff.layers.2.weight`), C, 4 * C), [4 * C, C]);
    put(`${h}mlp.c_proj.bias`, get(`${b}ff.layers.2.bias`), [C]);
  }
  put('ln_f.weight', get('final_norm.scale'), [C]);
  put('ln_f.bias', get('final_norm.shift'), [C]);
  return out;
}

describe('GPT-2 weights (Hugging Face layout)', () => {
  const ids = [[3, 1, 4, 1, 5, 9, 2, 6]];
  async function logitsOf(model: GPTModel): Promise<Float32Array> {
    return (await noGrad(() => model.forward(fromArray(ids.flat(), [1, 8], { dtype: 'i32' }))).toArray()) as Float32Array;
  }
  it('loads from bytes (with and without the transformer. prefix) and from a file, tying the head to wte', async () => {
    const expected = await logitsOf(goldenModel({ tieWeights: true }));
    for (const prefix of ['', 'transformer.']) {
      const model = await loadGPT2(serializeSafetensors(goldenAsHF(prefix)), { nHeads: 4 });
      expect(model.config.tieWeights).toBe(true);
      expect(model.config.qkvBias).toBe(true);
      expect(compare(await logitsOf(model), expected, 1e-5, 1e-6).ok).toBe(true);
      model.dispose();
    }
    const dir = mkdtempSync(join(tmpdir(), 'sg-hf-'));
    writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(goldenAsHF()));
    const fromFile = await loadGPT2(join(dir, 'model.safetensors'), { nHeads: 4 });
    expect(compare(await logitsOf(fromFile), expected, 1e-5, 1e-6).ok).toBe(true);
  });
  it('loads from a URL (local HTTP server) and caches the download', async () => {
    const bytes = serializeSafetensors(goldenAsHF());
    let hits = 0;
    const server = createServer((req, res) => {
      hits++;
      if (req.url === '/openai-community/gpt2/resolve/main/model.safetensors') res.end(Buffer.from(bytes));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const cacheDir = mkdtempSync(join(tmpdir(), 'sg-cache-'));
      const url = `${base}/openai-community/gpt2/resolve/main/model.safetensors`;
      const a = await loadGPT2(url, { nHeads: 4, cacheDir });
      const b = await loadGPT2(url, { nHeads: 4, cacheDir });
      expect(hits).toBe(1);
      expect(readdirSync(cacheDir).length).toBe(1);
      expect(compare(await logitsOf(a), await logitsOf(b), 0, 0).ok).toBe(true);
      await expect(loadGPT2(`${base}/missing`, { cacheDir })).rejects.toThrow(/HTTP 404/);
    } finally {
      server.close();
    }
  });
  it('names the tensor when a file is incomplete or mismatched', async () => {
    const broken = goldenAsHF();
    broken.delete('h.1.mlp.c_fc.bias');
    await expect(loadGPT2(serializeSafetensors(broken), { nHeads: 4 })).rejects.toThrow(/'h.1.mlp.c_fc.bias' is missing/);
    const wrong = goldenAsHF();
    wrong.set('h.0.attn.c_proj.weight', { dtype: 'F32', shape: [32, 31], data: new Float32Array(32 * 31) });
    await expect(loadGPT2(serializeSafetensors(wrong), { nHeads: 4 })).rejects.toThrow(/'h.0.attn.c_proj.weight' has shape \[32, 31\], expected \[32, 32\]/);
    await expect(loadGPT2(new TextEncoder().encode('<html>rate limited</html>'))).rejects.toThrow(/not a safetensors file/);
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
    await trainModel(model, trainLoader, valLoader, { epochs: 1, lr: 2e-3, evalFreq: 1000, onProgress: (p) => p.sampleText ?? progress.push(p.step) });
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
