/**
 * Autograd and nn with @scratchgpt/core: fit y = sin(3x) with a two-layer MLP and AdamW, on the GPU.
 * Run: `pnpm example examples/autograd.ts` (or, in an app that installed the packages, bundle/run it).
 */
import { AdamW, GELU, Linear, Sequential, fromArray, init, mean, memory, mul, scope, sub, warmupCosine } from '@scratchgpt/core';

const gpu = await init();
console.log(`adapter: ${gpu.adapterName} (${gpu.featureLevel})`);

const N = 128;
const xs = Array.from({ length: N }, (_, i) => (2 * i) / (N - 1) - 1);
const x = fromArray(xs, [N, 1]);
const y = fromArray(xs.map((v) => Math.sin(3 * v)), [N, 1]);

const model = new Sequential(new Linear(1, 32, { seed: 1 }), new GELU(), new Linear(32, 1, { seed: 3 }));
const opt = new AdamW(model.namedParameters(), { lr: 1e-2, weightDecay: 0 });
const steps = 300;
const schedule = warmupCosine({ peakLr: 2e-2, initialLr: 1e-3, minLr: 1e-3, warmupSteps: 20, totalSteps: steps });
const live = memory().liveTensors;

for (let step = 0; step < steps; step++) {
  opt.lr = schedule(step);
  // scope() frees every intermediate tensor of the step except the returned loss.
  const loss = scope(() => {
    const d = sub(model.forward(x), y);
    const l = mean(mul(d, d));
    l.backward(); // gradients accumulate in each parameter's .grad
    opt.step();
    return l;
  });
  opt.zeroGrad();
  if (step % 100 === 0 || step === steps - 1) console.log(`step ${step}: mse ${(await loss.item()).toFixed(5)}`);
  loss.dispose();
}
console.log(`live tensors unchanged by training: ${memory().liveTensors === live}`);
for (const t of [x, y]) t.dispose();
opt.dispose();
model.dispose();
