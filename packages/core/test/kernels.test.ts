/**
 * The kernel ABI, checked without a GPU: the WGSL parser's struct layouts against hand-computed WGSL
 * layouts, and every built-in kernel against its call sites. Each `shaders/*.wgsl` is parsed with its
 * prelude (as `defineKernel` composes it), and every `launch(kernel, 'entry', { constants, params,
 * bind, ... })` in the sources is read statically: the entry, every constant, param and binding name
 * must exist in that shader, and a literal entry must be given every field and binding it reads.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS_BINDING } from '../src/engine/gpuerrors';
import { definedKernels, parseWgsl, type Kernel } from '../src/engine/kernel';
import { layoutStruct, parseLiteral } from '../src/engine/wgsl';
import { binaryOps, unaryOps } from '../src/index';

const root = resolve(__dirname, '../../..');
const shadersDir = join(root, 'shaders');
const snippets = ['common.wgsl', 'rows.wgsl', 'errors.wgsl', 'attention_common.wgsl', 'linear_rows.wgsl', 'adamw_update.wgsl'];
// Preludes swapped in for another prelude in a kernel's variants (ops/variants.ts): same functions.
const alternatives = ['rows_subgroups.wgsl'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

// ---------------------------------------------------------------------------------------------------
// A small reader for TypeScript call sites: comments blanked, strings kept, brackets matched.

/** The source with comments replaced by spaces (string and template literals left intact). */
function stripTsComments(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (ch === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') (out += ' '), i++;
    } else if (ch === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== ch) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** Index just past the bracket closing the one at `open`, skipping string literals. */
function closeOf(code: string, open: number): number {
  const pairs: Record<string, string> = { '(': ')', '{': '}', '[': ']' };
  const stack: string[] = [];
  for (let i = open; i < code.length; i++) {
    const ch = code[i];
    if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      while (j < code.length && code[j] !== ch) j += code[j] === '\\' ? 2 : 1;
      i = j;
    } else if (pairs[ch]) stack.push(pairs[ch]);
    else if (ch === stack[stack.length - 1]) {
      stack.pop();
      if (stack.length === 0) return i + 1;
    }
  }
  throw new Error(`unbalanced bracket at ${open}`);
}

/** Splits on commas outside brackets and strings. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if ('({['.includes(ch) || ch === "'" || ch === '"' || ch === '`') {
      if (ch === "'" || ch === '"' || ch === '`') {
        let j = i + 1;
        while (j < text.length && text[j] !== ch) j += text[j] === '\\' ? 2 : 1;
        i = j;
      } else i = closeOf(text, i) - 1;
    } else if (ch === ',') {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

interface Site {
  file: string;
  line: number;
  text: string;
}

/** A file's text, stripped, with its path (for resolving identifiers). */
interface Source {
  file: string;
  code: string;
}

/** The object literal `const name = { … }` declared last before `pos`, as [text, its position]. */
function declaredObject(name: string, source: Source, pos: number, where: string): [string, number] {
  let found: RegExpExecArray | null = null;
  for (const m of source.code.matchAll(new RegExp(`\\bconst\\s+${name}\\s*=\\s*\\{`, 'g'))) if (m.index < pos) found = m as RegExpExecArray;
  if (!found) throw new Error(`${where}: cannot read '${name}' statically (declare it as \`const ${name} = { ... }\` before the call)`);
  const open = found.index + found[0].length - 1;
  return [source.code.slice(open, closeOf(source.code, open)), found.index];
}

/**
 * The keys of the object an expression stands for: `{ … }` (spreads followed), a `const` holding
 * one, `table[key]` (the union over the table's object-valued entries), or the branches of `c ? { … } : { … }`.
 */
