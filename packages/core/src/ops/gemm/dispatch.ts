/**
 * Records the dispatches of a planned product: per-device tile configuration, zero-padded copies of
 * unaligned operands, the split into binding-sized parts, and one `launch` per rectangle of
 * {@link coverGemm}. Operands are bound as byte ranges from aligned offsets, with the remainder passed
 * to the kernels as element offsets.
 */
import tilesSource from '../../../../../shaders/matmul.wgsl';
import gemvSource from '../../../../../shaders/matmul_gemv.wgsl';
import sharedSource from '../../../../../shaders/matmul_shared.wgsl';
import { gpu } from '../../engine/device';
import { defineKernel, launch } from '../../engine/kernel';
import { sizeOf, Tensor } from '../../engine/tensor';
import { commonWgsl } from '../shared';
import { defineOperandTwins, elementBytes, F32_OPERANDS, operandVariant } from './operands';
import { at, withPaddedRows, type Gemm } from './plan';
import { adapterClass, type AdapterClass } from './policy';
import { maxBindingElements, splitForBindings, type BindingLimits } from './split';
import { coverGemm, type MatmulKernel } from './variants';

const tiles = defineKernel('matmul', tilesSource, { with: [commonWgsl, F32_OPERANDS] });
const shared = defineKernel('matmul_shared', sharedSource, { with: [commonWgsl, F32_OPERANDS] });
const gemv = defineKernel('matmul_gemv', gemvSource, { with: [commonWgsl, F32_OPERANDS] });
// Twins that read f16 operands (mixed precision).
defineOperandTwins(tiles, tilesSource, [commonWgsl]);
defineOperandTwins(shared, sharedSource, [commonWgsl]);
defineOperandTwins(gemv, gemvSource, [commonWgsl]);

/** The three matmul kernel modules (register tiles, shared-memory block tiles, matrix-vector). */
export const matmulKernels = { tiles, shared, gemv } as const;

/** Per-device choices that do not depend on the problem. */
export interface TileConfig {
  adapter: AdapterClass;
  /**
   * Threads per workgroup of the 1-D entries. CPU adapters run a workgroup's invocations a SIMD
   * vector at a time on one core: small workgroups spread better over the cores. GPUs get 64.
   */
  workgroup: number;
}

const configs = new WeakMap<GPUDevice, TileConfig>();

/** The tile configuration of the current device (worked out once per device). */
export function tileConfig(): TileConfig {
  const { device, adapter } = gpu();
  let c = configs.get(device);
  if (!c) {
    const kind = adapterClass(adapter.info ?? {});
    c = { adapter: kind, workgroup: kind === 'cpu' ? 16 : 64 };
    configs.set(device, c);
  }
  return c;
}

let testBindingLimit: number | null = null;

/**
 * @internal Tests only: split products as if storage bindings held at most `bytes` (null: the device's
 * limit), so that the split and the accumulating K chunks run on small operands.
 */
export function setBindingLimitForTests(bytes: number | null): void {
  testBindingLimit = bytes;
}

function bindingLimits(config: TileConfig): BindingLimits {
  const { limits } = gpu();
  return {
    maxStorageBufferBindingSize: Math.min(limits.maxStorageBufferBindingSize, testBindingLimit ?? Infinity),
    minStorageBufferOffsetAlignment: limits.minStorageBufferOffsetAlignment,
    maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    // The narrowest entry (gemv_splitk: 16 columns per workgroup) bounds the columns of one dispatch.
    columnsPerGroup: 16,
  };
}

/** A byte range of `t` covering elements [start, end), starting at an aligned offset; `first` is `start` relative to it. */
function span(t: Tensor, start: number, end: number): { binding: { tensor: Tensor; offset: number; size: number }; first: number } {
  const align = gpu().limits.minStorageBufferOffsetAlignment;
  const bytes = elementBytes(t.dtype);
  const offset = Math.floor((start * bytes) / align) * align;
  // Arrays of vec4f (or vec2u of halves): round up to 16 bytes so the last partial word is inside the binding.
  const size = Math.min(Math.max(16, Math.ceil((end * bytes - offset) / 16) * 16), t.buffer.size - t.byteOffset - offset);
  return { binding: { tensor: t, offset, size }, first: start - offset / bytes };
}

