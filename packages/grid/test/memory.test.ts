import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, MEMORY_MODEL, cellMemory, formatBytes, makeCell, type Cell, type DatasetName, type MeasureSettings } from '../src/index.js';

const cellOf = (dataset: DatasetName, width: number, depth: number, sample_size: number, measure: Partial<MeasureSettings> = {}): Cell =>
  makeCell({ dataset, width, depth, seed: 0, sample_size }, { train: { ...DEFAULT_TRAIN }, measure: { ...DEFAULT_MEASURE, ...measure }, data: {} });

test('the estimate of one cell on either engine, worked by hand from the model in docs/memory.md', () => {
  // fashion_mnist (d 784, K 10), width 32, depth 5, 60,000 samples, default measure (top_k 5, 30 Lanczos steps, GGN).
  const m = 60_000;
  const P = 785 * 32 + 5 * 33 * 32 + 33 * 10; // weights and biases, as parameterCount counts them: 31,730
  // Stabilization: 100 permutations of m int32s, 8 + 4 × 2 σ float64 series of m, S = 5 projected derivatives (5 × (5 + 10 + 1) per sample).
  const stabilization = 4 * m * 100 + 8 * m * (8 + 4 * 2) + 8 * m * 5 * (5 + 10 + 1);
  // Data, labels and losses, probabilities and output δ, 2 × 32 top-k Lanczos bases, training state.
  const host = 1.25 * (4 * m * 784 + 16 * m + 12 * m * 10 + 2 * 32 * 8 * P + 32 * P + stabilization);

  // Kernels: X; 6 hidden layers' activations and δ; 5 output-sized arrays; traces; 5 projections; P-sized buffers.
  const module = 4 * (m * 784 + 2 * 6 * m * 32 + 5 * m * 10 + m + m * 5 * (10 + 5) + 28 * P);
  const kernels = cellMemory(cellOf('fashion_mnist', 32, 5, m));
  assert.equal(kernels.tensors, Math.ceil(module));
  assert.equal(kernels.host, Math.ceil(host));
  assert.equal(kernels.total, Math.ceil(130 * 2 ** 20 + host + module));
  assert.deepEqual(cellMemory(cellOf('fashion_mnist', 32, 5, m), 'kernels'), kernels);

  // tfjs: X, Xᵀ; 6 hidden layers × 5 tensors; output; W, Wᵀ; the trace is larger than a product pass (1 direction per pass since m·784 > 2^23).
  const held = 2 * m * 784 + 5 * 6 * m * 32 + 4 * m * 10 + 2 * P;
  const trace = m * 784 + 3 * m * 10 * 32;
  assert.ok(trace > 9 * m * 1 * 32 + 2 * 1 * P);
  const tfjs = cellMemory(cellOf('fashion_mnist', 32, 5, m), 'tfjs');
  assert.equal(tfjs.tensors, Math.ceil(1.25 * 4 * (held + trace)));
  assert.equal(tfjs.host, Math.ceil(host));
  assert.equal(MEMORY_MODEL.base, 130 * 2 ** 20);
});

test('SLQ runs that outgrow the top-k run set the directions of a tfjs pass and the Lanczos bases, worked by hand', () => {
  // synthetic (d 32, K 4), width 16, depth 2, 2,000 samples: a pass takes every direction (2000 · 32 ≪ 2^23).
  const m = 2_000;
  const P = 33 * 16 + 2 * 17 * 16 + 17 * 4; // 1,140
  const held = 2 * m * 32 + 5 * 3 * m * 16 + 4 * m * 4 + 2 * P;
  const trace = m * 32 + 3 * m * 4 * 16;
  const products = 6 * m * 8 * 16 + 2 * 8 * P; // 8 SLQ runs in one pass, more than the 2 top-k processes
  assert.ok(products > trace);
  const stabilization = 4 * m * 100 + 8 * m * (8 + 4 * 2) + 8 * m * 5 * (5 + 4 + 1);
  const common = 4 * m * 32 + 16 * m + 12 * m * 4 + 32 * P + stabilization;
  const estimate = cellMemory(cellOf('synthetic', 16, 2, m, { density_runs: 8, density_steps: 50 }), 'tfjs');
  assert.equal(estimate.tensors, Math.ceil(1.25 * 4 * (held + products)));
  assert.equal(estimate.host, Math.ceil(1.25 * (common + 8 * (50 + 2) * 8 * P))); // 8 × 52 SLQ bases, more than 2 × 32 top-k ones
  // With density off the same runs count for nothing: the 5 stabilization directions, the top-k bases.
  const off = cellMemory(cellOf('synthetic', 16, 2, m, { density: false, density_runs: 8, density_steps: 50 }), 'tfjs');
  assert.equal(off.tensors, Math.ceil(1.25 * 4 * (held + Math.max(trace, 6 * m * 5 * 16 + 2 * 5 * P))));
  assert.equal(off.host, Math.ceil(1.25 * (common + 2 * 32 * 8 * P)));
});

