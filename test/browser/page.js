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
