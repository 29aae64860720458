/**
 * Batched matrix multiplication (shaders/matmul.wgsl): forward, backward and a float64 reference.
 *
 * `matmul(a, b)` multiplies the last two dims, `[..., M, K] @ [..., K, N] → [..., M, N]`, with the
 * leading (batch) dims broadcast NumPy-style; `transA`/`transB` read an operand as stored
 * transposed (`[..., K, M]`, `[..., N, K]`) without copying it.
 *
 * The host plans each product: a batch against a shared weight is folded into M; narrow outputs
 * (N < 16) are computed as Cᵀ = Bᵀ·Aᵀ written transposed; in big problems, operands whose rows do
 * not start at multiples of 4 elements are multiplied as zero-padded copies; C is cut into an
 * interior for the big tile and edge strips for the small one. Operands larger than one storage
 * binding (GPT-2's tied LM head: 50257×768 floats = 154 MB) are split into dispatches over
 * sub-ranges of stored rows (along M, N or K, accumulating over K), bound at 256-byte-aligned
 * offsets with the remainder passed as element offsets.
 */
import source from '../../../../shaders/matmul.wgsl';
import { record } from '../engine/graph';
import { gpu } from '../engine/device';
import { defineKernel, launch } from '../engine/kernel';
import { expectDType, fmt, sizeOf, Tensor, type Shape } from '../engine/tensor';
import { broadcastStrides, collapseDims } from './broadcast';
import { commonWgsl, stridedOffset } from './shared';

const kernel = defineKernel('matmul', source, { with: [commonWgsl] });

export interface MatmulOptions {
  /** Read `a` as its transpose: `a` is stored `[..., K, M]`. Default false. */
  transA?: boolean;
  /** Read `b` as its transpose: `b` is stored `[..., N, K]` (e.g. an `[out, in]` weight). Default false. */
  transB?: boolean;
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
    throw new Error(
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
  if (k !== kb) throw new Error(`scratchgpt: matmul: inner dimensions differ (${k} vs ${kb}) for ${describe()}`);
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = batchA[batchA.length - rank + i] ?? 1;
    const db = batchB[batchB.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`scratchgpt: matmul: batch dimensions of ${describe()} cannot be broadcast together (${da} vs ${db})`);
    }
    batch.push(da === 1 ? db : da);
  }
  return { shape: [...batch, m, n], batch, m, n, k };
}

/**
 * Per-device choice of tiles. On CPU adapters (llvmpipe, SwiftShader) every storage load is a
 * per-lane gather and arithmetic is cheap, so big per-thread tiles (32×16: 12 micro-block loads
 * per 512 multiply-adds per K step) win, in small workgroups. GPUs get the 4×16 tile only (a
 * 32×16 tile would need 512 accumulator registers) in workgroups of 64.
 */
interface Config {
  workgroup: number;
  bigTiles: boolean;
}

const configs = new WeakMap<GPUDevice, Config>();
/** Problems with at most this many multiply-adds use the one-output-per-thread entry. */
const TINY = 32768;
/** Problems with at least this many multiply-adds copy operands with unaligned rows to aligned ones. */
const PAD_MIN_WORK = 1 << 21;

function config(): Config {
  const { device, adapterName } = gpu();
  let c = configs.get(device);
  if (!c) {
    const cpu = /llvmpipe|lavapipe|softpipe|swiftshader/i.test(adapterName);
    c = cpu ? { workgroup: 16, bigTiles: true } : { workgroup: 64, bigTiles: false };
    configs.set(device, c);
  }
  return c;
}

/** One (batched) problem C = op(A)·op(B) as the kernel sees it; offsets in elements of each storage. */
interface Gemm {
  a: Tensor;
  b: Tensor;
  c: Tensor;
  transA: boolean;
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
  /** Collapsed batch dims run inside the dispatch (empty: one matrix). */
  batch: number[];
  strideA: number[];
  strideB: number[];
  strideC: number;
}

