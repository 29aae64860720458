/**
 * A fused linear layer: `act(norm(x)·Wᵀ + bias) + residual`, like `torch.nn.functional.linear`
 * with an optional LayerNorm before it and a GELU and a shortcut after it. Two ways to run it:
 *
 * - **one dispatch** (shaders/linear.wgsl) for a few rows when no gradient is recorded: decoding,
 *   where a step's cost is its launches. The LayerNorm statistics are computed inside the kernel.
 * - **composed** otherwise (training, prefill): `layerNorm` → `matmul` (the kernel lab's choice) →
 *   {@link linearEpilogue} (bias, activation and residual in one pass), each with its own gradient.
 *
 * Forward, float64 reference and registry entry; gradients come from the composed ops.
 *
 * The weight may be f16 (`Tensor<'f16'>`, half the bytes a decoding step reads): the one-dispatch
 * kernel's twin reads it as packed halves (core WGSL, every adapter) and accumulates in f32, and so
 * does the composed path's `matmul`. f16 weights carry no gradients. Inside `autocast('f16', …)` the
 * composed path's product is a mixed-precision one (see `MatmulOptions.precision`); the one-dispatch
 * form stays f32.
 */
import source from '../../../../shaders/linear.wgsl';
import linearRowsWgsl from '../../../../shaders/linear_rows.wgsl';
import { gpu } from '../engine/device';
import { ScratchGPTError } from '../engine/errors';
import { needsGrad } from '../engine/graph';
import { defineKernel, launch } from '../engine/kernel';
import { expectDType, fmt, sameShape, Tensor } from '../engine/tensor';
import { linearEpilogue, linearEpilogueRef, type EpilogueActivation } from './epilogue';
import { tileConfig } from './gemm/dispatch';
import type { OpInfo } from './info';
import { layerNorm, layerNormRef } from './layernorm';
import { matmul } from './matmul';
import {
  F16_WEIGHTS,
  F16_WEIGHTS_TAG,
  F32_WEIGHTS,
  halfWeightGradError,
  setHalfWeightTwin,
  weightBinding,
  weightRanges,
  weightVariant,
} from './linear_weights';

export { setLinearBindingLimitForTests } from './linear_weights';

const kernel = defineKernel('linear', source, { with: [linearRowsWgsl, F32_WEIGHTS] });
setHalfWeightTwin(kernel, defineKernel('linear_f16w', `${F16_WEIGHTS_TAG}${source}`, { with: [linearRowsWgsl, F16_WEIGHTS] }));

/** Rows up to which a linear layer without gradients runs as one dispatch. */
export const FUSED_LINEAR_MAX_ROWS = 8;
/** Rows of the output one workgroup computes (the kernel's `ROWS` is at most this). */
const ROWS_PER_GROUP = 4;

/**
 * The kernel's `ROWS` for `rows` rows: 1 for a single row (batch-1 decoding), else 4 (surplus rows
 * of the last block are clamped and not stored): two pipelines per flag set, not four.
 * @internal
 */
export function blockRows(rows: number): number {
  return rows === 1 ? 1 : ROWS_PER_GROUP;
}

/** A LayerNorm applied to the input rows first (`weight`/`bias` of length K, like `layerNorm`'s). */
export interface LinearNorm {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Default 1e-5. */
  eps?: number;
}

export interface FusedLinearOptions {
  /** `[N]`, added to every output row. */
  bias?: Tensor | null;
  /** Applied after the bias (default `'none'`). */
  activation?: EpilogueActivation;
  /** Added last, same shape as the output `[..., N]` (a transformer block's shortcut). */
  residual?: Tensor | null;
  /** Normalise the rows of `x` first (a pre-LN block's LayerNorm, fused into the same dispatch when decoding). */
  norm?: LinearNorm | null;
}

/**
 * Where the one-dispatch form writes (decoding straight into a KV cache): row r of `x`, position
 * `r % rowsPerSequence` of sequence `r / rowsPerSequence`, goes to row
 * `sequence·targetRowsPerSequence + firstRow + position` of `target` `[..., N]`.
 */
export interface LinearTarget {
  target: Tensor;
  rowsPerSequence: number;
  targetRowsPerSequence: number;
  firstRow: number;
}

/** Threads per workgroup, column quads per thread, threads per quad along K (shaders/linear.wgsl). */
export interface FusedLinearShape {
  WG: number;
  QUADS: number;
  SPLIT: number;
}

