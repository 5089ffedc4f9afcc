import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FusedTrainer, KernelError, type HostParams } from '../src/index.js';
import { randomIntegers, randomMatrix } from './random.js';
import { forward, toNet, type Net } from './reference.js';

// ---- A float64 reference of one training step, written from the textbook formulas. ----

interface Batch {
  x: Float64Array[]; // one row per sample
  labels: number[];
}

function crossEntropy(logits: Float64Array, label: number): number {
  const max = Math.max(...logits);
  const logSum = Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0)) + max;
  return logSum - logits[label]!;
}

function meanLoss(net: Net, batch: Batch): number {
  let total = 0;
  batch.x.forEach((x, r) => (total += crossEntropy(forward(net, x).at(-1)!, batch.labels[r]!)));
  return total / batch.x.length;
}

// Backpropagation per sample: δ_L = (softmax − onehot)/B; ∂W_p = a_pᵀ δ_p; ∂b_p = δ_p; δ_{p−1} = (δ_p W_pᵀ) ⊙ [a_p > 0].
function gradient(net: Net, batch: Batch): Net {
  const layers = net.sizes.length - 1;
  const grad: Net = {
    sizes: net.sizes,
    weights: net.weights.map((w) => new Float64Array(w.length)),
    biases: net.biases?.map((b) => new Float64Array(b.length)) ?? null,
  };
  const size = batch.x.length;
  batch.x.forEach((x, r) => {
    const acts = forward(net, x);
    const logits = acts[layers]!;
    const max = Math.max(...logits);
    const sum = logits.reduce((s, l) => s + Math.exp(l - max), 0);
    let delta = logits.map((l, c) => (Math.exp(l - max) / sum - (c === batch.labels[r] ? 1 : 0)) / size);
    for (let p = layers - 1; p >= 0; p--) {
      const fanIn = net.sizes[p]!;
      const fanOut = net.sizes[p + 1]!;
      for (let i = 0; i < fanIn; i++) for (let j = 0; j < fanOut; j++) grad.weights[p]![i * fanOut + j]! += acts[p]![i]! * delta[j]!;
      if (grad.biases) for (let j = 0; j < fanOut; j++) grad.biases[p]![j]! += delta[j]!;
      const below = new Float64Array(fanIn);
      for (let i = 0; i < fanIn; i++) {
        let s = 0;
        for (let j = 0; j < fanOut; j++) s += delta[j]! * net.weights[p]![i * fanOut + j]!;
        below[i] = acts[p]![i]! > 0 ? s : 0;
      }
      delta = below;
    }
  });
  return grad;
}

// PyTorch's Adam: m = β1 m + (1−β1) g, v = β2 v + (1−β2) g², θ −= lr · m̂ / (√v̂ + ε), m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ).
class ReferenceAdam {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private t = 0;

  constructor(
    net: Net,
    private readonly lr: number,
  ) {
    this.m = tensors(net).map((a) => new Float64Array(a.length));
    this.v = tensors(net).map((a) => new Float64Array(a.length));
  }

  step(net: Net, grad: Net): void {
    const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
    this.t++;
    const g = tensors(grad);
    tensors(net).forEach((theta, k) => {
      for (let i = 0; i < theta.length; i++) {
        this.m[k]![i] = beta1 * this.m[k]![i]! + (1 - beta1) * g[k]![i]!;
        this.v[k]![i] = beta2 * this.v[k]![i]! + (1 - beta2) * g[k]![i]! ** 2;
        const mHat = this.m[k]![i]! / (1 - beta1 ** this.t);
        const vHat = this.v[k]![i]! / (1 - beta2 ** this.t);
        theta[i]! -= (this.lr * mHat) / (Math.sqrt(vHat) + eps);
      }
    });
  }
}

function tensors(net: Net): Float64Array[] {
  return [...net.weights, ...(net.biases ?? [])];
}

function hostTensors(params: HostParams): Float32Array[] {
  return [...params.weights, ...(params.biases ?? [])];
}

// ---- Fixtures ----

interface Case {
  name: string;
  sizes: number[];
  bias: boolean;
  batchSize: number;
  rows: number;
}