/**
 * A copy of matrix operand `t` (rows of `ld` elements) with rows padded to a multiple of 4
 * elements (zeros), as `[rows, ld4]`: the tiled entries then load whole vec4s. An f16 operand's
 * copy is f32 (widened exactly).
 */
function padRows(t: Tensor, ld: number, config: TileConfig): Tensor {
  const rows = t.size / ld;
  const ld4 = Math.ceil(ld / 4) * 4;
  const out = Tensor.empty([rows, ld4], 'f32');
  const padKernel = operandVariant(tiles, t.dtype, 'f32');
  const chunk = Math.max(1, Math.floor(maxBindingElements(bindingLimits(config)) / ld4));
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const count = Math.min(chunk, rows - r0);
    const src = span(t, r0 * ld, (r0 + count) * ld);
    const dst = span(out, r0 * ld4, (r0 + count) * ld4);
    // One output vec4 per thread.
    launch(padKernel, 'pad_rows', {
      constants: { WG: config.workgroup },
      params: { m: count, n: ld, lda: ld, ldc: ld4, off_a: src.first, off_c: dst.first },
      bind: { a: src.binding, c: dst.binding },
      items: (count * ld4) / 4,
    });
  }
  return out;
}

let testHalves: 'read' | 'widen' | null = null;

/** @internal Tests only: make the policy's kernels read f16 operands directly, or widen them first (null: per adapter). */
export function setHalfOperandsForTests(mode: 'read' | 'widen' | null): void {
  testHalves = mode;
}

/**
 * Whether the chosen kernel reads f16 operands as halves (GPUs: half the bytes it loads) or multiplies
 * exact f32 copies (CPU adapters, where unpacking costs more than the bytes it saves, and the f32
 * pipelines are compiled already). Forced variants always read the halves.
 */
function readsHalves(config: TileConfig): boolean {
  return testHalves === null ? config.adapter !== 'cpu' : testHalves === 'read';
}

/** `g` with its f16 operands (stored from element 0) planned as padded f32 copies when `widen`. */
function widenHalves(g: Gemm<Tensor>, widen: boolean): Gemm<Tensor> {
  if (!widen) return g;
  let out = g;
  if (g.a.dtype === 'f16' && g.padA === undefined && g.offA === 0) out = withPaddedRows(out, 'a');
  if (g.b.dtype === 'f16' && g.padB === undefined && g.offB === 0) out = withPaddedRows(out, 'b');
  return out;
}

/**
 * Records `g` with variant `kernel`: padded copies first where the plan asks for them, then every
 * binding-sized part. Temporaries are freed once recorded (the pool hands them out again only to
 * later commands).
 */
export function runGemm(g: Gemm<Tensor>, kernel: MatmulKernel, { forced = false } = {}): void {
  const config = tileConfig();
  const temps: Tensor[] = [];
  let planned = widenHalves(g, !forced && !readsHalves(config));
  if (planned.padA !== undefined) {
    const padded = padRows(planned.a, planned.padA, config);
    temps.push(padded);
    planned = { ...planned, a: padded, padA: undefined };
  }
  if (planned.padB !== undefined) {
    const padded = padRows(planned.b, planned.padB, config);
    temps.push(padded);
    planned = { ...planned, b: padded, padB: undefined };
  }
  for (const part of splitForBindings(planned, bindingLimits(config))) dispatchPart(part, kernel, config);
  for (const t of temps) t.dispose();
}

