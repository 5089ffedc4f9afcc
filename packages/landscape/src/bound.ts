import { symmetricEigenvalues } from './spectral/eigen.js';

/** Spectral norm ‖W‖₂ of a row-major rows × cols matrix: √λ_max of the smaller Gram matrix, in float64. */
export function spectralNorm(w: ArrayLike<number>, rows: number, cols: number): number {
  const byCols = cols <= rows;
  const n = byCols ? cols : rows;
  const gram = new Float64Array(n * n);
  if (byCols) {
    // WᵀW: accumulate outer products of the rows.
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let i = 0; i < cols; i++) {
        const wi = w[base + i];
        if (wi === 0) continue;
        for (let j = 0; j <= i; j++) gram[i * n + j] += wi * w[base + j];
      }
    }
  } else {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += w[i * cols + c] * w[j * cols + c];
        gram[i * n + j] = s;
      }
    }
  }
  const values = symmetricEigenvalues(gram, n);
  return Math.sqrt(Math.max(0, values[n - 1]));
}

/**
 * Theorem 1 of Kiselev & Grabovoy (2024): ‖Hᵢ‖₂ ≤ L√2·M_x²·M_W^{2L} + √2·M_W²(M_W^{2L} − 1)/(M_W² − 1), for a
 * network of L weight layers with M_W = max_p ‖W_p‖₂ and M_x = max_i ‖x_i‖₂. The geometric factor
 * (M_W^{2L} − 1)/(M_W² − 1) = Σ_{j<L} M_W^{2j} is summed directly, which stays finite at M_W = 1.
 */
export function theoremOneBound(layers: number, mW: number, mX: number): number {
  const w2 = mW * mW;
  let geometric = 0;
  let power = 1;
  for (let j = 0; j < layers; j++) {
    geometric += power;
    power *= w2;
  }
  // power = M_W^{2L} now.
  return layers * Math.SQRT2 * mX * mX * power + Math.SQRT2 * w2 * geometric;
}
