/**
 * GPT-2 weights in and out: loading the Hugging Face and the book's layouts (config.json beside the
 * file or passed, never a guessed head count, untied heads, no q/k/v biases, the book's names), and
 * exporting any GPTModel in the Hugging Face layout, proved by round trips through loadGPT2 and by
 * committed fixtures that fixtures/check_hf_export.py loads into the book's PyTorch model.
 */
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, memory, noGrad } from '@scratchgpt/core/node';
import { exportGPT2, GPTModel, loadGPT2, parseSafetensors, saveGPT2, serializeSafetensors, type TensorToWrite } from '../src/index.node';
import { compare, goldenConfig, goldenModel, tensorOf } from './golden';
import { goldenAsHF, goldenBookTensors } from './hf-layout';

beforeAll(async () => {
  await init();
});

const ids = tensorOf('input_ids');
const goldenLogits = tensorOf('logits').data;
/** The book's config dict of the fixture (as golden.json holds it). */
const bookConfig = JSON.parse(readFileSync(new URL('./fixtures/golden.json', import.meta.url), 'utf8')).config as Record<string, unknown>;
/** A Hugging Face config.json for the fixture's shape. */
const hfConfig = { model_type: 'gpt2', vocab_size: 96, n_positions: 16, n_ctx: 16, n_embd: 32, n_layer: 2, n_head: 4, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new' };

async function logitsOf(model: GPTModel): Promise<Float32Array> {
  model.eval();
  const input = fromArray(ids.data, ids.shape, { dtype: 'i32' });
  const logits = noGrad(() => model.forward(input));
  const out = (await logits.toArray()) as Float32Array;
  input.dispose();
  logits.dispose();
  return out;
}

function bytesOf(tensors: Map<string, TensorToWrite>): Uint8Array {
  return serializeSafetensors(tensors);
}

describe('loadGPT2: the architecture comes from a config, never a guess', () => {
  it('reads config.json beside a file, or a config passed as object, path or URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-hf-'));
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, bytesOf(goldenAsHF({ lmHead: true })));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfig));
    const fromFile = await loadGPT2(file);
    expect(fromFile.config).toEqual({ ...goldenConfig, dropRate: 0 });
    expect(compare(await logitsOf(fromFile), goldenLogits, 1e-4, 1e-5).ok).toBe(true);
    fromFile.dispose();

    const bytes = bytesOf(goldenAsHF({ lmHead: true }));
    const configPath = join(dir, 'my-config.json');
    writeFileSync(configPath, JSON.stringify({ ...hfConfig, n_head: 8 }));
    expect((await loadGPT2(bytes, { config: hfConfig })).config.nHeads).toBe(4);
    expect((await loadGPT2(bytes, { config: configPath })).config.nHeads).toBe(8);
    expect((await loadGPT2(bytes, { config: bookConfig })).config.nHeads).toBe(4);

    const server = createServer((req, res) => {
      if (req.url === '/m/model.safetensors') res.end(Buffer.from(bytes));
      else if (req.url === '/m/config.json' || req.url === '/other.json') res.end(JSON.stringify(hfConfig));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const cacheDir = mkdtempSync(join(tmpdir(), 'sg-hf-cache-'));
      expect((await loadGPT2(`${base}/m/model.safetensors`, { cacheDir })).config.nHeads).toBe(4); // config.json beside the URL
      expect((await loadGPT2(bytes, { config: new URL(`${base}/other.json`), cacheDir })).config.nHeads).toBe(4);
      await expect(loadGPT2(bytes, { config: `${base}/missing.json`, cacheDir })).rejects.toThrow(/the config 'http:.*missing\.json' does not exist/);
    } finally {
      server.close();
    }
  });

  it('fails when the head count cannot be known, or when the config contradicts the tensors', async () => {
    const bytes = bytesOf(goldenAsHF());
    const base = memory();
    await expect(loadGPT2(bytes)).rejects.toThrow(/cannot know the number of attention heads of this 32-wide, 2-layer model: no config says it.*official GPT-2 shapes/);
    await expect(loadGPT2(bytes, { config: hfConfig, nHeads: 8 })).rejects.toThrow(/nHeads 8 contradicts the config's 4 heads/);
    await expect(loadGPT2(bytes, { config: { ...hfConfig, n_embd: 768 } })).rejects.toThrow(/the config says a width of 768 but the tensors have 32/);
    await expect(loadGPT2(bytes, { config: { ...hfConfig, n_layer: 12 } })).rejects.toThrow(/layer count 12 but the tensors have 2/);
    await expect(loadGPT2(bytes, { config: { ...hfConfig, layer_norm_epsilon: 1e-6 } })).rejects.toThrow(/layer_norm_epsilon is 0\.000001; this model's LayerNorm uses 1e-5/);
    await expect(loadGPT2(bytes, { config: { ...hfConfig, activation_function: 'relu' } })).rejects.toThrow(/activation_function is 'relu'/);
    await expect(loadGPT2(bytes, { config: { ...hfConfig, n_head: 5 } })).rejects.toThrow(/5 heads do not divide the width 32/);
    const dir = mkdtempSync(join(tmpdir(), 'sg-hf-badcfg-'));
    writeFileSync(join(dir, 'model.safetensors'), bytes);
    writeFileSync(join(dir, 'config.json'), '{"n_head": 4,');
    await expect(loadGPT2(join(dir, 'model.safetensors'))).rejects.toThrow(/the config '.*config\.json' is not valid JSON/);
    expect(memory().liveTensors).toBe(base.liveTensors);
  });
});

