import type { GeoStat, Stat } from './types.js';

/**
 * Summary statistics over seeds: mean, sample standard deviation (n − 1) and the half-width of a 95%
 * confidence interval for the mean, t(0.975, n − 1) · std / √n.
 *
 * Conventions (kept in memory as NaN; the file writers turn NaN into null):
 * - n = 0: mean, std and ci95 are NaN.
 * - n = 1: std is 0 and ci95 is NaN (one value says nothing about the spread).
 */

/** The 97.5% quantile of the standard normal distribution (the t quantile as df → ∞). */
export const Z_975 = 1.959963984540054;

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-15 over the range used here). */
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the regularised incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Regularised incomplete beta function I_x(a, b), 0 ≤ x ≤ 1. */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(x, a, b)) / a : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

const quantileCache = new Map<string, number>();

/**
 * The p-quantile of Student's t with `df` degrees of freedom (df > 0, 0.5 ≤ p < 1 is the useful range but
 * any 0 < p < 1 works). Closed forms for df = 1 and 2; otherwise the CDF above (incomplete beta, accurate
 * to ~1e-14) is inverted by bisection to an absolute precision of 1e-12 in t. df above 1e7 returns the
 * normal quantile for p = 0.975 (the difference is below 1e-7). Results are memoised.
 */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) return Number.NaN;
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  if (df === 1) return Math.tan(Math.PI * (p - 0.5));
  if (df === 2) return (2 * p - 1) / Math.sqrt(2 * p * (1 - p));
  if (df > 1e7 && p === 0.975) return Z_975;
  const key = `${p}:${df}`;
  const cached = quantileCache.get(key);
  if (cached !== undefined) return cached;
  // Bracket: the t quantile is at least the normal one; grow the upper end until the CDF passes p.
  let lo = 0;
  let hi = 2;
  while (tCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1e-12 * Math.max(1, hi)) {
    const mid = 0.5 * (lo + hi);
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  const q = 0.5 * (lo + hi);
  if (quantileCache.size < 100_000) quantileCache.set(key, q);
  return q;
}

/** t(0.975, df): the multiplier of std/√n for a two-sided 95% interval. */
export const t975 = (df: number): number => tQuantile(0.975, df);

/** The 95% CI half-width of a mean of n values with sample standard deviation `std`; NaN for n < 2. */
export function ci95(n: number, std: number): number {
  return n < 2 ? Number.NaN : (t975(n - 1) * std) / Math.sqrt(n);
}

/** Stat of `values` by two passes (mean, then squared deviations): the reference the streaming form must match. */
export function stat(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) return { n: 0, mean: Number.NaN, std: Number.NaN, ci95: Number.NaN };
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (n === 1) return { n, mean, std: 0, ci95: Number.NaN };
  let ss = 0;
  let comp = 0;
  for (const v of values) {
    const d = v - mean;
    ss += d * d;
    comp += d;
  }
  // Corrected two-pass (Chan, Golub & LeVeque): removes the rounding left in the mean.
  const variance = (ss - (comp * comp) / n) / (n - 1);
  const std = Math.sqrt(Math.max(0, variance));
  return { n, mean, std, ci95: ci95(n, std) };
}

/** Welford's streaming mean and variance: constant memory, numerically stable, one value at a time. */
export class Welford {
  n = 0;
  mean = 0;
  /** Sum of squared deviations from the running mean. */
  m2 = 0;

  push(x: number): void {
    this.n++;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }

  /** Pushes `x` only when it is a finite number; returns whether it did. */
  pushFinite(x: number | null | undefined): boolean {
    if (typeof x !== 'number' || !Number.isFinite(x)) return false;
    this.push(x);
    return true;
  }

  /** Combines another accumulator into this one (Chan et al.'s parallel formula). */
  merge(other: Welford): void {
    if (other.n === 0) return;
    if (this.n === 0) {
      this.n = other.n;
      this.mean = other.mean;
      this.m2 = other.m2;
      return;
    }
    const n = this.n + other.n;
    const d = other.mean - this.mean;
    this.mean += (d * other.n) / n;
    this.m2 += other.m2 + (d * d * this.n * other.n) / n;
    this.n = n;
  }

  stat(): Stat {
    return welfordStat(this.n, this.mean, this.m2);
  }
}

/**
 * Welford update of the state (n, mean, M2) at acc[at], acc[at + 1], acc[at + 2] (many Stats in one typed array);
 * NaN (null comes in as NaN) and ±∞ are left out.
 */
