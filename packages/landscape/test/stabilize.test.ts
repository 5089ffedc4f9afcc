/**
 * The stabilization stage against brute force on small networks: increments recomputed from explicit prefix
 * means (O(n²)), the seed paper's EMA by a plain loop, the quadratic model's a_k, c_k, B_k by explicit means of
 * the per-sample projected derivatives and its closed form written out, the direct Monte Carlo replayed with
 * the same draws; and the direct Monte Carlo tending to the Gaussian-moment form as σ → 0.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/backend.js';
import { Curvature } from '../src/curvature.js';
import { Rng } from '../src/random.js';
import { lanczos } from '../src/spectral/index.js';
import { measureStabilization, type StabilizationInput } from '../src/stabilize.js';
import { randomNetwork } from './helpers.js';

before(async () => {
  await useBackend('wasm');
});

const D = 2;

interface Setup {
  curvature: Curvature;
  orders: Int32Array[];
  k: Int32Array;
  ritz: Float64Array[];
}

function setup(seed: number, m = 16): Setup {
  const { arch, params, x, y } = randomNetwork(seed, 1, true, m, 4);
  const curvature = new Curvature(arch, params, { x, y, n: m });
  const rng = new Rng(seed + 100);
  const orders = Array.from({ length: 3 }, () => rng.permutation(m));
  const k = Int32Array.from([1, 2, 5, 9, m - 1]);
  const run = lanczos(curvature.operator('hessian'), { k: D, maxIters: curvature.dim, tol: 1e-10, rng, vectors: D });
  return { curvature, orders, k, ritz: run.vectors! };
}

const streams = (seed: number) => ({ subspace: new Rng(seed), isotropic: new Rng(seed + 1), quadratic: new Rng(seed + 2) });

function input(s: Setup, sigma: number[], isotropic: boolean, samples = 4, seed = 7): StabilizationInput {
  return {
    curvature: s.curvature, orders: s.orders, k: s.k, ritzVectors: s.ritz,
    settings: { stabilization: { subspace: D, sigma, samples, isotropic }, thresholds: [0.31, 1e-9] },
    draws: streams(seed),
  };
}

/** Δ_k = L_{k+1} − L_k in `order`, k = 1..n−1 (index k − 1), from explicit means. */
function bruteIncrements(values: Float64Array, order: Int32Array): number[] {
  const mean = (count: number) => {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += values[order[i]];
    return sum / count;
  };
  return Array.from({ length: values.length - 1 }, (_, i) => mean(i + 2) - mean(i + 1));
}

function close(actual: number, expected: number, rel: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= rel * Math.max(Math.abs(expected), 1e-300), `${what}: ${actual} vs ${expected}`);
}

test('smoothed D_k and its sufficient sample size: explicit prefix means, a plain EMA loop, a plain search', () => {
  const s = setup(1);
  const n = s.curvature.samples;
  const result = measureStabilization(input(s, [1e-2], false));
  const meanAbs = Array.from({ length: n - 1 }, (_, i) => s.orders.reduce((sum, o) => sum + Math.abs(bruteIncrements(s.curvature.losses, o)[i]), 0) / s.orders.length);
  const smooth: number[] = [];
  let e = meanAbs[0];
  for (const d of meanAbs) smooth.push((e = 0.99 * e + 0.01 * d));
  assert.equal(result.lossDiffSmooth.length, s.k.length);
  s.k.forEach((k, i) => close(result.lossDiffSmooth[i], smooth[k - 1], 1e-12, `smoothed D_${k}`));
  // ε = 0.31 (a 16-sample curve smoothed with α 0.99 barely falls): the first k from which every later value is below.
  const below = (eps: number) => {
    if (!(smooth[n - 2] < eps)) return null;
    let first = n - 1;
    while (first > 1 && smooth[first - 2] < eps) first--;
    return first;
  };
  assert.notEqual(below(0.31), null);
  assert.equal(result.sufficientD1[0], below(0.31));
  // ε = 1e-9 is far below anything a 16-sample curve reaches: not reached, extrapolated (or null) instead.
  assert.equal(result.sufficientD1[1], null);
  assert.equal(below(1e-9), null);
});