let testShape: FusedLinearShape | null = null;

/** @internal Tests and tuning only: force the one-dispatch kernel's thread layout (null: the adapter's). */
export function setLinearShapeForTests(shape: FusedLinearShape | null): void {
  testShape = shape;
}

/** Per-adapter shape of the one-dispatch kernel: CPU adapters walk all of K per thread, GPUs split it. */
export function fusedLinearShape(): FusedLinearShape {
  if (testShape) return testShape;
  return tileConfig().adapter === 'cpu' ? { WG: 8, QUADS: 4, SPLIT: 1 } : { WG: 64, QUADS: 1, SPLIT: 16 };
}

function checkVector(what: string, t: Tensor | null | undefined, n: number, x: Tensor): void {
  if (!t) return;
  expectDType('linear', t, 'f32');
  if (t.rank !== 1 || t.shape[0] !== n) throw new ScratchGPTError('shape', `scratchgpt: linear: ${what} must have shape [${n}] for input ${fmt(x.shape)}, got ${fmt(t.shape)}`);
}

/**
 * Sizes of the kernel's workgroup arrays (`XN`: the normalised rows, `PARTIALS`: split-K partial
 * sums), or null when they exceed the device's workgroup memory. Shared with shaders/qkv.wgsl, whose
 * partial sums are three matrices per thread.
 * @internal
 */
export function workgroupMemory(shape: FusedLinearShape, rows: number, k: number, norm: boolean, matricesPerThread = 1): { XN: number; PARTIALS: number } | null {
  const XN = norm ? rows * Math.ceil(k / 4) : 1;
  const PARTIALS = shape.SPLIT > 1 ? shape.WG : 1;
  const bytes = 16 * shape.WG + 16 * XN + 64 * matricesPerThread * PARTIALS;
  return bytes <= gpu().limits.maxComputeWorkgroupStorageSize ? { XN, PARTIALS } : null;
}

/** Checks the operands; returns K, N and the number of rows. */
function checkLinear(x: Tensor, weight: Tensor, { bias, residual, norm, activation = 'none' }: FusedLinearOptions): { k: number; n: number; rows: number } {
  expectDType('linear', x, 'f32');
  expectDType('linear', weight, 'f32', 'f16');
  if (x.rank < 1) throw new ScratchGPTError('shape', `scratchgpt: linear needs an input [..., K], got ${fmt(x.shape)}`);
  const k = x.shape[x.rank - 1];
  if (weight.rank !== 2 || weight.shape[1] !== k) throw new ScratchGPTError('shape', `scratchgpt: linear: weight must be [N, ${k}] ([out, in]) for input ${fmt(x.shape)}, got ${fmt(weight.shape)}`);
  const n = weight.shape[0];
  if (activation !== 'gelu' && activation !== 'none') throw new ScratchGPTError('value', `scratchgpt: linear: unknown activation '${activation}' (expected 'gelu' or 'none')`);
  checkVector('bias', bias, n, x);
  checkVector('norm.weight', norm?.weight, k, x);
  checkVector('norm.bias', norm?.bias, k, x);
  const shape = [...x.shape.slice(0, -1), n];
  if (residual) {
    expectDType('linear', residual, 'f32');
    if (!sameShape(residual.shape, shape)) throw new ScratchGPTError('shape', `scratchgpt: linear: residual must have the output's shape ${fmt(shape)}, got ${fmt(residual.shape)}`);
  }
  return { k, n, rows: k === 0 && x.size === 0 ? 0 : x.size / Math.max(k, 1) };
}

/**
 * Records the one-dispatch form (no gradient), writing `out` (or the rows `target` maps to). The
 * weight is cut into binding-sized column ranges when it is larger than one binding.
 * @internal Used by {@link linear} and the fused QKV projection's fallback.
 */
