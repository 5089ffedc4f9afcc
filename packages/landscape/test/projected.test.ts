/**
 * Per-sample projected gradients and Hessians (forward mode, frozen ReLU masks) and per-sample losses at
 * perturbed parameters, against float64 references: central differences of a plain-loop per-sample loss with
 * the masks frozen at θ̂, the Hessian-vector products, the Lanczos Ritz pairs, and a plain-loop forward pass.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../src/backend.js';
import { Curvature, type ProductsChoice } from '../src/curvature.js';
import { flattenParams } from '../src/model.js';
import { Rng } from '../src/random.js';
import { lanczos } from '../src/spectral/index.js';
import { randomNetwork } from './helpers.js';
import * as ref from './reference.js';

before(async () => {
  await useBackend('wasm');
});

interface Case {
  problem: ref.Problem64;
  theta: Float64Array;
  curvature: Curvature;
}

function randomCase(
  seed: number,
  { depth, width, bias, m = 12, products = 'auto' }: { depth: number; width: number; bias: boolean; m?: number; products?: ProductsChoice },
): Case {
  const { arch, params, x, y } = randomNetwork(seed, depth, bias, m, width);
  const curvature = new Curvature(arch, params, { x, y, n: m }, products);
  return { problem: { arch, x: Float64Array.from(x), y, m }, theta: flattenParams(arch, params), curvature };
}

function unitDirections(rng: Rng, count: number, dim: number): Float64Array[] {
  return Array.from({ length: count }, () => {
    const u = Float64Array.from({ length: dim }, () => rng.normal());
    const norm = Math.sqrt(u.reduce((s, x) => s + x * x, 0));
    return u.map((x) => x / norm);
  });
}

function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

/** max |got − want| / max |want|. */
function maxRelativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

/** u_jᵀ J_iᵀ A_i J_i u_l (Gauss–Newton part alone) from explicit float64 logit Jacobians. */
function gaussNewtonProjections(c: Case, directions: Float64Array[]): Float64Array {
  const D = directions.length;
  const { m } = c.problem;
  const out = new Float64Array(m * D * D);
  for (let i = 0; i < m; i++) {
    const J = ref.logitJacobian(c.problem, c.theta, i);
    const p = ref.softmax(ref.forward(c.problem, c.theta, i).logits);
    const ju = directions.map((u) => J.map((row) => dot(row, u)));
    for (let j = 0; j < D; j++) {
      for (let l = 0; l < D; l++) {
        const pj = p.reduce((s, pk, k) => s + pk * ju[j][k], 0);
        const pl = p.reduce((s, pk, k) => s + pk * ju[l][k], 0);
        out[(i * D + j) * D + l] = p.reduce((s, pk, k) => s + pk * ju[j][k] * ju[l][k], 0) - pj * pl;
      }
    }
  }
  return out;
}

/** Mean over samples of the n × D × D projected Hessians: D × D. */
function meanOverSamples(hessians: Float64Array, m: number, D: number): Float64Array {
  const mean = new Float64Array(D * D);
  for (let i = 0; i < m; i++) for (let t = 0; t < D * D; t++) mean[t] += hessians[i * D * D + t] / m;
  return mean;
}

const SHAPES = [
  { depth: 1, width: 5, bias: false },
  { depth: 2, width: 4, bias: true },
  { depth: 3, width: 7, bias: false },
  { depth: 2, width: 8, bias: true },
];

// The kernels go through the samples 64 at a time and take any number of directions in one pass: the last
// cases have several chunks and more directions than their buffers start with (8).
const CASES = [
  ...SHAPES.flatMap((shape) => (['fused', 'tfjs'] as const).map((products) => ({ ...shape, products, m: 12, directions: 4 }))),
  { depth: 2, width: 5, bias: true, products: 'fused' as const, m: 150, directions: 10 },
  { depth: 1, width: 18, bias: false, products: 'fused' as const, m: 70, directions: 3 },
];

for (const shape of CASES) {
  test(`projected gradients and Hessians match float64 frozen-mask differences (${shape.products}, depth ${shape.depth}, width ${shape.width}, bias=${shape.bias}, ${shape.m} samples, ${shape.directions} directions)`, () => {
    const c = randomCase(10 + shape.depth * 10 + shape.width, shape);
    const D = shape.directions;
    const directions = unitDirections(new Rng(shape.width), D, c.curvature.dim);
    const got = c.curvature.projected(directions);
    const want = ref.projectedByDifferences(c.problem, c.theta, directions);
    assert.equal(got.directions, D);
    // Float32 products against float64 differences (each ≈1e-8 of the scale): measured ≤ 5e-7 relative.
    const gradientError = maxRelativeError(got.gradients, want.gradients);
    const hessianError = maxRelativeError(got.hessians, want.hessians);
    assert.ok(gradientError < 1e-5, `gradients: ${gradientError}`);
    assert.ok(hessianError < 1e-5, `Hessians: ${hessianError}`);
    for (let i = 0; i < c.problem.m; i++) {
      for (let j = 0; j < D; j++) for (let l = 0; l < D; l++) assert.equal(got.hessians[(i * D + j) * D + l], got.hessians[(i * D + l) * D + j]);
    }
    // The second-order term is large for these nets (weights ×2.5): the Gauss–Newton part alone fails the test.
    const gaussNewton = gaussNewtonProjections(c, directions);
    assert.ok(maxRelativeError(gaussNewton, want.hessians) > 1e-2, `GGN part alone: ${maxRelativeError(gaussNewton, want.hessians)}`);
    c.curvature.dispose();
  });
}

