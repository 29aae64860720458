#!/usr/bin/env node
// `pnpm release`: build, check the packages (publint, are-the-types-wrong), then `pnpm -r publish --dry-run`
// for the three packages. `pnpm release -- --publish` publishes for real (with pnpm's git checks: a clean
// tree on the release branch). Versions come first: `pnpm changeset`, then `pnpm version-packages`.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const publish = process.argv.includes('--publish');

function step(command, args) {
  console.log(`\n$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`release: \`${command} ${args.join(' ')}\` failed`);
    process.exit(result.status ?? 1);
  }
}

step('pnpm', ['build']);
step(process.execPath, ['scripts/check-packages.mjs']);
step('pnpm', ['-r', '--filter', './packages/*', 'publish', ...(publish ? [] : ['--dry-run', '--no-git-checks'])]);
console.log(publish ? '\nrelease: published' : '\nrelease: dry run done (`pnpm release -- --publish` publishes)');
