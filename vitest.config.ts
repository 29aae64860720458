import { configDefaults, defineConfig } from 'vitest/config';
import { wgslVitePlugin } from './tools/wgsl.ts';

export default defineConfig({
  plugins: [wgslVitePlugin()],
  test: {
    // dawn.node is a native addon: one process per test file, not worker threads.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // `vitest run` runs every project.
    projects: [
      {
        extends: true,
        test: {
          name: 'default',
          include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          // Every matmul variant's f16-operand twin: compiled ~8× faster by SwiftShader than by llvmpipe
          // (whose policy widens f16 operands instead); run by the swiftshader project below.
          exclude: [...configDefaults.exclude, 'packages/core/test/matmul-f16-variants.test.ts'],
        },
      },
      {
        // The op registry and every matmul kernel variant again on a second adapter: SwiftShader's Vulkan
        // (core feature level). The device is a per-process singleton, so another adapter needs processes
        // of its own: this project.
        extends: true,
        test: {
          name: 'swiftshader',
          include: ['packages/core/test/ops.test.ts', 'packages/core/test/matmul.test.ts', 'packages/core/test/matmul-f16-variants.test.ts'],
          env: { SCRATCHGPT_BACKEND: 'swiftshader' },
        },
      },
      {
        // The kernel variants only Mesa lavapipe ≥ 24 runs here (subgroup reductions, f16 storage; the
        // tree and flash kernels are checked by the default project on llvmpipe): the one CPU adapter with
        // both shader-f16 and subgroups (scripts/setup.sh installs it; the test fails, never falls back,
        // without it). The whole op registry takes minutes there (linear times out): not rerun.
        extends: true,
        test: {
          name: 'lavapipe',
          include: ['packages/core/test/variants.test.ts', 'packages/core/test/f16-kv.test.ts', 'packages/gpt/test/kv-cache-f16.test.ts'],
          env: { SCRATCHGPT_BACKEND: 'lavapipe', SCRATCHGPT_TEST_VARIANTS: 'subgroups,rows,f16' },
          // lavapipe compiles the multi-row QKV kernel in ~25 s on a cold shader cache (every CI run):
          // the compile, not the test, needs the headroom on a slow, busy machine.
          testTimeout: 240_000,
        },
      },
    ],
  },
});
