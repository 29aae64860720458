/**
 * The README's TypeScript examples run as written (those that need the network — downloading
 * OpenAI's weights, training on a user's `text` — are checked by the type checker only).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
const runnable = blocks.filter((b) => !b.includes('gpt2WeightsUrl'));

describe('README examples', () => {
  it('has examples to run', () => {
    expect(runnable.length).toBeGreaterThanOrEqual(3);
  });
  runnable.forEach((code, i) => {
    it(`example ${i + 1} runs: ${code.split('\n')[0].slice(0, 60)}`, async () => {
      const dir = join(here, '.readme');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `example-${i + 1}.ts`);
      writeFileSync(file, `${code}\nexport {};\n`);
      await import(/* @vite-ignore */ file);
    });
  });
});
