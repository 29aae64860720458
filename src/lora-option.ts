/** The `--lora r,alpha` option shared by `finetune spam` and `finetune instruct`. */

/** LoRA rank and alpha from the command line. */
export interface LoRAOption {
  rank: number;
  alpha: number;
}

/** `"16,16"` → `{ rank: 16, alpha: 16 }`; undefined stays undefined; anything else is a clear error. */
export function parseLoRAOption(text: string | undefined): LoRAOption | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*(\d+)\s*,\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*$/i.exec(text);
  const rank = m ? Number(m[1]) : NaN;
  const alpha = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(rank) || rank < 1 || !Number.isFinite(alpha) || alpha <= 0) {
    throw new Error(`scratchgpt: --lora must be 'rank,alpha' with a positive integer rank and a positive alpha (e.g. --lora 16,16), got '${text}'`);
  }
  return { rank, alpha };
}

/** Bytes of the gradients and the AdamW moments (m, v) of `trainable` f32 parameters: 3 × 4 bytes each. */
export function trainingStateBytes(trainable: number): number {
  return 3 * 4 * trainable;
}
