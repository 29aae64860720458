/**
 * The matmul planner: pure functions from operand shapes to the product the kernels compute (no GPU).
 *
 * {@link planGemm} describes `C[batch] = op(A[batch])·op(B[batch])` as one {@link Gemm}, then rewrites it
 * in order: {@link foldBatchIntoRows}, {@link transposeNarrowOutput}, {@link padUnalignedRows}. Each rewrite
 * is a `Gemm → Gemm` function, so each can be tested (and reasoned about) on its own.
 */
import { sizeOf, type Shape } from '../../engine/tensor';
import { broadcastStrides, collapseDims } from '../broadcast';

/** A matrix operand as the planner sees it: a shape and an element count (a `Tensor`, or a stand-in in tests). */
export interface Operand {
  readonly shape: Shape;
  readonly size: number;
}

/** Dims of a (batched) product, as `matmulShape` works them out. */
export interface GemmDims {
  batch: readonly number[];
  m: number;
  n: number;
  k: number;
}

/**
 * One (batched) problem `C = op(A)·op(B)` (`+ C` when accumulating) as the kernels see it. Offsets and
 * strides are in elements of each operand's storage.
 */
export interface Gemm<T extends Operand = Operand> {
  a: T;
  b: T;
  c: T;
  /** op(A) is M×K: A stored `[M, K]` (row stride lda), or `[K, M]` when transposed. */
  transA: boolean;
  /** op(B) is K×N: B stored `[K, N]` (row stride ldb), or `[N, K]` when transposed. */
  transB: boolean;
  /** C stored transposed: element (i, j) at j·ldc + i. */
  transC: boolean;
  m: number;
  n: number;
  k: number;
  lda: number;
  ldb: number;
  ldc: number;
  offA: number;
  offB: number;
  offC: number;
  accumulate: boolean;
  /** Collapsed batch dims run inside one dispatch (empty or `[1]`: one matrix). */
  batch: number[];
  strideA: number[];
  strideB: number[];
  strideC: number;
  /**
   * Set by {@link padUnalignedRows}: A must first be copied to rows of `lda` elements (a multiple of 4,
   * zero-padded); this is its stored row length. `lda` and `strideA` already describe the copy.
   */
  padA?: number;
  /** The same for B. */
  padB?: number;
}

export interface PlanOptions {
  transA?: boolean;
  transB?: boolean;
  /**
   * Operands whose rows do not start at multiples of 4 elements are copied to padded ones when the
   * problem has at least this many multiply-adds (default {@link PAD_MIN_WORK}; `Infinity`: never).
   */
  padMinWork?: number;
}

/** Problems with at least this many multiply-adds multiply aligned copies of operands with unaligned rows. */
export const PAD_MIN_WORK = 1 << 21;

/** Multiply-adds of a problem (all batch entries). */
export function gemmWork(g: Gemm): number {
  return sizeOf(g.batch) * g.m * g.n * g.k;
}

/**
 * Plans `out = op(a)·op(b)` with the batch dims of `dims` (from `matmulShape`) broadcast: the
 * straightforward description, then the rewrites in order.
 * @example
 * ```ts
 * const x = { shape: [2, 64, 768], size: 98304 }, w = { shape: [768, 768], size: 589824 };
 * planGemm(x, w, { shape: [2, 64, 768], size: 98304 }, matmulShape(x.shape, w.shape)); // m: 128, batch: [1]
 * ```
 */
export function planGemm<T extends Operand>(a: T, b: T, out: T, dims: GemmDims, options: PlanOptions = {}): Gemm<T> {
  const g = describeGemm(a, b, out, dims, options.transA ?? false, options.transB ?? false);
  return padUnalignedRows(transposeNarrowOutput(foldBatchIntoRows(g)), options.padMinWork ?? PAD_MIN_WORK);
}

/** The product as the operands are stored: batch dims collapsed, nothing rewritten. */
export function describeGemm<T extends Operand>(a: T, b: T, out: T, dims: GemmDims, transA: boolean, transB: boolean): Gemm<T> {
  const { m, n, k, batch } = dims;
  const collapsed = collapseDims(batch, [
    broadcastStrides(a.shape.slice(0, -2), batch).map((x) => x * m * k),
    broadcastStrides(b.shape.slice(0, -2), batch).map((x) => x * k * n),
  ]);
  return {
    a,
    b,
    c: out,
    transA,
    transB,
    transC: false,
    m,
    n,
    k,
    lda: transA ? m : k,
    ldb: transB ? k : n,
    ldc: n,
    offA: 0,
    offB: 0,
    offC: 0,
    accumulate: false,
    batch: collapsed.shape,
    strideA: collapsed.strides[0],
    strideB: collapsed.strides[1],
    strideC: m * n,
  };
}

/** A batch of A against one shared B (`[B, T, C] @ [C, N]`) is one product with B·T rows. */
export function foldBatchIntoRows<T extends Operand>(g: Gemm<T>): Gemm<T> {
  if (g.transA || g.batch.length !== 1 || !g.strideB.every((x) => x === 0) || g.strideA[0] !== g.m * g.k) return g;
  return { ...g, m: g.m * g.batch[0], batch: [1], strideA: [0], strideB: [0], strideC: 0 };
}

/**
 * Few columns, many rows (classifier heads, LoRA, `W @ x` with a column x): threads run along N, so
 * compute Cᵀ = op(B)ᵀ·op(A)ᵀ instead, written transposed (that is, C itself).
 */
export function transposeNarrowOutput<T extends Operand>(g: Gemm<T>): Gemm<T> {
  if (!(g.n < 16 && g.m > g.n)) return g;
  return {
    ...g,
    a: g.b,
    b: g.a,
    transA: !g.transB,
    transB: !g.transA,
    transC: !g.transC,
    m: g.n,
    n: g.m,
    lda: g.ldb,
    ldb: g.lda,
    offA: g.offB,
    offB: g.offA,
    strideA: g.strideB,
    strideB: g.strideA,
  };
}

/**
 * Operands whose rows do not start at multiples of 4 elements (a vocabulary of 50257) take the slow
 * unaligned loads: in big problems, plan to multiply zero-padded copies instead (`padA`/`padB`).
 */
export function padUnalignedRows<T extends Operand>(g: Gemm<T>, minWork: number): Gemm<T> {
  if (gemmWork(g) < minWork) return g;
  let out = g;
  if (g.lda % 4 !== 0 && g.n >= 16 && g.offA === 0) out = withPaddedRows(out, 'a');
  if (g.ldb % 4 !== 0 && g.m >= 16 && g.offB === 0) out = withPaddedRows(out, 'b');
  return out;
}

/**
 * `g` planned to multiply a copy of operand `which` (stored from element 0) whose rows are padded to
 * a multiple of 4 elements: `padA`/`padB` keeps the stored row length, `lda`/`ldb` and the batch
 * strides describe the copy.
 */
export function withPaddedRows<T extends Operand>(g: Gemm<T>, which: 'a' | 'b'): Gemm<T> {
  const ld4 = (ld: number) => Math.ceil(ld / 4) * 4;
  if (which === 'a') return { ...g, padA: g.lda, lda: ld4(g.lda), strideA: g.strideA.map((x) => (x / g.lda) * ld4(g.lda)) };
  return { ...g, padB: g.ldb, ldb: ld4(g.ldb), strideB: g.strideB.map((x) => (x / g.ldb) * ld4(g.ldb)) };
}

/** Element index of logical (row, col) of a matrix stored with row stride `ld`, or transposed. */
export function at(trans: boolean, ld: number, row: number, col: number): number {
  return trans ? col * ld + row : row * ld + col;
}
