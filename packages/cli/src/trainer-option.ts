import { TRAINERS, type TrainerChoice } from '@hessweep/grid';

/** `--trainer`, for every command that computes cells (`cell`, `run`, `worker`). */
export const TRAINER_OPTION = {
  type: 'string',
  choices: TRAINERS,
  default: 'auto' as TrainerChoice,
  describe:
    'training step: fused (WebAssembly SIMD, one call per step), tfjs (tensorflow.js products), or auto: tfjs on the tensorflow backend, fused elsewhere. ' +
    'The row\'s backend column says which ran (e.g. wasm+fused)',
} as const;
