/**
 * One-way layering, checked from the sources (no GPU): inside core, engine → ops → autograd → nn/optim
 * (each layer imports only itself and the layers before it), no import cycle in any package, and
 * packages depend one way: core ← gpt ← finetune. Type-only imports are ignored (they vanish at run
 * time); re-exports and side-effect imports count.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const packagesDir = resolve(__dirname, '../..');
/** Packages in dependency order: each may import only those before it. */
const packageOrder = ['core', 'gpt', 'finetune'];
/**
 * Core's layers in order (files directly under src/ are the entry points, above every layer; `dawn`
 * holds the Node entry's Dawn helpers, which import only Node built-ins).
 */
const coreLayers = ['engine', 'ops', 'autograd', 'nn|optim', 'testing', 'dawn', 'entry'];

interface Edge {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.ts$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Runtime import specifiers of a module: `import`/`export … from` (not type-only) and bare `import '…'`. */
function runtimeImports(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^(import|export)\s+(type\s+)?([\w\s{},*$]*?)\s*from\s*['"]([^'"]+)['"]/gm)) {
    const [, , typeOnly, clause, spec] = m;
    if (typeOnly) continue;
    // `import { type A, type B } from` is erased too.
    const braces = /^\{([\s\S]*)\}$/.exec(clause.trim());
    if (braces && braces[1].split(',').every((s) => s.trim() === '' || /^type\s/.test(s.trim()))) continue;
    out.push(spec);
  }
  for (const m of source.matchAll(/^import\s+['"]([^'"]+)['"]/gm)) out.push(m[1]);
  return out;
}

function resolveRelative(fromFile: string, spec: string): string | null {
  const base = resolve(dirname(fromFile), spec.replace(/\.(js|ts)$/, ''));
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(candidate)) return candidate;
  return null;
}

/** The module graph of one package's src/ (relative edges) and the packages it imports. */
function scan(pkg: string): { files: string[]; edges: Edge[]; packageEdges: { from: string; pkg: string }[]; unresolved: string[] } {
  const src = join(packagesDir, pkg, 'src');
  const files = sourceFiles(src);
  const edges: Edge[] = [];
  const packageEdges: { from: string; pkg: string }[] = [];
  const unresolved: string[] = [];
  for (const file of files) {
    const from = relative(src, file);
    for (const spec of runtimeImports(readFileSync(file, 'utf8'))) {
      const scoped = /^@scratchgpt\/([^/]+)/.exec(spec);
      if (scoped) packageEdges.push({ from, pkg: scoped[1] });
      if (!spec.startsWith('.')) continue;
      if (/\.(wgsl|json|txt)$/.test(spec)) continue;
      const target = resolveRelative(file, spec);
      if (!target) unresolved.push(`${from} → ${spec}`);
      else if (!target.startsWith(src)) packageEdges.push({ from, pkg: `(relative path outside the package: ${spec})` });
      else edges.push({ from, to: relative(src, target) });
    }
  }
  return { files: files.map((f) => relative(src, f)), edges, packageEdges, unresolved };
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
function cycles(files: string[], edges: Edge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) next.get(e.from)!.push(e.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || next.get(v)!.includes(v)) found.push(component.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return found;
}

/** Core layer of a file: its first folder under src/, or `entry` for files directly in src/. */
function layerOf(file: string): string {
  const folder = file.includes('/') ? file.slice(0, file.indexOf('/')) : 'entry';
  const layer = coreLayers.find((l) => l.split('|').includes(folder));
  if (!layer) throw new Error(`core/src/${file}: folder '${folder}' is in no layer; add it to coreLayers`);
  return layer;
}

const scans = new Map(packageOrder.filter((p) => existsSync(join(packagesDir, p, 'src'))).map((p) => [p, scan(p)]));

describe('layering', () => {
  it('every relative import resolves to a source file', () => {
    for (const [pkg, s] of scans) expect(s.unresolved, pkg).toEqual([]);
  });

  it('no package has an import cycle', () => {
    for (const [pkg, s] of scans) {
      const found = cycles(s.files, s.edges);
      expect(found.map((c) => `${pkg}: a cycle among ${c.join(', ')}`)).toEqual([]);
    }
  });

  it('core layers import only themselves and the layers before them (engine → ops → autograd → nn/optim)', () => {
    const core = scans.get('core')!;
    const rank = (file: string) => coreLayers.indexOf(layerOf(file));
    const upward = core.edges.filter((e) => rank(e.to) > rank(e.from)).map((e) => `${e.from} (${layerOf(e.from)}) → ${e.to} (${layerOf(e.to)})`);
    // nn and optim share a rank but are independent of each other.
    const sideways = core.edges
      .filter((e) => layerOf(e.from) === 'nn|optim' && e.from.split('/')[0] !== e.to.split('/')[0] && layerOf(e.to) === 'nn|optim')
      .map((e) => `${e.from} → ${e.to}`);
    // What the layers import, for the record.
    const summary = coreLayers.map((layer) => {
      const files = core.files.filter((f) => layerOf(f) === layer);
      const uses = [...new Set(core.edges.filter((e) => layerOf(e.from) === layer && layerOf(e.to) !== layer).map((e) => layerOf(e.to)))];
      return `  ${layer.padEnd(9)} ${String(files.length).padStart(2)} files${uses.length > 0 ? `, imports ${uses.sort((a, b) => coreLayers.indexOf(a) - coreLayers.indexOf(b)).join(', ')}` : ', imports no other layer'}`;
    });
    console.log(`core layers (lowest first):\n${summary.join('\n')}`);
    expect(upward).toEqual([]);
    expect(sideways).toEqual([]);
  });

  it('packages depend one way: core ← gpt ← finetune', () => {
    const back: string[] = [];
    for (const [pkg, s] of scans) {
      const allowed = packageOrder.slice(0, packageOrder.indexOf(pkg));
      for (const e of s.packageEdges) if (!allowed.includes(e.pkg)) back.push(`${pkg}/src/${e.from} → @scratchgpt/${e.pkg}`);
    }
    const uses = [...scans].map(([pkg, s]) => `${pkg} → {${[...new Set(s.packageEdges.map((e) => e.pkg))].sort().join(', ')}}`);
    console.log(`packages: ${uses.join('; ')}`);
    expect(back).toEqual([]);
  });
});
