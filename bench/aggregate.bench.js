// Aggregation at scale: a results directory of 1,000,000 rows (100 part files × 10,000 rows, written with the
// project's writer, every column filled as a real cell fills it: 64-point curves, top-5 spectra, 256-point
// densities), then `aggregate` + `writeSummary` timed in a fresh child process, with its peak RSS.
// Groups: 5 datasets × 10 widths × 10 depths × 20 sample sizes × 100 seeds = 1,000,000 cells planned; 1% of
// the first attempts fail and half of those succeed on a retry written to the last part files (failed then
// ok), so the rows are 1,000,000 and the distinct cells fewer. Targets: under 10 s and under 2 GB.
// Usage: npm run bench -- aggregate [--rows 1000000] [--parts 100] [--dir DIR (reused if complete)] [--keep] [--runs 1]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(import.meta.url);
const root = join(dirname(here), '..');
const lib = (name) => import(join(root, `packages/${name}/dist/src/index.js`));
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    parts: { type: 'string', default: '100' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    child: { type: 'string' },
  },
});

if (values.child) {
  // The measured process: aggregate + writeSummary on a directory, one JSON line of results.
  const { aggregate, writeSummary } = await lib('analysis');
  const start = performance.now();
  const result = await aggregate(values.child);
  const aggregated = performance.now();
  await writeSummary(values.child, result);
  const end = performance.now();
  process.stdout.write(`${JSON.stringify({
    aggregate_s: (aggregated - start) / 1000, summary_s: (end - aggregated) / 1000, total_s: (end - start) / 1000,
    groups: result.rows.length, cells: result.cells, failed: result.failed.length, parts: result.parts,
    ok: result.rows.reduce((s, r) => s + r.seeds_ok, 0), max_rss_mb: process.resourceUsage().maxRSS / 1024,
  })}\n`);
  process.exit(0);
}

const DATASETS = ['mnist', 'fashion_mnist', 'cifar10', 'cifar100', 'features'];
const WIDTHS = [4, 8, 12, 16, 24, 32, 48, 64, 96, 128];
const DEPTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const SAMPLE_SIZES = Array.from({ length: 20 }, (_, i) => 500 * (i + 1));
const SEEDS = 100;
const CURVE_POINTS = 64;
const DENSITY_POINTS = 256;

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

/** Cell number c (0 … cells − 1) in grid order: dataset, width, depth, sample size, seed. */
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
    cell_id: c.toString(16).padStart(16, '0'), sweep: 'bench', status, error: null, ...cell,
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

async function generate(dir, rows, parts) {
  const { writeResultFile } = await lib('results');
  const perPart = Math.ceil(rows / parts);
  const next = await rng(1);
  // First attempts: cells in a shuffled order (rows arrive as cells finish), 1% failed; the last rows are
  // retries, now ok, of half the failed cells (in the last part files: "failed, then ok").
  const failedCells = [];
  const retries = Math.floor(rows * 0.005);
  const cells = rows - retries;
  const order = new Uint32Array(cells).map((_, i) => i);
  for (let i = cells - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  mkdirSync(join(dir, 'parts'), { recursive: true });
  writeFileSync(join(dir, 'bench.json'), JSON.stringify({ sweep: 'bench', cells, rows, parts }));
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
    await writeResultFile(join(dir, 'parts', `part-${String(p).padStart(6, '0')}.arrow`), batch, { sweep: 'bench', specHash: 'bench', version: '0.2.0' });
    const elapsed = (performance.now() - start) / 1000;
    process.stdout.write(`\r  generating: part ${p + 1}/${parts}, ${written.toLocaleString('en-US')} rows, ${elapsed.toFixed(0)} s, about ${((elapsed / (p + 1)) * (parts - p - 1)).toFixed(0)} s left   `);
  }
  process.stdout.write('\n');
  writeFileSync(join(dir, 'bench-complete'), `${rows} ${parts}\n`);
}

const rows = Number(values.rows);
const parts = Number(values.parts);
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'hessweep-bench-aggregate-'));
const complete = join(dir, 'bench-complete');
const reuse = existsSync(complete) && readFileSync(complete, 'utf8').trim() === `${rows} ${parts}`;
try {
  if (reuse) {
    console.log(`reusing ${dir} (${rows.toLocaleString('en-US')} rows in ${parts} parts)`);
  } else {
    rmSync(join(dir, 'parts'), { recursive: true, force: true });
    console.log(`writing ${rows.toLocaleString('en-US')} rows in ${parts} part files under ${dir}`);
    await generate(dir, rows, parts);
  }
  const partsDir = join(dir, 'parts');
  const bytes = readdirSync(partsDir).reduce((s, n) => s + statSync(join(partsDir, n)).size, 0);
  console.log(`results: ${(bytes / 2 ** 30).toFixed(2)} GiB of part files`);
  const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
  for (let r = 0; r < Number(values.runs); r++) {
    const args = [here, '--child', dir];
    const started = performance.now();
    const out = timeBin
      ? spawnSync(timeBin, ['-v', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
      : spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
    const wall = (performance.now() - started) / 1000;
    if (out.status !== 0) throw new Error(`aggregate child failed (${out.status}):\n${out.stderr}`);
    const child = JSON.parse(out.stdout.trim().split('\n').at(-1));
    const rssKb = timeBin ? Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(out.stderr)?.[1]) : child.max_rss_mb * 1024;
    const rssGb = rssKb / 2 ** 20;
    console.log(`run ${r + 1}: ${child.groups.toLocaleString('en-US')} groups, ${child.cells.toLocaleString('en-US')} cells (${child.ok.toLocaleString('en-US')} ok, ${child.failed.toLocaleString('en-US')} failed) from ${child.parts} parts`);
    console.log(`  aggregate ${child.aggregate_s.toFixed(2)} s + writeSummary ${child.summary_s.toFixed(2)} s = ${child.total_s.toFixed(2)} s in-process; ${wall.toFixed(2)} s wall for the process (start to exit)`);
    console.log(`  peak RSS ${rssGb.toFixed(2)} GiB${timeBin ? ' (/usr/bin/time -v)' : ' (process.resourceUsage)'}`);
    console.log(`  targets: under 10 s ${wall < 10 ? 'met' : 'MISSED'}, under 2 GB ${rssKb * 1024 < 2e9 ? 'met' : 'MISSED'}`);
  }
} finally {
  if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
