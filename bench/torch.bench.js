// hessweep side by side with PyTorch (bench/torch/reference_cell.py, the same cell in PyTorch 1.13, float32, one
// thread), runs alternating within one script so that the machine's noise falls on both; ratios are taken per
// round (hessweep / torch of the same round) and reported as median [min–max] against issue 12's targets.
//   training      the reference cell's training: hessweep's fused step and its tfjs trainer vs torch (target ≤ 0.4)
//   cell          the whole reference cell, hessweep's defaults vs torch with 30 Lanczos steps and 50 Hutchinson
//                 probes per operator (target ≤ 0.6, in-process and process wall)
//   seeds         8 seeds: `hessweep run --concurrency 2` vs two torch processes of 4 seeds at once (target ≤ 0.4)
//   wide          a width-64, depth-10 cell: before, after (this checkout), torch
//   grid (--grid) the paper's FashionMNIST grid, 3 seeds (42 cells), `hessweep run` before/after; one round ≈ 4 min on 2 cores
// "before" is this checkout's tfjs trainer, or with --before DIR the defaults of another built checkout (an
// earlier version: `git worktree add DIR <commit> && (cd DIR && npm ci && npm run build)`).
// Usage: npm run bench -- torch [--runs 3] [--parts training,cell,seeds,wide] [--grid] [--grid-runs 1] [--before DIR] [--python PATH]
// (--parts '' --grid: the grid alone)
// PyTorch must be importable by the interpreter (Debian: apt-get install python3-torch, which is /usr/bin/python3's);
// the script says which BLAS torch loaded: netlib's reference BLAS is several times slower than OpenBLAS.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { root } from './common.js';

const cli = join(root, 'packages/cli/dist/src/main.js');
const torchScript = join(root, 'bench/torch/reference_cell.py');
const PARTS = ['training', 'cell', 'seeds', 'wide'];
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    parts: { type: 'string', default: PARTS.join(',') },
    grid: { type: 'boolean', default: false },
    'grid-runs': { type: 'string', default: '1' },
    python: { type: 'string' },
    before: { type: 'string' },
  },
});
const runs = positiveInt(values.runs, '--runs');
const gridRuns = positiveInt(values['grid-runs'], '--grid-runs');
const parts = values.parts.split(',').filter(Boolean);
const unknown = parts.filter((p) => !PARTS.includes(p));
if (unknown.length > 0) fail(`torch bench: unknown part ${unknown.join(', ')} in --parts (choose from ${PARTS.join(', ')})`);
const python = findTorchPython();
const beforeCli = values.before === undefined ? null : join(values.before, 'packages/cli/dist/src/main.js');
if (beforeCli !== null && !existsSync(beforeCli)) fail(`torch bench: --before ${values.before} has no built CLI (${beforeCli}): build it first`);
/** What "before" is: another checkout's defaults, or this checkout's tfjs trainer. */
const before = beforeCli === null ? { cli, trainer: 'tfjs', label: 'tfjs trainer' } : { cli: beforeCli, trainer: null, label: values.before };

function fail(line) {
  console.error(line);
  process.exit(2);
}

function positiveInt(text, name) {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 1)) fail(`torch bench: ${name} must be a positive integer, got ${text}`);
  return n;
}

/** The first interpreter that imports torch and numpy: --python, else python3 on PATH, else Debian's /usr/bin/python3. */
function findTorchPython() {
  const candidates = values.python ? [values.python] : ['python3', '/usr/bin/python3'];
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return fail(`torch bench: no python3 that imports torch and numpy (tried ${candidates.join(', ')}); install python3-torch or pass --python`);
}

