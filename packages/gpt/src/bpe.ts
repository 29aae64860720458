/**
 * GPT-2's byte-level BPE encoder (r50k_base ranks, from `gpt-tokenizer`), with the work bounded by
 * O(n log n) in the length n of a pre-tokenized word.
 *
 * Why not `gpt-tokenizer`'s own `encode`: its merge loop scans and splices the whole word for every
 * merge, O(n²) per word — a run of 120k letters takes 9–15 s and a 10 MB one would take hours — and
 * its LRU word cache slows down on texts with many distinct words. The algorithm here is the same BPE
 * (repeatedly merge the adjacent pair of lowest rank, the leftmost on ties; a word that is itself a
 * token is that token), so the output is identical for every text; only the bookkeeping differs: the
 * parts of a word form a linked list and candidate pairs sit in a binary heap ordered by
 * (rank, position), with stale entries skipped when popped.
 */
import ranks from 'gpt-tokenizer/bpeRanks/r50k_base';

/**
 * GPT-2's pre-tokenizer (its `encoder.py`): contractions, then runs of letters, of digits, of other
 * symbols (each with an optional leading space), then whitespace. BPE never merges across these words.
 */
const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Words up to this many bytes use a plain scan (fast when short); longer ones the heap. */
const SHORT_WORD = 48;
/** Cached words (up to this many bytes each); the cache is emptied when it reaches CACHE_LIMIT words. */
const CACHE_WORD_BYTES = 64;
const CACHE_LIMIT = 50_000;

/** Token bytes as a "byte string" (one char per byte, 0–255) → rank. */
let table: Map<string, number> | null = null;
const cache = new Map<string, number[]>();

function byteString(bytes: ArrayLike<number>): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...Array.prototype.slice.call(bytes, i, i + 8192));
  return out;
}

function rankTable(): Map<string, number> {
  if (table) return table;
  const utf8 = new TextEncoder();
  const built = new Map<string, number>();
  ranks.forEach((entry, rank) => built.set(byteString(typeof entry === 'string' ? utf8.encode(entry) : entry), rank));
  table = built;
  return built;
}

const utf8 = new TextEncoder();

/** A word's UTF-8 bytes as a byte string (ASCII words are their own byte string). */
function wordBytes(word: string): string {
  for (let i = 0; i < word.length; i++) if (word.charCodeAt(i) >= 0x80) return byteString(utf8.encode(word));
  return word;
}

/** Work counter for tests: heap sift steps and rank lookups of the long-word path. */
export interface BpeWork {
  steps: number;
}

/** Plain BPE for short words: scan for the lowest-ranked pair, merge, repeat. */
function mergeShort(bytes: string, ranksOf: Map<string, number>): number[] {
  const starts: number[] = [];
  for (let i = 0; i <= bytes.length; i++) starts.push(i);
  const pairRank = (k: number): number => (k + 2 < starts.length ? (ranksOf.get(bytes.slice(starts[k], starts[k + 2])) ?? Infinity) : Infinity);
  const pairRanks = starts.slice(0, -2).map((_, k) => pairRank(k));
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let k = 0; k < pairRanks.length; k++) {
      if (pairRanks[k] < bestRank) {
        bestRank = pairRanks[k];
        best = k;
      }
    }
    if (best < 0) break;
    starts.splice(best + 1, 1);
    pairRanks.splice(best, 1);
    if (best < pairRanks.length) pairRanks[best] = pairRank(best);
    if (best > 0) pairRanks[best - 1] = pairRank(best - 1);
  }
  const out: number[] = [];
  for (let k = 0; k + 1 < starts.length; k++) out.push(ranksOf.get(bytes.slice(starts[k], starts[k + 1]))!);
  return out;
}

/** Min-heap of pair keys `rank · 2^32 + position` (ordered by rank, then leftmost). */
class PairHeap {
  private keys: Float64Array;
  size = 0;
  constructor(
    capacity: number,
    private readonly work: BpeWork,
  ) {
    this.keys = new Float64Array(Math.max(16, capacity));
  }

  push(key: number): void {
    if (this.size === this.keys.length) {
      const grown = new Float64Array(this.keys.length * 2);
      grown.set(this.keys);
      this.keys = grown;
    }
    let i = this.size++;
    while (i > 0) {
      this.work.steps++;
      const parent = (i - 1) >> 1;
      if (this.keys[parent] <= key) break;
      this.keys[i] = this.keys[parent];
      i = parent;
    }
    this.keys[i] = key;
  }

  pop(): number {
    const top = this.keys[0];
    const last = this.keys[--this.size];
    let i = 0;
    for (;;) {
      this.work.steps++;
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && this.keys[child + 1] < this.keys[child]) child++;
      if (this.keys[child] >= last) break;
      this.keys[i] = this.keys[child];
      i = child;
    }
    this.keys[i] = last;
    return top;
  }
}

const POSITION = 2 ** 32;

/** BPE for long words in O(n log n): parts as a linked list, candidate pairs in a heap. */
function mergeLong(bytes: string, ranksOf: Map<string, number>, work: BpeWork): number[] {
  const n = bytes.length;
  // Part starting at byte i (when alive): it ends where the next part starts.
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  const pairRank = (i: number): number => {
    const j = next[i];
    if (j >= n) return Infinity;
    work.steps++;
    return ranksOf.get(bytes.slice(i, next[j])) ?? Infinity;
  };
  // The rank of the pair starting at each part, kept current: a popped entry is stale unless it matches.
  const current = new Float64Array(n);
  const heap = new PairHeap(2 * n, work);
  const offer = (i: number): void => {
    const rank = pairRank(i);
    current[i] = rank;
    if (rank !== Infinity) heap.push(rank * POSITION + i);
  };
  for (let i = 0; i + 1 < n; i++) offer(i);
  while (heap.size > 0) {
    const key = heap.pop();
    const rank = Math.floor(key / POSITION);
    const i = key - rank * POSITION;
    // Stale entry: that part was absorbed, or its pair changed since the entry was pushed.
    if (!alive[i] || current[i] !== rank) continue;
    const j = next[i];
    alive[j] = 0;
    next[i] = next[j];
    if (next[j] < n) prev[next[j]] = i;
    offer(i);
    if (prev[i] >= 0) offer(prev[i]);
  }
  const out: number[] = [];
  for (let i = 0; i < n; i = next[i]) out.push(ranksOf.get(bytes.slice(i, next[i]))!);
  return out;
}

/** Token ids of one pre-tokenized word (`work` counts the long-word path's steps, for tests). */
export function encodeWord(word: string, work: BpeWork = { steps: 0 }): number[] {
  const ranksOf = rankTable();
  const bytes = wordBytes(word);
  const whole = ranksOf.get(bytes);
  if (whole !== undefined) return [whole];
  const cacheable = bytes.length <= CACHE_WORD_BYTES;
  if (cacheable) {
    const hit = cache.get(bytes);
    if (hit) return hit;
  }
  const ids = bytes.length <= SHORT_WORD ? mergeShort(bytes, ranksOf) : mergeLong(bytes, ranksOf, work);
  if (cacheable) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(bytes, ids);
  }
  return ids;
}

/** Appends the token ids of `text` (no special tokens) to `out`. */
export function encodeOrdinary(text: string, out: number[], work?: BpeWork): void {
  for (const [word] of text.matchAll(PRETOKENIZE)) {
    for (const id of encodeWord(word, work)) out.push(id);
  }
}
