/**
 * The examples/ folder against the packed packages (the consumer test's install, test/consumer/packed.ts):
 * every example type-checks as a strict consumer (`skipLibCheck: false`; the runtime-neutral ones also in
 * a DOM project without Node types), the spam-classifier script bundles for the browser without Node
 * built-ins, and each Node entry runs in a fresh process (small settings for the fine-tune), exits 0
 * and prints nothing on stderr. Needs `pnpm build` first (the root `pnpm test` does).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packedApp, ROOT, type PackedApp } from './consumer/packed';

/** Files that must run anywhere (no Node built-ins), and the Node-only runners. */
const NEUTRAL = ['examples/autograd.ts', 'examples/custom-op.ts', 'examples/gpt-pretrain.ts', 'examples/spam-classifier/finetune.ts'];
const NODE_ONLY = ['examples/spam-classifier/node.ts'];

let app: PackedApp;

interface Esbuild {
  build(options: Record<string, unknown>): Promise<{ errors: unknown[]; warnings: { text: string }[]; metafile?: { inputs: Record<string, { imports: { path: string }[] }> } }>;
}

beforeAll(async () => {
  app = await packedApp();
  rmSync(join(app.dir, 'examples'), { recursive: true, force: true });
  cpSync(join(ROOT, 'examples'), join(app.dir, 'examples'), { recursive: true, filter: (src) => !src.endsWith('tsconfig.json') });
}, 600_000);

function tsc(project: string, options: Record<string, unknown>, files: string[]): string {
  const config = {
    compilerOptions: { target: 'es2022', module: 'esnext', moduleResolution: 'bundler', strict: true, skipLibCheck: false, noEmit: true, ...options },
    files,
  };
  writeFileSync(join(app.dir, `tsconfig.examples-${project}.json`), JSON.stringify(config, null, 2));
  const run = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.examples-${project}.json`], { cwd: app.dir, encoding: 'utf8', timeout: 120_000 });
  return `${run.stdout}${run.stderr}${run.status === 0 ? '' : `(exit ${run.status})`}`;
}

/** Bundles `entry` for Node (packages left to Node) and runs it with `args`; stderr through a real pipe. */
async function runNode(entry: string, args: string[] = []): Promise<{ stderr: string; stdout: string; status: number | null }> {
  const esbuild = (await import('esbuild')) as unknown as Esbuild;
  const out = join(app.dir, 'out/examples', entry.replace(/\//g, '-').replace(/\.ts$/, '.mjs'));
  const built = await esbuild.build({ absWorkingDir: app.dir, entryPoints: [entry], outfile: out, bundle: true, packages: 'external', platform: 'node', format: 'esm', logLevel: 'silent' });
  expect(built.errors).toEqual([]);
  const log = `${out}.out`;
  const run = spawnSync('bash', ['-c', 'set -o pipefail; node "$EXAMPLE" "$@" 2>&1 >"$LOG" | cat', 'example', ...args], {
    cwd: app.dir,
    encoding: 'utf8',
    timeout: 110_000,
    env: { ...process.env, EXAMPLE: out, LOG: log, SCRATCHGPT_LOG: '', SCRATCHGPT_BACKEND: '' },
  });
  return { stderr: run.stdout, stdout: readFileSync(log, 'utf8'), status: run.status };
}

describe('examples/', () => {
  it('type-check as strict consumers: all of them with Node types, the runtime-neutral ones in a DOM project', () => {
    expect(tsc('node', { lib: ['es2022'], types: ['node'] }, [...NEUTRAL, ...NODE_ONLY])).toBe('');
    expect(tsc('dom', { lib: ['es2022', 'dom'], types: [] }, NEUTRAL)).toBe('');
  });

  it('the spam-classifier script bundles for the browser without Node built-ins', async () => {
    const esbuild = (await import('esbuild')) as unknown as Esbuild;
    const result = await esbuild.build({
      absWorkingDir: app.dir,
      entryPoints: ['examples/spam-classifier/finetune.ts'],
      outfile: join(app.dir, 'out/examples/spam-browser.js'),
      bundle: true,
      minify: true,
      platform: 'browser',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.text)).toEqual([]);
    const imports = Object.values(result.metafile!.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => p.startsWith('node:') || p === 'webgpu')).toEqual([]);
  });

  it('autograd.ts fits sin(3x) and keeps memory flat', async () => {
    const { stderr, stdout, status } = await runNode('examples/autograd.ts');
    expect(stderr).toBe('');
    expect(status, stdout).toBe(0);
    const mse = [...stdout.matchAll(/mse ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(mse.length).toBeGreaterThanOrEqual(3);
    expect(mse[mse.length - 1]).toBeLessThan(mse[0] / 10);
    expect(stdout).toContain('live tensors unchanged by training: true');
  });

  it('custom-op.ts matches its float64 and finite-difference references', async () => {
    const { stderr, stdout, status } = await runNode('examples/custom-op.ts');
    expect(stderr).toBe('');
    expect(status, stdout).toBe(0);
    expect(stdout).toMatch(/gradient: max \|error\| .* vs central finite differences/);
  });

  it('gpt-pretrain.ts trains (validation loss falls) and generates', async () => {
    const { stderr, stdout, status } = await runNode('examples/gpt-pretrain.ts');
    expect(stderr).toBe('');
    expect(status, stdout).toBe(0);
    const before = Number(/before training: validation loss ([\d.]+)/.exec(stdout)?.[1]);
    const train = [...stdout.matchAll(/train loss ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(train.length).toBeGreaterThanOrEqual(2);
    expect(train[train.length - 1]).toBeLessThan(before);
    expect(stdout).toMatch(/sample: ".+"/);
  });

  it('spam-classifier/node.ts fine-tunes (small, 1 epoch on 64 texts per split), evaluates and saves the classifier', async () => {
    const out = join(app.dir, 'out/examples/spam.safetensors');
    rmSync(out, { force: true });
    const tsv = join(ROOT, 'packages/finetune/data/SMSSpamCollection.tsv');
    const { stderr, stdout, status } = await runNode('examples/spam-classifier/node.ts', ['--tsv', tsv, '--limit', '64', '--epochs', '1', '--out', out]);
    expect(stderr).toBe('');
    expect(status, stdout).toBe(0);
    expect(stdout).toMatch(/data: 64 \/ 64 \/ 64 texts/);
    expect(stdout).toMatch(/epoch 1: train accuracy [\d.]+%, val accuracy [\d.]+%/);
    expect(stdout).toMatch(/accuracy: train [\d.]+%, val [\d.]+% \([\d.]+% before training\), test [\d.]+%/);
    expect(readFileSync(out).byteLength).toBeGreaterThan(1000);
  });
});
