/**
 * The library's log. Every message has a level; those at or above the threshold go to the sink.
 *
 * - `warn` (the default): the library's own warnings and errors (a lost device, two copies of the
 *   library in one process). A normal run prints nothing else.
 * - `debug`: also the adapter search (each backend tried and why it failed) and the notices Dawn prints
 *   while it discovers adapters (Vulkan loader messages, clamped limits), which Node captures.
 *
 * Set it with `init({ log })` or, in Node, the env var `SCRATCHGPT_LOG` (`debug`, `info`, `warn`,
 * `error`, `silent`).
 */
import { ScratchGPTError } from './errors';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Receives every message at or above the threshold. */
export type LogSink = (level: LogLevel, message: string) => void;

/** A threshold (`silent` prints nothing), or a sink that receives every message. */
export type LogSetting = LogLevel | 'silent' | LogSink;

const RANK: Record<LogLevel | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Browsers: the console's own levels (devtools filters them). */
const consoleSink: LogSink = (level, message) => {
  const method = level === 'debug' ? console.debug : level === 'info' ? console.info : level === 'warn' ? console.warn : console.error;
  method.call(console, message);
};

let sink: LogSink = consoleSink;
let threshold = RANK.warn;

/** Replaces where messages go when the setting is a level (Node writes every level to stderr, never stdout). */
export function setDefaultLogSink(next: LogSink): void {
  sink = next;
}

/** Whether `value` names a log threshold. */
export function isLogLevel(value: unknown): value is LogLevel | 'silent' {
  return typeof value === 'string' && Object.hasOwn(RANK, value);
}

let custom: LogSink | null = null;

/**
 * Sets the threshold, or a sink that receives every message. Throws on an unknown level name.
 * @example
 * ```ts
 * setLog('debug'); // also show the adapter search and Dawn's notices
 * setLog((level, message) => myLogger[level](message));
 * ```
 */
export function setLog(setting: LogSetting): void {
  if (typeof setting === 'function') {
    custom = setting;
    return;
  }
  if (!isLogLevel(setting)) {
    throw new ScratchGPTError('value', `scratchgpt: unknown log level '${String(setting)}' (expected debug, info, warn, error, silent or a function)`);
  }
  custom = null;
  threshold = RANK[setting];
}

/** Logs `message` (which should start with `scratchgpt: `) at `level`. */
export function logMessage(level: LogLevel, message: string): void {
  if (custom) custom(level, message);
  else if (RANK[level] >= threshold) sink(level, message);
}
