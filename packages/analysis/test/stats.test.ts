import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CurveAccumulator, stat, t975, tCdf, tQuantile, Welford, Z_975 } from '../src/stats.js';

/** A seeded generator (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const close = (actual: number, expected: number, rel: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);

test('t quantiles match the tables (3 decimals) and the normal limit', () => {
  const table: [number, number][] = [[1, 12.706], [2, 4.303], [3, 3.182], [4, 2.776], [5, 2.571], [10, 2.228], [20, 2.086], [30, 2.042], [60, 2.0], [120, 1.98]];
  for (const [df, q] of table) assert.equal(Number(t975(df).toFixed(3)), q, `t(0.975, ${df}) = ${t975(df)}`);
  // More digits (R's qt): qt(0.975, 10) = 2.228138851986274, qt(0.975, 3) = 3.182446305284263, qt(0.995, 7) = 3.499483297350595.
  close(t975(10), 2.228138851986274, 1e-11, 't(0.975, 10)');
  close(t975(3), 3.182446305284263, 1e-11, 't(0.975, 3)');
  close(tQuantile(0.995, 7), 3.499483297350595, 1e-11, 't(0.995, 7)');
  close(t975(1e6), Z_975, 1e-5, 't(0.975, 1e6)');
  assert.equal(t975(1e9), Z_975);
  assert.equal(tQuantile(0.5, 5), 0);
  close(tQuantile(0.025, 10), -2.228138851986274, 1e-11, 't(0.025, 10)');
  for (const df of [1, 2, 3, 7.5, 29, 1000]) close(tCdf(t975(df), df), 0.975, 1e-12, `cdf(q(0.975, ${df}))`);
  assert.ok(Number.isNaN(tQuantile(0.975, 0)));
  assert.ok(Number.isNaN(tQuantile(1, 3)));
});

test('stat matches the direct formulas on random data', () => {
  const next = rng(42);
  for (const n of [2, 3, 5, 17, 100, 1000]) {
    const values = Array.from({ length: n }, () => 1e3 + (next() - 0.5) * 10);
    const mean = values.reduce((s, v) => s + v, 0) / n;
    const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
    const s = stat(values);
    assert.equal(s.n, n);
    close(s.mean, mean, 1e-13, `mean n=${n}`);
    close(s.std, Math.sqrt(variance), 1e-10, `std n=${n}`);
    close(s.ci95, (t975(n - 1) * Math.sqrt(variance)) / Math.sqrt(n), 1e-10, `ci95 n=${n}`);
  }
});

test('stat of one value has std 0 and no interval; of none, nothing', () => {
  assert.deepEqual({ ...stat([3.5]), ci95: 'NaN' }, { n: 1, mean: 3.5, std: 0, ci95: 'NaN' });
  assert.ok(Number.isNaN(stat([3.5]).ci95));
  const empty = stat([]);
  assert.equal(empty.n, 0);
  assert.ok(Number.isNaN(empty.mean) && Number.isNaN(empty.std) && Number.isNaN(empty.ci95));
  assert.deepEqual(stat([2, 2, 2]), { n: 3, mean: 2, std: 0, ci95: 0 });
});

test('Welford equals the two-pass computation, also when merged and on badly scaled data', () => {
  const next = rng(7);
  for (const offset of [0, 1e8]) {
    const values = Array.from({ length: 5000 }, () => offset + next() * 3);
    const w = new Welford();
    for (const v of values) w.push(v);
    const two = stat(values);
    const one = w.stat();
    close(one.mean, two.mean, 1e-14, `mean offset ${offset}`);
    close(one.std, two.std, 1e-8, `std offset ${offset}`);
    close(one.ci95, two.ci95, 1e-8, `ci95 offset ${offset}`);
    const [a, b] = [new Welford(), new Welford()];
    values.forEach((v, i) => (i < 1234 ? a : b).push(v));
    a.merge(b);
    close(a.stat().std, two.std, 1e-8, `merged std offset ${offset}`);
  }
  const skip = new Welford();
  assert.equal(skip.pushFinite(Number.NaN), false);
  assert.equal(skip.pushFinite(null), false);
  assert.equal(skip.pushFinite(Infinity), false);
  assert.equal(skip.pushFinite(1), true);
  assert.equal(skip.stat().n, 1);
});

test('the curve accumulator averages per k, ignores k off its grid, bands by each k\'s own n, and keeps min and max', () => {
  const acc = new CurveAccumulator([1, 2, 4]);
  acc.push([1, 2, 4], 0, [1, 0.5, 0.25], 0, 3);
  acc.push(Int32Array.from([9, 1, 2, 4]), 1, Float64Array.from([0, 3, 1.5, 0.75]), 1, 3);
  acc.push([1, 3, 4], 0, [2, 99, Number.NaN], 0, 3); // k=3 is off the grid; NaN is skipped
  const r = acc.result();
  assert.deepEqual(r.k, [1, 2, 4]);
  const s1 = stat([1, 3, 2]);
  close(r.mean[0]!, s1.mean, 1e-15, 'mean k=1');
  close(r.lo[0]!, s1.mean - s1.ci95, 1e-12, 'lo k=1');
  close(r.hi[0]!, s1.mean + s1.ci95, 1e-12, 'hi k=1');
  close(r.mean[1]!, 1, 1e-15, 'mean k=2');
  close(r.mean[2]!, 0.5, 1e-15, 'mean k=4');
  const s4 = stat([0.25, 0.75]);
  close(r.hi[2]! - r.lo[2]!, 2 * s4.ci95, 1e-12, 'band k=4 (n=2)');
  // Min and max of the values pushed at each k: k=1 got 1, 3, 2; k=2 got 0.5, 1.5; k=4 got 0.25, 0.75 (NaN skipped).
  assert.deepEqual(r.min, [1, 0.5, 0.25]);
  assert.deepEqual(r.max, [3, 1.5, 0.75]);
  const unseen = new CurveAccumulator([1, 2]);
  unseen.push([1], 0, [4], 0, 1);
  assert.deepEqual([unseen.result().min[0], unseen.result().max[0]], [4, 4]);
  assert.ok(Number.isNaN(unseen.result().min[1]!) && Number.isNaN(unseen.result().max[1]!), 'no value at k=2: NaN');
  const single = new CurveAccumulator([1]);
  single.push([1], 0, [5], 0, 1);
  assert.equal(single.result().mean[0], 5);
  assert.ok(Number.isNaN(single.result().lo[0]!));
});
