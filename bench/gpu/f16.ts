/**
 * f16 rows of the GPU benchmark, on adapters with `shader-f16`. One model-level row: greedy decoding
 * (batch 1) with an f16 KV cache (`createCache(b, { dtype: 'f16' })`, GPTModel's only f16 path:
 * weights and activations stay f32) against the f32 cache, in ms per token. The rest are op-level: the
 * fused attention with f16 storage (f32 accumulation) at the training shape and at a decoding step over
 * an f16 KV cache, against the same op in f32; and layerNorm/softmax, which report whether they have an
 * f16 path at all. Speed-up = f32 time / f16 time; |Δ| = the largest difference of the outputs.
 */
import { attention, cast, layerNorm, randn, softmax, sync, type Tensor } from '../../packages/core/src/node';
import type { GPTConfig } from '../../packages/gpt/src/index';
import type { Budget } from './budget';
import { decodeOurs } from './model';
import { attempt, failure, timeBatched } from './timing';

export interface F16Row {
  op: string;
  shape: string;
  f32Ms: number | null;
  f16Ms: number | null;
  /** Largest |f16 result − f32 result|. */
  maxDiff: number | null;
  note: string;
}

export interface F16Shapes {
  batch: number;
  seq: number;
  width: number;
  heads: number;
}

async function maxDiff(a: Tensor, b: Tensor): Promise<number> {
  const [x, y] = [await a.toArray(), await b.toArray()];
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(Number(x[i]) - Number(y[i])));
  return worst;
}

/** Times `op` on f32 inputs and on their f16 casts; the f16 side's failure becomes the note. */
async function compare(op: string, shape: string, inputs: Tensor[], run: (xs: Tensor[]) => Tensor, budget: Budget): Promise<F16Row> {
  const time = (xs: Tensor[]) =>
    timeBatched(async (iters) => {
      for (let i = 0; i < iters; i++) run(xs).dispose();
      await sync();
    }, budget, { targetMs: 1000 });
  const halves = inputs.map((x) => cast(x, 'f16'));
  try {
    const f32Ms = (await time(inputs)).ms;
    let f16Out: Tensor;
    try {
      f16Out = run(halves);
      await sync();
    } catch (err) {
      return { op, shape, f32Ms, f16Ms: null, maxDiff: null, note: `no f16 path: ${failure(err)}` };
    }
    const f32Out = run(inputs);
    const wide = cast(f16Out, 'f32');
    const diff = await maxDiff(f32Out, wide);
    for (const t of [f16Out, f32Out, wide]) t.dispose();
    const f16Ms = (await time(halves)).ms;
    // f32 again, after f16: the better of the two runs, so that warm-up order does not favour either side.
    const f32Best = Math.min(f32Ms, (await time(inputs)).ms);
    return { op, shape, f32Ms: f32Best, f16Ms, maxDiff: diff, note: 'f16 storage, f32 accumulation' };
  } finally {
    for (const t of halves) t.dispose();
  }
}

/** The model decoded for the f16 KV-cache row: `promptLength` prompt ids, then `newTokens` timed steps. */
export interface F16Decode {
  config: GPTConfig;
  modelName: string;
  promptLength: number;
  newTokens: number;
}

/** What a decoding row stores in f16: the KV cache, the projection weights (`castWeights`), or both. */
type DecodeHalves = 'cache' | 'weights' | 'both';

/** Greedy decoding at batch 1 all in f32 and with `halves` in f16: ms per token each; the note says whether the ids agree. */
async function decodeRow(d: F16Decode, halves: DecodeHalves): Promise<F16Row> {
  const op = `decode, f16 ${halves === 'cache' ? 'KV cache' : halves === 'weights' ? 'weights' : 'weights + KV cache'} (batch 1)`;
  const shape = `${d.modelName}, prompt ${d.promptLength}, ${d.newTokens} tokens`;
  const f32 = await attempt(() => decodeOurs(d.config, 1, d.promptLength, d.newTokens));
  const f16 = await attempt(() =>
    decodeOurs(d.config, 1, d.promptLength, d.newTokens, halves === 'weights' ? 'f32' : 'f16', halves === 'cache' ? 'f32' : 'f16'),
  );
  const ms = (m: typeof f32) => (typeof m === 'string' ? null : 1000 / m.tokensPerSecond);
  if (typeof f32 === 'string' || typeof f16 === 'string') {
    return { op, shape, f32Ms: ms(f32), f16Ms: ms(f16), maxDiff: null, note: `failed: ${typeof f32 === 'string' ? `f32 ${f32}` : `f16 ${f16}`}` };
  }
  const same = f16.firstSequence.findIndex((id, i) => id !== f32.firstSequence[i]);
  const agreement = same < 0 ? 'same greedy ids' : `greedy ids differ from step ${same}`;
  const note = `tokens/s f32 ${f32.tokensPerSecond.toFixed(1)}, f16 ${f16.tokensPerSecond.toFixed(1)}; ${agreement}; ${f16.dispatchesPerStep} dispatches per token (f32 ${f32.dispatchesPerStep})`;
  return { op, shape, f32Ms: ms(f32), f16Ms: ms(f16), maxDiff: null, note };
}

/**
 * The f16 rows at the training shape `s` (and a decoding step over a cache of `s.seq` positions), led
 * by decoding `decode`'s model with an f16 KV cache when given.
 */
export async function f16Section(s: F16Shapes, budget: Budget, decode?: F16Decode): Promise<F16Row[]> {
  const rows: F16Row[] = [];
  const { batch: B, seq: T, width: C, heads: H } = s;
  for (const halves of ['cache', 'weights', 'both'] as const) {
    if (decode && budget.allows(`f16 ${halves} decode`)) rows.push(await decodeRow(decode, halves));
  }
  if (budget.allows('f16 attention (training shape)')) {
    const qkv = [randn([B, T, C], { std: 0.5 }), randn([B, T, C], { std: 0.5 }), randn([B, T, C], { std: 0.5 })];
    try {
      rows.push(await compare('attention forward, causal', `${B}×${T}×${C}, ${H} heads`, qkv, ([q, k, v]) => attention(q, k, v, { causal: true, heads: H }), budget));
    } finally {
      for (const t of qkv) t.dispose();
    }
  }
  if (budget.allows('f16 attention (decode step over the KV cache)')) {
    const q = randn([B, 1, C], { std: 0.5 });
    const kv = [randn([B, T, C], { std: 0.5 }), randn([B, T, C], { std: 0.5 })];
    try {
      const label = `${B}×1 over ${T}×${C}, ${H} heads`;
      rows.push(await compare('attention decode step (KV cache)', label, [q, ...kv], ([x, k, v]) => attention(x, k, v, { causal: true, heads: H, kvLength: T }), budget));
    } finally {
      for (const t of [q, ...kv]) t.dispose();
    }
  }
  for (const [op, run] of [
    ['layerNorm forward', ([x]: Tensor[]) => layerNorm(x)],
    ['softmax forward', ([x]: Tensor[]) => softmax(x)],
  ] as const) {
    if (!budget.allows(`f16 ${op}`)) continue;
    const x = randn([B * T, C]);
    try {
      rows.push(await compare(op, `${B * T}×${C}`, [x], run, budget));
    } finally {
      x.dispose();
    }
  }
  return rows;
}
