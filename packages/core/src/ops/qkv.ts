/**
 * The query/key/value projections of a decoding step in one dispatch (shaders/qkv.wgsl): the block's
 * LayerNorm, three projections with their biases, the query to a tensor and the key and value rows
 * straight into the KV cache, where a LayerNorm, three matmuls, three bias adds and two cache copies
 * per batch row ran before. The weights stay the model's own three tensors (no concatenated copy to
 * keep in sync). Forward, float64 reference and registry entry.
 *
 * Three dispatches of the fused linear kernel stand in where the device binds fewer than twelve
 * storage buffers, and the composed ops (with copies into the cache) above a few rows (a prompt).
 * The caches may be f16 (an f16 KV cache, needs shader-f16): the one-dispatch kernel's f16 twin
 * converts on the store; the other paths convert with `castInto`. The weights may be f16 (all three):
 * the kernels' f16-weight twins read them as packed halves and accumulate in f32 (ops/linear.ts).
 */
import source from '../../../../shaders/qkv.wgsl';
import linearRowsWgsl from '../../../../shaders/linear_rows.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { launch } from '../engine/kernel';
import { noGrad } from '../engine/graph';
import { recordCopy } from '../engine/queue';
import { expectDType, fmt, sameShape, Tensor } from '../engine/tensor';
import { castInto } from './cast';
import { concat } from './concat';
import { zeros } from './creation';
import type { OpInfo } from './info';
import { blockRows, canBindStorageBuffers, FUSED_LINEAR_MAX_ROWS, linear, linearFused, linearRef, workgroupMemory, type LinearNorm } from './linear';
import { F16_WEIGHTS, F16_WEIGHTS_TAG, F32_WEIGHTS, setHalfWeightTwin, weightBinding, weightVariant } from './linear_weights';
import { tileConfig } from './gemm/dispatch';
import { defineStorageKernel, storageOf, storageVariant } from './variants';

/** f32 caches; `storageVariant(kernel, 'f16kv')`: f16 caches (`kv_act`). f32 weights. */
const kernel = defineStorageKernel('qkv', source, [linearRowsWgsl, F32_WEIGHTS]);
/** The same pair for f16 weights (`weightVariant(kernel, weight)`). */
setHalfWeightTwin(kernel, defineStorageKernel('qkv_f16w', `${F16_WEIGHTS_TAG}${source}`, [linearRowsWgsl, F16_WEIGHTS]));
/** Storage buffers the one-dispatch kernel binds. */
const QKV_BINDINGS = 12;
let testForceFallback = false;

/** @internal Tests only: take the three-launch path that devices with fewer than twelve storage bindings get. */
export function setQkvFallbackForTests(force: boolean): void {
  testForceFallback = force;
}

/** The three projections of an attention layer: weights `[N, K]` (`[out, in]`; all f32 or all f16), optional biases `[N]`. */
export interface QkvWeights {
  query: Tensor;
  key: Tensor;
  value: Tensor;
  queryBias?: Tensor | null;
  keyBias?: Tensor | null;
  valueBias?: Tensor | null;
}

/** Where the new keys and values go: caches `[B, capacity, N]` (both f32 or both f16), written from row `position` on. */
export interface QkvCacheSlot {
  keys: Tensor;
  values: Tensor;
  position: number;
}

export interface QkvOptions {
  /** A LayerNorm applied to `x` first (the pre-LN block's first norm). */
  norm?: LinearNorm | null;
}

function check(x: Tensor, w: QkvWeights, cache: QkvCacheSlot, norm: LinearNorm | null): { b: number; t: number; k: number; n: number } {
  expectDType('qkvProjection', x, 'f32');
  if (x.rank !== 3) throw new ScratchGPTError('shape', `scratchgpt: qkvProjection expects x [B, T, K], got ${fmt(x.shape)}`);
  const [b, t, k] = x.shape;
  const n = w.query.shape[0];
  for (const [name, weight] of [['query', w.query], ['key', w.key], ['value', w.value]] as const) {
    expectDType('qkvProjection', weight, 'f32', 'f16');
    if (weight.dtype !== w.query.dtype) throw new ScratchGPTError('dtype', `scratchgpt: qkvProjection: the three weights must share a dtype, got query ${w.query.dtype} and ${name} ${weight.dtype}`);
    if (weight.rank !== 2 || weight.shape[0] !== n || weight.shape[1] !== k) {
      throw new ScratchGPTError('shape', `scratchgpt: qkvProjection: ${name} weight must be [${n}, ${k}] for x ${fmt(x.shape)}, got ${fmt(weight.shape)}`);
    }
  }
  const biases = [w.queryBias, w.keyBias, w.valueBias];
  if (biases.some((bias) => bias) && !biases.every((bias) => bias)) throw new ScratchGPTError('value', 'scratchgpt: qkvProjection: give all three biases or none');
  for (const bias of biases) {
    if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) throw new ScratchGPTError('shape', `scratchgpt: qkvProjection: biases must have shape [${n}], got ${fmt(bias.shape)}`);
  }
  for (const [name, vec] of [['norm.weight', norm?.weight], ['norm.bias', norm?.bias]] as const) {
    if (vec && (vec.rank !== 1 || vec.shape[0] !== k)) throw new ScratchGPTError('shape', `scratchgpt: qkvProjection: ${name} must have shape [${k}], got ${fmt(vec.shape)}`);
  }
  const { keys, values, position } = cache;
  for (const [name, c] of [['keys', keys], ['values', values]] as const) expectDType('qkvProjection', c, 'f32', 'f16');
  if (keys.dtype !== values.dtype) throw new ScratchGPTError('dtype', `scratchgpt: qkvProjection: caches must share a dtype, got keys ${keys.dtype} and values ${values.dtype}`);
  if (keys.rank !== 3 || keys.shape[0] !== b || keys.shape[2] !== n || !sameShape(keys.shape, values.shape)) {
    throw new ScratchGPTError('shape', `scratchgpt: qkvProjection: caches must both be [${b}, capacity, ${n}], got keys ${fmt(keys.shape)} and values ${fmt(values.shape)}`);
  }
  if (!Number.isInteger(position) || position < 0 || position + t > keys.shape[1]) {
    throw new ScratchGPTError('range', `scratchgpt: qkvProjection: ${t} new rows at position ${position} do not fit a cache of ${keys.shape[1]} rows`);
  }
  return { b, t, k, n };
}

