/** spectralNorm and theoremOneBound against independent float64 computations and the closed form. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spectralNorm, theoremOneBound } from '../src/bound.js';
import { Rng } from '../src/random.js';
import { randomOrthogonal } from './helpers.js';

function randomMatrix(rng: Rng, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: rows * cols }, () => rng.normal());
}

/** Largest eigenvalue of WᵀW by power iteration on v ↦ Wᵀ(Wv), with the Rayleigh quotient; plain loops. */
function powerIterationGram(w: Float64Array, rows: number, cols: number, rng: Rng, iterations = 20000): number {
  let v = Float64Array.from({ length: cols }, () => rng.normal());
  let lambda = 0;
  for (let it = 0; it < iterations; it++) {
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    for (let j = 0; j < cols; j++) v[j] /= norm;
    const wv = new Float64Array(rows);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) wv[r] += w[r * cols + c] * v[c];
    const next = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) next[c] += w[r * cols + c] * wv[r];
    const rayleigh = wv.reduce((s, x) => s + x * x, 0); // vᵀWᵀWv with ‖v‖ = 1
    if (it > 100 && Math.abs(rayleigh - lambda) <= 1e-15 * rayleigh) {
      lambda = rayleigh;
      break;
    }
    lambda = rayleigh;
    v = next;
  }
  return lambda;
}

function transpose(w: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

/** W = U·diag(s)·Vᵀ (rows × cols) with the given singular values, U and V random orthogonal. */
function withSingularValues(s: number[], rows: number, cols: number, rng: Rng): Float64Array {
  const u = randomOrthogonal(rows, rng);
  const v = randomOrthogonal(cols, rng);
  const w = new Float64Array(rows * cols);
  for (let k = 0; k < s.length; k++) {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) w[r * cols + c] += s[k] * u[k][r] * v[k][c];
  }
  return w;
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

const SHAPES: [rows: number, cols: number][] = [
  [40, 7], // tall
  [7, 40], // wide
  [33, 33], // square
  [784, 16], // the first layer of an MNIST network
  [16, 10], // a last layer
  [1, 9], // a row
  [9, 1], // a column
];

test('spectralNorm of random tall, wide and square matrices = √λmax of WᵀW and of WWᵀ by power iteration', () => {
  const rng = new Rng(2024);
  for (const [rows, cols] of SHAPES) {
    const w = randomMatrix(rng, rows, cols);
    const norm = spectralNorm(w, rows, cols);
    // Both Grams by plain power iteration in the test: spectralNorm builds only the smaller one and hands it
    // to the project's eigensolver, so neither reference shares code with it.
    const byInner = Math.sqrt(powerIterationGram(w, rows, cols, new Rng(rows * 100 + cols)));
    const byOuter = Math.sqrt(powerIterationGram(transpose(w, rows, cols), cols, rows, new Rng(rows * 100 + cols + 1)));
    assert.ok(relErr(norm, byInner) < 1e-10, `${rows}×${cols}: ${norm} vs power iteration on WᵀW ${byInner}`);
    assert.ok(relErr(norm, byOuter) < 1e-10, `${rows}×${cols}: ${norm} vs power iteration on WWᵀ ${byOuter}`);
    // The transpose has the same norm.
    assert.ok(relErr(spectralNorm(transpose(w, rows, cols), cols, rows), norm) < 1e-10, `${rows}×${cols}: transpose`);
  }
});

test('spectralNorm recovers the largest of prescribed singular values', () => {
  const rng = new Rng(7);
  for (const [rows, cols] of [
    [12, 5],
    [5, 12],
    [8, 8],
  ] as const) {
    const r = Math.min(rows, cols);
    const s = Array.from({ length: r }, (_, i) => 3.75 / (1 + i)); // distinct, largest 3.75
    const w = withSingularValues(s, rows, cols, rng);
    assert.ok(relErr(spectralNorm(w, rows, cols), 3.75) < 1e-10, `${rows}×${cols}: ${spectralNorm(w, rows, cols)}`);
    // Scaling is linear and sign-blind.
    const scaled = w.map((x) => -0.01 * x);
    assert.ok(relErr(spectralNorm(scaled, rows, cols), 0.0375) < 1e-10);
  }
  // Rank one u vᵀ: ‖u‖·‖v‖.
  const u = [1, -2, 3, 0.5];
  const v = [2, 0, -1];
  const w = new Float64Array(12);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) w[i * 3 + j] = u[i] * v[j];
  assert.ok(relErr(spectralNorm(w, 4, 3), Math.hypot(...u) * Math.hypot(...v)) < 1e-12);
});

test('spectralNorm accepts Float32Array (the parameter storage) and plain arrays', () => {
  const rng = new Rng(99);
  const w64 = randomMatrix(rng, 20, 6);
  const w32 = Float32Array.from(w64);
  const asF64 = Float64Array.from(w32);
  assert.equal(spectralNorm(w32, 20, 6), spectralNorm(asF64, 20, 6));
  assert.equal(spectralNorm(Array.from(w32), 20, 6), spectralNorm(asF64, 20, 6));
});

