/**
 * Detects two copies of @scratchgpt/core in one process or page. Each copy has its own device, tensor
 * counters and pipeline caches, so a model built by one (say, through `@scratchgpt/gpt`'s own nested
 * copy) cannot see the device that the other was initialised with. Every copy registers itself in a
 * global registry keyed by `Symbol.for`, which all copies share.
 */
import { VERSION } from './version';
import { logMessage } from './log';

/** What each loaded copy registers. */
export interface LoadedCopy {
  readonly version: string;
  /** The URL of the module that registered (a file URL in Node, the bundle's URL in a browser). */
  readonly url: string;
  /** Whether this copy's GPU is initialised. */
  readonly initialised: () => boolean;
}

const REGISTRY = Symbol.for('scratchgpt.core.copies');

function registry(): LoadedCopy[] {
  const holder = globalThis as { [REGISTRY]?: LoadedCopy[] };
  holder[REGISTRY] ??= [];
  return holder[REGISTRY];
}

const DEDUPE_HINT =
  'Install a single copy: `npm ls @scratchgpt/core` shows where they come from; `npm dedupe` (or one version range for ' +
  'every package that needs it — @scratchgpt/gpt and @scratchgpt/finetune take it as a peer dependency) merges them.';

function describe(copy: LoadedCopy): string {
  return `${copy.version} at ${copy.url}`;
}

/** Registers this copy; warns (through the log, visible by default) when another copy is already loaded. */
export function registerCopy(self: LoadedCopy): void {
  const copies = registry();
  if (copies.length > 0) {
    logMessage(
      'warn',
      `scratchgpt: two copies of @scratchgpt/core are loaded (${[...copies, self].map(describe).join('; ')}). ` +
        `Each has its own GPU device: tensors and models of one cannot be used with the other, and init() of one does not initialise the other. ${DEDUPE_HINT}`,
    );
  }
  copies.push(self);
}

/** A sentence about other loaded copies that are initialised, for errors of a copy that is not ('' when none). */
export function otherInitialisedCopies(self: LoadedCopy): string {
  const others = registry().filter((copy) => copy !== self && copy.initialised());
  if (others.length === 0) return '';
  return ` Another copy of @scratchgpt/core (${others.map(describe).join('; ')}) was initialised instead of this one (${describe(self)}). ${DEDUPE_HINT}`;
}