/** Runs a command to its exit; resolves with its stdout and wall seconds, rejects with its stderr on a non-zero exit. */
function timed(command, args) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const wall = (performance.now() - start) / 1000;
      if (code === 0) resolve({ stdout, wall });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.trim()}`));
    });
  });
}

/** The reference cell's flags (bench/cell.bench.js) at a width and depth, with `overrides` replacing some. */
function cellFlags(width, depth, overrides) {
  const flags = { dataset: 'fashion_mnist', width, depth, 'sample-size': 10000, epochs: 10, 'batch-size': 64, permutations: 100, 'top-k': 5, 'lanczos-iters': 30, backend: 'wasm', ...overrides };
  return Object.entries(flags).flatMap(([name, value]) => [`--${name}`, `${value}`]);
}
/** Everything after training switched off or to its cheapest, so that the run times the training. */
const TRAIN_ONLY = { 'top-k': 0, density: false, 'stab-subspace': 0, permutations: 1 };

async function hessweepCell(width, depth, trainer, overrides = {}, program = cli) {
  const { stdout, wall } = await timed(process.execPath, [program, 'cell', ...cellFlags(width, depth, { ...overrides, trainer }), '--json', '--quiet']);
  return { ...JSON.parse(stdout), wall };
}

async function torchCells(args) {
  const { stdout, wall } = await timed(python, [torchScript, ...args]);
  return { rows: stdout.trim().split('\n').map((line) => JSON.parse(line)), wall };
}

async function torchCell(args) {
  const { rows, wall } = await torchCells(args);
  return { ...rows[0], wall };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const spread = (xs, digits = 2) => `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`;
const ratios = (as, bs) => as.map((a, i) => a / bs[i]);

function line(label, seconds) {
  console.log(`  ${label.padEnd(38)} ${spread(seconds)} s`);
}

function ratioLine(label, xs, target) {
  const verdict = target === undefined ? '' : `   target ≤ ${target}: ${median(xs) <= target ? 'met' : 'not met'} at the median`;
  console.log(`  ${label.padEnd(38)} ${spread(xs)}${verdict}`);
}

/** `count` rounds of `round()` (which runs its contestants one after another), with a progress line per round on stderr. */
async function rounds(name, count, round) {
  const results = [];
  for (let r = 0; r < count; r++) {
    const started = performance.now();
    results.push(await round(r));
    console.error(`  [${name}] round ${r + 1}/${count} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return results;
}

const pick = (results, who, key) => results.map((r) => r[who][key]);

async function training() {
  const results = await rounds('training', runs, async () => ({
    fused: await hessweepCell(16, 5, 'fused', TRAIN_ONLY),
    tfjs: await hessweepCell(16, 5, 'tfjs', TRAIN_ONLY),
    torch: await torchCell(['--train-only']),
  }));
  const [fused, tfjs, torch] = ['fused', 'tfjs', 'torch'].map((who) => pick(results, who, 'train_s'));
  console.log(`\n(a) training, reference cell (784-16×6-10, 10 epochs of 157 batches), ${runs} rounds fused, tfjs, torch`);
  line('hessweep fused train_s', fused);
  line('hessweep tfjs trainer train_s', tfjs);
  line('torch train_s', torch);
  ratioLine('fused / torch', ratios(fused, torch), 0.4);
  ratioLine('tfjs trainer / torch', ratios(tfjs, torch));
  ratioLine('fused / tfjs trainer', ratios(fused, tfjs));
}

async function referenceCell() {
  const results = await rounds('cell', runs, async () => ({
    hessweep: await hessweepCell(16, 5, 'auto'),
    torch: await torchCell([]),
  }));
  const h = results.map((r) => r.hessweep);
  const t = results.map((r) => r.torch);
  console.log(`\n(b) the whole reference cell, ${runs} rounds hessweep, torch`);
  console.log(`  hessweep: its defaults (${h[0].backend}; Lanczos ${h[0].hessian_iters}/${h[0].ggn_iters} steps H/G, exact trace, density, stabilization)`);
  console.log(`  torch: ${t[0].hessian_iters}/${t[0].ggn_iters} Lanczos steps H/G, ${t[0].trace_probes} Hutchinson probes per operator`);
  stageLines(h, t);
  line('hessweep total_s (in-process)', pick(results, 'hessweep', 'total_s'));
  line('torch total_s (in-process)', pick(results, 'torch', 'total_s'));
  line('hessweep wall (process)', pick(results, 'hessweep', 'wall'));
  line('torch wall (process)', pick(results, 'torch', 'wall'));
  ratioLine('hessweep / torch, in-process', ratios(pick(results, 'hessweep', 'total_s'), pick(results, 'torch', 'total_s')), 0.6);
  ratioLine('hessweep / torch, process wall', ratios(pick(results, 'hessweep', 'wall'), pick(results, 'torch', 'wall')), 0.6);
  // What the torch cell computes: hessweep's total less the two stages torch has no counterpart for.
  const shared = h.map((r) => r.total_s - r.density_s - r.stabilization_s);
  ratioLine('same, less density and stabilization', ratios(shared, pick(results, 'torch', 'total_s')));
  sanity(h, t);
}

