/**
 * The text-classifier web page: a thin runner of `finetune.ts` (the same script `node.ts` runs). The data
 * is the SMS Spam Collection served beside the page (the default) or the user's labelled file, picked or
 * dropped: its columns are shown to choose the text and the label from, with the per-class counts. It
 * reads the form (built-in model or GPT-2 weights from a file or URL, LoRA, settings), shows the adapter,
 * a progress bar, live loss and accuracy curves and the results (the N×N confusion matrix and per-class
 * table beside the majority-class baseline), then classifies what the user types with every class's
 * probability. The trained classifier downloads as a file; a saved one loads to classify without
 * training. `pnpm example:web` serves it (Vite).
 *
 * For tests and the console: `document.body.dataset.state` is `loading`, `ready`, `training`, `done` or
 * `error`, and `window.spamRun` holds the last run's figures (what `node.ts --report` writes).
 */
import { init, memory, type Gpu } from '@scratchgpt/core';
import { classifierBytes, classify, readLabelledFile, removeLoRA, restoreClassifier, type GPTClassifier, type LabelledFile } from '@scratchgpt/finetune';
import { decodeUtf8, readSafetensorsHeader, safetensorsHeaderSize, type WeightsSource } from '@scratchgpt/gpt';
import { drawChart, type ChartSeries } from './chart.js';
import { fineTuneFileClassifier, fineTuneSpamClassifier, type SpamFinetuneOptions, type SpamFinetuneResult, type SpamProgress } from './finetune.js';

/** The last run's figures: the result without the model, plus the adapter that ran it (no `samples` on a user's file). */
export type SpamRunFigures = Omit<SpamFinetuneResult, 'model' | 'samples'> & { adapter: string; samples: SpamFinetuneResult['samples'] };

declare global {
  interface Window {
    spamRun?: SpamRunFigures;
  }
}

type State = 'loading' | 'ready' | 'training' | 'done' | 'error';

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`spam page: no element #${id}`);
  return el as T;
}

const ui = {
  adapter: $('adapter'),
  train: $<HTMLButtonElement>('train'),
  recipe: $('recipe'),
  weightsFile: $<HTMLInputElement>('weights-file'),
  weightsUrl: $<HTMLInputElement>('weights-url'),
  weightsInfo: $('weights-info'),
  lora: $<HTMLInputElement>('lora'),
  loraRank: $<HTMLInputElement>('lora-rank'),
  loraAlpha: $<HTMLInputElement>('lora-alpha'),
  limit: $<HTMLInputElement>('limit'),
  epochs: $<HTMLInputElement>('epochs'),
  seed: $<HTMLInputElement>('seed'),
  evalFreq: $<HTMLInputElement>('eval-freq'),
  maxLength: $<HTMLInputElement>('max-length'),
  progress: $<HTMLProgressElement>('progress'),
  status: $('status'),
  lossChart: $('loss-chart') as unknown as SVGSVGElement,
  accuracyChart: $('accuracy-chart') as unknown as SVGSVGElement,
  results: $('results'),
  text: $<HTMLTextAreaElement>('text'),
  classify: $<HTMLButtonElement>('classify'),
  verdict: $('verdict'),
  probabilities: $('probabilities'),
  samples: $('samples'),
  dataFile: $<HTMLInputElement>('data-file'),
  drop: $('drop'),
  columns: $('columns'),
  textColumn: $<HTMLSelectElement>('text-column'),
  labelColumn: $<HTMLSelectElement>('label-column'),
  splitTrain: $<HTMLInputElement>('split-train'),
  splitVal: $<HTMLInputElement>('split-val'),
  balance: $<HTMLInputElement>('balance'),
  dataInfo: $('data-info'),
  classCounts: $<HTMLTableElement>('class-counts'),
  download: $<HTMLButtonElement>('download'),
  classifierFile: $<HTMLInputElement>('classifier-file'),
};

const MiB = 1024 * 1024;
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

let gpu: Gpu;
let trained: { model: GPTClassifier; maxLength: number } | undefined;
/** The user's labelled file, once picked or dropped: its name, text and what was read from it. */
let userData: { name: string; text: string; file: LabelledFile } | undefined;

