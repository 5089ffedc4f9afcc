/**
 * Stabilization criteria and sample-size determination (issue 11): pure float64 math, no tfjs, no I/O.
 * Conventions shared by every function here: samples are taken in an order π (`order[i]` is the index of the
 * (i + 1)-th sample; the file's own order when absent), and a series over k = 1..n − 1 is an array of length
 * n − 1 holding its value at k in index k − 1. Derivations: docs/stabilization.md.
 */
import { increments, logLogSlope } from './curve.js';
import type { Rng } from './random.js';

/**
 * Running sums of |Δ_k| and Δ_k² over every k (Δ_k from `increments`), so that a caller can add Monte-Carlo
 * draws × permutations a few at a time without keeping n × draws arrays. Memory O(n · draws added at once).
 */
export class IncrementMoments {
  /** Σ |Δ_k| over what was added, at index k − 1. */
  readonly sumAbs: Float64Array;
  /** Σ Δ_k² over what was added, at index k − 1. */
  readonly sumSquares: Float64Array;
  private added = 0;

  /** For n ≥ 2 per-sample values. */
  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 2) throw new Error(`IncrementMoments: need n ≥ 2 samples, got ${n}`);
    this.sumAbs = new Float64Array(n - 1);
    this.sumSquares = new Float64Array(n - 1);
  }

  /** How many series (draw × order pairs) were added. */
  get count(): number {
    return this.added;
  }

  /**
   * Adds the increments of each draw (per-sample values) in each of `orders`, or in the file's own order when
   * absent. Several draws at once share each order's pass over the samples.
   */
  add(draws: Float64Array | readonly Float64Array[], orders?: readonly Int32Array[]): void {
    const list = draws instanceof Float64Array ? [draws] : draws;
    const series = list.length;
    for (const values of list) if (values.length !== this.n) throw new Error(`IncrementMoments: ${values.length} values, expected ${this.n}`);
    const interleaved = series === 1 ? list[0] : new Float64Array(this.n * series);
    if (series > 1) list.forEach((values, j) => values.forEach((v, i) => (interleaved[i * series + j] = v)));
    const delta = new Float64Array((this.n - 1) * series);
    for (const order of orders ?? [null]) {
      increments(interleaved, order, delta, series);
      for (let i = 0; i < this.n - 1; i++) {
        let abs = 0;
        let square = 0;
        for (let j = 0; j < series; j++) {
          const d = delta[i * series + j];
          abs += Math.abs(d);
          square += d * d;
        }
        this.sumAbs[i] += abs;
        this.sumSquares[i] += square;
      }
      this.added += series;
    }
  }

  /** Mean of |Δ_k| over what was added, at every k. */
  meanAbs(): Float64Array {
    return this.mean(this.sumAbs);
  }

  /** Mean of Δ_k² over what was added, at every k. */
  meanSquare(): Float64Array {
    return this.mean(this.sumSquares);
  }

  private mean(sums: Float64Array): Float64Array {
    if (this.added === 0) throw new Error('IncrementMoments: nothing was added');
    return sums.map((s) => s / this.added);
  }
}

/** Smoothing factor of the seed paper's code (`calculate_ema`, smoothing_factor = 0.99). */
export const EMA_ALPHA = 0.99;

/**
 * The seed paper's exponential moving average over every k: e_0 = D_1, e_k = α e_{k−1} + (1 − α) D_k for
 * k = 1..n − 1 (so e_1 = D_1). Returns e_1..e_{n−1}, aligned with `series` (e_k at index k − 1).
 */
export function emaSmooth(series: ArrayLike<number>, alpha = EMA_ALPHA): Float64Array {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`emaSmooth: alpha must be in [0, 1], got ${alpha}`);
  const out = new Float64Array(series.length);
  let e = series.length > 0 ? series[0] : 0;
  for (let i = 0; i < series.length; i++) {
    e = alpha * e + (1 - alpha) * series[i];
    out[i] = e;
  }
  return out;
}

/** A sufficient sample size: reached within the series, or extrapolated from its tail, or neither (k null). */
export interface SampleSize {
  /** Integer k when reached; the real-valued power-law k* when extrapolated; null when neither. */
  k: number | null;
  extrapolated: boolean;
}

