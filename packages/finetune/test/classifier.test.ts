import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, fromArray, init, manualSeed, memory, sync, type Tensor } from '@scratchgpt/core/node';
import { GPTModel, gptConfig, type GPTConfig } from '@scratchgpt/gpt';
import { classificationLoss, GPTClassifier, POOLINGS, type ClassificationBatch, type ClassifierOptions } from '../src/index';

beforeAll(async () => {
  await init();
});

const small: GPTConfig = gptConfig({ vocabSize: 97, contextLength: 16, embDim: 32, nHeads: 4, nLayers: 2, dropRate: 0, qkvBias: true, tieWeights: false });
const batch: ClassificationBatch = {
  inputs: Int32Array.from({ length: 3 * 10 }, (_, i) => (i * 37) % 96),
  labels: Int32Array.from([2, 0, 1]),
  lengths: Int32Array.from([10, 4, 1]),
  shape: [3, 10],
};

function classifier(options: Partial<ClassifierOptions> = {}, config = small): GPTClassifier {
  manualSeed(5);
  return GPTClassifier.fromGPT(new GPTModel(config), { numClasses: 3, padId: 96, ...options });
}

/** Every tensor in the graph below `root`. */
function graphTensors(root: Tensor): Tensor[] {
  const seen = new Set<Tensor>();
  const stack = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push(...(t.gradNode?.inputs ?? []));
  }
  return [...seen];
}

describe('GPTClassifier', () => {
  it("uses the book's parameter names, replaces (and frees) the LM head", () => {
    const gpt = (manualSeed(5), new GPTModel(small));
    const lmHead = gpt.out_head!.weight;
    const model = GPTClassifier.fromGPT(gpt, { numClasses: 3, labels: ['a', 'b', 'c'], padId: 96 });
    const names = [...model.stateDict().keys()];
    expect(names.slice(0, 2)).toEqual(['tok_emb.weight', 'pos_emb.weight']);
    expect(names.slice(-4)).toEqual(['final_norm.weight', 'final_norm.bias', 'out_head.weight', 'out_head.bias']);
    expect(names).toContain('trf_blocks.1.att.W_query.bias');
    expect(model.stateDict().get('out_head.weight')!.shape).toEqual([3, 32]);
    expect(lmHead.isDisposed).toBe(true);
    expect(model.labels).toEqual(['a', 'b', 'c']);
    expect(model.numParameters()).toBe(GPTModel.countParameters(small) - 97 * 32 + 3 * 32 + 3);
    model.dispose();

    const kept = classifier({ keepLMHead: true });
    const head = kept.gpt.out_head!.weight;
    expect(head.isDisposed).toBe(false);
    kept.dispose();
    expect(head.isDisposed).toBe(true);
  });

  it('setTrainable chooses what trains and clears gradients of what it freezes', async () => {
    const model = classifier({ trainable: 'all' });
    const emb = model.gpt.tok_emb.weight;
    const loss = classificationLoss(model, batch);
    loss.backward();
    loss.dispose();
    expect(emb.grad).not.toBeNull();
    model.setTrainable('book');
    expect(emb.grad).toBeNull();
    expect(model.trainable).toBe('book');
    const trainableNames = model.namedTrainableParameters().map(([n]) => n);
    expect(trainableNames.every((n) => /^(trf_blocks\.1\.|final_norm\.|out_head\.)/.test(n))).toBe(true);
    expect(model.setTrainable({ lastBlocks: 0 }).namedTrainableParameters().map(([n]) => n)).toEqual(['final_norm.weight', 'final_norm.bias', 'out_head.weight', 'out_head.bias']);
    expect(model.setTrainable('head').namedTrainableParameters().map(([n]) => n)).toEqual(['out_head.weight', 'out_head.bias']);
    model.dispose();
  });

  it('the head reads only the pooled positions: no [B, T, classes] or [B, T, V] tensor anywhere', () => {
    for (const pooling of POOLINGS) {
      const model = classifier({ trainable: 'all', pooling });
      const loss = classificationLoss(model, batch);
      for (const t of graphTensors(loss)) {
        const last = t.shape[t.rank - 1];
        expect(t.rank === 3 && (last === 3 || last === small.vocabSize), `${pooling}: ${t.toString()}`).toBe(false);
      }
      loss.backward();
      loss.dispose();
      model.dispose();
    }
  });

  it('train/eval reach the wrapped GPT', () => {
    const model = classifier();
    model.eval();
    expect(model.gpt.training).toBe(false);
    expect(model.gpt.trf_blocks.at(0).training).toBe(false);
    model.train();
    expect(model.gpt.drop_emb.training).toBe(true);
    model.dispose();
  });

  it('a training loop over trainable parameters does not grow memory', async () => {
    const model = classifier({ pooling: 'mean' });
    const opt = new AdamW(model.namedTrainableParameters(), { lr: 1e-3, weightDecay: 0.1 });
    const sizes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const loss = classificationLoss(model, batch);
      loss.backward();
      loss.dispose();
      opt.step();
      opt.zeroGrad();
      await sync();
      sizes.push(memory().liveBytes);
    }
    expect(new Set(sizes).size).toBe(1);
    opt.dispose();
    model.dispose();
  });

  it('rejects bad options and inputs with clear errors, leaving the GPT intact', () => {
    const gpt = (manualSeed(5), new GPTModel(small));
    expect(() => GPTClassifier.fromGPT(gpt, { numClasses: 1, padId: 0 })).toThrow(/numClasses must be an integer ≥ 2, got 1/);
    expect(() => GPTClassifier.fromGPT(gpt, { numClasses: 2, labels: ['x'], padId: 0 })).toThrow(/labels must be 2 distinct names/);
    expect(() => GPTClassifier.fromGPT(gpt, { numClasses: 2 })).toThrow(/padId 50256 is outside the vocabulary \[0, 97\)/);
    expect(() => GPTClassifier.fromGPT(gpt, { numClasses: 2, padId: 0, trainable: { lastBlocks: 3 } })).toThrow(/trainable must be .* lastBlocks: 0…2/);
    expect(() => GPTClassifier.fromGPT(gpt, { numClasses: 2, padId: 0, pooling: 'max' as never })).toThrow(/unknown pooling 'max'/);
    expect(gpt.out_head!.weight.isDisposed).toBe(false); // failed attempts changed nothing
    gpt.dispose();

    const model = classifier({ pooling: 'last-non-pad' });
    const f32 = fromArray([1, 2, 3], [1, 3]);
    expect(() => model.forward(f32)).toThrow(/expects i32 token ids \[B, T\], got f32 \[1, 3\]/);
    f32.dispose();
    expect(() => classificationLoss(model, { ...batch, lengths: undefined as never })).toThrow(/pooling 'last-non-pad' needs the non-pad length of each row/);
    expect(() => classificationLoss(model, { ...batch, lengths: Int32Array.from([10, 0, 1]) })).toThrow(/length 0 of row 1 is outside \[1, 10\]/);
    expect(() => classificationLoss(model, { ...batch, labels: Int32Array.from([0, 3, 1]) })).toThrow(/batch label 3 at row 1 is out of range for 3 classes/);
    const long = { inputs: new Int32Array(17), labels: Int32Array.from([0]), lengths: Int32Array.from([17]), shape: [1, 17] as const };
    expect(() => classificationLoss(model, long)).toThrow(/sequence of 17 tokens exceeds the context length 16/);
    model.dispose();
  });
});
