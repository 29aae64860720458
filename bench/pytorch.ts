/**
 * The PyTorch CPU reference rows of `pnpm bench` (bench/pytorch_ref.py: the book's GPT written in
 * PyTorch, on the CPU with 2 threads, same configurations and token ids as bench/gpt.ts, plus a 1024³
 * matmul through native BLAS). Printed only where `/usr/bin/python3 -c 'import torch'` works (never in
 * CI); otherwise one line says why it was skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';

export interface PytorchRow {
  benchmark: string;
  batch: string;
  value: number;
  unit: string;
}

export interface PytorchBenchOptions {
  /** Only the matmul and the small model's training step. */
  quick?: boolean;
  /** CPU threads (default 2). */
  threads?: number;
  log?: (line: string) => void;
}

/** bench/pytorch_ref.py, from the sources (bench/) or from the bundle (dist/). */
function scriptPath(): string | null {
  const candidates = ['./pytorch_ref.py', '../bench/pytorch_ref.py'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  return candidates.find((p) => existsSync(p)) ?? null;
}

/** Runs the PyTorch reference and prints its table; null (with a note) where PyTorch is not installed. */
export async function benchPytorch(options: PytorchBenchOptions = {}): Promise<PytorchRow[] | null> {
  const log = options.log ?? console.log;
  const script = scriptPath();
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
  if (probe.status !== 0 || !script) {
    log(`\n(PyTorch CPU reference skipped: ${script ? `${PYTHON} -c 'import torch' failed` : 'bench/pytorch_ref.py not found'})`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'scratchgpt-pytorch-'));
  try {
    const json = join(dir, 'rows.json');
    const args = [script, `--threads=${options.threads ?? 2}`, `--json=${json}`, ...(options.quick ? ['--quick'] : [])];
    log('\nPyTorch CPU reference (the book\'s GPT in PyTorch, bench/pytorch_ref.py)');
    const run = spawnSync(PYTHON, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (run.status !== 0) {
      log(`(PyTorch CPU reference failed: ${(run.stderr || run.stdout).trim().split('\n').pop()})`);
      return null;
    }
    log(run.stdout.trimEnd());
    return (JSON.parse(readFileSync(json, 'utf8')) as { rows: PytorchRow[] }).rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