/** Copies rows `[B, T, N]` of `rows` into `cache` `[B, capacity, N]` from row `at` (one copy, or f16 conversion, per batch row). */
function copyRows(rows: Tensor, cache: Tensor, at: number): void {
  const [b, t, n] = rows.shape;
  const capacity = cache.shape[1];
  for (let i = 0; i < b; i++) {
    if (cache.dtype === 'f16') castInto(rows, cache, { sourceOffset: i * t * n, targetOffset: (i * capacity + at) * n, count: t * n });
    else recordCopy(rows.buffer, rows.byteOffset + i * t * n * 4, cache.buffer, cache.byteOffset + (i * capacity + at) * n * 4, t * n * 4);
  }
}

/**
 * Projects `x` `[B, T, K]` to queries, keys and values (`norm(x)·Wᵀ + b` each) and writes the keys
 * and values into `cache` at rows `position .. position + T − 1`; returns the queries `[B, T, N]`.
 * A decoding op: it records no gradient (a KV cache never carries one); for training use `linear`.
 * @example
 * ```ts
 * const q = qkvProjection(x, { query: wq, key: wk, value: wv }, { keys: cacheK, values: cacheV, position: past }, { norm: { weight: ln.weight, bias: ln.bias } });
 * const att = attention(q, cacheK, cacheV, { causal: true, heads, kvLength: past + T });
 * ```
 */
export function qkvProjection(x: Tensor, weights: QkvWeights, cache: QkvCacheSlot, { norm = null }: QkvOptions = {}): Tensor<'f32'> {
  const { b, t, k, n } = check(x, weights, cache, norm);
  const rows = b * t;
  const halfCache = storageOf('qkvProjection', cache.keys) === 'f16'; // throws without shader-f16, before allocating
  return noGrad(() => {
    const q = Tensor.empty([b, t, n], 'f32');
    if (rows === 0 || n === 0) return q;
    const { keys, values, position } = cache;
    // One column quad of each projection per thread (CPU adapters: all of K; GPUs: K split 16 ways).
    const shape = tileConfig().adapter === 'cpu' ? { WG: 8, SPLIT: 1 } : { WG: 64, SPLIT: 16 };
    const memory = workgroupMemory({ ...shape, QUADS: 1 }, blockRows(rows), k, norm !== null, 3);
    if (rows <= FUSED_LINEAR_MAX_ROWS && k > 0 && memory && !testForceFallback && canBindStorageBuffers(QKV_BINDINGS)) {
      const columnsPerGroup = (4 * shape.WG) / shape.SPLIT;
      const base = weightVariant(kernel, weights.query);
      const variant = storageVariant(base, halfCache ? 'f16kv' : 'f32');
      launch(variant, 'forward', {
        constants: { HAS_NORM: norm !== null, VEC_W: k % 4 === 0, ROWS: blockRows(rows), WG: shape.WG, SPLIT: shape.SPLIT, XN: memory.XN, PARTIALS: memory.PARTIALS },
        params: { m: rows, n, k, eps: norm?.eps ?? 1e-5, t, y_seq: keys.shape[1], y_row0: position, has_bias: !!weights.queryBias },
        bind: {
          x,
          norm_w: norm?.weight ?? null,
          norm_b: norm?.bias ?? null,
          wq: weightBinding(weights.query),
          wk: weightBinding(weights.key),
          wv: weightBinding(weights.value),
          bq: weights.queryBias ?? null,
          bk: weights.keyBias ?? null,
          bv: weights.valueBias ?? null,
          q,
          k_cache: keys,
          v_cache: values,
        },
        workgroups: [Math.ceil(n / columnsPerGroup), Math.ceil(rows / 4), 1],
      });
      return q;
    }
    if (rows <= FUSED_LINEAR_MAX_ROWS && k > 0 && !halfCache) {
      const into = (target: Tensor, cached: boolean) => ({ target, rowsPerSequence: t, targetRowsPerSequence: cached ? keys.shape[1] : t, firstRow: cached ? position : 0 });
      linearFused(x, weights.query, { bias: weights.queryBias, norm }, into(q, false));
      linearFused(x, weights.key, { bias: weights.keyBias, norm }, into(keys, true));
      linearFused(x, weights.value, { bias: weights.valueBias, norm }, into(values, true));
      return q;
    }
    // A prompt (or f16 caches without the one-dispatch kernel): the composed ops, then copies into the cache.
    const projected = [
      [weights.query, weights.queryBias],
      [weights.key, weights.keyBias],
      [weights.value, weights.valueBias],
    ].map(([w, bias]) => linear(x, w!, { bias, norm }));
    q.dispose();
    copyRows(projected[1], keys, position);
    copyRows(projected[2], values, position);
    projected[1].dispose();
    projected[2].dispose();
    return projected[0];
  });
}

