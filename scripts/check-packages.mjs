#!/usr/bin/env node
// Checks the packages as they would be published: packs each (`pnpm pack`, after `pnpm build`), then runs
// publint (strict: warnings fail) and are-the-types-wrong (esm-only profile) on the tarball. Exits non-zero
// on any problem. `pnpm check:packages`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const bin = (name) => join(root, 'node_modules/.bin', name);
const dest = mkdtempSync(join(tmpdir(), 'scratchgpt-check-'));
let failed = false;

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
}

try {
  for (const name of ['core', 'gpt', 'finetune']) {
    const dir = join(root, 'packages', name);
    const packed = run('pnpm', ['pack', '--pack-destination', dest], dir);
    if (!packed.ok) throw new Error(`pnpm pack failed in ${dir} (run \`pnpm build\` first?):\n${packed.output}`);
    const tarball = join(dest, readdirSync(dest).find((f) => f.startsWith(`scratchgpt-${name}-`)));
    for (const [tool, args] of [
      ['publint', [bin('publint'), 'run', tarball, '--strict']],
      ['attw', [bin('attw'), tarball, '--profile', 'esm-only', '--format', 'table-flipped', '--no-emoji']],
    ]) {
      const result = run(args[0], args.slice(1), root);
      console.log(`@scratchgpt/${name} — ${tool}: ${result.ok ? 'ok' : 'FAILED'}\n${result.output.replace(/^/gm, '  ')}\n`);
      failed ||= !result.ok;
    }
  }
} finally {
  rmSync(dest, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
