import { defineConfig } from 'vitest/config';
import { wgslVitePlugin } from '../tools/wgsl.ts';
export default defineConfig({
  plugins: [wgslVitePlugin()],
  test: { include: ['scratch-hf16/**/*.test.ts'], pool: 'forks', testTimeout: 1200_000, hookTimeout: 120_000, root: '/work/main' },
});
