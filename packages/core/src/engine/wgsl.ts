/**
 * Reads a kernel's ABI from its WGSL, which stays the single source of truth: the group-0 bindings
 * (number, name, access), the uniform block's struct with WGSL's uniform layout rules, module-scope
 * `const`s (op codes) and `override`s, and per entry point its `@workgroup_size` and the bindings and
 * uniform fields it reads (through the functions it calls). Pure text processing: no GPU needed.
 */
import { ScratchGPTError } from './errors';

/** A `@group(0) @binding(n) var<...> name: T` declaration. */
export interface KernelBinding {
  binding: number;
  /** The variable's name in the WGSL. */
  name: string;
  type: 'uniform' | 'storage' | 'read-only-storage';
}

/** Scalar type every element of a uniform field is stored as. */
export type ScalarType = 'u32' | 'i32' | 'f32';

/** One field of the uniform block's struct, placed by WGSL's layout rules for the uniform address space. */
export interface ParamField {
  name: string;
  /** The WGSL type as written (e.g. `array<vec4u, 2>`). */
  type: string;
  scalar: ScalarType;
  /** Scalars the field holds: 1 for a scalar, N for vecN, N·M for array<vecM, N>. */
  count: number;
  /** Byte offset of each scalar (vec3 and array elements leave gaps). */
  offsets: readonly number[];
  /** First byte of the field and its size in bytes. */
  offset: number;
  size: number;
  /** `_pad…` fields: never passed, always zero. */
  pad: boolean;
}

/** The struct bound at `@binding(0)` as `var<uniform>`. */
export interface ParamsLayout {
  /** The struct's name (usually `Params`). */
  struct: string;
  /** The uniform variable's name (usually `p`). */
  variable: string;
  fields: readonly ParamField[];
  /** Bytes to upload: the struct size rounded up to 16. */
  size: number;
}

/** An `@compute` entry point. */
export interface KernelEntry {
  name: string;
  /** `@workgroup_size` arguments as written (literals, `const` or `override` names). */
  workgroupSize: readonly string[];
  /** Bindings (by name) the entry point or a function it calls refers to. */
  bindings: ReadonlySet<string>;
  /** Uniform fields (by name) the entry point or a function it calls reads. */
  params: ReadonlySet<string>;
}

/** Everything {@link parseWgsl} reads from a module. */
export interface WgslModule {
  bindings: KernelBinding[];
  params: ParamsLayout | null;
  /** Why the uniform struct could not be laid out (an unsupported field type), when it could not. */
  paramsError: string | null;
  entries: Map<string, KernelEntry>;
  /** Module-scope `const NAME = <literal>` values. */
  consts: Record<string, number>;
  /** `override NAME [= <literal>]` declarations and their defaults (undefined when none). */
  overrides: Record<string, number | boolean | undefined>;
}

/** Replaces comments with spaces (keeping offsets and line numbers). */
function stripComments(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    if (source.startsWith('//', i)) {
      const end = source.indexOf('\n', i);
      const stop = end < 0 ? source.length : end;
      out += ' '.repeat(stop - i);
      i = stop;
    } else if (source.startsWith('/*', i)) {
      // Block comments nest in WGSL.
      let depth = 0;
      let j = i;
      while (j < source.length) {
        if (source.startsWith('/*', j)) {
          depth++;
          j += 2;
        } else if (source.startsWith('*/', j)) {
          depth--;
          j += 2;
          if (depth === 0) break;
        } else j++;
      }
      out += source.slice(i, j).replace(/[^\n]/g, ' ');
      i = j;
    } else {
      out += source[i++];
    }
  }
  return out;
}

function lineOf(code: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (code.charCodeAt(i) === 10) line++;
  return line;
}

/** Index of the bracket closing the one at `open` (`(`/`{`/`<`), or -1. */
function matching(code: string, open: number): number {
  const o = code[open];
  const c = o === '(' ? ')' : o === '{' ? '}' : '>';
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === o) depth++;
    else if (code[i] === c && --depth === 0) return i;
  }
  return -1;
}

