/**
 * What a user does with the published packages, end to end: pack them (`pnpm pack` of the built
 * dist/), `npm install` the tarballs into an app outside the workspace, type-check a strict TypeScript
 * consumer (`skipLibCheck: false`; Node-only and DOM projects; `moduleResolution` bundler and nodenext;
 * TypeScript 5.9 and the current major, 7), run the app in Node (quietly: nothing on stderr), bundle the
 * same app for the browser with esbuild and with Vite, run both bundles in headless Chromium, and compare
 * the training losses of the three runs.
 *
 * The app (test/consumer/app) trains a small GPT for a few steps, generates, round-trips a checkpoint
 * through bytes and runs a custom WGSL op with its gradient. Needs `pnpm build` first (the root
 * `pnpm test` does), npm's registry (or its cache) for `webgpu` and `typescript@7`, and Chromium.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppReport } from './consumer/app/src/app';
import { launchChromium, runInPage } from './consumer/chromium';
import { packedApp, ROOT, type PackedApp } from './consumer/packed';
import { startStaticServer, type StaticServer } from './browser/server';

/** The parts of esbuild's and Vite's APIs used here (loaded from the workspace's devDependencies). */
interface EsbuildResult {
  errors: { text: string }[];
  warnings: { text: string }[];
  metafile: { inputs: Record<string, { imports: { path: string; external?: boolean }[] }> };
}
interface Esbuild {
  build(options: Record<string, unknown>): Promise<EsbuildResult>;
}
interface ViteLogger {
  info(msg: string): void;
  warn(msg: string): void;
  warnOnce(msg: string): void;
  error(msg: string): void;
  clearScreen(): void;
  hasErrorLogged(): boolean;
  hasWarned: boolean;
}
interface Vite {
  build(config: Record<string, unknown>): Promise<unknown>;
}

let app: PackedApp;
let server: StaticServer | undefined;
let browser: Browser | undefined;
const timings: Record<string, number> = {};

async function timed<T>(label: string, fn: () => T | Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings[label] = (performance.now() - start) / 1000;
  }
}

