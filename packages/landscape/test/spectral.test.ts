import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/random.js';
import { randomOrthogonal } from './helpers.js';
import {
  denseOperator,
  hutchinson,
  lanczos,
  lanczosLockstep,
  slqDensity,
  slqNodes,
  slqQuadrature,
  smoothedDensity,
  symmetricEigenvalues,
  tridiagonalEigen,
  type LinearOperator,
} from '../src/spectral/index.js';

// ---- independent helpers -------------------------------------------------------------------------------------

/** Row-major Σ_i λ_i q_i q_iᵀ. */
function withSpectrum(lambda: ArrayLike<number>, rng: Rng): Float64Array {
  return planted(lambda, rng).a;
}

/** Row-major a = Σ_i λ_i q_i q_iᵀ and its eigenvectors q_i, the rows of a random orthogonal matrix. */
function planted(lambda: ArrayLike<number>, rng: Rng): { a: Float64Array; q: Float64Array[] } {
  const n = lambda.length;
  const q = randomOrthogonal(n, rng);
  const a = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    const qr = q[r];
    const l = lambda[r];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] += l * qr[i] * qr[j];
  }
  // Exact symmetry, so that reading one triangle loses nothing.
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[j * n + i] = a[i * n + j];
  return { a, q };
}

function diagonalOperator(diag: Float64Array): LinearOperator {
  return { dim: diag.length, applyMany: (vs) => vs.map((v) => v.map((x, i) => x * diag[i])) };
}

function dense(alpha: Float64Array, beta: Float64Array): Float64Array {
  const n = alpha.length;
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) t[i * n + i] = alpha[i];
  for (let i = 0; i + 1 < n; i++) t[i * n + i + 1] = t[(i + 1) * n + i] = beta[i];
  return t;
}

/** Number of eigenvalues of the tridiagonal (alpha, beta) below x, by Sylvester's inertia of T − xI = LDLᵀ. */
function sturmCount(alpha: Float64Array, beta: Float64Array, x: number): number {
  let count = 0;
  let q = 1;
  for (let i = 0; i < alpha.length; i++) {
    q = alpha[i] - x - (i > 0 ? (beta[i - 1] * beta[i - 1]) / q : 0);
    if (q === 0) q = 1e-300;
    if (q < 0) count++;
  }
  return count;
}

function maxRelativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
  return err / scale;
}

const ascending = (x: number[]) => Float64Array.from(x).sort();

/** ∫ f ρ over the grid intervals inside [from, to]. */
function trapezoid(x: Float64Array, y: Float64Array, from = -Infinity, to = Infinity, f: (x: number) => number = () => 1): number {
  let s = 0;
  for (let i = 0; i + 1 < x.length; i++) {
    if (x[i] >= from && x[i + 1] <= to) s += 0.5 * (x[i + 1] - x[i]) * (f(x[i]) * y[i] + f(x[i + 1]) * y[i + 1]);
  }
  return s;
}

// ---- dense eigenvalues ---------------------------------------------------------------------------------------

test('dense eigenvalues recover a planted spectrum', () => {
  const rng = new Rng(1);
  for (const n of [1, 2, 3, 10, 60, 150]) {
    const lambda = Array.from({ length: n }, () => 10 * rng.normal());
    const got = symmetricEigenvalues(withSpectrum(lambda, rng), n);
    assert.ok(maxRelativeError(got, ascending(lambda)) < 1e-10, `n = ${n}`);
  }
});

test('dense eigenvalues with repeated, clustered and zero eigenvalues', () => {
  const rng = new Rng(2);
  const lambda = [...new Array(20).fill(3), ...new Array(15).fill(0), ...Array.from({ length: 15 }, (_, i) => -1 + 1e-9 * i)];
  assert.ok(maxRelativeError(symmetricEigenvalues(withSpectrum(lambda, rng), 50), ascending(lambda)) < 1e-10);
  assert.deepEqual([...symmetricEigenvalues(new Float64Array(16), 4)], [0, 0, 0, 0]);
  assert.deepEqual(symmetricEigenvalues(new Float64Array(0), 0).length, 0);
});