/** Per-stage seconds of the same cell, side by side (hessweep's graph set-up falls in losses_s, torch's in hessian_s and ggn_s). */
function stageLines(h, t) {
  for (const stage of ['load_s', 'train_s', 'losses_s', 'curve_s', 'hessian_s', 'ggn_s', 'trace_s', 'density_s', 'stabilization_s']) {
    const torch = t[0][stage] === undefined ? 'not computed' : `${spread(t.map((r) => r[stage]))} s`;
    console.log(`  ${stage.padEnd(16)} hessweep ${spread(h.map((r) => r[stage]))} s   torch ${torch}`);
  }
}

/** The same cell computed by both: accuracy and top eigenvalues should fall in the same range (different random numbers). */
function sanity(h, t) {
  const col = (rows, f) => spread(rows.map(f), 3);
  console.log('  sanity (same seed, different random numbers):');
  console.log(`    train accuracy   hessweep ${col(h, (r) => r.train_accuracy)}   torch ${col(t, (r) => r.train_accuracy)}`);
  console.log(`    λ_max(H)         hessweep ${col(h, (r) => r.hessian_top[0])}   torch ${col(t, (r) => r.hessian_top[0])}`);
  console.log(`    λ_max(G)         hessweep ${col(h, (r) => r.ggn_top[0])}   torch ${col(t, (r) => r.ggn_top[0])}`);
  console.log(`    tr H             hessweep ${col(h, (r) => r.hessian_trace)} (exact)   torch ${col(t, (r) => r.hessian_trace_hutchinson)} (Hutchinson)`);
  console.log(`    D_k slope        hessweep ${col(h, (r) => r.loss_diff_slope)}   torch ${col(t, (r) => r.loss_diff_slope)}`);
}

const SEEDS = [0, 1, 2, 3, 4, 5, 6, 7];

/** A spec of 8 seeds of the reference cell, everything else at hessweep's defaults. */
const eightSeedSpec = (name, measure = {}) => ({
  name,
  grid: { dataset: ['fashion_mnist'], width: [16], depth: [5], seed: SEEDS, sample_size: [10000] },
  measure,
  backend: 'wasm',
});

/** What PyTorch's reference computes too: no density, no stabilization probes (the smoothed D_k stays). */
const EQUAL_OUTPUT = { density: false, stabilization: { subspace: 0 } };

