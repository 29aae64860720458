/**
 * Custom ops: register your own WGSL kernel as a differentiable op. The library allocates the output,
 * fills the uniform block, binds the buffers, sizes the dispatch, caches the pipeline and records the
 * autograd node — the same machinery the built-in ops use (`defineKernel` + `dispatch` + `record`).
 *
 * Binding layout your WGSL must declare (k = number of inputs):
 * ```wgsl
 * struct Params { n: u32, rank: u32, _pad0: u32, _pad1: u32, shape: array<vec4u, 2>, scalars: vec4f }
 * @group(0) @binding(0) var<uniform> params: Params;   // n = output elements, shape = output dims
 * @group(0) @binding(1..k) var<storage, read> in_i: array<f32>;          // inputs, in call order
 * @group(0) @binding(k+1) var<storage, read_write> out: array<f32>;      // output
 * // entry `backward` only (WGSL backward):
 * @group(0) @binding(k+2) var<storage, read> grad_out: array<f32>;      // dL/d(out)
 * @group(0) @binding(k+3..2k+2) var<storage, read_write> grad_i: array<f32>; // dL/d(in_i), same shape as in_i
 * ```
 * Entry points: `forward` (one invocation per output element when `workgroupSize` is 64: index
 * `gid.x + gid.y * nwg.x * 64u`) and optionally `backward` (one invocation per output element).
 * The `out` binding is also bound (read-only use is fine) in `backward`.
 */
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { defineKernel, dispatch, grid, MAX_RANK, Uniforms, type Kernel } from '../engine/kernel';
import { expectDType, fmt, Tensor, type DType, type Shape } from '../engine/tensor';

export interface CustomOpSpec {
  /** Unique name (keys the pipeline cache). */
  name: string;
  /** WGSL source with entry point `forward` (and `backward` when `backward: 'wgsl'`). */
  wgsl: string;
  /** Output shape from the input shapes (default: the first input's shape). */
  outputShape?: (...shapes: Shape[]) => Shape;
  /** Output dtype (default f32). */
  outputDType?: DType;
  /** Invocations per workgroup of your entry points (default: read from each entry's `@workgroup_size`, else 64). */
  workgroupSize?: number;
  /**
   * Gradient rule: `'wgsl'` runs your `backward` entry point (inputs must have the output's shape), a
   * function composes existing ops, and omitting it makes the op non-differentiable. A function
   * returns one gradient per input (`null`: none flows to it), in the input's shape or broadcast
   * to the output's (it is summed down); it need not free its temporaries.
   */
  backward?: 'wgsl' | ((grad: Tensor, inputs: readonly Tensor[], output: Tensor) => (Tensor | null)[]);
}

/** A registered custom op: call it with input tensors and up to four f32 scalars (`params.scalars`). */
export type CustomOp = (inputs: Tensor[], scalars?: readonly number[]) => Tensor;

function uniformsFor(out: Tensor, scalars: readonly number[]): Uniforms {
  if (out.rank > MAX_RANK) throw new ScratchGPTError('limit', `scratchgpt: custom op output rank ${out.rank} exceeds ${MAX_RANK}`);
  if (scalars.length > 4) throw new ScratchGPTError('limit', `scratchgpt: custom ops take at most 4 scalars, got ${scalars.length}`);
  const s = [...scalars, 0, 0, 0, 0].slice(0, 4);
  return new Uniforms().u32(out.size, out.rank).align16().dims(out.shape).f32(...s);
}

/**
 * Registers a custom op.
 * @example
 * ```ts
 * const silu = defineOp({
 *   name: 'silu',
 *   backward: 'wgsl',
 *   wgsl: `
 *     struct Params { n: u32, rank: u32, _pad0: u32, _pad1: u32, shape: array<vec4u, 2>, scalars: vec4f }
 *     @group(0) @binding(0) var<uniform> params: Params;
 *     @group(0) @binding(1) var<storage, read> x: array<f32>;
 *     @group(0) @binding(2) var<storage, read_write> y: array<f32>;
 *     @group(0) @binding(3) var<storage, read> gy: array<f32>;
 *     @group(0) @binding(4) var<storage, read_write> gx: array<f32>;
 *     fn sig(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
 *     @compute @workgroup_size(64) fn forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
 *       let i = g.x + g.y * nwg.x * 64u;
 *       if (i < params.n) { y[i] = x[i] * sig(x[i]); }
 *     }
 *     @compute @workgroup_size(64) fn backward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
 *       let i = g.x + g.y * nwg.x * 64u;
 *       if (i < params.n) { let s = sig(x[i]); gx[i] = gy[i] * s * (1.0 + x[i] * (1.0 - s)); }
 *     }`,
 * });
 * const y = silu([x]);
 * ```
 */
export function defineOp(spec: CustomOpSpec): CustomOp {
  const kernel: Kernel = defineKernel(`custom:${spec.name}`, spec.wgsl);
  const wg = (entry: string): number => {
    if (spec.workgroupSize !== undefined) return spec.workgroupSize;
    try {
      return kernel.workgroupSize(entry);
    } catch {
      return 64; // a size the WGSL computes with an expression
    }
  };
  const dtype = spec.outputDType ?? 'f32';

  const wgslBackward = (grad: Tensor, inputs: readonly Tensor[], output: Tensor, scalars: readonly number[]): Tensor[] => {
    const grads = inputs.map((t) => {
      if (t.size !== output.size) {
        throw new ScratchGPTError('shape', `scratchgpt: custom op '${spec.name}': a WGSL backward needs inputs shaped like the output; got ${fmt(t.shape)} vs ${fmt(output.shape)}`);
      }
      return Tensor.empty(t.shape, 'f32');
    });
    dispatch(kernel, {
      entry: 'backward',
      uniforms: uniformsFor(output, scalars),
      storage: [...inputs, output, grad, ...grads],
      workgroups: grid(output.size, wg('backward')),
    });
    return grads;
  };

  return (inputs: Tensor[], scalars: readonly number[] = []) => {
    if (inputs.length === 0) throw new ScratchGPTError('value', `scratchgpt: custom op '${spec.name}' needs at least one input`);
    const shape = spec.outputShape ? spec.outputShape(...inputs.map((t) => t.shape)) : inputs[0].shape;
    const out = Tensor.empty(shape, dtype);
    dispatch(kernel, {
      entry: 'forward',
      uniforms: uniformsFor(out, scalars),
      storage: [...inputs, out],
      workgroups: grid(out.size, wg('forward')),
    });
    const rule = spec.backward;
    if (!rule) return out;
    for (const t of inputs) if (t.requiresGrad) expectDType(spec.name, t, 'f32');
    // The output is saved too: rules may use it (e.g. y = exp(x) ⇒ dx = dy·y).
    const outView = out.retainView();
    const recorded = record(out, spec.name, inputs, [...inputs, outView], (g, saved) => {
      const ins = saved.slice(0, inputs.length);
      const o = saved[inputs.length];
      // Both forms compute every input's gradient at once (the engine runs this in a scope and keeps
      // the ones it needs); null means none flows to that input.
      const grads = rule === 'wgsl' ? wgslBackward(g, ins, o, scalars) : rule(g, ins, o);
      return inputs.map((_, k) => {
        const grad = grads[k];
        return grad ? () => grad : null;
      });
    });
    outView.dispose();
    return recorded;
  };
}
