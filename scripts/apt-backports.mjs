#!/usr/bin/env node
// Works out the apt source for `<codename>-backports` from the machine's own Debian sources, so that a
// machine behind a local or corporate mirror gets backports from that mirror, signed as its other
// sources are (scripts/setup.sh writes what this prints). Reads one-line `.list` files
// (`deb [signed-by=…] URI suite components`) and deb822 `.sources` files (`URIs:`, `Suites:`,
// `Signed-By:` — a key path or an inline key block), in apt's order: sources.list, then
// sources.list.d/ sorted by name.
//
//   node scripts/apt-backports.mjs [--root DIR] [--codename bookworm]
//
// Prints JSON: { present: true, file } when a backports source exists already; { file, content, uri, from }
// for the source to write (the same format as the source it copies); or exits 1 with a message naming
// what it looked at when no source of the main archive for that codename is configured.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const root = option('--root', '/');
const codename = option('--codename', 'bookworm');
const apt = join(root, 'etc/apt');

/** The source files apt reads, in its order. */
function sourceFiles() {
  const files = [];
  if (existsSync(join(apt, 'sources.list'))) files.push(join(apt, 'sources.list'));
  const dir = join(apt, 'sources.list.d');
  if (existsSync(dir)) for (const name of readdirSync(dir).sort()) if (/\.(list|sources)$/.test(name)) files.push(join(dir, name));
  return files;
}

/** One-line entries: { types, uri, suites, components, options, file }. */
function parseList(text, file) {
  const out = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const options = Object.fromEntries((m[2] ?? '').trim().split(/\s+/).filter(Boolean).map((kv) => kv.split('=')).map(([k, v]) => [k.toLowerCase(), v]));
    out.push({ format: 'list', types: [m[1]], uri: m[3], suites: [m[4]], components: m[5].split(/\s+/).filter(Boolean), signedBy: options['signed-by'], file });
  }
  return out;
}

/** deb822 stanzas: fields with continuation lines (an inline Signed-By key keeps its lines). */
function parseSources(text, file) {
  const out = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = {};
    let last = null;
    for (const raw of stanza.split('\n')) {
      if (/^\s*#/.test(raw)) continue;
      if (/^\s/.test(raw) && last) {
        fields[last] += `\n${raw}`;
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) {
        last = m[1].toLowerCase();
        fields[last] = m[2];
      }
    }
    if (!fields.uris || !fields.suites) continue;
    if ((fields.enabled ?? 'yes').trim().toLowerCase() === 'no') continue;
    const words = (v) => (v ?? '').trim().split(/\s+/).filter(Boolean);
    out.push({ format: 'sources', types: words(fields.types ?? 'deb'), uri: words(fields.uris)[0], suites: words(fields.suites), components: words(fields.components), signedBy: fields['signed-by'], file });
  }
  return out;
}

const files = sourceFiles();
const entries = files.flatMap((file) => {
  const text = readFileSync(file, 'utf8');
  return file.endsWith('.sources') ? parseSources(text, file) : parseList(text, file);
});
const backports = `${codename}-backports`;
const existing = entries.find((e) => e.suites.includes(backports));
if (existing) {
  process.stdout.write(`${JSON.stringify({ present: true, file: existing.file })}\n`);
  process.exit(0);
}
const main = entries.find((e) => e.types.includes('deb') && e.suites.includes(codename));
if (!main) {
  const looked = files.length ? files.join(', ') : `${apt}/sources.list and ${apt}/sources.list.d/ (none found)`;
  process.stderr.write(`no apt source for Debian '${codename}' (its main archive) in ${looked}: cannot tell which mirror serves ${backports}\n`);
  process.exit(1);
}
const components = main.components.includes('main') ? 'main' : main.components.join(' ');
let file;
let content;
if (main.format === 'sources') {
  file = join(apt, 'sources.list.d', `${backports}.sources`);
  content = `Types: deb\nURIs: ${main.uri}\nSuites: ${backports}\nComponents: ${components}\n${main.signedBy !== undefined ? `Signed-By: ${main.signedBy}\n` : ''}`;
} else {
  file = join(apt, 'sources.list.d', `${backports}.list`);
  content = `deb ${main.signedBy ? `[signed-by=${main.signedBy}] ` : ''}${main.uri} ${backports} ${components}\n`;
}
process.stdout.write(`${JSON.stringify({ file, content, uri: main.uri, from: main.file })}\n`);
