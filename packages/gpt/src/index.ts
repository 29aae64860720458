/** @scratchgpt/gpt — GPT-2 tokenizer, data, model, generation, training, checkpoints and weights. */
export * from './config';
export * from './tokenizer';
export * from './data';
export * from './model';
export * from './generate';
export * from './train';
export * from './safetensors';
export * from './files';
export * from './checkpoint';
export * from './weights';
