export * from './optimizer';
export * from './adamw';
export * from './sgd';
export { clipGradNorm } from './clip';
export { StepGuard } from './step-guard';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad-scaler';
export * from './schedule';
