import type { InitScheme } from '@hessweep/grid';
import type { Rng } from './random.js';

/**
 * A fully connected ReLU network: sizes = [input, h, h (depth times), classes]. Layer p maps
 * sizes[p] → sizes[p+1] by z = a·W_p (+ b_p); every layer but the last is followed by ReLU.
 */
export interface Architecture {
  sizes: number[];
  bias: boolean;
}

/** Parameters on the host: W_p row-major [fan_in][fan_out]; biases only when the architecture has them. */
export interface Params {
  weights: Float32Array[];
  biases: Float32Array[] | null;
}

export function mlpArchitecture(inputDim: number, width: number, depth: number, classes: number, bias: boolean): Architecture {
  return { sizes: [inputDim, width, ...Array<number>(depth).fill(width), classes], bias };
}

export function layerCount(arch: Architecture): number {
  return arch.sizes.length - 1;
}

/** Parameter count: weights (and biases) of every layer, in the flat order W1, b1, W2, b2, … */
export function paramCount(arch: Architecture): number {
  let total = 0;
  for (let p = 0; p < layerCount(arch); p++) total += arch.sizes[p] * arch.sizes[p + 1] + (arch.bias ? arch.sizes[p + 1] : 0);
  return total;
}

/** Offsets of each layer's weights and bias in the flat parameter vector. */
export function paramOffsets(arch: Architecture): { weight: number; bias: number }[] {
  const offsets: { weight: number; bias: number }[] = [];
  let at = 0;
  for (let p = 0; p < layerCount(arch); p++) {
    const w = arch.sizes[p] * arch.sizes[p + 1];
    offsets.push({ weight: at, bias: at + w });
    at += w + (arch.bias ? arch.sizes[p + 1] : 0);
  }
  return offsets;
}

/**
 * Initialisation as PyTorch's nn.Linear default (weights and biases U(−1/√fan_in, 1/√fan_in)), which the
 * paper's code uses, or He normal (N(0, 2/fan_in), zero biases).
 */
export function initParams(arch: Architecture, scheme: InitScheme, rng: Rng): Params {
  const weights: Float32Array[] = [];
  const biases: Float32Array[] | null = arch.bias ? [] : null;
  for (let p = 0; p < layerCount(arch); p++) {
    const fanIn = arch.sizes[p];
    const fanOut = arch.sizes[p + 1];
    const w = new Float32Array(fanIn * fanOut);
    const b = new Float32Array(fanOut);
    if (scheme === 'uniform') {
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < w.length; i++) w[i] = (2 * rng.uniform() - 1) * bound;
      for (let i = 0; i < b.length; i++) b[i] = (2 * rng.uniform() - 1) * bound;
    } else {
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
    }
    weights.push(w);
    biases?.push(b);
  }
  return { weights, biases };
}

export function flattenParams(arch: Architecture, params: Params): Float64Array {
  const flat = new Float64Array(paramCount(arch));
  paramOffsets(arch).forEach((o, p) => {
    flat.set(params.weights[p], o.weight);
    if (params.biases) flat.set(params.biases[p], o.bias);
  });
  return flat;
}

export function unflattenParams(arch: Architecture, flat: ArrayLike<number>): Params {
  const offsets = paramOffsets(arch);
  const weights = offsets.map((o, p) => Float32Array.from({ length: arch.sizes[p] * arch.sizes[p + 1] }, (_, i) => flat[o.weight + i]));
  const biases = arch.bias ? offsets.map((o, p) => Float32Array.from({ length: arch.sizes[p + 1] }, (_, i) => flat[o.bias + i])) : null;
  return { weights, biases };
}
