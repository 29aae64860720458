/**
 * Checkpoints under failure: a damaged file never half-loads (the model stays as it was and nothing
 * leaks), a diverged model never overwrites a good checkpoint, a damaged config gets a clear error,
 * and temp files left by a writer killed mid-save are swept up by the next save.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, fromArray, init, manualSeed, memory, type Tensor } from '@scratchgpt/core/node';
import {
  batchLoss,
  checkpointBytes,
  GPTModel,
  gptConfig,
  loadCheckpoint,
  parseSafetensors,
  restoreCheckpoint,
  saveCheckpoint,
  serializeSafetensors,
  writeFileAtomic,
  type TensorToWrite,
} from '../src/index.node';

beforeAll(async () => {
  await init();
});

const config = gptConfig({ vocabSize: 50, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true, tieWeights: false });

/** A model and an AdamW that has taken one step (so its moments are not all zero). */
async function trained(seed: number): Promise<{ model: GPTModel; optimizer: AdamW }> {
  manualSeed(seed);
  const model = new GPTModel(config);
  const optimizer = new AdamW(model.namedParameters(), { lr: 1e-2 });
  const ids = [1, 2, 3, 4, 5, 6, 7, 8];
  const loss = batchLoss(model, { inputs: Int32Array.from(ids.slice(0, 7)), targets: Int32Array.from(ids.slice(1)), shape: [1, 7] });
  loss.backward();
  optimizer.step();
  optimizer.zeroGrad();
  loss.dispose();
  return { model, optimizer };
}

async function snapshot(model: GPTModel): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [name, t] of model.namedParameters()) out.set(name, Array.from((await t.toArray()) as Float32Array));
  return out;
}

/** Rewrites a checkpoint's tensors and metadata (to damage it in a controlled way). */
function edit(bytes: Uint8Array, change: (tensors: Map<string, TensorToWrite>, metadata: Record<string, string>) => void): Uint8Array {
  const file = parseSafetensors(bytes);
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of file.tensors) tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.data as Float32Array });
  const metadata = { ...file.metadata };
  change(tensors, metadata);
  return serializeSafetensors(tensors, metadata);
}