test('spectralNorm of a diagonal matrix is max |d_i|', () => {
  const d = [0.3, -4.25, 2, 0, -1e-3, 4.2];
  const n = d.length;
  const square = new Float64Array(n * n);
  d.forEach((v, i) => (square[i * n + i] = v));
  assert.ok(relErr(spectralNorm(square, n, n), 4.25) < 1e-14);
  // Rectangular "diagonal" embeddings (zero rows or columns appended).
  const tall = new Float64Array((n + 3) * n);
  d.forEach((v, i) => (tall[i * n + i] = v));
  assert.ok(relErr(spectralNorm(tall, n + 3, n), 4.25) < 1e-14);
  const wide = new Float64Array(n * (n + 3));
  d.forEach((v, i) => (wide[i * (n + 3) + i] = v));
  assert.ok(relErr(spectralNorm(wide, n, n + 3), 4.25) < 1e-14);
  // Identity and zero.
  const eye = new Float64Array(25);
  for (let i = 0; i < 5; i++) eye[i * 5 + i] = 1;
  assert.ok(relErr(spectralNorm(eye, 5, 5), 1) < 1e-14);
  assert.equal(spectralNorm(new Float64Array(12), 3, 4), 0);
});

/** L√2·Mx²·Mw^{2L} + √2·Mw²(Mw^{2L} − 1)/(Mw² − 1), as written in Theorem 1. */
function closedForm(layers: number, mW: number, mX: number): number {
  const w2 = mW * mW;
  const w2L = Math.pow(mW, 2 * layers);
  return layers * Math.SQRT2 * mX * mX * w2L + (Math.SQRT2 * w2 * (w2L - 1)) / (w2 - 1);
}

test('theoremOneBound equals the closed form of Theorem 1 for M_W ≠ 1', () => {
  for (const layers of [1, 2, 3, 6, 11]) {
    for (const mW of [0.25, 0.5, 0.9, 0.999, 1.01, 1.3, 2, 3.7]) {
      for (const mX of [0, 0.5, 1, 28]) {
        const got = theoremOneBound(layers, mW, mX);
        const want = closedForm(layers, mW, mX);
        // The closed form itself loses digits near M_W = 1 (cancellation in M_W² − 1).
        const tol = Math.abs(mW - 1) < 0.01 ? 1e-9 : 1e-12;
        assert.ok(relErr(got, want) < tol, `L=${layers} M_W=${mW} M_x=${mX}: ${got} vs ${want}`);
      }
    }
  }
  // A hand-computed value: L = 2, M_W = 2, M_x = 3: 2√2·9·16 + √2·4·15/3 = 288√2 + 20√2 = 308√2.
  assert.ok(relErr(theoremOneBound(2, 2, 3), 308 * Math.SQRT2) < 1e-14);
  // L = 1: √2·Mx²·Mw² + √2·Mw².
  assert.ok(relErr(theoremOneBound(1, 1.5, 2), Math.SQRT2 * 4 * 2.25 + Math.SQRT2 * 2.25) < 1e-14);
});

test('the bound of a network with prescribed singular values equals the closed form at M_W = the largest of them', () => {
  // Three weight layers 6 → 5 → 5 → 3 (stored rows × cols as the network keeps them), largest singular values
  // 0.8, 1.7 and 1.2: M_W = 1.7 by construction, with no norm computed by the code under test.
  const rng = new Rng(31);
  const sizes = [6, 5, 5, 3];
  const tops = [0.8, 1.7, 1.2];
  const weights = tops.map((top, p) => {
    const rank = Math.min(sizes[p], sizes[p + 1]);
    return withSingularValues(Array.from({ length: rank }, (_, i) => top / (1 + 0.5 * i)), sizes[p], sizes[p + 1], rng);
  });
  const mW = Math.max(...weights.map((w, p) => spectralNorm(w, sizes[p], sizes[p + 1])));
  assert.ok(relErr(mW, 1.7) < 1e-10, `M_W ${mW}`);
  for (const mX of [0.5, 2.5, 28]) {
    const got = theoremOneBound(tops.length, mW, mX);
    const want = closedForm(tops.length, 1.7, mX);
    // The bound is a polynomial of degree 2L = 6 in M_W: a relative error ε in M_W moves it by at most ≈ 6ε.
    assert.ok(relErr(got, want) < 1e-9, `M_x=${mX}: ${got} vs ${want}`);
  }
});

test('theoremOneBound at M_W = 1 is the limit L√2·M_x² + √2·L, and is continuous there', () => {
  for (const layers of [1, 2, 5, 7, 11]) {
    for (const mX of [0, 1, 3.5, 28]) {
      const limit = layers * Math.SQRT2 * mX * mX + Math.SQRT2 * layers;
      const at = theoremOneBound(layers, 1, mX);
      assert.ok(Number.isFinite(at), `L=${layers}: not finite at M_W = 1`);
      assert.ok(relErr(at, limit) < 1e-14, `L=${layers} M_x=${mX}: ${at} vs ${limit}`);
      for (const eps of [1e-4, -1e-4]) {
        const near = closedForm(layers, 1 + eps, mX);
        assert.ok(relErr(theoremOneBound(layers, 1 + eps, mX), near) < 1e-9);
        assert.ok(relErr(near, limit) < 50 * layers * Math.abs(eps), `L=${layers}: closed form at 1${eps > 0 ? '+' : ''}${eps} = ${near} vs limit ${limit}`);
      }
    }
  }
});

test('theoremOneBound grows with M_W, M_x and L', () => {
  const base = theoremOneBound(3, 1.2, 2);
  assert.ok(theoremOneBound(3, 1.3, 2) > base);
  assert.ok(theoremOneBound(3, 1.2, 2.1) > base);
  assert.ok(theoremOneBound(4, 1.2, 2) > base);
  assert.equal(theoremOneBound(3, 0, 2), 0);
});