/** Element index of logical (row, col) of a matrix stored with row stride `ld`, or transposed. */
function at(trans: boolean, ld: number, row: number, col: number): number {
  return trans ? col * ld + row : row * ld + col;
}

/** A byte range of `t` covering elements [start, end), starting at an aligned offset; `first` is `start` relative to it. */
function span(t: Tensor, start: number, end: number): { binding: { tensor: Tensor; offset: number; size: number }; first: number } {
  const align = gpu().limits.minStorageBufferOffsetAlignment;
  const offset = Math.floor((start * 4) / align) * align;
  // Arrays of vec4: round up to 16 bytes so the last partial vec4 is inside the binding.
  const size = Math.min(Math.max(16, Math.ceil((end * 4 - offset) / 16) * 16), t.buffer.size - offset);
  return { binding: { tensor: t, offset, size }, first: start - offset / 4 };
}

/** Elements one binding may span (slack for the aligned start and the rounded end). */
function maxBindingElements(): number {
  const { limits } = gpu();
  return Math.floor((limits.maxStorageBufferBindingSize - limits.minStorageBufferOffsetAlignment - 16) / 4);
}

/**
 * A copy of matrix operand `t` (rows of `ld` elements) with rows padded to a multiple of 4
 * elements (zeros), as `[rows, ld4]`: the tiled entries then load whole vec4s.
 */
function padRows(t: Tensor, ld: number): Tensor {
  const rows = t.size / ld;
  const ld4 = Math.ceil(ld / 4) * 4;
  const out = Tensor.empty([rows, ld4], 'f32');
  const { workgroup } = config();
  const chunk = Math.max(1, Math.floor(maxBindingElements() / ld4));
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const count = Math.min(chunk, rows - r0);
    const src = span(t, r0 * ld, (r0 + count) * ld);
    const dst = span(out, r0 * ld4, (r0 + count) * ld4);
    // One output vec4 per thread.
    launch(kernel, 'pad_rows', {
      constants: { WG: workgroup },
      params: { m: count, n: ld, lda: ld, ldc: ld4, off_a: src.first, off_c: dst.first },
      bind: { a: src.binding, c: dst.binding },
      items: (count * ld4) / 4,
    });
  }
  return out;
}