test('dense eigenvalues read only the lower triangle and leave the input alone', () => {
  const rng = new Rng(3);
  const lambda = Array.from({ length: 30 }, () => rng.normal());
  const a = withSpectrum(lambda, rng);
  for (let i = 0; i < 30; i++) for (let j = i + 1; j < 30; j++) a[i * 30 + j] = 1e6; // garbage above the diagonal
  const copy = Float64Array.from(a);
  assert.ok(maxRelativeError(symmetricEigenvalues(a, 30), ascending(lambda)) < 1e-10);
  assert.deepEqual(a, copy);
});

// ---- tridiagonal eigen-decomposition -------------------------------------------------------------------------

test('tridiagonal eigenvalues agree with dense eigenvalues and with Sturm counts', () => {
  const rng = new Rng(4);
  for (const n of [1, 2, 5, 40, 120]) {
    const alpha = Float64Array.from({ length: n }, () => rng.normal());
    const beta = Float64Array.from({ length: n - 1 }, () => rng.normal());
    const { values, firstComponents, lastComponents } = tridiagonalEigen(alpha, beta);
    assert.ok(maxRelativeError(values, symmetricEigenvalues(dense(alpha, beta), n)) < 1e-12, `n = ${n}`);
    for (let j = 0; j < n; j++) {
      // Random tridiagonals have well-separated eigenvalues; each sits in its own bracket.
      assert.equal(sturmCount(alpha, beta, values[j] - 1e-9), j);
      assert.equal(sturmCount(alpha, beta, values[j] + 1e-9), j + 1);
    }
    const sum = (c: Float64Array) => c.reduce((s, x) => s + x * x, 0);
    assert.ok(Math.abs(sum(firstComponents) - 1) < 1e-12);
    assert.ok(Math.abs(sum(lastComponents) - 1) < 1e-12);
  }
});

test('tridiagonal eigenvectors of the 1-D Laplacian match the closed form', () => {
  // tridiag(−1, 2, −1): λ_j = 2 − 2cos(jπ/(n+1)), v_j(i) = √(2/(n+1)) sin(ijπ/(n+1)), i, j = 1..n.
  const n = 64;
  const { values, firstComponents, lastComponents } = tridiagonalEigen(
    new Float64Array(n).fill(2),
    new Float64Array(n - 1).fill(-1),
  );
  for (let j = 1; j <= n; j++) {
    const t = (j * Math.PI) / (n + 1);
    assert.ok(Math.abs(values[j - 1] - (2 - 2 * Math.cos(t))) < 1e-13);
    const first = Math.sqrt(2 / (n + 1)) * Math.sin(t);
    const last = Math.sqrt(2 / (n + 1)) * Math.sin(n * t);
    assert.ok(Math.abs(firstComponents[j - 1] ** 2 - first ** 2) < 1e-13);
    assert.ok(Math.abs(lastComponents[j - 1] ** 2 - last ** 2) < 1e-13);
  }
});

test('tridiagonal eigenvectors, when asked for, are orthonormal eigenvectors carrying the reported components', () => {
  const rng = new Rng(5);
  const n = 30;
  const alpha = Float64Array.from({ length: n }, () => rng.normal());
  const beta = Float64Array.from({ length: n - 1 }, () => rng.normal());
  const { values, firstComponents, lastComponents, vectors } = tridiagonalEigen(alpha, beta, { vectors: true });
  assert.ok(vectors);
  const t = dense(alpha, beta);
  for (let j = 0; j < n; j++) {
    const v = vectors.subarray(j * n, j * n + n);
    for (let i = 0; i < n; i++) {
      let tv = 0;
      for (let c = 0; c < n; c++) tv += t[i * n + c] * v[c];
      assert.ok(Math.abs(tv - values[j] * v[i]) < 1e-12);
    }
    for (let l = 0; l <= j; l++) {
      let ip = 0;
      for (let i = 0; i < n; i++) ip += v[i] * vectors[l * n + i];
      assert.ok(Math.abs(ip - (l === j ? 1 : 0)) < 1e-12);
    }
    assert.ok(Math.abs(v[0] - firstComponents[j]) < 1e-12 && Math.abs(v[n - 1] - lastComponents[j]) < 1e-12);
  }
});

// ---- Lanczos -------------------------------------------------------------------------------------------------

