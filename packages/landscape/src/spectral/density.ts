/**
 * Spectral density by stochastic Lanczos quadrature (Ghorbani et al. 2019; PyHessian): each Lanczos run from a
 * random unit vector gives a Gauss quadrature (nodes θ_j, weights τ_j) of the spectral measure, and the runs'
 * average, smoothed by a Gaussian kernel, estimates the eigenvalue density. All in float64.
 */
import type { Rng } from '../random.js';
import { tridiagonalEigen } from './eigen.js';
import { lanczosLockstep } from './lanczos.js';
import type { LinearOperator } from './operator.js';

export interface Quadrature {
  /** Ritz values θ_j, ascending. */
  nodes: Float64Array;
  /** τ_j = (first component of the j-th eigenvector of T)²; they sum to 1. */
  weights: Float64Array;
}

export interface SmoothingOptions {
  /** Grid size. */
  points?: number;
  /** Kernel variance; default PyHessian's 1e-5 · max(1, λmax − λmin). Widened to at least one grid spacing. */
  sigma2?: number;
  /** Grid ends; default [λmin − 5σ, λmax + 5σ] over all nodes, so the outermost kernels lie inside the grid. */
  range?: readonly [number, number];
}

export interface Density {
  /** Uniform grid. */
  x: Float64Array;
  /** Density on x; its trapezoid integral over x is 1. */
  y: Float64Array;
  /** Kernel variance actually used. */
  sigma2: number;
}

/** The Gauss quadrature of one Lanczos run's tridiagonal (diagonal alpha, off-diagonal beta). */
export function slqNodes(alpha: Float64Array, beta: Float64Array): Quadrature {
  const { values, firstComponents } = tridiagonalEigen(alpha, beta);
  return { nodes: values, weights: firstComponents.map((s) => s * s) };
}

/**
 * The average over runs of Σ_j τ_j N(x; θ_j, σ²) on a uniform grid, scaled so its trapezoid integral is exactly 1.
 *
 * The kernel is never narrower than the grid spacing h: the trapezoid rule on a Gaussian sampled at h ≤ σ is
 * exact to ~exp(−2π²σ²/h²) < 1e-8, so the final scaling only corrects rounding and the tails beyond the grid,
 * instead of hiding a spiky, under-resolved curve. With the defaults this keeps PyHessian's σ² for spectra up to
 * λmax − λmin ≈ 10 and beyond that uses σ = h ≈ (λmax − λmin)/989.
 */
export function smoothedDensity(
  runs: readonly Quadrature[],
  { points = 1000, sigma2, range }: SmoothingOptions = {},
): Density {
  let lo = Infinity;
  let hi = -Infinity;
  for (const { nodes } of runs) {
    for (const t of nodes) {
      lo = Math.min(lo, t);
      hi = Math.max(hi, t);
    }
  }
  if (!(lo <= hi)) throw new Error('smoothedDensity: no finite quadrature nodes');
  if (!(points >= 12)) throw new Error(`smoothedDensity: need at least 12 grid points, got ${points}`);
  const spread = hi - lo;
  const requested = Math.sqrt(sigma2 ?? 1e-5 * Math.max(1, spread));
  let a: number;
  let b: number;
  let sigma: number;
  if (range !== undefined) {
    [a, b] = range;
    if (!(b > a)) throw new Error(`smoothedDensity: empty range [${a}, ${b}]`);
    sigma = Math.max(requested, (b - a) / (points - 1));
  } else {
    // Grid [lo − 5σ, hi + 5σ] with spacing h = (spread + 10σ)/(points − 1); if h would exceed σ, take σ = h.
    sigma = (spread + 10 * requested) / (points - 1) <= requested ? requested : spread / (points - 11);
    a = lo - 5 * sigma;
    b = hi + 5 * sigma;
  }

  const x = Float64Array.from({ length: points }, (_, i) => a + ((b - a) * i) / (points - 1));
  // Unnormalised: the constant 1/(runs·√(2π)·σ) is part of the final scaling.
  const y = new Float64Array(points);
  const inv2s2 = 1 / (2 * sigma * sigma);
  for (const { nodes, weights } of runs) {
    for (let j = 0; j < nodes.length; j++) {
      const t = nodes[j];
      const w = weights[j];
      for (let i = 0; i < points; i++) y[i] += w * Math.exp(-(x[i] - t) * (x[i] - t) * inv2s2);
    }
  }
  let sum = 0;
  for (let i = 0; i < points; i++) sum += y[i];
  const integral = (sum - 0.5 * (y[0] + y[points - 1])) * ((b - a) / (points - 1));
  if (!(integral > 0)) throw new Error(`smoothedDensity: no mass inside [${a}, ${b}]`);
  for (let i = 0; i < points; i++) y[i] /= integral;
  return { x, y, sigma2: sigma * sigma };
}

/**
 * The Gauss quadratures of `runs` Lanczos runs of `steps` steps each (hessian-eigenthings: 10 × 80; Ghorbani et
 * al.: 80–90 steps are enough; PyHessian: 100), from independent standard normal starts drawn from `rng` (run 0
 * first). No residual test: every run takes all its steps unless its Krylov space is exhausted (then its nodes
 * are exact eigenvalues). The runs go in lockstep, so each operator pass serves all of them.
 */
export function slqQuadrature(op: LinearOperator, { runs, steps, rng }: { runs: number; steps: number; rng: Rng }): Quadrature[] {
  const results = lanczosLockstep((vs) => op.applyMany(vs), new Array<number>(runs).fill(op.dim), { maxIters: steps, tol: 0, rng });
  return results.map((r) => slqNodes(r.alpha, r.beta));
}

/** Spectral density of `op` from `runs` fixed-length Lanczos runs (`slqQuadrature`), smoothed; also each run's quadrature. */
export function slqDensity(
  op: LinearOperator,
  { runs = 10, steps = 80, rng, ...smoothing }: { runs?: number; steps?: number; rng: Rng } & SmoothingOptions,
): Density & { quadrature: Quadrature[] } {
  const quadrature = slqQuadrature(op, { runs, steps, rng });
  return { ...smoothedDensity(quadrature, smoothing), quadrature };
}
