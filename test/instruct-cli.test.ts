/**
 * `scratchgpt finetune instruct`, `scratchgpt finetune spam --lora` and `scratchgpt judge` end to end
 * in a child process, on reduced configurations. The CLI is bundled from the current sources with
 * esbuild (as tsup does for `dist/cli.js`), so the test does not depend on a previous `pnpm build`;
 * the judge talks to small fake servers on 127.0.0.1 (Ollama-style streaming and OpenAI-style).
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@scratchgpt/core/node';
import { GPTModel, gptConfig, saveGPT2 } from '@scratchgpt/gpt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, ROOT, type BundledCli } from './cli-bundle';

const instructionData = join(ROOT, 'packages/finetune/data/instruction-data.json');
const spamData = join(ROOT, 'packages/finetune/data/SMSSpamCollection.tsv');

/** The keys of a safetensors file's header (tensor names and `__metadata__`). */
function safetensorsKeys(path: string): string[] {
  const bytes = readFileSync(path);
  return Object.keys(JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString()));
}

let cli: BundledCli;
afterAll(() => cli?.dispose());

beforeAll(async () => {
  cli = await bundleCli();
});

describe('scratchgpt finetune instruct', () => {
  it('trains the built-in model on a few entries, prints losses and responses, writes the model, the responses file and the plot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-instruct-cli-'));
    const args = ['finetune', 'instruct', '--limit', '8', '--epochs', '1', '--max-new-tokens', '6', '--mask-instruction', '--data', instructionData, '--out', 'out'];
    const { code, stdout, stderr } = await cli.run(args, dir);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/recipe: built-in .*; 1 epochs, batch 8, lr 0.002, weight decay 0.1, format alpaca, prompt tokens masked, seed 123/);
    expect(stdout).toMatch(/model: C=64, L=2, NH=4, V=\d+ \(training subvocabulary \+ unknown\)/);
    expect(stdout).toMatch(/data: 8 train \/ 8 val \/ 8 test entries; .* 1 train batches per epoch/);
    expect(stdout).toMatch(/initial loss \(5 batches\): train \d+\.\d{3}, val \d+\.\d{3}/);
    expect(stdout).toMatch(/epoch 1 step {4}1: train loss \d+\.\d{3}, val loss \d+\.\d{3}/);
    expect(stdout).toMatch(/epoch 1 response to the first validation entry: ".*"/);
    expect(stdout).toMatch(/generated 8 test responses in [\d.]+ s \(greedy, up to 6 new tokens\)/);
    expect(stdout).toContain('Correct response:\n>> ');
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['config.json', 'instruction-data-with-response.json', 'loss.svg', 'model.safetensors', 'training.json', 'vocabulary.json']);
    // The book's responses file: the test entries (file positions 935…) with model_response added.
    const data = JSON.parse(readFileSync(instructionData, 'utf8')) as Record<string, string>[];
    const responses = JSON.parse(readFileSync(join(dir, 'out', 'instruction-data-with-response.json'), 'utf8')) as Record<string, string>[];
    expect(responses).toHaveLength(8);
    responses.forEach((r, i) => {
      expect(Object.keys(r)).toEqual(['instruction', 'input', 'output', 'model_response']);
      expect(r.instruction).toBe(data[935 + i].instruction);
      expect(typeof r.model_response).toBe('string');
    });
    const config = JSON.parse(readFileSync(join(dir, 'out', 'config.json'), 'utf8'));
    const vocabulary = JSON.parse(readFileSync(join(dir, 'out', 'vocabulary.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'gpt2', n_embd: 64, n_layer: 2, vocab_size: vocabulary.gpt2Ids.length + 1 });
    expect(vocabulary.unknownId).toBe(vocabulary.gpt2Ids.length);
    expect(readFileSync(join(dir, 'out', 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*validation loss[\s\S]*<\/svg>\n$/);
  });

  it('GPT-2 weights with --lora: trains the adapters, saves them and the merged model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-instruct-cli-'));
    await init();
    manualSeed(4);
    const gpt = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 128, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true, tieWeights: true }));
    await saveGPT2(join(dir, 'gpt2'), gpt);
    gpt.dispose();
    const args = ['finetune', 'instruct', '--weights', join(dir, 'gpt2', 'model.safetensors'), '--lora', '2,4', '--limit', '4', '--batch-size', '4', '--epochs', '1', '--max-new-tokens', '3', '--data', instructionData, '--out', 'out', '--plot', 'curve.svg'];
    const { code, stdout, stderr } = await cli.run(args, dir);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/recipe: the book's \(GPT-2\); 1 epochs, batch 4, lr 0.00005, .*LoRA rank 2 alpha 4/);
    // rank 2 on q, k, v, out_proj (16→16), ff (16→64, 64→16) and the LM head (16→50257): the file's tied
    // head is loaded as its own copy of wte, as the book's load_weights_into_gpt does (issue 18 #11)
    const trainable = 4 * 2 * (16 + 16) + 2 * (16 + 64) + 2 * (64 + 16) + 2 * (16 + 50257);
    expect(stdout).toContain(`${trainable.toLocaleString('en-US')} trainable; gradients + AdamW state ${(12 * trainable).toLocaleString('en-US')} bytes`);
    expect(stdout).toMatch(/AdamW state: [\d,]+ bytes .* live on the GPU \(measured\)/);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['config.json', 'instruction-data-with-response.json', 'lora-adapters.safetensors', 'model.safetensors', 'training.json']);
    expect(readdirSync(dir)).toContain('curve.svg');
    expect(safetensorsKeys(join(dir, 'out', 'lora-adapters.safetensors'))).toContain('base_model.model.trf_blocks.0.att.W_query.lora_A.weight');
    // merged: the plain GPT-2 layout
    expect(safetensorsKeys(join(dir, 'out', 'model.safetensors')).some((k) => k.includes('lora'))).toBe(false);
  });

  it('rejects bad options with clear messages', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-instruct-cli-'));
    const badLora = await cli.run(['finetune', 'instruct', '--lora', '16'], dir);
    expect(badLora.code).toBe(1);
    expect(badLora.stderr).toMatch(/--lora must be 'rank,alpha' .* got '16'/);
    const badFormat = await cli.run(['finetune', 'instruct', '--format', 'chatml', '--data', instructionData], dir);
    expect(badFormat.code).toBe(1);
    expect(badFormat.stderr).toMatch(/unknown prompt format 'chatml' \(known: alpaca, phi3\)/);
  });
});