describe('loadGPT2: what the tensors say', () => {
  it('loads an untied lm_head (and ties it only when it equals wte)', async () => {
    const untied = await loadGPT2(bytesOf(goldenAsHF({ prefix: 'transformer.', lmHead: true })), { nHeads: 4 });
    expect(untied.config.tieWeights).toBe(false);
    const d = compare(await logitsOf(untied), goldenLogits, 1e-4, 1e-5);
    console.log(`untied HF file vs PyTorch golden logits: max abs diff ${d.maxAbs.toExponential(2)}`);
    expect(d.ok).toBe(true);
    untied.dispose();
    const same = goldenAsHF({ lmHead: true });
    same.set('lm_head.weight', { ...same.get('wte.weight')! });
    const tied = await loadGPT2(bytesOf(same), { nHeads: 4 });
    expect(tied.config.tieWeights).toBe(true);
    tied.dispose();
    await expect(loadGPT2(bytesOf(same), { config: { ...hfConfig, tie_word_embeddings: false } })).resolves.toSatisfy((m: GPTModel) => !m.config.tieWeights);
    await expect(loadGPT2(bytesOf(goldenAsHF({ lmHead: true })), { config: { ...hfConfig, tie_word_embeddings: true } })).rejects.toThrow(/tie_word_embeddings but tensor 'lm_head.weight' differs/);
  });

  it('loads weights without q/k/v biases (qkvBias false), refusing a file where only some layers have them', async () => {
    const hf = await loadGPT2(bytesOf(goldenAsHF({ qkvBias: false })), { nHeads: 4 });
    expect(hf.config.qkvBias).toBe(false);
    expect(hf.namedParameters().some(([n]) => n.endsWith('W_query.bias'))).toBe(false);
    // The same weights through the book's layout: an independent path to the same model.
    const book = await loadGPT2(bytesOf(goldenBookTensors({ qkvBias: false, outHead: false })), { nHeads: 4 });
    expect(book.config).toEqual(hf.config);
    expect(compare(await logitsOf(hf), await logitsOf(book), 0, 0).ok).toBe(true);
    const partial = goldenAsHF();
    partial.delete('h.1.attn.c_attn.bias');
    await expect(loadGPT2(bytesOf(partial), { nHeads: 4 })).rejects.toThrow(/tensor 'h\.1\.attn\.c_attn\.bias' is missing while layer 0 has one/);
  });

  it("loads the book's own state-dict names (scale/shift, out_head, att.mask buffers), ignoring tensors outside the model", async () => {
    const tensors = goldenBookTensors();
    tensors.set('trf_blocks.0.att.mask', { dtype: 'F32', shape: [16, 16], data: new Float32Array(256) });
    const model = await loadGPT2(bytesOf(tensors), { config: bookConfig as never });
    // The whole fixture file: parameters plus inputs, logits, gradients and AdamW losses.
    const whole = await loadGPT2(new Uint8Array(readFileSync(new URL('./fixtures/golden.safetensors', import.meta.url))), { nHeads: 4 });
    expect(compare(await logitsOf(whole), goldenLogits, 1e-4, 1e-5).ok).toBe(true);
    whole.dispose();
    expect(model.config).toEqual({ ...goldenConfig, dropRate: 0 });
    const d = compare(await logitsOf(model), goldenLogits, 1e-4, 1e-5);
    console.log(`book-layout file vs PyTorch golden logits: max abs diff ${d.maxAbs.toExponential(2)}`);
    expect(d.ok).toBe(true);
    model.dispose();
  });

  it('names the tensor that is missing, mismatched, or fits nowhere', async () => {
    const broken = goldenAsHF();
    broken.delete('h.1.mlp.c_fc.bias');
    await expect(loadGPT2(bytesOf(broken), { nHeads: 4 })).rejects.toThrow(/tensor 'h\.1\.mlp\.c_fc\.bias' is missing/);
    const wrong = goldenAsHF();
    wrong.set('h.0.attn.c_proj.weight', { dtype: 'F32', shape: [32, 31], data: new Float32Array(32 * 31) });
    await expect(loadGPT2(bytesOf(wrong), { nHeads: 4 })).rejects.toThrow(/'h\.0\.attn\.c_proj\.weight' has shape \[32, 31\], expected \[32, 32\]/);
    const extra = goldenAsHF();
    extra.set('h.0.attn.lora_A', { dtype: 'F32', shape: [4], data: new Float32Array(4) });
    await expect(loadGPT2(bytesOf(extra), { nHeads: 4 })).rejects.toThrow(/tensor 'h\.0\.attn\.lora_A' has no place in a Hugging Face GPT-2 model/);
    const bookExtra = goldenBookTensors();
    bookExtra.set('trf_blocks.1.att.W_query.lora_B', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    await expect(loadGPT2(bytesOf(bookExtra), { nHeads: 4 })).rejects.toThrow(/tensor 'trf_blocks\.1\.att\.W_query\.lora_B' has no place in the book's GPTModel/);
    await expect(loadGPT2(bytesOf(new Map([['foo.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) } as TensorToWrite]])))).rejects.toThrow(/found neither 'wte\.weight' \(Hugging Face GPT-2\) nor 'tok_emb\.weight'.*'foo\.weight'/);
    await expect(loadGPT2(new TextEncoder().encode('<html>rate limited</html>'))).rejects.toThrow(/not a safetensors file/);
  });
});

/** The model variants an export must handle: q/k/v biases or not, tied head or not. */
async function variants(): Promise<[string, GPTModel][]> {
  return [
    ['untied, q/k/v biases (the golden model)', goldenModel()],
    ['tied, q/k/v biases', goldenModel({ tieWeights: true })],
    ['tied, no q/k/v biases', await loadGPT2(bytesOf(goldenBookTensors({ qkvBias: false, outHead: false })), { nHeads: 4 })],
    ['untied, no q/k/v biases', await loadGPT2(bytesOf(goldenBookTensors({ qkvBias: false })), { nHeads: 4 })],
  ];
}

describe('exportGPT2: any GPTModel in the Hugging Face GPT-2 layout', () => {
  it('round-trips through loadGPT2 with identical logits and configuration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-export-'));
    for (const [what, model] of await variants()) {
      const exported = await exportGPT2(model);
      const names = [...parseSafetensors(exported.safetensors).tensors.keys()];
      // Tied: openai-community/gpt2's names; untied: transformer.-prefixed names plus lm_head.weight.
      expect(names.includes('lm_head.weight'), what).toBe(!model.config.tieWeights);
      expect(names.every((n) => n === 'lm_head.weight' || n.startsWith('transformer.') === !model.config.tieWeights), what).toBe(true);
      expect(exported.config.tie_word_embeddings, what).toBe(model.config.tieWeights);
      const back = await loadGPT2(exported.safetensors, { config: exported.config });
      expect(back.config, what).toEqual(model.config);
      const expected = await logitsOf(model);
      expect(compare(await logitsOf(back), expected, 0, 0).ok, what).toBe(true);
      // And as a from_pretrained directory: config.json beside model.safetensors.
      const out = join(dir, what.replace(/[^a-z]+/g, '-'));
      await saveGPT2(out, model);
      expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
      const fromDir = await loadGPT2(join(out, 'model.safetensors'));
      expect(compare(await logitsOf(fromDir), expected, 0, 0).ok, what).toBe(true);
      for (const m of [model, back, fromDir]) m.dispose();
    }
  });

  it('writes exactly the hand-made Hugging Face layout, with a GPT2Config', async () => {
    const model = goldenModel();
    const { safetensors, config } = await exportGPT2(model);
    const exported = parseSafetensors(safetensors).tensors;
    const oracle = goldenAsHF({ prefix: 'transformer.', lmHead: true });
    for (const name of [...oracle.keys()]) if (name.endsWith('.attn.bias')) oracle.delete(name); // mask buffers are not written
    expect([...exported.keys()].sort()).toEqual([...oracle.keys()].sort());
    for (const [name, t] of oracle) {
      expect(exported.get(name)!.shape, name).toEqual([...t.shape]);
      expect(Array.from(exported.get(name)!.data), name).toEqual(Array.from(t.data));
    }
    expect(config).toMatchObject({
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: 96,
      n_positions: 16,
      n_ctx: 16,
      n_embd: 32,
      n_layer: 2,
      n_head: 4,
      activation_function: 'gelu_new',
      layer_norm_epsilon: 1e-5,
      resid_pdrop: 0,
      embd_pdrop: 0,
      attn_pdrop: 0,
      tie_word_embeddings: false,
    });
    expect(config).not.toHaveProperty('qkv_bias');
    model.dispose();
  });

  it('writes zero c_attn biases and qkv_bias false for a model without q/k/v biases', async () => {
    const model = await loadGPT2(bytesOf(goldenBookTensors({ qkvBias: false, outHead: false })), { nHeads: 4 });
    const { safetensors, config } = await exportGPT2(model);
    const bias = parseSafetensors(safetensors).tensors.get('h.0.attn.c_attn.bias')!;
    expect(bias.shape).toEqual([96]);
    expect(Array.from(bias.data).every((v) => v === 0)).toBe(true);
    expect(config.qkv_bias).toBe(false);
    model.dispose();
  });

  it('refuses parameters GPT-2 has no place for, and non-finite weights', async () => {
    const model = goldenModel();
    const t = model.namedParameters().find(([n]) => n === 'final_norm.bias')![1];
    const bad = fromArray(Float32Array.from({ length: 32 }, (_, i) => (i === 5 ? NaN : 0)), [32]);
    model.loadStateDict(new Map([['final_norm.bias', bad]]), { strict: false });
    bad.dispose();
    await expect(exportGPT2(model)).rejects.toThrow(/refusing to export the model: tensor 'final_norm\.bias' holds NaN at index 5/);
    expect(t.shape).toEqual([32]);
    model.dispose();
  });

  // The fixtures that fixtures/check_hf_export.py loads into the book's PyTorch GPTModel. Regenerate
  // with SCRATCHGPT_WRITE_FIXTURES=1 after a deliberate change of the export format.
  it('matches the committed export fixtures checked by PyTorch', async () => {
    const fixtures: [string, () => Promise<GPTModel>][] = [
      ['golden-hf', async () => goldenModel()],
      ['golden-hf-tied-nobias', () => loadGPT2(bytesOf(goldenBookTensors({ qkvBias: false, outHead: false })), { nHeads: 4 })],
    ];
    for (const [name, make] of fixtures) {
      const model = await make();
      const { safetensors, configJson } = await exportGPT2(model);
      const dir = new URL(`./fixtures/${name}/`, import.meta.url);
      if (process.env.SCRATCHGPT_WRITE_FIXTURES === '1') {
        mkdirSync(dir, { recursive: true });
        writeFileSync(new URL('model.safetensors', dir), safetensors);
        writeFileSync(new URL('config.json', dir), configJson);
      }
      expect(Buffer.from(safetensors).equals(readFileSync(new URL('model.safetensors', dir))), name).toBe(true);
      expect(configJson, name).toBe(readFileSync(new URL('config.json', dir), 'utf8'));
      model.dispose();
    }
  });
});


describe('loadGPT2 untieHead (issue 18 #11: the book loads the head as its own copy of wte)', () => {
  for (const [layout, tensors] of [
    ['Hugging Face', () => goldenAsHF()],
    ["the book's (no out_head)", () => goldenBookTensors({ outHead: false })],
  ] as const) {
    it(`${layout} layout with a tied head: a separate out_head equal to wte, the same logits`, async () => {
      const bytes = bytesOf(tensors());
      const tied = await loadGPT2(bytes, { nHeads: 4 });
      const untied = await loadGPT2(bytes, { nHeads: 4, untieHead: true });
      expect(tied.config.tieWeights).toBe(true);
      expect(untied.config.tieWeights).toBe(false);
      expect(untied.out_head).not.toBeNull();
      expect(untied.out_head!.weight).not.toBe(untied.tok_emb.weight);
      expect(await untied.out_head!.weight.toArray()).toEqual(await untied.tok_emb.weight.toArray());
      const [V, C] = untied.tok_emb.weight.shape;
      expect(untied.numParameters()).toBe(tied.numParameters() + V * C);
      expect(await logitsOf(untied)).toEqual(await logitsOf(tied));
      tied.dispose();
      untied.dispose();
    });
  }

  it('a file with its own head keeps it (untieHead changes nothing)', async () => {
    const bytes = bytesOf(goldenAsHF({ lmHead: true }));
    const model = await loadGPT2(bytes, { nHeads: 4, untieHead: true });
    expect(await model.out_head!.weight.toArray()).toEqual(tensorOf('out_head.weight').data);
    model.dispose();
  });
});

describe("loadGPT2 recognises the library's other files (issue 18 #8)", () => {
  it('a training checkpoint and a LoRA adapter file get an error saying what they are', async () => {
    const checkpoint = serializeSafetensors(goldenBookTensors(), { format: 'scratchgpt-checkpoint-v1' });
    await expect(loadGPT2(checkpoint)).rejects.toThrow(/the file is a training checkpoint saved by scratchgpt .*: read it with loadCheckpoint\(\)/);
    const adapters = serializeSafetensors(new Map([['base_model.model.trf_blocks.0.att.W_query.lora_A.weight', { dtype: 'F32', shape: [2, 4], data: new Float32Array(8) }]]) as Map<string, TensorToWrite>, { format: 'pt' });
    await expect(loadGPT2(adapters)).rejects.toThrow(/holds LoRA adapters only \(tensors such as 'base_model.model.trf_blocks.0.att.W_query.lora_A.weight'\), not a model/);
  });
});
