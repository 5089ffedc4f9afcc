/** Ritz vectors from the Lanczos run: eigen-residuals as reported, orthonormality, and only when asked for. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/random.js';
import { denseOperator, lanczos, lanczosLockstep, type LanczosResult, type LinearOperator } from '../src/spectral/index.js';

/** (B + Bᵀ)/2 for B with standard normal entries, row-major n × n. */
function randomSymmetric(n: number, rng: Rng): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const value = i === j ? rng.normal() : (rng.normal() + rng.normal()) / 2;
      a[i * n + j] = value;
      a[j * n + i] = value;
    }
  }
  return a;
}

function frobenius(a: Float64Array): number {
  return Math.sqrt(a.reduce((s, x) => s + x * x, 0));
}

function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

/** ‖A y − θ y‖₂ by a float64 dense product. */
function eigenResidual(op: LinearOperator, y: Float64Array, theta: number): number {
  const [ay] = op.applyMany([y]);
  return Math.sqrt(ay.reduce((s, v, i) => s + (v - theta * y[i]) ** 2, 0));
}

/** Checks each Ritz pair's residual equals the reported one, its Rayleigh quotient its value, and orthonormality. */
function checkRitzPairs(op: LinearOperator, result: LanczosResult, count: number, scale: number): void {
  const vectors = result.vectors!;
  assert.equal(vectors.length, count);
  vectors.forEach((y, j) => {
    assert.equal(y.length, op.dim);
    const residual = eigenResidual(op, y, result.values[j]);
    // ‖A y − θ y‖ = |β_m s_m,j| exactly in exact arithmetic; full re-orthogonalisation keeps it to rounding.
    assert.ok(residual <= result.residuals[j] + 1e-10 * scale, `pair ${j}: ‖Ay − θy‖ ${residual} > reported ${result.residuals[j]}`);
    assert.ok(Math.abs(residual - result.residuals[j]) <= 1e-10 * scale, `pair ${j}: ‖Ay − θy‖ ${residual} vs reported ${result.residuals[j]}`);
    const [ay] = op.applyMany([y]);
    assert.ok(Math.abs(dot(y, ay) - result.values[j]) <= 1e-10 * scale, `pair ${j}: Rayleigh quotient ${dot(y, ay)} vs ${result.values[j]}`);
    for (let l = 0; l <= j; l++) {
      const expected = l === j ? 1 : 0;
      assert.ok(Math.abs(dot(y, vectors[l]) - expected) <= 1e-10, `yᵀy of ${j}, ${l}: ${dot(y, vectors[l])}`);
    }
  });
}

test('Ritz vectors of a short (unconverged) run have the reported residuals and are orthonormal', () => {
  const n = 150;
  const a = randomSymmetric(n, new Rng(1));
  const op = denseOperator(a, n);
  const result = lanczos(op, { k: 6, maxIters: 20, tol: 0, rng: new Rng(2), vectors: 4 });
  assert.equal(result.iterations, 20);
  // Unconverged: the residuals are far from zero, so the check above is of their size, not just of smallness.
  assert.ok(result.residuals.every((r) => r > 1e-3), `residuals ${result.residuals}`);
  checkRitzPairs(op, result, 4, frobenius(a));
});

test('Ritz vectors of a converged run are eigenvectors to the tolerance', () => {
  const n = 80;
  const a = randomSymmetric(n, new Rng(3));
  const op = denseOperator(a, n);
  const result = lanczos(op, { k: 5, maxIters: n, tol: 1e-10, rng: new Rng(4), vectors: 5 });
  assert.ok(result.converged);
  checkRitzPairs(op, result, 5, frobenius(a));
  for (let j = 0; j < 5; j++) assert.ok(eigenResidual(op, result.vectors![j], result.values[j]) <= 1e-9 * frobenius(a));
});

test('Ritz vectors come only when asked for, per process in lockstep, and at most k of them', () => {
  const n = 40;
  const a = randomSymmetric(n, new Rng(5));
  const op = denseOperator(a, n);
  assert.equal(lanczos(op, { k: 3, rng: new Rng(6) }).vectors, undefined);
  const [withVectors, without] = lanczosLockstep((vs) => op.applyMany(vs), [n, n], { k: 3, maxIters: 30, tol: 0, rng: new Rng(7), vectors: [2, 0] });
  assert.equal(without.vectors, undefined);
  checkRitzPairs(op, withVectors, 2, frobenius(a));
  // A run shorter than D steps (here the whole 3-dimensional space) returns one vector per step.
  const small = denseOperator(Float64Array.from([2, 1, 0, 1, 3, 1, 0, 1, 4]), 3);
  const all = lanczos(small, { k: 5, maxIters: 10, tol: 0, rng: new Rng(8), vectors: 5 });
  assert.equal(all.iterations, 3);
  checkRitzPairs(small, all, 3, 10);
  assert.throws(() => lanczos(op, { k: 2, rng: new Rng(9), vectors: 3 }), /Ritz vectors.*0\.\.k = 2, got 3/);
  assert.throws(() => lanczosLockstep((vs) => op.applyMany(vs), [n, n], { k: 2, rng: new Rng(9), vectors: [1] }), /2 processes but 1 Ritz vector counts/);
});
