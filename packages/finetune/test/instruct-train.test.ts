/**
 * Instruction fine-tuning on the gpt package's loop: `instructionLoss` equals the book's loss
 * (`batchLoss` with -100 targets) in value and gradients, `trainInstructions` lowers the masked loss
 * on a tiny model and reports a response per epoch, and the loader's explicit epochs keep evaluation
 * from changing the training order.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { init, manualSeed, memory, sync, type Tensor } from '@scratchgpt/core/node';
import { batchLoss, fixedOrder, GPTModel, gptConfig, meanLoss, type TrainProgress } from '@scratchgpt/gpt';
import {
  BOOK_INSTRUCTION_SETTINGS,
  collateInstructions,
  formatExample,
  instructionLoss,
  InstructionDataset,
  InstructionLoader,
  parseInstructionData,
  Subvocabulary,
  trainInstructions,
} from '../src/index';

beforeAll(async () => {
  await init();
});

const entries = parseInstructionData(readFileSync(new URL('../data/instruction-data.json', import.meta.url), 'utf8'));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Loss value and every parameter's gradient after one backward. */
async function lossAndGrads(model: GPTModel, loss: Tensor): Promise<{ value: number; grads: Map<string, Float32Array> }> {
  loss.backward();
  const value = (await loss.toArray())[0];
  loss.dispose();
  const grads = new Map<string, Float32Array>();
  for (const [name, p] of model.namedParameters()) {
    grads.set(name, (await p.grad!.toArray()) as Float32Array);
    p.zeroGrad();
  }
  return { value, grads };
}

describe('instructionLoss', () => {
  it("equals the book's loss (cross-entropy over the targets that are not -100) in value and gradients", async () => {
    // Odd sizes: 3 rows of 7, 2 and 11 ids over a vocabulary of 97; prompt masking leaves 12 of 33 targets.
    const sequences = [
      [5, 17, 3, 88, 41, 9, 60],
      [13, 2],
      [7, 7, 30, 51, 96, 0, 44, 12, 71, 8, 19],
    ];
    const batch = collateInstructions(sequences, { padTokenId: 96, promptLengths: [3, 1, 6] });
    expect(batch.shape).toEqual([3, 11]);
    const counted = Array.from(batch.targets).filter((t) => t !== -100).length;
    expect(counted).toBeGreaterThan(0);
    expect(counted).toBeLessThan(33);
    for (const tieWeights of [false, true]) {
      manualSeed(5);
      const model = new GPTModel(gptConfig({ vocabSize: 97, contextLength: 16, embDim: 12, nHeads: 3, nLayers: 2, dropRate: 0, qkvBias: true, tieWeights }));
      const ours = await lossAndGrads(model, instructionLoss(model, batch));
      const book = await lossAndGrads(model, batchLoss(model, batch));
      console.log(`instructionLoss (tied ${tieWeights}): ${ours.value} vs batchLoss ${book.value}`);
      expect(Math.abs(ours.value - book.value)).toBeLessThan(1e-5);
      for (const [name, g] of book.grads) {
        const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
        expect(maxAbsDiff(ours.grads.get(name)!, g) / scale, name).toBeLessThan(1e-4);
      }
      model.dispose();
    }
  });

  it('a batch without ignored targets, and one with no counted target (NaN, as PyTorch), take the plain path', async () => {
    manualSeed(6);
    const model = new GPTModel(gptConfig({ vocabSize: 31, contextLength: 8, embDim: 8, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false }));
    const full = { inputs: Int32Array.from([1, 2, 3, 4]), targets: Int32Array.from([2, 3, 4, 5]), shape: [2, 2] as [number, number] };
    const none = { ...full, targets: Int32Array.from([-100, -100, -100, -100]) };
    const [a, b] = [instructionLoss(model, full), batchLoss(model, full)];
    expect((await a.toArray())[0]).toBe((await b.toArray())[0]);
    const c = instructionLoss(model, none);
    expect(Number.isNaN((await c.toArray())[0])).toBe(true);
    for (const t of [a, b, c]) t.dispose();
    expect(() => instructionLoss(model, { ...full, targets: Int32Array.from([2, 3, 31, 5]) })).toThrow(/target token id 31 at position 2 \(row 1, column 0\) is out of range for vocabulary size 31/);
    model.dispose();
  });
});

describe('trainInstructions', () => {
  it("lowers the masked loss of a tiny model on the book's first entries; a response after each epoch; memory freed", async () => {
    expect(BOOK_INSTRUCTION_SETTINGS).toEqual({ epochs: 2, lr: 5e-5, weightDecay: 0.1, evalFreq: 5, evalIter: 5 });
    const train = entries.slice(0, 8);
    const vocab = Subvocabulary.fromTexts(train.map((e) => formatExample(e)));
    const eos = vocab.id(50256);
    const tokenize = (text: string) => vocab.encode(text);
    const loader = new InstructionLoader(new InstructionDataset(train, { tokenize }), { batchSize: 4, shuffle: true, dropLast: true, padTokenId: eos, maskPrompt: true, seed: 1 });
    manualSeed(7);
    const model = new GPTModel(gptConfig({ vocabSize: vocab.size, contextLength: 128, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false }));
    const before = await meanLoss(model, fixedOrder(loader), instructionLoss);
    await sync();
    const base = memory();
    const progress: TrainProgress[] = [];
    const result = await trainInstructions(model, loader, loader, {
      epochs: 3,
      lr: 1e-2,
      evalFreq: 2,
      evalIter: 2,
      sample: { entry: train[0], options: { eosId: eos, maxNewTokens: 6, encode: tokenize, decode: (ids) => vocab.decode(ids) } },
      onProgress: (p) => void progress.push(p),
    });
    const after = await meanLoss(model, fixedOrder(loader), instructionLoss);
    console.log(`trainInstructions test: masked loss ${before.toFixed(3)} → ${after.toFixed(3)}; evaluations ${result.trainLosses.map((l) => l.toFixed(3)).join(' ')}`);
    expect(after).toBeLessThan(before - 0.5);
    expect(result.steps).toEqual([1, 3, 5]);
    expect(result.trainLosses[2]).toBeLessThan(result.trainLosses[0]);
    expect(result.sampleResponses).toHaveLength(3);
    for (const r of result.sampleResponses) expect(typeof r).toBe('string');
    expect(progress.filter((p) => p.epochEnd).map((p) => p.sampleText)).toEqual(result.sampleResponses);
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
    result.optimizer.dispose();
    expect(memory().liveTensors).toBe(base.liveTensors);
    expect(memory().liveBytes).toBe(base.liveBytes);
    model.dispose();
  });

  it('evaluation reads epoch 0 without moving the shuffled training order (explicit epochs)', () => {
    const data = new InstructionDataset(entries.slice(0, 12));
    const loader = new InstructionLoader(data, { batchSize: 4, shuffle: true, seed: 3 });
    const ids = (batches: Iterable<{ inputs: Int32Array }>) => Array.from(batches, (b) => Array.from(b.inputs.slice(0, 40)));
    const epoch1 = ids(loader.batches(1));
    expect(ids(fixedOrder(loader))).toEqual(ids(loader.batches(0)));
    expect(ids(loader.batches(1))).toEqual(epoch1);
    expect(epoch1).not.toEqual(ids(loader.batches(0)));
    expect(ids(loader.batches(1, 2))).toEqual(epoch1.slice(2));
    // Plain iteration still walks the epochs in turn.
    expect(ids(loader)).toEqual(ids(loader.batches(0)));
    expect(ids(loader)).toEqual(epoch1);
  });
});
