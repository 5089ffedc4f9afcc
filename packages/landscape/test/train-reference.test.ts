/**
 * The fused training step is the same training as the tfjs path on the reference cell (FashionMNIST, first
 * 10,000 samples, 784-16×6-10 without biases, batch 64, Adam 1e-3): its per-step gradients equal the tfjs
 * path's at the same weights and batch, and trained networks land within the spread of seeds.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { FusedTrainer } from '@hessweep/kernels';
import { useBackend } from '../src/backend.js';
import { Curvature } from '../src/curvature.js';
import { loadDataset } from '../src/data/load.js';
import { initParams, mlpArchitecture, type Architecture, type Params } from '../src/model.js';
import { Rng } from '../src/random.js';
import { TfjsBatchGradients, trainFused, trainTfjs } from '../src/train.js';
import type { Dataset } from '../src/data/types.js';

const BATCH = 64;
let data: Dataset;
let arch: Architecture;

before(async () => {
  assert.equal(await useBackend('wasm'), 'wasm');
  data = await loadDataset('fashion_mnist', {}, 10_000);
  arch = mlpArchitecture(data.dim, 16, 5, data.classes, false);
});

function norm(values: Float32Array, minus?: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] - (minus ? minus[i] : 0)) ** 2;
  return Math.sqrt(sum);
}

/** The [cols × rows] row-major matrix `t` read back as [rows × cols]. */
function untranspose(t: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = t[c * rows + r];
  return out;
}

test('on the reference cell the fused step computes the tfjs path\'s gradient to 1e-5 relative, along 200 steps of training', async () => {
  const params = initParams(arch, 'uniform', new Rng(7));
  const fused = await FusedTrainer.create({ sizes: arch.sizes, bias: false, batchSize: BATCH }, { lr: 1e-3 });
  fused.setData(data.x, data.y);
  fused.setParams(params);
  // The tfjs path reads these arrays at every call: they are refreshed from the fused trainer before each check.
  const current: Params = { weights: params.weights.map((w) => w.slice()), biases: null };
  const tfjs = new TfjsBatchGradients(data, arch, current, BATCH);
  const rng = new Rng(8);
  const checked = new Set([0, 1, 10, 100, 199]);
  let worst = 0;
  for (let step = 0; step < 200; step++) {
    const rows = rng.permutation(data.n).subarray(0, BATCH);
    if (!checked.has(step)) {
      fused.step(rows);
      continue;
    }
    fused.params().weights.forEach((w, p) => current.weights[p].set(w));
    const tfjsLoss = tfjs.compute(rows);
    const fusedLoss = fused.step(rows);
    assert.ok(Math.abs(fusedLoss - tfjsLoss) <= 1e-6 * tfjsLoss, `step ${step}: loss fused ${fusedLoss} vs tfjs ${tfjsLoss}`);
    fused.gradients().weights.forEach((g, p) => {
      const expected = p === 0 ? untranspose(tfjs.grads[0], arch.sizes[0], arch.sizes[1]) : tfjs.grads[p];
      const scale = norm(expected);
      assert.ok(scale > 0, `step ${step}: layer ${p} has a zero gradient`);
      const rel = norm(g, expected) / scale;
      worst = Math.max(worst, rel);
      assert.ok(rel <= 1e-5, `step ${step}, layer ${p}: ‖g_fused − g_tfjs‖/‖g_tfjs‖ = ${rel}`);
    });
  }
  // Stated for the record: float32 products summed in different orders.
  process.stdout.write(`worst per-layer relative gradient difference ${worst.toExponential(2)}\n`);
});

test('trained on the reference cell (10 epochs), the fused step lands within the spread of the tfjs path over seeds', async () => {
  const seeds = [0, 1, 2];
  const outcome = async (seed: number, run: typeof trainFused | typeof trainTfjs) => {
    const params = initParams(arch, 'uniform', new Rng(1000 + seed));
    await run(data, arch, params, { epochs: 10, batchSize: BATCH, lr: 1e-3, rng: new Rng(2000 + seed) });
    const curvature = new Curvature(arch, params, data);
    try {
      return { loss: curvature.meanLoss(), accuracy: curvature.accuracy };
    } finally {
      curvature.dispose();
    }
  };
  const tfjs = [];
  const fused = [];
  for (const seed of seeds) {
    tfjs.push(await outcome(seed, trainTfjs));
    fused.push(await outcome(seed, trainFused));
  }
  process.stdout.write(`tfjs  ${tfjs.map((o) => `${o.loss.toFixed(4)}/${o.accuracy.toFixed(4)}`).join('  ')}\n`);
  process.stdout.write(`fused ${fused.map((o) => `${o.loss.toFixed(4)}/${o.accuracy.toFixed(4)}`).join('  ')}\n`);
  for (const key of ['loss', 'accuracy'] as const) {
    const values = tfjs.map((o) => o[key]);
    const low = Math.min(...values);
    const high = Math.max(...values);
    const spread = high - low;
    assert.ok(spread > 0, `tfjs seeds gave one ${key}`);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const gap = Math.abs(mean(fused.map((o) => o[key])) - mean(values));
    assert.ok(gap <= spread, `${key}: fused mean differs from the tfjs mean by ${gap}, more than the tfjs seeds' spread ${spread}`);
    for (const o of fused) assert.ok(o[key] >= low - spread / 2 && o[key] <= high + spread / 2, `${key} ${o[key]} outside the tfjs seeds' [${low}, ${high}] ± half its width`);
  }
  // Training happened: the loss is well below ln 10 = 2.30 (chance) for every run.
  for (const o of [...tfjs, ...fused]) assert.ok(o.loss < 0.7 && o.accuracy > 0.75, `loss ${o.loss}, accuracy ${o.accuracy}`);
});
