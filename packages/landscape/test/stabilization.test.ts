import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/random.js';
import { increments } from '../src/curve.js';
import {
  IncrementMoments,
  emaSmooth,
  forEachQuadraticModel,
  gaussianMoment,
  gaussianMomentSeries,
  quadraticInvariants,
  quadraticModelSeries,
  quadraticMonteCarlo,
  sufficientSampleSize,
  type ProjectedSamples,
  type Quadratic,
} from '../src/stabilization.js';

// ---- independent references ----

/** Mean of the first k entries of `rows` (width w) taken in `order`, by an explicit loop. */
function prefixMean(rows: Float64Array, width: number, order: Int32Array, k: number): Float64Array {
  const mean = new Float64Array(width);
  for (let i = 0; i < k; i++) for (let j = 0; j < width; j++) mean[j] += rows[order[i] * width + j];
  return mean.map((x) => x / k);
}

/** mean over the first k + 1 minus mean over the first k: the definition L_{k+1} − L_k, O(k) per k. */
function bruteIncrement(rows: Float64Array, width: number, order: Int32Array, k: number): Float64Array {
  const next = prefixMean(rows, width, order, k + 1);
  const here = prefixMean(rows, width, order, k);
  return next.map((x, j) => x - here[j]);
}

/** q(z) = a + cᵀz + ½ zᵀBz by explicit sums. */
function evaluate(q: Quadratic, z: ArrayLike<number>): number {
  const dim = q.c.length;
  let value = q.a;
  for (let i = 0; i < dim; i++) {
    value += q.c[i] * z[i];
    for (let j = 0; j < dim; j++) value += 0.5 * q.B[i * dim + j] * z[i] * z[j];
  }
  return value;
}

/**
 * E q(z)², z ~ N(0, σ² I_D), by the 3-point Gauss–Hermite rule for the standard normal (nodes 0, ±√3, weights
 * 2/3, 1/6) in each coordinate: exact for polynomials of degree ≤ 5 in each variable, and q² has degree 4.
 */
function gaussHermiteMoment(q: Quadratic, sigma: number): number {
  const nodes = [-Math.sqrt(3), 0, Math.sqrt(3)];
  const weights = [1 / 6, 2 / 3, 1 / 6];
  const dim = q.c.length;
  let total = 0;
  for (let index = 0; index < 3 ** dim; index++) {
    let weight = 1;
    const z = new Float64Array(dim);
    for (let i = 0, rest = index; i < dim; i++, rest = Math.floor(rest / 3)) {
      z[i] = sigma * nodes[rest % 3];
      weight *= weights[rest % 3];
    }
    total += weight * evaluate(q, z) ** 2;
  }
  return total;
}

function randomQuadratic(rng: Rng, dim: number, symmetric = true): Quadratic {
  const c = Float64Array.from({ length: dim }, () => rng.normal());
  const B = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let j = symmetric ? i : 0; j < dim; j++) {
      B[i * dim + j] = rng.normal();
      if (symmetric) B[j * dim + i] = B[i * dim + j];
    }
  }
  return { a: rng.normal(), c, B };
}

function randomSamples(rng: Rng, n: number, dim: number): ProjectedSamples {
  const hessians = new Float64Array(n * dim * dim);
  for (let s = 0; s < n; s++) hessians.set(randomQuadratic(rng, dim).B, s * dim * dim);
  return {
    dim,
    losses: Float64Array.from({ length: n }, () => Math.exp(rng.normal())),
    gradients: Float64Array.from({ length: n * dim }, () => rng.normal()),
    hessians,
  };
}

/** The brute-force quadratic model of Δ_k in `order`. */
function bruteModel(samples: ProjectedSamples, order: Int32Array, k: number): Quadratic {
  const { dim } = samples;
  return {
    a: bruteIncrement(samples.losses, 1, order, k)[0],
    c: bruteIncrement(samples.gradients, dim, order, k),
    B: bruteIncrement(samples.hessians, dim * dim, order, k),
  };
}

/** |x − y| ≤ tol · scale, with a message. */
function close(x: number, y: number, tol: number, scale: number, what: string): void {
  assert.ok(Math.abs(x - y) <= tol * scale, `${what}: ${x} vs ${y}`);
}

const identity = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

// ---- increments ----

test('increments equal L_{k+1} − L_k from explicit prefix means, in a given order and in the file order', () => {
  const rng = new Rng(11);
  const n = 40;
  const values = Float64Array.from({ length: n }, () => 3 * rng.normal());
  for (const order of [rng.permutation(n), null]) {
    const delta = increments(values, order);
    assert.equal(delta.length, n - 1);
    for (let k = 1; k < n; k++) {
      const reference = bruteIncrement(values, 1, order ?? identity(n), k)[0];
      close(delta[k - 1], reference, 1e-12, Math.max(Math.abs(reference), 1 / (k + 1)), `Δ_${k}`);
    }
  }
});

