/**
 * scripts/apt-backports.mjs (issue 18 #15): scripts/setup.sh takes the bookworm-backports source from the
 * machine's own Debian sources — the mirror and the signing options of its bookworm entry, one-line or
 * deb822 — and says clearly when there is none. Run on fake /etc/apt trees.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './cli-bundle';

function run(files: Record<string, string>): { code: number | null; out: Record<string, unknown> | null; stderr: string; root: string } {
  const root = mkdtempSync(join(tmpdir(), 'sg-apt-'));
  mkdirSync(join(root, 'etc/apt/sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, 'etc/apt', name), text);
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/apt-backports.mjs'), '--root', root, '--codename', 'bookworm'], { encoding: 'utf8' });
  return { code: r.status, out: r.status === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : null, stderr: r.stderr, root };
}

describe('the bookworm-backports source setup.sh writes', () => {
  it('deb822 (Debian 12 default): the mirror URI and Signed-By of the bookworm stanza, not the security one', () => {
    const r = run({
      'sources.list.d/debian.sources': [
        'Types: deb',
        '# a comment inside the stanza',
        'URIs: http://security.example/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb',
        'URIs: http://mirror.corp.example/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main contrib',
        'Signed-By: /usr/share/keyrings/corp.gpg',
        '',
      ].join('\n'),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toEqual({
      file: join(r.root, 'etc/apt/sources.list.d/bookworm-backports.sources'),
      content: 'Types: deb\nURIs: http://mirror.corp.example/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/corp.gpg\n',
      uri: 'http://mirror.corp.example/debian',
      from: join(r.root, 'etc/apt/sources.list.d/debian.sources'),
    });
  });

  it('an inline Signed-By key block is kept as it is', () => {
    const key = 'Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGNfake\n -----END PGP PUBLIC KEY BLOCK-----';
    const r = run({ 'sources.list.d/mirror.sources': `Types: deb\nURIs: https://m.example/debian/\nSuites: bookworm\nComponents: main\n${key}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out!.content).toBe(`Types: deb\nURIs: https://m.example/debian/\nSuites: bookworm-backports\nComponents: main\nSigned-By: \n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGNfake\n -----END PGP PUBLIC KEY BLOCK-----\n`);
  });

  it('one-line sources.list with [signed-by=…]: a one-line .list from the same mirror', () => {
    const r = run({ 'sources.list': '# main\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=/etc/apt/keys/m.gpg] http://10.0.0.5/debian bookworm main non-free-firmware\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.out!.content).toBe('deb [signed-by=/etc/apt/keys/m.gpg] http://10.0.0.5/debian bookworm-backports main\n');
    expect(r.out!.file).toBe(join(r.root, 'etc/apt/sources.list.d/bookworm-backports.list'));
  });

  it('an existing backports source is used as it is', () => {
    const r = run({ 'sources.list': 'deb http://a.example/debian bookworm main\n', 'sources.list.d/bp.list': 'deb http://b.example/debian bookworm-backports main\n' });
    expect(r.out).toEqual({ present: true, file: join(r.root, 'etc/apt/sources.list.d/bp.list') });
  });

  it('no bookworm source (or a disabled one): an error naming what it read', () => {
    const r = run({ 'sources.list.d/other.sources': 'Types: deb\nURIs: http://x.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n', 'sources.list.d/node.list': 'deb https://deb.nodesource.com/node_20.x nodistro main\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no apt source for Debian 'bookworm' \(its main archive\) in .*node\.list, .*other\.sources: cannot tell which mirror serves bookworm-backports/);
  });
});
