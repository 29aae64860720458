/** Loads the PyTorch-made classifier fixture (see fixtures/make_classifier_golden.py). */
import { readFileSync } from 'node:fs';
import { fromArray } from '@scratchgpt/core/node';
import { fromBookNames, loadGPT2, parseSafetensors, type DecodedTensor } from '@scratchgpt/gpt';
import { GPTClassifier, type ClassificationBatch, type Pooling, type Trainable } from '../src/index';

const bytes = new Uint8Array(readFileSync(new URL('./fixtures/classifier_golden.safetensors', import.meta.url)));
export const golden = parseSafetensors(bytes);
export const meta = JSON.parse(readFileSync(new URL('./fixtures/classifier_golden.json', import.meta.url), 'utf8')) as {
  config: { n_heads: number };
  num_classes: number;
  pad_id: number;
  poolings: Pooling[];
  trainable_counts: Record<string, number>;
  parameters: string[];
  trainable: string[];
  frozen_without_grad: string[];
  accuracy_last: number;
  adamw: { lr: number; weight_decay: number; steps: number };
};

export function tensorOf(name: string): DecodedTensor {
  const t = golden.tensors.get(name);
  if (!t) throw new Error(`classifier fixture has no '${name}'`);
  return t;
}

/** The fixed batch of the fixture. */
export const goldenBatch: ClassificationBatch = {
  inputs: tensorOf('input_ids').data as Int32Array,
  labels: tensorOf('labels').data as Int32Array,
  lengths: tensorOf('lengths').data as Int32Array,
  shape: tensorOf('input_ids').shape as [number, number],
};

/** Our name of a book parameter name (`final_norm.scale` → `final_norm.weight`). */
export const ours = fromBookNames;

/** The fixture's GPT (read through the GPT-2 weight loader) as a classifier with the fixture's head. */
export async function goldenClassifier(pooling: Pooling = 'last', trainable: Trainable = 'book'): Promise<GPTClassifier> {
  const gpt = await loadGPT2(bytes, { nHeads: meta.config.n_heads });
  const model = GPTClassifier.fromGPT(gpt, { numClasses: meta.num_classes, padId: meta.pad_id, pooling, trainable });
  const weight = tensorOf('out_head.weight');
  const bias = tensorOf('out_head.bias');
  const w = fromArray(weight.data, weight.shape);
  const b = fromArray(bias.data, bias.shape);
  model.out_head.loadStateDict({ weight: w, bias: b });
  w.dispose();
  b.dispose();
  return model;
}

/** Largest |a − b|, and the largest |b|. */
export function maxDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): { maxAbs: number; scale: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { maxAbs, scale };
}