function setState(state: State, status?: string): void {
  document.body.dataset.state = state;
  if (status !== undefined) {
    ui.status.textContent = status;
    ui.status.className = state === 'error' ? 'error' : 'muted';
  }
  const busy = state === 'training' || state === 'loading';
  ui.train.disabled = busy;
  ui.text.disabled = ui.classify.disabled = ui.download.disabled = busy || trained === undefined;
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Reads the user's file with the chosen columns (found among the usual names at first) and shows its classes. */
function readUserFile(name: string, text: string, columns?: { text: string; label: string }): void {
  const file = readLabelledFile(text, { name, textColumn: columns?.text, labelColumn: columns?.label });
  userData = { name, text, file };
  for (const [select, chosen] of [[ui.textColumn, file.textColumn], [ui.labelColumn, file.labelColumn]] as const) {
    select.replaceChildren(...file.columns.map((c) => new Option(c, c, false, c === chosen)));
  }
  ui.columns.hidden = false;
  ui.dataInfo.textContent = `${name} (${file.format}): ${file.rows.length} rows, ${file.labels.length} classes`;
  ui.classCounts.innerHTML =
    `<tr><th>class</th><th>rows</th></tr>` + [...file.counts].map(([label, n]) => `<tr><td>${escape(label)}</td><td>${n}</td></tr>`).join('');
  (document.querySelector('input[name="data"][value="file"]') as HTMLInputElement).checked = true;
}

/** A picked or dropped file: decoded as UTF-8 strictly, then read. */
async function takeDataFile(file: File): Promise<void> {
  try {
    readUserFile(file.name, decodeUtf8(new Uint8Array(await file.arrayBuffer()), file.name));
    setState('ready', `ready: ${userData!.file.rows.length} labelled texts from ${file.name}; press Fine-tune`);
  } catch (err) {
    userData = undefined;
    ui.columns.hidden = true;
    ui.classCounts.innerHTML = '';
    report(err);
  }
}

/** An optional positive integer field; empty = undefined. */
function intField(input: HTMLInputElement, what: string, { min = 1 } = {}): number | undefined {
  if (input.value.trim() === '') return undefined;
  const n = Number(input.value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${what} must be an integer ≥ ${min}, got '${input.value}'`);
  return n;
}

/**
 * The GPT-2 weights the form names: a picked file (its header checked against the adapter's
 * `maxBufferSize` before the whole file is read) or a URL; undefined for the built-in model.
 */
async function chosenWeights(): Promise<WeightsSource | undefined> {
  const choice = (document.querySelector('input[name="model"]:checked') as HTMLInputElement).value;
  if (choice !== 'gpt2') return undefined;
  const file = ui.weightsFile.files?.[0];
  if (file) {
    const prefix = new Uint8Array(await file.slice(0, 8).arrayBuffer());
    const header = readSafetensorsHeader(new Uint8Array(await file.slice(0, safetensorsHeaderSize(prefix, file.size)).arrayBuffer()), file.size, { complete: true });
    const largest = header.entries.reduce((a, b) => (b.end - b.begin > a.end - a.begin ? b : a));
    const limit = gpu.limits.maxBufferSize;
    ui.weightsInfo.textContent =
      `${file.name}: ${mib(file.size)}, ${header.entries.length} tensors, the largest ${largest.name} [${largest.shape.join(', ')}] ` +
      `${mib(largest.end - largest.begin)}; this adapter's buffers hold up to ${mib(limit)}`;
    if (largest.end - largest.begin > limit) {
      throw new Error(`${largest.name} needs a ${largest.end - largest.begin}-byte buffer; this adapter allows at most ${limit} (maxBufferSize)`);
    }
    return new Uint8Array(await file.arrayBuffer());
  }
  const url = ui.weightsUrl.value.trim();
  if (url === '') throw new Error('GPT-2 weights: pick a .safetensors file or give a URL');
  ui.weightsInfo.textContent = `${url} (downloaded once, then kept in the browser's cache)`;
  return url;
}

/** The run's figures so far, redrawn into the two charts. */
const curves = {
  trainLoss: [] as [number, number][],
  valLoss: [] as [number, number][],
  trainAccuracy: [] as [number, number][],
  valAccuracy: [] as [number, number][],
  epochs: 1,
};

function redraw(): void {
  const loss: ChartSeries[] = [
    { label: 'training loss', color: '#3f63d8', points: curves.trainLoss },
    { label: 'validation loss', color: '#d8743f', points: curves.valLoss, dashed: true },
  ];
  drawChart(ui.lossChart, loss, { xLabel: 'step', yLabel: 'loss' });
  const accuracy: ChartSeries[] = [
    { label: 'training accuracy', color: '#3f63d8', points: curves.trainAccuracy },
    { label: 'validation accuracy', color: '#d8743f', points: curves.valAccuracy, dashed: true },
  ];
  drawChart(ui.accuracyChart, accuracy, { xLabel: 'epoch', yLabel: 'accuracy', yRange: [0, 1], xRange: [0, curves.epochs], format: (v) => `${Math.round(v * 100)}%` });
}

function onProgress(event: SpamProgress): void {
  switch (event.kind) {
    case 'model': {
      const lora = event.lora ? `, LoRA rank ${event.lora.rank} alpha ${event.lora.alpha}` : '';
      ui.recipe.textContent =
        `${event.recipe.name}${lora}: C=${event.embDim}, ${event.nLayers} layer${event.nLayers === 1 ? '' : 's'}, ${(event.parameters / 1e6).toFixed(1)}M parameters, ` +
        `${event.trainable.toLocaleString('en-US')} trainable; ${event.recipe.epochs} epochs, batch ${event.recipe.batchSize}, lr ${event.recipe.lr}`;
      curves.epochs = event.recipe.epochs;
      break;
    }
    case 'data':
      ui.classCounts.innerHTML =
        `<tr><th>class</th><th>train</th><th>validation</th><th>test</th></tr>` +
        event.labels.map((l, i) => `<tr><td>${escape(l)}</td><td>${event.counts.train[i]}</td><td>${event.counts.val[i]}</td><td>${event.counts.test[i]}</td></tr>`).join('');
      ui.progress.max = event.totalSteps;
      ui.status.textContent = `${event.train} / ${event.val} / ${event.test} texts (train / validation / test), ${event.maxLength} tokens each; measuring accuracy before training…`;
      break;
    case 'warning':
      ui.dataInfo.textContent = `warning: ${event.message}`;
      break;
    case 'baseline':
      curves.trainAccuracy.push([0, event.trainAccuracy]);
      curves.valAccuracy.push([0, event.valAccuracy]);
      redraw();
      break;
    case 'loss':
      curves.trainLoss.push([event.step, event.trainLoss]);
      curves.valLoss.push([event.step, event.valLoss]);
      redraw();
      break;
    case 'epoch':
      curves.trainAccuracy.push([event.epoch + 1, event.trainAccuracy]);
      curves.valAccuracy.push([event.epoch + 1, event.valAccuracy]);
      redraw();
      break;
    case 'step':
      ui.progress.value = event.step;
      ui.status.textContent = `epoch ${event.epoch + 1}/${curves.epochs} · step ${event.step}/${event.totalSteps} · ${(event.seconds / event.step).toFixed(2)} s per step`;
      break;
    case 'evaluating':
      ui.status.textContent = 'evaluating on the whole splits…';
      break;
  }
}

function showResults(run: SpamRunFigures, seconds: number): void {
  const { accuracy, report, majority } = run;
  const rows = report.matrix.map((row, i) => `<tr><td>true ${escape(report.classes[i].label)}</td>${row.map((n) => `<td>${n}</td>`).join('')}</tr>`).join('');
  const perClass = report.classes.map((k) => `<tr><td>${escape(k.label)}</td><td>${pct(k.precision)}</td><td>${pct(k.recall)}</td><td>${k.f1.toFixed(3)}</td><td>${k.support}</td></tr>`).join('');
  ui.results.innerHTML =
    `<table><tr><th>accuracy</th><th>train</th><th>validation</th><th>test</th></tr>` +
    `<tr><td>before training</td><td></td><td>${pct(run.valAccuracyBefore)}</td><td></td></tr>` +
    `<tr><td>after training</td><td>${pct(accuracy.train)}</td><td>${pct(accuracy.val)}</td><td>${pct(accuracy.test)}</td></tr>` +
    `<tr><td>always “${escape(majority.label)}” (majority)</td><td>${pct(majority.train)}</td><td>${pct(majority.val)}</td><td>${pct(majority.test)}</td></tr>` +
    `<tr><td>bag of words (TF-IDF + logistic regression)</td><td>${pct(run.bagOfWords.train)}</td><td>${pct(run.bagOfWords.val)}</td><td>${pct(run.bagOfWords.test)}</td></tr></table>` +
    `<div class="row"><table id="confusion"><tr><th>test</th>${report.classes.map((k) => `<th>predicted ${escape(k.label)}</th>`).join('')}</tr>${rows}</table>` +
    `<table id="per-class"><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>texts</th></tr>${perClass}` +
    `<tr><td>macro</td><td>${pct(report.macro.precision)}</td><td>${pct(report.macro.recall)}</td><td>${report.macro.f1.toFixed(3)}</td><td></td></tr></table></div>` +
    `<p class="muted">${run.stepSeconds.length} steps in ${seconds.toFixed(1)} s on ${run.adapter}; ${mib(memory().liveBytes)} live on the GPU</p>`;
  ui.samples.replaceChildren(
    ...run.samples.map((s) => {
      const li = document.createElement('li');
      const says = (label: string) => (label === 'spam' ? 'spam' : 'not spam');
      li.textContent = `the book's “${s.text}” → ${says(s.label)} (p(spam) ${s.spamProbability.toFixed(3)}; the book: ${says(s.expected)})`;
      return li;
    }),
  );
}

async function train(): Promise<void> {
  setState('training', 'preparing…');
  try {
    const lora = ui.lora.checked ? { rank: intField(ui.loraRank, 'LoRA rank') ?? 16, alpha: Number(ui.loraAlpha.value) || 16 } : undefined;
    const evalFreq = intField(ui.evalFreq, 'losses every', { min: 0 }) ?? 50;
    const options: SpamFinetuneOptions = {
      tsv: '',
      lora,
      limit: intField(ui.limit, 'texts per split'),
      epochs: intField(ui.epochs, 'epochs'),
      seed: intField(ui.seed, 'seed', { min: 0 }) ?? 123,
      evalFreq: evalFreq === 0 ? Infinity : evalFreq,
      maxLength: intField(ui.maxLength, 'tokens per text'),
      onProgress,
    };
    const weights = await chosenWeights();
    const own = (document.querySelector('input[name="data"]:checked') as HTMLInputElement).value === 'file';
    if (own && !userData) throw new Error('your labelled file: pick or drop a CSV, TSV, JSON or JSON Lines file first');
    if (!own) {
      const response = await fetch(new URL('SMSSpamCollection.tsv', document.baseURI));
      if (!response.ok) throw new Error(`cannot load SMSSpamCollection.tsv beside the page (HTTP ${response.status})`);
      options.tsv = await response.text();
    }
    trained?.model.dispose();
    trained = undefined;
    window.spamRun = undefined;
    Object.assign(curves, { trainLoss: [], valLoss: [], trainAccuracy: [], valAccuracy: [] });
    redraw();
    ui.progress.value = 0;
    ui.verdict.textContent = '';
    ui.status.textContent = weights === undefined ? 'building the model…' : 'loading the GPT-2 weights…';
    const started = performance.now();
    const run = own
      ? await fineTuneFileClassifier({
          ...options,
          weights,
          text: userData!.text,
          name: userData!.name,
          textColumn: ui.textColumn.value,
          labelColumn: ui.labelColumn.value,
          split: { train: Number(ui.splitTrain.value), val: Number(ui.splitVal.value) },
          balance: ui.balance.checked,
        })
      : await fineTuneSpamClassifier({ ...options, weights });
    const { model, ...figures } = run;
    trained = { model, maxLength: figures.maxLength };
    window.spamRun = { ...figures, samples: own ? [] : (run as SpamFinetuneResult).samples, adapter: gpu.adapterName };
    showResults(window.spamRun, (performance.now() - started) / 1000);
    setState('done', `done: validation accuracy ${pct(figures.valAccuracyBefore)} before training, ${pct(figures.accuracy.val)} after. Type a text below.`);
  } catch (err) {
    console.error(err);
    setState('error', `error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

let classifying = 0;
/** Classifies the text box (latest request wins: an older answer arriving late is dropped). */
async function classifyText(): Promise<void> {
  const text = ui.text.value.trim();
  if (!trained || text === '') return;
  const ticket = ++classifying;
  const { model } = trained;
  const verdict = await classify(model, text, { maxLength: trained.maxLength });
  if (ticket !== classifying) return;
  const spam = model.labels.length === 2 && model.labels.includes('spam') ? model.labels.indexOf('spam') : -1;
  ui.verdict.dataset.label = verdict.label;
  ui.verdict.innerHTML =
    spam >= 0
      ? `<span class="${verdict.label}">${verdict.label === 'spam' ? 'spam' : 'not spam'}</span> · p(spam) ${verdict.probabilities[spam].toFixed(3)}`
      : `<span>${escape(verdict.label)}</span>`;
  ui.probabilities.innerHTML = model.labels.map((l, k) => `<span data-label="${escape(l)}">p(${escape(l)}) ${verdict.probabilities[k].toFixed(3)}</span>`).join('');
}

/** The trained classifier as a safetensors file (LoRA merged first), downloaded by the browser. */
async function downloadClassifier(): Promise<void> {
  if (!trained) return;
  removeLoRA(trained.model); // merged: the file has the plain model's names (nothing to do without LoRA)
  const bytes = await classifierBytes(trained.model, { maxLength: trained.maxLength });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  link.download = 'classifier.safetensors';
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** A classifier saved by this page or by `scratchgpt finetune classify`: ready to classify without training. */
async function loadClassifierFile(file: File): Promise<void> {
  const loaded = restoreClassifier(new Uint8Array(await file.arrayBuffer()));
  trained?.model.dispose();
  trained = { model: loaded.model, maxLength: loaded.maxLength };
  setState('done', `loaded ${file.name}: ${loaded.labels.length} classes (${loaded.labels.join(', ')}), ${loaded.pooling} pooling, ${loaded.maxLength} tokens per text. Type a text below.`);
}

async function main(): Promise<void> {
  redraw();
  gpu = await init();
  const { maxBufferSize, maxStorageBufferBindingSize } = gpu.limits;
  const embedding = 50257 * 768 * 4; // GPT-2 124M's largest tensor, the token embedding
  ui.adapter.textContent =
    `adapter: ${gpu.adapterName} (${gpu.featureLevel}); buffers up to ${mib(maxBufferSize)}, bindings up to ${mib(maxStorageBufferBindingSize)} ` +
    `(larger tensors are processed in binding-sized pieces): GPT-2 124M ${maxBufferSize >= embedding ? 'fits' : `does not fit (its ${mib(embedding)} token embedding)`}`;
  ui.train.addEventListener('click', () => void train());
  ui.classify.addEventListener('click', () => void classifyText().catch(report));
  let timer: ReturnType<typeof setTimeout> | undefined;
  ui.text.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => void classifyText().catch(report), 250);
  });
  ui.dataFile.addEventListener('change', () => {
    const file = ui.dataFile.files?.[0];
    if (file) void takeDataFile(file);
  });
  ui.drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    ui.drop.classList.add('over');
  });
  ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
  ui.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    ui.drop.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) void takeDataFile(file);
  });
  for (const select of [ui.textColumn, ui.labelColumn]) {
    select.addEventListener('change', () => {
      if (!userData) return;
      try {
        readUserFile(userData.name, userData.text, { text: ui.textColumn.value, label: ui.labelColumn.value });
      } catch (err) {
        report(err);
      }
    });
  }
  ui.download.addEventListener('click', () => void downloadClassifier().catch(report));
  ui.classifierFile.addEventListener('change', () => {
    const file = ui.classifierFile.files?.[0];
    if (file) void loadClassifierFile(file).catch(report);
  });
  for (const input of [ui.weightsFile, ui.weightsUrl]) {
    input.addEventListener('change', () => ((document.querySelector('input[name="model"][value="gpt2"]') as HTMLInputElement).checked = true));
  }
  setState('ready', 'ready: press Fine-tune');
}

function report(err: unknown): void {
  console.error(err);
  setState('error', `error: ${err instanceof Error ? err.message : String(err)}`);
}

main().catch(report);
