/**
 * The `scratchgpt` CLI for the CLI tests: bundled from the current sources with esbuild (as tsup does
 * for `dist/cli.js`), so the tests do not depend on a previous `pnpm build`, and run in a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** What a child process printed and how it ended. */
export interface CliRun {
  code: number | null;
  /** The signal that ended it (e.g. on a timeout), if any. */
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A bundled CLI: `run` it with arguments in a directory; `dispose` deletes the bundle. */
export interface BundledCli {
  /** Runs the CLI in `cwd`; `stdin` is written to its standard input (default: none, closed). */
  run(args: string[], cwd: string, stdin?: string): Promise<CliRun>;
  dispose(): void;
}

/** Bundles src/cli.ts into a fresh folder of node_modules/.cache (so `webgpu` resolves as for dist/cli.js). */
export async function bundleCli(): Promise<BundledCli> {
  const cacheDir = join(ROOT, 'node_modules', '.cache');
  mkdirSync(cacheDir, { recursive: true });
  const bundleDir = mkdtempSync(join(cacheDir, 'scratchgpt-cli-test-'));
  const cli = join(bundleDir, 'cli.js');
  await build({
    entryPoints: [join(ROOT, 'src/cli.ts')],
    outfile: cli,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    loader: { '.wgsl': 'text' },
    external: ['webgpu'],
    logLevel: 'error',
  });
  return {
    run: (args, cwd, stdin) => runNode(cli, args, cwd, stdin),
    dispose: () => rmSync(bundleDir, { recursive: true, force: true }),
  };
}

/** Runs `node script ...args` in `cwd` (killed after 100 s), collecting its output; `stdin` is piped in. */
export function runNode(script: string, args: string[], cwd: string, stdin?: string): Promise<CliRun> {
  const child = spawn(process.execPath, [script, ...args], { cwd, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: 100_000 });
  if (stdin !== undefined) child.stdin?.end(stdin);
  return collectOutput(child);
}

/** Collects a spawned child's stdout and stderr (spawned with `stdio: ['ignore', 'pipe', 'pipe']`) until it closes. */
export function collectOutput(child: ChildProcess): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((ok, fail) => {
    child.on('error', fail);
    child.on('close', (code, signal) => ok({ code, signal, stdout, stderr }));
  });
}
