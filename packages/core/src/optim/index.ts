export * from './optimizer';
export * from './adamw';
export * from './sgd';
export { clipGradNorm } from './clip';
export * from './schedule';