test('increments of interleaved series equal each series on its own, bit for bit', () => {
  const rng = new Rng(13);
  const n = 25;
  const series = Array.from({ length: 3 }, () => Float64Array.from({ length: n }, () => rng.normal()));
  const interleaved = new Float64Array(n * 3);
  series.forEach((values, j) => values.forEach((v, i) => (interleaved[i * 3 + j] = v)));
  for (const order of [rng.permutation(n), null]) {
    const together = increments(interleaved, order, undefined, 3);
    assert.equal(together.length, (n - 1) * 3);
    series.forEach((values, j) => {
      const alone = increments(values, order);
      for (let k = 0; k < n - 1; k++) assert.equal(together[k * 3 + j], alone[k], `series ${j}, Δ_${k + 1}`);
    });
  }
  assert.throws(() => increments(new Float64Array(10), null, undefined, 3), /10 values are not 3 whole series/);
});

test('increment moments average |Δ_k| and Δ_k² over draws × orders', () => {
  const rng = new Rng(12);
  const n = 30;
  const draws = Array.from({ length: 3 }, () => Float64Array.from({ length: n }, () => rng.uniform()));
  const orders = Array.from({ length: 4 }, () => rng.permutation(n));
  const moments = new IncrementMoments(n);
  for (const values of draws) moments.add(values, orders);
  assert.equal(moments.count, 12);
  // All draws at once (one pass per order) sum the same terms in another order.
  const together = new IncrementMoments(n);
  together.add(draws, orders);
  assert.equal(together.count, 12);
  const meanAbs = moments.meanAbs();
  const meanSquare = moments.meanSquare();
  for (let k = 1; k < n; k++) {
    let abs = 0;
    let square = 0;
    for (const values of draws) {
      for (const order of orders) {
        const d = bruteIncrement(values, 1, order, k)[0];
        abs += Math.abs(d);
        square += d * d;
      }
    }
    close(meanAbs[k - 1], abs / 12, 1e-12, abs / 12 + 1 / (k + 1), `mean |Δ_${k}|`);
    close(meanSquare[k - 1], square / 12, 1e-12, square / 12 + 1 / (k + 1) ** 2, `mean Δ_${k}²`);
    close(together.meanAbs()[k - 1], abs / 12, 1e-12, abs / 12 + 1 / (k + 1), `mean |Δ_${k}|, draws at once`);
    close(together.meanSquare()[k - 1], square / 12, 1e-12, square / 12 + 1 / (k + 1) ** 2, `mean Δ_${k}², draws at once`);
  }

  const own = new IncrementMoments(n);
  own.add(draws[0]);
  assert.equal(own.count, 1);
  const reference = bruteIncrement(draws[0], 1, identity(n), 5)[0];
  close(own.meanSquare()[4], reference ** 2, 1e-12, reference ** 2 + 1 / 36, 'file order Δ_5²');
  assert.throws(() => new IncrementMoments(n).meanAbs(), /nothing was added/);
  assert.throws(() => moments.add(new Float64Array(n + 1)), /31 values, expected 30/);
  assert.throws(() => moments.add(draws[0], [identity(n - 1)]), /order of length 29, expected 30/);
});

// ---- smoothing and sample size ----

test('EMA smoothing matches hand-computed values and a plain loop', () => {
  // α = 0.5: e1 = 1, e2 = (1 + 0.5)/2, e3 = (0.75 + 0.25)/2, e4 = (0.5 + 2)/2.
  assert.deepEqual(Array.from(emaSmooth([1, 0.5, 0.25, 2], 0.5)), [1, 0.75, 0.5, 1.25]);
  // Default α = 0.99: e2 = 0.99 · 1, e3 = 0.99², and 0.99 · 2 + 0.01 · 4 = 2.02.
  const decay = emaSmooth([1, 0, 0]);
  close(decay[0], 1, 1e-15, 1, 'e1');
  close(decay[1], 0.99, 1e-15, 1, 'e2');
  close(decay[2], 0.9801, 1e-15, 1, 'e3');
  close(emaSmooth([2, 4])[1], 2.02, 1e-15, 2, 'e2 of [2, 4]');
  assert.equal(emaSmooth([]).length, 0);

  const rng = new Rng(13);
  const series = Float64Array.from({ length: 1000 }, () => rng.uniform());
  const smoothed = emaSmooth(series);
  let e = series[0];
  for (let i = 0; i < series.length; i++) {
    e = 0.99 * e + 0.01 * series[i];
    close(smoothed[i], e, 1e-14, 1, `e_${i + 1}`);
  }
  assert.throws(() => emaSmooth([1], 1.5), /alpha/);
});

