/** LoRA layers, applyLoRA / merge / unmerge / remove, adapter files, and Module.replaceModule. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdamW, fromArray, GELU, init, Linear, manualSeed, memory, Module, mul, noGrad, randn, Sequential, sum, type Tensor } from '@scratchgpt/core/node';
import { batchLoss, GPTModel, gptConfig, parseSafetensors, serializeSafetensors, type GPTConfig, type TokenBatch } from '@scratchgpt/gpt';
import {
  applyLoRA,
  GPTClassifier,
  loadLoRAAdapters,
  loraAdapterBytes,
  LoRALayer,
  LoRALinear,
  loraLayers,
  mergeLoRA,
  removeLoRA,
  unmergeLoRA,
} from '../src/index';

const small: GPTConfig = gptConfig({ vocabSize: 97, contextLength: 16, embDim: 32, nHeads: 4, nLayers: 2, dropRate: 0, qkvBias: true, tieWeights: false });
const ids = Int32Array.from({ length: 2 * 9 }, (_, i) => (i * 29 + 3) % 97);
const batch: TokenBatch = { inputs: ids, targets: Int32Array.from(ids, (t, i) => (i % 4 === 0 ? -100 : (t + 1) % 97)), shape: [2, 9] };
const ALL_LINEARS = ['W_query', 'W_key', 'W_value', 'out_proj'].map((n) => `att.${n}`).concat(['ff.layers.0', 'ff.layers.2']);
const PATHS = [0, 1].flatMap((b) => ALL_LINEARS.map((n) => `trf_blocks.${b}.${n}`)).concat('out_head');

let dir = '';
beforeAll(async () => {
  await init();
  dir = mkdtempSync(join(tmpdir(), 'scratchgpt-lora-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gpt(seed = 11): GPTModel {
  manualSeed(seed);
  return new GPTModel(small);
}

async function logitsOf(model: GPTModel): Promise<Float32Array> {
  const x = fromArray(batch.inputs, batch.shape, { dtype: 'i32' });
  const y = noGrad(() => model.forward(x));
  const out = (await y.toArray()) as Float32Array;
  x.dispose();
  y.dispose();
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Gives every B random values (a fresh B is zero, which would hide mistakes). */
function randomizeB(model: Module, seed = 3): void {
  for (const [, layer] of loraLayers(model)) {
    const b = randn(layer.lora.B.shape, { seed: seed++, std: 0.2 });
    layer.lora.loadStateDict({ A: layer.lora.A, B: b });
    b.dispose();
  }
}

describe('Module.replaceModule', () => {
  class Pair extends Module {
    readonly first: Linear;
    readonly secondField: Linear; // registered under another name than the field's
    constructor() {
      super();
      this.first = this.module('first', new Linear(3, 3, { seed: 1 }));
      this.secondField = this.module('second', new Linear(3, 2, { seed: 2 }));
    }
    override forward(x: Tensor): Tensor {
      const h = this.first.forward(x);
      const y = this.secondField.forward(h);
      h.dispose();
      return y;
    }
  }

  it('swaps the registry entry in place and every field that held the old module', () => {
    const pair = new Pair();
    const names = pair.namedParameters().map(([n]) => n);
    const old = pair.secondField;
    const replacement = new Linear(3, 2, { seed: 9 });
    expect(pair.replaceModule('second', replacement)).toBe(old);
    expect(pair.secondField).toBe(replacement);
    expect(pair.namedParameters().map(([n]) => n)).toEqual(names); // same names, same order
    expect(pair.stateDict().get('second.weight')).toBe(replacement.weight);

    const seq = new Sequential(new Linear(3, 4), new GELU(), new Linear(4, 3));
    const last = new Linear(4, 3);
    seq.replaceModule('2', last);
    expect(seq.layers[2]).toBe(last); // the array field the forward pass iterates
    expect(seq.namedChildren().map(([n, m]) => [n, m === last])).toEqual([['0', false], ['1', false], ['2', true]]);

    expect(() => pair.replaceModule('third', replacement)).toThrow("scratchgpt: Pair has no submodule 'third' to replace");
    expect(() => pair.replaceModule('first', pair)).toThrow('a module cannot contain itself');
    for (const m of [pair, old, seq]) m.dispose();
  });
});

