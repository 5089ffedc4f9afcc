import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/backend.js';
import { Curvature, type ProductsChoice } from '../src/curvature.js';
import { flattenParams, type Architecture } from '../src/model.js';
import { randomNetwork } from './helpers.js';
import { Rng } from '../src/random.js';
import * as ref from './reference.js';

before(async () => {
  await useBackend('wasm');
});

interface Case {
  arch: Architecture;
  problem: ref.Problem64;
  theta: Float64Array;
  curvature: Curvature;
}

function randomCase(seed: number, bias: boolean, depth = 2, m = 24, products: ProductsChoice = 'auto', width = 5): Case {
  const { arch, params, x, y } = randomNetwork(seed, depth, bias, m, width);
  const theta = flattenParams(arch, params);
  const curvature = new Curvature(arch, params, { x, y, n: m }, products);
  return { arch, problem: { arch, x: Float64Array.from(x), y, m }, theta, curvature };
}

function randomVector(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal());
}

function relativeError(a: Float64Array, b: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

// The WebAssembly kernels go through the samples 64 at a time (150 samples: two whole chunks and a part) and
// their products 16 columns at a time, then 4, then 1 (width 18: a block of 16 and a remainder of 2).
const PRODUCTS: Array<{ products: ProductsChoice; m: number; width: number }> = [
  { products: 'fused', m: 24, width: 5 },
  { products: 'fused', m: 150, width: 18 },
  { products: 'tfjs', m: 24, width: 5 },
];

for (const { products, m, width } of PRODUCTS) for (const bias of [false, true]) {
  test(`HVP matches a float64 R-operator and frozen-mask differences (${products}, ${m} samples, width ${width}, bias=${bias})`, () => {
    for (const seed of [1, 2, 3]) {
      const c = randomCase(seed, bias, 2, m, products, width);
      const rng = new Rng(100 + seed);
      const vs = [randomVector(rng, c.curvature.dim), randomVector(rng, c.curvature.dim), randomVector(rng, c.curvature.dim)];
      const fast = c.curvature.products(vs, ['hessian', 'hessian', 'hessian']);
      for (let j = 0; j < vs.length; j++) {
        const exact = ref.hvpReference(c.problem, c.theta, vs[j]);
        const differences = ref.hvpByDifferences(c.problem, c.theta, vs[j]);
        assert.ok(relativeError(differences, exact) < 1e-7, `reference vs differences: ${relativeError(differences, exact)}`);
        assert.ok(relativeError(fast[j], exact) < 1e-5, `float32 R-op vs float64: ${relativeError(fast[j], exact)}`);
      }
      c.curvature.dispose();
    }
  });

  test(`GGN product matches Jᵀ A J from per-logit Jacobians (${products}, ${m} samples, width ${width}, bias=${bias})`, () => {
    const c = randomCase(7, bias, 2, m, products, width);
    const rng = new Rng(8);
    const vs = [randomVector(rng, c.curvature.dim), randomVector(rng, c.curvature.dim)];
    const fast = c.curvature.products(vs, ['ggn', 'ggn']);
    for (let j = 0; j < vs.length; j++) {
      const exact = ref.ggnProductFromJacobians(c.problem, c.theta, vs[j]);
      assert.ok(relativeError(fast[j], exact) < 1e-5, `ggn: ${relativeError(fast[j], exact)}`);
    }
    // The GGN differs from the Hessian for these nets, so the test tells the two apart.
    const h = ref.hvpReference(c.problem, c.theta, vs[0]);
    assert.ok(relativeError(fast[0], h) > 1e-2);
    c.curvature.dispose();
  });
}

for (const products of ['fused', 'tfjs'] as const) test(`mixed Hessian and GGN directions in one call equal separate calls (${products})`, () => {
  const c = randomCase(11, true, 3, 24, products);
  const rng = new Rng(12);
  const vs = [randomVector(rng, c.curvature.dim), randomVector(rng, c.curvature.dim), randomVector(rng, c.curvature.dim)];
  const mixed = c.curvature.products(vs, ['hessian', 'ggn', 'hessian']);
  const [h0, h2] = c.curvature.products([vs[0], vs[2]], ['hessian', 'hessian']);
  const [g1] = c.curvature.products([vs[1]], ['ggn']);
  assert.ok(relativeError(mixed[0], h0) < 1e-6);
  assert.ok(relativeError(mixed[1], g1) < 1e-6);
  assert.ok(relativeError(mixed[2], h2) < 1e-6);
  c.curvature.dispose();
});

for (const products of ['fused', 'tfjs'] as const) test(`gradient, losses, accuracy and M_x match the float64 forward pass (${products})`, () => {
  const c = randomCase(21, true, 2, 24, products);
  const g = c.curvature.gradient();
  assert.ok(relativeError(g, ref.gradient(c.problem, c.theta)) < 1e-5);
  assert.ok(Math.abs(c.curvature.meanLoss() - ref.meanLoss(c.problem, c.theta)) < 1e-5);
  let correct = 0;
  for (let i = 0; i < c.problem.m; i++) {
    const logits = ref.forward(c.problem, c.theta, i).logits;
    if (logits.indexOf(Math.max(...logits)) === c.problem.y[i]) correct++;
  }
  assert.equal(c.curvature.accuracy, correct / c.problem.m);
  let largest = 0;
  for (let i = 0; i < c.problem.m; i++) largest = Math.max(largest, Math.hypot(...c.problem.x.subarray(i * 6, (i + 1) * 6)));
  assert.ok(Math.abs(c.curvature.maxInputNorm() - largest) < 1e-12 * largest, `M_x ${c.curvature.maxInputNorm()} vs ${largest}`);
  c.curvature.dispose();
});

for (const products of ['fused', 'tfjs'] as const) for (const bias of [false, true]) {
  test(`exact trace equals the dense Hessian's trace and the dense GGN's (${products} products, bias=${bias})`, () => {
    const c = randomCase(31, bias, 3, 24, products);
    const n = c.curvature.dim;
    const columns = Array.from({ length: n }, (_, j) => {
      const e = new Float64Array(n);
      e[j] = 1;
      return e;
    });
    const hCols = c.curvature.products(columns, columns.map(() => 'hessian'));
    const gCols = c.curvature.products(columns, columns.map(() => 'ggn'));
    let trH = 0;
    let trG = 0;
    for (let j = 0; j < n; j++) {
      trH += hCols[j][j];
      trG += gCols[j][j];
    }
    const exact = c.curvature.exactTrace();
    assert.ok(Math.abs(exact - trH) < 1e-4 * Math.abs(trH), `exact ${exact} vs tr H ${trH}`);
    assert.ok(Math.abs(exact - trG) < 1e-4 * Math.abs(trG), `exact ${exact} vs tr G ${trG}`);
    c.curvature.dispose();
  });
}
