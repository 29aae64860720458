/**
 * The book's freezing is cheap: with only the last block, the final norm and the head trainable, the
 * frozen trunk records no graph (no saved activations, no gradient kernels). Measured against the same
 * model with everything trainable: live GPU bytes after the forward pass, recorded graph nodes, backward
 * dispatches, and forward+backward time (printed, not asserted: timings on a busy CI machine vary).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, init, manualSeed, memory, pendingCommands, sync, type Tensor } from '@scratchgpt/core/node';
import { GPTModel, gptConfig } from '@scratchgpt/gpt';
import { classificationLoss, GPTClassifier, type ClassificationBatch, type Trainable } from '../src/index';

beforeAll(async () => {
  await init();
});

const config = gptConfig({ vocabSize: 512, contextLength: 64, embDim: 64, nHeads: 4, nLayers: 6, dropRate: 0, qkvBias: true, tieWeights: false });
const B = 8;
const T = 64;

function randomBatch(seed: number): ClassificationBatch {
  let s = seed;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
  const inputs = Int32Array.from({ length: B * T }, () => next() % config.vocabSize);
  const labels = Int32Array.from({ length: B }, () => next() % 2);
  const lengths = Int32Array.from({ length: B }, () => 1 + (next() % T));
  return { inputs, labels, lengths, shape: [B, T] };
}

/** Graph nodes reachable from `root`, and the leaves they read. */
function graphOf(root: Tensor): { nodes: number; leaves: Set<Tensor> } {
  const seen = new Set<Tensor>();
  const leaves = new Set<Tensor>();
  const stack = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (!t.gradNode) {
      leaves.add(t);
      continue;
    }
    stack.push(...t.gradNode.inputs);
  }
  return { nodes: seen.size - leaves.size, leaves };
}

interface Measurement {
  trainable: number;
  bytesAfterForward: number;
  nodes: number;
  backwardCommands: number;
  ms: number;
}

async function measure(trainable: Trainable): Promise<Measurement> {
  manualSeed(11);
  const model = GPTClassifier.fromGPT(new GPTModel(config), { numClasses: 2, trainable, padId: 0, seed: 3 });
  const batch = randomBatch(5);
  await sync();
  const base = memory().liveBytes;

  const loss = classificationLoss(model, batch);
  const bytesAfterForward = memory().liveBytes - base;
  const { nodes, leaves } = graphOf(loss);
  const frozen = model.parameters().filter((p) => !p.requiresGrad);
  // No node reads a frozen parameter: the graph starts at the lowest trainable layer.
  for (const p of frozen) expect(leaves.has(p)).toBe(false);
  flush();
  loss.backward();
  const backwardCommands = pendingCommands();
  await sync();
  for (const p of frozen) expect(p.grad).toBeNull();
  for (const p of model.trainableParameters()) expect(p.grad).not.toBeNull();
  loss.dispose();
  model.zeroGrad();
  expect(memory().liveBytes).toBe(base); // the graph and its saved tensors are gone

  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    const start = performance.now();
    const l = classificationLoss(model, batch);
    l.backward();
    l.dispose();
    await sync();
    times.push(performance.now() - start);
    model.zeroGrad();
  }
  expect(memory().liveBytes).toBe(base); // steps do not grow memory
  const ms = times.slice(1).sort((a, b) => a - b)[1]; // median of 3, after a warm-up
  const result = { trainable: model.numParameters({ trainableOnly: true }), bytesAfterForward, nodes, backwardCommands, ms };
  model.dispose();
  return result;
}

describe('frozen trunk (the book\'s freezing) vs everything trainable', () => {
  const results: Record<string, Measurement> = {};
  afterAll(() => {
    for (const [name, r] of Object.entries(results)) {
      console.log(
        `${name.padEnd(5)}: ${r.trainable} trainable params, ${(r.bytesAfterForward / 1024).toFixed(0)} KiB live after forward, ` +
          `${r.nodes} graph nodes, ${r.backwardCommands} backward GPU commands, forward+backward ${r.ms.toFixed(1)} ms`,
      );
    }
  });

  it('records no graph, keeps no activations and runs no gradient kernels below the last block', async () => {
    results.book = await measure('book');
    results.all = await measure('all');
    const { book, all } = results;
    const L = config.nLayers;
    // One of L blocks records a graph: well under half of the full model's graph, memory and backward work.
    expect(book.nodes).toBeLessThan(all.nodes / (L / 2));
    expect(book.backwardCommands).toBeLessThan(all.backwardCommands / (L / 2));
    expect(book.bytesAfterForward).toBeLessThan(all.bytesAfterForward / (L / 2));
  });
});
