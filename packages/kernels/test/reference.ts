// A float64 reference network written from the textbook formulas, for the kernels' tests.
import type { HostParams } from '../src/index.js';

export interface Net {
  sizes: number[];
  weights: Float64Array[]; // row-major [fan_in][fan_out]
  biases: Float64Array[] | null;
}

export function toNet(sizes: number[], params: HostParams): Net {
  return { sizes, weights: params.weights.map((w) => Float64Array.from(w)), biases: params.biases?.map((b) => Float64Array.from(b)) ?? null };
}

// Activations of every layer per sample: acts[0] = x, acts[p+1] = relu(acts[p]·W_p + b_p), no ReLU on the last.
export function forward(net: Net, x: Float64Array): Float64Array[] {
  const acts = [x];
  const layers = net.sizes.length - 1;
  for (let p = 0; p < layers; p++) {
    const fanIn = net.sizes[p]!;
    const fanOut = net.sizes[p + 1]!;
    const z = new Float64Array(fanOut);
    for (let j = 0; j < fanOut; j++) {
      let sum = net.biases ? net.biases[p]![j]! : 0;
      for (let i = 0; i < fanIn; i++) sum += acts[p]![i]! * net.weights[p]![i * fanOut + j]!;
      z[j] = p < layers - 1 ? Math.max(0, sum) : sum;
    }
    acts.push(z);
  }
  return acts;
}

