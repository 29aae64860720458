/**
 * What `scratchgpt finetune spam` and `scratchgpt finetune instruct` share: reading a data file (the
 * bundled one by default), starting the device, the optimizer settings both recipes use, the progress
 * display of a training run, and the loss plot.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { init, manualSeed, memory, type Backend } from '@scratchgpt/core/node';
import { decodeUtf8, type TrainProgress } from '@scratchgpt/gpt';
import { linePlotSvg, ProgressBar } from './progress';

/**
 * The text of `path`, or of the bundled `packages/finetune/data/<bundled>` when none is given, decoded
 * as UTF-8 strictly (a file in another encoding is an error naming it and the byte offset, not text with
 * replacement characters); a file that cannot be read is an error naming `what` and the path.
 */
export async function readDataFile(path: string | undefined, bundled: string, what: string): Promise<string> {
  const dataPath = path ?? fileURLToPath(new URL(`../packages/finetune/data/${bundled}`, import.meta.url));
  return readTextFile(dataPath, what, '; pass --data FILE');
}

/** A user's text file, strictly UTF-8 (see {@link readDataFile}); `hint` is appended to a read error. */
export async function readTextFile(path: string, what: string, hint = ''): Promise<string> {
  const bytes = await readFile(path).catch((err: Error) => {
    throw new Error(`scratchgpt: cannot read ${what} at ${path} (${err.message})${hint}`);
  });
  return decodeUtf8(bytes, `${what} at ${path}`);
}

/** Starts the device on `backend` (default: the best available), prints the adapter (with `log`, default stdout) and seeds the generator. */
export async function initDevice(backend: string | undefined, seed: number, log: (line: string) => void = console.log): Promise<void> {
  const gpu = await init({ backend: backend as Backend | undefined });
  log(`adapter: ${gpu.adapterName} (${gpu.backend}, ${gpu.featureLevel})`);
  manualSeed(seed);
}

/** The loop settings of both fine-tuning recipes: AdamW with weight decay 0.1, losses over 5 batches every `evalFreq` steps. */
export function recipeSettings(recipe: { epochs: number; lr: number }, evalFreq: number): { epochs: number; lr: number; weightDecay: number; evalFreq: number; evalIter: number } {
  return { epochs: recipe.epochs, lr: recipe.lr, weightDecay: 0.1, evalFreq, evalIter: 5 };
}

/** How {@link TrainingDisplay} words what differs between the commands. */
export interface TrainingDisplayText {
  /** Bytes of the AdamW state measured after the first step, as printed. */
  bytes: (n: number) => string;
  /** The line for an epoch-end report (sample text, accuracies), or undefined when `p` is not one. */
  epochEnd: (p: TrainProgress) => string | undefined;
  /** Appended to each evaluation's loss line (default nothing). */
  lossDetail?: (p: TrainProgress) => string;
}

/**
 * The progress of a fine-tuning run on the terminal: a bar over its batches, a line per evaluation and
 * per epoch report, and the AdamW state measured on the GPU after the first step. Create it right
 * before training (it measures the live memory and the time from then); pass {@link onProgress} to the
 * loop and call {@link finish} after it.
 */
export class TrainingDisplay {
  private readonly bar: ProgressBar;
  private readonly t0 = performance.now();
  private readonly liveBefore = memory().liveBytes;

  constructor(
    totalBatches: number,
    private readonly epochs: number,
    private readonly text: TrainingDisplayText,
  ) {
    this.bar = new ProgressBar(totalBatches);
  }

  readonly onProgress = (p: TrainProgress): void => {
    // After the first step the only new live buffers are AdamW's moments (gradients are freed after each step).
    if (p.step === 1 && !p.epochEnd) this.bar.log(`AdamW state: ${this.text.bytes(memory().liveBytes - this.liveBefore)} live on the GPU (measured)`);
    const epochLine = this.text.epochEnd(p);
    if (epochLine !== undefined) {
      this.bar.log(epochLine);
      return;
    }
    if (p.trainLoss !== undefined) {
      this.bar.log(`epoch ${p.epoch + 1} step ${String(p.step).padStart(4)}: train loss ${p.trainLoss.toFixed(3)}, val loss ${p.valLoss!.toFixed(3)}${this.text.lossDetail?.(p) ?? ''}`);
    }
    this.bar.update(p.step, `epoch ${p.epoch + 1}/${this.epochs}`);
  };

  /** Ends the bar; returns the seconds since the display was created. */
  finish(): number {
    this.bar.finish();
    return (performance.now() - this.t0) / 1000;
  }
}

/** An SVG plot of the training and validation losses at the evaluation points, against `x` (tokens or examples seen). */
export function lossPlotSvg(x: number[], xLabel: string, losses: { trainLosses: number[]; valLosses: number[] }): string {
  return linePlotSvg({
    x,
    xLabel,
    yLabel: 'loss',
    series: [
      { label: 'training loss', values: losses.trainLosses },
      { label: 'validation loss', values: losses.valLosses, dashed: true },
    ],
  });
}