export function linearFused(x: Tensor, weight: Tensor, options: FusedLinearOptions, into: LinearTarget): void {
  const { k, n, rows } = checkLinear(x, weight, options);
  const { bias = null, activation = 'none', residual = null, norm = null } = options;
  const { target, rowsPerSequence, targetRowsPerSequence, firstRow } = into;
  if (rows === 0 || n === 0) return;
  const shape = fusedLinearShape();
  const memory = workgroupMemory(shape, blockRows(rows), k, norm !== null);
  if (memory === null) {
    // The normalised rows would not fit workgroup memory: the LayerNorm as its own dispatch.
    const h = layerNorm(x, norm!.weight ?? undefined, norm!.bias ?? undefined, norm!.eps ?? 1e-5);
    linearFused(h, weight, { ...options, norm: null }, into);
    h.dispose();
    return;
  }
  const constants = { HAS_NORM: norm !== null, ROWS: blockRows(rows), WG: shape.WG, QUADS: shape.QUADS, SPLIT: shape.SPLIT, XN: memory.XN, PARTIALS: memory.PARTIALS };
  const columnsPerGroup = (4 * shape.QUADS * shape.WG) / shape.SPLIT;
  const rowGroups = Math.ceil(rows / ROWS_PER_GROUP);
  const common = {
    m: rows,
    k,
    eps: norm?.eps ?? 1e-5,
    ldy: n,
    t: rowsPerSequence,
    y_seq: targetRowsPerSequence,
    y_row0: firstRow,
    has_bias: bias !== null,
    gelu: activation === 'gelu',
    has_res: residual !== null,
  };
  const variant = weightVariant(kernel, weight);
  for (const part of weightRanges(weight, n, Math.max(k, 1))) {
    const w = weightBinding(part.bind(weight));
    launch(variant, 'forward', {
      constants: { ...constants, VEC_W: k % 4 === 0 && part.shift % 4 === 0 },
      params: { ...common, n: part.rows, w_shift: part.shift, col0: part.row0 },
      bind: { x, norm_w: norm?.weight ?? null, norm_b: norm?.bias ?? null, w, bias, res: residual, y: target },
      workgroups: [Math.ceil(part.rows / columnsPerGroup), rowGroups, 1],
    });
  }
}

/**
 * `act(norm(x)·Wᵀ + bias) + residual` over the last axis: x `[..., K]`, weight `[N, K]` (PyTorch's
 * `[out, in]`) → `[..., N]`. Every part but the weight is optional. Without gradients and with at most
 * {@link FUSED_LINEAR_MAX_ROWS} rows (decoding) it is one dispatch; otherwise `layerNorm`, `matmul`
 * and {@link linearEpilogue}, which give the gradients. The weight may be f16 (f32 arithmetic, f32
 * output; see the module comment); a gradient through an f16 weight is an error.
 * @example
 * ```ts
 * // A GPT-2 feed-forward block's first half, with the block's second LayerNorm in front:
 * const h = linear(x, fc.weight, { bias: fc.bias, activation: 'gelu', norm: { weight: ln2.weight, bias: ln2.bias } });
 * const out = linear(h, proj.weight, { bias: proj.bias, residual: x });
 * ```
 */
export function linear(x: Tensor, weight: Tensor, options: FusedLinearOptions = {}): Tensor<'f32'> {
  const { k, n, rows } = checkLinear(x, weight, options);
  const { bias = null, activation = 'none', residual = null, norm = null } = options;
  const shape = [...x.shape.slice(0, -1), n];
  const grad = needsGrad(x, weight, bias, residual, norm?.weight, norm?.bias);
  if (grad && weight.dtype === 'f16') throw halfWeightGradError('linear', weight);
  if (!grad && rows <= FUSED_LINEAR_MAX_ROWS && k > 0 && x.rank >= 1) {
    const out = Tensor.empty(shape, 'f32');
    linearFused(x, weight, options, { target: out, rowsPerSequence: Math.max(rows, 1), targetRowsPerSequence: Math.max(rows, 1), firstRow: 0 });
    return out;
  }
  const h = norm ? layerNorm(x, norm.weight ?? undefined, norm.bias ?? undefined, norm.eps ?? 1e-5) : x;
  const h2 = h.rank >= 2 ? h : h.reshape([1, k]);
  const y = matmul(h2, weight, { transB: true });
  if (h2 !== h) h2.dispose();
  if (h !== x) h.dispose();
  const y2 = sameShape(y.shape, shape) ? y : y.reshape(shape);
  if (y2 !== y) y.dispose();
  if (!bias && activation === 'none' && !residual) return y2;
  const out = linearEpilogue(y2, { bias, activation, residual });
  y2.dispose();
  return out;
}

