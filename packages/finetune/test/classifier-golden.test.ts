import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, fromArray, init, noGrad, type Tensor } from '@scratchgpt/core/node';
import { classificationLoss, classificationLogits } from '../src/index';
import { goldenBatch, goldenClassifier, maxDiff, meta, ours, tensorOf } from './golden';

beforeAll(async () => {
  await init();
});

const TOL = 1e-4;

describe('GPT classifier vs PyTorch 1.13 (the book\'s chapter-6 recipe, golden fixture)', () => {
  it('trainable parameter counts match PyTorch under each freezing scheme', async () => {
    const model = await goldenClassifier();
    expect(model.numParameters({ trainableOnly: true })).toBe(meta.trainable_counts.book);
    expect(model.namedTrainableParameters().map(([n]) => n)).toEqual(meta.trainable.map(ours));
    expect(model.setTrainable({ lastBlocks: 2 }).numParameters({ trainableOnly: true })).toBe(meta.trainable_counts['2']);
    expect(model.setTrainable('all').numParameters({ trainableOnly: true })).toBe(meta.trainable_counts.all);
    expect(model.setTrainable('head').numParameters({ trainableOnly: true })).toBe(meta.trainable_counts.head);
    // The state dict reads like the book's classifier (its names, LayerNorm scale/shift as weight/bias).
    expect([...model.stateDict().keys()]).toEqual(meta.parameters.map(ours));
    model.dispose();
  });

  for (const pooling of meta.poolings) {
    it(`'${pooling}' pooling: logits, loss and every trainable gradient match; frozen parameters get none`, async () => {
      const model = await goldenClassifier(pooling);
      model.eval();
      const logits = noGrad(() => classificationLogits(model, goldenBatch));
      const d = maxDiff(await logits.toArray(), tensorOf(`logits.${pooling}`).data);
      logits.dispose();
      expect(d.maxAbs, `logits max abs diff`).toBeLessThanOrEqual(TOL);
      const loss = classificationLoss(model, goldenBatch);
      const ourLoss = await loss.item();
      const torchLoss = tensorOf(`loss.${pooling}`).data[0];
      expect(Math.abs(ourLoss - torchLoss)).toBeLessThanOrEqual(TOL * Math.max(1, torchLoss));
      loss.backward();
      loss.dispose();
      let globalMax = 0;
      for (const name of meta.trainable) for (const v of tensorOf(`grad.${pooling}.${name}`).data) globalMax = Math.max(globalMax, Math.abs(v));
      let worst = 0;
      const params = model.stateDict();
      for (const name of meta.trainable) {
        const grad = params.get(ours(name))!.grad;
        expect(grad, `grad of ${name}`).not.toBeNull();
        const g = maxDiff(await (grad as Tensor).toArray(), tensorOf(`grad.${pooling}.${name}`).data);
        // Relative to the tensor's own scale, floored at 1% of the largest gradient (the key bias's gradient is zero in theory).
        const rel = g.maxAbs / Math.max(g.scale, 1e-2 * globalMax);
        worst = Math.max(worst, rel);
        expect(rel, `grad ${name}: max rel diff`).toBeLessThanOrEqual(TOL);
      }
      for (const name of meta.frozen_without_grad) expect(params.get(ours(name))!.grad, `frozen ${name}`).toBeNull();
      console.log(`classifier golden '${pooling}': logits max abs diff ${d.maxAbs.toExponential(2)}, loss ${ourLoss.toFixed(7)} vs ${torchLoss.toFixed(7)}, worst grad rel diff ${worst.toExponential(2)}`);
      model.dispose();
    });
  }

  it("allPositions gives the book's model(x) [B, T, classes]: positions 0, T − 1 and each row's last real token match the fixture (issue 18 #12)", async () => {
    const model = await goldenClassifier('last');
    model.eval();
    const [B, T] = goldenBatch.shape;
    const K = meta.num_classes;
    const ids = fromArray(goldenBatch.inputs, [B, T], { dtype: 'i32' });
    const all = noGrad(() => model.forward(ids, { allPositions: true }));
    expect(all.shape).toEqual([B, T, K]);
    const values = await all.toArray();
    const at = (position: (b: number) => number) => Array.from({ length: B * K }, (_, i) => values[(Math.floor(i / K) * T + position(Math.floor(i / K))) * K + (i % K)]);
    const checks: [string, (b: number) => number][] = [['first', () => 0], ['last', () => T - 1], ['last-non-pad', (b) => goldenBatch.lengths[b] - 1]];
    for (const [pooling, position] of checks) expect(maxDiff(at(position), tensorOf(`logits.${pooling}`).data).maxAbs, pooling).toBeLessThanOrEqual(TOL);
    for (const t of [ids, all]) t.dispose();
    model.dispose();
  });

  it('accuracy on the fixed batch matches (argmax of the last-position logits)', async () => {
    const model = await goldenClassifier('last');
    model.eval();
    const logits = noGrad(() => classificationLogits(model, goldenBatch));
    const values = await logits.toArray();
    logits.dispose();
    const k = meta.num_classes;
    let correct = 0;
    goldenBatch.labels.forEach((label, b) => {
      const row = Array.from(values.slice(b * k, (b + 1) * k));
      if (row.indexOf(Math.max(...row)) === label) correct++;
    });
    expect(correct / goldenBatch.labels.length).toBeCloseTo(meta.accuracy_last, 6);
    model.dispose();
  });

  it('5 AdamW steps with the trunk frozen follow PyTorch; frozen parameters stay put and get no optimizer state', async () => {
    const model = await goldenClassifier('last');
    const frozen = model.namedParameters().filter(([, p]) => !p.requiresGrad);
    const before = await Promise.all(frozen.map(([, p]) => p.toArray()));
    const opt = new AdamW(model.namedTrainableParameters(), { lr: meta.adamw.lr, weightDecay: meta.adamw.weight_decay });
    expect([...opt.stateDict().tensors.keys()].length).toBe(2 * meta.trainable.length);
    const losses: number[] = [];
    for (let i = 0; i < meta.adamw.steps; i++) {
      const loss = classificationLoss(model, goldenBatch);
      losses.push(await loss.item());
      loss.backward();
      loss.dispose();
      opt.step();
      opt.zeroGrad();
    }
    const expected = Array.from(tensorOf('adamw_losses').data);
    console.log(`classifier golden AdamW losses: ours ${losses.map((l) => l.toFixed(6)).join(' ')} | torch ${expected.map((l) => l.toFixed(6)).join(' ')}`);
    losses.forEach((l, i) => expect(Math.abs(l - expected[i])).toBeLessThanOrEqual(TOL));
    const params = model.stateDict();
    let worst = 0;
    for (const name of meta.trainable) {
      const d = maxDiff(await params.get(ours(name))!.toArray(), tensorOf(`adamw.${name}`).data);
      if (name.endsWith('W_key.bias')) {
        // The key bias's gradient is zero in theory (softmax ignores a per-query constant): both sides
        // hold rounding noise, which Adam rescales into steps of up to lr. Only that bound can be checked.
        expect(d.maxAbs, `${name}`).toBeLessThanOrEqual(meta.adamw.lr * meta.adamw.steps);
        console.log(`classifier golden AdamW: ${name} (zero gradient in theory, Adam-scaled noise) abs diff ${d.maxAbs.toExponential(2)}`);
        continue;
      }
      worst = Math.max(worst, d.maxAbs);
      expect(d.maxAbs, `${name} after ${meta.adamw.steps} steps`).toBeLessThanOrEqual(TOL);
    }
    console.log(`classifier golden AdamW: worst parameter abs diff after ${meta.adamw.steps} steps ${worst.toExponential(2)}`);
    const after = await Promise.all(frozen.map(([, p]) => p.toArray()));
    after.forEach((a, i) => expect(a, frozen[i][0]).toEqual(before[i]));
    opt.dispose();
    model.dispose();
  });
});

