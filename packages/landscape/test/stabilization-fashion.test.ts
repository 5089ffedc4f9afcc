/**
 * The stabilization criteria on a real cell: the reference cell (FashionMNIST, 10,000 samples, width 16, depth 5,
 * default measure) from the Debian package's files. Theory (docs/stabilization.md): Δ2 falls as k⁻², so the
 * tail of Δ2 in the Hessian's top-5 subspace fits a log-log slope of −2.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, type ResultRow } from '@hessweep/grid';
import { useBackend } from '../src/backend.js';
import { runCell } from '../src/cell.js';

let row: ResultRow;

before(async () => {
  await useBackend('wasm');
  row = await runCell(
    { dataset: 'fashion_mnist', width: 16, depth: 5, seed: 0, sample_size: 10_000, train: DEFAULT_TRAIN, measure: DEFAULT_MEASURE, data: {} },
    { context: { sweep: 't', worker: 'w', attempt: 1, backend: 'wasm' } },
  );
});

/** Least-squares slope of ln y on ln x over the points with x ≥ from. */
function tailSlope(x: ArrayLike<number>, y: ArrayLike<number>, from: number): number {
  const points = Array.from(x, (xi, i) => [Math.log(xi), Math.log(y[i])]).filter(([lx, ly], i) => x[i] >= from && Number.isFinite(ly) && Number.isFinite(lx));
  const mx = points.reduce((s, [lx]) => s + lx, 0) / points.length;
  const my = points.reduce((s, [, ly]) => s + ly, 0) / points.length;
  const sxy = points.reduce((s, [lx, ly]) => s + (lx - mx) * (ly - my), 0);
  const sxx = points.reduce((s, [lx]) => s + (lx - mx) ** 2, 0);
  return sxy / sxx;
}

test('on the reference FashionMNIST cell the tail of Δ2 in the top-5 Hessian subspace falls as k^−2 (slope −2 ± 0.15)', () => {
  const k = row.loss_diff_k!;
  const sigmas = row.stab_sigma!;
  assert.equal(row.stab_subspace, 5);
  assert.deepEqual(sigmas, DEFAULT_MEASURE.stabilization.sigma);
  for (const [name, series] of [['direct', row.delta2_sub], ['Gaussian moment', row.delta2_sub_gm], ['isotropic', row.delta2_iso]] as const) {
    assert.equal(series!.length, sigmas.length * k.length, name);
    sigmas.forEach((sigma, s) => {
      const slope = tailSlope(k, series!.slice(s * k.length, (s + 1) * k.length), 100);
      assert.ok(Math.abs(slope + 2) <= 0.15, `${name} Δ2 at σ ${sigma}: tail slope ${slope}`);
    });
  }
});

test('on the reference cell the quadratic model holds at the smaller σ: closed form and direct Monte Carlo within 10 % past k = 100', () => {
  const k = row.loss_diff_k!;
  k.forEach((kk, i) => {
    if (kk < 100) return;
    const [direct, closed] = [row.delta2_sub![i], row.delta2_sub_gm![i]];
    assert.ok(Math.abs(direct - closed) <= 0.1 * closed, `k ${kk}: direct ${direct}, closed form ${closed}`);
  });
});

test('on the reference cell the sufficient sample sizes have one entry per threshold (and per σ for Δ2), reached ones within the sample', () => {
  const thresholds = row.stab_thresholds!;
  assert.deepEqual(thresholds, DEFAULT_MEASURE.thresholds);
  assert.equal(row.n_suff_d1!.length, thresholds.length);
  assert.equal(row.n_suff_d2!.length, thresholds.length * row.stab_sigma!.length);
  for (const list of [row.n_suff_d1!, row.n_suff_d2!]) for (const n of list) assert.ok(n === null || (Number.isInteger(n) && n >= 1 && n < 10_000), `${n}`);
  // A reached threshold has no extrapolation.
  row.n_suff_d1!.forEach((n, i) => n !== null && assert.equal(row.n_suff_d1_fit![i], null));
  row.n_suff_d2!.forEach((n, i) => n !== null && assert.equal(row.n_suff_d2_fit![i], null));
  // The smoothed D_k is below the first threshold from its sufficient sample size on (checked at the stored k).
  const first = row.n_suff_d1![0];
  if (first !== null) row.loss_diff_k!.forEach((kk, i) => kk >= first && assert.ok(row.loss_diff_smooth![i] < thresholds[0], `k ${kk}`));
});