/** Records one problem whose operands each fit one binding (batch entries in the grid's z). */
function dispatchPart(g: Gemm<Tensor>, kernel: MatmulKernel, config: TileConfig): void {
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
  const bind = { a: a.binding, b: b.binding, c: c.binding };
  // The twins that read these operand dtypes.
  const tilesKernel = operandVariant(tiles, g.a.dtype, g.b.dtype);
  const sharedKernel = operandVariant(shared, g.a.dtype, g.b.dtype);
  const gemvKernel = operandVariant(gemv, g.a.dtype, g.b.dtype);
  const launches = coverGemm(kernel, { m: g.m, n: g.n, k: g.k, accumulate: g.accumulate, transC: g.transC, vecA, vecB, workgroup: config.workgroup });
  // Each entry gets exactly the constants it reads (fewer pipelines to compile).
  const base = { TRANS_A: g.transA, TRANS_B: g.transB };
  const wg = { ...base, WG: config.workgroup };
  const constantsFor = {
    tile32x16: { ...wg, VEC_A: vecA, VEC_B: vecB, VEC_C: vecC },
    tile16x16: { ...wg, VEC_A: vecA, VEC_B: vecB, VEC_C: vecC },
    tile4x16: { ...wg, VEC_A: vecA, VEC_B: vecB, C_TRANS: g.transC },
    simple: { ...wg, C_TRANS: g.transC },
  };
  // The layout as bits of p.flags (matmul_shared.wgsl and matmul_gemv.wgsl read it at run time).
  const bit = shared.consts;
  const flags =
    (g.transA ? bit.TRANS_A : 0) | (g.transB ? bit.TRANS_B : 0) | (vecA ? bit.VEC_A : 0) | (vecB ? bit.VEC_B : 0) | (vecC ? bit.VEC_C : 0) | (g.transC ? bit.C_TRANS : 0);
  for (const l of launches) {
    const groupsX = Math.ceil((l.c1 - l.c0) / l.colsPerGroup);
    const groupsY = Math.ceil((l.r1 - l.r0) / l.rowsPerGroup);
    const offC = c.first + at(g.transC, g.ldc, l.r0, l.c0);
    // x: column tiles, y: row tiles, z: batch entries (at most maxGroups per dispatch).
    for (let batch0 = 0; batch0 < count; batch0 += maxGroups) {
      const workgroups = [groupsX, groupsY, Math.min(maxGroups, count - batch0)] as const;
      const params = {
        m: l.r1 - l.r0,
        n: l.c1 - l.c0,
        k: l.k,
        accumulate: l.accumulate,
        lda: g.lda,
        ldb: g.ldb,
        ldc: g.ldc,
        rank: g.batch.length,
        off_a: a.first + at(g.transA, g.lda, l.r0, l.k0),
        off_b: b.first + at(g.transB, g.ldb, l.k0, l.c0),
        off_c: offC + batch0 * g.strideC,
        batch0,
        stride_c: g.strideC,
        shape: g.batch,
        stride_a: g.strideA,
        stride_b: g.strideB,
      };
      if (l.module === 'tiles') {
        const entry = l.entry as keyof typeof constantsFor;
        launch(tilesKernel, entry, { constants: constantsFor[entry], params, bind, workgroups });
      } else if (l.module === 'shared') {
        const constants = { TM: l.tile?.TM ?? 8, TN: l.tile?.TN ?? 8 };
        const entry = l.entry === 'block_prefetch' ? 'block_prefetch' : 'block';
        launch(sharedKernel, entry, { constants, params: { ...params, flags }, bind, workgroups });
      } else {
        const constants = { TRANS_B: g.transB, VEC_B: vecB, ROWS: l.tile?.ROWS ?? 1, QUADS: l.tile?.QUADS ?? 1, SPLIT: l.tile?.SPLIT ?? 1, WG: l.tile?.WG ?? config.workgroup };
        launch(gemvKernel, 'gemv', { constants, params: { ...params, flags }, bind, workgroups });
      }
    }
  }
}