for (const engine of ['kernels', 'tfjs'] as const) test(`more samples, width or depth never estimate less; nor do GGN, more Lanczos steps or Hutchinson probes (${engine})`, () => {
  const datasets: DatasetName[] = ['synthetic', 'mnist', 'cifar100'];
  const samples = [2, 100, 2_000, 10_000, 60_000, 500_000];
  const widths = [1, 4, 16, 64, 256, 1024];
  const depths = [0, 1, 2, 5, 10];
  for (const dataset of datasets) {
    for (const m of samples) {
      for (const h of widths) {
        for (const D of depths) {
          const here = cellMemory(cellOf(dataset, h, D, m), engine).total;
          const where = `${dataset} m ${m} h ${h} D ${D}`;
          assert.ok(here > MEMORY_MODEL.base, where);
          if (m < samples.at(-1)!) assert.ok(cellMemory(cellOf(dataset, h, D, samples[samples.indexOf(m) + 1]), engine).total >= here, `${where}: more samples`);
          if (h < widths.at(-1)!) assert.ok(cellMemory(cellOf(dataset, widths[widths.indexOf(h) + 1], D, m), engine).total >= here, `${where}: wider`);
          if (D < depths.at(-1)!) assert.ok(cellMemory(cellOf(dataset, h, depths[depths.indexOf(D) + 1], m), engine).total >= here, `${where}: deeper`);
          const measured = (measure: Partial<MeasureSettings>) => cellMemory(cellOf(dataset, h, D, m, measure), engine).total;
          assert.ok(measured({ ggn: false }) <= here, `${where}: GGN`);
          assert.ok(measured({ top_k: 0 }) <= measured({ ggn: false }), `${where}: no spectrum`);
          assert.ok(measured({ lanczos_iters: 100 }) >= here, `${where}: more Lanczos steps`);
          assert.ok(measured({ trace_probes: 10 }) >= here, `${where}: Hutchinson probes`);
          assert.ok(measured({ density_runs: 16 }) >= here, `${where}: more SLQ runs`);
          assert.ok(measured({ density_steps: 100 }) >= here, `${where}: longer SLQ runs`);
          assert.ok(measured({ density: false }) <= here, `${where}: no density`);
          assert.ok(measured({ density_runs: 0 }) <= here, `${where}: no SLQ runs`);
          assert.ok(measured({ stabilization: { ...DEFAULT_MEASURE.stabilization, subspace: 0 } }) <= here, `${where}: no probes`);
          assert.ok(measured({ permutations: 200 }) >= here, `${where}: more permutations`);
        }
      }
    }
  }
});

test('a larger input or more classes never estimate less', () => {
  const base = { width: 32, depth: 3, sample_size: 5_000 };
  const synthetic = (dim: number, classes: number) =>
    cellMemory({ ...makeCell({ dataset: 'synthetic', seed: 0, ...base }, { train: DEFAULT_TRAIN, measure: DEFAULT_MEASURE, data: { synthetic_dim: dim, synthetic_classes: classes } }) }).total;
  for (const dim of [1, 32, 784, 3072]) {
    for (const classes of [2, 10, 100]) {
      assert.ok(synthetic(dim * 2, classes) >= synthetic(dim, classes), `dim ${dim}`);
      assert.ok(synthetic(dim, classes * 2) >= synthetic(dim, classes), `classes ${classes}`);
    }
  }
  assert.ok(cellMemory(cellOf('cifar10', 32, 3, 5_000)).total > cellMemory(cellOf('mnist', 32, 3, 5_000)).total, '3072 inputs over 784');
});

test('formatBytes: powers of 1024 with three significant digits at most', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.00 KiB');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(31.5 * 2 ** 20), '31.5 MiB');
  assert.equal(formatBytes(1000 * 2 ** 20), '1000 MiB');
  assert.equal(formatBytes(1.4 * 2 ** 30), '1.40 GiB');
  assert.equal(formatBytes(3 * 2 ** 40), '3.00 TiB');
});