test('Lanczos finds planted top eigenvalues of a diagonal operator and stops early', () => {
  const rng = new Rng(6);
  const diag = Float64Array.from({ length: 2000 }, () => rng.uniform());
  const top = [10, 9, 8, 7, 6];
  top.forEach((v, i) => (diag[100 * i + 7] = v));
  const res = lanczos(diagonalOperator(diag), { k: 5, maxIters: 200, tol: 1e-10, rng });
  assert.ok(maxRelativeError(res.values, top) < 1e-8, `${res.values}`);
  assert.ok(res.converged);
  assert.ok(res.iterations < 200, `took ${res.iterations} steps`);
  assert.equal(res.alpha.length, res.iterations);
  assert.equal(res.beta.length, res.iterations - 1);
  for (const r of res.residuals) assert.ok(r <= 1e-10 * 10);
});

test('Lanczos on Q diag Qᵀ: top-5 to 1e-8, and each residual bounds the distance to the spectrum', () => {
  const rng = new Rng(7);
  const n = 200;
  const lambda = Array.from({ length: n }, () => rng.normal());
  [20, 15, 12, 10, 8].forEach((v, i) => (lambda[i] = v));
  const op = denseOperator(withSpectrum(lambda, rng), n);
  const res = lanczos(op, { k: 5, maxIters: 150, tol: 1e-8, rng });
  assert.ok(maxRelativeError(res.values, [20, 15, 12, 10, 8]) < 1e-8);
  assert.ok(res.converged && res.iterations < 150);
  // Loose tolerance: a Ritz value is within its residual of some eigenvalue (symmetric Bauer–Fike).
  const loose = lanczos(op, { k: 5, maxIters: 150, tol: 1e-2, rng: new Rng(8) });
  assert.ok(loose.iterations < res.iterations);
  loose.values.forEach((theta, i) => {
    const dist = Math.min(...lambda.map((l) => Math.abs(l - theta)));
    assert.ok(dist <= loose.residuals[i] * (1 + 1e-6) + 1e-12, `θ=${theta} dist=${dist} r=${loose.residuals[i]}`);
    assert.ok(loose.residuals[i] <= 1e-2 * 20 * 1.01);
  });
});

test('Lanczos stops at dim when dim < maxIters and is then exact', () => {
  const rng = new Rng(9);
  const lambda = Array.from({ length: 30 }, (_, i) => i * 0.5 - 3);
  const res = lanczos(denseOperator(withSpectrum(lambda, rng), 30), { k: 30, maxIters: 100, tol: 0, rng });
  assert.equal(res.iterations, 30);
  assert.ok(maxRelativeError(res.values, [...lambda].reverse()) < 1e-10);
});

test('Lanczos stops on an invariant subspace', () => {
  // Three distinct eigenvalues: the Krylov space has dimension 3 whatever the start.
  const diag = Float64Array.from({ length: 60 }, (_, i) => [1, 2, 5][i % 3]);
  const res = lanczos(diagonalOperator(diag), { k: 5, maxIters: 50, tol: 1e-12, rng: new Rng(10) });
  assert.equal(res.iterations, 3);
  assert.ok(res.converged);
  assert.ok(maxRelativeError(res.values, [5, 2, 1]) < 1e-12);
});

test('Lanczos honours a given start vector and rejects a zero one', () => {
  const diag = Float64Array.from({ length: 10 }, (_, i) => i);
  const e3 = new Float64Array(10);
  e3[3] = 2;
  const res = lanczos(diagonalOperator(diag), { start: e3 });
  assert.deepEqual(res.values, [3]);
  assert.equal(res.iterations, 1);
  assert.throws(() => lanczos(diagonalOperator(diag), { start: new Float64Array(10) }), /non-zero/);
  assert.throws(() => lanczos(diagonalOperator(diag)), /rng/);
});

test('lockstep Lanczos over two operators equals two separate runs, one product call per round', () => {
  const rng = new Rng(11);
  const n = 80;
  const ops = [
    denseOperator(withSpectrum(Array.from({ length: n }, () => rng.normal()), rng), n),
    denseOperator(withSpectrum(Array.from({ length: n }, () => 3 * rng.uniform()), rng), n),
  ];
  const starts = ops.map(() => Float64Array.from({ length: n }, () => rng.normal()));
  const opts = { k: 3, maxIters: 60, tol: 1e-6 };
  const separate = ops.map((op, i) => lanczos(op, { ...opts, start: starts[i] }));
  const batches: number[][] = [];
  const together = lanczosLockstep(
    (vs, processes) => {
      batches.push(processes);
      return vs.map((v, i) => ops[processes[i]].applyMany([v])[0]);
    },
    [n, n],
    { ...opts, starts },
  );
  assert.deepEqual(together, separate);
  assert.equal(batches.length, Math.max(...separate.map((r) => r.iterations)));
  const both = Math.min(...separate.map((r) => r.iterations));
  batches.forEach((b, round) => assert.deepEqual(b, round < both ? [0, 1] : [separate[0].iterations > both ? 0 : 1]));
});

