/**
 * Batching of variable-length token sequences for instruction fine-tuning, exactly like the book's
 * `custom_collate_fn` (chapter 7), optionally masking the prompt tokens as in its exercise 7.2. The
 * result is a `TokenBatch` of `@scratchgpt/gpt`, so the language-model loss and training loop take it
 * as is (`crossEntropy` skips the -100 targets).
 */
import { ScratchGPTError } from '@scratchgpt/core';
import { EOT_TOKEN, type TokenBatch } from '@scratchgpt/gpt';

/** PyTorch's default `ignore_index`: targets with this value do not count in the loss. */
export const IGNORE_INDEX = -100;

/** Options of {@link collateInstructions}. */
export interface CollateOptions {
  /** Appended once to every sequence and used as padding (default 50256, `<|endoftext|>`). */
  padTokenId?: number;
  /** What masked targets become (default -100). */
  ignoreIndex?: number;
  /** Truncate inputs and targets to this many positions (the book passes 1024, the context length). */
  allowedMaxLength?: number;
  /**
   * Tokens of each sequence's prompt: the first `promptLengths[i] − 1` targets of row i are masked too
   * (the book's exercise 7.2: `targets[:instruction_length-1] = -100`), so only the response is learned.
   * A length ≤ 1 masks nothing.
   */
  promptLengths?: ArrayLike<number>;
}

function checkInt(what: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new ScratchGPTError('value', `scratchgpt: ${what} must be an integer ≥ ${min}, got ${v}`);
}

/**
 * The error for rows whose every target is ignored (the prompt mask reaches the end of the row or the
 * `allowedMaxLength` cut): they add nothing to learn, and a batch of only such rows has a NaN loss that
 * looks like divergence. Names the rows (at most 10), their prompt lengths and the cut. Thrown by
 * {@link collateInstructions} for a batch with no target at all, and by `InstructionLoader` for any
 * entry with none (before training starts).
 */
export function noTargetLeft(rows: readonly { label: string; prompt: number }[], of: number, noun: 'sequence' | 'entry', allowedMaxLength: number | undefined): ScratchGPTError {
  const shown = rows.slice(0, 10).map((r) => `${r.label} (prompt ${r.prompt} tokens)`).join(', ');
  const cut = allowedMaxLength !== undefined ? `, cut at allowedMaxLength ${allowedMaxLength}` : '';
  return new ScratchGPTError('value',
    `scratchgpt: ${rows.length} of ${of} ${noun === 'entry' ? 'entries' : 'sequences'} ${rows.length === 1 ? 'has' : 'have'} no target left to learn: the prompt mask covers every position${cut}: ` +
      `${shown}${rows.length > 10 ? ', ...' : ''}. Raise allowedMaxLength, drop or shorten these entries, or train without maskPrompt`,
  );
}

/**
 * The book's `custom_collate_fn`: each sequence gets one `padTokenId` appended and is padded with
 * `padTokenId` to the longest sequence + 1; inputs are all but the last position, targets are shifted
 * by one; in each row's targets every `padTokenId` after the first becomes `ignoreIndex` (like the
 * book, this compares values, so a 50256 inside the text counts as a pad too); then the prompt mask
 * (if `promptLengths`) and finally the `allowedMaxLength` truncation. Shape `[B, T]` with
 * T = min(longest sequence, allowedMaxLength).
 * @example
 * ```ts
 * const { inputs, targets, shape } = collateInstructions([[0, 1, 2, 3, 4], [5, 6], [7, 8, 9]]);
 * // shape [3, 5]; inputs  [0,1,2,3,4,  5,6,50256,50256,50256,  7,8,9,50256,50256]
 * //               targets [1,2,3,4,50256,  6,50256,-100,-100,-100,  8,9,50256,-100,-100]
 * ```
 */
export function collateInstructions(sequences: readonly ArrayLike<number>[], options: CollateOptions = {}): TokenBatch {
  const { padTokenId = EOT_TOKEN, ignoreIndex = IGNORE_INDEX, allowedMaxLength, promptLengths } = options;
  checkInt('padTokenId', padTokenId, 0);
  if (!Number.isInteger(ignoreIndex)) throw new ScratchGPTError('value', `scratchgpt: ignoreIndex must be an integer, got ${ignoreIndex}`);
  if (allowedMaxLength !== undefined) checkInt('allowedMaxLength', allowedMaxLength, 1);
  const B = sequences.length;
  if (B === 0) throw new ScratchGPTError('value', 'scratchgpt: collateInstructions needs at least one sequence');
  if (promptLengths && promptLengths.length !== B) {
    throw new ScratchGPTError('value', `scratchgpt: collateInstructions got ${promptLengths.length} prompt lengths for ${B} sequences`);
  }
  let longest = 0;
  sequences.forEach((seq, row) => {
    for (let i = 0; i < seq.length; i++) {
      const id = seq[i];
      if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) throw new ScratchGPTError('value', `scratchgpt: token id ${id} at position ${i} of sequence ${row} is not a valid id`);
    }
    if (promptLengths) checkInt(`prompt length of sequence ${row}`, promptLengths[row], 0);
    longest = Math.max(longest, seq.length);
  });
  const padded = longest + 1; // the book's batch_max_length
  const T = Math.min(padded - 1, allowedMaxLength ?? Infinity);
  if (T === 0) throw new ScratchGPTError('value', 'scratchgpt: collateInstructions got only empty sequences');

  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const rowTargets = new Int32Array(padded - 1);
  const nothingLeft: number[] = [];
  sequences.forEach((seq, row) => {
    // padded[j] = seq[j] for j < len, else padTokenId (the appended end token and the padding).
    const at = (j: number): number => (j < seq.length ? seq[j] : padTokenId);
    let pads = 0;
    for (let j = 0; j < padded - 1; j++) {
      const t = at(j + 1);
      rowTargets[j] = t === padTokenId && pads++ > 0 ? ignoreIndex : t;
    }
    const masked = promptLengths ? Math.max(0, promptLengths[row] - 1) : 0;
    rowTargets.fill(ignoreIndex, 0, Math.min(masked, padded - 1));
    let counted = 0;
    for (let j = 0; j < T; j++) {
      inputs[row * T + j] = at(j);
      targets[row * T + j] = rowTargets[j];
      if (rowTargets[j] !== ignoreIndex) counted++;
    }
    if (counted === 0) nothingLeft.push(row);
  });
  // A row with nothing left is the book's behaviour (it counts for nothing); a batch with nothing left has a NaN loss.
  if (nothingLeft.length === B) throw noTargetLeft(nothingLeft.map((row) => ({ label: `sequence ${row}`, prompt: promptLengths?.[row] ?? 0 })), B, 'sequence', allowedMaxLength);
  return { inputs, targets, shape: [B, T] };
}
