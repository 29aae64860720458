/** Every built-in op; each file holds one op family's forward, backward and float64 reference. */
import { setGradOps } from '../autograd';
import { ones } from '../creation';
import { add } from './binary';

export * from './broadcast';
export * from './unary';
export * from './binary';
export * from './reduce';
export * from './matmul';
export * from './softmax';
export * from './layernorm';
export * from './permute';
export * from './slice';
export * from './concat';
export * from './where';
export * from './embedding';
export * from './crossentropy';
export * from './argmax';
export * from './topk';
export * from './dropout';
export * from './attention';
export * from './sample';

setGradOps({ add, onesLike: (t) => ones(t.shape) });
