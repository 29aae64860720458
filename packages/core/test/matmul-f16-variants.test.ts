/**
 * f16 operands read as packed halves by every matmul kernel variant's twin (f32 accumulation, f32
 * result), under the GPU policy ('read') and in binding-sized parts. Runs in the `swiftshader`
 * project (vitest.config.ts): llvmpipe compiles these twins ~8× slower, and CPU adapters widen f16
 * operands to f32 copies instead (matmul-f16.test.ts checks that path and mixed precision itself).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memory } from '../src/node';
import { setBindingLimitForTests, setHalfOperandsForTests } from '../src/ops/gemm/dispatch';
import { MATMUL_VARIANTS } from '../src/ops/gemm/variants';
import { check } from './matmul-f16-helpers';

beforeAll(async () => {
  await init();
});

/**
 * Every variant reads f16 operands when forced (its twins); two products each keep the pipelines to
 * compile few (llvmpipe compiles each in seconds): every dim odd with both operands transposed (the
 * element loads), and every dim a multiple of 4 (the vec4 loads, tile interiors and edges).
 */
describe.each(MATMUL_VARIANTS.map((v) => v.name))('matmul variant %s reading f16 operands', (kernel) => {
  it('odd dims (element loads, both transposed) and multiples of 4 (vec4 loads)', async () => {
    const start = memory().liveTensors;
    await check([29, 37], [23, 29], { transA: true, transB: true, _matmulKernel: kernel }, 'both', 1);
    await check([68, 36], [36, 40], { _matmulKernel: kernel }, 'both', 2);
    expect(memory().liveTensors).toBe(start);
  });
});

describe('f16 operands under the GPU policy', () => {
  it("the policy's kernels read the halves; one f16 operand or both", async () => {
    for (const mode of ['read'] as const) {
      setHalfOperandsForTests(mode);
      try {
        await check([2, 3, 7, 5], [17, 5], { transB: true }, 'a', 10); // an f16 activation times a weight, batched
        await check([7, 13], [7, 17], { transA: true }, 'b', 11); // a weight gradient
        await check([1, 9], [9, 3], {}, 'both', 12);
      } finally {
        setHalfOperandsForTests(null);
      }
    }
  });

  it('unaligned rows of big products: the padded copies widen the halves', async () => {
    await check([150, 131], [140, 131], { transB: true, _matmulKernel: 'tile4x16' }, 'both', 20);
  });

  it('operands larger than one binding are cut at 256-byte-aligned element offsets, K chunks accumulated', async () => {
    setBindingLimitForTests(16384);
    setHalfOperandsForTests('read');
    try {
      await check([8, 300], [300, 40], {}, 'both', 30); // B in K chunks
      await check([244, 8], [40, 244], { transA: true, transB: true }, 'b', 31); // B in N chunks
    } finally {
      setBindingLimitForTests(null);
      setHalfOperandsForTests(null);
    }
  });
});