// Odd widths exercise the products' tails; widths of 16 and batches ≥ 4 their 4×16 blocks.
const CASES: Case[] = [
  { name: 'odd widths with bias', sizes: [7, 5, 6, 3], bias: true, batchSize: 6, rows: 20 },
  { name: 'odd widths without bias', sizes: [7, 5, 6, 3], bias: false, batchSize: 6, rows: 20 },
  { name: 'width 16 with bias', sizes: [20, 16, 16, 16, 10], bias: true, batchSize: 9, rows: 30 },
  { name: 'width 16 without bias', sizes: [20, 16, 16, 16, 10], bias: false, batchSize: 9, rows: 30 },
];

const LR = 1e-2;

function initialParams(c: Case, seed: number): HostParams {
  const layers = c.sizes.length - 1;
  const weights = Array.from({ length: layers }, (_, p) =>
    randomMatrix(c.sizes[p]! * c.sizes[p + 1]!, seed + p).map((u) => u / Math.sqrt(c.sizes[p]!)),
  );
  const biases = c.bias ? Array.from({ length: layers }, (_, p) => randomMatrix(c.sizes[p + 1]!, seed + 100 + p).map((u) => u * 0.1)) : null;
  return { weights, biases };
}

function dataset(c: Case, seed: number): { x: Float32Array; y: Int32Array } {
  return { x: randomMatrix(c.rows * c.sizes[0]!, seed), y: randomIntegers(c.rows, c.sizes.at(-1)!, seed + 1) };
}

function batchOf(data: { x: Float32Array; y: Int32Array }, dim: number, indices: Int32Array): Batch {
  return {
    x: Array.from(indices, (i) => Float64Array.from(data.x.subarray(i * dim, (i + 1) * dim))),
    labels: Array.from(indices, (i) => data.y[i]!),
  };
}

async function trainerFor(c: Case, seed: number): Promise<{ trainer: FusedTrainer; data: { x: Float32Array; y: Int32Array }; init: HostParams }> {
  const trainer = await FusedTrainer.create({ sizes: c.sizes, bias: c.bias, batchSize: c.batchSize }, { lr: LR });
  const data = dataset(c, seed);
  const init = initialParams(c, seed + 10);
  trainer.setData(data.x, data.y);
  trainer.setParams(init);
  return { trainer, data, init };
}

// Full batches then a smaller last one, rows drawn with repeats allowed.
function batches(c: Case, count: number, seed: number): Int32Array[] {
  return Array.from({ length: count }, (_, k) => randomIntegers(k === count - 1 ? Math.max(1, c.batchSize - 2) : c.batchSize, c.rows, seed + k));
}

// Float32 arithmetic over these few-dozen-term sums errs by ~1e-6 of the largest magnitude involved.
function assertCloseTo(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `${label}[${i}]: ${actual[i]} vs ${expected[i]} (tolerance ${tolerance})`);
  }
}

function largest(arrays: ArrayLike<number>[]): number {
  return Math.max(...arrays.flatMap((a) => Array.from(a, Math.abs)));
}

// ---- Tests ----

