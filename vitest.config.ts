import { defineConfig } from 'vitest/config';
import { wgslVitePlugin } from './tools/wgsl.ts';

export default defineConfig({
  plugins: [wgslVitePlugin()],
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // dawn.node is a native addon: one process per test file, not worker threads.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
