/**
 * Batch sources for the training loop: anything re-iterable (an array, a loader), optionally able to
 * produce any epoch's batches from any position — what a resumed run needs to continue in the same order.
 */

/**
 * A re-iterable source of batches (an array, a `DataLoader`, ...). Sources that implement
 * `batches(epoch, from)` (as `DataLoader` does) get an explicit epoch number, so that a resumed run sees
 * the same order as an uninterrupted one; others are simply iterated once per epoch.
 */
export interface EpochSource<B> extends Iterable<B> {
  /** Batches per epoch (else `length`, else the source is counted by iterating it). */
  readonly numBatches?: number;
  readonly length?: number;
  /** The batches of epoch `epoch` (0-based) from batch `from` on; the same arguments give the same batches. */
  batches?(epoch: number, from?: number): Iterable<B>;
}

/** Batches per epoch of a source: `numBatches`, else `length`, else counted by iterating. */
export function countBatches<B>(source: EpochSource<B>): number {
  if (typeof source.numBatches === 'number') return source.numBatches;
  if (typeof source.length === 'number') return source.length;
  let n = 0;
  for (const _ of source) n++;
  return n;
}

/** The batches of epoch `epoch` from batch `from` on (skipping by iteration where the source cannot seek). */
export function* epochBatches<B>(source: EpochSource<B>, epoch: number, from = 0): Generator<B> {
  if (typeof source.batches === 'function') {
    yield* source.batches(epoch, from);
    return;
  }
  let i = 0;
  for (const batch of source) if (i++ >= from) yield batch;
}

/**
 * A fixed view of a source (the batches of its epoch 0): evaluation reads the same batches every time,
 * without advancing a loader's own epoch counter (which would change its training order).
 */
export function fixedOrder<B>(source: EpochSource<B>): Iterable<B> {
  return { [Symbol.iterator]: () => epochBatches(source, 0) };
}
