/** GPT model configuration (the book's GPT_CONFIG_124M and friends). */
import { ScratchGPTError } from '@scratchgpt/core';

export interface GPTConfig {
  /** Vocabulary size (GPT-2 BPE: 50257). */
  vocabSize: number;
  /** Maximum sequence length (positional embeddings). */
  contextLength: number;
  /** Embedding (model) width C. */
  embDim: number;
  /** Attention heads NH (embDim must divide evenly). */
  nHeads: number;
  /** Transformer blocks L. */
  nLayers: number;
  /** Dropout on embeddings, attention weights and residual branches. */
  dropRate: number;
  /** Bias on the query/key/value projections (OpenAI's GPT-2 weights have it). */
  qkvBias: boolean;
  /** Share the token embedding with the output head (GPT-2 does; the book's from-scratch model does not). */
  tieWeights: boolean;
}

const base = { vocabSize: 50257, contextLength: 1024, dropRate: 0.1, qkvBias: false, tieWeights: false };

/** The four GPT-2 sizes: 124M, 355M, 774M, 1558M (parameter counts with tied weights). */
export const GPT2_PRESETS = {
  'gpt2-small': { ...base, embDim: 768, nLayers: 12, nHeads: 12 },
  'gpt2-medium': { ...base, embDim: 1024, nLayers: 24, nHeads: 16 },
  'gpt2-large': { ...base, embDim: 1280, nLayers: 36, nHeads: 20 },
  'gpt2-xl': { ...base, embDim: 1600, nLayers: 48, nHeads: 25 },
} satisfies Record<string, GPTConfig>;

export type GPT2Preset = keyof typeof GPT2_PRESETS;

/**
 * A preset (by name) or a configuration, with overrides, validated. An unknown preset name is an error
 * that lists the valid ones.
 * @example
 * ```ts
 * const config = gptConfig('gpt2-small', { contextLength: 256 });
 * ```
 */
export function gptConfig(preset: GPT2Preset | GPTConfig, overrides: Partial<GPTConfig> = {}): GPTConfig {
  if (typeof preset === 'string' && !Object.hasOwn(GPT2_PRESETS, preset)) {
    throw new ScratchGPTError('value', `scratchgpt: unknown GPT-2 preset '${preset}' (expected one of: ${Object.keys(GPT2_PRESETS).join(', ')})`);
  }
  const config = { ...(typeof preset === 'string' ? GPT2_PRESETS[preset] : preset), ...overrides };
  validateConfig(config);
  return config;
}

/** Throws a clear error for an inconsistent configuration. */
export function validateConfig(c: GPTConfig): void {
  for (const key of ['vocabSize', 'contextLength', 'embDim', 'nHeads', 'nLayers'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new ScratchGPTError('value', `scratchgpt: GPTConfig.${key} must be a positive integer, got ${c[key]}`);
  }
  if (c.embDim % c.nHeads !== 0) throw new ScratchGPTError('shape', `scratchgpt: GPTConfig.embDim (${c.embDim}) must be divisible by nHeads (${c.nHeads})`);
  if (!(c.dropRate >= 0 && c.dropRate < 1)) throw new ScratchGPTError('shape', `scratchgpt: GPTConfig.dropRate must be in [0, 1), got ${c.dropRate}`);
}

/** Parameter count of a configuration, computed from shapes (no GPU needed). */
export function countParameters(c: GPTConfig): number {
  const C = c.embDim;
  const block = 3 * C * C + (c.qkvBias ? 3 * C : 0) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C) + 4 * C;
  const head = c.tieWeights ? 0 : c.vocabSize * C;
  return c.vocabSize * C + c.contextLength * C + c.nLayers * block + 2 * C + head;
}
