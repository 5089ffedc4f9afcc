/** Hutchinson's stochastic trace estimator, in float64. */
import type { Rng } from '../random.js';
import type { LinearOperator } from './operator.js';

export interface TraceEstimate {
  /** Mean of vᵀAv over the probes. */
  estimate: number;
  /** Sample standard deviation of vᵀAv (n − 1 denominator) over √probes; NaN for a single probe. */
  standardError: number;
  probes: number;
}

/**
 * tr(A) ≈ mean of vᵀAv over Rademacher probes v (PyHessian: 100 probes), applied `batch` at a time so that one
 * operator pass serves several probes. Probes are drawn probe by probe, entry by entry, from `rng`.
 */
export function hutchinson(
  op: LinearOperator,
  { probes = 100, batch = 10, rng }: { probes?: number; batch?: number; rng: Rng },
): TraceEstimate {
  if (!(probes >= 1) || !(batch >= 1)) throw new Error(`hutchinson: probes and batch must be ≥ 1 (got ${probes}, ${batch})`);
  const samples = new Float64Array(probes);
  for (let done = 0; done < probes; ) {
    const size = Math.min(batch, probes - done);
    const vs = Array.from({ length: size }, () => Float64Array.from({ length: op.dim }, () => rng.rademacher()));
    const avs = op.applyMany(vs);
    for (let r = 0; r < size; r++) {
      const v = vs[r];
      const av = avs[r];
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i] * av[i];
      samples[done + r] = s;
    }
    done += size;
  }
  let mean = 0;
  for (const s of samples) mean += s;
  mean /= probes;
  let ss = 0;
  for (const s of samples) ss += (s - mean) ** 2;
  return { estimate: mean, standardError: Math.sqrt(ss / (probes - 1) / probes), probes };
}
