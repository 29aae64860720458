/**
 * Reverse-mode autograd. An op whose inputs require gradients records a {@link GradNode} on its output:
 * the inputs, the tensors it saved for backward (retained views, so callers may dispose the originals),
 * and a rule mapping the output gradient to input gradients. `backward()` walks the graph once in
 * reverse topological order, accumulates gradients into leaves' `.grad`, and frees saved tensors.
 */
// A module cycle (ops record into autograd, autograd sums with ops) that is safe: both sides only
// call each other at run time, never while loading.
import { ones } from './ops/creation';
import { add } from './ops/binary';
import { keep } from './engine/scope';
import type { Tensor } from './engine/tensor';

/**
 * Maps the output gradient to one gradient per input (`null` where an input needs none).
 * `needs[i]` tells whether input i requires a gradient (saved tensors are plain views and do not).
 */
export type BackwardRule = (grad: Tensor, saved: readonly Tensor[], needs: readonly boolean[]) => (Tensor | null)[];

export interface GradNode {
  /** Op name, for error messages and debugging. */
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Tensors the rule reads, retained until backward has run. */
  saved: Tensor[];
  readonly backward: BackwardRule;
}

let gradEnabled = true;

/** Whether ops currently record graphs. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` without recording gradients (like `torch.no_grad()`). Works with async functions:
 * recording stays off until the returned promise settles.
 */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  let result: T;
  try {
    result = fn();
  } catch (err) {
    gradEnabled = previous;
    throw err;
  }
  if (result instanceof Promise) {
    return result.finally(() => {
      gradEnabled = previous;
    }) as T;
  }
  gradEnabled = previous;
  return result;
}

/** True if an op on these inputs should record a node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  return gradEnabled && inputs.some((t) => t?.requiresGrad === true);
}

/**
 * Records `rule` as the way back from `out` to `inputs`. `saved` tensors are retained (as views)
 * until backward runs. Returns `out` for chaining. No-op when no input requires a gradient.
 */
export function record<T extends Tensor>(out: T, op: string, inputs: Tensor[], saved: Tensor[], backward: BackwardRule): T {
  if (!needsGrad(...inputs)) return out;
  out.requiresGrad = true;
  out.isLeaf = false;
  // Saved views mirror requiresGrad so rules may ask `saved[i].requiresGrad` (they never join the graph).
  const views = saved.map((t) => {
    const view = keep(t.retainView());
    view.requiresGrad = t.requiresGrad;
    return view;
  });
  out.gradNode = { op, inputs, saved: views, backward };
  return out;
}

/** Everything reachable from `root` that has a node, inputs before outputs. */
function topoSort(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const input of t.gradNode?.inputs ?? []) if (input.gradNode && !seen.has(input)) stack.push([input, false]);
  }
  return order;
}

/**
 * Backpropagates from `root` (a one-element tensor unless `grad` is given), accumulating into every
 * leaf's `.grad` that has `requiresGrad`. Frees the graph (saved tensors, intermediate gradients).
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new Error(`scratchgpt: backward() on a tensor that does not require grad (shape [${root.shape.join(', ')}])`);
  if (!grad && root.size !== 1) {
    throw new Error(`scratchgpt: backward() needs a gradient for a non-scalar tensor of shape [${root.shape.join(', ')}]`);
  }
  const order = topoSort(root);
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, grad ? grad.retainView() : ones(root.shape));
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = grads.get(t);
    if (prev) {
      grads.set(t, add(prev, g));
      prev.dispose();
      g.dispose();
    } else grads.set(t, g);
  };
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const node = t.gradNode!;
      const g = grads.get(t);
      grads.delete(t);
      if (!g) continue;
      const inputGrads = node.backward(g, node.saved, node.inputs.map((t) => t.requiresGrad));
      g.dispose();
      node.inputs.forEach((input, k) => {
        const ig = inputGrads[k];
        if (!ig) return;
        if (!input.requiresGrad) {
          ig.dispose();
          return;
        }
        if (ig.size !== input.size) {
          throw new Error(`scratchgpt: ${node.op} backward produced a gradient of ${ig.size} elements for an input of shape [${input.shape.join(', ')}]`);
        }
        accumulate(input, ig);
      });
      for (const s of node.saved) s.dispose();
      node.saved = [];
      t.gradNode = null;
    }
    // What remains are leaves (and intermediates without nodes): add into .grad.
    for (const [t, g] of grads) {
      if (t.gradNode === null && t.isLeaf) {
        const shaped = g.shape.join() === t.shape.join() ? g : g.reshape(t.shape);
        if (shaped !== g) g.dispose();
        if (t.grad) {
          const sum = add(t.grad, shaped);
          t.grad.dispose();
          shaped.dispose();
          t.grad = keep(sum);
        } else t.grad = keep(shaped);
      } else g.dispose();
    }
  } finally {
    gradEnabled = previous;
  }
}
