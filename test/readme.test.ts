/**
 * Every TypeScript example of the READMEs — the repository's and each package's (its npm page) — runs on
 * its own, in a fresh Node process, against the packed packages installed the way a user installs them
 * (the consumer test's install, see test/consumer/packed.ts): copied alone into a file, bundled with its
 * imports left to Node (esbuild), run with `node`; it must exit 0 and print nothing on stderr. All examples
 * also type-check together as a strict consumer (`skipLibCheck: false`, no DOM). An example that downloads
 * OpenAI's weights is marked `<!-- readme-test: type-check only (...) -->` just above its block and is only
 * type-checked. Needs `pnpm build` first (the root `pnpm test` does).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packedApp, ROOT, type PackedApp } from './consumer/packed';

interface Example {
  /** e.g. `README.md #2` */
  label: string;
  file: string;
  code: string;
  typeCheckOnly: boolean;
}

const READMES = ['README.md', 'packages/core/README.md', 'packages/gpt/README.md', 'packages/finetune/README.md'];
const TYPE_CHECK_ONLY = /<!-- readme-test: type-check only[^>]*-->\s*$/;

function examples(): Example[] {
  return READMES.flatMap((readme) => {
    const text = readFileSync(join(ROOT, readme), 'utf8');
    return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m, i) => ({
      label: `${readme} #${i + 1}`,
      file: `${readme.replace(/\/?README\.md$/, '').replace(/\//g, '-') || 'root'}-${i + 1}.ts`,
      code: m[1],
      typeCheckOnly: TYPE_CHECK_ONLY.test(text.slice(0, m.index)),
    }));
  });
}

const all = examples();
let app: PackedApp;
let dir: string;

beforeAll(async () => {
  app = await packedApp();
  dir = join(app.dir, 'readme');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const example of all) writeFileSync(join(dir, example.file), `${example.code}\nexport {};\n`);
}, 600_000);

describe('README examples', () => {
  it('has examples in every README, most of them runnable', () => {
    for (const readme of READMES) expect(all.some((e) => e.label.startsWith(`${readme} `)), readme).toBe(true);
    expect(all.filter((e) => !e.typeCheckOnly).length).toBeGreaterThanOrEqual(6);
  });

  it('type-check as a strict consumer (skipLibCheck false, lib es2022 + Node types, no DOM)', () => {
    const config = {
      compilerOptions: { target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2022'], types: ['node'], strict: true, skipLibCheck: false, noEmit: true },
      files: all.map((e) => e.file),
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config, null, 2));
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
    expect(tsc.status).toBe(0);
  });

  for (const example of all.filter((e) => !e.typeCheckOnly)) {
    it(`${example.label} runs alone in a fresh process: ${example.code.split('\n')[0].slice(0, 60)}`, async () => {
      const esbuild = (await import('esbuild')) as unknown as { build(o: Record<string, unknown>): Promise<{ errors: unknown[] }> };
      const out = join(dir, example.file.replace(/\.ts$/, '.mjs'));
      const built = await esbuild.build({ entryPoints: [join(dir, example.file)], outfile: out, bundle: true, packages: 'external', platform: 'node', format: 'esm', logLevel: 'silent' });
      expect(built.errors).toEqual([]);
      // stderr through a real pipe (see test/consumer.test.ts); stdout to a file.
      const log = join(dir, example.file.replace(/\.ts$/, '.out'));
      const run = spawnSync('bash', ['-c', 'set -o pipefail; node "$EXAMPLE" 2>&1 >"$LOG" | cat'], {
        cwd: app.dir,
        encoding: 'utf8',
        timeout: 110_000,
        env: { ...process.env, EXAMPLE: out, LOG: log, SCRATCHGPT_LOG: '', SCRATCHGPT_BACKEND: '' },
      });
      const stdout = readFileSync(log, 'utf8');
      expect(run.stdout, `stderr of ${example.label}; its stdout:\n${stdout}`).toBe('');
      expect(run.status, `exit status of ${example.label}`).toBe(0);
      expect(stdout.length, `${example.label} prints something`).toBeGreaterThan(0);
    });
  }
});
