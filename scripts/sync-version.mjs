#!/usr/bin/env node
// After `changeset version`: writes @scratchgpt/core's new version into packages/core/src/engine/version.ts (the
// `VERSION` the duplicate-copy guard reports). Part of `pnpm version-packages`.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const { version } = JSON.parse(readFileSync(resolve(root, 'packages/core/package.json'), 'utf8'));
const file = resolve(root, 'packages/core/src/engine/version.ts');
const text = readFileSync(file, 'utf8');
const next = text.replace(/export const VERSION = '[^']*';/, `export const VERSION = '${version}';`);
if (next === text && !text.includes(`'${version}'`)) throw new Error(`sync-version: no VERSION constant in ${file}`);
writeFileSync(file, next);
console.log(`packages/core/src/engine/version.ts: VERSION = '${version}'`);
