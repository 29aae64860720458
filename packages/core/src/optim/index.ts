export * from './optimizer';
export * from './adamw';
export * from './sgd';
export { clipGradNorm } from './clip';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad-scaler';
export * from './schedule';
