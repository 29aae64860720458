/**
 * The `scratchgpt` command-line tool.
 *   scratchgpt demo [--size N] [--backend B]   adapter in use + a matmul checked against a CPU reference
 */
import { parseArgs } from 'node:util';
import { runDemo } from './demo';

const USAGE = `usage: scratchgpt <command> [options]

commands:
  demo      print the WebGPU adapter in use and run a checked matmul
            --size N       matrix size (default 256)
            --backend B    auto | default | vulkan | opengles | swiftshader (or env SCRATCHGPT_BACKEND)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { size: { type: 'string' }, backend: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: false,
  });
  if (!command || values.help || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 1;
  }
  switch (command) {
    case 'demo':
      return runDemo({ size: values.size ? Number(values.size) : 256, backend: values.backend });
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