// ---- Hutchinson ----------------------------------------------------------------------------------------------

test('Hutchinson: within 3 SE of the trace, SE by the direct formula, batched products', () => {
  const n = 100;
  const lambda = Array.from({ length: n }, (_, i) => Math.sin(i) * 4 + 1);
  const a = withSpectrum(lambda, new Rng(12));
  const exact = lambda.reduce((s, x) => s + x, 0);
  const base = denseOperator(a, n);
  const sizes: number[] = [];
  const op: LinearOperator = { dim: n, applyMany: (vs) => (sizes.push(vs.length), base.applyMany(vs)) };
  const res = hutchinson(op, { probes: 200, batch: 16, rng: new Rng(13) });
  assert.equal(res.probes, 200);
  assert.deepEqual(sizes, [...new Array(12).fill(16), 8]);
  assert.ok(Math.abs(res.estimate - exact) <= 3 * res.standardError, `${res.estimate} vs ${exact} ± ${res.standardError}`);

  // Same probes, drawn as documented (probe by probe, entry by entry), through the plain matrix.
  const rng = new Rng(13);
  const samples = Array.from({ length: 200 }, () => {
    const v = Array.from({ length: n }, () => rng.rademacher());
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s += v[i] * a[i * n + j] * v[j];
    return s;
  });
  const mean = samples.reduce((s, x) => s + x, 0) / 200;
  const variance = samples.reduce((s, x) => s + (x - mean) ** 2, 0) / 199;
  assert.ok(Math.abs(res.estimate - mean) < 1e-9);
  assert.ok(Math.abs(res.standardError - Math.sqrt(variance / 200)) < 1e-9 * res.standardError);
});

test('Hutchinson is exact with zero spread on a diagonal matrix', () => {
  const diag = Float64Array.from({ length: 50 }, (_, i) => i - 10);
  const res = hutchinson(diagonalOperator(diag), { probes: 7, batch: 3, rng: new Rng(14) });
  assert.equal(res.estimate, diag.reduce((s, x) => s + x, 0));
  assert.equal(res.standardError, 0);
});

// ---- SLQ -----------------------------------------------------------------------------------------------------

test('SLQ weights are a probability vector and the nodes of a full run are the spectrum', () => {
  const rng = new Rng(15);
  const lambda = Array.from({ length: 25 }, () => rng.normal());
  const op = denseOperator(withSpectrum(lambda, rng), 25);
  const run = lanczos(op, { maxIters: 25, tol: 0, rng });
  const { nodes, weights } = slqNodes(run.alpha, run.beta);
  assert.ok(maxRelativeError(nodes, ascending(lambda)) < 1e-10);
  assert.ok(Math.abs(weights.reduce((s, w) => s + w, 0) - 1) < 1e-12);
  assert.ok(weights.every((w) => w >= 0));
});

test("a longer run's first s steps are the s-step SLQ run from the same start (the cell reuses its top-k run)", () => {
  const rng = new Rng(16);
  const n = 60;
  const op = denseOperator(withSpectrum(Array.from({ length: n }, () => rng.normal()), rng), n);
  const start = Float64Array.from({ length: n }, () => rng.normal());
  const long = lanczos(op, { k: 5, maxIters: 20, tol: 0, start });
  const short = lanczos(op, { k: 5, maxIters: 8, tol: 0, start });
  assert.equal(long.iterations, 20);
  const leading = slqNodes(long.alpha.subarray(0, 8), long.beta.subarray(0, 7));
  const own = slqNodes(short.alpha, short.beta);
  assert.equal(leading.nodes.length, 8);
  assert.ok(maxRelativeError(leading.nodes, own.nodes) < 1e-12, `nodes ${maxRelativeError(leading.nodes, own.nodes)}`);
  assert.ok(maxRelativeError(leading.weights, own.weights) < 1e-10, `weights ${maxRelativeError(leading.weights, own.weights)}`);
});

