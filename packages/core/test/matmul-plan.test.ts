/**
 * The matmul planner, binding splitter, variant coverage and policy: pure functions, tested without a
 * GPU on GPT-2's shapes and odd ones.
 */
import { describe, expect, it } from 'vitest';
import { planGemm, type Gemm, type Operand } from '../src/ops/gemm/plan';
import { adapterClass, chooseKernel, TINY } from '../src/ops/gemm/policy';
import { maxBindingElements, splitForBindings } from '../src/ops/gemm/split';
import { coverGemm, MATMUL_VARIANTS, matmulVariant, type MatmulKernel } from '../src/ops/gemm/variants';
import { matmulShape, type MatmulOptions } from '../src/ops/matmul';

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** An operand stand-in with a name (so tests can tell which input went where). */
interface Named extends Operand {
  name: string;
}
const op = (name: string, shape: number[]): Named => ({ name, shape, size: size(shape) });

function plan(aShape: number[], bShape: number[], options: MatmulOptions & { padMinWork?: number } = {}): Gemm<Named> {
  const s = matmulShape(aShape, bShape, options);
  return planGemm(op('a', aShape), op('b', bShape), op('c', s.shape), s, options);
}

const C = 768;
const V = 50257;
const MiB = 1 << 20;

describe('planGemm', () => {
  it('folds a batch against a shared weight into rows: [2, 64, 768] @ [768, 768] is one 128-row product', () => {
    expect(plan([2, 64, C], [C, C])).toMatchObject({ m: 128, n: C, k: C, batch: [1], strideA: [0], strideB: [0], strideC: 0 });
    // Not when A is read transposed, or B has batch dims of its own.
    expect(plan([2, C, 64], [C, C], { transA: true })).toMatchObject({ m: 64, batch: [2] });
    expect(plan([2, 64, C], [2, C, C])).toMatchObject({ m: 64, batch: [2], strideB: [C * C] });
  });

  it('keeps attention products batched, with broadcast strides', () => {
    // q @ kᵀ: [B, NH, T, HS] @ [B, NH, T, HS]ᵀ → batch dims collapse to one of 24.
    expect(plan([2, 12, 64, 64], [2, 12, 64, 64], { transB: true })).toMatchObject({ m: 64, n: 64, k: 64, batch: [24], strideA: [4096], strideB: [4096], strideC: 4096, transB: true });
    // A batch that B broadcasts over: stride 0.
    expect(plan([2, 1, 5, 3], [4, 3, 6])).toMatchObject({ batch: [2, 4], strideA: [15, 0], strideB: [0, 18] });
  });

  it('computes narrow outputs transposed: Cᵀ = op(B)ᵀ·op(A)ᵀ, written as C', () => {
    // A classifier head [512, 768] @ [768, 2]: N = 2 < 16.
    const g = plan([512, C], [2, C], { transB: true });
    expect(g).toMatchObject({ m: 2, n: 512, k: C, transA: false, transB: true, transC: true, lda: C, ldb: C, ldc: 2 });
    expect([g.a.name, g.b.name]).toEqual(['b', 'a']);
    // W @ x with a column x: one row after the swap (decoding's matrix-vector product).
    expect(plan([V, C], [C, 1])).toMatchObject({ m: 1, n: V, transA: true, transB: true, transC: true });
    // Square or wider outputs stay as they are.
    expect(plan([8, 16], [16, 8])).toMatchObject({ m: 8, n: 8, transC: false });
  });

  it('pads operands with unaligned rows in big problems only, and only where the rows are loaded as vec4s', () => {
    // The LM head's backward dX = dY[512, 50257] @ W[50257, 768]: dY's rows (50257) are padded to 50260.
    expect(plan([512, V], [V, C])).toMatchObject({ padA: V, lda: 50260 });
    expect(plan([512, V], [V, C]).padB).toBeUndefined();
    // Logits' weight gradient dWᵀ = dYᵀ·X: dY read transposed, lda = 50257 → padded.
    expect(plan([512, V], [512, C], { transA: true })).toMatchObject({ padA: V, lda: 50260 });
    // Below the work threshold, or disabled: unchanged.
    expect(plan([3, 131], [131, 7]).padA).toBeUndefined();
    expect(plan([512, V], [V, C], { padMinWork: Infinity }).padA).toBeUndefined();
    // Batch strides follow the padded rows.
    expect(plan([3, 150, 131], [3, 131, 140])).toMatchObject({ padA: 131, lda: 132, strideA: [150 * 132] });
  });
});

