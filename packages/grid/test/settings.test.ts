/**
 * The settings table: one rule per setting for spec files and `hessweep cell` flags, the upper bounds of
 * LIMITS, the per-shape checks (parameters, full-batch floats), the cell-count limit, and that both ways
 * of naming a cell give the same cell.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cellFromFlags, cellId, expandGrid, LIMITS, parseSpec, SETTINGS, SpecError, specHash, specSettingsHash, type Cell,
} from '../src/index.js';
import { problemsOf } from './problems.js';

type Doc = Record<string, unknown>;


/** A copy of `doc` with `value` at the dotted `path` (`train.lr`, `grid.width`, `backend`). */
function withValue(doc: Doc, path: string, value: unknown): Doc {
  const copy = structuredClone(doc);
  const keys = path.split('.');
  let at = copy;
  for (const key of keys.slice(0, -1)) at = (at[key] ??= {}) as Doc;
  at[keys.at(-1)!] = value;
  return copy;
}

const specOf = (doc: Doc, options?: { maxCells?: number }) => parseSpec(JSON.stringify(doc), '/specs/s.json', options);
const specProblems = (doc: Doc) => problemsOf(() => specOf(doc));
const flagProblems = (flags: Doc) => problemsOf(() => cellFromFlags(flags, '/work'));
const fmt = (n: number) => new Intl.NumberFormat('en-US').format(n);

/**
 * Every setting that decides a cell: its spec path and its `hessweep cell` flag, as the task defines them.
 * The table in src/settings.ts must hold exactly these.
 */
const PLACES: [spec: string, flag: string][] = [
  ['grid.dataset', 'dataset'], ['grid.width', 'width'], ['grid.depth', 'depth'], ['grid.seed', 'seed'], ['grid.sample_size', 'sample-size'],
  ['train.epochs', 'epochs'], ['train.batch_size', 'batch-size'], ['train.optimizer', 'optimizer'], ['train.lr', 'lr'], ['train.bias', 'bias'],
  ['train.init', 'init'], ['measure.permutations', 'permutations'], ['measure.curve_points', 'curve-points'], ['measure.top_k', 'top-k'],
  ['measure.lanczos_iters', 'lanczos-iters'], ['measure.lanczos_tol', 'lanczos-tol'], ['measure.ggn', 'ggn'], ['measure.trace_probes', 'trace-probes'],
  ['measure.density', 'density'], ['measure.density_runs', 'density-runs'], ['measure.density_steps', 'density-steps'], ['data_dir', 'data-dir'], ['features', 'features'], ['label_column', 'label-column'],
  ['synthetic.dim', 'synthetic-dim'], ['synthetic.classes', 'synthetic-classes'], ['backend', 'backend'],
  ['measure.thresholds', 'thresholds'], ['measure.stabilization.subspace', 'stab-subspace'], ['measure.stabilization.sigma', 'stab-sigma'],
  ['measure.stabilization.samples', 'stab-samples'], ['measure.stabilization.isotropic', 'stab-isotropic'],
];

/**
 * A small synthetic cell whose shape stays far from the derived limits whichever single value is pushed to
 * its bound: width 1, depth 0, 2 samples, 2 inputs, 2 classes; top_k 0 and lanczos_iters at its bound, so
 * that neither crosses the other.
 */
const BASE_SPEC: Doc = {
  name: 'bounds',
  grid: { dataset: 'synthetic', width: 1, depth: 0, sample_size: 2 },
  synthetic: { dim: 2, classes: 2 },
  measure: { top_k: 0, lanczos_iters: LIMITS.lanczos_iters },
};
const BASE_FLAGS: Doc = {
  dataset: 'synthetic', width: 1, depth: 0, 'sample-size': 2, 'synthetic-dim': 2, 'synthetic-classes': 2, 'top-k': 0, 'lanczos-iters': LIMITS.lanczos_iters,
};

/** Where a setting's value lands in a cell. */
function inCell(cell: Cell, spec: string): unknown {
  const [head, key, inner] = spec.split('.');
  if (key === 'stabilization') return cell.measure.stabilization[inner as keyof Cell['measure']['stabilization']];
  if (head === 'grid') return cell[key as keyof Cell];
  if (head === 'train') return cell.train[key as keyof Cell['train']];
  if (head === 'measure') return cell.measure[key as keyof Cell['measure']];
  assert.equal(head, 'synthetic');
  return cell.data[`synthetic_${key}` as 'synthetic_dim' | 'synthetic_classes'];
}

