/**
 * Embedding lookup (shaders/embedding.wgsl): ids i32 `[...]`, weight `[V, C]` → `[..., C]`, with a
 * deterministic scatter-add backward. Tables larger than one storage binding (GPT-2's 50257×768 f32
 * is 154 MB; llvmpipe binds at most 128 MiB) are processed in row ranges.
 * Ids outside [0, V) gather zeros (the GPU cannot throw): check ids from the CPU with {@link checkTokenIds}.
 */
import source from '../../../../shaders/embedding.wgsl';
import { record } from '../autograd';
import { zeros } from './creation';
import { chunkElements, defineKernel, dispatch, grid, Uniforms, type StorageBinding } from '../engine/kernel';
import { expectDType, fmt, Tensor } from '../engine/tensor';

const kernel = defineKernel('embedding', source);

/** Throws "token id X at position i is out of range for vocabulary size V" for the first bad id. */
export function checkTokenIds(ids: ArrayLike<number>, vocabSize: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`scratchgpt: token id ${id} at position ${i} is out of range for vocabulary size ${vocabSize}`);
    }
  }
}

interface RowRange {
  row0: number;
  rows: number;
  shift: number;
  binding: StorageBinding;
}

/** Row ranges of a [V, C] table that each fit one binding, bound from 256-byte-aligned offsets. */
function rowRanges(table: Tensor, v: number, c: number): RowRange[] {
  const maxElems = chunkElements();
  if (c > maxElems - 64) throw new Error(`scratchgpt: embedding rows of ${c} floats exceed one storage binding`);
  const perPass = Math.max(1, Math.floor((maxElems - 64) / Math.max(c, 1)));
  const out: RowRange[] = [];
  for (let row0 = 0; row0 < v; row0 += perPass) {
    const rows = Math.min(perPass, v - row0);
    const first = row0 * c;
    const alignedStart = Math.floor(first / 64) * 64;
    const shift = first - alignedStart;
    out.push({ row0, rows, shift, binding: { tensor: table, offset: alignedStart * 4, size: Math.max(4, (shift + rows * c) * 4) } });
  }
  return out;
}

function params(n: number, c: number, v: number, r: RowRange, first: boolean): Uniforms {
  return new Uniforms().u32(n, c, v, r.row0, r.rows, r.shift, first ? 1 : 0, 0);
}

/** Rows of `weight` `[V, C]` picked by `ids` (i32, any shape) → `[...ids.shape, C]`. */
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  expectDType('embedding ids', ids, 'i32');
  expectDType('embedding weight', weight, 'f32');
  if (weight.rank !== 2) throw new Error(`scratchgpt: embedding weight must be [V, C], got ${fmt(weight.shape)}`);
  const [v, c] = weight.shape;
  const n = ids.size;
  const out = Tensor.empty([...ids.shape, c], 'f32');
  if (n > 0 && c > 0) {
    rowRanges(weight, v, c).forEach((r, k) => {
      dispatch(kernel, { entry: 'forward', uniforms: params(n, c, v, r, k === 0), storage: [ids, r.binding, out], workgroups: grid(n * c, 256) });
    });
  }
  return record(out, 'embedding', [ids, weight], [ids], (g, [savedIds]) => [null, embeddingBackward(savedIds, g, v, c)]);
}

/** dWeight `[V, C]`: the output-gradient rows summed by id. */
function embeddingBackward(ids: Tensor, grad: Tensor, v: number, c: number): Tensor {
  const dw = zeros([v, c]);
  const n = ids.size;
  if (n === 0 || c === 0) return dw;
  for (const r of rowRanges(dw, v, c)) {
    dispatch(kernel, { entry: 'backward', uniforms: params(n, c, v, r, false), storage: [ids, r.binding, grad], workgroups: grid(c, 64) });
  }
  return dw;
}

/** float64 reference: flat ids, table `[V·C]` → `[n·C]` (zeros for out-of-range ids). */
export function embeddingRef(ids: ArrayLike<number>, table: ArrayLike<number>, v: number, c: number): Float64Array {
  const out = new Float64Array(ids.length * c);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= v) continue;
    for (let j = 0; j < c; j++) out[i * c + j] = table[id * c + j];
  }
  return out;
}
