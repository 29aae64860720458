/**
 * `scratchgpt generate --model FILE_OR_DIR [PROMPT]`: text from a model, streamed to stdout token by token.
 * The model is a `pretrain --out` checkpoint, an `instruct-model/` directory written by `finetune instruct`
 * (its subvocabulary and prompt format come along: `--instruction`/`--input` are formatted as the model
 * was trained, Alpaca or Phi-3, and generation stops at its end token) or GPT-2 weights (a safetensors
 * file or URL, the Hugging Face or the book's layout). Greedy by default; `--temperature`, `--top-k`,
 * `--top-p` and `--seed` sample.
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promptFormat, Subvocabulary, type PromptFormat } from '@scratchgpt/finetune';
import { decode as gpt2Decode, encode as gpt2Encode, EOT_TOKEN, generateText, loadCheckpoint, loadGPT2, type GPTModel } from '@scratchgpt/gpt';
import { initDevice, readTextFile } from './finetune-shared';

export interface GenerateCommandOptions {
  model: string;
  prompt?: string;
  instruction?: string;
  input?: string;
  format?: string;
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed?: number;
  backend?: string;
}

/** What `finetune instruct` writes beside its model (training.json): how prompts were formatted. */
export interface TrainingInfo {
  format: 'alpaca' | 'phi3';
  maskInstruction: boolean;
}

/** A model ready to generate from, with its tokenizer and stop token. */
interface Loaded {
  model: GPTModel;
  what: string;
  encode: (text: string) => number[];
  decode: (ids: number[]) => string;
  eosId: number;
  /** The prompt format the model was trained with (instruct-model directories). */
  format?: PromptFormat;
}

/** The `format` metadata of a safetensors file (read from its header only), or null when it has none. */
async function safetensorsFormat(path: string): Promise<string | null> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await file.read(head, 0, 8, 0);
    if (bytesRead < 8) throw new Error(`scratchgpt: ${path} is not a safetensors file (${bytesRead} bytes)`);
    const length = Number(head.readBigUInt64LE(0));
    const { size } = await file.stat();
    if (length < 2 || 8 + length > size || length > 100 * 2 ** 20) throw new Error(`scratchgpt: ${path} is not a safetensors file (header length ${length} in a file of ${size} bytes)`);
    const header = Buffer.alloc(length);
    await file.read(header, 0, length, 8);
    const meta = (JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, string> }).__metadata__;
    return meta?.format ?? null;
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`scratchgpt: ${path} is not a safetensors file (its header is not JSON)`);
    throw err;
  } finally {
    await file.close();
  }
}

const gpt2 = { encode: (t: string) => gpt2Encode(t, { allowedSpecial: 'all' }), decode: (ids: number[]) => gpt2Decode(ids), eosId: EOT_TOKEN };

