/**
 * The recorded graph: an op whose inputs require gradients attaches a {@link GradNode} to its output
 * (the inputs, the tensors it saved for backward as retained views, and its rule), unless recording
 * is off ({@link noGrad}). Walking the graph backwards is `autograd/backward.ts`' job; this module
 * only records, so tensors and ops depend on it and not on the gradient engine.
 */
import { whileRunning } from './modes';
import { keep } from './scope';
import type { Tensor } from './tensor';

/** Computes one input's gradient; run only when that input requires one. */
export type GradThunk = () => Tensor;

/**
 * Maps the output gradient `grad` to one {@link GradThunk} per input (`null` where no gradient flows,
 * e.g. integer ids). The engine runs the thunks of inputs that require a gradient, inside a scope
 * (rules need not free their temporaries), and sums each result down to its input's shape (rules
 * may return the broadcast shape). Thunks of one rule may share work with {@link shared}.
 * @example
 * ```ts
 * // mul: d(a·b)/da = b, d(a·b)/db = a
 * const rule: BackwardRule = (g, [a, b]) => [() => mul(g, b), () => mul(g, a)];
 * ```
 */
export type BackwardRule = (grad: Tensor, saved: readonly Tensor[]) => (GradThunk | null)[];

export interface GradNode {
  /** Op name, for error messages and debugging. */
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Tensors the rule reads, retained until backward has run. */
  saved: Tensor[];
  readonly backward: BackwardRule;
}

/** Open {@link noGrad} calls (sync ones and pending async ones). Recording is on at 0. */
let disabled = 0;

/** Whether ops currently record graphs. */
export function isGradEnabled(): boolean {
  return disabled === 0;
}

/**
 * Runs `fn` without recording gradients (like `torch.no_grad()`). Works with async functions:
 * recording stays off until the returned promise settles — for all code, since the mode is global,
 * so prefer a synchronous `fn`. Overlapping calls nest by counting, so they can never leave recording
 * off once all have finished, in whatever order they finish.
 */
export function noGrad<T>(fn: () => T): T {
  return whileRunning(
    () => disabled++,
    () => disabled--,
    fn,
  );
}

/** True if an op on these inputs should record a node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  return disabled === 0 && inputs.some((t) => t?.requiresGrad === true);
}

/**
 * Records `rule` as the way back from `out` to `inputs`. `saved` tensors are retained (as views)
 * until backward runs, so callers may dispose the originals. Returns `out` for chaining. No-op when
 * no input requires a gradient.
 */
export function record<T extends Tensor>(out: T, op: string, inputs: Tensor[], saved: Tensor[], backward: BackwardRule): T {
  if (!needsGrad(...inputs)) return out;
  out.requiresGrad = true;
  out.isLeaf = false;
  // Saved views mirror requiresGrad (they never join the graph) so that custom ops' backward
  // functions can skip inputs that need no gradient.
  const views = saved.map((t) => {
    const view = keep(t.retainView());
    view.requiresGrad = t.requiresGrad;
    return view;
  });
  out.gradNode = { op, inputs, saved: views, backward };
  return out;
}

/**
 * Wraps a computation that yields several gradients at once (one kernel writing dK and dV, one mask
 * for both operands) so that the thunks of a rule can share it: it runs at most once, on first use.
 */
export function shared<T>(fn: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = fn();
      done = true;
    }
    return value;
  };
}
