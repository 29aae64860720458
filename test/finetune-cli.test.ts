/**
 * `scratchgpt finetune spam` end to end in a child process, on a reduced configuration (a few dozen
 * texts, one epoch). The CLI is bundled from the current sources with esbuild (as tsup does for
 * `dist/cli.js`), so the test does not depend on a previous `pnpm build`.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@scratchgpt/core/node';
import { GPTModel, gptConfig, saveGPT2 } from '@scratchgpt/gpt';
import { GPTClassifier, saveClassifier } from '@scratchgpt/finetune';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, ROOT as root, type BundledCli } from './cli-bundle';

let cli: BundledCli;
afterAll(() => cli?.dispose());

beforeAll(async () => {
  cli = await bundleCli();
});

describe('scratchgpt finetune spam', () => {
  it('runs a reduced fine-tune and prints the table, the confusion matrix and the verdicts; writes the classifier and plots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-finetune-cli-'));
    const data = join(root, 'packages/finetune/data/SMSSpamCollection.tsv');
    // Sized for CI (~7 s of training on a 2-core llvmpipe machine) but big enough to learn: 200 texts per split, 3 epochs.
    const args = ['finetune', 'spam', '--limit', '200', '--epochs', '3', '--max-length', '32', '--data', data, '--out', 'clf.safetensors', '--plot', 'plots-'];
    const { code, stdout, stderr } = await cli.run(args, dir);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/^adapter: /m);
    expect(stdout).toMatch(/recipe: built-in .* 3 epochs, batch 16/);
    expect(stdout).not.toMatch(/pretrain/); // the full fine-tune starts from the random init
    expect(stdout).toMatch(/data: 200 train \/ 149 val \/ 200 test texts, 32 tokens per row/);
    const epochs = [...stdout.matchAll(/epoch (\d): training accuracy (\d+\.\d\d)%, validation accuracy (\d+\.\d\d)%/g)].map((m) => ({ train: Number(m[2]), val: Number(m[3]) }));
    expect(epochs).toHaveLength(3);
    // The figures, not only their format: the model learns (seed 123 reaches 86 % test accuracy here;
    // the classes are balanced, so predicting one class scores 50 %).
    const table = /accuracy {3}train {5}val {7}test\n {11}(\d+\.\d\d)% +(\d+\.\d\d)% +(\d+\.\d\d)%/.exec(stdout);
    expect(table, stdout).not.toBeNull();
    const [train, val, test] = table!.slice(1).map(Number);
    expect(train).toBeGreaterThanOrEqual(75);
    expect(val).toBeGreaterThanOrEqual(75);
    expect(test).toBeGreaterThanOrEqual(80);
    expect(epochs[2].train).toBeGreaterThan(epochs[0].train);
    expect(stdout).toMatch(/true ham {3}\s+\d+\s+\d+\ntrue spam\s+\d+\s+\d+/);
    expect(stdout).toMatch(/You are a winner[^\n]*\n {2}→ (spam|not spam) \(p\(spam\) = 0\.\d{3}/);
    expect(stdout).toMatch(/dinner tonight[^\n]*\n {2}→ (spam|not spam) /);
    expect(readdirSync(dir).sort()).toEqual(['clf.safetensors', 'plots-accuracy.svg', 'plots-loss.svg']);
    expect(readFileSync(join(dir, 'plots-accuracy.svg'), 'utf8')).toMatch(/^<svg[\s\S]*validation accuracy[\s\S]*<\/svg>\n$/);
    // the classifier file carries its metadata
    const header = readFileSync(join(dir, 'clf.safetensors'));
    const json = header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString();
    expect(JSON.parse(json).__metadata__).toMatchObject({ format: 'scratchgpt-classifier-v1', pooling: 'mean', maxLength: '32', labels: '["ham","spam"]' });
  });

  it('with --lora, pretrains the built-in trunk on the unlabelled texts first and reports the bytes LoRA saves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-finetune-cli-'));
    const data = join(root, 'packages/finetune/data/SMSSpamCollection.tsv');
    const args = ['finetune', 'spam', '--lora', '2,4', '--limit', '24', '--epochs', '1', '--max-length', '24', '--data', data, '--plot', 'p-'];
    const { code, stdout, stderr } = await cli.run(args, dir);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/pretraining on 24 unlabelled texts \(\d[\d,]* tokens, \d+ windows, head over the \d+ most frequent tokens \+ other; 2 epochs, batch 16, lr 0.01\): loss \d+\.\d{3} → \d+\.\d{3} in \d+\.\d s/);
    expect(stdout).toMatch(/LoRA rank 2 alpha 4 \(every Linear, the rest frozen\); trunk pretrained on the unlabelled texts/);
    expect(stdout).toMatch(/LoRA: gradients \+ AdamW moments [\d,]+ bytes instead of [\d,]+ for the recipe's [\d,]+ trainable parameters \([\d,]+ bytes saved\)/);
    expect(readdirSync(dir).sort()).toEqual(['p-accuracy.svg', 'p-loss.svg', 'spam-classifier.lora.safetensors', 'spam-classifier.safetensors']);
    // --no-pretrain: LoRA on the random trunk
    const plain = await cli.run([...args, '--no-pretrain'], dir);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).not.toMatch(/pretrain/);
  });

  it("runs the book's recipe on GPT-2-layout weights given with --weights", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-finetune-cli-'));
    // a tiny random GPT-2 in the Hugging Face layout (model.safetensors + config.json)
    await init();
    manualSeed(2);
    const gpt = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 128, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: true, tieWeights: true }));
    await saveGPT2(join(dir, 'gpt2'), gpt);
    gpt.dispose();
    const data = join(root, 'packages/finetune/data/SMSSpamCollection.tsv');
    const args = ['finetune', 'spam', '--weights', join(dir, 'gpt2', 'model.safetensors'), '--limit', '16', '--epochs', '1', '--data', data, '--plot', `${dir}/`];
    const { code, stdout, stderr } = await cli.run(args, dir);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/recipe: the book's \(GPT-2\); trainable "book", pooling last, 1 epochs, batch 8, lr 0.00005/);
    // the last block (2 LayerNorms, attention with q/k/v biases, MLP), the final norm and the head
    const C = 16;
    const block = 2 * 2 * C + 3 * (C * C + C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C);
    expect(stdout).toContain(`${(block + 2 * C + 2 * C + 2).toLocaleString('en-US')} trainable`);
    expect(readdirSync(dir).sort()).toEqual(['accuracy.svg', 'gpt2', 'loss.svg', 'spam-classifier.safetensors']);
    // with --lora: the book's appendix-E recipe (lr 8e-4), not chapter 6's 5e-5 (issue 18 #10)
    const lora = await cli.run([...args.slice(0, 4), '--lora', '2,4', '--limit', '8', '--epochs', '1', '--data', data, '--plot', `${dir}/lora-`], dir);
    expect(lora.code, lora.stderr).toBe(0);
    expect(lora.stdout).toMatch(/recipe: the book's appendix E \(GPT-2 \+ LoRA\); trainable "book", pooling last, 1 epochs, batch 8, lr 0.0008, weight decay 0.1, seed 123; LoRA rank 2 alpha 4/);
  });

  it('rejects a bad option with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-finetune-cli-'));
    const bad = await cli.run(['finetune', 'spam', '--pooling', 'max'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--pooling must be one of last, last-non-pad, first, mean, got 'max'/);
    const noData = await cli.run(['finetune', 'spam', '--data', 'missing.tsv'], dir);
    expect(noData.code).toBe(1);
    expect(noData.stderr).toMatch(/cannot read the SMS Spam Collection at missing.tsv \(ENOENT/);
    const noTask = await cli.run(['finetune'], dir);
    expect(noTask.code).toBe(1);
    expect(noTask.stderr).toMatch(/finetune needs a task: 'classify' \(your labelled file\), 'spam' or 'instruct'/);
    const wrongTask = await cli.run(['finetune', 'spam', '--labels', 'a,b'], dir);
    expect(wrongTask.stderr).toMatch(/--labels is an option of finetune classify, not of finetune spam/);
  });

  it('refuses data in another encoding, data of one class, and a classifier file given as GPT-2 weights, before training (issue 18 #8)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-finetune-cli-'));
    const tsv = readFileSync(join(root, 'packages/finetune/data/SMSSpamCollection.tsv'), 'utf8').split('\n');
    // Latin-1: "café" as 63 61 66 e9
    const latin1 = join(dir, 'latin1.tsv');
    writeFileSync(latin1, Buffer.concat([Buffer.from(`${tsv.slice(0, 3).join('\n')}\nham\tcaf`), Buffer.from([0xe9]), Buffer.from(' ce soir?\n')]));
    const offset = Buffer.byteLength(`${tsv.slice(0, 3).join('\n')}\nham\tcaf`);
    const encoding = await cli.run(['finetune', 'spam', '--data', latin1], dir);
    expect(encoding.code).toBe(1);
    expect(encoding.stderr).toContain(`the SMS Spam Collection at ${latin1} is not UTF-8: invalid byte sequence at byte offset ${offset} (line 4): 0xe9 0x20 0x63 0x65`);
    expect(encoding.stdout).not.toMatch(/^adapter:/m); // before the device starts
    const oneClass = join(dir, 'ham.tsv');
    writeFileSync(oneClass, `${tsv.filter((l) => l.startsWith('ham\t')).slice(0, 50).join('\n')}\n`);
    const single = await cli.run(['finetune', 'spam', '--data', oneClass], dir);
    expect(single.code).toBe(1);
    expect(single.stderr).toMatch(/the SMS Spam Collection has rows of one class only \(ham: 50, spam: 0\): a classifier needs rows of at least two classes/);
    expect(single.stdout).not.toMatch(/^adapter:/m);
    // a classifier file written by this library, passed as --weights
    await init();
    manualSeed(1);
    const gpt = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 16, embDim: 8, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false }));
    const clf = GPTClassifier.fromGPT(gpt, { numClasses: 2, labels: ['ham', 'spam'], pooling: 'mean' });
    await saveClassifier(join(dir, 'clf.safetensors'), clf, { maxLength: 16 });
    clf.dispose();
    const data = join(root, 'packages/finetune/data/SMSSpamCollection.tsv');
    const asWeights = await cli.run(['finetune', 'spam', '--weights', join(dir, 'clf.safetensors'), '--limit', '8', '--data', data], dir);
    expect(asWeights.code).toBe(1);
    expect(asWeights.stderr).toMatch(/is a text classifier saved by scratchgpt \(labels \[ham, spam\], pooling mean\), not GPT-2 weights: read it with loadClassifier\(\)/);
    expect(asWeights.stderr).not.toMatch(/nHeads/);
  });
});
