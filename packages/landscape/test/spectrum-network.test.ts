/**
 * The spectral tools on real curvature operators: dense Hessians and GGNs of small random networks, assembled
 * column by column from exact products, against Lanczos, lockstep Lanczos, Hutchinson, the exact trace and SLQ.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/backend.js';
import { Curvature, type ProductKind } from '../src/curvature.js';
import type { Architecture } from '../src/model.js';
import { randomNetwork } from './helpers.js';
import { Rng } from '../src/random.js';
import {
  hutchinson,
  lanczos,
  lanczosLockstep,
  slqDensity,
  slqNodes,
  smoothedDensity,
  symmetricEigenvalues,
} from '../src/spectral/index.js';

before(async () => {
  await useBackend('wasm');
});

interface Net {
  name: string;
  arch: Architecture;
  curvature: Curvature;
  n: number;
}

function randomNet(seed: number, depth: number, bias: boolean, m = 24): Net {
  const { arch, params, x, y } = randomNetwork(seed, depth, bias, m);
  const curvature = new Curvature(arch, params, { x, y, n: m });
  return { name: `sizes [${arch.sizes.join(',')}], bias=${bias}, seed ${seed}`, arch, curvature, n: curvature.dim };
}

/** Row-major dense matrix whose column j is A·e_j. */
function denseMatrix(c: Curvature, kind: ProductKind): Float64Array {
  const n = c.dim;
  const columns = Array.from({ length: n }, (_, j) => {
    const e = new Float64Array(n);
    e[j] = 1;
    return e;
  });
  const cols = c.products(columns, columns.map(() => kind));
  const a = new Float64Array(n * n);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) a[i * n + j] = cols[j][i];
  return a;
}

function symmetrised(a: Float64Array, n: number): Float64Array {
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
  return s;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function asymmetry(a: Float64Array, n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) m = Math.max(m, Math.abs(a[i * n + j] - a[j * n + i]));
  return m;
}

function denseTrace(a: Float64Array, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i];
  return t;
}

/** x ↦ A·x with the dense matrix, float64. */
function matVec(a: Float64Array, n: number, x: Float64Array): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += a[i * n + j] * x[j];
    out[i] = s;
  }
  return out;
}

function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

function normal(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal());
}

function trapezoid(x: Float64Array, y: Float64Array, f: (x: number) => number = () => 1): number {
  let s = 0;
  for (let i = 1; i < x.length; i++) s += 0.5 * (x[i] - x[i - 1]) * (f(x[i]) * y[i] + f(x[i - 1]) * y[i - 1]);
  return s;
}

const CASES: [seed: number, depth: number, bias: boolean][] = [
  [41, 1, false], // sizes [6, 5, 5, 3]
  [42, 1, true],
  [43, 2, false], // sizes [6, 5, 5, 5, 3]
  [44, 2, true],
];

for (const [seed, depth, bias] of CASES) {
  test(`dense H and G from product columns: symmetric, Lanczos top-5 = dense eigenvalues, G PSD (depth ${depth}, bias=${bias})`, () => {
    const net = randomNet(seed, depth, bias);
    const { curvature: c, n } = net;
    try {
      for (const kind of ['hessian', 'ggn'] as const) {
        const a = denseMatrix(c, kind);
        const scale = maxAbs(a);
        assert.ok(scale > 0, `${kind}: zero matrix for ${net.name}`);
        const asym = asymmetry(a, n);
        assert.ok(asym <= 1e-5 * scale, `${kind}: max |A − Aᵀ| = ${asym} > 1e-5 · ${scale} (${net.name})`);

        const eig = symmetricEigenvalues(symmetrised(a, n), n); // ascending
        const top = Array.from(eig.slice(n - 5)).reverse();
        const lambdaMax = Math.max(Math.abs(eig[0]), Math.abs(eig[n - 1]));
        const result = lanczos(c.operator(kind), { k: 5, tol: 1e-8, maxIters: n, rng: new Rng(seed + 1000) });
        assert.equal(result.values.length, 5);
        assert.ok(result.iterations <= n);
        for (let i = 0; i < 5; i++) {
          const err = Math.abs(result.values[i] - top[i]);
          assert.ok(
            err <= 1e-4 * lambdaMax,
            `${kind} λ_${i + 1}: Lanczos ${result.values[i]} vs dense ${top[i]} (|err| ${err}, λmax ${lambdaMax}, ${net.name})`,
          );
        }

        if (kind === 'ggn') {
          assert.ok(eig[0] >= -1e-5 * eig[n - 1], `GGN not PSD: λmin ${eig[0]}, λmax ${eig[n - 1]} (${net.name})`);
                  } else {
          // The scaled-up weights make the Hessian indefinite, so the H/G comparison is not vacuous.
          assert.ok(eig[0] < -1e-3 * eig[n - 1], `Hessian expected indefinite: λmin ${eig[0]} (${net.name})`);
        }
      }
    } finally {
      c.dispose();
    }
  });
}