/**
 * The smallest k from which `series` (value at k in index k − 1, k = 1..K) stays strictly below `threshold`
 * for every later k up to K; a value that is not finite counts as not below. When the last value is not below,
 * the threshold is not reached within the series, and k* = (threshold / C)^(1/s) is extrapolated from the
 * power law series ≈ C k^s fitted by least squares on log-log over the last decade of k (K/10 ≤ k ≤ K, positive
 * finite values only; `logLogSlope`), marked `extrapolated`. k* may fall at or below K when the tail is noisy.
 * Null when s ≥ 0, k* is not finite (a flat tail), or fewer than two points are left to fit. For Δ2-type
 * criteria pass ε² as the threshold.
 */
export function sufficientSampleSize(series: ArrayLike<number>, threshold: number): SampleSize {
  if (!(threshold > 0 && Number.isFinite(threshold))) throw new Error(`sufficientSampleSize: threshold must be positive and finite, got ${threshold}`);
  const K = series.length;
  let last = K - 1;
  while (last >= 0 && series[last] < threshold) last--; // last index not below the threshold
  if (last < K - 1) return { k: last + 2, extrapolated: false };
  const k = Array.from({ length: K }, (_, i) => i + 1);
  const { slope, intercept } = logLogSlope(k, series, K / 10);
  const extrapolated = Math.exp((Math.log(threshold) - intercept) / slope);
  // A flat tail fits a slope of rounding size, whose crossing overflows: as good as never.
  if (!(slope < 0 && Number.isFinite(extrapolated))) return { k: null, extrapolated: false };
  return { k: extrapolated, extrapolated: true };
}

/** Per-sample values at w* in the D-dimensional probe subspace U_D, for n samples. */
export interface ProjectedSamples {
  /** D. */
  dim: number;
  /** ℓ_i(w*), length n. */
  losses: Float64Array;
  /** U_Dᵀ∇ℓ_i(w*), n × D row-major. */
  gradients: Float64Array;
  /** U_Dᵀ∇²ℓ_i(w*)U_D, n × D × D row-major, each symmetric (only the symmetric part enters any result). */
  hessians: Float64Array;
}

/** q(z) = a + cᵀz + ½ zᵀBz on R^D; B is D × D row-major. */
export interface Quadratic {
  a: number;
  c: Float64Array;
  B: Float64Array;
}

/**
 * Calls `visit(k, q)` for k = 1..n − 1 (or only the increasing k in `only`) with the local quadratic model of
 * Δ_k(w* + U_D z): a_k = Δ_k(w*), c_k = (g_{k+1} − mean_{i≤k} g_i)/(k + 1), B_k = (H_{k+1} − mean_{i≤k} H_i)/(k + 1),
 * in `order`. The sums over the first k samples are taken only at the visited k: each sample's gradient and
 * Hessian go, in the samples' own order (a stream through memory, not a gather in `order`), into the bucket of
 * the first visited k that includes it, and a visited k's sum is the sum of the buckets up to its own. O(n D²)
 * additions and O(visited · D²) for the models. `q.c` and `q.B` are reused between calls: copy to keep.
 */