test('the table holds every setting that decides a cell, once, with its spec path and flag', () => {
  const table = Object.values(SETTINGS).map((s) => [s.spec, s.flag]);
  assert.deepEqual(new Set(table.map(String)), new Set(PLACES.map(String)));
  assert.equal(table.length, PLACES.length);
  for (const setting of Object.values(SETTINGS)) {
    if (setting.default !== undefined) assert.equal(setting.check(setting.default), undefined, `${setting.spec}'s default passes its check`);
    assert.ok(setting.describe.length > 0);
  }
});

/** Upper bounds: [spec path, flag, the largest good value]. */
const UPPER: [string, string, number][] = [
  ['grid.width', 'width', LIMITS.width],
  ['grid.depth', 'depth', LIMITS.depth],
  ['grid.sample_size', 'sample-size', LIMITS.sample_size],
  ['grid.seed', 'seed', 2 ** 32 - 1],
  ['train.epochs', 'epochs', LIMITS.epochs],
  ['train.batch_size', 'batch-size', LIMITS.batch_size],
  ['measure.permutations', 'permutations', LIMITS.permutations],
  ['measure.curve_points', 'curve-points', LIMITS.curve_points],
  ['measure.top_k', 'top-k', LIMITS.top_k],
  ['measure.lanczos_iters', 'lanczos-iters', LIMITS.lanczos_iters],
  ['measure.trace_probes', 'trace-probes', LIMITS.trace_probes],
  ['measure.density_runs', 'density-runs', LIMITS.density_runs],
  ['measure.density_steps', 'density-steps', LIMITS.density_steps],
  ['measure.stabilization.samples', 'stab-samples', LIMITS.stab_samples],
  ['synthetic.dim', 'synthetic-dim', LIMITS.input_dim],
  ['synthetic.classes', 'synthetic-classes', LIMITS.classes],
];

test('every upper bound: the limit itself is a good value, one more is refused naming the field, in a spec and as a flag', () => {
  for (const [spec, flag, limit] of UPPER) {
    const cell = expandGrid(specOf(withValue(BASE_SPEC, spec, limit)))[0];
    assert.equal(inCell(cell, spec), limit, spec);
    assert.equal(inCell(cellFromFlags({ ...BASE_FLAGS, [flag]: limit }, '/work').cell, spec), limit, flag);

    const over = limit + 1;
    const expected = spec === 'grid.seed' ? `must be a non-negative integer below 2^32, got ${over}` : `${over} exceeds the limit of ${limit}`;
    assert.deepEqual(specProblems(withValue(BASE_SPEC, spec, over)), [`${spec}: ${expected}`]);
    assert.deepEqual(flagProblems({ ...BASE_FLAGS, [flag]: over }), [`--${flag}: ${expected}`]);
  }
});

/** Lower bounds: [spec path, flag, the smallest good value, the next value down, its message]. */
const LOWER: [string, string, number, number, string][] = [
  ['grid.width', 'width', 1, 0, 'must be a positive integer, got 0'],
  ['grid.depth', 'depth', 0, -1, 'must be a non-negative integer, got -1'],
  ['grid.seed', 'seed', 0, -1, 'must be a non-negative integer below 2^32, got -1'],
  ['grid.sample_size', 'sample-size', 2, 1, 'must be an integer ≥ 2 (the loss-difference curve compares two samples), got 1'],
  ['train.epochs', 'epochs', 1, 0, 'must be a positive integer, got 0'],
  ['train.batch_size', 'batch-size', 1, 0, 'must be a positive integer, got 0'],
  ['train.lr', 'lr', 1e-12, 0, 'must be a positive number, got 0'],
  ['measure.permutations', 'permutations', 1, 0, 'must be a positive integer, got 0'],
  ['measure.curve_points', 'curve-points', 1, 0, 'must be a positive integer, got 0'],
  ['measure.top_k', 'top-k', 0, -1, 'must be a non-negative integer, got -1'],
  ['measure.lanczos_iters', 'lanczos-iters', 1, 0, 'must be a positive integer, got 0'],
  ['measure.lanczos_tol', 'lanczos-tol', 0, -0.5, 'must be a number in [0, 1), got -0.5'],
  ['measure.trace_probes', 'trace-probes', 0, -1, 'must be a non-negative integer, got -1'],
  ['measure.density_runs', 'density-runs', 0, -1, 'must be a non-negative integer, got -1'],
  ['measure.density_steps', 'density-steps', 1, 0, 'must be a positive integer, got 0'],
  ['measure.stabilization.subspace', 'stab-subspace', 0, -1, 'must be a non-negative integer, got -1'],
  ['measure.stabilization.samples', 'stab-samples', 1, 0, 'must be a positive integer, got 0'],
  ['synthetic.dim', 'synthetic-dim', 1, 0, 'must be a positive integer, got 0'],
  ['synthetic.classes', 'synthetic-classes', 2, 1, 'must be an integer ≥ 2, got 1'],
];