/** Value of a WGSL literal (`256u`, `0xffffffffu`, `-3.0e38`, `true`), or undefined for anything else. */
export function parseLiteral(text: string): number | boolean | undefined {
  const t = text.trim();
  if (t === 'true') return true;
  if (t === 'false') return false;
  const hex = /^(-?)0[xX]([0-9a-fA-F]+)[iu]?$/.exec(t);
  if (hex) return (hex[1] ? -1 : 1) * parseInt(hex[2], 16);
  const int = /^-?\d+[iu]?$/.exec(t);
  if (int) return parseInt(t, 10);
  const float = /^-?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?[fh]?$/.exec(t);
  if (float) return parseFloat(t.replace(/[fh]$/, ''));
  return undefined;
}

const SCALARS: Record<string, ScalarType> = { u32: 'u32', i32: 'i32', f32: 'f32' };
const SHORT_VECTOR = /^vec([234])([uif])$/;
const VECTOR = /^vec([234])\s*<\s*(u32|i32|f32)\s*>$/;
const ARRAY = /^array\s*<(.+),\s*([^,<>]+)>$/;

interface Placed {
  scalar: ScalarType;
  align: number;
  size: number;
  /** Byte offsets of the scalars inside the value. */
  offsets: number[];
}

/** Alignment, size and scalar offsets of a host-shareable type in the uniform address space. */
function placeType(type: string, consts: Record<string, number>, where: () => string): Placed {
  const t = type.trim();
  if (SCALARS[t]) return { scalar: SCALARS[t], align: 4, size: 4, offsets: [0] };
  const short = SHORT_VECTOR.exec(t);
  const long = VECTOR.exec(t);
  if (short || long) {
    const n = Number((short ?? long)![1]);
    const scalar: ScalarType = short ? (({ u: 'u32', i: 'i32', f: 'f32' }) as const)[short[2] as 'u' | 'i' | 'f'] : (long![2] as ScalarType);
    return { scalar, align: n === 2 ? 8 : 16, size: n * 4, offsets: Array.from({ length: n }, (_, i) => i * 4) };
  }
  const array = ARRAY.exec(t);
  if (array) {
    const element = placeType(array[1], consts, where);
    const lengthText = array[2].trim();
    const length = parseLiteral(lengthText) ?? consts[lengthText];
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 1) {
      throw new ScratchGPTError('format', `scratchgpt: ${where()}: cannot read the length of ${t} (a literal or a const)`);
    }
    const stride = Math.ceil(element.size / element.align) * element.align;
    if (stride % 16 !== 0) {
      throw new ScratchGPTError('format', `scratchgpt: ${where()}: ${t} in a uniform block needs a 16-byte element stride (use an array of vec4)`);
    }
    const offsets: number[] = [];
    for (let i = 0; i < length; i++) for (const o of element.offsets) offsets.push(i * stride + o);
    return { scalar: element.scalar, align: Math.max(16, element.align), size: length * stride, offsets };
  }
  throw new ScratchGPTError('format', `scratchgpt: ${where()}: unsupported uniform field type ${t} (use u32/i32/f32, vecN of them, or arrays of vec4)`);
}

/**
 * Lays out the fields of `struct` as WGSL does in the uniform address space: scalars 4-byte aligned,
 * vec2 8, vec3/vec4 16, arrays 16 with a 16-byte element stride; `@align(n)`/`@size(n)` honoured.
 */
