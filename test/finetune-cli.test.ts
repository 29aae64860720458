/**
 * `scratchgpt finetune spam` end to end in a child process, on a reduced configuration (a few dozen
 * texts, one epoch). The CLI is bundled from the current sources with esbuild (as tsup does for
 * `dist/cli.js`), so the test does not depend on a previous `pnpm build`.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@scratchgpt/core/node';
import { GPTModel, gptConfig, saveGPT2 } from '@scratchgpt/gpt';
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
    const args = ['finetune', 'spam', '--limit', '24', '--epochs', '1', '--max-length', '24', '--data', data, '--out', 'clf.safetensors', '--plot', 'plots-'];
    const { code, stdout, stderr } = await cli.run(args, dir);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/^adapter: /m);
    expect(stdout).toMatch(/recipe: built-in .* 1 epochs, batch 16/);
    expect(stdout).not.toMatch(/pretrain/); // the full fine-tune starts from the random init
    expect(stdout).toMatch(/data: 24 train \/ 24 val \/ 24 test texts, 24 tokens per row/);
    expect(stdout).toMatch(/epoch 1: training accuracy \d+\.\d\d%, validation accuracy \d+\.\d\d%/);
    expect(stdout).toMatch(/accuracy {3}train {5}val {7}test\n {11}\d+\.\d\d% +\d+\.\d\d% +\d+\.\d\d%/);
    expect(stdout).toMatch(/true ham {3}\s+\d+\s+\d+\ntrue spam\s+\d+\s+\d+/);
    expect(stdout).toMatch(/You are a winner[^\n]*\n {2}→ (spam|not spam) \(p\(spam\) = 0\.\d{3}/);
    expect(stdout).toMatch(/dinner tonight[^\n]*\n {2}→ (spam|not spam) /);
    expect(readdirSync(dir).sort()).toEqual(['clf.safetensors', 'plots-accuracy.svg', 'plots-loss.svg']);
    expect(readFileSync(join(dir, 'plots-accuracy.svg'), 'utf8')).toMatch(/^<svg[\s\S]*validation accuracy[\s\S]*<\/svg>\n$/);
    // the classifier file carries its metadata
    const header = readFileSync(join(dir, 'clf.safetensors'));
    const json = header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString();
    expect(JSON.parse(json).__metadata__).toMatchObject({ format: 'scratchgpt-classifier-v1', pooling: 'mean', maxLength: '24', labels: '["ham","spam"]' });
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
    expect(noTask.stderr).toMatch(/finetune needs a task: 'spam' or 'instruct'/);
  });
});