/** `hessweep run` of a spec into a fresh results directory (a sweep resumes from an old one); wall seconds. */
async function hessweepRun(specPath, extra, scratch, program = cli) {
  const out = await mkdtemp(join(scratch, 'results-'));
  try {
    return (await timed(process.execPath, [program, 'run', specPath, '--out', out, '--quiet', ...extra])).wall;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

async function eightSeeds(scratch) {
  const specPath = join(scratch, 'eight-seeds.json');
  const equalPath = join(scratch, 'eight-seeds-equal-output.json');
  await writeFile(specPath, JSON.stringify(eightSeedSpec('torch-bench-8-seeds')));
  await writeFile(equalPath, JSON.stringify(eightSeedSpec('torch-bench-8-seeds-equal-output', EQUAL_OUTPUT)));
  const halves = [SEEDS.slice(0, 4), SEEDS.slice(4)].map((s) => ['--seeds', s.join(',')]);
  const results = await rounds('seeds', runs, async () => {
    const hessweep = await hessweepRun(specPath, ['--concurrency', '2'], scratch);
    const start = performance.now();
    await Promise.all(halves.map(torchCells));
    const torch = (performance.now() - start) / 1000;
    return { hessweep, torch, equal: await hessweepRun(equalPath, ['--concurrency', '2'], scratch) };
  });
  const h = results.map((r) => r.hessweep);
  const t = results.map((r) => r.torch);
  const e = results.map((r) => r.equal);
  console.log(`\n(c) 8 seeds of the reference cell, ${runs} rounds hessweep, torch (wall, start to the last exit)`);
  line('hessweep run --concurrency 2', h);
  line('torch, 2 processes × 4 seeds at once', t);
  ratioLine('hessweep / torch', ratios(h, t), 0.4);
  line('hessweep without density and probes', e);
  ratioLine('the same / torch (equal output)', ratios(e, t));
}

async function wide() {
  const results = await rounds('wide', runs, async () => ({
    before: await hessweepCell(64, 10, before.trainer ?? 'auto', {}, before.cli),
    after: await hessweepCell(64, 10, 'fused'),
    torch: await torchCell(['--width', '64', '--depth', '10']),
  }));
  console.log(`\n(d) width 64, depth 10 (${results[0].after.n_params} parameters), whole cell, ${runs} rounds before (${before.label}), after, torch`);
  for (const key of ['train_s', 'total_s', 'wall']) {
    const [b, a, torch] = ['before', 'after', 'torch'].map((who) => pick(results, who, key));
    console.log(`  ${key}`);
    line(`  hessweep before (${before.label})`, b);
    line('  hessweep after', a);
    line('  torch', torch);
    ratioLine('  after / before', ratios(a, b));
    ratioLine('  after / torch', ratios(a, torch));
    ratioLine('  before / torch', ratios(b, torch));
  }
  console.log('  stages, after and torch:');
  stageLines(results.map((r) => r.after), results.map((r) => r.torch));
  sanity(results.map((r) => r.after), results.map((r) => r.torch));
}

async function paperGrid(scratch) {
  const spec = join(root, 'examples/paper-fashion-mnist.yaml');
  const beforeFlags = before.trainer === null ? [] : ['--trainer', before.trainer];
  const results = await rounds('grid', gridRuns, async () => ({
    after: await hessweepRun(spec, ['--concurrency', '2', '--trainer', 'fused'], scratch),
    before: await hessweepRun(spec, ['--concurrency', '2', ...beforeFlags], scratch, before.cli),
  }));
  const after = results.map((r) => r.after);
  const earlier = results.map((r) => r.before);
  console.log(`\n(e) the paper's FashionMNIST grid, 3 seeds (42 cells), hessweep run --concurrency 2, ${gridRuns} rounds after, before (${before.label})`);
  line(`before (${before.label}) wall`, earlier);
  line('after wall', after);
  ratioLine('after / before', ratios(after, earlier));
}

const started = performance.now();
console.log(`hessweep vs PyTorch (${python}); load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const scratch = await mkdtemp(join(tmpdir(), 'hessweep-torch-bench-'));
try {
  // Warm the file caches of both (node modules, python libraries, the dataset) before anything is timed.
  const [, warm] = await Promise.all([
    timed(process.execPath, [cli, 'cell', '--dataset', 'fashion_mnist', '--width', '4', '--depth', '1', '--sample-size', '256', '--epochs', '1', '--top-k', '1', '--json', '--quiet']),
    torchCell(['--samples', '256', '--epochs', '1', '--train-only']),
  ]);
  console.log(`torch ${warm.torch}, ${warm.threads} thread, BLAS ${warm.blas}`);
  // Debian's netlib reference BLAS (libblas3) is what torch gets without an optimised one installed.
  if (/\/blas\/libblas\.so/.test(warm.blas ?? '')) console.log('  warning: that is netlib\'s reference BLAS, several times slower than OpenBLAS (apt-get install libopenblas0-pthread)');
  if (parts.includes('training')) await training();
  if (parts.includes('cell')) await referenceCell();
  if (parts.includes('seeds')) await eightSeeds(scratch);
  if (parts.includes('wide')) await wide();
  if (values.grid) await paperGrid(scratch);
} finally {
  await rm(scratch, { recursive: true, force: true });
}
console.log(`\nload average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}; bench took ${((performance.now() - started) / 1000).toFixed(0)} s`);
