/**
 * The packed packages installed the way a user installs them: `pnpm pack` of the three packages (from
 * their built `dist/`), then `npm install` of the tarballs (plus `webgpu`) into an app folder under the
 * OS temp folder, outside the workspace, so nothing resolves through the workspace's node_modules.
 *
 * The install is keyed by a hash of the tarballs and the app's dependency list: the consumer test and
 * the README test share it, and a later run with unchanged packages reuses it (npm's own cache keeps
 * a fresh install fast too: `--prefer-offline`). A lock folder serialises concurrent installers.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PACKAGES = ['core', 'gpt', 'finetune'] as const;
type PackageName = (typeof PACKAGES)[number];

/** What the app installs besides the tarballs (pinned, so that runs are comparable). */
export const APP_DEPENDENCIES = { webgpu: '0.6.2' };
export const APP_DEV_DEPENDENCIES = {
  // The current TypeScript major on npm (7, the native port); 5.9 comes from the workspace.
  typescript: '7.0.2',
  '@types/node': '^20.19.0',
};

export interface PackedApp {
  /** The app folder (has node_modules with the installed tarballs). */
  dir: string;
  /** Tarball path of each package, inside `dir/tarballs`. */
  tarballs: Record<PackageName, string>;
  /** Seconds `npm install` took (0 when an earlier install was reused). */
  installSeconds: number;
  /** Seconds packing took. */
  packSeconds: number;
  reused: boolean;
}

function run(command: string, args: string[], cwd: string, timeoutMs = 300_000): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/** Packs each package into `dest`; returns the tarball paths. */
function pack(dest: string): Record<PackageName, string> {
  const out = {} as Record<PackageName, string>;
  for (const name of PACKAGES) {
    const dir = join(ROOT, 'packages', name);
    if (!existsSync(join(dir, 'dist', 'index.js'))) {
      throw new Error(`${dir}/dist is missing — run \`pnpm build\` first (the root \`pnpm test\` does)`);
    }
    const before = new Set(readdirSync(dest));
    run('pnpm', ['pack', '--pack-destination', dest], dir);
    const added = readdirSync(dest).filter((f) => f.endsWith('.tgz') && !before.has(f));
    if (added.length !== 1) throw new Error(`pnpm pack in ${dir} made ${added.length} tarballs: ${added.join(', ')}`);
    out[name] = join(dest, added[0]);
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes app folders of other keys that nobody has touched for an hour (each holds ~200 MB). */
function removeStale(keep: string): void {
  const base = tmpdir();
  for (const name of readdirSync(base)) {
    if (!name.startsWith('scratchgpt-consumer-') || join(base, name) === keep) continue;
    const path = join(base, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { recursive: true, force: true });
    } catch {
      // another process removed it
    }
  }
}

/**
 * Packs the packages and returns an app with the tarballs installed (installing them on first use).
 * @example
 * ```ts
 * const app = await packedApp();
 * execFileSync('node', ['script.mjs'], { cwd: app.dir });
 * ```
 */
export async function packedApp(): Promise<PackedApp> {
  const packStart = performance.now();
  const packDir = mkdtempSync(join(tmpdir(), 'scratchgpt-pack-'));
  let tarballs: Record<PackageName, string>;
  let key: string;
  try {
    tarballs = pack(packDir);
    const hash = createHash('sha256');
    for (const name of PACKAGES) hash.update(readFileSync(tarballs[name]));
    hash.update(JSON.stringify([APP_DEPENDENCIES, APP_DEV_DEPENDENCIES]));
    key = hash.digest('hex').slice(0, 16);
  } catch (err) {
    rmSync(packDir, { recursive: true, force: true });
    throw err;
  }
  const packSeconds = (performance.now() - packStart) / 1000;
  const dir = join(tmpdir(), `scratchgpt-consumer-${key}`);
  const done = join(dir, '.installed');
  const lock = `${dir}.lock`;
  const names = Object.fromEntries(PACKAGES.map((n) => [n, join(dir, 'tarballs', tarballs[n].replace(/^.*\//, ''))])) as Record<PackageName, string>;
  removeStale(dir);
  for (;;) {
    if (existsSync(done)) {
      rmSync(packDir, { recursive: true, force: true });
      return { dir, tarballs: names, installSeconds: 0, packSeconds, reused: true };
    }
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      // Another installer holds the lock: wait for it, or take over when it died.
      const owner = Number(readFileSafe(join(lock, 'pid')));
      if (owner > 0 && !processAlive(owner)) rmSync(lock, { recursive: true, force: true });
      else await sleep(1000);
    }
  }
  try {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'tarballs'), { recursive: true });
    for (const name of PACKAGES) writeFileSync(names[name], readFileSync(tarballs[name]));
    const manifest = {
      name: 'scratchgpt-consumer-app',
      private: true,
      type: 'module',
      dependencies: {
        ...Object.fromEntries(PACKAGES.map((n) => [`@scratchgpt/${n}`, `file:tarballs/${names[n].replace(/^.*\//, '')}`])),
        ...APP_DEPENDENCIES,
      },
      devDependencies: APP_DEV_DEPENDENCIES,
    };
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const start = performance.now();
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], dir);
    const installSeconds = (performance.now() - start) / 1000;
    writeFileSync(done, JSON.stringify({ installSeconds, at: new Date().toISOString() }));
    return { dir, tarballs: names, installSeconds, packSeconds, reused: false };
  } finally {
    rmSync(lock, { recursive: true, force: true });
    rmSync(packDir, { recursive: true, force: true });
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
