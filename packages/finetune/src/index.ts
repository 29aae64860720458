/** @scratchgpt/finetune — classification fine-tuning of @scratchgpt/gpt models (the book's chapter 6). */
export * from './datasets';
export { POOLINGS, poolingNeedsLengths, poolingWeights, poolPositions, type Pooling } from './pooling';
export * from './classifier';
export * from './train';
export * from './evaluate';
export * from './classifier-file';
export * from './prompts';
export * from './collate';
export * from './instruct';
export * from './judge';
export * from './lora';
export * from './lora-adapters';
