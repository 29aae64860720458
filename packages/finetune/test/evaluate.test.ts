/** Evaluation helpers against values computed by hand (or on the host from the model's own logits). */
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, manualSeed, memory, sync } from '@scratchgpt/core/node';
import { GPTModel, gptConfig } from '@scratchgpt/gpt';
import {
  accuracy,
  classificationLoss,
  classificationReport,
  classifierLoss,
  classify,
  classifyAll,
  confusionMatrix,
  evaluateClassifier,
  GPTClassifier,
  predict,
  type ClassificationBatch,
  type Pooling,
} from '../src/index';

beforeAll(async () => {
  await init();
});

const config = gptConfig({ vocabSize: 41, contextLength: 12, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true, tieWeights: false });
const LABELS = ['red', 'green', 'blue'];

function model(pooling: Pooling = 'last'): GPTClassifier {
  manualSeed(8);
  return GPTClassifier.fromGPT(new GPTModel(config), { numClasses: 3, labels: LABELS, pooling, padId: 40, trainable: 'all', seed: 8 });
}

/** Letters → ids 0..25 (a toy tokenizer, so that tests do not depend on BPE). */
const tokenize = (text: string) => Array.from(text.toLowerCase().replace(/[^a-z]/g, ''), (ch) => ch.charCodeAt(0) - 97);

/** Three batches of 2-3 rows, right-padded with 40. */
function batches(): ClassificationBatch[] {
  const texts = [['abc', 'hello'], ['zz', 'gpt', 'sms'], ['spam', 'x']];
  return texts.map((group, g) => {
    const T = 6;
    const inputs = new Int32Array(group.length * T).fill(40);
    const lengths = new Int32Array(group.length);
    group.forEach((t, r) => {
      inputs.set(tokenize(t), r * T);
      lengths[r] = t.length;
    });
    return { inputs, labels: Int32Array.from(group, (_, r) => (g + r) % 3), lengths, shape: [group.length, T] as const };
  });
}

async function hostArgmax(m: GPTClassifier, b: ClassificationBatch): Promise<{ logits: Float32Array; picks: number[] }> {
  const ids = fromArray(b.inputs, [...b.shape], { dtype: 'i32' });
  const out = m.forward(ids, { lengths: b.lengths });
  const logits = (await out.toArray()) as Float32Array;
  ids.dispose();
  out.dispose();
  const picks = Array.from({ length: b.shape[0] }, (_, r) => {
    const row = Array.from(logits.subarray(r * 3, r * 3 + 3));
    return row.indexOf(Math.max(...row));
  });
  return { logits, picks };
}

describe('confusion matrix and report', () => {
  it('match hand-computed counts, precision, recall and F1', () => {
    const labels = [0, 0, 0, 1, 1, 2, 2, 2, 2];
    const predicted = [0, 1, 0, 1, 1, 2, 0, 2, 1];
    const m = confusionMatrix(labels, predicted, 3);
    expect(m).toEqual([
      [2, 1, 0],
      [0, 2, 0],
      [1, 1, 2],
    ]);
    const r = classificationReport(m, LABELS);
    expect(r.accuracy).toBeCloseTo(6 / 9, 12);
    // red: tp 2, predicted 3, support 3; green: tp 2, predicted 4, support 2; blue: tp 2, predicted 2, support 4
    expect(r.classes[0]).toEqual({ label: 'red', precision: 2 / 3, recall: 2 / 3, f1: expect.closeTo(2 / 3, 12), support: 3 });
    expect(r.classes[1].precision).toBeCloseTo(0.5, 12);
    expect(r.classes[1].recall).toBe(1);
    expect(r.classes[1].f1).toBeCloseTo(2 / 3, 12);
    expect(r.classes[2]).toEqual({ label: 'blue', precision: 1, recall: 0.5, f1: expect.closeTo(2 / 3, 12), support: 4 });
    expect(r.macro.precision).toBeCloseTo((2 / 3 + 0.5 + 1) / 3, 12);
    // a class never predicted: precision 0, not NaN
    expect(classificationReport(confusionMatrix([0, 1], [0, 0], 2), ['a', 'b']).classes[1]).toEqual({ label: 'b', precision: 0, recall: 0, f1: 0, support: 1 });
    expect(() => confusionMatrix([0, 3], [0, 1], 3)).toThrow(/label 3 at index 1 is outside \[0, 3\)/);
    expect(() => confusionMatrix([0], [0, 1], 3)).toThrow(/1 labels but 2 predictions/);
  });
});

