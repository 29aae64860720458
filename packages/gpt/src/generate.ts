/**
 * Text generation: greedy or sampled (temperature, top-k, top-p), seeded, with EOS stop, context
 * cropping and a KV cache. Sampling runs on the GPU; each step reads back only the chosen ids.
 */
import { checkTokenIds, fromArray, inEvalMode, noGrad, sampleLogits, scope, ScratchGPTError, type Tensor } from '@scratchgpt/core';
import type { GPTModel, KVCache, KVCacheDType } from './model';

export interface GenerateOptions {
  /** Tokens to add (default 20). */
  maxNewTokens?: number;
  /** 0 = greedy (default). */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seed of the first draw; step i uses seed + i. Default: the global generator. */
  seed?: number;
  /** Stop when this token is produced (it is included), e.g. 50256. */
  eosId?: number;
  /** Reuse keys/values of earlier positions (default true). Results are identical either way. */
  useCache?: boolean;
  /**
   * Storage of the KV cache: `'f32'` (default; results identical to `useCache: false`) or `'f16'`:
   * half the cache memory and, on GPUs, half the bytes attention reads per token, for a rounding of
   * every key and value to f16 (attention still computes in f32). Logits then differ from the f32
   * cache's by ~1e-4 of their scale (the golden test model: max 1.0e-4 on logits up to 1.95), so
   * greedy output can, rarely, pick another token where two are nearly tied. `'f16'` needs the
   * adapter's `shader-f16` feature (`hasF16()`) and throws without it; it needs `useCache` too.
   * @example
   * ```ts
   * const ids = await generate(model, encode('Every effort moves you'), { maxNewTokens: 50, kvCache: hasF16() ? 'f16' : 'f32' });
   * ```
   */
  kvCache?: KVCacheDType;
}

/**
 * Yields new token ids one at a time for a single prompt (an async iterator for streaming UIs).
 * Each step runs the model in eval mode without gradients, synchronously, and restores both before
 * awaiting the chosen id: generations may overlap each other and training on the same model.
 * @example
 * ```ts
 * for await (const id of generateTokens(model, encode('Every effort moves you'), { maxNewTokens: 25 })) {
 *   process.stdout.write(decode([id]));
 * }
 * ```
 */
export async function* generateTokens(model: GPTModel, prompt: number[], options: GenerateOptions = {}): AsyncGenerator<number, void, undefined> {
  const { maxNewTokens = 20, temperature = 0, topK = 0, topP = 1, seed, eosId, useCache = true, kvCache = 'f32' } = options;
  const { contextLength, vocabSize } = model.config;
  if (prompt.length === 0) throw new ScratchGPTError('value', 'scratchgpt: generate needs a non-empty prompt');
  checkTokenIds(prompt, vocabSize);
  if (kvCache === 'f16' && !useCache) throw new ScratchGPTError('value', "scratchgpt: generate: kvCache 'f16' stores the KV cache as f16, but useCache is false: drop one of the two");
  const tokens = [...prompt];
  const cache: KVCache | null = useCache ? model.createCache(1, { dtype: kvCache }) : null;
  /** Records one step's kernels and returns the chosen id `[1]`; everything else it creates is freed. */
  const step = (i: number): Tensor => {
    // With a cache only the positions it lacks are fed; once the window would overflow, the
    // cache restarts on the cropped context (positions shift, so old keys are stale).
    let input: number[];
    if (cache && cache.length > 0 && tokens.length <= contextLength) {
      input = tokens.slice(cache.length);
    } else {
      if (cache) cache.length = 0;
      input = tokens.slice(-contextLength);
    }
    const ids = fromArray(input, [1, input.length], { dtype: 'i32' });
    const logits = model.forward(ids, { cache: cache ?? undefined, lastOnly: true }); // [1, V]
    return sampleLogits(logits, { temperature, topK, topP, seed: seed === undefined ? undefined : seed + i }); // [1]
  };
  try {
    for (let i = 0; i < maxNewTokens; i++) {
      const chosen = inEvalMode(model, () => noGrad(() => scope(() => step(i))));
      let id: number;
      try {
        // A model with non-finite outputs makes the sampler report (and this readback throw).
        id = (await chosen.toArray())[0];
      } finally {
        chosen.dispose();
      }
      if (!(id >= 0 && id < vocabSize)) throw new ScratchGPTError('disposed', `scratchgpt: generate: the sampler returned token id ${id} at step ${i}, outside the vocabulary (${vocabSize})`);
      tokens.push(id);
      yield id;
      if (eosId !== undefined && id === eosId) break;
    }
  } finally {
    cache?.dispose();
  }
}

/** Generates up to `maxNewTokens` ids after `prompt`; returns prompt + new ids. */
export async function generate(model: GPTModel, prompt: number[], options: GenerateOptions = {}): Promise<number[]> {
  const out = [...prompt];
  for await (const id of generateTokens(model, prompt, options)) out.push(id);
  return out;
}

/** Streams decoded text pieces (`decode` maps ids to text, e.g. the GPT-2 tokenizer's). */
export async function* generateText(
  model: GPTModel,
  prompt: number[],
  decode: (ids: number[]) => string,
  options: GenerateOptions = {},
): AsyncGenerator<string, void, undefined> {
  const ids: number[] = [];
  let emitted = '';
  let text = '';
  for await (const id of generateTokens(model, prompt, options)) {
    ids.push(id);
    text = decode(ids);
    // Hold back an incomplete UTF-8 sequence (decoders render it as U+FFFD) until a later token completes it.
    if (text.endsWith('\uFFFD')) continue;
    yield text.slice(emitted.length);
    emitted = text;
  }
  // What was held back at the end stays (a sequence cut by the token limit, an unknown token's U+FFFD).
  if (text.length > emitted.length) yield text.slice(emitted.length);
}
