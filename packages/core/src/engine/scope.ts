/**
 * Scopes: every tensor created while a scope is open belongs to it, and is disposed when the scope
 * ends unless it is returned (anywhere inside the returned value: arrays, plain objects, Maps) or
 * `keep()`-ed. Works with async functions (the scope stays open until the promise settles); scopes
 * opened by concurrent async tasks must not interleave.
 */
import { isTensor } from './brand';
import type { Tensor } from './tensor';

const stack: Set<Tensor>[] = [];

/** @internal Called by the Tensor constructor. */
export function track(t: Tensor): void {
  stack[stack.length - 1]?.add(t);
}

/** Removes `t` from every open scope: it lives until disposed explicitly (parameters, optimizer state, grads). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Tensor>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTensor(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, seen);
  else if (value instanceof Map) for (const v of value.values()) collect(v, out, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, out, seen);
}

/**
 * Tensors whose graph nodes are still needed by `roots` (their saved tensors must survive). The walk
 * descends only into the roots and this scope's `created` set, which also holds what nested scopes
 * handed up (see `close`): a tensor from before the scope cannot have inputs created inside it, so
 * the cost is that of the scope, not of the whole graph.
 */
function graphOf(roots: Set<Tensor>, created: Set<Tensor>): Set<Tensor> {
  const reach = new Set<Tensor>();
  const todo = [...roots];
  while (todo.length > 0) {
    const t = todo.pop()!;
    if (reach.has(t)) continue;
    reach.add(t);
    for (const input of t.gradNode?.inputs ?? []) if (created.has(input)) todo.push(input);
  }
  return reach;
}

function close(created: Set<Tensor>, result: unknown): void {
  const index = stack.lastIndexOf(created);
  if (index >= 0) stack.splice(index, 1);
  const returned = new Set<Tensor>();
  collect(result, returned, new Set());
  const needed = graphOf(returned, created);
  const parent = stack[stack.length - 1];
  for (const t of created) {
    if (returned.has(t)) {
      parent?.add(t);
      continue;
    }
    // A returned gradient outlives its tensor (dispose() would free it with it).
    if (t.grad && returned.has(t.grad)) t.grad = null;
    t.dispose();
    if (!t.gradNode) continue;
    if (needed.has(t)) {
      // A returned tensor's backward passes through this node: the enclosing scope owns it now and
      // frees it when what it returns no longer depends on it.
      parent?.add(t);
    } else {
      // Graph nodes no returned tensor depends on would never see backward: free what they saved.
      for (const s of t.gradNode.saved) s.dispose();
      t.gradNode.saved = [];
      t.gradNode = null;
    }
  }
}

/**
 * Runs `fn` and disposes every tensor it created except those it returns (like `tf.tidy`, but also
 * for async functions).
 * @example
 * ```ts
 * const loss = await scope(async () => {
 *   const logits = model.forward(x);
 *   return crossEntropy(logits, y); // logits is freed, loss is returned
 * });
 * ```
 */
export function scope<T>(fn: () => T): T {
  const created = new Set<Tensor>();
  stack.push(created);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    close(created, undefined);
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (value) => {
        close(created, value);
        return value;
      },
      (err) => {
        close(created, undefined);
        throw err;
      },
    ) as T;
  }
  close(created, result);
  return result;
}
