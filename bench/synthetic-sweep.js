// A large synthetic sweep directory for the analysis benchmarks (aggregate, report, export): result rows
// written with the project's writer, every column filled as a real cell fills it (64-point D_k curves, top-5
// spectra, 256-point densities), plus a manifest, so every reader (`report` needs one) takes it for a sweep.
// Grid: 5 datasets × 10 widths × 10 depths × 20 sample sizes × 100 seeds = 1,000,000 cells planned (the
// manifest's cell_count). Rows arrive in a shuffled cell order; 1% of first attempts fail and half of those
// succeed on a retry written to the last part files ("failed, then ok"), so a run of N rows has fewer
// distinct cells than rows, and some planned cells have no row yet.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lib } from './common.js';

export const SWEEP = 'bench';
const DATASETS = ['mnist', 'fashion_mnist', 'cifar10', 'cifar100', 'features'];
const WIDTHS = [4, 8, 12, 16, 24, 32, 48, 64, 96, 128];
const DEPTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const SAMPLE_SIZES = Array.from({ length: 20 }, (_, i) => 500 * (i + 1));
const SEEDS = 100;
const CURVE_POINTS = 64;
const DENSITY_POINTS = 256;
/** Cells the grid plans: the manifest's cell_count. */
export const PLANNED_CELLS = DATASETS.length * WIDTHS.length * DEPTHS.length * SAMPLE_SIZES.length * SEEDS;

/** A seeded uniform [0, 1) source: the project's Rng. */
async function rng(seed) {
  const { Rng } = await lib('landscape');
  const source = new Rng(seed);
  return () => source.uniform();
}

/** The log-spaced k grid a cell of sample size m stores (as landscape's curve does: 10 … m − 1, distinct integers). */
const kGrids = new Map();
function kGrid(m) {
  if (!kGrids.has(m)) {
    const ks = new Set();
    for (let i = 0; i < CURVE_POINTS * 4 && ks.size < CURVE_POINTS; i++) {
      ks.add(Math.round(Math.exp(Math.log(10) + ((Math.log(m - 1) - Math.log(10)) * i) / (CURVE_POINTS - 1))));
    }
    kGrids.set(m, [...ks].sort((a, b) => a - b).slice(0, CURVE_POINTS));
  }
  return kGrids.get(m);
}

const DENSITY_X = Array.from({ length: DENSITY_POINTS }, (_, i) => -1 + (i * 60) / (DENSITY_POINTS - 1));

/** Cell number c (0 … PLANNED_CELLS − 1) in grid order: dataset, width, depth, sample size, seed. */
function cellOf(c) {
  let r = c;
  const seed = r % SEEDS; r = Math.floor(r / SEEDS);
  const sample_size = SAMPLE_SIZES[r % SAMPLE_SIZES.length]; r = Math.floor(r / SAMPLE_SIZES.length);
  const depth = DEPTHS[r % DEPTHS.length]; r = Math.floor(r / DEPTHS.length);
  const width = WIDTHS[r % WIDTHS.length]; r = Math.floor(r / WIDTHS.length);
  const dataset = DATASETS[r % DATASETS.length];
  return { dataset, width, depth, sample_size, seed };
}

function row(c, status, attempt, next) {
  const cell = cellOf(c);
  const base = {
    cell_id: c.toString(16).padStart(16, '0'), sweep: SWEEP, status, error: null, ...cell,
    epochs: 10, batch_size: 64, optimizer: 'adam', lr: 1e-3, bias: false, init: 'uniform', permutations: 100,
    backend: 'wasm', worker: `node-${c % 7}/0`, attempt,
    load_s: 0.1, train_s: 1, losses_s: 0.05, curve_s: 0.2, hessian_s: 2, ggn_s: 1.5, trace_s: 0.1, density_s: 0.05, bound_s: 0.01, total_s: 5,
    finished_at: '2026-11-28T12:00:00.000Z',
  };
  const none = {
    n_params: null, train_loss: null, train_accuracy: null, loss_diff_k: null, loss_diff: null, loss_diff_slope: null,
    hessian_top: null, hessian_residuals: null, hessian_iters: null, ggn_top: null, ggn_residuals: null, ggn_iters: null,
    hessian_trace: null, ggn_trace: null, hessian_trace_hutchinson: null, hessian_trace_se: null, density_x: null, density_y: null,
    bound: null, m_w: null, m_x: null,
  };
  if (status === 'failed') return { ...base, ...none, error: 'worker lost: deliveries exhausted' };
  const k = kGrid(cell.sample_size);
  const scale = 1 + next();
  const lambda = cell.width * (1 + next()) * 2;
  const top = Array.from({ length: 5 }, (_, i) => lambda / (i + 1));
  return {
    ...base, ...none,
    n_params: 784 * cell.width + cell.depth * cell.width * cell.width + cell.width * 10,
    train_loss: 0.2 * next(), train_accuracy: 0.9 + 0.1 * next(),
    loss_diff_k: k, loss_diff: k.map((kk) => (scale / kk) * (1 + 0.05 * next())), loss_diff_slope: -1 + 0.1 * (next() - 0.5),
    hessian_top: top, hessian_residuals: top.map(() => 1e-8 * next()), hessian_iters: 30,
    ggn_top: top.map((v) => v * 0.95), ggn_residuals: top.map(() => 1e-8 * next()), ggn_iters: 30,
    hessian_trace: lambda * 4, ggn_trace: lambda * 4, hessian_trace_hutchinson: null, hessian_trace_se: null,
    density_x: DENSITY_X, density_y: DENSITY_X.map(() => next() / DENSITY_POINTS),
    bound: lambda * 1e3 * (1 + next()), m_w: 2 + next(), m_x: 28,
  };
}