/** Every (row, col) of C covered once per K term, and every binding within the limit. */
function expectPartition(g: Gemm<Named>, parts: Gemm<Named>[], maxElements: number): void {
  const count = new Map<string, number>();
  for (const part of parts) {
    // A part is one batch entry (or the whole batch when nothing was split) over a rectangle of C.
    expect(part.a.size <= maxElements || part.lda * (part.transA ? part.k : part.m) <= maxElements).toBe(true);
    expect((part.transB ? part.n : part.k) * part.ldb).toBeLessThanOrEqual(maxElements);
    expect((part.transC ? part.n : part.m) * part.ldc).toBeLessThanOrEqual(maxElements);
    const i0 = part.transC ? part.offC % part.ldc : Math.floor(part.offC / part.ldc);
    const j0 = part.transC ? Math.floor(part.offC / part.ldc) : part.offC % part.ldc;
    const key = `${i0},${j0},${part.m},${part.n}`;
    count.set(key, (count.get(key) ?? 0) + part.k);
    // Only K chunks after the first accumulate.
    expect(part.accumulate).toBe(count.get(key)! > part.k);
  }
  let area = 0;
  for (const [key, k] of count) {
    expect(k, key).toBe(g.k);
    const [, , m, n] = key.split(',').map(Number);
    area += m * n;
  }
  expect(area).toBe(g.m * g.n);
}

describe('splitForBindings', () => {
  const limits = { maxStorageBufferBindingSize: 128 * MiB, minStorageBufferOffsetAlignment: 256 };

  it('leaves products that fit one binding as they are', () => {
    const g = plan([4, 128, C], [3 * C, C], { transB: true });
    expect(splitForBindings(g, limits)).toEqual([g]);
  });

  it('splits GPT-2 tied LM head (50257×768 f32 = 154 MB) along the vocabulary at a 128 MiB binding limit', () => {
    // Logits: x [4·128, 768] @ W[50257, 768]ᵀ: W is cut into row chunks (N), C along its columns.
    const g = plan([512, C], [V, C], { transB: true });
    const parts = splitForBindings(g, limits);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((p) => p.k === C && p.m === 512 && p.n % 16 === 0 || p.n === V % parts[0].n)).toBe(true);
    expectPartition(g, parts, maxBindingElements(limits));
  });

  it('splits the LM head gradients along K (accumulating) and along M', () => {
    const max = maxBindingElements(limits);
    // dX = dY @ W: K = 50257 in chunks of W's rows, accumulated.
    const dx = plan([512, V], [V, C], { padMinWork: Infinity });
    const dxParts = splitForBindings(dx, limits);
    expect(dxParts.filter((p) => p.accumulate).length).toBeGreaterThan(0);
    expectPartition(dx, dxParts, max);
    // dW = dYᵀ·X (stored transposed: W is [V, C]): computed as (dYᵀ X) with A = dY read transposed.
    const dw = plan([512, V], [512, C], { transA: true, padMinWork: Infinity });
    expectPartition(dw, splitForBindings(dw, limits), max);
    // Decoding: x [1, 768] @ Wᵀ — W in chunks along N.
    const decode = plan([1, C], [V, C], { transB: true });
    expectPartition(decode, splitForBindings(decode, limits), max);
  });

  it('splits batched products one batch entry at a time, and says when rows cannot be split', () => {
    const g = plan([3, 40, 300], [3, 300, 20]);
    const small = { maxStorageBufferBindingSize: 64 * 1024, minStorageBufferOffsetAlignment: 256 };
    const parts = splitForBindings(g, small);
    expect(parts.length).toBe(3);
    expect(parts.map((p) => p.offA)).toEqual([0, 12000, 24000]);
    expect(parts.map((p) => p.offC)).toEqual([0, 800, 1600]);
    // One row of 20000 floats cannot fit a 64 KiB binding.
    expect(() => splitForBindings(plan([40, 20000], [20000, 20]), small)).toThrow(/scratchgpt: matmul of \[40, 20000\] and \[20000, 20\]: rows are too long to split into bindings of 65536 bytes/);
  });
});