/** Records the dispatches of one problem whose operands each fit one binding (batch entries in the grid). */
function dispatchGemm(g: Gemm): void {
  const { workgroup, bigTiles } = config();
  const maxGroups = gpu().limits.maxComputeWorkgroupsPerDimension;
  const count = sizeOf(g.batch);
  if (g.m === 0 || g.n === 0 || count === 0) return;
  // Element extents of each operand over all batch entries (for the bindings).
  const last = (strides: number[]) => g.batch.reduce((s, d, i) => s + (d - 1) * strides[i], 0);
  const k1 = Math.max(g.k, 1);
  const a = span(g.a, g.offA, g.offA + last(g.strideA) + at(g.transA, g.lda, g.m - 1, k1 - 1) + 1);
  const b = span(g.b, g.offB, g.offB + last(g.strideB) + at(g.transB, g.ldb, k1 - 1, g.n - 1) + 1);
  const c = span(g.c, g.offC, g.offC + (count - 1) * g.strideC + at(g.transC, g.ldc, g.m - 1, g.n - 1) + 1);
  const vec = (ld: number, first: number, strides: number[]) => ld % 4 === 0 && first % 4 === 0 && strides.every((s) => s % 4 === 0);
  const vecA = vec(g.lda, a.first, g.strideA);
  const vecB = vec(g.ldb, b.first, g.strideB);
  const vecC = !g.transC && vec(g.ldc, c.first, [g.strideC]);
  // Each entry gets exactly the constants it reads (fewer pipelines to compile).
  const base = { TRANS_A: g.transA, TRANS_B: g.transB, WG: workgroup };
  const constantsFor = {
    tile32x16: { ...base, VEC_A: vecA, VEC_B: vecB, VEC_C: vecC },
    tile4x16: { ...base, VEC_A: vecA, VEC_B: vecB, C_TRANS: g.transC },
    simple: { ...base, C_TRANS: g.transC },
  };
  const bind = { a: a.binding, b: b.binding, c: c.binding };
  /** One dispatch over rows [r0, r1) and columns [c0, c1) of C, for K terms [k0, k0 + k). */
  const run = (entry: 'tile32x16' | 'tile4x16' | 'simple', r0: number, r1: number, c0: number, c1: number, k0: number, k: number, accumulate: boolean) => {
    if (r1 <= r0 || c1 <= c0) return;
    const offA = a.first + at(g.transA, g.lda, r0, k0);
    const offB = b.first + at(g.transB, g.ldb, k0, c0);
    const offC = c.first + at(g.transC, g.ldc, r0, c0);
    const [rowsPerGroup, colsPerThread] = entry === 'tile32x16' ? [32, 16] : entry === 'tile4x16' ? [4, 16] : [1, 1];
    const groupsX = Math.ceil(Math.ceil((c1 - c0) / colsPerThread) / workgroup);
    const groupsY = Math.ceil((r1 - r0) / rowsPerGroup);
    for (let batch0 = 0; batch0 < count; batch0 += maxGroups) {
      launch(kernel, entry, {
        constants: constantsFor[entry],
        params: {
          m: r1 - r0,
          n: c1 - c0,
          k,
          accumulate,
          lda: g.lda,
          ldb: g.ldb,
          ldc: g.ldc,
          rank: g.batch.length,
          off_a: offA,
          off_b: offB,
          off_c: offC + batch0 * g.strideC,
          batch0,
          stride_c: g.strideC,
          shape: g.batch,
          stride_a: g.strideA,
          stride_b: g.strideB,
        },
        bind,
        // x: column tiles, y: row tiles, z: batch entries.
        workgroups: [groupsX, groupsY, Math.min(maxGroups, count - batch0)],
      });
    }
  };
  // Tiny problems: launch cost dominates, and the scalar entry has the fewest variants to compile.
  if (count * g.m * g.n * g.k <= TINY) {
    run('simple', 0, g.m, 0, g.n, 0, g.k, g.accumulate);
    return;
  }
  // Whole steps of 4 along K in the tiled kernels; the last K % 4 terms are added by the scalar one.
  const k4 = g.k - (g.k % 4);
  if (k4 > 0 || g.k === 0) {
    // The 32×16 tile covers the interior (no bounds checks, no accumulation, aligned operands);
    // the 4×16 one the rest.
    const big = bigTiles && vecA && vecB && !g.transC && !g.accumulate;
    const m32 = big ? g.m - (g.m % 32) : 0;
    const n16 = m32 > 0 ? g.n - (g.n % 16) : 0;
    run('tile32x16', 0, m32, 0, n16, 0, k4, false);
    run('tile4x16', 0, m32, n16, g.n, 0, k4, g.accumulate);
    run('tile4x16', m32, g.m, 0, g.n, 0, k4, g.accumulate);
  }
  if (k4 < g.k) run('simple', 0, g.m, 0, g.n, k4, g.k - k4, g.accumulate || k4 > 0);
}

/** Largest multiple of `unit` that is ≤ `limit`, or `total` if that is smaller (at least `unit`; callers check). */
function chunkSize(limit: number, total: number, unit: number): number {
  if (total <= limit) return total;
  return Math.max(unit, Math.floor(limit / unit) * unit);
}

/**
 * Records C[batch] = op(A[batch]) · op(B[batch]) into `out` (shape `[...batch, M, N]`), splitting
 * the problem so that no binding exceeds the device's maxStorageBufferBindingSize.
 */