test('lanczosLockstep over H and G in one batched apply equals separate Lanczos runs', () => {
  for (const [seed, depth, bias] of [CASES[1], CASES[2]]) {
    const { curvature: c, n, name } = randomNet(seed, depth, bias);
    try {
      const rng = new Rng(seed + 7);
      const starts = [normal(rng, n), normal(rng, n)];
      const kinds: ProductKind[] = ['hessian', 'ggn'];
      const batches: number[][] = [];
      const settings = { k: 5, maxIters: 40, tol: 1e-6 };
      const together = lanczosLockstep(
        (vectors, processes) => {
          batches.push(processes.slice());
          return c.products(vectors, processes.map((p) => kinds[p]));
        },
        [n, n],
        { ...settings, starts },
      );
      const separate = kinds.map((kind, i) => lanczos(c.operator(kind), { ...settings, start: starts[i] }));
      // Both processes really shared passes: the first round carries one vector of each.
      assert.deepEqual(batches[0], [0, 1]);
      assert.equal(batches.length, Math.max(together[0].iterations, together[1].iterations));
      for (let p = 0; p < 2; p++) {
        const scale = Math.abs(separate[p].values[0]);
        assert.equal(together[p].values.length, separate[p].values.length);
        assert.ok(Math.abs(together[p].iterations - separate[p].iterations) <= 1, `${kinds[p]} iterations ${together[p].iterations} vs ${separate[p].iterations}`);
        for (let i = 0; i < separate[p].values.length; i++) {
          assert.ok(
            Math.abs(together[p].values[i] - separate[p].values[i]) <= 1e-6 * scale,
            `${kinds[p]} λ_${i + 1}: lockstep ${together[p].values[i]} vs separate ${separate[p].values[i]} (${name})`,
          );
        }
        // The first Lanczos coefficient is q₀ᵀAq₀ for the shared start: same in both.
        assert.ok(Math.abs(together[p].alpha[0] - separate[p].alpha[0]) <= 1e-6 * scale);
      }
      // H and G differ for these nets, so the two processes were not served the same operator.
      assert.ok(Math.abs(together[0].values[0] - together[1].values[0]) > 1e-3 * Math.abs(together[1].values[0]));
    } finally {
      c.dispose();
    }
  }
});

for (const [seed, depth, bias] of [CASES[0], CASES[3]]) {
  test(`Hutchinson and exactTrace agree with the dense trace (depth ${depth}, bias=${bias})`, () => {
    const { curvature: c, n, name } = randomNet(seed, depth, bias);
    try {
      const h = denseMatrix(c, 'hessian');
      const g = denseMatrix(c, 'ggn');
      const trH = denseTrace(h, n);
      const trG = denseTrace(g, n);
      const scale = Math.max(Math.abs(trH), maxAbs(h));
      // ReLU networks: diag H = diag G, so the traces agree.
      assert.ok(Math.abs(trH - trG) <= 1e-5 * scale, `tr H ${trH} vs tr G ${trG}`);
      const exact = c.exactTrace();
      assert.ok(Math.abs(exact - trH) <= 1e-4 * Math.abs(trH), `exactTrace ${exact} vs dense ${trH} (${name})`);

      const est = hutchinson(c.operator('hessian'), { probes: 400, batch: 50, rng: new Rng(seed + 99) });
      assert.equal(est.probes, 400);
      assert.ok(est.standardError > 0 && Number.isFinite(est.standardError));
      assert.ok(
        Math.abs(est.estimate - trH) <= 3 * est.standardError,
        `Hutchinson ${est.estimate} ± ${est.standardError} vs dense trace ${trH} (${name})`,
      );
      // The Rademacher variance is 2·Σ_{i≠j} H_ij²; its standard error over 400 probes, from the dense matrix.
      let off = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) off += h[i * n + j] ** 2;
      const seTheory = Math.sqrt((2 * off) / 400);
      assert.ok(est.standardError > 0.7 * seTheory && est.standardError < 1.3 * seTheory, `SE ${est.standardError} vs theory ${seTheory}`);
    } finally {
      c.dispose();
    }
  });
}