export function forEachQuadraticModel(
  samples: ProjectedSamples,
  visit: (k: number, q: Quadratic) => void,
  order: Int32Array | null = null,
  only: ArrayLike<number> | null = null,
): void {
  const { dim, losses, gradients, hessians } = samples;
  const n = losses.length;
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`quadratic model: dim must be a positive integer, got ${dim}`);
  if (n < 2) throw new Error(`quadratic model: need at least 2 samples, got ${n}`);
  if (gradients.length !== n * dim) throw new Error(`quadratic model: ${gradients.length} gradient entries, expected n × D = ${n * dim}`);
  if (hessians.length !== n * dim * dim) throw new Error(`quadratic model: ${hessians.length} Hessian entries, expected n × D × D = ${n * dim * dim}`);
  const visited = only === null ? Int32Array.from({ length: n - 1 }, (_, i) => i + 1) : Int32Array.from(only);
  const a = increments(losses, order);
  const sampleAt = order ?? Int32Array.from({ length: n }, (_, i) => i);
  // bucketOf[position]: how many visited k do not yet include the sample at that position (k ≤ position).
  const bucketOf = new Int32Array(n);
  for (let position = 0, b = 0; position < n; position++) {
    while (b < visited.length && visited[b] <= position) b++;
    bucketOf[position] = b;
  }
  const width = dim + dim * dim;
  const buckets = new Float64Array(visited.length * width);
  const positionOf = new Int32Array(n);
  for (let position = 0; position < n; position++) positionOf[sampleAt[position]] = position;
  for (let sample = 0; sample < n; sample++) {
    const b = bucketOf[positionOf[sample]];
    if (b === visited.length) continue;
    addRow(gradients, sample, buckets, b * width, dim);
    addRow(hessians, sample, buckets, b * width + dim, dim * dim);
  }
  const gradientSum = new Float64Array(dim);
  const hessianSum = new Float64Array(dim * dim);
  const q: Quadratic = { a: 0, c: new Float64Array(dim), B: new Float64Array(dim * dim) };
  for (let b = 0; b < visited.length; b++) {
    const k = visited[b];
    for (let j = 0; j < dim; j++) gradientSum[j] += buckets[b * width + j];
    for (let j = 0; j < dim * dim; j++) hessianSum[j] += buckets[b * width + dim + j];
    const next = sampleAt[k];
    q.a = a[k - 1];
    incrementOfRow(gradients, next, k, gradientSum, q.c);
    incrementOfRow(hessians, next, k, hessianSum, q.B);
    visit(k, q);
  }
}

/** Adds row `index` of `rows` (rows of width `width`) to `sum` from `at` on. */
function addRow(rows: Float64Array, index: number, sum: Float64Array, at: number, width: number): void {
  const from = index * width;
  for (let j = 0; j < width; j++) sum[at + j] += rows[from + j];
}

/** (row `next` − sum / k)/(k + 1) into `out`: the increment of the running mean when the (k + 1)-th row joins. */
function incrementOfRow(rows: Float64Array, next: number, k: number, sum: Float64Array, out: Float64Array): void {
  const width = sum.length;
  for (let j = 0; j < width; j++) out[j] = (rows[next * width + j] - sum[j] / k) / (k + 1);
}

/** What the Gaussian moment of a quadratic depends on. */
export interface QuadraticInvariants {
  a: number;
  /** ‖c‖². */
  cNormSquared: number;
  /** tr B. */
  traceB: number;
  /** tr B_s² = Σ_ij B_ij (B_ij + B_ji)/2, with B_s = (B + Bᵀ)/2 (= tr B² for symmetric B). */
  traceBSquared: number;
}

/** ‖c‖², tr B and tr B_s² of q: O(D²). */
export function quadraticInvariants(q: Quadratic): QuadraticInvariants {
  const dim = q.c.length;
  if (q.B.length !== dim * dim) throw new Error(`quadratic: B has ${q.B.length} entries, expected D² = ${dim * dim}`);
  let cNormSquared = 0;
  let traceB = 0;
  let traceBSquared = 0;
  for (let i = 0; i < dim; i++) {
    cNormSquared += q.c[i] * q.c[i];
    traceB += q.B[i * dim + i];
    for (let j = 0; j < dim; j++) traceBSquared += (q.B[i * dim + j] * (q.B[i * dim + j] + q.B[j * dim + i])) / 2;
  }
  return { a: q.a, cNormSquared, traceB, traceBSquared };
}

/**
 * E_z q(z)² for z ~ N(0, σ² I_D), exactly: a² + a σ² tr B + σ² ‖c‖² + (σ⁴/4)(2 tr B² + (tr B)²)
 * (derivation: docs/stabilization.md, "Gaussian-moment closed form").
 */
export function gaussianMoment(q: QuadraticInvariants, sigma: number): number {
  requireSigma(sigma);
  const s2 = sigma * sigma;
  return q.a * q.a + q.a * s2 * q.traceB + s2 * q.cNormSquared + ((s2 * s2) / 4) * (2 * q.traceBSquared + q.traceB * q.traceB);
}

/** The invariants of the quadratic model at every k (index k − 1). */
export interface QuadraticModelSeries {
  a: Float64Array;
  cNormSquared: Float64Array;
  traceB: Float64Array;
  traceBSquared: Float64Array;
}

