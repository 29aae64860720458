import { defineConfig } from 'vitest/config';
import { wgslVitePlugin } from './tools/wgsl.ts';

export default defineConfig({
  plugins: [wgslVitePlugin()],
  test: {
    // dawn.node is a native addon: one process per test file, not worker threads.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // `vitest run` runs both projects.
    projects: [
      {
        extends: true,
        test: { name: 'default', include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'] },
      },
      {
        // The op registry again on a second adapter: SwiftShader's Vulkan (core feature level). The device
        // is a per-process singleton, so another adapter needs processes of its own: this project.
        extends: true,
        test: {
          name: 'swiftshader',
          include: ['packages/core/test/ops.test.ts'],
          env: { SCRATCHGPT_BACKEND: 'swiftshader' },
        },
      },
    ],
  },
});