test('the mean of the projected Hessians equals U_Dᵀ(H U_D) from the Hessian-vector products', () => {
  for (const bias of [false, true]) {
    const c = randomCase(41, { depth: 2, width: 6, bias, m: 30 });
    const directions = unitDirections(new Rng(42), 5, c.curvature.dim);
    const mean = meanOverSamples(c.curvature.projected(directions).hessians, 30, 5);
    const products = c.curvature.products(directions, directions.map(() => 'hessian'));
    const expected = Float64Array.from({ length: 25 }, (_, t) => dot(directions[Math.floor(t / 5)], products[t % 5]));
    const error = maxRelativeError(mean, expected);
    assert.ok(error < 1e-5, `bias=${bias}: ${error}`);
    c.curvature.dispose();
  }
});

test('the mean of U_Dᵀ∇²ℓ_i U_D over samples is diag(Ritz values) for converged Ritz vectors of H', () => {
  for (const shape of [{ depth: 2, width: 5, bias: false }, { depth: 1, width: 6, bias: true }]) {
    const c = randomCase(51, { ...shape, m: 40 });
    const D = 4;
    const run = lanczos(c.curvature.operator('hessian'), { k: D, maxIters: c.curvature.dim, tol: 1e-6, rng: new Rng(52), vectors: D });
    assert.ok(run.converged, `Lanczos did not converge in ${run.iterations} steps`);
    const mean = meanOverSamples(c.curvature.projected(run.vectors!).hessians, 40, D);
    const expected = Float64Array.from({ length: D * D }, (_, t) => (t % (D + 1) === 0 ? run.values[t / (D + 1)] : 0));
    const error = maxRelativeError(mean, expected);
    assert.ok(error < 1e-5, `${JSON.stringify(shape)}: ${error}`);
    c.curvature.dispose();
  }
});

test('tfjs: directions split into chunks give the same result as one pass', () => {
  const c = randomCase(61, { depth: 3, width: 5, bias: true, m: 20, products: 'tfjs' });
  const directions = unitDirections(new Rng(62), 5, c.curvature.dim);
  const whole = c.curvature.projected(directions);
  // 2 directions per chunk (m · width · 2 floats): chunks of 2, 2 and 1, every cross-chunk pair included.
  const chunked = c.curvature.projected(directions, 20 * 5 * 2);
  assert.ok(maxRelativeError(chunked.gradients, whole.gradients) < 1e-6);
  assert.ok(maxRelativeError(chunked.hessians, whole.hessians) < 1e-6);
  c.curvature.dispose();
});

for (const products of ['fused', 'tfjs'] as const) test(`per-sample losses at θ̂ + δ: δ = 0 gives the cached losses, a small δ the float64 forward pass (${products})`, () => {
  for (const bias of [false, true]) {
    const c = randomCase(71, { depth: 2, width: 6, bias, m: 30, products });
    const rng = new Rng(72);
    const before = c.curvature.products([unitDirections(rng, 1, c.curvature.dim)[0]], ['hessian'])[0];
    assert.deepEqual(c.curvature.lossesAt(new Float64Array(c.curvature.dim)), c.curvature.losses);
    const delta = Float64Array.from({ length: c.curvature.dim }, () => 0.05 * rng.normal());
    const got = c.curvature.lossesAt(delta);
    const perturbed = c.theta.map((t, k) => t + delta[k]);
    const want = Float64Array.from({ length: 30 }, (_, i) => ref.sampleLoss(c.problem, perturbed, i));
    assert.ok(maxRelativeError(got, want) < 1e-5, `bias=${bias}: ${maxRelativeError(got, want)}`);
    // The perturbation moves the losses well beyond that tolerance, and the state at θ̂ is as it was.
    assert.ok(maxRelativeError(c.curvature.losses, want) > 1e-3);
    const again = new Rng(72);
    assert.deepEqual(c.curvature.products([unitDirections(again, 1, c.curvature.dim)[0]], ['hessian'])[0], before);
    c.curvature.dispose();
  }
});

test('projected and lossesAt name a direction or δ of the wrong length', () => {
  const c = randomCase(81, { depth: 1, width: 4, bias: false });
  assert.throws(() => c.curvature.projected([new Float64Array(3)]), new RegExp(`projected: direction of length 3, expected ${c.curvature.dim}`));
  assert.throws(() => c.curvature.lossesAt(new Float64Array(5)), new RegExp(`lossesAt: δ of length 5, expected ${c.curvature.dim}`));
  c.curvature.dispose();
});