test('sufficient sample size: the first k after the last value not below the threshold', () => {
  assert.deepEqual(sufficientSampleSize([5, 3, 0.5, 2, 0.5, 0.4, 0.3], 1), { k: 5, extrapolated: false });
  assert.deepEqual(sufficientSampleSize([0.5, 0.4, 0.3], 1), { k: 1, extrapolated: false });
  assert.deepEqual(sufficientSampleSize([2, 1, 0.5], 1), { k: 3, extrapolated: false }); // equal is not below
  assert.deepEqual(sufficientSampleSize([0.1, NaN, 0.1, 0.1], 1), { k: 3, extrapolated: false });
  assert.deepEqual(sufficientSampleSize([3, 2, 0.5], 1), { k: 3, extrapolated: false }); // reached at the last k
});

test('sufficient sample size extrapolates an exact power law to its known crossing', () => {
  const K = 999;
  const inverse = Float64Array.from({ length: K }, (_, i) => 3 / (i + 1)); // 3/k crosses 1e-3 at k = 3000
  const one = sufficientSampleSize(inverse, 1e-3);
  assert.equal(one.extrapolated, true);
  close(one.k!, 3000, 1e-9, 3000, 'k* of 3/k');

  const square = Float64Array.from({ length: 500 }, (_, i) => 5 / (i + 1) ** 2); // 5/k² = 1e-7 at k = √(5e7)
  const two = sufficientSampleSize(square, 1e-7);
  assert.equal(two.extrapolated, true);
  close(two.k!, Math.sqrt(5e7), 1e-9, Math.sqrt(5e7), 'k* of 5/k²');

  // Only the last decade (k ≥ K/10) is fitted: anything before it does not move k*.
  const early = inverse.map((v, i) => (i + 1 < 100 ? 50 + (i % 7) : v));
  close(sufficientSampleSize(early, 1e-3).k!, 3000, 1e-9, 3000, 'k* with a wild head');
});

test('sufficient sample size is null when the tail does not decrease or cannot be fitted', () => {
  const rising = Float64Array.from({ length: 200 }, (_, i) => 0.1 * (i + 1));
  assert.deepEqual(sufficientSampleSize(rising, 0.05), { k: null, extrapolated: false });
  assert.deepEqual(sufficientSampleSize(new Float64Array(50).fill(2), 1), { k: null, extrapolated: false });
  assert.deepEqual(sufficientSampleSize([2], 1), { k: null, extrapolated: false });
  assert.deepEqual(sufficientSampleSize([], 1), { k: null, extrapolated: false });
  assert.throws(() => sufficientSampleSize([1], 0), /threshold must be positive/);
  assert.throws(() => sufficientSampleSize([1], NaN), /threshold must be positive/);
});

// ---- quadratic model ----

test('c_k, B_k and a_k from prefix sums equal the brute-force differences of prefix means', () => {
  const rng = new Rng(14);
  const n = 25;
  const dim = 3;
  const samples = randomSamples(rng, n, dim);
  // Every k, and only a few (the first, some in the middle, the last): the sums run on between visits.
  for (const only of [null, [1, 2, 7, 13, 14, n - 1]]) {
    for (const order of [rng.permutation(n), null]) {
      const seen: number[] = [];
      forEachQuadraticModel(
        samples,
        (k, q) => {
          seen.push(k);
          const reference = bruteModel(samples, order ?? identity(n), k);
          const scale = (x: number) => Math.max(Math.abs(x), 1 / (k + 1));
          close(q.a, reference.a, 1e-12, scale(reference.a), `a_${k}`);
          reference.c.forEach((x, j) => close(q.c[j], x, 1e-12, scale(x), `c_${k}[${j}]`));
          reference.B.forEach((x, j) => close(q.B[j], x, 1e-12, scale(x), `B_${k}[${j}]`));
        },
        order,
        only,
      );
      assert.deepEqual(seen, only ?? Array.from({ length: n - 1 }, (_, i) => i + 1));
    }
  }
});