test('every lower bound: the smallest good value passes, the next one down is refused the same way in a spec and as a flag', () => {
  for (const [spec, flag, good, bad, message] of LOWER) {
    assert.equal(inCell(expandGrid(specOf(withValue(BASE_SPEC, spec, good)))[0], spec), good, spec);
    assert.equal(inCell(cellFromFlags({ ...BASE_FLAGS, [flag]: good }, '/work').cell, spec), good, flag);
    assert.deepEqual(specProblems(withValue(BASE_SPEC, spec, bad)), [`${spec}: ${message}`]);
    assert.deepEqual(flagProblems({ ...BASE_FLAGS, [flag]: bad }), [`--${flag}: ${message}`]);
  }
});

test('a wrong value of every setting at once: one problem each, the same message in a spec and as flags', () => {
  const bad = { wrong: 1 };
  let doc: Doc = { name: 'bad' };
  const flags: Doc = {};
  for (const [spec, flag] of PLACES) {
    doc = withValue(doc, spec, bad);
    flags[flag] = bad;
  }
  const fromSpec = specProblems(doc);
  const fromFlags = flagProblems(flags);
  assert.equal(fromSpec.length, PLACES.length, fromSpec.join('\n'));
  assert.equal(fromFlags.length, PLACES.length, fromFlags.join('\n'));
  for (const [spec, flag] of PLACES) {
    const specLine = fromSpec.find((p) => p.startsWith(`${spec}: `));
    const flagLine = fromFlags.find((p) => p.startsWith(`--${flag}: `));
    assert.ok(specLine && flagLine, `${spec} / --${flag}`);
    assert.ok(specLine.endsWith('got {"wrong":1}') || specLine.includes('got {"wrong":1} '), specLine);
    assert.equal(specLine.slice(spec.length + 2), flagLine.slice(flag.length + 4));
  }
});

test('width: 1e9 and sample_size: 1e9 are one line each naming the field, not a failure later', () => {
  const doc = { name: 'huge', grid: { dataset: 'fashion_mnist', width: [1e9], depth: 1, sample_size: 1e9 }, data_dir: '/d' };
  assert.deepEqual(specProblems(doc), ['grid.width[0]: 1000000000 exceeds the limit of 16384', 'grid.sample_size: 1000000000 exceeds the limit of 10000000']);
  assert.deepEqual(flagProblems({ dataset: 'synthetic', width: 1e9, depth: 1, 'sample-size': 1e9 }), [
    '--width: 1000000000 exceeds the limit of 16384',
    '--sample-size: 1000000000 exceeds the limit of 10000000',
  ]);
  // Not even a safe integer: still the limit, not "not an integer".
  assert.deepEqual(flagProblems({ dataset: 'synthetic', width: 1e20, depth: 1, 'sample-size': 8 }), ['--width: 100000000000000000000 exceeds the limit of 16384']);
  // After the refusal the same spec with sane values parses, and its one cell has them.
  const fixed = expandGrid(specOf({ ...doc, grid: { ...doc.grid, width: [1024], sample_size: 1000 } }));
  assert.deepEqual([fixed.length, fixed[0].width, fixed[0].sample_size], [1, 1024, 1000]);
});

/** Weights and biases of the layers (straightforwardly: one (in + 1) × out block per layer). */
function parameters(layers: number[]): number {
  let total = 0;
  for (let i = 0; i + 1 < layers.length; i++) total += (layers[i] + 1) * layers[i + 1];
  return total;
}
const mlp = (inputs: number, width: number, depth: number, classes: number) => [inputs, ...Array(depth + 1).fill(width), classes];

