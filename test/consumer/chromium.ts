/**
 * Headless Chromium for the consumer and README tests (Debian's /usr/bin/chromium through
 * playwright-core, as in test/browser.test.ts): opens a page, waits for it to be ready and runs one
 * function exported on `window`; page errors and console errors fail the run.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--no-sandbox'];

/** Launches headless Chromium with WebGPU (SwiftShader without a GPU); each launch has a fresh profile. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing — install Debian's chromium (scripts/setup.sh does)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/** Loads `url`, waits for `window[fn]` and returns what `await window[fn]()` gives. */
export async function runInPage<T>(browser: Browser, url: string, fn: string, timeoutMs = 90_000): Promise<{ result: T; console: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  const messages: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    messages.push(`${msg.type()}: ${msg.text()}`);
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  try {
    await page.goto(url);
    await page.waitForFunction((name) => name in window, fn, { timeout: 30_000 });
    const result = (await page.evaluate(
      ([name, ms]) =>
        Promise.race([
          (window as unknown as Record<string, () => Promise<unknown>>)[name](),
          new Promise((_, fail) => setTimeout(() => fail(new Error(`${name}() took over ${ms} ms`)), ms)),
        ]),
      [fn, timeoutMs] as const,
    )) as T;
    if (problems.length > 0) throw new Error(problems.join('\n'));
    return { result, console: messages };
  } finally {
    await page.close();
  }
}