describe('coverGemm: each variant tiles C exactly once per K term', () => {
  const cases: [number, number, number][] = [
    [1, 1, 1],
    [1, 768, 2304],
    [3, 13, 17],
    [37, 29, 23],
    [68, 36, 40],
    [129, 20, 65],
    [130, 9, 70],
    [5, 0, 7],
  ];
  for (const variant of MATMUL_VARIANTS) {
    it(variant.name, () => {
      for (const [m, k, n] of cases) {
        for (const vec of [false, true]) {
          for (const accumulate of [false, true]) {
            const launches = coverGemm(variant.name, { m, n, k, accumulate, transC: false, vecA: vec, vecB: vec, workgroup: 16 });
            const where = `${variant.name} ${m}×${k}×${n}${vec ? ' vec4' : ''}${accumulate ? ' accumulating' : ''}`;
            // K terms each output gets, and whether a launch overwrote outputs an earlier one had written.
            const terms = new Float64Array(m * n);
            const written = new Uint8Array(m * n);
            let problem = '';
            for (const l of launches) {
              if (l.r0 < 0 || l.r1 > m || l.c0 < 0 || l.c1 > n || l.r0 >= l.r1 || l.c0 >= l.c1) problem ||= `launch outside C: ${JSON.stringify(l)}`;
              for (let i = l.r0; i < l.r1; i++) {
                for (let j = l.c0; j < l.c1; j++) {
                  // The first launch over an output writes it (unless the problem accumulates), the rest add.
                  if (l.accumulate !== (accumulate || written[i * n + j] === 1)) problem ||= `(${i}, ${j}): ${l.entry} accumulate ${l.accumulate}`;
                  written[i * n + j] = 1;
                  terms[i * n + j] += l.k;
                }
              }
            }
            // k = 0 still writes C (zeros): some launch covers every output.
            const wrong = terms.findIndex((t, e) => t !== k || written[e] !== 1);
            if (wrong >= 0) problem ||= `(${Math.floor(wrong / n)}, ${wrong % n}) gets ${terms[wrong]} of ${k} K terms`;
            expect(problem, where).toBe('');
          }
        }
      }
    });
  }

  it('register tiles put their interior in the big entry only when it is aligned and not accumulating', () => {
    const entries = (name: MatmulKernel, vec: boolean, accumulate: boolean) =>
      coverGemm(name, { m: 68, n: 40, k: 36, accumulate, transC: false, vecA: vec, vecB: vec, workgroup: 16 }).map((l) => `${l.entry} ${l.r0}-${l.r1}×${l.c0}-${l.c1}`);
    expect(entries('tile32x16', true, false)).toEqual(['tile32x16 0-64×0-32', 'tile4x16 0-64×32-40', 'tile4x16 64-68×0-40']);
    expect(entries('tile16x16', true, false)).toEqual(['tile16x16 0-64×0-32', 'tile4x16 0-64×32-40', 'tile4x16 64-68×0-40']);
    expect(entries('tile32x16', false, false)).toEqual(['tile4x16 0-68×0-40']);
    expect(entries('tile32x16', true, true)).toEqual(['tile4x16 0-68×0-40']);
    expect(coverGemm('tile4x16', { m: 5, n: 7, k: 9, accumulate: false, transC: false, vecA: true, vecB: true, workgroup: 16 }).map((l) => `${l.entry} k${l.k0}+${l.k}`)).toEqual(['tile4x16 k0+8', 'simple k8+1']);
  });
});

describe('policy', () => {
  const gemm = (m: number, k: number, n: number, batch = [1]) => ({ ...plan([m, k], [k, n]), batch }) as Gemm;

  it('classifies software adapters as CPUs', () => {
    expect(adapterClass({ vendor: '', architecture: '', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6' })).toBe('cpu');
    expect(adapterClass({ vendor: 'google', architecture: 'swiftshader', device: 'swiftshader-device-subzero-', description: 'SwiftShader driver 5.0.0' })).toBe('cpu');
    expect(adapterClass({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)' })).toBe('cpu');
    expect(adapterClass({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100 80GB HBM3' })).toBe('gpu');
    expect(adapterClass({ vendor: 'apple', architecture: 'metal-3', isFallbackAdapter: false })).toBe('gpu');
    expect(adapterClass({ vendor: 'google', isFallbackAdapter: true })).toBe('cpu');
  });

  it('picks gemv for decoding shapes, the tuned register tile on CPUs, block tiles on GPUs', () => {
    for (const adapter of ['cpu', 'gpu'] as const) {
      expect(chooseKernel(gemm(8, 8, 8), { adapter })).toBe('simple');
      expect(TINY).toBeLessThan(768 * 2304);
      // GPT-2 decoding: one row per token (and a few with a batch of prompts).
      for (const [m, k, n] of [[1, C, 3 * C], [1, C, 4 * C], [1, 4 * C, C], [1, C, V], [4, C, 3 * C]]) {
        expect(chooseKernel(gemm(m, k, n), { adapter })).toBe(adapter === 'cpu' ? 'gemv' : 'gemv_splitk');
      }
    }
    expect(chooseKernel(gemm(512, C, 3 * C), { adapter: 'cpu' })).toBe('tile32x16');
    expect(chooseKernel(gemm(512, C, 3 * C), { adapter: 'cpu', tuned: 'tile16x16' })).toBe('tile16x16');
    expect(chooseKernel(gemm(8192, C, 3 * C), { adapter: 'gpu' })).toBe('shared128');
    expect(chooseKernel(gemm(128, C, 3 * C), { adapter: 'gpu' })).toBe('shared64');
    expect(chooseKernel(gemm(1, C, V), { adapter: 'gpu', forced: 'tile4x16' })).toBe('tile4x16');
  });

  it('names every variant and rejects unknown names clearly', () => {
    expect(MATMUL_VARIANTS.map((v) => v.name)).toEqual(['simple', 'tile4x16', 'tile16x16', 'tile32x16', 'shared64', 'shared128', 'shared64_prefetch', 'shared128_prefetch', 'gemv', 'gemv_splitk']);
    expect(() => matmulVariant('tile8x8')).toThrow(/scratchgpt: matmul kernel 'tile8x8' does not exist \(variants: simple, tile4x16, tile16x16, tile32x16, shared64, shared128, shared64_prefetch, shared128_prefetch, gemv, gemv_splitk\)/);
  });
});
