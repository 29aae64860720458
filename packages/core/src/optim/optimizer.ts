/** What every optimizer shares: the parameter list (optionally named) and gradient reset. */
import type { Tensor } from '../tensor';

/** Parameters as tensors, or `[name, tensor]` pairs (e.g. `model.namedParameters()`); names key the state dict. */
export type ParamList = Iterable<Tensor> | Iterable<readonly [string, Tensor]>;

export function normalizeParams(params: ParamList): { names: string[]; tensors: Tensor[] } {
  const names: string[] = [];
  const tensors: Tensor[] = [];
  let i = 0;
  for (const item of params as Iterable<Tensor | readonly [string, Tensor]>) {
    if (Array.isArray(item)) {
      names.push(item[0] as string);
      tensors.push(item[1] as Tensor);
    } else {
      names.push(String(i));
      tensors.push(item as Tensor);
    }
    i++;
  }
  for (const [k, t] of tensors.entries()) {
    if (t.dtype !== 'f32') throw new Error(`scratchgpt: optimizer parameter '${names[k]}' is ${t.dtype}; only f32 parameters can be optimized`);
  }
  if (new Set(tensors).size !== tensors.length) throw new Error('scratchgpt: the same parameter appears twice in the optimizer list');
  return { names, tensors };
}

/** Saved optimizer state: tensors by name plus JSON-serialisable metadata. */
export interface OptimizerState {
  tensors: Map<string, Tensor>;
  meta: Record<string, unknown>;
}

export abstract class Optimizer {
  readonly names: string[];
  readonly params: Tensor[];
  /** Learning rate used by the next `step()` (set it from a schedule). */
  lr: number;

  constructor(params: ParamList, lr: number) {
    const { names, tensors } = normalizeParams(params);
    this.names = names;
    this.params = tensors;
    this.lr = lr;
  }

  /** Applies one update to every parameter that has a gradient (recorded on the GPU, no readback). */
  abstract step(): void;

  /** Disposes every parameter's `.grad`. */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  abstract stateDict(): OptimizerState;
  abstract loadStateDict(state: OptimizerState): void;
  /** Frees optimizer state (not the parameters). */
  abstract dispose(): void;
}

/** Copies `src` into `dst` on the GPU after checking shapes (used when loading state). */
export function checkStateShape(what: string, dst: Tensor, src: Tensor | undefined): Tensor {
  if (!src) throw new Error(`scratchgpt: optimizer state is missing '${what}'`);
  if (src.shape.join() !== dst.shape.join()) {
    throw new Error(`scratchgpt: optimizer state '${what}' has shape [${src.shape.join(', ')}], expected [${dst.shape.join(', ')}]`);
  }
  return src;
}