for (const c of CASES) {
  test(`one fused step (${c.name}): loss, gradient and Adam update equal the float64 reference`, async () => {
    const { trainer, data, init } = await trainerFor(c, 1);
    const [indices] = batches(c, 1, 50);
    const batch = batchOf(data, c.sizes[0]!, indices!);
    const net = toNet(c.sizes, init);
    const expectedLoss = meanLoss(net, batch);
    const expectedGrad = gradient(net, batch);

    const loss = trainer.step(indices!);

    assert.ok(Math.abs(loss - expectedLoss) <= 1e-6 * Math.max(1, expectedLoss), `loss ${loss} vs ${expectedLoss}`);
    const grads = hostTensors(trainer.gradients());
    const scale = largest(tensors(expectedGrad));
    tensors(expectedGrad).forEach((g, k) => assertCloseTo(grads[k]!, g, 1e-5 * scale, `gradient ${k}`));
    new ReferenceAdam(net, LR).step(net, expectedGrad);
    // The first update is ≈ lr·sign(g); float32 storage of θ adds ~6e-8·|θ|.
    hostTensors(trainer.params()).forEach((theta, k) => assertCloseTo(theta, tensors(net)[k]!, 1e-4 * LR + 1e-6, `parameter ${k}`));
  });

  test(`fused gradient (${c.name}) equals float64 central differences of the mean batch loss`, async () => {
    const { trainer, data, init } = await trainerFor(c, 2);
    const [indices] = batches(c, 1, 60);
    const batch = batchOf(data, c.sizes[0]!, indices!);
    const net = toNet(c.sizes, init);
    trainer.step(indices!);
    const grads = hostTensors(trainer.gradients());
    const explicit = tensors(gradient(net, batch));
    const scale = largest(explicit);
    const h = 1e-6;
    tensors(net).forEach((theta, k) => {
      for (let i = 0; i < theta.length; i++) {
        const saved = theta[i]!;
        theta[i] = saved + h;
        const up = meanLoss(net, batch);
        theta[i] = saved - h;
        const down = meanLoss(net, batch);
        theta[i] = saved;
        const numeric = (up - down) / (2 * h);
        // The reference's formulas against differences (float64, error ~h² + ε/h ≈ 1e-10), then the kernel (float32).
        assert.ok(Math.abs(explicit[k]![i]! - numeric) <= 1e-7 * Math.max(1, scale), `reference ${k}[${i}]: ${explicit[k]![i]} vs ${numeric}`);
        assert.ok(Math.abs(grads[k]![i]! - numeric) <= 1e-5 * scale, `kernel ${k}[${i}]: ${grads[k]![i]} vs ${numeric}`);
      }
    });
  });

  test(`several fused steps (${c.name}) track the float64 reference within float32 tolerance`, async () => {
    const { trainer, data, init } = await trainerFor(c, 3);
    const net = toNet(c.sizes, init);
    const adam = new ReferenceAdam(net, LR);
    for (const indices of batches(c, 6, 70)) {
      const batch = batchOf(data, c.sizes[0]!, indices);
      const expectedLoss = meanLoss(net, batch);
      const loss = trainer.step(indices);
      assert.ok(Math.abs(loss - expectedLoss) <= 1e-5 * Math.max(1, expectedLoss), `loss ${loss} vs ${expectedLoss}`);
      adam.step(net, gradient(net, batch));
    }
    hostTensors(trainer.params()).forEach((theta, k) => assertCloseTo(theta, tensors(net)[k]!, 1e-3 * LR, `parameter ${k}`));
  });
}

test('fused training is deterministic: same inputs give identical bytes', async () => {
  const c = CASES[2]!;
  const runs = await Promise.all([trainerFor(c, 4), trainerFor(c, 4)]);
  const losses = runs.map(({ trainer }) => batches(c, 5, 80).map((indices) => trainer.step(indices)));
  assert.deepEqual(losses[0], losses[1]);
  const bytes = runs.map(({ trainer }) => hostTensors(trainer.params()).map((a) => Buffer.from(a.buffer)));
  bytes[0]!.forEach((b, k) => assert.ok(b.equals(bytes[1]![k]!), `parameter ${k} differs`));
});

test('setParams restarts Adam: the same step after it gives the same parameters', async () => {
  const c = CASES[0]!;
  const { trainer, init } = await trainerFor(c, 5);
  const [first, second] = batches(c, 2, 90);
  trainer.step(first!);
  const once = hostTensors(trainer.params());
  trainer.step(second!);
  trainer.setParams(init);
  trainer.step(first!);
  hostTensors(trainer.params()).forEach((theta, k) => assert.deepEqual(theta, once[k]));
});

test('bad shapes, labels, batches and parameters are KernelErrors naming the problem', async () => {
  const c = CASES[0]!;
  await assert.rejects(FusedTrainer.create({ sizes: [3], bias: true, batchSize: 2 }, { lr: LR }), KernelError);
  await assert.rejects(FusedTrainer.create({ sizes: [3, 2], bias: true, batchSize: 0 }, { lr: LR }), /batch size 0/);
  const trainer = await FusedTrainer.create({ sizes: c.sizes, bias: c.bias, batchSize: c.batchSize }, { lr: LR });
  assert.throws(() => trainer.step([0]), /no data/);
  const data = dataset(c, 6);
  assert.throws(() => trainer.setData(data.x.subarray(1), data.y), /inputs for/);
  assert.throws(() => trainer.setData(data.x, Int32Array.from(data.y, (y, i) => (i === 4 ? 3 : y))), /label 3 of row 4/);
  trainer.setData(data.x, data.y);
  assert.throws(() => trainer.step([0, c.rows]), /batch row 1 is 20/);
  assert.throws(() => trainer.step(new Int32Array(c.batchSize + 1)), /batch of 7 rows/);
  const init = initialParams(c, 7);
  assert.throws(() => trainer.setParams({ weights: init.weights, biases: null }), /bias vectors/);
  assert.throws(() => trainer.setParams({ weights: [init.weights[0]!.subarray(1), ...init.weights.slice(1)], biases: init.biases }), /weights\[0\] has 34 values/);
});