/** Invariants of the quadratic model of Δ_k for k = 1..n − 1, in `order`: O(n D²) time, O(n + D²) memory. */
export function quadraticModelSeries(samples: ProjectedSamples, order: Int32Array | null = null): QuadraticModelSeries {
  const m = samples.losses.length - 1;
  const series: QuadraticModelSeries = {
    a: new Float64Array(m),
    cNormSquared: new Float64Array(m),
    traceB: new Float64Array(m),
    traceBSquared: new Float64Array(m),
  };
  forEachQuadraticModel(
    samples,
    (k, q) => {
      const invariants = quadraticInvariants(q);
      series.a[k - 1] = invariants.a;
      series.cNormSquared[k - 1] = invariants.cNormSquared;
      series.traceB[k - 1] = invariants.traceB;
      series.traceBSquared[k - 1] = invariants.traceBSquared;
    },
    order,
  );
  return series;
}

/** The Gaussian-moment closed form at every k of `series`, for one σ. */
export function gaussianMomentSeries(series: QuadraticModelSeries, sigma: number): Float64Array {
  return series.a.map((a, i) =>
    gaussianMoment({ a, cNormSquared: series.cNormSquared[i], traceB: series.traceB[i], traceBSquared: series.traceBSquared[i] }, sigma),
  );
}

/** A Monte-Carlo mean with its standard error (sample standard deviation / √draws). */
export interface MonteCarloEstimate {
  mean: number;
  standardError: number;
}

/**
 * Monte Carlo of E_z q(z)², z ~ N(0, σ² I_D), over `draws` ≥ 2 draws z_s = σ x_s, each x_s D consecutive
 * `rng.normal()` values.
 */
export function quadraticMonteCarlo(q: Quadratic, sigma: number, draws: number, rng: Rng): MonteCarloEstimate {
  requireSigma(sigma);
  const dim = q.c.length;
  if (q.B.length !== dim * dim) throw new Error(`quadratic: B has ${q.B.length} entries, expected D² = ${dim * dim}`);
  const x = standardNormals(rng, draws, dim);
  const linear = new Float64Array(draws);
  const quadratic = new Float64Array(draws);
  projectDraws(q, x, linear, quadratic);
  return squaredMoment(q.a, linear, quadratic, sigma, new Float64Array(draws));
}

/** draws × dim standard normals, row-major: row s is x_s. */
function standardNormals(rng: Rng, draws: number, dim: number): Float64Array {
  if (!Number.isInteger(draws) || draws < 2) throw new Error(`Monte Carlo: need at least 2 draws, got ${draws}`);
  const x = new Float64Array(draws * dim);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return x;
}

/** For every draw x_s: linear[s] = cᵀx_s and quadratic[s] = x_sᵀ B x_s, so that q(σ x_s) = a + σ linear + ½σ² quadratic. */
function projectDraws(q: Quadratic, x: Float64Array, linear: Float64Array, quadratic: Float64Array): void {
  const dim = q.c.length;
  for (let s = 0; s < linear.length; s++) {
    const row = s * dim;
    let lin = 0;
    let quad = 0;
    for (let i = 0; i < dim; i++) {
      lin += q.c[i] * x[row + i];
      let bx = 0;
      for (let j = 0; j < dim; j++) bx += q.B[i * dim + j] * x[row + j];
      quad += x[row + i] * bx;
    }
    linear[s] = lin;
    quadratic[s] = quad;
  }
}

/** Mean and standard error over the draws of q(σ x_s)², using `values` as scratch. */
function squaredMoment(a: number, linear: Float64Array, quadratic: Float64Array, sigma: number, values: Float64Array): MonteCarloEstimate {
  for (let s = 0; s < values.length; s++) {
    const q = a + sigma * linear[s] + 0.5 * sigma * sigma * quadratic[s];
    values[s] = q * q;
  }
  const draws = values.length;
  let mean = 0;
  for (let s = 0; s < draws; s++) mean += values[s];
  mean /= draws;
  let variance = 0; // two passes: no cancellation between E[v²] and E[v]²
  for (let s = 0; s < draws; s++) variance += (values[s] - mean) ** 2;
  variance /= draws - 1;
  return { mean, standardError: Math.sqrt(variance / draws) };
}

function requireSigma(sigma: number): void {
  if (!(sigma >= 0 && Number.isFinite(sigma))) throw new Error(`σ must be non-negative and finite, got ${sigma}`);
}