function objectKeys(expr: string, source: Source, where: string, pos: number): Set<string> {
  const e = expr.trim();
  if (/^[A-Za-z_$][\w$]*$/.test(e)) {
    const [text, at] = declaredObject(e, source, pos, where);
    return objectKeys(text, source, where, at);
  }
  const indexed = /^([A-Za-z_$][\w$]*)\[[^\]]+\]$/.exec(e);
  if (indexed) {
    const [text, at] = declaredObject(indexed[1], source, pos, where);
    const keys = new Set<string>();
    for (const prop of splitTopLevel(text.slice(1, -1))) {
      const value = /^[A-Za-z_$][\w$]*\s*:\s*(\{[\s\S]*\})$/.exec(prop);
      if (!value) throw new Error(`${where}: entry '${prop}' of '${indexed[1]}' is not an object literal`);
      objectKeys(value[1], source, where, at).forEach((k) => keys.add(k));
    }
    return keys;
  }
  if (e.startsWith('{')) {
    const keys = new Set<string>();
    for (const prop of splitTopLevel(e.slice(1, closeOf(e, 0) - 1))) {
      if (prop.startsWith('...')) {
        objectKeys(prop.slice(3), source, where, pos).forEach((k) => keys.add(k));
        continue;
      }
      const m = /^(?:['"]([^'"]+)['"]|([A-Za-z_$][\w$]*))\s*(?::|$)/.exec(prop);
      if (!m) throw new Error(`${where}: cannot read property '${prop}' statically`);
      keys.add(m[1] ?? m[2]);
    }
    return keys;
  }
  // A conditional: every object literal at the top level of the expression.
  const keys = new Set<string>();
  let found = false;
  for (let i = 0; i < e.length; i++) {
    if (e[i] === '(' || e[i] === '[') i = closeOf(e, i) - 1;
    else if (e[i] === '{') {
      const end = closeOf(e, i);
      objectKeys(e.slice(i, end), source, where, pos).forEach((k) => keys.add(k));
      found = true;
      i = end - 1;
    }
  }
  if (!found) throw new Error(`${where}: cannot read '${e}' statically`);
  return keys;
}

/** The kernel name a TS identifier holds: `const id = defineKernel('name', …)` here or in the module it is imported from. */
function kernelNameOf(id: string, source: Source, read: (file: string) => Source): string {
  const local = new RegExp(`\\bconst\\s+${id}\\s*=\\s*define(?:Row|Storage)?Kernel\\(\\s*'([^']+)'`).exec(source.code);
  if (local) return local[1];
  // A variant picked from a base kernel (`const variant = rowVariant(kernel)`, ops/variants.ts): the
  // base's name (variants share its ABI: test/variants.test.ts).
  const picked = new RegExp(`\\bconst\\s+${id}\\s*=\\s*\\w+\\(\\s*([A-Za-z_$][\\w$]*)\\s*[,)]`).exec(source.code);
  if (picked) return kernelNameOf(picked[1], source, read);
  const imported = new RegExp(`import\\s*\\{[^}]*\\b${id}\\b[^}]*\\}\\s*from\\s*'(\\.[^']+)'`).exec(source.code);
  if (!imported) throw new Error(`${source.file}: cannot find where kernel '${id}' is defined`);
  return kernelNameOf(id, read(resolve(dirname(source.file), `${imported[1]}.ts`)), read);
}

/**
 * Checks every `launch(...)` in `files` against the parsed kernels; returns one message per problem
 * (empty when every name exists and every literal entry gets what it reads).
 */