function gemmInto(out: Tensor, a: Tensor, b: Tensor, s: MatmulShape, transA: boolean, transB: boolean): void {
  const { m, n, k, batch } = s;
  const collapsed = collapseDims(batch, [
    broadcastStrides(a.shape.slice(0, -2), batch).map((x) => x * m * k),
    broadcastStrides(b.shape.slice(0, -2), batch).map((x) => x * k * n),
  ]);
  let g: Gemm = {
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
  // A batch of A against one shared B: fold the batch into M ([B, T, C] @ [C, N] is one product).
  if (!transA && g.strideB.every((x) => x === 0) && g.batch.length === 1 && g.strideA[0] === m * k) {
    g = { ...g, m: m * g.batch[0], batch: [1], strideA: [0], strideB: [0], strideC: 0 };
  }
  // Few columns, many rows (classifier heads, LoRA): threads run along N, so compute
  // Cᵀ = op(B)ᵀ·op(A)ᵀ instead, writing it transposed (that is, C itself).
  if (g.n < 16 && g.m > g.n) {
    g = {
      ...g,
      a: g.b,
      b: g.a,
      transA: !g.transB,
      transB: !g.transA,
      transC: true,
      m: g.n,
      n: g.m,
      lda: g.ldb,
      ldb: g.lda,
      strideA: g.strideB,
      strideB: g.strideA,
    };
  }
  // Operands whose rows do not start at multiples of 4 elements (a vocabulary of 50257) would take
  // the slow unaligned loads: in big problems, multiply aligned copies instead.
  const temps: Tensor[] = [];
  const work = sizeOf(g.batch) * g.m * g.n * g.k;
  if (work >= PAD_MIN_WORK && g.lda % 4 !== 0 && g.n >= 16) {
    const padded = padRows(g.a, g.lda);
    const ld4 = padded.shape[1];
    g = { ...g, a: padded, strideA: g.strideA.map((x) => (x / g.lda) * ld4), lda: ld4 };
    temps.push(padded);
  }
  if (work >= PAD_MIN_WORK && g.ldb % 4 !== 0 && g.m >= 16) {
    const padded = padRows(g.b, g.ldb);
    const ld4 = padded.shape[1];
    g = { ...g, b: padded, strideB: g.strideB.map((x) => (x / g.ldb) * ld4), ldb: ld4 };
    temps.push(padded);
  }
  splitGemm(g);
  for (const t of temps) t.dispose();
}

/** Records `g`, split so that no binding exceeds the device's maxStorageBufferBindingSize. */
function splitGemm(g: Gemm): void {
  const { limits } = gpu();
  const maxGroups = limits.maxComputeWorkgroupsPerDimension;
  const maxCols = maxGroups * config().workgroup;
  const maxElements = maxBindingElements();
  if ([g.a, g.b, g.c].every((t) => t.size <= maxElements) && g.m <= maxGroups && g.n <= maxCols) {
    dispatchGemm(g);
    return;
  }
  // Too large for one binding (or grid): one batch entry at a time, in chunks along M, N and K
  // (accumulating over K). Each operand is cut along the dim of its stored rows: A along K if
  // transposed else M, B along N if transposed else K, C along N if transposed else M.
  const limitFor = (dim: 'm' | 'n' | 'k') => {
    let limit = dim === 'm' ? maxGroups : dim === 'n' ? maxCols : Infinity;
    if ((g.transA ? 'k' : 'm') === dim) limit = Math.min(limit, Math.floor(maxElements / g.lda));
    if ((g.transB ? 'n' : 'k') === dim) limit = Math.min(limit, Math.floor(maxElements / g.ldb));
    if ((g.transC ? 'n' : 'm') === dim) limit = Math.min(limit, Math.floor(maxElements / g.ldc));
    return limit;
  };
  const mc = chunkSize(limitFor('m'), g.m, 32);
  const nc = chunkSize(limitFor('n'), g.n, 16);
  const kc = chunkSize(limitFor('k'), g.k, 4);
  const rowsOf = { m: mc, n: nc, k: kc };
  const spans = [
    rowsOf[g.transA ? 'k' : 'm'] * g.lda,
    rowsOf[g.transB ? 'n' : 'k'] * g.ldb,
    rowsOf[g.transC ? 'n' : 'm'] * g.ldc,
  ];
  if (spans.some((x) => x > maxElements)) {
    throw new Error(
      `scratchgpt: matmul of ${fmt(g.a.shape)} and ${fmt(g.b.shape)}: rows are too long to split into bindings of ` +
        `${limits.maxStorageBufferBindingSize} bytes (maxStorageBufferBindingSize)`,
    );
  }
  const entries = sizeOf(g.batch);
  for (let e = 0; e < entries; e++) {
    // Element offsets of batch entry e.
    const baseA = stridedOffset(e, g.batch, g.strideA);
    const baseB = stridedOffset(e, g.batch, g.strideB);
    for (let m0 = 0; m0 < g.m; m0 += mc) {
      for (let n0 = 0; n0 < g.n; n0 += nc) {
        let k0 = 0;
        do {
          dispatchGemm({
            ...g,
            m: Math.min(mc, g.m - m0),
            n: Math.min(nc, g.n - n0),
            k: Math.min(kc, g.k - k0),
            offA: baseA + at(g.transA, g.lda, m0, k0),
            offB: baseB + at(g.transB, g.ldb, k0, n0),
            offC: e * g.strideC + at(g.transC, g.ldc, m0, n0),
            accumulate: k0 > 0,
            batch: [],
            strideA: [],
            strideB: [],
            strideC: 0,
          });
          k0 += kc;
        } while (k0 < g.k);
      }
    }
  }
}

function forward(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor<'f32'> {
  expectDType('matmul', a, 'f32');
  expectDType('matmul', b, 'f32');
  const s = matmulShape(a.shape, b.shape, { transA, transB });
  const out = Tensor.empty(s.shape, 'f32');
  gemmInto(out, a, b, s, transA, transB);
  return out;
}

/**
 * Gradient of a weight `b` without batch dims of its own (`[B, T, C] @ [C, N]`): fold the batch into
 * the rows of `a` and of the output gradient, so that one product also sums over it. Null when the
 * layout does not allow it (`a` transposed, or batch dims that `a` itself broadcasts).
 */
function foldedGradB(g: Tensor, a: Tensor, transA: boolean, transB: boolean): Tensor | null {
  if (transA || a.rank <= 2 || g.rank !== a.rank) return null;
  const rows = sizeOf(a.shape.slice(0, -1));
  if (rows !== sizeOf(g.shape.slice(0, -1))) return null;
  const a2 = a.reshape([rows, a.shape[a.rank - 1]]);
  const g2 = g.reshape([rows, g.shape[g.rank - 1]]);
  // dB = Aᵀ·dC, or stored transposed dB = dCᵀ·A.
  return transB ? forward(g2, a2, true, false) : forward(a2, g2, true, false);
}

/** dA, in A's batch dims broadcast to C's (the engine sums them down). */
function gradA(g: Tensor, a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  // C = op(A)·op(B) → d op(A) = dC·op(B)ᵀ; stored transposed: dA = op(B)·dCᵀ.
  return transA ? forward(b, g, transB, true) : forward(g, b, false, !transB);
}

/** dB, in B's batch dims broadcast to C's, or folded to B's matrix shape (the engine sums or reshapes). */
function gradB(g: Tensor, a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const folded = sizeOf(b.shape.slice(0, -2)) === 1 && a.rank > 2 ? foldedGradB(g, a, transA, transB) : null;
  if (folded) return folded;
  // d op(B) = op(A)ᵀ·dC; stored transposed: dB = dCᵀ·op(A).
  return transB ? forward(g, a, true, transA) : forward(a, g, !transA, false);
}

/**
 * Matrix product over the last two dims with broadcast batch dims:
 * `a [..., M, K] @ b [..., K, N] → [..., M, N]` (f32). `transA`/`transB` read an operand as
 * stored transposed (`a [..., K, M]`, `b [..., N, K]`). Both operands need at least 2 dims.
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
  const out = forward(a, b, transA, transB);
  return record(out, 'matmul', [a, b], [a, b], (g, [as, bs]) => [
    () => gradA(g, as, bs, transA, transB),
    () => gradB(g, as, bs, transA, transB),
  ]);
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
