import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineOp, init, memory, mul, mulScalar, pipelineCount, ScratchGPTError, type Tensor } from '../src/node';
import { gradcheck } from '../src/testing';
import { checkGradients, expectClose, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

const header = /* wgsl */ `
struct Params { n: u32, rank: u32, _pad0: u32, _pad1: u32, shape: array<vec4u, 2>, scalars: vec4f }
@group(0) @binding(0) var<uniform> params: Params;
`;

const silu = defineOp({
  name: 'test_silu',
  backward: 'wgsl',
  wgsl: `${header}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;
fn sig(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
@compute @workgroup_size(64) fn forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 64u;
  if (i < params.n) { y[i] = x[i] * sig(x[i]); }
}
@compute @workgroup_size(64) fn backward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 64u;
  if (i < params.n) { let s = sig(x[i]); gx[i] = gy[i] * s * (1.0 + x[i] * (1.0 - s)); }
}`,
});

const siluRef = (v: number) => v / (1 + Math.exp(-v));

// y = scalars.x * a * b, with a backward composed from built-in ops.
const scaledProduct = defineOp({
  name: 'test_scaled_product',
  wgsl: `${header}
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 64u;
  if (i < params.n) { y[i] = params.scalars.x * a[i] * b[i]; }
}`,
  backward: (grad, [a, b]) => {
    const ga = mul(grad, b);
    const gb = mul(grad, a);
    const sa = mulScalar(ga, 3);
    const sb = mulScalar(gb, 3);
    ga.dispose();
    gb.dispose();
    return [sa, sb];
  },
});

describe('custom WGSL ops', () => {
  it('SiLU forward matches the float64 reference on odd shapes', async () => {
    for (const shape of [[1], [13], [3, 67], [2, 5, 7]]) {
      const { t, data } = randomTensor(shape, 3, -6, 6);
      const y = silu([t]);
      expect(y.shape).toEqual(shape);
      expectClose(await y.toArray(), Array.from(data, siluRef), { rtol: 1e-5, atol: 1e-6, label: `silu ${shape}` });
    }
  });
  it('SiLU WGSL backward passes the finite-difference check', async () => {
    await checkGradients({ label: 'silu', shapes: [[37]], low: -4, high: 4, gpu: ([x]) => silu([x]), ref: ([x]) => x.map(siluRef) });
  });
  it('composed backward and scalars', async () => {
    await checkGradients({
      label: 'scaled product',
      shapes: [[5, 3], [5, 3]],
      gpu: ([a, b]) => scaledProduct([a, b], [3]),
      ref: ([a, b]) => a.map((v, i) => 3 * v * b[i]),
    });
  });
  it('new shapes reuse the compiled pipeline', async () => {
    const { t } = randomTensor([11], 1);
    silu([t]);
    const before = pipelineCount();
    const { t: u } = randomTensor([4, 129], 2);
    await silu([u]).toArray();
    expect(pipelineCount()).toBe(before);
  });
  it('rejects a name reused with different WGSL', () => {
    expect(() => defineOp({ name: 'test_silu', wgsl: '// other' })).toThrow(/already defined/);
  });
});

describe('gradcheck (@scratchgpt/core/testing)', () => {
  // The README's custom SiLU op, WGSL taken from the README itself.
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const wgsl = /const silu = defineOp\(\{[\s\S]*?wgsl: \/\* wgsl \*\/ `([\s\S]*?)`,\n\}\);/.exec(readme)?.[1];

  it("passes the README's SiLU, frees what it allocates and leaves the inputs' gradients alone", async () => {
    // Both entry points (`backward: 'wgsl'`), not just any text between the README's backticks.
    expect(wgsl, "the README's SiLU example").toMatch(/@compute[\s\S]*\bfn forward\([\s\S]*@compute[\s\S]*\bfn backward\(/);
    const readmeSilu = defineOp({ name: 'readme_silu', backward: 'wgsl', wgsl: wgsl! });
    const { t: x } = randomTensor([37], 4, -3, 3);
    x.requireGrad();
    const before = memory();
    const report = await gradcheck((inputs: Tensor[]) => readmeSilu(inputs), [x]);
    expect(report.ok).toBe(true);
    expect(report.inputs.map((r) => r.index)).toEqual([0]);
    expect(report.inputs[0].maxAbsError).toBeLessThan(1e-3);
    expect(x.grad).toBeNull();
    expect(memory().liveTensors).toBe(before.liveTensors);
    expect(memory().liveBuffers).toBe(before.liveBuffers);
    x.dispose();
  });

  it('catches a wrong backward: throws code check, or reports it', async () => {
    // The derivative of SiLU without the x·σ'(x) term.
    const wrong = defineOp({ name: 'wrong_silu', backward: 'wgsl', wgsl: wgsl!.replace('gx[i] = gy[i] * s * (1.0 + x[i] * (1.0 - s));', 'gx[i] = gy[i] * s;') });
    const { t: x } = randomTensor([11], 5, -3, 3);
    x.requireGrad();
    await expect(gradcheck((inputs: Tensor[]) => wrong(inputs), [x])).rejects.toThrow(ScratchGPTError);
    await expect(gradcheck((inputs: Tensor[]) => wrong(inputs), [x])).rejects.toMatchObject({ code: 'check', message: expect.stringMatching(/gradcheck: input 0: element/) });
    const report = await gradcheck((inputs: Tensor[]) => wrong(inputs), [x], { throwOnFailure: false });
    expect(report.ok).toBe(false);
    expect(report.inputs[0].message).toMatch(/element \d+: got/);
    x.dispose();
  });

  it('composed backwards with several inputs, and a clear error when nothing requires grad', async () => {
    const a = randomTensor([5, 3], 6).t.requireGrad();
    const b = randomTensor([5, 3], 7).t.requireGrad();
    const report = await gradcheck((inputs: Tensor[]) => scaledProduct(inputs, [3]), [a, b]);
    expect(report.inputs.map((r) => r.index)).toEqual([0, 1]);
    const c = randomTensor([3], 8).t;
    await expect(gradcheck((inputs: Tensor[]) => silu(inputs), [c])).rejects.toMatchObject({ code: 'value', message: expect.stringMatching(/no input requires grad/) });
    for (const t of [a, b, c]) t.dispose();
  });
});

