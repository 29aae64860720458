import { defineConfig } from 'vitest/config';
import { wgslVitePlugin } from '../tools/wgsl.ts';
export default defineConfig({
  plugins: [wgslVitePlugin()],
  test: { include: ['scratch-rel/*.test.ts'], pool: 'forks', testTimeout: 300_000, hookTimeout: 120_000 },
});
