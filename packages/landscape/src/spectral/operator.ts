/**
 * A symmetric linear operator on R^dim, the only thing Lanczos, Hutchinson and SLQ know about a curvature
 * matrix (Hessian, Gauss–Newton, or a plain matrix in tests).
 */
export interface LinearOperator {
  readonly dim: number;
  /**
   * A·v for each v, in one pass. Curvature products pay a fixed cost per pass over the data, so callers
   * hand over as many vectors at once as their algorithm allows.
   */
  applyMany(vectors: Float64Array[]): Float64Array[];
}

/**
 * The operator of a row-major symmetric n × n matrix `a` (float64), for tests and small problems.
 * The matrix is used as given, not copied, and not checked for symmetry.
 */
export function denseOperator(a: Float64Array, n: number): LinearOperator {
  if (a.length !== n * n) throw new Error(`denseOperator: expected ${n}×${n} = ${n * n} entries, got ${a.length}`);
  return {
    dim: n,
    applyMany(vectors: Float64Array[]): Float64Array[] {
      for (const v of vectors) {
        if (v.length !== n) throw new Error(`denseOperator: vector of length ${v.length}, expected ${n}`);
      }
      const out = vectors.map(() => new Float64Array(n));
      // Rows outer, vectors inner: each row is read from memory once for all vectors.
      for (let i = 0; i < n; i++) {
        const row = a.subarray(i * n, i * n + n);
        for (let r = 0; r < vectors.length; r++) {
          const v = vectors[r];
          let s = 0;
          for (let j = 0; j < n; j++) s += row[j] * v[j];
          out[r][i] = s;
        }
      }
      return out;
    },
  };
}
