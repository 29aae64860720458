/** @scratchgpt/finetune — classification and instruction fine-tuning of @scratchgpt/gpt models (the book's chapters 6 and 7), LoRA and LLM-judge scoring. */
export * from './datasets';
export { POOLINGS, poolingNeedsLengths, poolingWeights, poolPositions, type Pooling } from './pooling';
export * from './classifier';
export * from './train';
export * from './evaluate';
export * from './classifier-file';
export * from './spam-recipe';
export * from './prompts';
export * from './collate';
export * from './instruct';
export * from './instruct-train';
export * from './respond';
export * from './subvocab';
export * from './lm-pretrain';
export * from './judge';
export * from './lora';
export * from './lora-adapters';
