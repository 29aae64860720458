/**
 * Layer normalisation over the last axis (shaders/layernorm.wgsl), PyTorch semantics (biased variance,
 * eps inside the square root), llm.c style: a fused forward that saves mean and rstd per row, and a
 * fused backward giving dx plus dweight/dbias reduced over rows. Plus float64 references.
 */
import source from '../../../../shaders/layernorm.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record, shared } from '../engine/graph';
import { launch } from '../engine/kernel';
import { expectDType, fmt, Tensor } from '../engine/tensor';
import { sum, threadsPerRow } from './reduce';
import type { OpInfo } from './info';
import { defineRowKernel, rowsSubgroupSize, rowVariant } from './variants';

const kernel = defineRowKernel('layernorm', source);
/** Rows one thread of `backward_params` sums serially; the chunks are then tree-summed by `sum`. */
const ROWS_PER_CHUNK = 32;

function checkParam(name: string, p: Tensor | undefined, x: Tensor, c: number): void {
  if (!p) return;
  expectDType('layerNorm', p, 'f32');
  if (p.rank !== 1 || p.shape[0] !== c) {
    throw new ScratchGPTError('shape', `scratchgpt: layerNorm: ${name} must have shape [${c}] for input ${fmt(x.shape)}, got ${fmt(p.shape)}`);
  }
}

/** Sums per-chunk column partials [chunks, C] → [C]. */
function finishPartial(part: Tensor, c: number): Tensor {
  return part.shape[0] === 1 ? part.reshape([c]) : sum(part, 0);
}

/**
 * Normalises the last axis of `x` [..., C]: (x − mean)/√(var + eps)·weight + bias, with the biased
 * variance, like `torch.nn.functional.layer_norm(x, [C], weight, bias, eps)`. weight and bias are [C].
 */
export function layerNorm(x: Tensor, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor<'f32'> {
  expectDType('layerNorm', x, 'f32');
  if (x.rank < 1) throw new ScratchGPTError('shape', `scratchgpt: layerNorm needs at least one dimension, got shape ${fmt(x.shape)}`);
  const c = x.shape[x.rank - 1];
  checkParam('weight', weight, x, c);
  checkParam('bias', bias, x, c);
  const rows = c === 0 ? 0 : x.size / c;
  const hasWeight = weight !== undefined;
  const hasBias = bias !== undefined;
  const shape = x.shape;
  const variant = rowVariant(kernel);
  const constants = { ROWS_SG: rowsSubgroupSize(), HAS_WEIGHT: hasWeight, HAS_BIAS: hasBias };
  const tpr = threadsPerRow(c, kernel.workgroupSize('forward'));
  const uniforms = { rows, c, eps, rows_per_chunk: ROWS_PER_CHUNK, tpr };
  const out = Tensor.empty(x.shape, 'f32');
  const stats = Tensor.empty([2, rows], 'f32');
  // A segment of `tpr` threads per row.
  launch(variant, 'forward', { constants, params: uniforms, bind: { x, weight: weight ?? null, bias: bias ?? null, out, stats }, items: rows * tpr });
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const saved = [x, stats, ...(weight ? [weight] : [])];
  // The rule sees only saved views and plain values (no input tensors captured).
  const recorded = record(out, 'layerNorm', inputs, saved, (dy, [xs, st, ws]) => {
    const gradX = () => {
      const dx = Tensor.empty(shape, 'f32');
      launch(variant, 'backward_dx', { constants, params: uniforms, bind: { x: xs, weight: ws ?? null, out: dx, stats: st, dy }, items: rows * tpr });
      return dx;
    };
    // One kernel writes per-chunk partials of both parameter gradients; their thunks share it.
    const params = shared(() => {
      const chunks = Math.max(1, Math.ceil(rows / ROWS_PER_CHUNK));
      const dwPart = hasWeight ? Tensor.empty([chunks, c], 'f32') : null;
      const dbPart = hasBias ? Tensor.empty([chunks, c], 'f32') : null;
      launch(variant, 'backward_params', { constants, params: uniforms, bind: { x: xs, stats: st, dy, dw_part: dwPart, db_part: dbPart }, items: chunks * c });
      return { dw: dwPart && finishPartial(dwPart, c), db: dbPart && finishPartial(dbPart, c) };
    });
    return [gradX, ...(hasWeight ? [() => params().dw!] : []), ...(hasBias ? [() => params().db!] : [])];
  });
  stats.dispose();
  return recorded;
}

/** Per-row mean and rstd of rows of length `c` (float64). */
function rowStats(x: ArrayLike<number>, c: number, eps: number): { mean: Float64Array; rstd: Float64Array } {
  const rows = c === 0 ? 0 : x.length / c;
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += x[r * c + j];
    const m = s / c;
    let q = 0;
    for (let j = 0; j < c; j++) q += (x[r * c + j] - m) ** 2;
    mean[r] = m;
    rstd[r] = 1 / Math.sqrt(q / c + eps);
  }
  return { mean, rstd };
}