/** The spec the manifest records (its grid is the one generated) and its hashes. */
async function benchSpec() {
  const grid = await lib('grid');
  const text = JSON.stringify({
    name: SWEEP,
    grid: { dataset: DATASETS, width: WIDTHS, depth: DEPTHS, sample_size: SAMPLE_SIZES, seed: Array.from({ length: SEEDS }, (_, i) => i) },
    data_dir: '/data', features: '/data/features.arrow',
  });
  const spec = grid.parseSpec(text, 'bench.json');
  return { spec, hash: grid.specHash(spec), settingsHash: grid.specSettingsHash(spec), version: grid.HESSWEEP_VERSION };
}

/** Retries among `rows` rows (the rest are first attempts, one per cell). */
const retriesOf = (rows) => Math.floor(rows * 0.005);

/** Every planned cell, in the (seeded) order their first rows arrive; `next` continues the same random source. */
async function arrivalOrder() {
  const next = await rng(1);
  const order = new Uint32Array(PLANNED_CELLS).map((_, i) => i);
  for (let i = PLANNED_CELLS - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return { order, next };
}

async function generate(dir, rows, parts) {
  const { writeResultFile, writeManifest } = await lib('results');
  const { spec, hash, settingsHash, version } = await benchSpec();
  const perPart = Math.ceil(rows / parts);
  // First attempts: cells in a shuffled order (rows arrive as cells finish), 1% failed; the last rows are
  // retries, now ok, of half the failed cells (in the last part files: "failed, then ok").
  const failedCells = [];
  const retries = retriesOf(rows);
  const cells = rows - retries;
  if (cells > PLANNED_CELLS) throw new Error(`at most ${PLANNED_CELLS} cells in this grid`);
  const { order, next } = await arrivalOrder();
  mkdirSync(join(dir, 'parts'), { recursive: true });
  const now = new Date().toISOString();
  await writeManifest(join(dir, 'manifest.json'), {
    sweep: SWEEP, spec, spec_hash: hash, spec_hashes: [hash], settings_hash: settingsHash, cell_count: PLANNED_CELLS,
    versions: { hessweep: version, node: process.version }, created: now, updated: now,
  });
  const start = performance.now();
  let written = 0;
  for (let p = 0; p < parts; p++) {
    const batch = [];
    for (let i = 0; i < perPart && written < rows; i++, written++) {
      if (written < cells) {
        const c = order[written];
        const fail = next() < 0.01;
        if (fail) failedCells.push(c);
        batch.push(row(c, fail ? 'failed' : 'ok', 1, next));
      } else {
        if (failedCells.length < retries) throw new Error('too few failed cells to retry; use more rows');
        batch.push(row(failedCells[written - cells], 'ok', 2, next));
      }
    }
    await writeResultFile(join(dir, 'parts', `part-${String(p).padStart(6, '0')}.arrow`), batch, { sweep: SWEEP, specHash: hash, version });
    const elapsed = (performance.now() - start) / 1000;
    process.stdout.write(`\r  generating: part ${p + 1}/${parts}, ${written.toLocaleString('en-US')} rows, ${elapsed.toFixed(0)} s, about ${((elapsed / (p + 1)) * (parts - p - 1)).toFixed(0)} s left   `);
  }
  process.stdout.write('\n');
}

/**
 * Makes `dir` a synthetic sweep of `rows` result rows in `parts` part files, or reuses it when an earlier call
 * completed it with the same sizes (generating 1,000,000 rows takes minutes).
 */
export async function syntheticSweep(dir, rows, parts) {
  const complete = join(dir, 'bench-complete');
  const stamp = `${rows} ${parts} v2\n`;
  if (existsSync(complete) && readFileSync(complete, 'utf8') === stamp) {
    console.log(`reusing ${dir} (${rows.toLocaleString('en-US')} rows in ${parts} parts)`);
    return;
  }
  rmSync(join(dir, 'parts'), { recursive: true, force: true });
  rmSync(complete, { force: true });
  console.log(`writing ${rows.toLocaleString('en-US')} rows in ${parts} part files under ${dir}`);
  await generate(dir, rows, parts);
  writeFileSync(complete, stamp);
}

/**
 * Writes `count` ok rows of cells that have none yet in a sweep made by syntheticSweep(dir, rows, …) to
 * parts/`name`, as a worker that finished them would: the rows a live report sees land.
 */
export async function writeNewCells(dir, rows, count, name) {
  const { writeResultFile } = await lib('results');
  const { hash, version } = await benchSpec();
  const { order, next } = await arrivalOrder();
  const first = rows - retriesOf(rows);
  if (first + count > PLANNED_CELLS) throw new Error(`only ${PLANNED_CELLS - first} cells have no row`);
  const batch = Array.from({ length: count }, (_, i) => row(order[first + i], 'ok', 1, next));
  await writeResultFile(join(dir, 'parts', name), batch, { sweep: SWEEP, specHash: hash, version });
}