/** float64 reference of {@link linear} over flat row-major data: x `[rows, k]`, weight `[n, k]`. */
export function linearRef(
  x: ArrayLike<number>,
  k: number,
  weight: ArrayLike<number>,
  n: number,
  options: { bias?: ArrayLike<number>; activation?: EpilogueActivation; residual?: ArrayLike<number>; norm?: { weight?: ArrayLike<number>; bias?: ArrayLike<number>; eps?: number } } = {},
): Float64Array {
  const rows = k === 0 ? 0 : x.length / k;
  const h = options.norm ? layerNormRef(x, k, options.norm.weight, options.norm.bias, options.norm.eps ?? 1e-5).y : Float64Array.from(x);
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += h[r * k + c] * weight[j * k + c];
      y[r * n + j] = s;
    }
  }
  return linearEpilogueRef(y, n, { bias: options.bias, activation: options.activation, residual: options.residual });
}

interface LinearArgs {
  bias: boolean;
  activation: EpilogueActivation;
  residual: boolean;
  norm: 'none' | 'both' | 'weight';
  eps?: number;
}

/** Inputs in order: x, weight, [bias], [residual], [norm weight], [norm bias]. */
function linearSample(lead: number[], k: number, n: number, args: LinearArgs, forwardOnly = false) {
  const shapes = [
    [...lead, k],
    [n, k],
    ...(args.bias ? [[n]] : []),
    ...(args.residual ? [[...lead, n]] : []),
    ...(args.norm !== 'none' ? [[k]] : []),
    ...(args.norm === 'both' ? [[k]] : []),
  ];
  return { shapes, args, forwardOnly };
}

function unpack<T>(inputs: T[], args: LinearArgs) {
  const [x, w, ...rest] = inputs;
  const bias = args.bias ? rest.shift() : undefined;
  const residual = args.residual ? rest.shift() : undefined;
  const normWeight = args.norm !== 'none' ? rest.shift() : undefined;
  const normBias = args.norm === 'both' ? rest.shift() : undefined;
  const norm = args.norm === 'none' ? undefined : { weight: normWeight, bias: normBias, eps: args.eps };
  return { x, w, options: { bias, residual, activation: args.activation, norm } };
}

const full: LinearArgs = { bias: true, activation: 'gelu', residual: true, norm: 'both' };

/**
 * Registry entry of linear (see `ops/info.ts`). Forward samples with at most 8 rows run the
 * one-dispatch kernel (the forward check records no gradient); the gradient check, and samples with
 * more rows, run the composed ops. Odd K (the scalar weight loads and the K tail) and N (partial
 * column quads and workgroups), one to eight rows (row blocks of 4, clamped).
 */
export const linearInfo: OpInfo<LinearArgs> = {
  name: 'linear',
  samples: [
    linearSample([1], 8, 12, full),
    linearSample([3], 8, 20, full),
    linearSample([2, 3], 7, 5, full),
    linearSample([1], 13, 17, { bias: true, activation: 'none', residual: false, norm: 'none' }),
    linearSample([5], 4, 9, { bias: false, activation: 'gelu', residual: false, norm: 'weight', eps: 1e-3 }),
    linearSample([2], 1, 3, { bias: true, activation: 'none', residual: true, norm: 'none' }),
    linearSample([11], 6, 7, full),
    // Forward only: GPT-2-like widths, one to eight rows (and 9: composed), the K tail, many workgroups.
    linearSample([1], 768, 197, full, true),
    linearSample([8], 64, 259, full, true),
    linearSample([2, 3], 67, 131, { bias: true, activation: 'gelu', residual: false, norm: 'both' }, true),
    linearSample([9], 64, 70, full, true),
    linearSample([1], 96, 1031, { bias: false, activation: 'none', residual: false, norm: 'both' }, true),
  ],
  run: (inputs, args) => {
    const { x, w, options } = unpack(inputs, args);
    return linear(x, w, options);
  },
  ref: (inputs, shapes, args) => {
    const { x, w, options } = unpack(inputs, args);
    const k = shapes[0][shapes[0].length - 1];
    return linearRef(x, k, w, shapes[1][0], options);
  },
  tol: { rtol: 1e-4, atol: 2e-5 },
  domain: [-1, 1],
  // LayerNorm weights around 1.
  data: (i, shapes, args, random) => (args.norm !== 'none' && i === shapes.length - (args.norm === 'both' ? 2 : 1) ? random(shapes[i][0], 0.5, 1.5) : undefined),
  dtype: { reject: 'i32' },
  // One row, every part: the same one-dispatch pipeline and composed kernels.
  reuse: [0, 7],
};

/** Whether the device can bind `count` storage buffers in one kernel (WebGPU guarantees 8). */
export function canBindStorageBuffers(count: number): boolean {
  return gpu().limits.maxStorageBuffersPerShaderStage >= count;
}