interface QkvArgs {
  batch: number;
  t: number;
  capacity: number;
  position: number;
  bias: boolean;
  norm: boolean;
}

/** Inputs: x, Wq, Wk, Wv, [bq, bk, bv], [norm weight, norm bias]. */
function qkvSample(args: QkvArgs, k: number, n: number) {
  const shapes = [[args.batch, args.t, k], [n, k], [n, k], [n, k], ...(args.bias ? [[n], [n], [n]] : []), ...(args.norm ? [[k], [k]] : [])];
  return { shapes, args };
}

/** float64 reference: the queries, then both whole caches (zeros outside the new rows), flat. */
export function qkvProjectionRef(inputs: ArrayLike<number>[], k: number, n: number, { batch, t, capacity, position, bias, norm }: QkvArgs): Float64Array {
  const [x, wq, wk, wv, ...rest] = inputs;
  const biases = bias ? rest.splice(0, 3) : [undefined, undefined, undefined];
  const normArgs = norm ? { weight: rest[0], bias: rest[1] } : undefined;
  const [q, kk, vv] = [wq, wk, wv].map((w, i) => linearRef(x, k, w, n, { bias: biases[i], norm: normArgs }));
  const cacheSize = batch * capacity * n;
  const out = new Float64Array(q.length + 2 * cacheSize);
  out.set(q);
  [kk, vv].forEach((rows, c) => {
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < t; i++) {
        for (let j = 0; j < n; j++) out[q.length + c * cacheSize + (b * capacity + position + i) * n + j] = rows[(b * t + i) * n + j];
      }
    }
  });
  return out;
}

/**
 * Registry entry of qkvProjection (see `ops/info.ts`): the queries and both caches, flat, against
 * float64; one to eight rows (one dispatch) and a prompt of nine (composed ops and copies); odd K and
 * N; with and without biases and the norm. It records no gradient.
 */
export const qkvProjectionInfo: OpInfo<QkvArgs> = {
  name: 'qkvProjection',
  samples: [
    qkvSample({ batch: 1, t: 1, capacity: 5, position: 2, bias: true, norm: true }, 8, 12),
    qkvSample({ batch: 1, t: 1, capacity: 3, position: 0, bias: true, norm: true }, 16, 20),
    qkvSample({ batch: 2, t: 3, capacity: 7, position: 4, bias: false, norm: true }, 7, 9),
    qkvSample({ batch: 8, t: 1, capacity: 4, position: 3, bias: true, norm: false }, 64, 67),
    qkvSample({ batch: 3, t: 3, capacity: 5, position: 1, bias: true, norm: true }, 13, 5),
    qkvSample({ batch: 1, t: 1, capacity: 2, position: 1, bias: false, norm: false }, 1, 3),
  ],
  run: ([x, wq, wk, wv, ...rest], args) => {
    const [bq, bk, bv] = args.bias ? rest.splice(0, 3) : [];
    const norm = args.norm ? { weight: rest[0], bias: rest[1] } : null;
    const n = wq.shape[0];
    const keys = zeros([args.batch, args.capacity, n]);
    const values = zeros([args.batch, args.capacity, n]);
    try {
      const q = qkvProjection(x, { query: wq, key: wk, value: wv, queryBias: bq, keyBias: bk, valueBias: bv }, { keys, values, position: args.position }, { norm });
      const parts = [q, keys, values].map((t) => t.reshape([-1]));
      const out = concat(parts, 0);
      for (const t of [q, ...parts]) t.dispose();
      return out;
    } finally {
      keys.dispose();
      values.dispose();
    }
  },
  ref: (inputs, shapes, args) => qkvProjectionRef(inputs, shapes[0][2], shapes[1][0], args),
  tol: { rtol: 1e-4, atol: 2e-5 },
  data: (i, shapes, args, random) => (args.norm && i === shapes.length - 2 ? random(shapes[i][0], 0.5, 1.5) : undefined),
  differentiable: [false, false, false, false, false, false, false, false, false],
  dtype: { reject: 'i32' },
  reuse: [0, 1],
};
