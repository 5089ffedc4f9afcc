import { Rng } from '../random.js';
import { LIMITS } from '@hessweep/grid';
import { checkSampleMatrix } from './limits.js';
import type { Dataset } from './types.js';

const CENTRE_SPREAD = 0.5;
const NOISE_SD = 0.2;

/**
 * Gaussian blobs: `classes` centres drawn U(-0.5, 0.5) per coordinate, then `n` points, each with a
 * uniformly drawn class and N(0, 0.2²) noise around its centre, clipped to [-1, 1]. Points are drawn one
 * after another, so a smaller `n` with the same seed gives a prefix of a larger one.
 */
export function synthetic(n: number, dim: number, classes: number, seed: number): Dataset {
  if (!Number.isInteger(dim) || dim < 1 || dim > LIMITS.input_dim) {
    throw new RangeError(`synthetic_dim must be an integer in [1, ${LIMITS.input_dim}], got ${dim}`);
  }
  if (!Number.isInteger(classes) || classes < 1 || classes > LIMITS.classes) {
    throw new RangeError(`synthetic_classes must be an integer in [1, ${LIMITS.classes}], got ${classes}`);
  }
  const source = `synthetic blobs (dim ${dim}, classes ${classes}, seed ${seed})`;
  checkSampleMatrix(source, n, dim);
  const rng = new Rng(seed);
  const centres = new Float64Array(classes * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = (rng.uniform() - 0.5) * 2 * CENTRE_SPREAD;
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = rng.int(classes);
    y[i] = label;
    for (let j = 0; j < dim; j++) {
      const value = centres[label * dim + j] + NOISE_SD * rng.normal();
      x[i * dim + j] = Math.min(1, Math.max(-1, value));
    }
  }
  return { x, y, n, dim, classes, source };
}
