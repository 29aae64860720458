/**
 * The gradient engine. `backward()` walks the recorded graph (`engine/graph.ts`) once in reverse
 * topological order. For each node it runs, inside a scope, only the thunks of inputs that require a
 * gradient (so rules never free temporaries nor ask which inputs need what), brings each result to
 * its input's shape once (a sum over broadcast dims, or a reshape), and accumulates; leaves' sums land
 * in `.grad`. Saved tensors and intermediate gradients are freed as it goes.
 *
 * Importing this module installs `Tensor.prototype.backward` (the package index does). The method is
 * declared in the Tensor class rather than through `declare module` augmentation, which the bundled
 * .d.ts files would keep pointing at a path that does not exist in dist/.
 */
import { ScratchGPTError } from '../engine/errors';
import { noGrad, type GradNode } from '../engine/graph';
import { recordCopy } from '../engine/queue';
import { keep, scope } from '../engine/scope';
import { fmt, sameShape, Tensor } from '../engine/tensor';
import { add } from '../ops/binary';
import { canSumTo } from '../ops/broadcast';
import { ones } from '../ops/creation';
import { sumTo } from '../ops/reduce';

function freedGraph(t: Tensor): Error {
  return new ScratchGPTError('disposed',
    `scratchgpt: backward() reached a tensor of shape ${fmt(t.shape)} whose graph is gone: backward() was already called on ` +
      'this graph and its saved tensors were freed — run the forward pass again',
  );
}

/**
 * Everything reachable from `root` that has a node, inputs before outputs. Throws when it meets an
 * op output whose node was freed by an earlier backward (its gradient could not flow further).
 */
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
    if (!t.gradNode) {
      if (!t.isLeaf && t.requiresGrad) throw freedGraph(t);
      continue;
    }
    stack.push([t, true]);
    for (const input of t.gradNode.inputs) if (!seen.has(input)) stack.push([input, false]);
  }
  return order;
}

/** `grad` brought to `input`'s shape: as is, reshaped (same size), or summed over broadcast dims. */
function toInputShape(op: string, grad: Tensor, input: Tensor): Tensor {
  if (sameShape(grad.shape, input.shape)) return grad;
  if (grad.size === input.size) return grad.reshape(input.shape);
  if (canSumTo(grad.shape, input.shape)) return sumTo(grad, input.shape);
  throw new ScratchGPTError('shape',
    `scratchgpt: ${op} backward produced a gradient of ${grad.size} elements (shape ${fmt(grad.shape)}), ` +
      `not broadcastable to the input of shape ${fmt(input.shape)}`,
  );
}

/** Runs `node`'s thunks for the inputs that require a gradient (call inside a scope). */
function inputGradients(node: GradNode, g: Tensor): (Tensor | null)[] {
  const thunks = node.backward(g, node.saved);
  // Tensors the engine does not own (it frees what it accumulates): take a handle of their own.
  const foreign = new Set<Tensor>([g, ...node.saved]);
  return node.inputs.map((input, k) => {
    const thunk = thunks[k];
    if (!thunk || !input.requiresGrad) return null;
    let grad = thunk();
    if (foreign.has(grad)) grad = grad.retainView();
    foreign.add(grad);
    return toInputShape(node.op, grad, input);
  });
}

/**
 * Lands a leaf's gradient in its slot (a view of a fused optimizer's flat gradient buffer), in place:
 * a copy for the first gradient since zeroGrad, else the sum (computed aside, then copied: one
 * dispatch may not read and write the same buffer through different bindings). The copies of all
 * leaves follow each other in the command stream (one compute pass break, not one per parameter).
 */
function accumulateIntoSlot(slot: Tensor, grad: Tensor, add_: boolean): void {
  const value = add_ ? add(slot, grad) : grad;
  if (slot.byteLength > 0) recordCopy(value.buffer, value.byteOffset, slot.buffer, slot.byteOffset, slot.byteLength);
  if (value !== grad) value.dispose();
  grad.dispose();
}

function freeNode(t: Tensor): void {
  for (const s of t.gradNode!.saved) s.dispose();
  t.gradNode!.saved = [];
  t.gradNode = null;
}

/**
 * Backpropagates from `root` (a one-element tensor unless `grad`, of root's shape, is given),
 * accumulating into every leaf's `.grad` that has `requiresGrad`. Frees the graph (saved tensors,
 * intermediate gradients): calling it twice on the same graph throws.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new ScratchGPTError('state', `scratchgpt: backward() on a tensor that does not require grad (shape ${fmt(root.shape)})`);
  if (!grad && root.size !== 1) {
    throw new ScratchGPTError('shape', `scratchgpt: backward() needs a gradient for a non-scalar tensor of shape ${fmt(root.shape)}`);
  }
  const order = topoSort(root);
  const grads = new Map<Tensor, Tensor>();
  // Parameters of a fused optimizer that had no gradient: each contribution lands in the slot as it
  // arrives, so gradients are not held twice (built aside and in the flat buffer) at the end of the
  // walk. Restorable: should backward throw, their `.grad` goes back to null.
  const landed = new Set<Tensor>();
  const accumulate = (t: Tensor, g: Tensor) => {
    const slot = t.gradSlot;
    if (slot && (landed.has(t) || t.grad === null)) {
      const shaped = sameShape(g.shape, t.shape) ? g : g.reshape(t.shape);
      if (shaped !== g) g.dispose();
      accumulateIntoSlot(slot, shaped, landed.has(t));
      landed.add(t);
      t.grad = slot;
      return;
    }
    const prev = grads.get(t);
    if (prev) {
      grads.set(t, add(prev, g));
      prev.dispose();
      g.dispose();
    } else grads.set(t, g);
  };
  try {
    noGrad(() => {
      grads.set(root, grad ? grad.retainView() : ones(root.shape));
      for (let i = order.length - 1; i >= 0; i--) {
        const t = order[i];
        const g = grads.get(t);
        grads.delete(t);
        if (g) {
          const node = t.gradNode!;
          let inputGrads: (Tensor | null)[];
          try {
            inputGrads = scope(() => inputGradients(node, g));
          } finally {
            g.dispose();
          }
          inputGrads.forEach((ig, k) => ig && accumulate(node.inputs[k], ig));
        }
        freeNode(t);
      }
      // What remains are leaves: add into .grad.
      for (const [t, g] of grads) {
        grads.delete(t);
        const shaped = sameShape(g.shape, t.shape) ? g : g.reshape(t.shape);
        if (shaped !== g) g.dispose();
        const slot = t.gradSlot;
        if (slot && (t.grad === null || t.grad === slot)) {
          accumulateIntoSlot(slot, shaped, t.grad === slot);
          t.grad = slot;
        } else if (t.grad) {
          const sum = add(t.grad, shaped);
          t.grad.dispose();
          shaped.dispose();
          t.grad = keep(sum);
        } else t.grad = keep(shaped);
      }
    });
  } catch (err) {
    for (const g of grads.values()) g.dispose();
    for (const t of landed) t.grad = null;
    throw err;
  }
}

Tensor.prototype.backward = function backwardMethod(this: Tensor, grad?: Tensor): void {
  backward(this, grad);
};
