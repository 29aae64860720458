/**
 * The architecture of a GPT-2 weights file: what its `config.json` declares (Hugging Face `GPT2Config`
 * or the book's config dict, refusing settings our model cannot reproduce), checked against what the
 * tensors show, with the head count taken from the options, the config, or OpenAI's published sizes.
 */
import { gptConfig, type GPTConfig } from './config';
import { weightsError as fail } from './gpt2-tensors';

/** The fields of Hugging Face's `GPT2Config` (a `config.json`) that matter here. */
export interface HFGPT2Config {
  model_type?: string;
  vocab_size?: number;
  n_positions?: number;
  n_ctx?: number;
  n_embd?: number;
  n_layer?: number;
  n_head?: number;
  n_inner?: number | null;
  layer_norm_epsilon?: number;
  activation_function?: string;
  tie_word_embeddings?: boolean;
  scale_attn_weights?: boolean;
  scale_attn_by_inverse_layer_idx?: boolean;
  /** Not a GPT2Config field: written by {@link exportGPT2} for a model without q/k/v biases (see there). */
  qkv_bias?: boolean;
  [key: string]: unknown;
}

/** The book's configuration dict (`GPT_CONFIG_124M`), as saved beside the book's state dicts. */
export interface BookGPTConfig {
  vocab_size: number;
  context_length: number;
  emb_dim: number;
  n_heads: number;
  n_layers: number;
  drop_rate?: number;
  qkv_bias?: boolean;
}

/** Options of {@link convertGPT2Weights} and {@link loadGPT2}. */
export interface GPT2WeightsOptions {
  /** Attention heads; needed when no config says it (must agree with the config when one does). */
  nHeads?: number;
  /** Dropout of the built model (default 0). */
  dropRate?: number;
  /**
   * Load the LM head as a parameter of its own: for a file whose head is tied to `wte` (OpenAI's
   * GPT-2), a copy of the token embeddings, as the book's `load_weights_into_gpt` assigns
   * `gpt.out_head.weight = params["wte"]`. Fine-tuning then trains the head separately from the
   * embeddings — the book's chapter-7 counts (GPT-2 355M: 406,286,336 parameters; LoRA on every Linear
   * at rank 16: 7,898,384). Default false: the head stays tied, as Hugging Face's `GPT2LMHeadModel`.
   */
  untieHead?: boolean;
}

/** What a configuration file declares, normalised; undefined where it says nothing. */
export interface Declared {
  vocabSize?: number;
  contextLength?: number;
  embDim?: number;
  nHeads?: number;
  nLayers?: number;
  qkvBias?: boolean;
  tied?: boolean;
}

/** The architecture read off the tensors of a file. */
export interface FoundShape {
  V: number;
  ctx: number;
  C: number;
  L: number;
  qkvBias: boolean;
  tied: boolean;
}

/** Heads of OpenAI's four GPT-2 sizes, keyed by `width/layers` (vocabulary 50257, context 1024). */
const OFFICIAL_HEADS: Record<string, number> = { '768/12': 12, '1024/24': 16, '1280/36': 20, '1600/48': 25 };

/** Reads a config object (Hugging Face or book keys), refusing settings our model cannot reproduce. */
export function readDeclared(config: HFGPT2Config | BookGPTConfig | undefined): Declared {
  if (!config) return {};
  if (typeof config !== 'object' || Array.isArray(config)) throw fail(`the config must be a JSON object, got ${JSON.stringify(config)}`);
  const c = config as Record<string, unknown>;
  const int = (key: string): number | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    if (!Number.isInteger(v) || (v as number) < 1) throw fail(`config.${key} must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (key: string): boolean | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw fail(`config.${key} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  if ('emb_dim' in c || 'n_heads' in c) {
    return { vocabSize: int('vocab_size'), contextLength: int('context_length'), embDim: int('emb_dim'), nHeads: int('n_heads'), nLayers: int('n_layers'), qkvBias: bool('qkv_bias') };
  }
  if (c.model_type !== undefined && c.model_type !== 'gpt2') throw fail(`config.model_type is '${String(c.model_type)}', not 'gpt2'`);
  const eps = c.layer_norm_epsilon;
  if (eps !== undefined && eps !== 1e-5) throw fail(`config.layer_norm_epsilon is ${String(eps)}; this model's LayerNorm uses 1e-5`);
  const act = c.activation_function;
  if (act !== undefined && act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    throw fail(`config.activation_function is '${String(act)}'; this model uses GELU's tanh approximation ('gelu_new')`);
  }
  if (c.scale_attn_weights === false) throw fail('config.scale_attn_weights is false; this model always scales attention scores by 1/√head_size');
  if (c.scale_attn_by_inverse_layer_idx === true) throw fail('config.scale_attn_by_inverse_layer_idx is true; this model does not support it');
  const positions = int('n_positions');
  const ctx = int('n_ctx');
  if (positions !== undefined && ctx !== undefined && positions !== ctx) throw fail(`config.n_positions (${positions}) and n_ctx (${ctx}) differ`);
  const embDim = int('n_embd');
  const inner = int('n_inner');
  if (inner !== undefined && embDim !== undefined && inner !== 4 * embDim) throw fail(`config.n_inner is ${inner}; this model's feed-forward width is 4·n_embd = ${4 * embDim}`);
  return { vocabSize: int('vocab_size'), contextLength: positions ?? ctx, embDim, nHeads: int('n_head'), nLayers: int('n_layer'), qkvBias: bool('qkv_bias'), tied: bool('tie_word_embeddings') };
}

/** Architecture read off the tensors, completed by the declared config and the options. */
export function resolveConfig(found: FoundShape, declared: Declared, options: GPT2WeightsOptions): GPTConfig {
  const { V, ctx, C, L } = found;
  const check = (what: string, declaredValue: number | undefined, actual: number): void => {
    if (declaredValue !== undefined && declaredValue !== actual) throw fail(`the config says ${what} ${declaredValue} but the tensors have ${actual}`);
  };
  check('vocab_size', declared.vocabSize, V);
  check('a context length of', declared.contextLength, ctx);
  check('a width of', declared.embDim, C);
  check('layer count', declared.nLayers, L);
  if (options.nHeads !== undefined && declared.nHeads !== undefined && options.nHeads !== declared.nHeads) {
    throw fail(`nHeads ${options.nHeads} contradicts the config's ${declared.nHeads} heads`);
  }
  const official = V === 50257 && ctx === 1024 ? OFFICIAL_HEADS[`${C}/${L}`] : undefined;
  const nHeads = options.nHeads ?? declared.nHeads ?? official;
  if (nHeads === undefined) {
    throw fail(
      `cannot know the number of attention heads of this ${C}-wide, ${L}-layer model: no config says it. ` +
        "Put the model's config.json beside the weights, or pass { config } (a config.json object, path or URL) or { nHeads }. " +
        '(Only files of exactly one of the four official GPT-2 shapes are recognised without a config.)',
    );
  }
  if (!Number.isInteger(nHeads) || nHeads < 1 || C % nHeads !== 0) throw fail(`${nHeads} heads do not divide the width ${C}`);
  return gptConfig({ vocabSize: V, contextLength: ctx, embDim: C, nHeads, nLayers: L, dropRate: options.dropRate ?? 0, qkvBias: found.qkvBias, tieWeights: found.tied });
}