test('smoothed density integrates to 1 and matches the Gaussian mixture it stands for', () => {
  const runs = [
    { nodes: Float64Array.from([0, 1]), weights: Float64Array.from([0.25, 0.75]) },
    { nodes: Float64Array.from([0.5]), weights: Float64Array.from([1]) },
  ];
  const { x, y, sigma2 } = smoothedDensity(runs);
  assert.equal(x.length, 1000);
  assert.equal(sigma2, 1e-5); // the grid resolves PyHessian's kernel here, so it is kept
  assert.ok(Math.abs(trapezoid(x, y) - 1) < 1e-6);
  assert.ok(x[0] < -4 * Math.sqrt(sigma2) && x[999] > 1 + 4 * Math.sqrt(sigma2));
  const mixture = (t: number) =>
    ([[0, 0.125], [1, 0.375], [0.5, 0.5]] as const).reduce(
      (s, [mu, w]) => s + (w * Math.exp(-((t - mu) ** 2) / (2 * sigma2))) / Math.sqrt(2 * Math.PI * sigma2),
      0,
    );
  for (let i = 0; i < 1000; i += 7) assert.ok(Math.abs(y[i] - mixture(x[i])) < 1e-6 * (1 + mixture(x[i])));
});

test('smoothed density on a wide spectrum widens the kernel to the grid and still integrates to 1', () => {
  const runs = [{ nodes: Float64Array.from([-50, 0, 1000]), weights: Float64Array.from([0.2, 0.5, 0.3]) }];
  for (const opts of [{}, { points: 200 }, { range: [-100, 1100] as const }]) {
    const { x, y, sigma2 } = smoothedDensity(runs, opts);
    const h = x[1] - x[0];
    assert.ok(Math.sqrt(sigma2) >= h * (1 - 1e-12));
    assert.ok(Math.abs(trapezoid(x, y) - 1) < 1e-6);
    assert.ok(Math.abs(trapezoid(x, y, 900, 1100) - 0.3) < 1e-3);
  }
});

test('SLQ density puts mass on two clusters in proportion to their sizes', () => {
  const rng = new Rng(16);
  const n = 300;
  const lambda = Array.from({ length: n }, (_, i) => (i < 225 ? 0.2 * rng.uniform() - 0.1 : 10 + 0.2 * rng.uniform() - 0.1));
  const op = denseOperator(withSpectrum(lambda, rng), n);
  let calls = 0;
  const counted: LinearOperator = { dim: n, applyMany: (vs) => (calls++, op.applyMany(vs)) };
  const { x, y, quadrature } = slqDensity(counted, { runs: 40, steps: 30, rng });
  assert.equal(quadrature.length, 40);
  assert.equal(calls, 30); // all runs share each product pass
  assert.ok(Math.abs(trapezoid(x, y) - 1) < 1e-6);
  const low = trapezoid(x, y, -1, 1);
  const high = trapezoid(x, y, 9, 11);
  assert.ok(Math.abs(low / 0.75 - 1) < 0.1, `low ${low}`);
  assert.ok(Math.abs(high / 0.25 - 1) < 0.1, `high ${high}`);
  assert.ok(Math.abs(low + high - 1) < 1e-6);
});