test('subspace probes: the quadratic model and its closed form from explicit means; the direct Monte Carlo replayed draw by draw', () => {
  const s = setup(2);
  const n = s.curvature.samples;
  const sigmas = [1e-3, 3e-2];
  const draws = 3;
  const result = measureStabilization(input(s, sigmas, true, draws, 11));
  const probes = result.probes!;
  assert.equal(probes.subspace, D);
  for (const list of [probes.direct, probes.quadratic, probes.gaussianMoment, probes.isotropic!]) assert.equal(list.length, sigmas.length * s.k.length);
  assert.equal(probes.sufficientD2.length, sigmas.length * 2);

  // Closed form: a_k, c_k, B_k by explicit means of the per-sample derivatives (Curvature.projected, tested on its own).
  const { gradients: g, hessians: h } = s.curvature.projected(s.ritz);
  const losses = s.curvature.losses;
  const gm = sigmas.map(() => new Float64Array(s.k.length));
  for (const order of s.orders) {
    s.k.forEach((k, ki) => {
      const meanOf = (row: (i: number) => number) => {
        let sum = 0;
        for (let i = 0; i < k; i++) sum += row(order[i]);
        return sum / k;
      };
      const next = order[k];
      const a = (losses[next] - meanOf((i) => losses[i])) / (k + 1);
      const c = Array.from({ length: D }, (_, j) => (g[next * D + j] - meanOf((i) => g[i * D + j])) / (k + 1));
      const B = Array.from({ length: D * D }, (_, jl) => (h[next * D * D + jl] - meanOf((i) => h[i * D * D + jl])) / (k + 1));
      const trB = B[0] + B[3];
      const trB2 = B[0] * B[0] + B[1] * B[2] + B[2] * B[1] + B[3] * B[3];
      const c2 = c[0] * c[0] + c[1] * c[1];
      sigmas.forEach((sg, si) => {
        gm[si][ki] += a * a + a * sg * sg * trB + sg * sg * c2 + (sg ** 4 / 4) * (2 * trB2 + trB * trB);
      });
    });
  }
  sigmas.forEach((_, si) => s.k.forEach((k, ki) => close(probes.gaussianMoment[si * s.k.length + ki], gm[si][ki] / s.orders.length, 1e-9, `GM σ${si} k ${k}`)));

  // Direct Monte Carlo: the same z draws (the subspace stream, D normals per draw, σ by σ), squared increments from explicit means.
  const z = new Rng(11);
  sigmas.forEach((sg, si) => {
    const sums = new Float64Array(n - 1);
    for (let d = 0; d < draws; d++) {
      const delta = new Float64Array(s.curvature.dim);
      for (const u of s.ritz) {
        const coefficient = sg * z.normal();
        for (let i = 0; i < delta.length; i++) delta[i] += coefficient * u[i];
      }
      const perturbed = s.curvature.lossesAt(delta);
      for (const order of s.orders) bruteIncrements(perturbed, order).forEach((x, i) => (sums[i] += x * x));
    }
    s.k.forEach((k, ki) => close(probes.direct[si * s.k.length + ki], sums[k - 1] / (draws * s.orders.length), 1e-9, `direct σ${si} k ${k}`));
  });
});

test('direct Monte Carlo tends to the Gaussian-moment form as σ → 0', () => {
  const s = setup(3);
  const gaps = [1e-1, 1e-2, 1e-3].map((sigma) => {
    const { probes } = measureStabilization(input(s, [sigma], false, 64, 5));
    // At the largest stored k, where Δ2 is smallest and the model's terms matter most.
    const last = s.k.length - 1;
    return Math.abs(probes!.direct[last] - probes!.gaussianMoment[last]) / probes!.gaussianMoment[last];
  });
  assert.ok(gaps[2] < gaps[0], `relative gaps ${gaps}`);
  assert.ok(gaps[2] < 0.05, `relative gap at σ = 1e-3: ${gaps[2]}`);
});

test('no Ritz vectors or a subspace of 0: no probes, the D_k columns still', () => {
  const s = setup(4);
  assert.equal(measureStabilization({ ...input(s, [1e-2], true), ritzVectors: [] }).probes, null);
  const off = measureStabilization({ ...input(s, [1e-2], true), settings: { stabilization: { subspace: 0, sigma: [1e-2], samples: 2, isotropic: true }, thresholds: [1e-3] } });
  assert.equal(off.probes, null);
  assert.equal(off.lossDiffSmooth.length, s.k.length);
});
