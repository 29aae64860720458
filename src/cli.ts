/**
 * The `scratchgpt` command-line tool.
 *   scratchgpt pretrain [options]   pretrain a small GPT on the-verdict.txt (or --text FILE)
 *   scratchgpt demo [options]       adapter in use + a matmul checked against a CPU reference
 */
import { parseArgs } from 'node:util';
import { runDemo } from './demo';
import { runPretrain } from './pretrain';

const USAGE = `usage: scratchgpt <command> [options]

commands:
  pretrain  pretrain a small GPT on the book's the-verdict.txt, print losses and samples
            --text FILE     train on this text instead
            --epochs N      (default 10)         --lr X          peak learning rate (default 1e-3)
            --emb N         width (default 96)    --layers N      blocks (default 2)
            --heads N       (default 4)           --context N     sequence length (default 64)
            --batch N       (default 4)           --seed N        (default 123)
            --out FILE      write a safetensors checkpoint
            --plot FILE     write an SVG loss plot
  demo      print the WebGPU adapter in use and run a checked matmul
            --size N        matrix size (default 256)

  --backend B   auto | default | vulkan | opengles | swiftshader (or env SCRATCHGPT_BACKEND)
`;

const OPTIONS = {
  size: { type: 'string' },
  backend: { type: 'string' },
  text: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  emb: { type: 'string' },
  layers: { type: 'string' },
  heads: { type: 'string' },
  context: { type: 'string' },
  batch: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  plot: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function num(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`scratchgpt: --${name} must be a positive number, got '${value}'`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 1;
  }
  const { values: v } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: false });
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (command) {
    case 'demo':
      return runDemo({ size: num(v.size, 256, 'size'), backend: v.backend });
    case 'pretrain':
      return runPretrain({
        text: v.text,
        epochs: num(v.epochs, 10, 'epochs'),
        lr: num(v.lr, 1e-3, 'lr'),
        embDim: num(v.emb, 96, 'emb'),
        layers: num(v.layers, 2, 'layers'),
        heads: num(v.heads, 4, 'heads'),
        context: num(v.context, 64, 'context'),
        batch: num(v.batch, 4, 'batch'),
        seed: num(v.seed, 123, 'seed'),
        out: v.out,
        plot: v.plot,
        backend: v.backend,
      });
    default:
      process.stderr.write(`scratchgpt: unknown command '${command}'\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);