describe('LoRALayer and LoRALinear', () => {
  it('A is kaiming-uniform(a=√5) on [in, rank]: uniform in ±1/√rank; B is zero; both train', async () => {
    const layer = new LoRALayer(300, 40, { rank: 16, alpha: 16, seed: 1 });
    expect(layer.A.shape).toEqual([300, 16]);
    expect(layer.B.shape).toEqual([16, 40]);
    expect(layer.A.requiresGrad && layer.B.requiresGrad).toBe(true);
    const a = (await layer.A.toArray()) as Float32Array;
    const bound = 1 / Math.sqrt(16);
    expect(Math.max(...a)).toBeLessThanOrEqual(bound);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-bound);
    expect(Math.max(...a)).toBeGreaterThan(0.99 * bound); // 4800 draws fill the interval
    const variance = a.reduce((s, v) => s + v * v, 0) / a.length;
    expect(variance).toBeCloseTo(bound ** 2 / 3, 3);
    expect((await layer.B.toArray()).every((v) => v === 0)).toBe(true);
    const same = new LoRALayer(300, 40, { rank: 16, alpha: 16, seed: 1 });
    expect(Array.from(await same.A.toArray())).toEqual(Array.from(a));
    expect(() => new LoRALayer(3, 3, { rank: 0, alpha: 1 })).toThrow('LoRA rank must be a positive integer, got 0');
    expect(() => new LoRALayer(3, 3, { rank: 2, alpha: NaN })).toThrow('LoRA alpha must be a finite number, got NaN');
    layer.dispose();
    same.dispose();
  });

  it('forward and gradients match a float64 reference on odd shapes (frozen base)', async () => {
    const [I, O, R, alpha] = [7, 5, 3, 5];
    const scale = alpha / R;
    const base = new Linear(I, O, { seed: 4 });
    base.requiresGrad(false);
    const layer = new LoRALinear(base, { rank: R, alpha, seed: 5 });
    randomizeB(layer);
    const x = randn([2, 3, I], { seed: 6 }).requireGrad();
    const w = randn([2, 3, O], { seed: 7 });
    const y = layer.forward(x);
    const loss = sum(mul(y, w)); // dL/dy = w
    loss.backward();
    const [xs, ws, W, bias, A, B] = await Promise.all([x, w, base.weight, base.bias!, layer.lora.A, layer.lora.B].map((t) => t.toArray()));
    const N = 6;
    const xa = new Float64Array(N * R);
    for (let n = 0; n < N; n++) for (let r = 0; r < R; r++) for (let i = 0; i < I; i++) xa[n * R + r] += xs[n * I + i] * A[i * R + r];
    const yRef = new Float64Array(N * O);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < O; o++) {
        let v = bias[o];
        for (let i = 0; i < I; i++) v += xs[n * I + i] * W[o * I + i];
        for (let r = 0; r < R; r++) v += scale * xa[n * R + r] * B[r * O + o];
        yRef[n * O + o] = v;
      }
    }
    // dB = scale·(xA)ᵀ w, dA = scale·xᵀ (w Bᵀ), dx = w W + scale·(w Bᵀ) Aᵀ
    const wb = new Float64Array(N * R);
    for (let n = 0; n < N; n++) for (let r = 0; r < R; r++) for (let o = 0; o < O; o++) wb[n * R + r] += ws[n * O + o] * B[r * O + o];
    const dB = new Float64Array(R * O);
    const dA = new Float64Array(I * R);
    const dx = new Float64Array(N * I);
    for (let n = 0; n < N; n++) {
      for (let r = 0; r < R; r++) for (let o = 0; o < O; o++) dB[r * O + o] += scale * xa[n * R + r] * ws[n * O + o];
      for (let i = 0; i < I; i++) {
        for (let r = 0; r < R; r++) {
          dA[i * R + r] += scale * xs[n * I + i] * wb[n * R + r];
          dx[n * I + i] += scale * wb[n * R + r] * A[i * R + r];
        }
        for (let o = 0; o < O; o++) dx[n * I + i] += ws[n * O + o] * W[o * I + i];
      }
    }
    expect(maxAbsDiff(await y.toArray(), yRef)).toBeLessThan(1e-5);
    expect(maxAbsDiff(await layer.lora.B.grad!.toArray(), dB)).toBeLessThan(1e-5);
    expect(maxAbsDiff(await layer.lora.A.grad!.toArray(), dA)).toBeLessThan(1e-5);
    expect(maxAbsDiff(await x.grad!.toArray(), dx)).toBeLessThan(1e-5);
    expect(base.weight.grad).toBeNull(); // frozen: no gradient computed
    expect(base.bias!.grad).toBeNull();
    expect([layer.inFeatures, layer.outFeatures, layer.weight, layer.bias]).toEqual([I, O, base.weight, base.bias]);
    expect(layer.namedParameters().map(([n]) => n)).toEqual(['linear.weight', 'linear.bias', 'lora.A', 'lora.B']); // the book's names
    for (const t of [x, w, y, loss]) t.dispose();
    x.zeroGrad();
    layer.dispose();
  });
});

