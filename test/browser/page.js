// Runs in headless Chromium, served by test/browser.test.ts. Loads the browser bundle of @scratchgpt/core
// (packages/core/dist, mounted at /core/), runs a few ops on inputs chosen by Node and returns the raw
// results; Node compares them with float64 references. Plain JavaScript: the browser runs it unbundled.

/**
 * @typedef {{ data: number[], shape: number[] }} Input
 * @typedef {{ featureLevel?: 'core' | 'compatibility', inputs: Record<string, Input> }} Request
 */

/** @param {Request} request */
async function runOps(request) {
  const core = await import('/core/index.js');
  const exported = Object.keys(core).sort();
  const gpu = await core.init(request.featureLevel ? { featureLevel: request.featureLevel } : {});
  const liveBefore = core.memory().liveTensors;
  const owned = [];
  const own = (t) => (owned.push(t), t);
  const input = (name) => own(core.fromArray(request.inputs[name].data, request.inputs[name].shape));
  const read = async (t) => ({ shape: [...t.shape], data: Array.from(await t.toArray()) });

  const results = {};
  results.fromArray = await read(input('x'));
  results.add = await read(own(core.add(input('a'), input('b'))));
  results.gelu = await read(own(core.gelu(input('g'))));
  // Ops other helpers may still be writing: run them only when the bundle has them.
  if (typeof core.matmul === 'function') results.matmul = await read(own(core.matmul(input('ma'), input('mb'))));
  if (typeof core.softmax === 'function') results.softmax = await read(own(core.softmax(input('s'))));

  let shapeError = '';
  try {
    own(core.add(input('a'), input('bad')));
  } catch (err) {
    shapeError = String(err && err.message);
  }
  for (const t of owned) t.dispose();

  return {
    exported,
    adapterName: gpu.adapterName,
    backend: gpu.backend,
    featureLevel: gpu.featureLevel,
    coreFeature: gpu.adapter.features.has('core-features-and-limits'),
    maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize,
    adapterMaxStorageBufferBindingSize: gpu.adapter.limits.maxStorageBufferBindingSize,
    liveBefore,
    liveAfter: core.memory().liveTensors,
    shapeError,
    results,
  };
}

window.runOps = runOps;

/**
 * Trains a small MLP (Linear 4→32 → GELU → Linear 32→1) with AdamW on y = x0·x1 − x2 + 0.5·x3,
 * entirely in the page; returns the first and last losses and the memory counters.
 * @param {{ steps: number }} request
 */
async function trainMLP({ steps }) {
  const core = await import('/core/index.js');
  await core.init();
  const model = new core.Sequential(new core.Linear(4, 32, { seed: 1 }), new core.GELU(), new core.Linear(32, 1, { seed: 3 }));
  const opt = new core.AdamW(model.namedParameters(), { lr: 1e-2, weightDecay: 0 });
  const xs = Array.from({ length: 64 * 4 }, (_, i) => Math.sin(i * 1.7));
  const ys = Array.from({ length: 64 }, (_, i) => xs[i * 4] * xs[i * 4 + 1] - xs[i * 4 + 2] + 0.5 * xs[i * 4 + 3]);
  const x = core.fromArray(xs, [64, 4]);
  const y = core.fromArray(ys, [64, 1]);
  const losses = [];
  let liveAfterFirst = 0;
  for (let i = 0; i < steps; i++) {
    const loss = core.scope(() => {
      const d = core.sub(model.forward(x), y);
      const l = core.mean(core.mul(d, d));
      l.backward();
      opt.step();
      return l;
    });
    opt.zeroGrad();
    if (i === 0 || i === steps - 1) losses.push(await loss.item());
    loss.dispose();
    if (i === 0) liveAfterFirst = core.memory().liveTensors;
  }
  const liveAfterLast = core.memory().liveTensors;
  for (const t of [x, y]) t.dispose();
  opt.dispose();
  model.dispose();
  return { first: losses[0], last: losses[1], liveAfterFirst, liveAfterLast };
}

window.trainMLP = trainMLP;
