// Expected statistics computed here, not by stats.ts: plain sums, two-pass deviations, published t quantiles.
import assert from 'node:assert/strict';

export const close = (actual: number, expected: number, what: string, rel = 1e-12) =>
  assert.ok((Number.isNaN(actual) && Number.isNaN(expected)) || Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);

/** Published two-sided 95% Student t quantiles t(0.975, df) for df = 1..10, rounded to three decimals. */
export const T975_PUBLISHED = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

/**
 * The expected summary of `values`, written out here rather than taken from stats.ts: the mean by a plain sum,
 * the sample standard deviation by a second pass over squared deviations (n − 1), and the 95% CI half-width
 * t·std/√n with t from the published table. `ciSlack` is what the table's rounding (±0.0005 in t) allows.
 */
export function referenceStat(values: readonly number[]): { n: number; mean: number; std: number; ci95: number; ciSlack: number } {
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const std = n === 1 ? 0 : Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  if (n < 2) return { n, mean, std, ci95: Number.NaN, ciSlack: 0 };
  const t = T975_PUBLISHED[n - 2];
  assert.ok(t !== undefined, `no published t quantile for df = ${n - 1}`);
  return { n, mean, std, ci95: (t * std) / Math.sqrt(n), ciSlack: (0.0005 * std) / Math.sqrt(n) };
}

/** A CI bound (or half-width) within the table's rounding of the expected one; NaN only where NaN is expected. */
export function closeCi(actual: number, expected: number, slack: number, what: string): void {
  if (Number.isNaN(expected)) return assert.ok(Number.isNaN(actual), `${what}: ${actual}, expected NaN`);
  assert.ok(Math.abs(actual - expected) <= slack + 1e-12 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected} ± ${slack}`);
}


/**
 * Checks a geometric mean over seeds and its 95% interval against `values`: gmean = exp of the plain mean of
 * ln x, and [lo, hi] = exp(mean ∓ t·s/√n) of ln x (referenceStat), the bounds compared as logarithms.
 */
export function closeGeo(actual: { n: number; gmean: number; lo: number; hi: number }, values: readonly number[], what: string): void {
  const s = referenceStat(values.map(Math.log));
  assert.equal(actual.n, s.n, `${what}: n`);
  close(Math.log(actual.gmean), s.mean, `${what}: ln gmean`);
  closeCi(Math.log(actual.lo), s.mean - s.ci95, s.ciSlack, `${what}: ln lo`);
  closeCi(Math.log(actual.hi), s.mean + s.ci95, s.ciSlack, `${what}: ln hi`);
}