function checkCallSites(files: readonly Source[], kernels: ReadonlyMap<string, Kernel>, read: (file: string) => Source): { problems: string[]; sites: Site[] } {
  const problems: string[] = [];
  const sites: Site[] = [];
  for (const source of files) {
    const { code, file } = source;
    for (const m of code.matchAll(/(?<![\w$.])launch\s*\(/g)) {
      const before = code.slice(Math.max(0, m.index - 20), m.index);
      if (/function\s+$/.test(before)) continue;
      const open = m.index + m[0].length - 1;
      const line = code.slice(0, m.index).split('\n').length;
      const where = `${file.slice(root.length + 1)}:${line}`;
      const args = splitTopLevel(code.slice(open + 1, closeOf(code, open) - 1));
      sites.push({ file, line, text: args.join(', ') });
      try {
        if (args.length !== 3) throw new Error(`${where}: launch takes (kernel, entry, options), got ${args.length} arguments`);
        const kernel = kernels.get(kernelNameOf(args[0], source, read));
        if (!kernel) throw new Error(`${where}: kernel '${args[0]}' is not defined`);
        const literal = /^'([^']+)'$/.exec(args[1]);
        const entries = literal ? [literal[1]] : [...kernel.entries.keys()];
        for (const entry of entries) if (!kernel.entries.has(entry)) problems.push(`${where}: kernel '${kernel.name}' has no entry '${entry}'`);
        const options = new Map<string, string>();
        const optionsKeys = objectKeys(args[2], source, where, m.index);
        const optionsText = /^[A-Za-z_$]/.test(args[2]) ? null : args[2];
        if (optionsText) {
          for (const prop of splitTopLevel(optionsText.slice(1, closeOf(optionsText, 0) - 1))) {
            const p = /^([A-Za-z_$][\w$]*)\s*(?::\s*([\s\S]*))?$/.exec(prop);
            if (p) options.set(p[1], p[2] ?? p[1]);
          }
        }
        const grids = ['items', 'groups', 'workgroups'].filter((k) => optionsKeys.has(k));
        if (grids.length !== 1) problems.push(`${where}: give exactly one of items, groups or workgroups (got ${grids.join(', ') || 'none'})`);
        const group = (name: string) => (options.has(name) ? objectKeys(options.get(name)!, source, where, m.index) : new Set<string>());
        const params = group('params');
        const bind = group('bind');
        const constants = group('constants');
        const fields = new Map((kernel.params?.fields ?? []).map((f) => [f.name, f]));
        const bindings = new Set(kernel.bindings.filter((b) => !(b.binding === 0 && b.type === 'uniform')).map((b) => b.name));
        for (const p of params) if (!fields.has(p) || fields.get(p)!.pad) problems.push(`${where}: kernel '${kernel.name}' has no Params field '${p}'`);
        for (const b of bind) if (!bindings.has(b)) problems.push(`${where}: kernel '${kernel.name}' has no binding '${b}'`);
        for (const c of constants) if (!(c in kernel.overrides)) problems.push(`${where}: kernel '${kernel.name}' has no override '${c}'`);
        if (literal && kernel.entries.has(literal[1])) {
          const info = kernel.entries.get(literal[1])!;
          for (const p of info.params) if (fields.has(p) && !fields.get(p)!.pad && !params.has(p)) problems.push(`${where}: entry '${literal[1]}' reads Params field '${p}', not given`);
          // The error-report buffer is bound by launch itself (engine/gpuerrors.ts).
          for (const b of info.bindings) if (!bind.has(b) && b !== ERRORS_BINDING) problems.push(`${where}: entry '${literal[1]}' uses binding '${b}', not given`);
        }
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    // Names read from kernels outside launch(): `kernel.consts.X` and `kernel.workgroupSize('entry')`.
    for (const m of code.matchAll(/(?<![\w$.])([A-Za-z_$][\w$]*)\.(?:consts\.([A-Za-z_]\w*)|workgroupSize\(\s*'([^']+)')/g)) {
      const line = code.slice(0, m.index).split('\n').length;
      const where = `${file.slice(root.length + 1)}:${line}`;
      try {
        const kernel = kernels.get(kernelNameOf(m[1], source, read))!;
        if (m[2] !== undefined && !(m[2] in kernel.consts)) problems.push(`${where}: kernel '${kernel.name}' has no const '${m[2]}'`);
        if (m[3] !== undefined && !kernel.entries.has(m[3])) problems.push(`${where}: kernel '${kernel.name}' has no entry '${m[3]}'`);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
  }
  return { problems, sites };
}

const readCache = new Map<string, Source>();
function read(file: string): Source {
  let s = readCache.get(file);
  if (!s) readCache.set(file, (s = { file, code: stripTsComments(readFileSync(file, 'utf8')) }));
  return s;
}

// ---------------------------------------------------------------------------------------------------

describe('uniform struct layout (WGSL address-space rules)', () => {
  const layout = (body: string) => layoutStruct('test', body, 'Params', 'p', { N: 2 });
  const at = (body: string) => Object.fromEntries(layout(body).fields.map((f) => [f.name, f.offset]));

  it('places scalars, vectors and arrays of vec4 as WGSL does', () => {
    // a: u32 @0; b: vec4f @16 (align 16); c: f32 @32; d: vec2u @40 (align 8); e: vec3f @48 (align 16,
    // size 12); f: array<vec4u, 2> @64 (align 16, stride 16); g: u32 @96; struct align 16 → size 112.
    const l = layout('a: u32, b: vec4f, c: f32, d: vec2u, e: vec3f, f: array<vec4u, 2>, g: u32,');
    expect(Object.fromEntries(l.fields.map((f) => [f.name, f.offset]))).toEqual({ a: 0, b: 16, c: 32, d: 40, e: 48, f: 64, g: 96 });
    expect(l.size).toBe(112);
    const f = l.fields.find((x) => x.name === 'f')!;
    expect(f.count).toBe(8);
    expect(f.offsets).toEqual([64, 68, 72, 76, 80, 84, 88, 92]);
    expect(l.fields.find((x) => x.name === 'e')!.offsets).toEqual([48, 52, 56]);
    expect(l.fields.find((x) => x.name === 'b')!.scalar).toBe('f32');
  });

  it('matches the hand-computed layouts of the built-in Params structs', () => {
    // shaders/matmul.wgsl: 16 u32 scalars (64 bytes), then three array<vec4u, 2>.
    const matmul = 'm: u32, n: u32, k: u32, accumulate: u32, lda: u32, ldb: u32, ldc: u32, rank: u32, off_a: u32, off_b: u32, off_c: u32, batch0: u32, stride_c: u32, _pad0: u32, _pad1: u32, _pad2: u32, shape: array<vec4u, 2>, stride_a: array<vec4u, 2>, stride_b: array<vec4u, 2>';
    expect(at(matmul)).toMatchObject({ stride_c: 48, shape: 64, stride_a: 96, stride_b: 128 });
    expect(layout(matmul).size).toBe(160);
    // The defineOp ABI: scalars (vec4f) after the shape.
    expect(at('n: u32, rank: u32, _pad0: u32, _pad1: u32, shape: array<vec4u, 2>, scalars: vec4f')).toEqual({ n: 0, rank: 4, _pad0: 8, _pad1: 12, shape: 16, scalars: 48 });
    expect(layout('n: u32, rank: u32, _pad0: u32, _pad1: u32, shape: array<vec4u, 2>, scalars: vec4f').size).toBe(64);
    // shaders/where.wgsl: an i32 among u32s, then four arrays.
    expect(at('n: u32, value: u32, diagonal: i32, _pad: u32, shape: array<vec4u, 2>, c_strides: array<vec4u, 2>, a_strides: array<vec4u, 2>, b_strides: array<vec4u, 2>')).toMatchObject({ diagonal: 8, shape: 16, b_strides: 112 });
    // shaders/softmax.wgsl: three u32 (12 bytes), uploaded as 16.
    expect(layout('rows: u32, c: u32, tpr: u32').size).toBe(16);
  });

  it('reads array lengths from consts, honours @align/@size, and rejects non-16-byte array strides', () => {
    expect(at('a: u32, b: array<vec4f, N>, c: f32')).toEqual({ a: 0, b: 16, c: 48 });
    expect(at('a: u32, @align(16) b: u32, @size(8) c: f32, d: u32')).toEqual({ a: 0, b: 16, c: 20, d: 28 });
    expect(() => layout('a: array<u32, 4>')).toThrow(/16-byte element stride/);
    expect(() => layout('a: mat4x4f')).toThrow(/unsupported uniform field type/);
  });

  it('reads literals as WGSL writes them', () => {
    expect(parseLiteral('256u')).toBe(256);
    expect(parseLiteral('0xffffffffu')).toBe(0xffffffff);
    expect(parseLiteral('-3.0e38')).toBe(-3e38);
    expect(parseLiteral('0.7978845608028654')).toBe(0.7978845608028654);
    expect(parseLiteral('true')).toBe(true);
    expect(parseLiteral('WG / 2u')).toBeUndefined();
  });
});

describe('parseWgsl', () => {
  const source = /* wgsl */ `
    override DTYPE: u32 = 0u;
    override WG: u32;
    const SIZE: u32 = 128u; // op codes and sizes
    const GELU: u32 = 6u;
    struct Params { n: u32, scale: f32, _pad0: u32, _pad1: u32, shape: array<vec4u, 2> }
    @group(0) @binding(0) var<uniform> p: Params;
    @group(0) @binding(1) var<storage, read> x: array<f32>;
    @group(0) @binding(2) var<storage, read_write> y: array<f32>;
    @group(0) @binding(3) var<storage, read> dy: array<f32>;
    fn scaled(v: f32) -> f32 { return v * p.scale; }
    fn twice(x: f32) -> f32 { let p = x; return p * 2.0; } // a parameter and a local shadow x and p
    /* a block comment with x[0] and p.shape in it */
    @compute @workgroup_size(SIZE)
    fn forward(@builtin(global_invocation_id) gid: vec3u) {
      if (gid.x < p.n) { y[gid.x] = scaled(x[gid.x]); }
    }
    @compute @workgroup_size(WG, 2)
    fn backward(@builtin(global_invocation_id) gid: vec3u) {
      if (gid.x < p.n) { y[gid.x] = twice(dy[gid.x]) * p.scale + f32(p.shape[0].x); }
    }`;
  const m = parseWgsl('t', source);

  it('reads bindings, consts, overrides and the Params block', () => {
    expect(m.bindings.map((b) => `${b.binding}:${b.name}:${b.type}`)).toEqual(['0:p:uniform', '1:x:read-only-storage', '2:y:storage', '3:dy:read-only-storage']);
    expect(m.consts).toEqual({ SIZE: 128, GELU: 6 });
    expect(m.overrides).toEqual({ DTYPE: 0, WG: undefined });
    expect(m.params?.variable).toBe('p');
    expect(m.params?.fields.map((f) => `${f.name}@${f.offset}`)).toEqual(['n@0', 'scale@4', '_pad0@8', '_pad1@12', 'shape@16']);
  });

  it('follows calls to find what each entry reads (comments and shadowing names ignored)', () => {
    const forward = m.entries.get('forward')!;
    expect([...forward.bindings].sort()).toEqual(['x', 'y']);
    expect([...forward.params].sort()).toEqual(['n', 'scale']);
    expect(forward.workgroupSize).toEqual(['SIZE']);
    const backward = m.entries.get('backward')!;
    expect([...backward.bindings].sort()).toEqual(['dy', 'y']);
    expect([...backward.params].sort()).toEqual(['n', 'scale', 'shape']);
    expect(backward.workgroupSize).toEqual(['WG', '2']);
  });
});

describe('built-in kernels', () => {
  const kernels = new Map(definedKernels().map((k) => [k.name, k]));
  const shaderFiles = readdirSync(shadersDir).filter((f) => f.endsWith('.wgsl'));

  it('every shader is one defined kernel, parsed with its prelude', () => {
    for (const file of shaderFiles.filter((f) => !snippets.includes(f) && !alternatives.includes(f))) {
      const text = readFileSync(join(shadersDir, file), 'utf8');
      const users = [...kernels.values()].filter((k) => k.source.startsWith(text));
      expect(users.map((k) => k.name), file).toHaveLength(1);
      const kernel = users[0];
      expect(kernel.entries.size, `${file}: entry points`).toBeGreaterThan(0);
      expect(kernel.params, `${file}: Params layout`).not.toBeNull();
      for (const entry of kernel.entries.keys()) {
        // Every entry's grid can be sized from its @workgroup_size (overrides at their defaults or given).
        const wg = kernel.workgroupSize(entry, kernel.overrides.WG === undefined ? undefined : { WG: 16 });
        expect(wg, `${file} ${entry}`).toBeGreaterThan(0);
      }
    }
  });

  it('entry points follow one naming convention and no `main` is left', () => {
    for (const kernel of kernels.values()) {
      if (kernel.name.includes(':')) continue; // user kernels
      for (const entry of kernel.entries.keys()) expect(entry, kernel.name).not.toBe('main');
    }
  });

  it('a kernel that calls a prelude function includes that prelude, and none redeclares one', () => {
    const declared = (text: string) => [...text.matchAll(/\bfn\s+(\w+)/g)].map((m) => m[1]);
    for (const snippet of snippets) {
      const text = readFileSync(join(shadersDir, snippet), 'utf8');
      const names = declared(text);
      for (const file of shaderFiles.filter((f) => !snippets.includes(f) && !alternatives.includes(f))) {
        const fileText = readFileSync(join(shadersDir, file), 'utf8');
        const own = fileText.replace(/\/\/[^\n]*/g, '');
        const kernel = [...kernels.values()].find((k) => k.source.startsWith(fileText))!;
        const included = kernel.source.includes(text);
        for (const name of names) {
          if (declared(own).includes(name)) throw new Error(`${file} redeclares ${name} from ${snippet}`);
          if (new RegExp(`\\b${name}\\s*\\(`).test(own)) expect(included, `${file} calls ${name} (${snippet})`).toBe(true);
        }
      }
    }
  });

  it('every launch() call site names an existing entry, constants, params and bindings, and gives what the entry reads', () => {
    const files = ['core', 'gpt', 'finetune'].flatMap((p) => sourceFiles(join(root, 'packages', p, 'src'))).map(read);
    const { problems, sites } = checkCallSites(files, kernels, read);
    expect(problems).toEqual([]);
    expect(sites.length).toBeGreaterThan(30);
  });

  it('the call-site check fails on a misspelled name or a missing field', () => {
    const kernelFile = join(root, 'packages/core/src/ops/softmax.ts');
    const fake = (text: string): Source => ({
      file: kernelFile,
      code: stripTsComments(`import source from '../../../../shaders/softmax.wgsl';\nconst kernel = defineKernel('softmax', source);\n${text}`),
    });
    const check = (text: string) => checkCallSites([fake(text)], kernels, read).problems;
    expect(check(`launch(kernel, 'forward', { params: { rows, c, tpr }, bind: { x, y, dy }, items: n });`)).toEqual([]);
    expect(check(`launch(kernel, 'forward', { params: { rows, cols: c, tpr }, bind: { x, y, dy }, items: n });`).join()).toMatch(/no Params field 'cols'/);
    expect(check(`launch(kernel, 'forward', { params: { rows, tpr }, bind: { x, y, dy }, items: n });`).join()).toMatch(/reads Params field 'c'/);
    expect(check(`launch(kernel, 'forwrd', { params: { rows, c, tpr }, bind: { x, y, dy }, items: n });`).join()).toMatch(/no entry 'forwrd'/);
    expect(check(`launch(kernel, 'backward', { params: { rows, c, tpr }, bind: { x, y, d_y: dy }, items: n });`).join()).toMatch(/no binding 'd_y'/);
    expect(check(`launch(kernel, 'forward', { constants: { OPS: 1 }, params: { rows, c, tpr }, bind: { x, y }, items: n });`).join()).toMatch(/no override 'OPS'/);
    expect(check(`launch(kernel, 'forward', { params: { rows, c, tpr }, bind: { x, y }, items: n, groups: 1 });`).join()).toMatch(/exactly one of items/);
    expect(check(`const p = { rows, c }; launch(kernel, 'forward', { params: p, bind: { x, y }, items: n });`).join()).toMatch(/reads Params field 'tpr'/);
  });

  it('op-code names in the op tables exist in their shaders', () => {
    const unary = kernels.get('unary')!;
    const binary = kernels.get('binary')!;
    for (const [name, spec] of Object.entries(unaryOps)) expect(unary.consts[spec.op], `unary ${name}: ${spec.op}`).toBeTypeOf('number');
    for (const [name, spec] of Object.entries(binaryOps)) expect(binary.consts[spec.op], `binary ${name}: ${spec.op}`).toBeTypeOf('number');
    // Tables looked up with kernel.consts[...] elsewhere: every all-caps string literal in those files.
    for (const [file, name] of [['reduce.ts', 'reduce'], ['softmax.ts', 'softmax'], ['unary.ts', 'unary'], ['binary.ts', 'binary']] as const) {
      const code = readFileSync(join(root, 'packages/core/src/ops', file), 'utf8');
      expect(code).toMatch(/kernel\.consts\[/);
      for (const m of code.matchAll(/'([A-Z][A-Z0-9_]*)'/g)) expect(kernels.get(name)!.consts[m[1]], `${file}: '${m[1]}'`).toBeTypeOf('number');
    }
  });
});
