/**
 * Fused scaled-dot-product attention (shaders/attention.wgsl): softmax(q·kᵀ·scale [+ causal mask]) · v
 * without materialising the T×S score matrix, with optional attention dropout whose mask the backward
 * regenerates from the seed. Forward and backward, plus float64 references.
 */
import source from '../../../../shaders/attention.wgsl';
import commonSource from '../../../../shaders/attention_common.wgsl';
import flashSource from '../../../../shaders/attention_flash.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record, shared } from '../engine/graph';
import { nextSeed } from './creation';
import { launch, type Kernel } from '../engine/kernel';
import { recordCopy } from '../engine/queue';
import { expectDType, fmt, sameShape, Tensor } from '../engine/tensor';
import type { OpInfo } from './info';
import { commonWgsl, pcg, uniform01 } from './shared';
import { attentionVariant, defineStorageKernel, storageOf, storageVariant, type KvStorageType } from './variants';

/** The row kernel (one invocation per query row; CPU adapters). */
const kernel = defineStorageKernel('attention', source, [commonWgsl, commonSource]);
/** The tiled kernel (K/V tiles through workgroup memory; GPUs). Same Params, bindings and entries. */
const flash = defineStorageKernel('attention_flash', flashSource, [commonWgsl, commonSource]);
/**
 * Workgroup memory the flash kernel's largest entry needs, from the shader's constants: backward_kv's
 * three tiles, score tile and per-query stats.
 */
export const FLASH_BYTES = (() => {
  const { BR, BC, BCB, MAX_D } = flash.consts;
  return 4 * (3 * BR * MAX_D + BR * BC + 2 * BCB);
})();

/**
 * The kernel of this launch: `base` or `tiled` (ops/variants.ts policy), with f32, f16 or f16 key/value
 * storage. All have the same ABI, so the launches below are written once.
 */
function pickKernel(base: Kernel, tiled: Kernel, storage: KvStorageType): Kernel {
  return storageVariant(attentionVariant(FLASH_BYTES) === 'flash' ? tiled : base, storage);
}

/** Largest head dimension the fused kernel keeps in registers. */
export const MAX_HEAD_DIM = 128;

export interface AttentionOptions {
  /** Hide keys after each query (GPT). Needs as many queries as keys. Default false. */
  causal?: boolean;
  /** Score scale (default 1/√D). */
  scale?: number;
  /** Dropout probability on the attention weights (default 0). */
  dropout?: number;
  /** Dropout seed (default: the global generator). */
  seed?: number;
  /**
   * Packed heads: q, k, v are `[..., T, heads·D]` (the layout a Linear projection produces, heads
   * side by side in each position) and so is the output — no head split/merge permutes needed.
   */
  heads?: number;
  /**
   * Use only the first `kvLength` key/value rows (a KV cache allocated for more). Causal masking is
   * bottom-right aligned: query i sees keys j ≤ i + (kvLength − T).
   */
  kvLength?: number;
}

interface Dims {
  bh: number;
  t: number;
  s: number;
  d: number;
  /** Heads per position in the packed layout; 0 for `[..., T, D]`. */
  heads?: number;
  /** Rows allocated per head in k/v (≥ s). */
  kvRows?: number;
}

function checkInputs(q: Tensor, k: Tensor, v: Tensor, causal: boolean, heads: number, kvLength?: number): Dims {
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    expectDType('attention', t, 'f32', 'f16');
    // One dtype, or f32 queries with f16 keys and values (an f16 KV cache).
    const halfCache = q.dtype === 'f32' && k.dtype === 'f16' && v.dtype === 'f16';
    if (t.dtype !== q.dtype && !halfCache) {
      throw new ScratchGPTError('dtype', `scratchgpt: attention: q, k and v must share a dtype (or be f32 q with f16 k and v), got q ${q.dtype}, ${name} ${t.dtype}`);
    }
    if (t.rank < 2) throw new ScratchGPTError('shape', `scratchgpt: attention: ${name} must be [..., T, D], got ${fmt(t.shape)}`);
  }
  const width = q.shape[q.rank - 1];
  if (heads > 0 && width % heads !== 0) throw new ScratchGPTError('shape', `scratchgpt: attention: last dimension ${width} of q ${fmt(q.shape)} is not divisible by ${heads} heads`);
  const d = heads > 0 ? width / heads : width;
  const t = q.shape[q.rank - 2];
  const kvRows = k.shape[k.rank - 2];
  const s = kvLength ?? kvRows;
  if (!Number.isInteger(s) || s < 1 || s > kvRows) throw new ScratchGPTError('range', `scratchgpt: attention: kvLength ${s} must be in [1, ${kvRows}]`);
  if (!sameShape(k.shape, v.shape) || k.shape[k.rank - 1] !== width || !sameShape(k.shape.slice(0, -2), q.shape.slice(0, -2))) {
    throw new ScratchGPTError('shape', `scratchgpt: attention: shapes do not match: q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)}`);
  }
  if (d > MAX_HEAD_DIM) throw new ScratchGPTError('limit', `scratchgpt: attention: head dimension ${d} exceeds the fused kernel's maximum of ${MAX_HEAD_DIM}`);
  if (causal && t > s) throw new ScratchGPTError('shape', `scratchgpt: attention: causal attention needs at least as many keys as queries, got ${t} queries and ${s} keys`);
  return { bh: q.size / (t * d || 1), t, s, d, heads, kvRows };
}