export function layoutStruct(kernelName: string, body: string, struct: string, variable: string, consts: Record<string, number>): ParamsLayout {
  const fields: ParamField[] = [];
  let offset = 0;
  let structAlign = 4;
  // Split on top-level commas (array<vec4u, 2> holds one).
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    const ch = body[i];
    if (ch === '<' || ch === '(') depth++;
    else if (ch === '>' || ch === ')') depth--;
    else if ((ch === ',' && depth === 0) || i === body.length) {
      if (body.slice(start, i).trim()) parts.push(body.slice(start, i).trim());
      start = i + 1;
    }
  }
  for (const part of parts) {
    const m = /^((?:@\w+\s*\([^)]*\)\s*)*)(\w+)\s*:\s*([\s\S]+)$/.exec(part);
    if (!m) throw new ScratchGPTError('format', `scratchgpt: kernel '${kernelName}': cannot read field '${part}' of struct ${struct}`);
    const [, attrs, name, type] = m;
    const where = () => `kernel '${kernelName}' struct ${struct} field '${name}'`;
    const placed = placeType(type, consts, where);
    const alignAttr = /@align\s*\(\s*(\d+)\s*\)/.exec(attrs);
    const sizeAttr = /@size\s*\(\s*(\d+)\s*\)/.exec(attrs);
    const align = alignAttr ? Number(alignAttr[1]) : placed.align;
    const size = sizeAttr ? Number(sizeAttr[1]) : placed.size;
    offset = Math.ceil(offset / align) * align;
    fields.push({
      name,
      type: type.trim(),
      scalar: placed.scalar,
      count: placed.offsets.length,
      offsets: placed.offsets.map((o) => offset + o),
      offset,
      size,
      pad: name.startsWith('_pad'),
    });
    offset += size;
    structAlign = Math.max(structAlign, align);
  }
  const structSize = Math.ceil(offset / structAlign) * structAlign;
  return { struct, variable, fields, size: Math.max(16, Math.ceil(structSize / 16) * 16) };
}

/** Reads the group-0 binding declarations of a WGSL module. */
export function parseBindings(name: string, source: string): KernelBinding[] {
  return readBindings(name, stripComments(source));
}

function readBindings(name: string, code: string): KernelBinding[] {
  const found = new Map<number, KernelBinding>();
  for (const match of code.matchAll(/((?:@\w+\s*\(\s*\w+\s*\)\s*)+)var\s*<([^>]*)>\s*(\w+)/g)) {
    const attrs = match[1];
    const binding = /@binding\s*\(\s*(\d+)\s*\)/.exec(attrs);
    const group = /@group\s*\(\s*(\d+)\s*\)/.exec(attrs);
    if (!binding || (group && group[1] !== '0')) continue;
    const [space, access] = match[2].split(',').map((p) => p.trim());
    const type = space === 'uniform' ? 'uniform' : access === 'read_write' ? 'storage' : 'read-only-storage';
    const index = Number(binding[1]);
    if (found.has(index)) {
      throw new ScratchGPTError('format', `scratchgpt: kernel '${name}' declares @binding(${index}) twice (line ${lineOf(code, match.index ?? 0)})`);
    }
    found.set(index, { binding: index, name: match[3], type });
  }
  return [...found.values()].sort((a, b) => a.binding - b.binding);
}

interface FunctionText {
  name: string;
  attrs: string;
  /** The parameter list between the parentheses. */
  params: string;
  /** Body text between the braces. */
  body: string;
  /** [start of the attributes, end of the body] in the code. */
  span: [number, number];
}

function readFunctions(code: string): FunctionText[] {
  const out: FunctionText[] = [];
  const re = /((?:@\w+(?:\s*\([^)]*\))?\s*)*)\bfn\s+(\w+)\s*\(/g;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    const open = m.index + m[0].length - 1;
    const close = matching(code, open);
    const brace = close < 0 ? -1 : code.indexOf('{', close);
    const end = brace < 0 ? -1 : matching(code, brace);
    if (end < 0) break;
    out.push({ name: m[2], attrs: m[1], params: code.slice(open + 1, close), body: code.slice(brace + 1, end), span: [m.index, end + 1] });
    re.lastIndex = end + 1;
  }
  return out;
}

/** Identifiers in `text` that are not member accesses (`.x`). */
function identifiers(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/(?<!\.\s*)(?<!\w)([A-Za-z_]\w*)/g)) out.add(m[1]);
  return out;
}