test('parameters per shape: the widest network under LIMITS.params passes, one unit wider is refused with its count', () => {
  // mnist: 784 → h → 3 × (h → h) → 10.
  let h = 1;
  while (parameters(mlp(784, h + 1, 3, 10)) <= LIMITS.params) h++;
  const doc = (width: number) => ({ name: 'p', grid: { dataset: 'mnist', width, depth: 3, sample_size: 100 } });
  assert.equal(expandGrid(specOf(doc(h)))[0].width, h);
  const count = fmt(parameters(mlp(784, h + 1, 3, 10)));
  assert.deepEqual(specProblems(doc(h + 1)), [`grid: width ${h + 1} × depth 3 on mnist has ${count} parameters, over the limit of 50,000,000`]);
  assert.deepEqual(flagProblems({ dataset: 'mnist', width: h + 1, depth: 3, 'sample-size': 100 }), [
    `--width ${h + 1} × --depth 3 on mnist has ${count} parameters, over the limit of 50,000,000`,
  ]);
  assert.equal(cellFromFlags({ dataset: 'mnist', width: h, depth: 3, 'sample-size': 100 }, '/work').cell.width, h);

  // A synthetic shape from the spec's own dim and classes.
  const synthetic = { name: 's', grid: { dataset: 'synthetic', width: 2000, depth: 12, sample_size: 10 }, synthetic: { dim: 50_000, classes: 1000 } };
  assert.deepEqual(specProblems(synthetic), [
    `grid: width 2000 × depth 12 on synthetic has ${fmt(parameters(mlp(50_000, 2000, 12, 1000)))} parameters, over the limit of 50,000,000`,
  ]);
  assert.ok(parameters(mlp(32, 2000, 12, 4)) <= LIMITS.params);
  specOf({ ...synthetic, synthetic: {} }); // the default 32 → 4 blobs fit

  // Several offending pairs in one grid: the first, and how many more (counted here by brute force).
  const widths = [16384, 5000, 100];
  const depths = [1000, 1];
  const offending = widths.flatMap((w) => depths.filter((d) => parameters(mlp(784, w, d, 10)) > LIMITS.params));
  assert.equal(offending.length, 3);
  assert.deepEqual(specProblems({ name: 'p', grid: { dataset: 'mnist', width: widths, depth: depths, sample_size: 100 } }), [
    `grid: width 16384 × depth 1000 on mnist has ${fmt(parameters(mlp(784, 16384, 1000, 10)))} parameters, over the limit of 50,000,000 (and 2 more width × depth pairs)`,
  ]);
});

test('full-batch floats per shape: sample_size × widest layer up to LIMITS.batch_floats', () => {
  // mnist IDX files (60,000 samples): the widest layer is max(784, width, 10).
  const widest = Math.floor(LIMITS.batch_floats / 60_000);
  const doc = (width: number) => ({ name: 'b', data_dir: '/d', grid: { dataset: 'mnist', width, depth: 0, sample_size: 60_000 } });
  assert.equal(expandGrid(specOf(doc(widest)))[0].width, widest);
  assert.deepEqual(specProblems(doc(widest + 1)), [
    `grid: sample_size 60000 × width ${widest + 1} on mnist needs ${fmt(60_000 * (widest + 1))} floats per full-batch layer (samples × widest layer), over the limit of 268,435,456`,
  ]);
  // synthetic 32 → 4 blobs: the input layer is the widest at width 1, so the sample size alone is bounded.
  const samples = Math.floor(LIMITS.batch_floats / 32);
  const flags = (size: number) => ({ dataset: 'synthetic', width: 1, depth: 0, 'sample-size': size });
  assert.equal(cellFromFlags(flags(samples), '/work').cell.sample_size, samples);
  assert.deepEqual(flagProblems(flags(samples + 1)), [
    `--sample-size ${samples + 1} × --width 1 on synthetic needs ${fmt((samples + 1) * 32)} floats per full-batch layer (samples × widest layer), over the limit of 268,435,456`,
  ]);
});

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

