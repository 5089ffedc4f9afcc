import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/random.js';
import { logLogSlope, lossDifferenceCurve } from '../src/curve.js';

test('constant losses give D = 0 everywhere and no slope', () => {
  const curve = lossDifferenceCurve(new Float64Array(1000).fill(0.25), { permutations: 5, rng: new Rng(1) });
  assert.ok(curve.d.every((x) => x === 0));
  assert.ok(Number.isNaN(curve.slope) && Number.isNaN(curve.intercept));
  const rounding = lossDifferenceCurve(new Float64Array(1000).fill(0.1), { permutations: 5, rng: new Rng(1) });
  assert.ok(rounding.d.every((x) => x < 1e-15));
});

test('log-log slope of exact power laws', () => {
  const k = Array.from({ length: 60 }, (_, i) => Math.round(1.2 ** i));
  const one = logLogSlope(k, k.map((x) => 1 / x));
  assert.ok(Math.abs(one.slope + 1) < 1e-12 && Math.abs(one.intercept) < 1e-10);
  const two = logLogSlope(k, k.map((x) => 3.5 * x ** -2));
  assert.ok(Math.abs(two.slope + 2) < 1e-12 && Math.abs(two.intercept - Math.log(3.5)) < 1e-10);
});

test('log-log slope skips k < kMin and non-positive D, and needs two points', () => {
  const fit = logLogSlope([1, 2, 10, 20, 40, 80], [100, -1, 0.1, 0, 0.025, 0.0125], 5);
  assert.ok(Math.abs(fit.slope + 1) < 1e-12); // only (10, 0.1), (40, 0.025), (80, 0.0125) remain
  assert.ok(Number.isNaN(logLogSlope([5, 50], [1, 0.1], 10).slope));
  assert.ok(Number.isNaN(logLogSlope([20, 20], [1, 0.1], 10).slope));
});

test('averaged D_k matches the definition with explicit means, on the same permutations', () => {
  const m = 50;
  const P = 7;
  const rng = new Rng(2);
  const losses = Float64Array.from({ length: m }, () => rng.uniform() * 3);
  const perms = Array.from({ length: P }, () => rng.permutation(m));
  let served = 0;
  const curve = lossDifferenceCurve(losses, { permutations: P, points: 20, permutation: () => perms[served++] });
  assert.equal(served, P);

  const mean = (pi: Int32Array, k: number) => {
    let s = 0;
    for (let i = 0; i < k; i++) s += losses[pi[i]];
    return s / k;
  };
  curve.k.forEach((k, i) => {
    const reference = perms.reduce((s, pi) => s + Math.abs(mean(pi, k + 1) - mean(pi, k)), 0) / P;
    assert.ok(Math.abs(curve.d[i] - reference) < 1e-12 * reference, `k = ${k}`);
  });
});

test('k values are distinct, increasing, within [1, m − 1], log-spaced and at most `points`', () => {
  for (const [m, points] of [[2, 64], [10, 64], [1000, 64], [60000, 64], [60000, 5]]) {
    const losses = new Float64Array(m).map((_, i) => i % 7);
    const { k, d } = lossDifferenceCurve(losses, { permutations: 2, points, rng: new Rng(3) });
    assert.equal(k.length, d.length);
    assert.ok(k.length <= points && k.length >= Math.min(points, m - 1) / 2, `m=${m}: ${k.length} values`);
    assert.equal(k[0], 1);
    assert.equal(k[k.length - 1], m - 1);
    for (let i = 1; i < k.length; i++) assert.ok(k[i] > k[i - 1]);
    if (m === 60000) {
      // Above the integer-rounding zone, consecutive ratios are all close to (m − 1)^(1/(points − 1)).
      const ratio = (m - 1) ** (1 / (points - 1));
      for (let i = 1; i < k.length; i++) if (k[i - 1] >= 50) assert.ok(Math.abs(k[i] / k[i - 1] / ratio - 1) < 0.05);
    }
  }
});

test('i.i.d. losses give a slope near −1', () => {
  const rng = new Rng(4);
  const losses = Float64Array.from({ length: 20000 }, () => Math.exp(rng.normal()));
  const { slope } = lossDifferenceCurve(losses, { permutations: 100, rng });
  assert.ok(Math.abs(slope + 1) < 0.05, `slope ${slope}`);
});

test('the curve needs an rng or a permutation source, and two losses', () => {
  assert.throws(() => lossDifferenceCurve(new Float64Array(10)), /rng/);
  assert.throws(() => lossDifferenceCurve(new Float64Array(1), { rng: new Rng(0) }), /2 losses/);
});
