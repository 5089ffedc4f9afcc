/**
 * The stabilization stage of a cell (issue 11; definitions and derivations in docs/stabilization.md): how the
 * landscape around θ̂ settles as samples are added, measured on the cell's own permutations and stored at its
 * log-spaced k. The math is in stabilization.ts (pure, float64); this module feeds it from the network.
 */
import type { MeasureSettings } from '@hessweep/grid';
import type { Curvature } from './curvature.js';
import type { Rng } from './random.js';
import {
  IncrementMoments, emaSmooth, forEachQuadraticModel, gaussianMoment as gaussianMomentOf, quadraticInvariants, quadraticMonteCarlo, sufficientSampleSize,
  type ProjectedSamples,
} from './stabilization.js';

export interface StabilizationResult {
  /** EMA-smoothed D_k over every k, at the stored k. */
  lossDiffSmooth: number[];
  /** Per threshold: smoothed D_k's sufficient sample size (null: not reached) and its power-law extrapolation. */
  sufficientD1: (number | null)[];
  sufficientD1Fit: (number | null)[];
  /** The probes, or null when the subspace is 0 or no Ritz vectors were found. */
  probes: Probes | null;
}

export interface Probes {
  /** D: the Ritz vectors spanning the subspace (fewer than asked when Lanczos found fewer). */
  subspace: number;
  /** Δ2 per σ at the stored k, σ-major; `isotropic` null unless asked. */
  isotropic: number[] | null;
  direct: number[];
  quadratic: number[];
  gaussianMoment: number[];
  /** σ-major per threshold: smoothed direct Δ2 against ε² (null: not reached) and its extrapolation. */
  sufficientD2: (number | null)[];
  sufficientD2Fit: (number | null)[];
}

export interface StabilizationInput {
  curvature: Curvature;
  /** The cell's permutations of the samples (the D_k curve's own). */
  orders: readonly Int32Array[];
  /** The stored k (1-based, increasing). */
  k: ArrayLike<number>;
  /** Top Ritz vectors of the full-sample Hessian, descending by value; at least `subspace` of them when the probes run. */
  ritzVectors: readonly Float64Array[];
  settings: Pick<MeasureSettings, 'stabilization' | 'thresholds'>;
  /** Random streams of the Monte-Carlo draws: z of the subspace probes, δ of the isotropic ones, z of the quadratic model. */
  draws: { subspace: Rng; isotropic: Rng; quadratic: Rng };
}

/**
 * Runs the stage: one forward pass per Monte-Carlo draw and O(permutations · n) to add it; O(permutations · n · D²)
 * for the quadratic model's prefix sums, its estimators at the stored k only.
 */
export function measureStabilization({ curvature, orders, k, ritzVectors, settings, draws: streams }: StabilizationInput): StabilizationResult {
  const n = curvature.samples;
  const at = (series: ArrayLike<number>) => Array.from(k, (kk) => series[kk - 1]);
  const sizes = (smoothed: Float64Array, thresholds: readonly number[]) => {
    const found = thresholds.map((threshold) => sufficientSampleSize(smoothed, threshold));
    return { reached: found.map((s) => (s.extrapolated ? null : s.k)), fit: found.map((s) => (s.extrapolated ? s.k : null)) };
  };

  const d1 = new IncrementMoments(n);
  d1.add(curvature.losses, orders);
  const smoothD1 = emaSmooth(d1.meanAbs());
  const d1Sizes = sizes(smoothD1, settings.thresholds);

  const { subspace, sigma, samples, isotropic } = settings.stabilization;
  const dims = Math.min(subspace, ritzVectors.length);
  let probes: Probes | null = null;
  if (dims > 0) {
    const basis = ritzVectors.slice(0, dims);
    const model = projectedSamples(curvature, basis);
    // One pass of prefix sums per order; the model's estimators only at the stored k (O(S·D²) each there).
    const gaussianMoment = sigma.map(() => new Float64Array(k.length));
    const quadratic = sigma.map(() => new Float64Array(k.length));
    for (const order of orders) {
      let stored = 0;
      forEachQuadraticModel(
        model,
        (_, q) => {
          const invariants = quadraticInvariants(q);
          sigma.forEach((s, i) => {
            gaussianMoment[i][stored] += gaussianMomentOf(invariants, s);
            quadratic[i][stored] += quadraticMonteCarlo(q, s, samples, streams.quadratic).mean;
          });
          stored++;
        },
        order,
        k,
      );
    }
    const direct = sigma.map((s) => directMonteCarlo(curvature, orders, samples, () => inSubspace(basis, s, streams.subspace)));
    const iso = isotropic ? sigma.map((s) => directMonteCarlo(curvature, orders, samples, () => isotropicDraw(curvature.dim, s, streams.isotropic))) : null;
    const d2Sizes = direct.map((series) => sizes(emaSmooth(series), settings.thresholds.map((e) => e * e)));
    probes = {
      subspace: dims,
      isotropic: iso ? iso.flatMap(at) : null,
      direct: direct.flatMap(at),
      quadratic: quadratic.flatMap((sums) => Array.from(sums, (v) => v / orders.length)),
      gaussianMoment: gaussianMoment.flatMap((sums) => Array.from(sums, (v) => v / orders.length)),
      sufficientD2: d2Sizes.flatMap((s) => s.reached),
      sufficientD2Fit: d2Sizes.flatMap((s) => s.fit),
    };
  }
  return { lossDiffSmooth: at(smoothD1), sufficientD1: d1Sizes.reached, sufficientD1Fit: d1Sizes.fit, probes };
}

/** Per-sample losses, gradients and Hessians at θ̂ in the span of `basis` (orthonormal): the quadratic model's input. */
export function projectedSamples(curvature: Curvature, basis: Float64Array[]): ProjectedSamples {
  const { gradients, hessians } = curvature.projected(basis);
  return { dim: basis.length, losses: curvature.losses, gradients, hessians };
}

/** E Δ_k(θ̂ + δ)² at every k over `samples` perturbations δ, each one forward pass, averaged over the orders. */
function directMonteCarlo(curvature: Curvature, orders: readonly Int32Array[], samples: number, draw: () => Float64Array): Float64Array {
  const moments = new IncrementMoments(curvature.samples);
  moments.add(Array.from({ length: samples }, () => curvature.lossesAt(draw())), orders);
  return moments.meanSquare();
}

/** δ = U_D z, z ~ N(0, σ² I_D). */
function inSubspace(basis: readonly Float64Array[], sigma: number, rng: Rng): Float64Array {
  const delta = new Float64Array(basis[0].length);
  for (const u of basis) {
    const z = sigma * rng.normal();
    for (let i = 0; i < delta.length; i++) delta[i] += z * u[i];
  }
  return delta;
}

/** δ ~ N(0, σ² I_N). */
function isotropicDraw(dim: number, sigma: number, rng: Rng): Float64Array {
  const delta = new Float64Array(dim);
  for (let i = 0; i < dim; i++) delta[i] = sigma * rng.normal();
  return delta;
}
