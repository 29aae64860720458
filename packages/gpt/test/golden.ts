/** Loads the PyTorch-made golden fixture (see fixtures/make_golden.py). */
import { readFileSync } from 'node:fs';
import { AdamW, fromArray, type Tensor } from '@scratchgpt/core/node';
import { fromBookNames, GPTModel, gptConfig, parseSafetensors, type DecodedTensor, type GPTConfig } from '../src/index';

export const golden = parseSafetensors(new Uint8Array(readFileSync(new URL('./fixtures/golden.safetensors', import.meta.url))));
const meta = JSON.parse(readFileSync(new URL('./fixtures/golden.json', import.meta.url), 'utf8')) as {
  config: { vocab_size: number; context_length: number; emb_dim: number; n_heads: number; n_layers: number; drop_rate: number; qkv_bias: boolean };
};

export const goldenConfig: GPTConfig = gptConfig({
  vocabSize: meta.config.vocab_size,
  contextLength: meta.config.context_length,
  embDim: meta.config.emb_dim,
  nHeads: meta.config.n_heads,
  nLayers: meta.config.n_layers,
  dropRate: meta.config.drop_rate,
  qkvBias: meta.config.qkv_bias,
  tieWeights: false,
});

export function tensorOf(name: string): DecodedTensor {
  const t = golden.tensors.get(name);
  if (!t) throw new Error(`golden fixture has no '${name}'`);
  return t;
}

/** Book parameter names present in the fixture (everything not an input/output/grad). */
export function bookParameterNames(): string[] {
  return [...golden.tensors.keys()].filter((n) => !n.startsWith('grad.') && !['input_ids', 'target_ids', 'logits', 'loss', 'gen_prompt', 'gen_tokens', 'adamw_losses'].includes(n));
}

/** A GPTModel holding the fixture's weights. */
export function goldenModel(overrides: Partial<GPTConfig> = {}): GPTModel {
  const config = { ...goldenConfig, ...overrides };
  const model = new GPTModel(config);
  const dict = new Map<string, Tensor>();
  for (const name of bookParameterNames()) {
    if (config.tieWeights && name === 'out_head.weight') continue;
    const t = tensorOf(name);
    dict.set(fromBookNames(name), fromArray(t.data, t.shape));
  }
  model.loadStateDict(dict);
  for (const t of dict.values()) t.dispose();
  return model;
}

/** max |a − b| / max |b|, and whether every element is within rtol·|b| + atol. */
export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4, atol = 1e-6): { maxAbs: number; maxRel: number; ok: boolean } {
  let maxAbs = 0;
  let scale = 0;
  let ok = actual.length === expected.length;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    maxAbs = Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(expected[i]));
    if (!(d <= atol + rtol * Math.abs(expected[i]))) ok = false;
  }
  return { maxAbs, maxRel: maxAbs / (scale || 1), ok };
}

/** max |a − b|, mean |a − b| / mean |b| (relative L1 error), and max |b| (the scale of the values). */
export function deviation(a: ArrayLike<number>, b: ArrayLike<number>): { maxAbs: number; meanRel: number; scale: number } {
  let maxAbs = 0;
  let sumDiff = 0;
  let sumRef = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    maxAbs = Math.max(maxAbs, d);
    sumDiff += d;
    sumRef += Math.abs(b[i]);
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { maxAbs, meanRel: sumDiff / sumRef, scale };
}

/**
 * Each parameter's gradient against PyTorch's (the fixture's `grad.*`): max |Δ| over the tensor's own
 * scale, floored at 1 % of the largest gradient (some gradients are exactly zero in theory — the key
 * bias: softmax ignores a per-query constant — and only rounding noise). Reads every `.grad`.
 */
export async function gradientDeviations(model: GPTModel): Promise<{ name: string; dtype: string; rel: number }[]> {
  const grads: { name: string; dtype: string; ours: ArrayLike<number>; torch: ArrayLike<number> }[] = [];
  let globalMax = 0;
  for (const [name, p] of model.namedParameters()) {
    const torch = tensorOf(`grad.${bookParameterNames().find((n) => fromBookNames(n) === name)!}`).data;
    grads.push({ name, dtype: p.grad!.dtype, ours: await (p.grad as Tensor).toArray(), torch });
    for (let i = 0; i < torch.length; i++) globalMax = Math.max(globalMax, Math.abs(torch[i]));
  }
  return grads.map(({ name, dtype, ours, torch }) => {
    const d = deviation(ours, torch);
    return { name, dtype, rel: d.maxAbs / Math.max(d.scale, 1e-2 * globalMax) };
  });
}

/**
 * The fixture's AdamW run (lr 4e-4, weight decay 0.1, as fixtures/make_golden.py) for as many steps as
 * it recorded (`adamw_losses`): our losses, each read before its step, with `loss` computing each one.
 */
export async function goldenAdamWLosses(model: GPTModel, loss: (model: GPTModel) => Tensor): Promise<{ ours: number[]; torch: number[] }> {
  const torch = Array.from(tensorOf('adamw_losses').data);
  const opt = new AdamW(model.namedParameters(), { lr: 4e-4, weightDecay: 0.1 });
  const ours: number[] = [];
  try {
    for (let i = 0; i < torch.length; i++) {
      const l = loss(model);
      ours.push(await l.item());
      l.backward();
      opt.step();
      opt.zeroGrad();
      l.dispose();
    }
  } finally {
    opt.dispose();
  }
  return { ours, torch };
}
