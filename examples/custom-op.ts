/**
 * A custom WGSL op with its gradient: SiLU (x·sigmoid(x)) as a differentiable op whose forward and
 * backward are your own compute shaders, used like any built-in op and checked against float64
 * references (forward values, and the gradient against central finite differences).
 */
import { defineOp, fromArray, init, mean, sum } from '@scratchgpt/core';

await init();

const silu = defineOp({
  name: 'example_silu',
  backward: 'wgsl', // runs the `backward` entry point below; or a function composing built-in ops
  wgsl: /* wgsl */ `
    struct Params { n: u32, rank: u32, _pad0: u32, _pad1: u32, shape: array<vec4u, 2>, scalars: vec4f }
    @group(0) @binding(0) var<uniform> params: Params;
    @group(0) @binding(1) var<storage, read> x: array<f32>;
    @group(0) @binding(2) var<storage, read_write> y: array<f32>;
    @group(0) @binding(3) var<storage, read> gy: array<f32>;
    @group(0) @binding(4) var<storage, read_write> gx: array<f32>;
    fn sig(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
    @compute @workgroup_size(64) fn forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
      let i = g.x + g.y * n.x * 64u;
      if (i < params.n) { y[i] = x[i] * sig(x[i]); }
    }
    @compute @workgroup_size(64) fn backward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
      let i = g.x + g.y * n.x * 64u;
      if (i < params.n) { let s = sig(x[i]); gx[i] = gy[i] * s * (1.0 + x[i] * (1.0 - s)); }
    }`,
});

const silu64 = (v: number) => v / (1 + Math.exp(-v));
const values = Array.from({ length: 1000 }, (_, i) => 6 * Math.sin(i * 1.3));
const x = fromArray(values, [10, 100]).requireGrad();
const y = silu([x]);
const loss = mean(y); // d loss / d x_i = silu'(x_i) / n
loss.backward();
const [out, grad] = [await y.toArray(), await x.grad!.toArray()];

let forwardError = 0;
let gradError = 0;
const h = 1e-4;
values.forEach((v, i) => {
  forwardError = Math.max(forwardError, Math.abs(out[i] - silu64(v)));
  const finiteDifference = (silu64(v + h) - silu64(v - h)) / (2 * h) / values.length;
  gradError = Math.max(gradError, Math.abs(grad[i] - finiteDifference));
});
console.log(`forward: max |error| ${forwardError.toExponential(2)} vs float64`);
console.log(`gradient: max |error| ${gradError.toExponential(2)} vs central finite differences`);
const total = sum(y);
console.log(`sum of silu(x): ${(await total.item()).toFixed(3)}`);
for (const t of [x, y, loss, total]) t.dispose();
if (forwardError > 1e-5 || gradError > 1e-7) throw new Error('custom op does not match its references');
