/** Saving and loading a fine-tuned classifier: round trip, metadata, validation before any change. */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, manualSeed, memory, sync } from '@scratchgpt/core/node';
import { GPTModel, gptConfig, parseSafetensors, serializeSafetensors, type TensorToWrite } from '@scratchgpt/gpt';
import { classifierBytes, GPTClassifier, loadClassifier, restoreClassifier, saveClassifier, type ClassificationBatch } from '../src/index';

beforeAll(async () => {
  await init();
});

const config = gptConfig({ vocabSize: 53, contextLength: 10, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true, tieWeights: false });
const batch: ClassificationBatch = {
  inputs: Int32Array.from({ length: 3 * 7 }, (_, i) => (i * 11) % 52),
  labels: Int32Array.from([0, 1, 1]),
  lengths: Int32Array.from([7, 3, 5]),
  shape: [3, 7],
};

function classifier(seed: number): GPTClassifier {
  manualSeed(seed);
  return GPTClassifier.fromGPT(new GPTModel(config), { numClasses: 2, labels: ['ham', 'spam'], pooling: 'last-non-pad', padId: 52, trainable: { lastBlocks: 1 }, seed });
}

async function logits(m: GPTClassifier): Promise<Float32Array> {
  const ids = fromArray(batch.inputs, [...batch.shape], { dtype: 'i32' });
  const out = m.forward(ids, { lengths: batch.lengths });
  const values = (await out.toArray()) as Float32Array;
  ids.dispose();
  out.dispose();
  return values;
}

async function weights(m: GPTClassifier): Promise<Float32Array[]> {
  return Promise.all(m.parameters().map((p) => p.toArray() as Promise<Float32Array>));
}

/** The file's bytes with `edit` applied to its tensors and metadata. */
function rewrite(bytes: Uint8Array, edit: (tensors: Map<string, TensorToWrite>, meta: Record<string, string>) => void): Uint8Array {
  const file = parseSafetensors(bytes);
  const tensors = new Map<string, TensorToWrite>([...file.tensors].map(([n, t]) => [n, { dtype: 'F32', shape: t.shape, data: t.data }]));
  const meta = { ...file.metadata };
  edit(tensors, meta);
  return serializeSafetensors(tensors, meta);
}

describe('classifier files', () => {
  it('round trip: identical logits and metadata, into a new model or an existing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-clf-'));
    const path = join(dir, 'spam.safetensors');
    const original = classifier(1);
    await saveClassifier(path, original, { maxLength: 7, extra: { note: 'test' } });
    expect(readdirSync(dir)).toEqual(['spam.safetensors']); // no temp file left
    const loaded = await loadClassifier(path);
    expect(loaded.labels).toEqual(['ham', 'spam']);
    expect(loaded.pooling).toBe('last-non-pad');
    expect(loaded.padId).toBe(52);
    expect(loaded.maxLength).toBe(7);
    expect(loaded.trainable).toEqual({ lastBlocks: 1 });
    expect(loaded.extra).toEqual({ note: 'test' });
    expect(loaded.config).toEqual(config);
    expect(loaded.model.trainable).toEqual({ lastBlocks: 1 });
    expect(await logits(loaded.model)).toEqual(await logits(original));
    // the tensor names are the book's classifier's
    expect([...parseSafetensors(await classifierBytes(original, { maxLength: 7 })).tensors.keys()]).toContain('out_head.bias');
    const other = classifier(2);
    expect(await logits(other)).not.toEqual(await logits(original));
    await loadClassifier(path, other);
    expect(await logits(other)).toEqual(await logits(original));
    for (const m of [original, loaded.model, other]) m.dispose();
  });

  it('rejects corrupt or mismatched files before changing the model, and frees what it built', async () => {
    const original = classifier(1);
    const bytes = await classifierBytes(original, { maxLength: 7 });
    const target = classifier(2);
    const before = await weights(target);
    await sync();
    const base = memory();
    const cases: [Uint8Array, RegExp][] = [
      [bytes.subarray(0, bytes.length - 100), /past the end of the file/],
      [rewrite(bytes, (t) => t.delete('trf_blocks.1.ff.layers.0.bias')), /tensor 'trf_blocks.1.ff.layers.0.bias' is missing/],
      [rewrite(bytes, (t) => t.set('out_head.bias', { dtype: 'F32', shape: [3], data: new Float32Array(3) })), /tensor 'out_head.bias' has shape \[3\], expected \[2\]/],
      [rewrite(bytes, (t) => t.set('extra.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) })), /tensor 'extra.weight' belongs to no parameter/],
      [rewrite(bytes, (_, m) => (m.pooling = 'max')), /pooling 'max' is not one of/],
      [rewrite(bytes, (_, m) => (m.labels = '["ham"]')), /labels \["ham"\] are not ≥ 2 distinct strings/],
      [rewrite(bytes, (_, m) => (m.maxLength = '11')), /maxLength 11 is not an integer in \[1, 10\]/],
      [rewrite(bytes, (_, m) => (m.config = '{"vocabSize": 53')), /'config' metadata is not valid JSON/],
      [rewrite(bytes, (_, m) => (m.format = 'scratchgpt-checkpoint-v1')), /not a classifier: a training checkpoint \(saveCheckpoint/],
      [rewrite(bytes, (_, m) => (m.format = 'something-else')), /not a scratchgpt classifier file \(format 'something-else'/],
      [rewrite(bytes, (_, m) => (m.labels = '["no", "yes"]')), /labels \["no","yes"\] does not match the model's \["ham","spam"\]/],
    ];
    for (const [bad, message] of cases) {
      expect(() => restoreClassifier(bad, target)).toThrow(message);
      if (!/does not match/.test(message.source)) expect(() => restoreClassifier(bad)).toThrow(message);
    }
    // a file whose 'trainable' is invalid is refused after the model was built: that model is freed
    expect(() => restoreClassifier(rewrite(bytes, (_, m) => (m.trainable = '{"lastBlocks": 9}')))).toThrow(/trainable must be/);
    expect(memory().liveTensors).toBe(base.liveTensors);
    expect(memory().liveBytes).toBe(base.liveBytes);
    const after = await weights(target);
    after.forEach((w, i) => expect(w).toEqual(before[i]));
    original.dispose();
    target.dispose();
  });

  it('refuses to save non-finite weights or a bad maxLength, writing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-clf-nan-'));
    const path = join(dir, 'c.safetensors');
    writeFileSync(path, 'previous');
    const m = classifier(3);
    const nan = fromArray(new Float32Array(2).fill(NaN), [2]);
    m.out_head.loadStateDict(new Map([['bias', nan]]), { strict: false });
    nan.dispose();
    await expect(saveClassifier(path, m, { maxLength: 7 })).rejects.toThrow(/tensor 'out_head.bias' holds NaN at index 0/);
    await expect(saveClassifier(path, m, { maxLength: 0 })).rejects.toThrow(/maxLength 0 is not an integer in \[1, 10\]/);
    expect(readdirSync(dir)).toEqual(['c.safetensors']);
    expect(existsSync(path)).toBe(true);
    m.dispose();
  });
});
