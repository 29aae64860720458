/**
 * Device loss (issue 10, item 11), in a file of its own because it destroys the process's device:
 * a readback in flight and every later use name the loss and its reason, `init()` recovers with a
 * new device on which everything (memory pool, pipelines, bind groups, the queue's recording and
 * uniform arena, the error reports) works again, and tensors of the lost device say so.
 */
import { describe, expect, it } from 'vitest';
import {
  AdamW,
  crossEntropy,
  destroyGpu,
  embedding,
  fromArray,
  full,
  gpu,
  init,
  Linear,
  matmul,
  memory,
  randn,
  scope,
  sync,
} from '../src/node';

/** One AdamW step of a tiny linear classifier, returning the loss (exercises pool, pipelines, bind groups, arena). */
async function trainingStep(layer: Linear, optimizer: AdamW): Promise<number> {
  const loss = scope(() => crossEntropy(layer.forward(randn([4, 6], { seed: 1 })), fromArray([0, 2, 1, 2], [4], { dtype: 'i32' })));
  loss.backward();
  optimizer.step();
  optimizer.zeroGrad();
  const value = await loss.item();
  loss.dispose();
  return value;
}

describe('device loss', () => {
  it('names the loss and its reason, and init() recovers with a working new device', async () => {
    const first = await init();
    const x = fromArray([1, 2, 3]);
    const pending = x.toArray();
    first.device.destroy(); // what a driver reset looks like to the library (dawn.node supports it)
    await expect(pending).rejects.toThrow(/^scratchgpt: a readback belongs to a GPU device that was lost \(destroyed: device was destroyed\); call `await init\(\)`/);

    // Every later use says what happened (not "call init() first").
    expect(() => full([2], 1)).toThrow(/^scratchgpt: the GPU device was lost \(destroyed: device was destroyed\); call `await init\(\)` again for a new device/);

    const second = await init();
    expect(second.device).not.toBe(first.device);
    expect(gpu()).toBe(second);

    // Tensors of the lost device: a clear error, and disposing them does not disturb the counters.
    await expect(x.toArray()).rejects.toThrow(/this tensor of shape \[3\] \(f32\) belongs to a GPU device that was lost \(destroyed: device was destroyed\); call `await init\(\)` for a new device, then recreate/);
    expect(() => matmul(x.reshape([1, 3]), fromArray([1, 1, 1], [3, 1]))).toThrow(/belongs to a GPU device that was lost/);
    x.dispose();

    // The new device works: pool, pipelines, bind groups, arena, error reports.
    full([1], 0).dispose(); // the first allocation on the new device resets the counters
    const baseline = memory();
    expect(baseline.liveBuffers).toBe(0);
    const layer = new Linear(6, 3);
    const optimizer = new AdamW(layer.parameters(), { lr: 1e-2 });
    const losses = [];
    for (let i = 0; i < 3; i++) losses.push(await trainingStep(layer, optimizer));
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[2]).toBeLessThan(losses[0]);
    await scope(async () => {
      const bad = embedding(fromArray([9], [1], { dtype: 'i32' }), full([3, 2], 1));
      await expect(bad.toArray()).rejects.toThrow(/embedding: token id 9 at position 0 of the ids is out of range for vocabulary size 3/);
    });
    optimizer.dispose();
    layer.dispose();
    await sync();
    expect(memory().liveBytes).toBe(baseline.liveBytes);
  });

  it('destroyGpu() then use: the tensor names why, and init() gives a new device', async () => {
    await init();
    const t = full([2, 2], 3);
    destroyGpu();
    expect(() => t.buffer).toThrow(/this tensor of shape \[2, 2\] \(f32\) belongs to a GPU device that was lost \(destroyed: destroyGpu\(\) was called\)/);
    await init();
    expect(Array.from(await full([2], 5).toArray())).toEqual([5, 5]);
    t.dispose();
  });
});