describe('accuracy, predictions and loss over a loader', () => {
  it('agree with the logits read back and argmax-ed on the host; the mode is restored and nothing leaks', async () => {
    const m = model('mean');
    const data = batches();
    const expectedPicks: number[] = [];
    const losses: number[] = [];
    for (const b of data) {
      expectedPicks.push(...(await hostArgmax(m, b)).picks);
      const l = classificationLoss(m, b);
      losses.push(await l.item());
      l.dispose();
    }
    const labels = data.flatMap((b) => [...b.labels]);
    await sync();
    const base = memory();
    const p = await predict(m, data);
    expect([...p.predicted]).toEqual(expectedPicks);
    expect([...p.labels]).toEqual(labels);
    const correct = expectedPicks.filter((x, i) => x === labels[i]).length;
    expect(await accuracy(m, data)).toBe(correct / labels.length);
    expect(await accuracy(m, data, 1)).toBe(expectedPicks.slice(0, 2).filter((x, i) => x === labels[i]).length / 2);
    expect(await accuracy(m, [])).toBeNaN();
    expect(await classifierLoss(m, data)).toBeCloseTo(losses.reduce((a, b) => a + b) / 3, 5);
    const report = await evaluateClassifier(m, data);
    expect(report.matrix).toEqual(confusionMatrix(labels, expectedPicks, 3));
    expect(m.training).toBe(true);
    await expect(accuracy(m, data, 0)).rejects.toThrow(/numBatches must be an integer ≥ 1, got 0/);
    // a bad batch after good ones: the predictions made so far are freed
    const bad: ClassificationBatch = { inputs: new Int32Array(4), labels: new Int32Array(1), lengths: Int32Array.from([9]), shape: [1, 4] };
    await expect(predict(m, [...data, bad])).rejects.toThrow(/length 9 of row 0 is outside \[1, 4\]/);
    expect(m.training).toBe(true);
    expect(memory().liveTensors).toBe(base.liveTensors);
    m.dispose();
  });
});

describe('classify', () => {
  it('returns the label and softmax probabilities of the padded text, batched or one by one', async () => {
    const m = model('last');
    const texts = ['Hello there', 'spam spam', 'x'];
    // by hand: pad to maxLength 6 with 40, 'last' reads position 5
    const T = 6;
    const inputs = new Int32Array(texts.length * T).fill(40);
    texts.forEach((t, r) => inputs.set(tokenize(t).slice(0, T), r * T));
    const { logits } = await hostArgmax(m, { inputs, labels: new Int32Array(3), lengths: new Int32Array(3).fill(1), shape: [3, T] });
    const all = await classifyAll(m, texts, { maxLength: T, tokenize, batchSize: 2 });
    all.forEach((c, r) => {
      const row = Array.from(logits.subarray(r * 3, r * 3 + 3));
      const exps = row.map((v) => Math.exp(v - Math.max(...row)));
      const probs = exps.map((e) => e / exps.reduce((a, b) => a + b));
      c.probabilities.forEach((p, k) => expect(p).toBeCloseTo(probs[k], 6));
      expect(c.index).toBe(probs.indexOf(Math.max(...probs)));
      expect(c.label).toBe(LABELS[c.index]);
    });
    const one = await classify(m, texts[1], { maxLength: T, tokenize });
    one.probabilities.forEach((p, k) => expect(p).toBeCloseTo(all[1].probabilities[k], 6));
    await expect(classify(m, 'abc', { tokenize })).rejects.toThrow(/'last' pooling needs maxLength/);
    await expect(classify(m, '123', { maxLength: T, tokenize })).rejects.toThrow(/text 0 has no tokens/);
    await expect(classify(m, 'abc', { maxLength: 13, tokenize })).rejects.toThrow(/maxLength must be an integer in \[1, 12\]/);
    await expect(classify(m, 'abc', { maxLength: T, tokenize: () => [50] })).rejects.toThrow(/token id 50 at position 0 is outside the vocabulary \[0, 41\)/);
    m.dispose();

    // pooling over the real tokens: padding (to maxLength or to the batch's longest text) does not matter
    const mean = model('mean');
    const padded = await classifyAll(mean, texts, { maxLength: 10, tokenize });
    const unpadded = await classifyAll(mean, texts, { tokenize });
    padded.forEach((c, r) => c.probabilities.forEach((p, k) => expect(p).toBeCloseTo(unpadded[r].probabilities[k], 5)));
    mean.dispose();
  });
});
