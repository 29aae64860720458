/**
 * Drives the spam-classifier web page (examples/spam-classifier) in headless Chromium, as a user would:
 * build it with Vite, open it, fill the form, press Fine-tune, wait for the run, type into the text box.
 * Shared by test/spam-page.test.ts and the GPT-2 124M measurement (bench/spam-page-124m.ts).
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { SpamRunFigures } from '../../examples/spam-classifier/main';
import { ROOT } from '../consumer/packed';

export type { SpamRunFigures };

/** The parts of Vite's API used here (the workspace's devDependency). */
interface Vite {
  build(config: Record<string, unknown>): Promise<unknown>;
}

/**
 * Bundles the page with its own Vite config (examples/spam-classifier/vite.config.ts, or `configFile`)
 * into `outDir`; returns Vite's warnings (expected: none).
 */
export async function buildSpamPage(outDir: string, configFile = join(ROOT, 'examples/spam-classifier/vite.config.ts')): Promise<string[]> {
  const vite = (await import('vite')) as unknown as Vite;
  const warnings: string[] = [];
  const logger = {
    info: () => undefined,
    warn: (msg: string) => warnings.push(msg),
    warnOnce: (msg: string) => warnings.push(msg),
    error: (msg: string) => warnings.push(msg),
    clearScreen: () => undefined,
    hasErrorLogged: () => false,
    hasWarned: false,
  };
  await vite.build({
    configFile,
    customLogger: logger,
    build: { outDir, emptyOutDir: true },
  });
  return warnings;
}

/** An open page and the errors it has reported so far (page errors, console errors). */
export interface SpamPage {
  page: Page;
  problems: string[];
}

/** Opens the page at `url` and waits until it has acquired its adapter (state `ready`). */
export async function openSpamPage(browser: Browser, url: string, viewport = { width: 1000, height: 1200 }): Promise<SpamPage> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  await page.goto(url);
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 60_000 });
  return { page, problems };
}

/** What the test sets in the page's form (unset fields keep the page's defaults). */
export interface SpamPageSettings {
  limit?: number;
  epochs?: number;
  seed?: number;
  /** Losses every N steps (0: never). */
  evalFreq?: number;
  maxLength?: number;
  lora?: { rank: number; alpha: number };
  /** A GPT-2 safetensors file to pick in the file input (the book's recipe). */
  weightsFile?: string;
  /** A labelled file (CSV/TSV/JSON/JSONL) to train on instead of the SMS data, picked in the data section. */
  dataFile?: string;
}

/** Fills the form and presses Fine-tune; the run goes on in the page (see {@link finishRunInPage}). */
export async function startRunInPage({ page }: SpamPage, settings: SpamPageSettings): Promise<void> {
  await page.locator('details').evaluate((d) => ((d as HTMLDetailsElement).open = true));
  const fields: [string, number | undefined][] = [
    ['#limit', settings.limit],
    ['#epochs', settings.epochs],
    ['#seed', settings.seed],
    ['#eval-freq', settings.evalFreq],
    ['#max-length', settings.maxLength],
  ];
  for (const [selector, value] of fields) if (value !== undefined) await page.fill(selector, String(value));
  await page.setChecked('#lora', settings.lora !== undefined);
  if (settings.lora) {
    await page.fill('#lora-rank', String(settings.lora.rank));
    await page.fill('#lora-alpha', String(settings.lora.alpha));
  }
  if (settings.weightsFile) await page.setInputFiles('#weights-file', settings.weightsFile);
  if (settings.dataFile) {
    await page.setInputFiles('#data-file', settings.dataFile);
    await page.waitForSelector('#columns:not([hidden])', { timeout: 10_000 });
  }
  await page.check(`input[name="data"][value="${settings.dataFile ? 'file' : 'sms'}"]`);
  await page.check(`input[name="model"][value="${settings.weightsFile ? 'gpt2' : 'builtin'}"]`);
  await page.click('#train');
}

/**
 * Waits for the page's run to end; returns its figures (`window.spamRun`). An error shown by the page
 * or reported on its console fails the run.
 */
export async function finishRunInPage({ page, problems }: SpamPage, timeoutMs: number): Promise<SpamRunFigures> {
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: timeoutMs });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== 'done' || problems.length > 0) {
    throw new Error(`the page's run failed: ${await page.textContent('#status')}\n${problems.join('\n')}`);
  }
  return (await page.evaluate(() => window.spamRun))!;
}

/** {@link startRunInPage}, then {@link finishRunInPage}. */
export async function trainInPage(view: SpamPage, settings: SpamPageSettings, timeoutMs: number): Promise<SpamRunFigures> {
  await startRunInPage(view, settings);
  return finishRunInPage(view, timeoutMs);
}

/** Types `text` into the page's text box and returns the verdict it shows (label and p(spam)). */
export async function classifyInPage({ page }: SpamPage, text: string): Promise<{ label: string; spamProbability: number; shown: string }> {
  await page.evaluate(() => {
    const verdict = document.getElementById('verdict')!;
    verdict.textContent = '';
    delete verdict.dataset.label;
  });
  await page.fill('#text', text);
  await page.click('#classify');
  await page.waitForSelector('#verdict[data-label]', { timeout: 30_000 });
  const shown = (await page.textContent('#verdict')) ?? '';
  const label = (await page.getAttribute('#verdict', 'data-label')) ?? '';
  const p = /p\(spam\) ([\d.]+)/.exec(shown);
  return { label, spamProbability: p ? Number(p[1]) : NaN, shown };
}