describe('loadCheckpoint is all-or-nothing', () => {
  it('leaves the model unchanged and allocates nothing when any part of the file is bad', async () => {
    const source = await trained(1);
    const good = await checkpointBytes(source.model, source.optimizer, { step: 1 });
    const target = (await trained(2)).model;
    const before = await snapshot(target);
    const dir = mkdtempSync(join(tmpdir(), 'sg-ckpt-safety-'));
    const damaged: [string, Uint8Array, RegExp][] = [
      ['optimizer moment missing', edit(good, (t) => t.delete('optimizer/trf_blocks.0.ff.layers.2.bias.exp_avg_sq')), /tensor 'optimizer\/trf_blocks\.0\.ff\.layers\.2\.bias\.exp_avg_sq' is missing/],
      ['optimizer moment of the wrong shape', edit(good, (t) => t.set('optimizer/final_norm.weight.exp_avg', { dtype: 'F32', shape: [15], data: new Float32Array(15) })), /'optimizer\/final_norm\.weight\.exp_avg' has shape \[15\], expected \[16\]/],
      ['step count missing', edit(good, (_, m) => (m.optimizer = m.optimizer.replace('"out_head.weight":1', '"out_head.weight":-1'))), /no valid step count for 'out_head\.weight' \(got -1\)/],
      ['bad AdamW hyperparameter', edit(good, (_, m) => (m.optimizer = m.optimizer.replace(/"eps":[^,]+/, '"eps":-1'))), /invalid AdamW eps -1/],
      ['model tensor of the wrong shape', edit(good, (t) => t.set('model/pos_emb.weight', { dtype: 'F32', shape: [8, 15], data: new Float32Array(120) })), /'model\/pos_emb\.weight' has shape \[8, 15\], expected \[8, 16\]/],
      ['stray model tensor', edit(good, (t) => t.set('model/lora_A', { dtype: 'F32', shape: [2], data: new Float32Array(2) })), /'model\/lora_A' belongs to no parameter/],
      ['optimizer metadata not JSON', edit(good, (_, m) => (m.optimizer = '{"type":"AdamW",')), /damaged checkpoint: its 'optimizer' metadata is not valid JSON/],
      ['SGD state', edit(good, (_, m) => (m.optimizer = '{"type":"SGD","lr":0.1}')), /holds "SGD" optimizer state; restoreCheckpoint restores AdamW state only/],
    ];
    const base = memory();
    for (const [what, bytes, message] of damaged) {
      const path = join(dir, 'bad.safetensors');
      writeFileSync(path, bytes);
      await expect(loadCheckpoint(path, target), what).rejects.toThrow(message);
      expect(memory().liveTensors, what).toBe(base.liveTensors);
      // Building a model from the file fails the same way, and that model is freed too.
      await expect(loadCheckpoint(path), what).rejects.toThrow(message);
      expect(memory().liveTensors, what).toBe(base.liveTensors);
      expect(memory().liveBytes, what).toBe(base.liveBytes);
    }
    expect(await snapshot(target)).toEqual(before);
    // The intact file loads into the same model.
    const restored = restoreCheckpoint(good, target);
    expect(await snapshot(target)).toEqual(await snapshot(source.model));
    expect(restored.optimizer).not.toBeNull();
    restored.optimizer!.dispose();
  });

  it('reports a damaged config clearly instead of a bare SyntaxError', async () => {
    const { model } = await trained(3);
    const good = await checkpointBytes(model);
    const base = memory();
    expect(() => restoreCheckpoint(edit(good, (_, m) => (m.config = m.config.slice(0, 20))))).toThrow(/^scratchgpt: damaged checkpoint: its 'config' metadata is not valid JSON \(.+\): \{"vocabSize":50,"con/);
    expect(() => restoreCheckpoint(edit(good, (_, m) => (m.config = m.config.replace('"nHeads":2', '"nHeads":3'))))).toThrow(/damaged checkpoint: its config is invalid \(GPTConfig\.embDim \(16\) must be divisible by nHeads \(3\)\)/);
    expect(() => restoreCheckpoint(edit(good, (_, m) => delete (m as Partial<typeof m>).config))).toThrow(/its 'config' metadata is missing/);
    expect(() => restoreCheckpoint(edit(good, (_, m) => (m.extra = '{oops')))).toThrow(/its 'extra' metadata is not valid JSON/);
    expect(memory().liveTensors).toBe(base.liveTensors);
  });
});

describe('saving', () => {
  it('refuses non-finite weights, naming the tensor, and keeps the previous checkpoint intact', async () => {
    const { model, optimizer } = await trained(4);
    const dir = mkdtempSync(join(tmpdir(), 'sg-ckpt-nan-'));
    const path = join(dir, 'ckpt.safetensors');
    await saveCheckpoint(path, model, optimizer, { step: 1 });
    const saved = readFileSync(path);
    const poison = (name: string, value: number, index: number) => {
      const p = model.namedParameters().find(([n]) => n === name)![1];
      const data = new Float32Array(p.size).fill(0.5);
      data[index] = value;
      const t: Tensor = fromArray(data, p.shape);
      model.loadStateDict(new Map([[name, t]]), { strict: false });
      t.dispose();
    };
    poison('trf_blocks.0.att.W_key.weight', NaN, 17);
    await expect(saveCheckpoint(path, model, optimizer, { step: 2 })).rejects.toThrow(/^scratchgpt: refusing to save the checkpoint: tensor 'model\/trf_blocks\.0\.att\.W_key\.weight' holds NaN at index 17/);
    poison('trf_blocks.0.att.W_key.weight', 0, 0);
    poison('final_norm.bias', -Infinity, 3);
    await expect(checkpointBytes(model)).rejects.toThrow(/tensor 'model\/final_norm\.bias' holds -Infinity at index 3/);
    await expect(saveCheckpoint(path, model)).rejects.toThrow(/final_norm\.bias/);
    expect(readFileSync(path).equals(saved)).toBe(true);
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
  });

  it('removes the temp files of writers that died mid-save (kill -9), and only those', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-ckpt-stale-'));
    const path = join(dir, 'ckpt.safetensors');
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid; // exited: no such process any more
    const livePid = process.ppid;
    const plant = (name: string, ageMs = 0) => {
      writeFileSync(join(dir, name), new Uint8Array(1000));
      const t = (Date.now() - ageMs) / 1000;
      utimesSync(join(dir, name), t, t);
    };
    plant(`.ckpt.safetensors.tmp-${deadPid}-k9x2a1`); // writer killed mid-save
    plant(`.ckpt.safetensors.tmp-${livePid}-old0001`, 2 * 60 * 60 * 1000); // pid alive (reused?) but untouched for 2 h
    plant(`.ckpt.safetensors.tmp-${livePid}-busy001`); // a live writer's save in progress
    plant(`.other.safetensors.tmp-${deadPid}-abc0001`); // another file's: not this save's business
    await writeFileAtomic(path, 'first');
    expect(readdirSync(dir).sort()).toEqual([`.ckpt.safetensors.tmp-${livePid}-busy001`, `.other.safetensors.tmp-${deadPid}-abc0001`, 'ckpt.safetensors'].sort());
    // saveCheckpoint goes through the same path.
    plant(`.ckpt.safetensors.tmp-${deadPid}-again01`);
    const { model } = await trained(5);
    await saveCheckpoint(path, model);
    expect(readdirSync(dir).sort()).toEqual([`.ckpt.safetensors.tmp-${livePid}-busy001`, `.other.safetensors.tmp-${deadPid}-abc0001`, 'ckpt.safetensors'].sort());
    expect(restoreCheckpoint(new Uint8Array(readFileSync(path))).config).toEqual(config);
  });
});