/** Parses a WGSL module's ABI: bindings, the uniform struct, entry points, consts and overrides. */
export function parseWgsl(name: string, source: string): WgslModule {
  const code = stripComments(source);
  const bindings = readBindings(name, code);
  const functions = readFunctions(code);

  // Module scope: the code with function bodies blanked out.
  let moduleCode = code;
  for (const f of functions) moduleCode = moduleCode.slice(0, f.span[0]) + ' '.repeat(f.span[1] - f.span[0]) + moduleCode.slice(f.span[1]);

  const consts: Record<string, number> = {};
  for (const m of moduleCode.matchAll(/\bconst\s+(\w+)\s*(?::\s*[^=;]+)?=\s*([^;]+);/g)) {
    const value = parseLiteral(m[2]) ?? consts[m[2].trim()];
    if (typeof value === 'number') consts[m[1]] = value;
  }
  const overrides: Record<string, number | boolean | undefined> = {};
  for (const m of moduleCode.matchAll(/\boverride\s+(\w+)\s*(?::\s*[^=;]+)?(?:=\s*([^;]+))?;/g)) {
    overrides[m[1]] = m[2] === undefined ? undefined : parseLiteral(m[2]);
  }

  let params: ParamsLayout | null = null;
  let paramsError: string | null = null;
  const uniform = bindings.find((b) => b.binding === 0 && b.type === 'uniform');
  if (uniform) {
    const decl = new RegExp(`var\\s*<\\s*uniform\\s*>\\s*${uniform.name}\\s*:\\s*(\\w+)`).exec(moduleCode);
    const structName = decl?.[1];
    const struct = structName ? new RegExp(`\\bstruct\\s+${structName}\\s*\\{`).exec(moduleCode) : null;
    if (structName && struct) {
      const open = struct.index + struct[0].length - 1;
      try {
        params = layoutStruct(name, moduleCode.slice(open + 1, matching(moduleCode, open)), structName, uniform.name, consts);
      } catch (e) {
        // Kernels with such a struct still work through `dispatch` and `Uniforms`; `launch` reports this.
        paramsError = (e as Error).message;
      }
    }
  }

  // What each function refers to directly, then the closure over the functions it calls.
  const byName = new Map(functions.map((f) => [f.name, f]));
  const direct = new Map<string, { calls: string[]; bindings: Set<string>; params: Set<string> }>();
  const bindingNames = new Set(bindings.filter((b) => b !== uniform).map((b) => b.name));
  const allFields = params ? params.fields.map((f) => f.name) : [];
  for (const f of functions) {
    // Parameters and locals shadow module-scope names of the same spelling.
    const shadowed = new Set([...f.params.matchAll(/(\w+)\s*:/g), ...f.body.matchAll(/\b(?:let|var|const)\s+(\w+)/g)].map((m) => m[1]));
    const ids = new Set([...identifiers(f.body)].filter((id) => !shadowed.has(id)));
    const read = new Set<string>();
    if (uniform && !shadowed.has(uniform.name)) {
      for (const m of f.body.matchAll(new RegExp(`(?<!\\.\\s*)(?<!\\w)${uniform.name}\\s*\\.\\s*(\\w+)`, 'g'))) read.add(m[1]);
      // The whole block used as a value: count every field as read.
      if (new RegExp(`(?<!\\.\\s*)(?<!\\w)${uniform.name}\\b(?!\\s*\\.)`).test(f.body)) allFields.forEach((x) => read.add(x));
    }
    direct.set(f.name, {
      calls: [...ids].filter((id) => byName.has(id) && id !== f.name),
      bindings: new Set([...ids].filter((id) => bindingNames.has(id))),
      params: read,
    });
  }
  const entries = new Map<string, KernelEntry>();
  for (const f of functions) {
    if (!/@compute\b/.test(f.attrs)) continue;
    const size = /@workgroup_size\s*\(([^)]*)\)/.exec(f.attrs);
    const seen = new Set<string>();
    const stack = [f.name];
    const used = { bindings: new Set<string>(), params: new Set<string>() };
    while (stack.length > 0) {
      const fn = stack.pop()!;
      if (seen.has(fn)) continue;
      seen.add(fn);
      const d = direct.get(fn)!;
      d.bindings.forEach((b) => used.bindings.add(b));
      d.params.forEach((p) => used.params.add(p));
      stack.push(...d.calls);
    }
    entries.set(f.name, {
      name: f.name,
      workgroupSize: size ? size[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0) : [],
      bindings: used.bindings,
      params: used.params,
    });
  }
  return { bindings, params, paramsError, entries, consts, overrides };
}
