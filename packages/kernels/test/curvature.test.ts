// The curvature module on its own: its forward pass at θ̂ against a float64 forward pass, logits at other
// parameters, the backward pass against float64 δ, and errors. The products, traces and projections are tested
// against float64 Hessians in packages/landscape/test (curvature.test.ts, projected.test.ts), through both engines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CurvatureProducts, KernelError, type HostParams } from '../src/index.js';
import { randomMatrix } from './random.js';
import { forward, toNet } from './reference.js';

// 150 samples: two chunks of 64 and a part; widths 18 and 5: blocks of 16 columns, 4 and single remainders.
const SIZES = [7, 18, 5, 3];

function network(bias: boolean, seed: number) {
  const samples = 150;
  const weights = SIZES.slice(0, -1).map((fanIn, p) => randomMatrix(fanIn * SIZES[p + 1]!, seed + p));
  const biases = bias ? SIZES.slice(1).map((fanOut, p) => randomMatrix(fanOut, seed + 10 + p)) : null;
  const flat: number[] = [];
  weights.forEach((w, p) => {
    flat.push(...w);
    if (biases) flat.push(...biases[p]!);
  });
  const host: HostParams = { weights, biases };
  return { sizes: SIZES, bias, samples, x: randomMatrix(samples * SIZES[0]!, seed + 20), params: Float32Array.from(flat), host };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `${label}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

for (const bias of [false, true]) {
  test(`the forward pass at θ̂ and at other parameters agrees with float64 (bias=${bias})`, () => {
    const net = network(bias, bias ? 100 : 200);
    const kernels = CurvatureProducts.create(net);
    const reference = toNet(SIZES, net.host);
    const layers = SIZES.length - 1;
    for (let i = 0; i < net.samples; i++) {
      const acts = forward(reference, Float64Array.from(net.x.subarray(i * SIZES[0]!, (i + 1) * SIZES[0]!)));
      // Entries of size ≤ ~10 summed over ≤ 18 float32 products: 1e-4 absolute leaves room, a wrong index errs by O(1).
      assertClose(kernels.logitsAtTheta.subarray(i * 3, (i + 1) * 3), acts[layers]!, 1e-4, `logits of sample ${i}`);
      for (let p = 1; p < layers; p++) assertClose(kernels.activation(p).subarray(i * SIZES[p]!, (i + 1) * SIZES[p]!), acts[p]!, 1e-4, `a_${p} of sample ${i}`);
    }
    // The same parameters through `logits` give the same bits; other parameters give their own forward pass.
    assert.deepEqual(kernels.logits(net.params), kernels.logitsAtTheta);
    const other = network(bias, 300);
    const moved = kernels.logits(other.params);
    const otherReference = toNet(SIZES, other.host);
    for (let i = 0; i < net.samples; i++) {
      const acts = forward(otherReference, Float64Array.from(net.x.subarray(i * SIZES[0]!, (i + 1) * SIZES[0]!)));
      assertClose(moved.subarray(i * 3, (i + 1) * 3), acts[layers]!, 1e-4, `logits at other parameters, sample ${i}`);
    }
  });
}

test('the backward pass at θ̂: the gradient of Σ_i δ_out,i·z_i agrees with float64', () => {
  const net = network(true, 400);
  const kernels = CurvatureProducts.create(net);
  const outputDelta = randomMatrix(net.samples * 3, 401);
  kernels.setBackward({ outputDelta, probs: new Float32Array(net.samples * 3).fill(1 / 3) });
  // Float64: back-propagate each sample's δ_out through the ReLU masks and sum a_pᵀδ_p and δ_p.
  const reference = toNet(SIZES, net.host);
  const layers = SIZES.length - 1;
  const expected = new Float64Array(kernels.dim);
  for (let i = 0; i < net.samples; i++) {
    const acts = forward(reference, Float64Array.from(net.x.subarray(i * SIZES[0]!, (i + 1) * SIZES[0]!)));
    let delta = Float64Array.from(outputDelta.subarray(i * 3, (i + 1) * 3));
    let offset = kernels.dim;
    for (let p = layers - 1; p >= 0; p--) {
      const fanIn = SIZES[p]!;
      const fanOut = SIZES[p + 1]!;
      offset -= fanIn * fanOut + fanOut;
      for (let r = 0; r < fanIn; r++) for (let c = 0; c < fanOut; c++) expected[offset + r * fanOut + c] += acts[p]![r]! * delta[c]!;
      for (let c = 0; c < fanOut; c++) expected[offset + fanIn * fanOut + c] += delta[c]!;
      const below = new Float64Array(fanIn);
      for (let r = 0; r < fanIn; r++) {
        let sum = 0;
        for (let c = 0; c < fanOut; c++) sum += reference.weights[p]![r * fanOut + c]! * delta[c]!;
        below[r] = acts[p]![r]! > 0 ? sum : 0;
      }
      delta = below;
    }
  }
  const scale = Math.max(...expected.map(Math.abs));
  assertClose(kernels.gradient(), expected, 1e-5 * scale, 'gradient');
});

test('bad shapes and calls out of order are KernelErrors naming the problem', () => {
  const net = network(false, 500);
  assert.throws(() => CurvatureProducts.create({ ...net, sizes: [7] }), (e: unknown) => e instanceof KernelError && /at least two positive integers/.test(e.message));
  assert.throws(() => CurvatureProducts.create({ ...net, x: net.x.subarray(1) }), /x has 1049 values, expected 1050/);
  assert.throws(() => CurvatureProducts.create({ ...net, params: net.params.subarray(1) }), /parameters, the sizes give/);
  const kernels = CurvatureProducts.create(net);
  const v = new Float64Array(kernels.dim);
  assert.throws(() => kernels.products([v], ['hessian']), /backward pass at θ̂ is not set/);
  assert.throws(() => kernels.traceTerms(), /backward pass at θ̂ is not set/);
  assert.throws(() => kernels.setBackward({ outputDelta: new Float32Array(3), probs: new Float32Array(450) }), /outputDelta has 3 values, expected 450/);
  kernels.setBackward({ outputDelta: new Float32Array(450), probs: new Float32Array(450) });
  assert.throws(() => kernels.products([v.subarray(1)], ['hessian']), /direction of length/);
  assert.throws(() => kernels.products([v], []), /1 directions but 0 kinds/);
  assert.throws(() => kernels.logits(net.params.subarray(2)), /params has/);
});
