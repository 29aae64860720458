/**
 * Scopes: every tensor created while a scope is open belongs to it, and is disposed when the scope
 * ends unless it is returned (anywhere inside the returned value: arrays, plain objects, Maps) or
 * `keep()`-ed. Works with async functions (the scope stays open until the promise settles); scopes
 * opened by concurrent async tasks must not interleave: a tensor belongs to the innermost open scope,
 * whoever created it. When a scope ends while a later one is still open the library warns (and keeps
 * the ending scope's result alive), and a tensor freed by a scope says so when it is used afterwards.
 */
import { isTensor } from './brand';
import { logMessage } from './log';
import type { Tensor } from './tensor';

const stack: Set<Tensor>[] = [];

/** Why a scope disposed a tensor, for the "used after dispose" error (see {@link disposalNote}). */
const notes = new WeakMap<Tensor, string>();
const SYNC_NOTE = 'it was freed when the scope() that created it ended: return it from the scope (or keep() it) to use it afterwards';
const ASYNC_NOTE =
  'it was freed when the async scope() that was innermost at its creation ended. Return it from the scope (or keep() it) to use it afterwards; ' +
  'if async scopes run concurrently (Promise.all, a scope() that is not awaited), each one collects the tensors the others create while it is ' +
  'the innermost: await scopes one after another';
const INTERLEAVED_NOTE =
  'it was freed when an async scope() ended while a scope opened after it was still open (concurrent async scopes interleaved across await): ' +
  'await scopes one after another, or keep() tensors that must outlive them';

/** @internal Why `t` was disposed by a scope (' — …'), or '' when it was disposed explicitly. */
export function disposalNote(t: Tensor): string {
  const note = notes.get(t);
  return note ? ` — ${note}` : '';
}

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

function close(created: Set<Tensor>, result: unknown, async: boolean): void {
  const index = stack.lastIndexOf(created);
  const above = index >= 0 ? stack.slice(index + 1) : [];
  if (index >= 0) stack.splice(index, 1);
  // What this scope hands back goes to the scope that was innermost when it opened.
  const parent = index > 0 ? stack[index - 1] : undefined;
  const returned = new Set<Tensor>();
  collect(result, returned, new Set());
  if (above.length > 0) rescueFromInterleaved(created, above, returned);
  const needed = graphOf(returned, created);
  for (const t of created) {
    if (returned.has(t)) {
      parent?.add(t);
      continue;
    }
    // A returned gradient outlives its tensor (dispose() would free it with it).
    if (t.grad && returned.has(t.grad)) t.grad = null;
    if (!t.isDisposed) notes.set(t, above.length > 0 ? INTERLEAVED_NOTE : async ? ASYNC_NOTE : SYNC_NOTE);
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
 * A scope closes while scopes opened after it are still open: two async scopes interleaved across
 * `await` (nested scopes always close innermost first). The tensors this scope created while a later
 * one was innermost were tracked by that one; take back those it returns (and the graph behind
 * them), so its result survives, and warn: the later scope also holds tensors this one still used.
 */
function rescueFromInterleaved(created: Set<Tensor>, above: Set<Tensor>[], returned: Set<Tensor>): void {
  logMessage(
    'warn',
    'scratchgpt: an async scope() ended while a scope() opened after it was still open: concurrent async scopes interleaved across await. ' +
      "Tensors one creates while the other is the innermost open scope are freed with the other ('used after dispose' errors may follow). " +
      'Await scopes one after another, or run the concurrent work outside scope() and keep() what it must keep.',
  );
  const others = new Set<Tensor>();
  for (const s of above) for (const t of s) others.add(t);
  for (const t of graphOf(returned, new Set([...created, ...others]))) {
    if (!others.has(t)) continue;
    for (const s of above) s.delete(t);
    created.add(t);
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
    close(created, undefined, false);
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (value) => {
        close(created, value, true);
        return value;
      },
      (err) => {
        close(created, undefined, true);
        throw err;
      },
    ) as T;
  }
  close(created, result, false);
  return result;
}