describe('scratchgpt finetune spam --lora', () => {
  it('trains LoRA adapters on the built-in classifier, reports the memory saved, writes the merged classifier and the adapters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-spam-lora-'));
    const args = ['finetune', 'spam', '--lora', '4,8', '--limit', '24', '--epochs', '1', '--max-length', '24', '--data', spamData, '--out', 'clf.safetensors', '--plot', 'plots-'];
    const { code, stdout, stderr } = await cli.run(args, dir);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/recipe: built-in .*; LoRA rank 4 alpha 8 \(every Linear, the rest frozen\)/);
    // The built-in model: C = 32, one block, 2-class head; rank 4 on q, k, v, out_proj, both ff layers and the head.
    const lora = 4 * 4 * (32 + 32) + 4 * (32 + 128) + 4 * (128 + 32) + 4 * (32 + 2);
    expect(stdout).toContain(`, ${lora.toLocaleString('en-US')} trainable`);
    expect(stdout).toMatch(/LoRA: gradients \+ AdamW moments [\d,]+ bytes instead of [\d,]+ for the recipe's [\d,]+ trainable parameters \([\d,]+ bytes saved\)/);
    expect(stdout).toMatch(/accuracy {3}train {5}val {7}test\n {11}\d+\.\d\d% +\d+\.\d\d% +\d+\.\d\d%/);
    expect(readdirSync(dir).sort()).toEqual(['clf.lora.safetensors', 'clf.safetensors', 'plots-accuracy.svg', 'plots-loss.svg']);
    const keys = safetensorsKeys(join(dir, 'clf.safetensors'));
    expect(keys).toContain('trf_blocks.0.att.W_query.weight');
    expect(keys.some((k) => k.includes('lora'))).toBe(false);
  });
});

describe('scratchgpt judge', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  /** A server answering each request with `reply(body, n)`; resolves to its base URL. */
  async function fakeServer(reply: (body: { messages: { content: string }[] }, res: ServerResponse, n: number) => void): Promise<string> {
    let n = 0;
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', () => reply(JSON.parse(raw), res, ++n));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const entries = [
    { instruction: 'Name the capital of France.', input: '', output: 'Paris.', model_response: 'Paris.' },
    { instruction: "What is an antonym of 'hot'?", input: '', output: 'Cold.', model_response: 'Cold.' },
    { instruction: 'Convert to passive voice.', input: 'The cat chased the mouse.', output: 'The mouse was chased by the cat.', model_response: 'The mouse chased.' },
  ];

  it('scores a responses file against an Ollama-style server: average, count, and the replies that did not parse', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-judge-cli-'));
    writeFileSync(join(dir, 'responses.json'), JSON.stringify(entries, null, 4));
    const prompts: string[] = [];
    const url = await fakeServer((body, res, n) => {
      prompts.push(body.messages[0].content);
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      const content = ['85', '90', "I'd say 70"][n - 1];
      for (const part of [content.slice(0, 1), content.slice(1)]) res.write(`${JSON.stringify({ message: { role: 'assistant', content: part }, done: false })}\n`);
      res.end(`${JSON.stringify({ message: { role: 'assistant', content: '' }, done: true })}\n`);
    });
    const { code, stdout, stderr } = await cli.run(['judge', 'responses.json', '--url', url, '--model', 'llama3'], dir);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
    expect(stdout).toContain(`judge: llama3 at ${url}/api/chat; 3 responses ('model_response') from responses.json`);
    expect(stdout).toContain('Number of scores: 2 of 3');
    expect(stdout).toContain('Average score: 87.50');
    expect(stdout).toContain(`1 reply did not parse as an integer 0…100:\n  entry 2: "I'd say 70"`);
    expect(prompts[2]).toContain('score the model response `The mouse chased.` on a scale from 0 to 100');
    expect(prompts[2]).toContain('### Input:\nThe cat chased the mouse.');
  });

  it('--api openai posts to /v1/chat/completions; no server: a clear error after the retries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-judge-cli-'));
    writeFileSync(join(dir, 'responses.json'), JSON.stringify(entries.slice(0, 2)));
    const url = await fakeServer((_body, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: '60' } }] }));
    });
    const openai = await cli.run(['judge', 'responses.json', '--api', 'openai', '--url', url, '--model', 'judge-model'], dir);
    expect(openai.code, openai.stderr).toBe(0);
    expect(openai.stdout).toContain(`judge: judge-model at ${url}/v1/chat/completions`);
    expect(openai.stdout).toContain('Average score: 60.00');
    // A port nobody listens on (the server above, closed).
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
    const down = await cli.run(['judge', 'responses.json', '--url', url, '--retries', '1', '--timeout', '500'], dir);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(new RegExp(`scratchgpt: judge request to ${url.replace(/\./g, '\\.')}/api/chat failed after 2 attempts: .*is Ollama running\\?`));
    const missing = await cli.run(['judge'], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/judge needs one responses file/);
  });
});