test('SLQ from several fixed-length runs of a planted spectrum: all steps taken, one pass per step, integral 1, mean tr/N, mass on the eigenvalues', () => {
  // A bulk in [0, 1], a cluster in [4, 5] and ten outliers 20, 25, …, 65, hidden by a random rotation.
  const rng = new Rng(17);
  const clusters = [
    { from: 0, to: 1, count: 180 },
    { from: 4, to: 5, count: 50 },
  ];
  const outliers = Array.from({ length: 10 }, (_, i) => 20 + 5 * i);
  const lambda = [...clusters.flatMap(({ from, to, count }) => Array.from({ length: count }, () => from + (to - from) * rng.uniform())), ...outliers];
  const n = lambda.length;
  const { a, q } = planted(lambda, rng);
  const op = denseOperator(a, n);
  const passes: number[] = [];
  const counted: LinearOperator = { dim: n, applyMany: (vs) => (passes.push(vs.length), op.applyMany(vs)) };
  const runs = 6;
  const steps = 20;
  const seed = 18;
  const quadrature = slqQuadrature(counted, { runs, steps, rng: new Rng(seed) });

  // Fixed length: every run has `steps` nodes, and each of the `steps` passes served all runs.
  assert.equal(quadrature.length, runs);
  for (const { nodes } of quadrature) assert.equal(nodes.length, steps);
  assert.deepEqual(passes, new Array<number>(steps).fill(runs));

  const { x, y } = smoothedDensity(quadrature, { points: 256 });
  assert.ok(Math.abs(trapezoid(x, y) - 1) < 1e-9, `integral ${trapezoid(x, y)}`);
  assert.ok(y.every((v) => v >= 0));

  // The start vectors, drawn as lanczosLockstep documents (run 0 first, standard normal entries), and each one's
  // spectral weights (qᵢᵀv)²/‖v‖²: what the runs' quadratures stand for.
  const starts = new Rng(seed);
  const weights = Array.from({ length: runs }, () => {
    const v = Float64Array.from({ length: n }, () => starts.normal());
    const vv = v.reduce((s, t) => s + t * t, 0);
    return q.map((qi) => qi.reduce((s, t, j) => s + t * v[j], 0) ** 2 / vv);
  });
  /** Σ_i w_i f(λ_i), averaged over the starts. */
  const overStarts = (f: (l: number) => number) => weights.reduce((s, w) => s + w.reduce((t, wi, i) => t + wi * f(lambda[i]), 0), 0) / runs;
  const startMass = (keep: (l: number) => boolean) => overStarts((l) => (keep(l) ? 1 : 0));

  // Mean: exactly the starts' Rayleigh quotients (the quadrature's first moment is exact); and tr/N within 4
  // standard errors, Var(vᵀAv/vᵀv) = 2(⟨λ²⟩ − ⟨λ⟩²)/(N + 2) for a uniformly random direction.
  const mean = trapezoid(x, y, -Infinity, Infinity, (t) => t);
  assert.ok(Math.abs(mean - overStarts((l) => l)) <= 1e-6 * 65, `∫xρ ${mean} vs the starts' Rayleigh quotients ${overStarts((l) => l)}`);
  const m1 = lambda.reduce((s, l) => s + l, 0) / n;
  const m2 = lambda.reduce((s, l) => s + l * l, 0) / n;
  const se = Math.sqrt((2 * (m2 - m1 * m1)) / (n + 2) / runs);
  assert.ok(Math.abs(mean - m1) <= 4 * se, `∫xρ ${mean} vs tr/N ${m1} ± ${se}`);

  // Mass: each cluster's window (edges in the middle of the gaps) holds what the starts give it, to the
  // quadrature's error, and its share of the eigenvalues, to the sampling error.
  const windows = [
    { from: -Infinity, to: 2.5, keep: (l: number) => l < 2.5 },
    { from: 2.5, to: 12.5, keep: (l: number) => l > 2.5 && l < 12.5 },
    { from: 12.5, to: Infinity, keep: (l: number) => l > 12.5 },
  ];
  for (const { from, to, keep } of windows) {
    const mass = trapezoid(x, y, from, to);
    const share = lambda.filter(keep).length / n;
    const shareSe = Math.sqrt((2 * share * (1 - share)) / (n + 2) / runs);
    assert.ok(Math.abs(mass - startMass(keep)) < 1e-5, `[${from}, ${to}]: mass ${mass} vs the starts' ${startMass(keep)}`);
    assert.ok(Math.abs(mass - share) <= 4 * shareSe, `[${from}, ${to}]: mass ${mass} vs share ${share} ± ${shareSe}`);
  }
  // Inside the gaps, ≥ 3.7 kernel widths (σ ≈ 0.27 on this grid) from any eigenvalue, there is next to nothing.
  for (const [from, to] of [[2, 3], [7, 18]]) assert.ok(trapezoid(x, y, from, to) < 1e-4, `gap [${from}, ${to}] holds ${trapezoid(x, y, from, to)}`);
  // The largest node of every run is λ_max: Lanczos finds the extreme eigenvalues first.
  for (const { nodes } of quadrature) assert.ok(Math.abs(nodes[steps - 1] - 65) < 1e-6, `top node ${nodes[steps - 1]}`);
});