async function loadModel(source: string): Promise<Loaded> {
  if (/^https?:\/\//i.test(source)) return { model: await loadGPT2(source), what: `GPT-2 weights from ${source}`, ...gpt2 };
  const info = await stat(source).catch((err: Error) => {
    throw new Error(`scratchgpt: cannot read the model ${source} (${err.message})`);
  });
  if (info.isDirectory()) {
    const weights = join(source, 'model.safetensors');
    await stat(weights).catch(() => {
      throw new Error(`scratchgpt: ${source} is a directory without model.safetensors (expected what \`finetune instruct --out\` or saveGPT2 writes)`);
    });
    const model = await loadGPT2(weights); // its config.json beside it
    const vocabText = await readTextFile(join(source, 'vocabulary.json'), 'the vocabulary').catch(() => null);
    const trainingText = await readTextFile(join(source, 'training.json'), 'the training info').catch(() => null);
    const training = trainingText === null ? null : (JSON.parse(trainingText) as TrainingInfo);
    const format = training ? promptFormat(training.format) : undefined;
    if (vocabText === null) return { model, what: `the model in ${source}`, ...gpt2, format };
    const { gpt2Ids } = JSON.parse(vocabText) as { gpt2Ids: number[] };
    const vocab = new Subvocabulary(gpt2Ids);
    if (vocab.size !== model.config.vocabSize) {
      model.dispose();
      throw new Error(`scratchgpt: ${source}: vocabulary.json has ${vocab.size} ids but the model's vocabulary is ${model.config.vocabSize}`);
    }
    return { model, what: `the model in ${source} (subvocabulary of ${vocab.size} tokens)`, encode: (t) => vocab.encode(t), decode: (ids) => vocab.decode(ids), eosId: vocab.id(EOT_TOKEN), format };
  }
  const format = await safetensorsFormat(source);
  if (format === 'scratchgpt-checkpoint-v1') return { model: (await loadCheckpoint(source)).model, what: `the checkpoint ${source}`, ...gpt2 };
  if (format === 'scratchgpt-classifier-v1') throw new Error(`scratchgpt: ${source} is a classifier, which labels texts rather than continuing them: use \`scratchgpt classify --model ${source} TEXT\``);
  return { model: await loadGPT2(source), what: `GPT-2 weights ${source}`, ...gpt2 };
}

/**
 * Drops the response header a prompt format has the model write first (`### Response:`), and the
 * whitespace after it, from the start of a stream of text pieces; `end()` returns what is still held.
 */
function withoutHeader(header: string): { push(piece: string): string; end(): string } {
  let pending = '';
  let done = false;
  return {
    push(piece) {
      if (done) return piece;
      pending += piece;
      const trimmed = pending.trimStart();
      if (trimmed.length < header.length && header.startsWith(trimmed)) return '';
      done = true;
      return (trimmed.startsWith(header) ? trimmed.slice(header.length) : trimmed).trimStart();
    },
    end: () => (done ? '' : pending.trimStart()),
  };
}

export async function runGenerate(o: GenerateCommandOptions): Promise<number> {
  const instructed = o.instruction !== undefined || o.input !== undefined;
  if (instructed && o.prompt !== undefined) throw new Error('scratchgpt: generate takes a PROMPT or --instruction/--input, not both');
  if (!instructed && o.prompt === undefined) throw new Error('scratchgpt: generate needs a PROMPT (or --instruction TEXT [--input TEXT] for an instruction-tuned model)');
  if (instructed && o.instruction === undefined) throw new Error('scratchgpt: --input needs --instruction');
  await initDevice(o.backend, o.seed ?? 0, (line) => console.error(line)); // stdout carries the text only
  const loaded = await loadModel(o.model);
  const { model } = loaded;
  try {
    const format = o.format !== undefined ? promptFormat(o.format as 'alpaca') : (loaded.format ?? promptFormat('alpaca'));
    const prompt = instructed ? format.prompt({ instruction: o.instruction!, input: o.input ?? '' }) : o.prompt!;
    const ids = loaded.encode(prompt);
    if (ids.length === 0) throw new Error('scratchgpt: the prompt has no tokens');
    console.error(`model: ${loaded.what}; ${instructed ? `${format.name} prompt, ` : ''}${ids.length} prompt tokens, up to ${o.maxNewTokens} new (${o.temperature > 0 ? `temperature ${o.temperature}` : 'greedy'})`);
    const header = format.name === 'phi3' ? '<|assistant|>:' : '### Response:';
    const clean = instructed ? withoutHeader(header) : { push: (piece: string) => piece, end: () => '' };
    if (!instructed) process.stdout.write(prompt);
    const eos = loaded.eosId;
    const decode = (generated: number[]) => loaded.decode(generated[generated.length - 1] === eos ? generated.slice(0, -1) : generated);
    for await (const piece of generateText(model, ids, decode, { maxNewTokens: o.maxNewTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed, eosId: eos })) {
      process.stdout.write(clean.push(piece));
    }
    process.stdout.write(`${clean.end()}\n`);
  } finally {
    model.dispose();
  }
  return 0;
}