/** float64 reference of {@link layerNorm} over rows of length `c`: output and the saved mean/rstd per row. */
export function layerNormRef(
  x: ArrayLike<number>,
  c: number,
  weight?: ArrayLike<number>,
  bias?: ArrayLike<number>,
  eps = 1e-5,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const { mean, rstd } = rowStats(x, c, eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const r = Math.floor(i / c);
    const j = i % c;
    y[i] = (x[i] - mean[r]) * rstd[r] * (weight ? weight[j] : 1) + (bias ? bias[j] : 0);
  }
  return { y, mean, rstd };
}

/** float64 reference of the layerNorm backward: dx, and dweight/dbias summed over rows. */
export function layerNormBackwardRef(
  x: ArrayLike<number>,
  c: number,
  dy: ArrayLike<number>,
  weight?: ArrayLike<number>,
  eps = 1e-5,
): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const { mean, rstd } = rowStats(x, c, eps);
  const rows = mean.length;
  const dx = new Float64Array(x.length);
  const dweight = new Float64Array(c);
  const dbias = new Float64Array(c);
  for (let r = 0; r < rows; r++) {
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < c; j++) {
      const i = r * c + j;
      const xhat = (x[i] - mean[r]) * rstd[r];
      const g = dy[i] * (weight ? weight[j] : 1);
      sg += g;
      sgx += g * xhat;
      dweight[j] += dy[i] * xhat;
      dbias[j] += dy[i];
    }
    for (let j = 0; j < c; j++) {
      const i = r * c + j;
      const xhat = (x[i] - mean[r]) * rstd[r];
      const g = dy[i] * (weight ? weight[j] : 1);
      dx[i] = rstd[r] * (g - sg / c - (xhat * sgx) / c);
    }
  }
  return { dx, dweight, dbias };
}

type Affine = 'both' | 'weight' | 'bias' | 'none';
interface LayerNormArgs {
  /** Which of weight and bias are passed (they follow x in the inputs). */
  affine: Affine;
  eps?: number;
}
const affineInputs: Record<Affine, ('weight' | 'bias')[]> = { both: ['weight', 'bias'], weight: ['weight'], bias: ['bias'], none: [] };

function layerNormSample(shape: number[], affine: Affine, forwardOnly: boolean, eps?: number) {
  const c = shape[shape.length - 1];
  return { shapes: [shape, ...affineInputs[affine].map(() => [c])], args: { affine, ...(eps === undefined ? {} : { eps }) }, forwardOnly };
}

/** Registry entry of layerNorm (see `ops/info.ts`). */
export const layerNormInfo: OpInfo<LayerNormArgs> = {
  name: 'layerNorm',
  samples: [
    // C in {1, 7, 64, 768} × rows in {1, 5, 33} with weight and bias (finite differences up to C = 64).
    ...[1, 7, 64, 768].flatMap((c) => [1, 5, 33].map((rows) => layerNormSample([rows, c], 'both', c > 64))),
    // Every weight/bias combination, and leading dims with a custom eps.
    ...(['weight', 'bias', 'none'] as const).flatMap((affine) => [
      layerNormSample([2, 3, 9], affine, false),
      ...[1, 7, 64, 768].flatMap((c) => [1, 5, 33].map((rows) => layerNormSample([rows, c], affine, true))),
    ]),
    layerNormSample([2, 3, 7], 'both', false, 1e-3),
  ],
  run: ([x, ...params], { affine, eps }) => {
    const [weight, bias] = affine === 'both' ? params : affine === 'weight' ? [params[0]] : affine === 'bias' ? [undefined, params[0]] : [];
    return layerNorm(x, weight, bias, eps);
  },
  ref: ([x, ...params], [shape], { affine, eps }) => {
    const [weight, bias] = affine === 'both' ? params : affine === 'weight' ? [params[0]] : affine === 'bias' ? [undefined, params[0]] : [];
    return layerNormRef(x, shape[shape.length - 1], weight, bias, eps).y;
  },
  tol: { rtol: 1e-5, atol: 2e-5 },
  domain: [-2, 3],
  // Weights around 1, biases around 0.
  data: (k, [, w], { affine }, random) => (k === 0 ? undefined : affineInputs[affine][k - 1] === 'weight' ? random(w[0], 0.5, 1.5) : random(w[0], -0.5, 0.5)),
  dtype: { reject: 'i32' },
  // The weight/bias combination is a pipeline constant: the samples with both.
  reuse: [0, 4, 8, 11],
};