test('cell count: the product of the axis lengths, summed over grids, refused over maxCells before anything is expanded', () => {
  const grid = { dataset: 'synthetic', width: range(10, 1), depth: range(5), seed: range(10), sample_size: [2, 3] };
  assert.equal(expandGrid(specOf({ name: 'c', grid }, { maxCells: 1000 })).length, 1000);
  assert.deepEqual(problemsOf(() => specOf({ name: 'c', grid }, { maxCells: 999 })), [
    'grid: 1,000 cells (dataset 1 × width 10 × depth 5 × seed 10 × sample_size 2), over the limit of 999; narrow the grid or raise --max-cells',
  ]);
  // An absent seed axis counts its one default seed.
  const { seed: _seed, ...noSeeds } = grid;
  assert.match(problemsOf(() => specOf({ name: 'c', grid: noSeeds }, { maxCells: 99 }))[0], /^grid: 100 cells \(dataset 1 × width 10 × depth 5 × seed 1 × sample_size 2\)/);

  // grids: summed, duplicates included (an upper bound: these two grids share 2 of their 4 + 4 cells).
  const grids = [
    { dataset: 'synthetic', width: [4, 8], depth: [1, 2], sample_size: 10 },
    { dataset: 'synthetic', width: [8, 16], depth: [1, 2], sample_size: 10 },
  ];
  assert.equal(expandGrid(specOf({ name: 'g', grids }, { maxCells: 8 })).length, 6);
  assert.deepEqual(problemsOf(() => specOf({ name: 'g', grids }, { maxCells: 7 })), [
    'grids: 8 cells (grids[0]: dataset 1 × width 2 × depth 2 × seed 1 × sample_size 1 + grids[1]: dataset 1 × width 2 × depth 2 × seed 1 × sample_size 1), over the limit of 7; narrow the grid or raise --max-cells',
  ]);

  // The default limit, on a grid of 10^10 cells: expanding it would never finish, refusing it is immediate.
  const huge = { name: 'h', grid: { dataset: 'synthetic', width: range(100, 1), depth: range(100), seed: range(1000), sample_size: range(1000, 2) } };
  assert.deepEqual(problemsOf(() => specOf(huge)), [
    `grid: 10,000,000,000 cells (dataset 1 × width 100 × depth 100 × seed 1,000 × sample_size 1,000), over the limit of ${fmt(LIMITS.cells)}; narrow the grid or raise --max-cells`,
  ]);
  // A raised limit lets it parse (nothing is expanded here).
  assert.equal(specOf(huge, { maxCells: 1e10 }).grid.sample_size.length, 1000);
});

test('hessweep cell flags and a spec give the identical cell: relative paths resolve against the cwd and the spec directory', () => {
  const fromFlags = cellFromFlags({ dataset: 'features', features: 'data/f.csv', 'label-column': 'y', width: 4, depth: 1, 'sample-size': 10 }, '/work/x');
  const spec = parseSpec('name: f\nfeatures: ../data/f.csv\nlabel_column: y\ngrid: {dataset: features, width: 4, depth: 1, sample_size: 10}', '/work/x/specs/s.yaml');
  const [fromSpec] = expandGrid(spec);
  assert.equal(fromSpec.data.features_path, '/work/x/data/f.csv');
  assert.deepEqual(fromFlags.cell, fromSpec);
  assert.equal(cellId(fromFlags.cell), cellId(fromSpec));
  // An absolute path stays as it is either way.
  assert.equal(cellFromFlags({ dataset: 'features', features: '/abs/f.arrow', width: 4, depth: 1, 'sample-size': 10 }, '/work').cell.data.features_path, '/abs/f.arrow');
});

