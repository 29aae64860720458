/**
 * Embedding lookup (shaders/embedding.wgsl): ids i32 `[...]`, weight `[V, C]` → `[..., C]`, with a
 * deterministic scatter-add backward. Tables larger than one storage binding (GPT-2's 50257×768 f32
 * is 154 MB; llvmpipe binds at most 128 MiB) are processed in row ranges.
 * Ids outside [0, V) gather zeros and are reported by the kernel: the next readback throws an error
 * naming the id and its position (engine/gpuerrors.ts). Ids from the CPU are best checked before
 * upload with {@link checkTokenIds}, which fails at once.
 */
import source from '../../../../shaders/embedding.wgsl';
import { record } from '../engine/graph';
import { zeros } from './creation';
import { ScratchGPTError } from '../engine/errors';
import { describeGpuError } from '../engine/gpuerrors';
import { chunkElements, defineKernel, launch } from '../engine/kernel';
import { expectDType, fmt, Tensor } from '../engine/tensor';
import type { OpInfo } from './info';
import { commonWgsl, errorsWgsl, rowRanges, type RowRange } from './shared';

const kernel = defineKernel('embedding', source, { with: [commonWgsl, errorsWgsl] });

describeGpuError(
  kernel.consts.ERR_TOKEN_ID,
  'range',
  (r) =>
    `scratchgpt: embedding: token id ${r.value | 0} at position ${r.index} of the ids is out of range for vocabulary size ${r.limit}` +
    (r.count > 1 ? ` (${r.count} out-of-range ids in all)` : '') +
    '; its row was read as zeros',
);

/** Options of {@link checkTokenIds}. */
export interface CheckTokenIdsOptions {
  /** A value allowed besides [0, vocabSize) (for targets: the ignore index, e.g. -100). */
  ignoreIndex?: number;
  /** What the ids are, for the message (default `token id`), e.g. `target id`. */
  what?: string;
  /** Shape `[rows, columns]` of the ids: positions are then also given as row and column. */
  shape?: readonly number[];
}

/**
 * Throws "token id X at position i is out of range for vocabulary size V" for the first id that is
 * not an integer in [0, vocabSize) (nor `ignoreIndex`). Use it where ids come from the CPU.
 * @example
 * ```ts
 * checkTokenIds(batch.inputs, model.config.vocabSize, { shape: batch.shape });
 * checkTokenIds(batch.targets, model.config.vocabSize, { what: 'target id', ignoreIndex: -100 });
 * ```
 */
export function checkTokenIds(ids: ArrayLike<number>, vocabSize: number, options: CheckTokenIdsOptions = {}): void {
  const { ignoreIndex, what = 'token id', shape } = options;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      if (id === ignoreIndex) continue;
      const width = shape && shape.length === 2 ? shape[1] : 0;
      const where = width > 0 ? `position ${i} (row ${Math.floor(i / width)}, column ${i % width})` : `position ${i}`;
      throw new ScratchGPTError('range', `scratchgpt: ${what} ${id} at ${where} is out of range for vocabulary size ${vocabSize}`);
    }
  }
}

/** Row ranges of a [V, C] table that each fit one binding, bound from 256-byte-aligned offsets. */
function tableRanges(v: number, c: number): RowRange[] {
  if (c > chunkElements() - 64) throw new ScratchGPTError('limit', `scratchgpt: embedding rows of ${c} floats exceed one storage binding`);
  return rowRanges(v, c);
}

/** Rows of `weight` `[V, C]` picked by `ids` (i32, any shape) → `[...ids.shape, C]`. */
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  expectDType('embedding ids', ids, 'i32');
  expectDType('embedding weight', weight, 'f32');
  if (weight.rank !== 2) throw new ScratchGPTError('shape', `scratchgpt: embedding weight must be [V, C], got ${fmt(weight.shape)}`);
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

/** Registry entry of embedding (see `ops/info.ts`; GPT-2's 50257-row table and bad ids: test/embedding.test.ts). */
export const embeddingInfo: OpInfo = {
  name: 'embedding',
  samples: [
    [1, 1, [1]],
    [7, 5, [3]],
    [7, 3, [6]],
    [13, 31, [2, 9]],
    [50, 64, [4, 17]],
  ].map(([v, c, idShape]) => ({ shapes: [idShape as number[], [v as number, c as number]] })),
  run: ([ids, weight]) => embedding(ids, weight),
  ref: ([ids, table], [idShape, [v, c]]) => ({ data: embeddingRef(ids, table, v, c), shape: [...idShape, c] }),
  tol: { rtol: 0, atol: 0 },
  dtypes: ['i32', 'f32'],
  // Ids in [0, V), repeated (the backward sums rows by id).
  data: (k, [idShape, [v]], _args, random) => (k === 0 ? random(idShape.reduce((p, d) => p * d, 1), 0, v).map(Math.floor) : undefined),
  differentiable: [false, true],
  dtype: { reject: 'f32', input: 0 },
};