function runTool(command: string, args: string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

beforeAll(async () => {
  app = await timed('pack + install', () => packedApp());
  // The app's sources are copied on every run (the install is reused while the packages are unchanged).
  rmSync(join(app.dir, 'src'), { recursive: true, force: true });
  cpSync(join(ROOT, 'test/consumer/app'), app.dir, { recursive: true });
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  const install = app ? (app.reused ? 'reused' : `${app.installSeconds.toFixed(1)} s`) : 'n/a';
  console.log(`consumer test: npm install ${install}; ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}`);
});

describe('the packed packages', () => {
  it('ship their README, LICENSE, declared entry points and side-effect files, and no build scripts', () => {
    for (const name of ['core', 'gpt', 'finetune'] as const) {
      const dir = join(app.dir, 'node_modules/@scratchgpt', name);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
      const files = new Set(runTool('tar', ['-tzf', app.tarballs[name]], app.dir).output.split('\n').map((f) => f.replace(/^package\//, '')));
      expect(files.has('README.md') && files.has('LICENSE'), `${name}: README.md and LICENSE`).toBe(true);
      expect(pkg.scripts, `${name}: scripts`).toBeUndefined();
      expect(pkg.devDependencies, `${name}: devDependencies`).toBeUndefined();
      expect((pkg.publishConfig as { access?: string }).access).toBe('public');
      expect(pkg, `${name}: registry metadata`).toMatchObject({
        repository: { type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/.+\.git$/), directory: `packages/${name}` },
        homepage: expect.stringMatching(new RegExp(`^https://github\\.com/.+/packages/${name}#readme$`)),
        bugs: { url: expect.stringMatching(/^https:\/\/github\.com\/.+\/issues$/) },
        keywords: expect.arrayContaining([expect.stringMatching(/\S/)]),
        engines: { node: expect.stringMatching(/^>=\d+/) },
        license: 'MIT',
      });
      for (const target of exportTargets(pkg.exports)) {
        expect(files.has(target.replace(/^\.\//, '')), `${name}: exports target ${target} is shipped`).toBe(true);
      }
      const sideEffects = pkg.sideEffects;
      if (Array.isArray(sideEffects)) {
        for (const file of sideEffects as string[]) expect(files.has(file.replace(/^\.\//, '')), `${name}: sideEffects entry ${file} is shipped`).toBe(true);
      } else {
        expect(sideEffects, `${name}: sideEffects`).toBe(false);
      }
      if (name !== 'core') expect((pkg.peerDependencies as Record<string, string>)['@scratchgpt/core']).toMatch(/^\^\d/);
    }
  });
});

describe('a strict TypeScript consumer', () => {
  const projects = {
    'node-bundler': { lib: ['es2022'], types: ['node'], module: 'esnext', moduleResolution: 'bundler', files: ['src/app.ts', 'src/node.ts'] },
    'node-nodenext': { lib: ['es2022'], types: ['node'], module: 'nodenext', moduleResolution: 'nodenext', files: ['src/app.ts', 'src/node.ts'] },
    'dom-bundler': { lib: ['es2022', 'dom'], types: [], module: 'esnext', moduleResolution: 'bundler', files: ['src/app.ts', 'src/browser.ts'] },
    'dom-nodenext': { lib: ['es2022', 'dom'], types: [], module: 'nodenext', moduleResolution: 'nodenext', files: ['src/app.ts', 'src/browser.ts'] },
  };
  const compilers = {
    'typescript 5.9': join(ROOT, 'node_modules/typescript/bin/tsc'),
    'typescript 7': 'node_modules/typescript/bin/tsc',
  };

  for (const [compiler, tsc] of Object.entries(compilers)) {
    for (const [project, { files, ...options }] of Object.entries(projects)) {
      it(`type-checks with skipLibCheck false under ${compiler}: ${project} project`, async () => {
        const version = runTool(process.execPath, [tsc, '--version'], app.dir).output.trim();
        expect(version).toMatch(compiler === 'typescript 7' ? /Version 7\./ : /Version 5\.9\./);
        const config = {
          compilerOptions: { target: 'es2022', strict: true, skipLibCheck: false, noEmit: true, isolatedModules: true, ...options },
          files,
        };
        writeFileSync(join(app.dir, `tsconfig.${project}.json`), JSON.stringify(config, null, 2));
        const { status, output } = await timed(`tsc (${compiler}, ${project})`, () => runTool(process.execPath, [tsc, '-p', `tsconfig.${project}.json`], app.dir));
        expect(output, `${project} (${version})`).toBe('');
        expect(status).toBe(0);
      });
    }
  }
});

describe('the app', () => {
  const reports: Record<string, AppReport> = {};

  it('runs in Node from the one import (Dawn picked by the node condition) and prints nothing on stderr', async () => {
    const esbuild = (await import('esbuild')) as unknown as Esbuild;
    const out = join(app.dir, 'out/node/app.mjs');
    const built = await esbuild.build({
      absWorkingDir: app.dir,
      entryPoints: ['src/node.ts'],
      outfile: out,
      bundle: true,
      packages: 'external', // Node itself resolves the packages, through their export conditions
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
    expect(built.errors).toEqual([]);
    // stderr through a real pipe, as a terminal or a shell pipeline gives it (a Node child process's
    // default 'pipe' is a socket pair, where Dawn's native notices cannot be captured; see
    // packages/core/src/dawn/stderr.ts). stdout goes to a file.
    const reportFile = join(app.dir, 'out/node/report.json');
    const run = await timed('node run', () =>
      spawnSync('bash', ['-c', 'set -o pipefail; node "$APP" 2>&1 >"$REPORT" | cat'], {
        cwd: app.dir,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, APP: out, REPORT: reportFile, SCRATCHGPT_LOG: '', SCRATCHGPT_BACKEND: '' },
      }),
    );
    expect(run.status).toBe(0);
    expect(run.stdout, 'stderr of the Node run').toBe('');
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as AppReport;
    reports.node = report;
    checkReport(report, 'node');
    const corePkg = JSON.parse(readFileSync(join(ROOT, 'packages/core/package.json'), 'utf8')) as { version: string };
    expect(report.version).toBe(corePkg.version);
  });

  it('bundles for the browser with esbuild and with Vite, without warnings, Node built-ins or webgpu', async () => {
    const esbuild = (await import('esbuild')) as unknown as Esbuild;
    const outDir = join(app.dir, 'out/esbuild');
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    const result = await timed('esbuild bundle', () =>
      esbuild.build({
        absWorkingDir: app.dir,
        entryPoints: ['src/browser.ts'],
        outfile: join(outDir, 'app.js'),
        bundle: true,
        minify: true,
        platform: 'browser',
        format: 'esm',
        target: 'es2022',
        metafile: true,
        logLevel: 'silent',
      }),
    );
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.text)).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((f) => /node_modules\/webgpu\/|dist\/node\.js|index\.node\.js/.test(f))).toEqual([]);
    const imports = Object.values(result.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
    writeFileSync(join(outDir, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./app.js"></script>\n');

    const vite = (await import('vite')) as unknown as Vite;
    const warnings: string[] = [];
    const logger: ViteLogger = {
      info: () => undefined,
      warn: (msg) => warnings.push(msg),
      warnOnce: (msg) => warnings.push(msg),
      error: (msg) => warnings.push(msg),
      clearScreen: () => undefined,
      hasErrorLogged: () => false,
      hasWarned: false,
    };
    await timed('vite build', () =>
      vite.build({
        root: app.dir,
        configFile: false,
        base: './',
        logLevel: 'info',
        customLogger: logger,
        // The GPT-2 vocabulary makes a tokenizing app's chunk big: that is expected, not worth a warning.
        build: { outDir: join(app.dir, 'out/vite'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 },
      }),
    );
    expect(warnings).toEqual([]);
  });

  for (const bundler of ['esbuild', 'vite']) {
    it(`runs the ${bundler} bundle in headless Chromium with the losses of the Node run (within 1e-3 relative)`, async () => {
      // The Node run (the test above) must have passed: its losses are the reference, and divisors below.
      const nodeLosses = reports.node?.losses;
      expect(nodeLosses, 'the Node run: a loss per step (did the Node test pass?)').toHaveLength(reports.node?.steps ?? -1);
      expect(nodeLosses!.length, 'the Node run: steps').toBeGreaterThanOrEqual(3);
      expect(nodeLosses!.every((l) => Number.isFinite(l) && l > 0), `the Node run: finite, positive losses, got ${nodeLosses!.join(', ')}`).toBe(true);
      server ??= await startStaticServer({ '/esbuild/': join(app.dir, 'out/esbuild'), '/vite/': join(app.dir, 'out/vite') });
      browser ??= await launchChromium();
      const { result } = await timed(`chromium (${bundler})`, () => runInPage<AppReport>(browser!, `${server!.url}/${bundler}/index.html`, 'runApp'));
      checkReport(result, bundler);
      console.log(`${bundler} in chromium: ${result.adapter} (${result.featureLevel}); losses ${result.losses.map((l) => l.toFixed(5)).join(' ')}`);
      console.log(`node: ${reports.node.adapter} (${reports.node.featureLevel}); losses ${reports.node.losses.map((l) => l.toFixed(5)).join(' ')}`);
      expect(result.losses.length, `${bundler}: evaluations`).toBe(reports.node.losses.length);
      result.losses.forEach((loss, i) => {
        const node = reports.node.losses[i];
        expect(Math.abs(loss - node) / Math.abs(node), `${bundler} vs node loss at step ${i + 1}: ${loss} vs ${node}`).toBeLessThanOrEqual(1e-3);
      });
    });
  }
});

/** Every file an `exports` map points at (the values, however deeply nested in conditions). */
function exportTargets(exports: unknown): string[] {
  if (typeof exports === 'string') return [exports];
  return Object.values((exports ?? {}) as Record<string, unknown>).flatMap(exportTargets);
}

/** What every run must report: training made progress, the checkpoint and the custom op are exact, nothing leaked. */
function checkReport(report: AppReport, label: string): void {
  expect(report.steps, `${label}: steps`).toBeGreaterThanOrEqual(3);
  expect(report.losses.length, `${label}: a loss per step`).toBe(report.steps);
  expect(report.losses.every(Number.isFinite), `${label}: finite losses`).toBe(true);
  expect(report.losses[report.losses.length - 1], `${label}: loss decreases`).toBeLessThan(report.losses[0]);
  expect(report.generated.length, `${label}: generated text`).toBeGreaterThan(0);
  expect(report.checkpointMaxDiff, `${label}: restored checkpoint gives the same logits`).toBe(0);
  expect(report.checkpointStep, `${label}: checkpoint step`).toBe(report.steps);
  expect(report.customOp.forwardError, `${label}: custom op forward`).toBeLessThan(1e-5);
  expect(report.customOp.gradError, `${label}: custom op gradient`).toBeLessThan(1e-5);
  expect(report.liveAfter, `${label}: every tensor disposed`).toBe(report.liveBefore);
}
