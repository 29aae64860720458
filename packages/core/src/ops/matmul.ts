/**
 * Batched matrix multiplication: the op (forward, backward rule, float64 reference).
 *
 * `matmul(a, b)` multiplies the last two dims, `[..., M, K] @ [..., K, N] → [..., M, N]`, with the
 * leading (batch) dims broadcast NumPy-style; `transA`/`transB` read an operand as stored
 * transposed (`[..., K, M]`, `[..., N, K]`) without copying it.
 *
 * The work happens in `gemm/`: `plan.ts` rewrites the product (batch folded into rows, narrow outputs
 * transposed, unaligned rows padded), `policy.ts` picks a kernel variant per adapter class and shape
 * (`autotune.ts` measures the register tile on CPU adapters), `split.ts` cuts operands larger than a
 * storage binding (GPT-2's 154 MB tied LM head), and `dispatch.ts` launches the kernels of
 * `shaders/matmul*.wgsl` that `variants.ts` lists (the kernel lab, `bench/kernels/matmul.ts`).
 */
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { expectDType, fmt, sizeOf, Tensor, type Shape } from '../engine/tensor';
import { autocastPrecision, type MatmulPrecision } from '../engine/autocast';
import { broadcastStrides } from './broadcast';
import { cast } from './cast';
import { AUTOTUNE_MIN_WORK, startTuning, tunedTile } from './gemm/autotune';
import { runGemm, tileConfig } from './gemm/dispatch';
import { gemmWork, planGemm, padUnalignedRows } from './gemm/plan';
import { chooseKernel, envKernel } from './gemm/policy';
import { matmulVariant, type MatmulKernel } from './gemm/variants';
import type { OpInfo } from './info';
import { stridedOffset } from './shared';

export { tuneMatmul, type MatmulTuning } from './gemm/autotune';
export type { MatmulKernel } from './gemm/variants';

export interface MatmulOptions {
  /** Read `a` as its transpose: `a` is stored `[..., K, M]`. Default false. */
  transA?: boolean;
  /** Read `b` as its transpose: `b` is stored `[..., N, K]` (e.g. an `[out, in]` weight). Default false. */
  transB?: boolean;
  /**
   * `'f16'`: f32 operands are rounded to f16 first (ties to even), the halves multiplied with f32
   * accumulation, the result f32 (mixed precision: the halves are what the backward pass keeps,
   * and what its products read). Gradients of the f32 operands are those of the product of the
   * halves. Default: `'f16'` inside {@link autocast}, else `'f32'`. f16 operands are read as they
   * are either way.
   */
  precision?: MatmulPrecision;
  /**
   * @internal Force a kernel variant (tests and the kernel lab; env `SCRATCHGPT_MATMUL_KERNEL` does
   * the same for a whole process). The gradients of this product use it too.
   */
  _matmulKernel?: MatmulKernel;
}

/** Shapes of a matmul: output, batch dims, and M, N, K. */
export interface MatmulShape {
  shape: number[];
  batch: number[];
  m: number;
  n: number;
  k: number;
}

/** Checks the operand shapes and works out the output shape (clear errors naming both shapes). */
export function matmulShape(aShape: Shape, bShape: Shape, { transA = false, transB = false }: MatmulOptions = {}): MatmulShape {
  const describe = () => `${fmt(aShape)}${transA ? ' (transA)' : ''} and ${fmt(bShape)}${transB ? ' (transB)' : ''}`;
  if (aShape.length < 2 || bShape.length < 2) {
    throw new ScratchGPTError('shape',
      `scratchgpt: matmul needs operands with at least 2 dimensions ([..., M, K] and [..., K, N]), got ${describe()}; ` +
        'reshape a vector to [1, K] or [K, 1] first',
    );
  }
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const kb = transB ? bc : br;
  const n = transB ? br : bc;
  if (k !== kb) throw new ScratchGPTError('shape', `scratchgpt: matmul: inner dimensions differ (${k} vs ${kb}) for ${describe()}`);
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = batchA[batchA.length - rank + i] ?? 1;
    const db = batchB[batchB.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ScratchGPTError('shape', `scratchgpt: matmul: batch dimensions of ${describe()} cannot be broadcast together (${da} vs ${db})`);
    }
    batch.push(da === 1 ? db : da);
  }
  return { shape: [...batch, m, n], batch, m, n, k };
}