/**
 * softmax(q·kᵀ·scale)·v over the last two dims; leading dims (batch, heads) are independent.
 * q `[..., T, D]`, k and v `[..., S, D]` → `[..., T, D]`.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const causal = options.causal ?? false;
  const heads = options.heads ?? 0;
  if (!Number.isInteger(heads) || heads < 0) throw new ScratchGPTError('value', `scratchgpt: attention: heads must be a positive integer, got ${heads}`);
  const dims = checkInputs(q, k, v, causal, heads, options.kvLength);
  const scale = options.scale ?? 1 / Math.sqrt(dims.d);
  const p = options.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw new ScratchGPTError('range', `scratchgpt: attention: dropout must be in [0, 1), got ${p}`);
  const seed = p > 0 ? (options.seed ?? nextSeed()) >>> 0 : 0;
  const { bh, t, s, d } = dims;
  const kvRows = dims.kvRows ?? s;
  const params = { bh, t, s, d, scale, causal, drop_p: p, seed, heads: Math.max(heads, 1), packed: heads > 0, kv_rows: kvRows };
  const halves = storageOf('attention', k);
  const storage: KvStorageType = halves === 'f16' && q.dtype === 'f32' ? 'f16kv' : halves;
  if (storage !== 'f32' && [q, k, v].some((x) => x.requiresGrad)) {
    throw new ScratchGPTError('dtype', 'scratchgpt: attention: f16 inputs are for inference (no gradients); cast to f32 to train');
  }
  const variant = pickKernel(kernel, flash, storage);
  // The row kernel: an invocation per query row (or key row), WG to a workgroup; the tiled one: a
  // workgroup per block of BR rows of one head.
  const tiled = variant === flash || variant === storageVariant(flash, 'f16') || variant === storageVariant(flash, 'f16kv');
  const rowsPerGroup = tiled ? flash.consts.BR : 1;
  const threads = tiled ? 1 : kernel.workgroupSize('forward');
  const queryGroups = Math.ceil((bh * Math.ceil(t / rowsPerGroup)) / threads);
  const keyGroups = Math.ceil((bh * Math.ceil(kvRows / rowsPerGroup)) / threads);
  const out = Tensor.empty(q.shape, q.dtype);
  const stats = Tensor.empty([2, bh, t], 'f32'); // log-sum-exp, then D_i in backward
  // dout: the tiled kernel's staging helper reaches it in every entry (unread in the forward).
  launch(variant, 'forward', { params, bind: { q, k, v, o: out, stats, dout: null }, groups: queryGroups });
  if (storage !== 'f32') {
    stats.dispose();
    return out;
  }
  const recorded = record(out, 'attention', [q, k, v], [q, k, v, out, stats], (g, [qs, ks, vs, os, st]) => {
    // Two kernels write all three gradients at once; the thunks share them.
    const grads = shared(() => {
      const dq = Tensor.empty(q.shape, 'f32');
      const dkv = Tensor.empty([2, ...k.shape], 'f32');
      const bind = { q: qs, k: ks, v: vs, o: os, stats: st, dout: g, dq, dkv };
      launch(variant, 'backward_q', { params, bind, groups: queryGroups });
      launch(variant, 'backward_kv', { params, bind, groups: keyGroups });
      const dk = Tensor.empty(k.shape, 'f32');
      const dv = Tensor.empty(v.shape, 'f32');
      recordCopy(dkv.buffer, dkv.byteOffset, dk.buffer, dk.byteOffset, dk.byteLength);
      recordCopy(dkv.buffer, dkv.byteOffset + dk.byteLength, dv.buffer, dv.byteOffset, dv.byteLength);
      return [dq, dk, dv];
    });
    return [() => grads()[0], () => grads()[1], () => grads()[2]];
  });
  stats.dispose();
  return recorded;
}

/** float64 reference of the kernel's dropout keep-scale for weight (row i, key j) of head bh. */
export function attentionKeepRef(seed: number, p: number, bh: number, i: number, j: number): number {
  if (p <= 0) return 1;
  const u = uniform01(pcg((pcg((pcg((seed ^ 0x68e31da4) >>> 0) + bh) >>> 0) + Math.imul(i, 0x9e3779b9) + Math.imul(j, 0x85ebca6b)) >>> 0));
  return u >= p ? 1 / (1 - p) : 0;
}