export function welfordAdd(acc: Float64Array, at: number, x: number): void {
  if (x - x !== 0) return;
  const n = acc[at]! + 1;
  const d = x - acc[at + 1]!;
  const mean = acc[at + 1]! + d / n;
  acc[at] = n;
  acc[at + 1] = mean;
  acc[at + 2]! += d * (x - mean);
}

/** The Stat of Welford state (n, mean, M2), shared with the per-k curve accumulators. */
export function welfordStat(n: number, mean: number, m2: number): Stat {
  if (n === 0) return { n: 0, mean: Number.NaN, std: Number.NaN, ci95: Number.NaN };
  if (n === 1) return { n, mean, std: 0, ci95: Number.NaN };
  const std = Math.sqrt(Math.max(0, m2 / (n - 1)));
  return { n, mean, std, ci95: ci95(n, std) };
}

/**
 * Accumulators for a whole curve at once, on a fixed k grid: per k, the count and the sums of (x − c) and
 * (x − c)², shifted by c = the first value seen at that k (the "shifted data" variance algorithm: as stable
 * as Welford when c is a typical value, and only adds and a multiply per point, no division), and the min and
 * max. Typed arrays, 6 numbers per k whatever the number of cells.
 */
export class CurveAccumulator {
  /** Per grid point i, adjacent for locality: [6i] count, [6i+1] shift c, [6i+2] Σ(x − c), [6i+3] Σ(x − c)², [6i+4] min, [6i+5] max. */
  readonly acc: Float64Array;
  private readonly grid: Int32Array | Float64Array;
  private readonly index: Map<number, number>;

  constructor(readonly k: readonly number[]) {
    this.acc = new Float64Array(6 * k.length);
    this.grid = k.every((v) => v === (v | 0)) ? Int32Array.from(k) : Float64Array.from(k);
    this.index = new Map(k.map((v, i) => [v, i]));
  }

  /**
   * Adds one curve: the point j < len has k = ks[kStart + j] and D = values[vStart + j] (offsets, so the
   * typed arrays of an Arrow list column are used in place). Points whose k is not on this accumulator's
   * grid, and non-finite values, are ignored.
   */
  push(ks: ArrayLike<number>, kStart: number, values: ArrayLike<number>, vStart: number, len: number): void {
    const { grid, acc } = this;
    let same = len === grid.length;
    for (let j = 0; same && j < len; j++) same = ks[kStart + j] === grid[j];
    for (let j = 0; j < len; j++) {
      const x = values[vStart + j]!;
      if (x - x !== 0) continue; // NaN or ±Infinity
      const i = same ? j : this.index.get(ks[kStart + j]!);
      if (i === undefined) continue;
      const b = 6 * i;
      if (acc[b] === 0) {
        acc[b + 1] = x;
        acc[b + 4] = x;
        acc[b + 5] = x;
      } else if (x < acc[b + 4]!) {
        acc[b + 4] = x;
      } else if (x > acc[b + 5]!) {
        acc[b + 5] = x;
      }
      const d = x - acc[b + 1]!;
      acc[b]!++;
      acc[b + 2]! += d;
      acc[b + 3]! += d * d;
    }
  }

  /** The Stat at grid point i. */
  statAt(i: number): Stat {
    const b = 6 * i;
    const n = this.acc[b]!;
    if (n === 0) return welfordStat(0, 0, 0);
    const s1 = this.acc[b + 2]!;
    return welfordStat(n, this.acc[b + 1]! + s1 / n, this.acc[b + 3]! - (s1 * s1) / n);
  }

  /** Per-k mean, the band mean ± ci95 (NaN where fewer than two cells gave a value), and the min and max. */
  result(): { k: number[]; mean: number[]; lo: number[]; hi: number[]; min: number[]; max: number[] } {
    const out = { k: Array.from(this.k), mean: [] as number[], lo: [] as number[], hi: [] as number[], min: [] as number[], max: [] as number[] };
    for (let i = 0; i < this.k.length; i++) {
      const s = this.statAt(i);
      const seen = this.acc[6 * i]! > 0;
      out.mean.push(s.mean);
      out.lo.push(s.mean - s.ci95);
      out.hi.push(s.mean + s.ci95);
      out.min.push(seen ? this.acc[6 * i + 4]! : Number.NaN);
      out.max.push(seen ? this.acc[6 * i + 5]! : Number.NaN);
    }
    return out;
  }
}

/** The GeoStat of a Stat of ln x: exp(mean), exp(mean ∓ ci95). */
export function geometric(log: Stat): GeoStat {
  return { n: log.n, gmean: Math.exp(log.mean), lo: Math.exp(log.mean - log.ci95), hi: Math.exp(log.mean + log.ci95) };
}