function forward(a: Tensor, b: Tensor, transA: boolean, transB: boolean, forced: MatmulKernel | null): Tensor<'f32'> {
  expectDType('matmul', a, 'f32', 'f16');
  expectDType('matmul', b, 'f32', 'f16');
  const s = matmulShape(a.shape, b.shape, { transA, transB });
  const out = Tensor.empty(s.shape, 'f32');
  const planned = planGemm(a, b, out, s, { transA, transB, padMinWork: Infinity });
  const { adapter } = tileConfig();
  let tuned: MatmulKernel | null = null;
  if (adapter === 'cpu' && !forced) {
    tuned = tunedTile();
    if (tuned === null && gemmWork(planned) >= AUTOTUNE_MIN_WORK) startTuning();
  }
  const kernel = chooseKernel(planned, { adapter, forced, tuned });
  runGemm(padUnalignedRows(planned, matmulVariant(kernel).padMinWork), kernel, { forced: forced !== null });
  return out;
}

/**
 * Gradient of a weight `b` without batch dims of its own (`[B, T, C] @ [C, N]`): fold the batch into
 * the rows of `a` and of the output gradient, so that one product also sums over it. Null when the
 * layout does not allow it (`a` transposed, or batch dims that `a` itself broadcasts).
 */
function foldedGradB(g: Tensor, a: Tensor, transA: boolean, transB: boolean, forced: MatmulKernel | null): Tensor | null {
  if (transA || a.rank <= 2 || g.rank !== a.rank) return null;
  const rows = sizeOf(a.shape.slice(0, -1));
  if (rows !== sizeOf(g.shape.slice(0, -1))) return null;
  const a2 = a.reshape([rows, a.shape[a.rank - 1]]);
  const g2 = g.reshape([rows, g.shape[g.rank - 1]]);
  // dB = Aᵀ·dC, or stored transposed dB = dCᵀ·A.
  return transB ? forward(g2, a2, true, false, forced) : forward(a2, g2, true, false, forced);
}

/** dA, in A's batch dims broadcast to C's (the engine sums them down). */
function gradA(g: Tensor, a: Tensor, b: Tensor, transA: boolean, transB: boolean, forced: MatmulKernel | null): Tensor {
  // C = op(A)·op(B) → d op(A) = dC·op(B)ᵀ; stored transposed: dA = op(B)·dCᵀ.
  return transA ? forward(b, g, transB, true, forced) : forward(g, b, false, !transB, forced);
}

/** dB, in B's batch dims broadcast to C's, or folded to B's matrix shape (the engine sums or reshapes). */
function gradB(g: Tensor, a: Tensor, b: Tensor, transA: boolean, transB: boolean, forced: MatmulKernel | null): Tensor {
  const folded = sizeOf(b.shape.slice(0, -2)) === 1 && a.rank > 2 ? foldedGradB(g, a, transA, transB, forced) : null;
  if (folded) return folded;
  // d op(B) = op(A)ᵀ·dC; stored transposed: dB = dCᵀ·op(A).
  return transB ? forward(g, a, true, transA, forced) : forward(a, g, !transA, false, forced);
}

/**
 * Matrix product over the last two dims with broadcast batch dims:
 * `a [..., M, K] @ b [..., K, N] → [..., M, N]` (f32). `transA`/`transB` read an operand as
 * stored transposed (`a [..., K, M]`, `b [..., N, K]`). Both operands need at least 2 dims.
 * Operands are f32 or f16 (read as halves, accumulated in f32; f16 tensors get no gradient);
 * `precision: 'f16'` (or {@link autocast}) rounds f32 operands to f16 first (mixed precision).
 * @example
 * ```ts
 * const y = matmul(x, w);                       // [B, T, C] @ [C, N] → [B, T, N]
 * const logits = matmul(x, wte, { transB: true }); // [B, T, C] @ [V, C]ᵀ → [B, T, V]
 * const att = matmul(q, k, { transB: true });    // [B, H, T, D] @ [B, H, T, D]ᵀ → [B, H, T, T]
 * ```
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor<'f32'> {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const forced = options._matmulKernel ? matmulVariant(options._matmulKernel, '_matmulKernel').name : envKernel();
  const precision = options.precision ?? autocastPrecision();
  if (precision !== 'f32' && precision !== 'f16') throw new ScratchGPTError('value', `scratchgpt: matmul: precision must be 'f32' or 'f16', got '${String(precision)}'`);
  // Mixed precision: the halves are the operands (and what the backward pass keeps).
  const ah = precision === 'f16' && a.dtype === 'f32' ? cast(a, 'f16') : a;
  const bh = precision === 'f16' && b.dtype === 'f32' ? cast(b, 'f16') : b;
  try {
    const out = forward(ah, bh, transA, transB, forced);
    return record(out, 'matmul', [a, b], [ah, bh], (g, [as, bs]) => [
      () => gradA(g, as, bs, transA, transB, forced),
      () => gradB(g, as, bs, transA, transB, forced),
    ]);
  } finally {
    // `record` keeps views of what it saves.
    if (ah !== a) ah.dispose();
    if (bh !== b) bh.dispose();
  }
}

/**
 * float64 reference of {@link matmul} over flat row-major arrays (batch dims broadcast).
 */