/** float64 reference: q `[BH·T·D]`, k/v `[BH·S·D]` flat → `[BH·T·D]` (unpacked layout). */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  { bh, t, s, d }: Dims,
  { causal = false, scale = 1 / Math.sqrt(d), dropout = 0, seed = 0 }: AttentionOptions = {},
): Float64Array {
  const out = new Float64Array(bh * t * d);
  const scores = new Float64Array(s);
  for (let h = 0; h < bh; h++) {
    for (let i = 0; i < t; i++) {
      const end = causal ? i + 1 + s - t : s;
      let max = -Infinity;
      for (let j = 0; j < end; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(h * t + i) * d + c] * k[(h * s + j) * d + c];
        scores[j] = dot * scale;
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j < end; j++) sum += Math.exp(scores[j] - max);
      for (let j = 0; j < end; j++) {
        const w = (Math.exp(scores[j] - max) / sum) * attentionKeepRef(seed, dropout, h, i, j);
        for (let c = 0; c < d; c++) out[(h * t + i) * d + c] += w * v[(h * s + j) * d + c];
      }
    }
  }
  return out;
}

interface AttentionSampleArgs {
  lead: number[];
  t: number;
  s: number;
  d: number;
  options: AttentionOptions;
}

function attentionSample(lead: number[], t: number, s: number, d: number, options: AttentionOptions, forwardOnly = false) {
  const args: AttentionSampleArgs = { lead, t, s, d, options };
  return { shapes: [[...lead, t, d], [...lead, s, d], [...lead, s, d]], args, ...(forwardOnly ? { forwardOnly, domain: [-2, 2] as const } : {}) };
}

/** Registry entry of attention, unpacked layout (see `ops/info.ts`; packed heads and KV caches: test/attention.test.ts). */
export const attentionInfo: OpInfo<AttentionSampleArgs> = {
  name: 'attention',
  samples: [
    attentionSample([1], 1, 1, 1, {}, true),
    attentionSample([1], 1, 1, 1, { causal: true }, true),
    attentionSample([2, 3], 7, 7, 5, {}, true),
    attentionSample([2, 3], 7, 7, 5, { causal: true }, true),
    attentionSample([1, 2], 13, 13, 64, {}, true),
    attentionSample([1, 2], 13, 13, 64, { causal: true }, true),
    attentionSample([3], 4, 9, 8, {}, true),
    attentionSample([3], 4, 9, 8, { causal: true }, true),
    attentionSample([4], 32, 32, 8, { causal: true, dropout: 0.3, seed: 99 }, true),
    attentionSample([2], 5, 5, 3, { seed: 7 }),
    attentionSample([2], 5, 5, 3, { causal: true, seed: 7 }),
    attentionSample([2], 5, 5, 3, { causal: true, dropout: 0.25, seed: 7 }),
  ],
  run: ([q, k, v], { options }) => attention(q, k, v, options),
  ref: ([q, k, v], _shapes, { lead, t, s, d, options }) => {
    const bh = lead.reduce((a, b) => a * b, 1);
    return { data: attentionRef(q, k, v, { bh, t, s, d }, options), shape: [...lead, t, d] };
  },
  tol: { rtol: 1e-5, atol: 1e-6 },
  dtype: { reject: 'i32' },
};
