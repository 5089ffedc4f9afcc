/**
 * The loss-difference curve of the paper: for a random order π of the m per-sample losses, L_k is the mean of the
 * first k and D_k = |L_{k+1} − L_k| = |ℓ_{π(k+1)} − L_k| / (k + 1). D_k is averaged over permutations, kept at
 * log-spaced k, and fitted as log D_k = intercept + slope · log k (natural logs; theory: slope ≈ −1). Float64.
 */
import type { Rng } from './random.js';

export interface LossDifferenceCurve {
  /** Distinct, increasing k in [1, m − 1], roughly log-spaced. */
  k: Int32Array;
  /** Mean of D_k over the permutations, at each k. */
  d: Float64Array;
  slope: number;
  intercept: number;
}

export interface CurveOptions {
  /** Permutations averaged (paper: 100). */
  permutations?: number;
  /** Log-spaced k requested; rounding to integers can leave fewer. */
  points?: number;
  /** Smallest k in the fit: the first few D_k are dominated by single samples. */
  kMin?: number;
  rng?: Rng;
  /** Source of permutations of 0..m−1; default `rng.permutation`. */
  permutation?: (m: number) => Int32Array;
}

/** D_k averaged over permutations of `losses` (m ≥ 2), in O(permutations · m) time. */
export function lossDifferenceCurve(
  losses: Float64Array,
  { permutations = 100, points = 64, kMin = 10, rng, permutation }: CurveOptions = {},
): LossDifferenceCurve {
  const m = losses.length;
  if (m < 2) throw new Error(`lossDifferenceCurve: need at least 2 losses, got ${m}`);
  if (!(points >= 1) || !(permutations >= 1)) throw new Error('lossDifferenceCurve: points and permutations must be ≥ 1');
  const permute = permutation ?? rng?.permutation.bind(rng);
  if (permute === undefined) throw new Error('lossDifferenceCurve: give an rng or a permutation source');
  const k = logSpacedIntegers(m - 1, points);
  const d = new Float64Array(k.length);
  const delta = new Float64Array(m - 1);
  for (let p = 0; p < permutations; p++) {
    const pi = permute(m);
    if (pi.length !== m) throw new Error(`lossDifferenceCurve: permutation of length ${pi.length}, expected ${m}`);
    increments(losses, pi, delta);
    for (let i = 0; i < k.length; i++) d[i] += Math.abs(delta[k[i] - 1]);
  }
  for (let i = 0; i < d.length; i++) d[i] /= permutations;
  return { k, d, ...logLogSlope(k, d, kMin) };
}

/**
 * Least-squares fit log d = intercept + slope · log k over the pairs with k ≥ kMin and d > 0 (natural logs);
 * NaN for both when fewer than two distinct k remain.
 */
export function logLogSlope(
  k: ArrayLike<number>,
  d: ArrayLike<number>,
  kMin = 10,
): { slope: number; intercept: number } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < k.length; i++) {
    if (k[i] >= kMin && d[i] > 0 && Number.isFinite(d[i])) {
      xs.push(Math.log(k[i]));
      ys.push(Math.log(d[i]));
    }
  }
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  if (n < 2 || !(sxx > 0)) return { slope: NaN, intercept: NaN };
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/**
 * Δ_k = L_{k+1} − L_k = (ℓ_{k+1} − L_k)/(k + 1) for k = 1..n − 1 (signed; D_k = |Δ_k|), where ℓ_i is
 * `values[order[i − 1]]` (`values[i − 1]` without an order) and L_k the mean of the first k: one pass of prefix
 * sums, O(n). Written into `out` (length n − 1, Δ_k at index k − 1), which is returned.
 *
 * With `series` > 1, `values` holds that many series interleaved (sample i of series j at i·series + j) and
 * `out` their increments the same way, (n − 1)·series long: one gather of a sample serves every series.
 */
export function increments(
  values: Float64Array,
  order: Int32Array | null = null,
  output?: Float64Array,
  series = 1,
): Float64Array {
  const n = values.length / series;
  if (!Number.isInteger(n)) throw new Error(`increments: ${values.length} values are not ${series} whole series`);
  const out = output ?? new Float64Array(Math.max(0, n - 1) * series);
  if (order !== null && order.length !== n) throw new Error(`increments: order of length ${order.length}, expected ${n}`);
  if (out.length !== (n - 1) * series) throw new Error(`increments: output of length ${out.length}, expected ${(n - 1) * series}`);
  if (series > 1) {
    const sums = new Float64Array(series);
    const at = order ?? Int32Array.from({ length: n }, (_, i) => i);
    let next = at[0] * series;
    for (let k = 1; k < n; k++) {
      const added = next;
      next = at[k] * series;
      const to = (k - 1) * series;
      for (let j = 0; j < series; j++) {
        const sum = sums[j] + values[added + j];
        sums[j] = sum;
        out[to + j] = (values[next + j] - sum / k) / (k + 1);
      }
    }
    return out;
  }
  // Two loops rather than one through an accessor: this runs once per Monte-Carlo draw and permutation.
  let sum = 0;
  if (order === null) {
    for (let k = 1; k < n; k++) {
      sum += values[k - 1]; // sum of the first k values
      out[k - 1] = (values[k] - sum / k) / (k + 1);
    }
  } else {
    for (let k = 1; k < n; k++) {
      sum += values[order[k - 1]];
      out[k - 1] = (values[order[k]] - sum / k) / (k + 1);
    }
  }
  return out;
}

/** Up to `points` distinct integers round(exp(t)), t uniform on [0, log max], increasing: the k a curve keeps. */
function logSpacedIntegers(max: number, points: number): Int32Array {
  const out: number[] = [];
  const top = Math.log(max);
  for (let i = 0; i < points; i++) {
    const v = Math.round(Math.exp(points === 1 ? top : (top * i) / (points - 1)));
    if (out.length === 0 || v > out[out.length - 1]) out.push(v);
  }
  return Int32Array.from(out);
}