test('the invariants series and the closed form at every k equal Gauss–Hermite on the brute-force model', () => {
  const rng = new Rng(15);
  const n = 20;
  const dim = 2;
  const samples = randomSamples(rng, n, dim);
  const order = rng.permutation(n);
  const series = quadraticModelSeries(samples, order);
  for (const sigma of [0.3, 1.7]) {
    const closed = gaussianMomentSeries(series, sigma);
    assert.equal(closed.length, n - 1);
    for (let k = 1; k < n; k++) {
      const reference = bruteModel(samples, order, k);
      const normC = reference.c.reduce((s, x) => s + x * x, 0);
      const trace = reference.B[0] + reference.B[3];
      const traceSquare = reference.B.reduce((s, x) => s + x * x, 0); // symmetric: tr B² = Σ B_ij²
      close(series.cNormSquared[k - 1], normC, 1e-11, normC + 1 / (k + 1) ** 2, `‖c_${k}‖²`);
      close(series.traceB[k - 1], trace, 1e-11, Math.abs(trace) + 1 / (k + 1), `tr B_${k}`);
      close(series.traceBSquared[k - 1], traceSquare, 1e-11, traceSquare + 1 / (k + 1) ** 2, `tr B_${k}²`);
      const expected = gaussHermiteMoment(reference, sigma);
      close(closed[k - 1], expected, 1e-10, expected, `E Δ_${k}² at σ = ${sigma}`);
    }
  }
});

test('Gaussian-moment closed form equals exact Gauss–Hermite quadrature for D = 1, 2, 3', () => {
  const rng = new Rng(16);
  for (const dim of [1, 2, 3]) {
    for (const symmetric of [true, false]) {
      for (let trial = 0; trial < 5; trial++) {
        const q = randomQuadratic(rng, dim, symmetric);
        for (const sigma of [0, 0.01, 0.5, 1, 3]) {
          const expected = gaussHermiteMoment(q, sigma);
          close(gaussianMoment(quadraticInvariants(q), sigma), expected, 1e-10, expected, `D=${dim} sym=${symmetric} σ=${sigma}`);
        }
      }
    }
  }
});

test('Gaussian-moment closed form agrees with Monte Carlo of a random quadratic within 3 standard errors', () => {
  const rng = new Rng(17);
  const q = randomQuadratic(rng, 4);
  const invariants = quadraticInvariants(q);
  for (const sigma of [0.05, 0.3, 1, 2]) {
    const closed = gaussianMoment(invariants, sigma);
    const mc = quadraticMonteCarlo(q, sigma, 40000, rng);
    assert.ok(mc.standardError > 0 && mc.standardError < 0.05 * closed, `σ=${sigma}: standard error ${mc.standardError} of ${closed}`);
    assert.ok(Math.abs(mc.mean - closed) <= 3 * mc.standardError, `σ=${sigma}: MC ${mc.mean} ± ${mc.standardError} vs closed ${closed}`);
  }
});

test('as σ → 0 the closed form tends to a², and its excess over a² divided by σ² to ‖c‖² + a tr B', () => {
  const rng = new Rng(21);
  const q = randomQuadratic(rng, 5);
  const invariants = quadraticInvariants(q);
  const normC = q.c.reduce((s, x) => s + x * x, 0);
  let traceB = 0;
  for (let i = 0; i < 5; i++) traceB += q.B[i * 5 + i];
  const slope = normC + q.a * traceB;
  const errors = [1e-1, 1e-2, 1e-3].map((sigma) => {
    const closed = gaussianMoment(invariants, sigma);
    assert.ok(Math.abs(closed - q.a ** 2) <= 2 * sigma ** 2 * (Math.abs(slope) + 50), `σ=${sigma}: ${closed} vs a² ${q.a ** 2}`);
    return Math.abs((closed - q.a ** 2) / sigma ** 2 - slope);
  });
  // The next term is O(σ²): each tenfold smaller σ shrinks the error about a hundredfold.
  assert.ok(errors[1] < errors[0] / 50 && errors[2] < errors[1] / 50, `errors ${errors}`);
  close((gaussianMoment(invariants, 1e-5) - q.a ** 2) / 1e-10, slope, 1e-5, Math.abs(slope), 'slope at σ = 1e-5');
  assert.equal(gaussianMoment(invariants, 0), q.a ** 2);
});

// ---- storing ----

test('bad shapes and parameters throw one line naming what is wrong', () => {
  const samples = randomSamples(new Rng(23), 5, 2);
  const visit = () => undefined;
  assert.throws(() => forEachQuadraticModel({ ...samples, gradients: new Float64Array(9) }, visit), /9 gradient entries, expected n × D = 10/);
  assert.throws(() => forEachQuadraticModel({ ...samples, hessians: new Float64Array(19) }, visit), /19 Hessian entries, expected n × D × D = 20/);
  assert.throws(() => forEachQuadraticModel({ ...samples, dim: 0 }, visit), /dim must be a positive integer/);
  assert.throws(() => quadraticInvariants({ a: 0, c: new Float64Array(2), B: new Float64Array(3) }), /B has 3 entries, expected D² = 4/);
});