test('every non-default setting reaches the cell the same way from flags and from a spec', () => {
  const flags = {
    dataset: 'synthetic', width: 6, depth: 2, seed: 9, 'sample-size': 50, epochs: 3, 'batch-size': 7, optimizer: 'adam', lr: 0.01, bias: true, init: 'he',
    permutations: 9, 'curve-points': 11, 'top-k': 2, 'lanczos-iters': 12, 'lanczos-tol': 0.01, ggn: false, 'trace-probes': 3, density: false,
    'density-runs': 5, 'density-steps': 7,
    'synthetic-dim': 5, 'synthetic-classes': 3, 'data-dir': 'ignored-by-synthetic', 'label-column': 'ignored-too', backend: 'cpu',
  };
  const spec = parseSpec(
    `name: all
grid: {dataset: synthetic, width: 6, depth: 2, seed: 9, sample_size: 50}
train: {epochs: 3, batch_size: 7, optimizer: adam, lr: 0.01, bias: true, init: he}
measure: {permutations: 9, curve_points: 11, top_k: 2, lanczos_iters: 12, lanczos_tol: 0.01, ggn: false, trace_probes: 3, density: false, density_runs: 5, density_steps: 7}
synthetic: {dim: 5, classes: 3}
data_dir: ignored-by-synthetic
label_column: ignored-too
backend: cpu
`,
    '/work/s.yaml',
  );
  const { cell, backend } = cellFromFlags(flags, '/work');
  assert.deepEqual(cell, expandGrid(spec)[0]);
  assert.deepEqual(cell.train, { epochs: 3, batch_size: 7, optimizer: 'adam', lr: 0.01, bias: true, init: 'he' });
  assert.deepEqual(cell.data, { synthetic_dim: 5, synthetic_classes: 3 });
  assert.equal(backend, 'cpu');
  // Only the required flags: the table's defaults, the same as a spec's.
  const minimal = cellFromFlags({ dataset: 'mnist', width: 16, depth: 5, 'sample-size': 1000 }, '/work');
  assert.deepEqual(minimal.cell, expandGrid(parseSpec('name: m\ngrid: {dataset: mnist, width: 16, depth: 5, sample_size: 1000}', 's.yaml'))[0]);
  assert.equal(minimal.backend, 'auto');
});

test('flags: one value per grid axis, cross-field rules named by flag, every problem at once', () => {
  const base = { dataset: 'synthetic', width: 8, depth: 1, 'sample-size': 10 };
  assert.deepEqual(flagProblems({ ...base, width: [8, 16] }), ['--width: takes one value per cell, got [8,16]']);
  assert.deepEqual(flagProblems({ ...base, 'top-k': 40 }), ['--top-k: 40 exceeds --lanczos-iters (30): Lanczos finds at most that many eigenvalues']);
  assert.deepEqual(flagProblems({ ...base, dataset: 'mnist', 'sample-size': 20000 }), ['--sample-size: 20000 exceeds the 10000 samples of mnist']);
  assert.deepEqual(flagProblems({ ...base, dataset: 'features' }), ['--features: required by the features dataset (an Arrow or CSV file of feature vectors and labels)']);
  assert.deepEqual(flagProblems({ ...base, features: 'f.csv' }), ['--features: only used by the features dataset, which --dataset does not name']);
  assert.deepEqual(flagProblems({ ...base, dataset: 'cifar10' }), ['--data-dir: required by cifar10 (the directory with data_batch_1.bin … data_batch_5.bin)']);
  let error: unknown;
  try {
    cellFromFlags({ ...base, width: 0, depth: -1, lr: 0, backend: 'cuda' }, '/work');
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof SpecError);
  assert.equal(error.path, 'command line');
  assert.deepEqual(error.problems, [
    '--width: must be a positive integer, got 0',
    '--depth: must be a non-negative integer, got -1',
    '--lr: must be a positive number, got 0',
    '--backend: must be one of auto, tensorflow, wasm, cpu, got "cuda" (did you mean "tensorflow"? it loads tfjs-node-gpu where installed)',
  ]);
  assert.equal(error.message.split('\n')[0], 'command line: 4 problems');
});

test('specSettingsHash leaves out the backend (how, not what, a cell computes)', () => {
  const text = 'name: s\ngrid: {dataset: synthetic, width: 4, depth: 1, sample_size: 10}\n';
  const plain = parseSpec(text, 's.yaml');
  const wasm = parseSpec(`${text}backend: wasm\n`, 's.yaml');
  assert.equal(wasm.backend, 'wasm');
  assert.notEqual(specHash(wasm), specHash(plain));
  assert.equal(specSettingsHash(wasm), specSettingsHash(plain));
  assert.deepEqual(expandGrid(wasm).map(cellId), expandGrid(plain).map(cellId));
  // A setting that does change the numbers still changes the hash.
  assert.notEqual(specSettingsHash(parseSpec(`${text}backend: wasm\nmeasure: {top_k: 3}\n`, 's.yaml')), specSettingsHash(plain));
});