describe('applyLoRA, merge, unmerge, remove', () => {
  it("wraps every Linear (the book's replace_linear_with_lora), freezes the rest; a fresh update changes nothing", async () => {
    const model = gpt();
    const before = await logitsOf(model);
    const names = model.namedParameters().map(([n]) => n);
    expect(applyLoRA(model, { rank: 4, alpha: 8 })).toEqual(PATHS);
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable).toEqual(PATHS.flatMap((p) => [`${p}.lora.A`, `${p}.lora.B`]));
    const C = small.embDim;
    const perBlock = 4 * 4 * (C + C) + 2 * 4 * (C + 4 * C);
    expect(model.numParameters({ trainableOnly: true })).toBe(2 * perBlock + 4 * (C + small.vocabSize));
    // base parameters keep their values and the book's LoRA names (`….linear.weight`)
    expect(model.namedParameters().filter(([, p]) => !p.requiresGrad).map(([n]) => n)).toEqual(
      names.map((n) => n.replace(/(W_query|W_key|W_value|out_proj|layers\.[02]|out_head)\./, '$1.linear.')),
    );
    expect(model.trf_blocks.at(0).att.W_query).toBeInstanceOf(LoRALinear);
    expect(maxAbsDiff(await logitsOf(model), before)).toBe(0); // B = 0 → (x A) B = 0 exactly
    expect(() => applyLoRA(model, { rank: 4, alpha: 8 })).toThrow('scratchgpt: applyLoRA found no Linear layer to wrap');
    model.dispose();
  });

  it('a subset by regular expression or predicate; a classifier head is wrapped too', () => {
    const model = gpt();
    expect(applyLoRA(model, { rank: 2, alpha: 2, targets: /att\.W_(query|value)$/ })).toEqual([
      'trf_blocks.0.att.W_query',
      'trf_blocks.0.att.W_value',
      'trf_blocks.1.att.W_query',
      'trf_blocks.1.att.W_value',
    ]);
    expect(applyLoRA(model, { rank: 2, alpha: 2, targets: (path, linear) => linear.outFeatures === 4 * small.embDim })).toEqual([
      'trf_blocks.0.ff.layers.0',
      'trf_blocks.1.ff.layers.0',
    ]);
    expect(model.numParameters({ trainableOnly: true })).toBe(4 * 2 * 64 + 2 * 2 * (32 + 128)); // the first call's stay trainable
    expect(() => applyLoRA(model, { rank: 2, alpha: 2, targets: /nothing/ })).toThrow('found no Linear layer matching /nothing/');
    model.dispose();

    manualSeed(2);
    const classifier = GPTClassifier.fromGPT(new GPTModel(small), { numClasses: 3, padId: 96 });
    const paths = applyLoRA(classifier, { rank: 4, alpha: 4 });
    expect(paths.at(-1)).toBe('out_head');
    expect(classifier.out_head).toBeInstanceOf(LoRALinear);
    expect(classifier.numParameters({ trainableOnly: true })).toBe(2 * (4 * 4 * 64 + 2 * 4 * 160) + 4 * (32 + 3));
    classifier.dispose();
  });

  it('merge folds the update into the weights (same logits), unmerge restores them, remove gives the plain model back', async () => {
    const model = gpt();
    const plainNames = model.namedParameters().map(([n]) => n);
    const original = await Promise.all(model.parameters().map((p) => p.toArray()));
    applyLoRA(model, { rank: 4, alpha: 8, seed: 1 });
    randomizeB(model);
    const unmerged = await logitsOf(model);
    expect(maxAbsDiff(unmerged, await logitsOf(gpt()))).toBeGreaterThan(1e-2); // the update matters

    mergeLoRA(model);
    expect(loraLayers(model).every(([, l]) => l.merged)).toBe(true);
    const merged = await logitsOf(model);
    console.log(`LoRA merge: max |logits merged − unmerged| ${maxAbsDiff(merged, unmerged).toExponential(2)}`);
    expect(maxAbsDiff(merged, unmerged)).toBeLessThan(1e-4);
    mergeLoRA(model); // idempotent
    expect(maxAbsDiff(await logitsOf(model), merged)).toBe(0);

    unmergeLoRA(model);
    const restored = await Promise.all(model.namedParameters().filter(([, p]) => !p.requiresGrad).map(([, p]) => p.toArray()));
    const worst = Math.max(...restored.map((r, i) => maxAbsDiff(r, original[i])));
    console.log(`LoRA merge + unmerge round trip: max |ΔW| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-6);
    expect(maxAbsDiff(await logitsOf(model), unmerged)).toBeLessThan(1e-5);

    const live = memory().liveBytes;
    removeLoRA(model); // merges, then puts the Linear layers back and frees A and B
    expect(model.namedParameters().map(([n]) => n)).toEqual(plainNames);
    expect(model.namedModules().find(([n]) => n === 'trf_blocks.1.ff.layers.2')![1]).toBeInstanceOf(Linear);
    expect(maxAbsDiff(await logitsOf(model), merged)).toBeLessThan(1e-5);
    const loraBytes = 4 * (2 * (4 * 4 * 64 + 2 * 4 * 160) + 4 * (32 + 97)); // f32 A and B of the 13 layers
    expect(live - memory().liveBytes).toBeGreaterThanOrEqual(loraBytes);
    model.dispose();
  });

  it('training steps with LoRA do not grow memory; only A and B change', async () => {
    const model = gpt();
    applyLoRA(model, { rank: 4, alpha: 8, seed: 2 });
    const frozen = model.parameters().filter((p) => !p.requiresGrad);
    const frozenBefore = await Promise.all(frozen.map((p) => p.toArray()));
    const opt = new AdamW(model.namedParameters().filter(([, p]) => p.requiresGrad), { lr: 1e-2, weightDecay: 0.1 });
    const losses: number[] = [];
    let live = 0;
    for (let step = 0; step < 4; step++) {
      const loss = batchLoss(model, batch);
      loss.backward();
      opt.step();
      opt.zeroGrad();
      losses.push(await loss.item());
      loss.dispose();
      if (step === 1) live = memory().liveBytes;
    }
    expect(memory().liveBytes).toBe(live);
    expect(losses[3]).toBeLessThan(losses[0]);
    const frozenAfter = await Promise.all(frozen.map((p) => p.toArray()));
    frozenAfter.forEach((a, i) => expect(maxAbsDiff(a, frozenBefore[i])).toBe(0));
    expect(frozen.every((p) => p.grad === null)).toBe(true);
    opt.dispose();
    model.dispose();
  });
});

describe('LoRA adapter files', () => {
  it('PEFT-like names and transposed shapes; loading into a plain model adds the layers and reproduces the logits', async () => {
    const model = gpt();
    applyLoRA(model, { rank: 4, alpha: 8, seed: 3 });
    randomizeB(model);
    const expected = await logitsOf(model);
    const bytes = await loraAdapterBytes(model);
    const file = parseSafetensors(bytes);
    expect(file.metadata).toEqual({ format: 'pt', r: '4', lora_alpha: '8', target_modules: JSON.stringify(PATHS) });
    expect([...file.tensors.keys()].length).toBe(26);
    const a = file.tensors.get('base_model.model.trf_blocks.0.ff.layers.0.lora_A.weight')!;
    const b = file.tensors.get('base_model.model.trf_blocks.0.ff.layers.0.lora_B.weight')!;
    expect([a.shape, b.shape]).toEqual([[4, 32], [128, 4]]); // [rank, in], [out, rank]
    const layer = loraLayers(model).find(([p]) => p === 'trf_blocks.0.ff.layers.0')![1].lora;
    const [A, B] = [await layer.A.toArray(), await layer.B.toArray()];
    expect(a.data[1 * 32 + 5]).toBe(A[5 * 4 + 1]); // lora_A.weight[r, i] = A[i, r]
    expect(b.data[7 * 4 + 2]).toBe(B[2 * 128 + 7]); // lora_B.weight[o, r] = B[r, o]
    expect(bytes.byteLength).toBeLessThan(30_000);

    const plain = gpt(); // same base weights (same seed)
    expect(loadLoRAAdapters(plain, bytes)).toEqual(PATHS);
    expect(plain.numParameters({ trainableOnly: true })).toBe(model.numParameters({ trainableOnly: true }));
    expect(maxAbsDiff(await logitsOf(plain), expected)).toBe(0);

    const path = join(dir, 'adapters.safetensors');
    writeFileSync(path, await loraAdapterBytes(model));
    const other = gpt();
    applyLoRA(other, { rank: 4, alpha: 8, seed: 99 }); // already has LoRA layers: values are overwritten
    loadLoRAAdapters(other, new Uint8Array(readFileSync(path)));
    expect(maxAbsDiff(await logitsOf(other), expected)).toBe(0);
    for (const m of [model, plain, other]) m.dispose();
  });

  it('mismatches are reported before anything changes', async () => {
    const model = gpt();
    applyLoRA(model, { rank: 4, alpha: 8, targets: /att\.W_query$/ });
    const bytes = await loraAdapterBytes(model);

    const wrongRank = gpt();
    applyLoRA(wrongRank, { rank: 2, alpha: 8, targets: /att\.W_query$/ });
    const before = await logitsOf(wrongRank);
    expect(() => loadLoRAAdapters(wrongRank, bytes)).toThrow('trf_blocks.0.att.W_query: rank 2 in the model, 4 in the file');
    expect(maxAbsDiff(await logitsOf(wrongRank), before)).toBe(0);

    const moreLayers = gpt();
    applyLoRA(moreLayers, { rank: 4, alpha: 8 });
    expect(() => loadLoRAAdapters(moreLayers, bytes)).toThrow("the model's LoRA layers missing from the file: trf_blocks.0.att.W_key");
    expect(loadLoRAAdapters(moreLayers, bytes, { strict: false })).toEqual(['trf_blocks.0.att.W_query', 'trf_blocks.1.att.W_query']);

    const merged = gpt();
    applyLoRA(merged, { rank: 4, alpha: 8, targets: /att\.W_query$/ });
    mergeLoRA(merged);
    expect(() => loadLoRAAdapters(merged, bytes)).toThrow('trf_blocks.0.att.W_query: the LoRA update is merged (unmergeLoRA first)');

    const wider = new GPTModel(gptConfig(small, { embDim: 48 }));
    const names = wider.namedParameters().map(([n]) => n);
    expect(() => loadLoRAAdapters(wider, bytes)).toThrow('trf_blocks.0.att.W_query: adapters for [32 → 32] do not fit a layer [48 → 48]');
    expect(wider.namedParameters().map(([n]) => n)).toEqual(names); // no layers added
    expect(() => loadLoRAAdapters(wider, new Uint8Array(8))).toThrow(/^scratchgpt: not a safetensors file/);
    const t = { dtype: 'F32' as const, shape: [4, 32], data: new Float32Array(128) };
    expect(() => loadLoRAAdapters(wider, serializeSafetensors({ 'base_model.model.out_head.lora_A.weight': t }, { lora_alpha: '8' }))).toThrow(
      'out_head: lora_B.weight is missing',
    );
    expect(() => loadLoRAAdapters(wider, serializeSafetensors({ 'out_head.weight': t }))).toThrow('scratchgpt: not LoRA adapter keys: out_head.weight');
    await expect(loraAdapterBytes(wider)).rejects.toThrow('the model has no LoRA layers to save');
    for (const m of [model, wrongRank, moreLayers, merged, wider]) m.dispose();
  });
});
