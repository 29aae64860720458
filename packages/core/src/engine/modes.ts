/**
 * Global modes held while a function runs (`noGrad`, `autocast`): counted, so that overlapping calls
 * nest and can never leave a mode on once all have finished, in whatever order they finish.
 */

/**
 * Calls `enter`, runs `fn`, and calls `exit` when `fn` returns, throws, or — for an async `fn` — when
 * its promise settles (the mode is global, so it also covers other code running meanwhile).
 */
export function whileRunning<T>(enter: () => void, exit: () => void, fn: () => T): T {
  enter();
  let result: T;
  try {
    result = fn();
  } catch (err) {
    exit();
    throw err;
  }
  if (result instanceof Promise) return result.finally(exit) as T;
  exit();
  return result;
}