export function matmulRef(
  a: ArrayLike<number>,
  aShape: Shape,
  b: ArrayLike<number>,
  bShape: Shape,
  options: MatmulOptions = {},
): { data: Float64Array; shape: number[] } {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const s = matmulShape(aShape, bShape, options);
  const { m, n, k, batch } = s;
  const sa = broadcastStrides(aShape.slice(0, -2), batch);
  const sb = broadcastStrides(bShape.slice(0, -2), batch);
  const count = sizeOf(batch);
  const data = new Float64Array(count * m * n);
  for (let e = 0; e < count; e++) {
    const oa = stridedOffset(e, batch, sa) * m * k;
    const ob = stridedOffset(e, batch, sb) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) {
          const x = a[oa + (transA ? p * m + i : i * k + p)];
          const y = b[ob + (transB ? j * k + p : p * n + j)];
          sum += x * y;
        }
        data[e * m * n + i * n + j] = sum;
      }
    }
  }
  return { data, shape: s.shape };
}

/**
 * Registry entry of matmul (see `ops/info.ts`): all four transpose combinations, batch dims broadcast
 * either way, folded weight gradients, sizes for the scalar and the tiled kernels. test/matmul.test.ts
 * sweeps odd M, N, K per kernel variant and the binding splits.
 */
export const matmulInfo: OpInfo<MatmulOptions> = {
  name: 'matmul',
  samples: [
    [[5, 7], [7, 3], {}],
    [[7, 5], [7, 3], { transA: true }],
    [[5, 7], [3, 7], { transB: true }],
    [[7, 5], [3, 7], { transA: true, transB: true }],
    [[2, 3, 5], [5, 4], {}], // weight gradient folded over the batch
    [[2, 3, 5], [4, 5], { transB: true }],
    [[2, 5, 3], [5, 4], { transA: true }], // transposed input: batched then summed
    [[2, 2, 3, 4], [2, 2, 4, 3], {}],
    [[2, 1, 3, 4], [3, 4, 2], {}], // both broadcast
    [[3, 4], [2, 4, 5], {}],
    [[1, 1], [1, 1], {}],
    // Just big enough for the tiled kernels (forward and both gradients), with ragged tiles.
    [[2, 20, 36], [36, 24], {}],
    [[2, 20, 36], [24, 36], { transB: true }],
    [[36, 40], [36, 24], { transA: true }],
    // Batch dims broadcast (forward only).
    [[2, 7, 5], [5, 6], {}], // [B, T, C] @ [C, N]: folded into one product
    [[2, 3, 7, 5], [6, 5], { transB: true }], // linear with an [out, in] weight
    [[2, 3, 4, 8], [2, 3, 8, 4], {}], // [B, H, T, D] @ [B, H, D, T]
    [[2, 3, 9, 8], [2, 3, 9, 8], { transB: true }], // q @ kᵀ
    [[2, 3, 9, 9], [2, 3, 9, 8], {}], // att @ v
    [[2, 1, 5, 3], [4, 3, 6], {}],
    [[5, 3], [4, 3, 6], {}],
    [[3, 5], [2, 1, 6, 3], { transA: true, transB: true }],
    [[1, 4, 6], [3, 1, 4, 5], { transA: true }],
    [[2, 1, 3, 1, 5, 4], [1, 3, 1, 2, 4, 3], {}],
    [[97, 131], [131, 83], {}],
  ].map(([a, b, options], i) => ({ shapes: [a as number[], b as number[]], args: options as MatmulOptions, forwardOnly: i >= 14 })),
  run: ([a, b], options) => matmul(a, b, options),
  ref: ([a, b], [sa, sb], options) => matmulRef(a, sa, b, sb, options),
  tol: { rtol: 1e-5, atol: 1e-5 },
  dtype: { reject: 'i32' },
  // Small products without transposes: the same scalar kernel.
  reuse: [0, 7, 9, 10],
};

