/**
 * Embedding lookup (shaders/embedding.wgsl): ids i32 `[...]`, weight `[V, C]` → `[..., C]`, with a
 * deterministic scatter-add backward. Tables larger than one storage binding (GPT-2's 50257×768 f32
 * is 154 MB; llvmpipe binds at most 128 MiB) are processed in row ranges.
 * Ids outside [0, V) gather zeros (the GPU cannot throw): check ids from the CPU with {@link checkTokenIds}.
 */
import source from '../../../../shaders/embedding.wgsl';
import { record } from '../engine/graph';
import { zeros } from './creation';
import { chunkElements, defineKernel, launch } from '../engine/kernel';
import { expectDType, fmt, Tensor } from '../engine/tensor';
import { commonWgsl, rowRanges, type RowRange } from './shared';

const kernel = defineKernel('embedding', source, { with: [commonWgsl] });

/** Throws "token id X at position i is out of range for vocabulary size V" for the first bad id. */
export function checkTokenIds(ids: ArrayLike<number>, vocabSize: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`scratchgpt: token id ${id} at position ${i} is out of range for vocabulary size ${vocabSize}`);
    }
  }
}

/** Row ranges of a [V, C] table that each fit one binding, bound from 256-byte-aligned offsets. */
function tableRanges(v: number, c: number): RowRange[] {
  if (c > chunkElements() - 64) throw new Error(`scratchgpt: embedding rows of ${c} floats exceed one storage binding`);
  return rowRanges(v, c);
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
    tableRanges(v, c).forEach((r, k) => {
      launch(kernel, 'forward', {
        params: { n, c, v, row0: r.row0, rows: r.rows, shift: r.shift, first: k === 0 },
        bind: { ids, table: r.bind(weight), rows_out: out },
        items: n * c,
      });
    });
  }
  return record(out, 'embedding', [ids, weight], [ids], (g, [savedIds]) => [null, () => embeddingBackward(savedIds, g, v, c)]);
}

/** dWeight `[V, C]`: the output-gradient rows summed by id. */
function embeddingBackward(ids: Tensor, grad: Tensor, v: number, c: number): Tensor {
  const dw = zeros([v, c]);
  const n = ids.size;
  if (n === 0 || c === 0) return dw;
  for (const r of tableRanges(v, c)) {
    // One invocation per column.
    launch(kernel, 'backward', { params: { n, c, row0: r.row0, rows: r.rows, shift: r.shift }, bind: { ids, table: r.bind(dw), rows_out: grad }, items: c });
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