test('SLQ on the Hessian: quadrature moments match the dense matrix, density integrates to 1, mean ≈ tr/dim', () => {
  const { curvature: c, n, name } = randomNet(45, 1, true);
  try {
    const h = symmetrised(denseMatrix(c, 'hessian'), n);
    const tr = denseTrace(h, n);
    const eig = symmetricEigenvalues(h, n);
    const lambdaMax = Math.max(Math.abs(eig[0]), Math.abs(eig[n - 1]));

    // One run from a known start: Gauss quadrature is exact for polynomials of degree < 2·steps, so
    // Σ τ θ = q̂ᵀHq̂ and Σ τ θ² = ‖Hq̂‖² for the normalised start q̂.
    const rng = new Rng(5);
    const start = normal(rng, n);
    const qn = Math.sqrt(dot(start, start));
    const q = start.map((v) => v / qn);
    const run = lanczos(c.operator('hessian'), { start, tol: 0, maxIters: n });
    const quad = slqNodes(run.alpha, run.beta);
    const hq = matVec(h, n, q);
    const tauSum = quad.weights.reduce((s, w) => s + w, 0);
    const m1 = quad.weights.reduce((s, w, j) => s + w * quad.nodes[j], 0);
    const m2 = quad.weights.reduce((s, w, j) => s + w * quad.nodes[j] ** 2, 0);
    assert.ok(Math.abs(tauSum - 1) < 1e-10, `Σ τ = ${tauSum}`);
    assert.ok(Math.abs(m1 - dot(q, hq)) <= 1e-5 * lambdaMax, `Σ τθ = ${m1} vs q̂ᵀHq̂ = ${dot(q, hq)}`);
    assert.ok(Math.abs(m2 - dot(hq, hq)) <= 1e-5 * lambdaMax ** 2, `Σ τθ² = ${m2} vs ‖Hq̂‖² = ${dot(hq, hq)}`);
    // All Ritz values lie inside the spectrum.
    for (const t of quad.nodes) assert.ok(t >= eig[0] - 1e-5 * lambdaMax && t <= eig[n - 1] + 1e-5 * lambdaMax);

    const one = smoothedDensity([quad]);
    assert.ok(Math.abs(trapezoid(one.x, one.y) - 1) < 1e-9);

    // Many runs: mean of Σ τ θ over the runs is an unbiased estimate of tr(H)/dim.
    const runs = 48;
    const slq = slqDensity(c.operator('hessian'), { runs, steps: n, rng: new Rng(6) });
    assert.equal(slq.quadrature.length, runs);
    assert.ok(Math.abs(trapezoid(slq.x, slq.y) - 1) < 1e-9, `density integral ${trapezoid(slq.x, slq.y)}`);
    for (const y of slq.y) assert.ok(y >= 0 && Number.isFinite(y));
    const means = slq.quadrature.map(({ nodes, weights }) => weights.reduce((s, w, j) => s + w * nodes[j], 0));
    const mean = means.reduce((s, v) => s + v, 0) / runs;
    const sd = Math.sqrt(means.reduce((s, v) => s + (v - mean) ** 2, 0) / (runs - 1));
    const se = sd / Math.sqrt(runs);
    assert.ok(Math.abs(mean - tr / n) <= 4 * se, `SLQ mean ${mean} ± ${se} vs tr/dim ${tr / n} (${name})`);
    // The smoothed density's own first moment equals the quadrature mean (a symmetric kernel moves no mass).
    const densityMean = trapezoid(slq.x, slq.y, (x) => x);
    assert.ok(Math.abs(densityMean - mean) <= 1e-4 * lambdaMax, `∫x ρ = ${densityMean} vs quadrature mean ${mean}`);
  } finally {
    c.dispose();
  }
});
