import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  cellCost, cellId, DEFAULT_MEASURE, DEFAULT_TRAIN, DATASET_SIZES, expandGrid, parseSpec, parseWhere, readSpec,
  specHash, specSettingsHash, SpecError, type Cell, type SweepSpec,
} from '../src/index.js';
import { problemsOf } from './problems.js';


const yamlProblems = (text: string, path = '/specs/s.yaml') => problemsOf(() => parseSpec(text, path));

const MINIMAL = `
name: ok
grid:
  dataset: [mnist]
  width: [16]
  depth: [5]
  sample_size: [1000]
`;

test('a YAML spec parses with every default filled in', () => {
  const spec = parseSpec(MINIMAL, '/specs/s.yaml');
  assert.deepEqual(spec, {
    name: 'ok',
    grid: { dataset: ['mnist'], width: [16], depth: [5], seed: [0], sample_size: [1000] },
    grids: [{ dataset: ['mnist'], width: [16], depth: [5], seed: [0], sample_size: [1000] }],
    train: DEFAULT_TRAIN,
    measure: DEFAULT_MEASURE,
    data: {},
    backend: 'auto',
  } satisfies SweepSpec);
});

test('a scalar stands for a one-element list; given settings override defaults one by one', () => {
  const spec = parseSpec(
    `
name: scalars-1
grid: {dataset: synthetic, width: 8, depth: 0, seed: 3, sample_size: 64}
train: {epochs: 2, lr: 1e-2}
measure: {top_k: 0, ggn: false}
synthetic: {dim: 5, classes: 3}
backend: wasm
`,
    '/specs/s.yml',
  );
  assert.deepEqual(spec.grid, { dataset: ['synthetic'], width: [8], depth: [0], seed: [3], sample_size: [64] });
  assert.deepEqual(spec.train, { ...DEFAULT_TRAIN, epochs: 2, lr: 0.01 });
  // No Ritz vectors (top_k 0): the default stabilization subspace shrinks to none.
  assert.deepEqual(spec.measure, { ...DEFAULT_MEASURE, top_k: 0, ggn: false, stabilization: { ...DEFAULT_MEASURE.stabilization, subspace: 0 } });
  assert.deepEqual(spec.data, { synthetic_dim: 5, synthetic_classes: 3 });
  assert.equal(spec.backend, 'wasm');
});

test('a JSON spec parses the same way, and relative paths resolve against the spec directory', () => {
  const spec = parseSpec(
    JSON.stringify({
      name: 'feat',
      grid: { dataset: ['features'], width: [4, 8], depth: [1], seed: [0, 1], sample_size: [100] },
      features: 'data/feats.csv',
      label_column: 'y',
      data_dir: '../idx',
    }),
    '/specs/sub/feat.json',
  );
  assert.deepEqual(spec.data, { features_path: '/specs/sub/data/feats.csv', label_column: 'y', data_dir: '/specs/idx' });
  assert.deepEqual(spec.train, DEFAULT_TRAIN);
  assert.deepEqual(spec.measure, DEFAULT_MEASURE);
  assert.equal(parseSpec(JSON.stringify({ name: 'a', grid: { dataset: 'features', width: 1, depth: 1, sample_size: 2 }, features: '/abs/f.arrow' }), 'x.json').data.features_path, '/abs/f.arrow');
});

test('every error case gives its exact message with its field path', () => {
  const cases: [string, string][] = [
    ['name: my sweep', 'name: must match [A-Za-z0-9_-]+ (used in file and subject names), got "my sweep"'],
    [`name: ${'a'.repeat(300)}`, 'name: must be at most 64 characters (it names a directory and NATS subjects), got 300'],
    ['grid: {width: [4, 8, -4]}', 'grid.width[2]: must be a positive integer, got -4'],
    ['grid: {width: [16, 8, 16]}', 'grid.width: 16 appears twice'],
    ['grid: {width: [16, 16, 16]}', 'grid.width: 16 appears 3 times'],
    ['grid: {dataset: [mnist, mnist]}', 'grid.dataset: "mnist" appears twice'],
    ['grid: {depth: []}', 'grid.depth: must not be empty'],
    ['grid: {depth: [1.5]}', 'grid.depth[0]: must be a non-negative integer, got 1.5'],
    ['grid: {depth: -1}', 'grid.depth: must be a non-negative integer, got -1'],
    ['grid: {seed: [-1]}', 'grid.seed[0]: must be a non-negative integer below 2^32, got -1'],
    ['grid: {width: ["16"]}', 'grid.width[0]: must be a positive integer, got "16"'],
    ['grid: {sample_size: [100, 1]}', 'grid.sample_size[1]: must be an integer ≥ 2 (the loss-difference curve compares two samples), got 1'],
    ['grid: {sample_size: [100, 20000]}', 'grid.sample_size[1]: 20000 exceeds the 10000 samples of mnist'],
    ['grid: {dataset: [mnsit]}', 'grid.dataset[0]: must be one of mnist, fashion_mnist, cifar10, cifar100, features, synthetic, got "mnsit" (did you mean "mnist"?)'],
    ['grid: {widht: [4]}', 'grid.widht: unknown key (did you mean "width"?)'],
    ['trian: {epochs: 1}', 'trian: unknown key (did you mean "train"?)'],
    ['lr: 0.01', 'lr: unknown key (did you mean "train.lr"?)'],
    ['zzzzzz: 1', 'zzzzzz: unknown key (expected one of: name, grid, grids, train, measure, data_dir, features, label_column, synthetic, backend)'],
    ['train: {epoch: 3}', 'train.epoch: unknown key (did you mean "epochs"?)'],
    ['measure: {lanczos_iter: 3}', 'measure.lanczos_iter: unknown key (did you mean "lanczos_iters"?)'],
    ['synthetic: {dims: 3}', 'synthetic.dims: unknown key (did you mean "dim"?)'],
    ['measure: {ggn: "yes"}', 'measure.ggn: must be a boolean, got "yes"'],
    ['measure: {ggn: yes}', 'measure.ggn: must be a boolean, got "yes"'],
    ['measure: {density: 1}', 'measure.density: must be a boolean, got 1'],
    ['train: {bias: "no"}', 'train.bias: must be a boolean, got "no"'],
    ['train: {lr: 0}', 'train.lr: must be a positive number, got 0'],
    ['train: {lr: -1e-3}', 'train.lr: must be a positive number, got -0.001'],
    ['train: {lr: .inf}', 'train.lr: must be a positive number, got Infinity'],
    ['train: {epochs: 0}', 'train.epochs: must be a positive integer, got 0'],
    ['train: {batch_size: 6.5}', 'train.batch_size: must be a positive integer, got 6.5'],
    ['train: {optimizer: sgd}', 'train.optimizer: must be "adam" (the only optimizer), got "sgd"'],
    ['train: {init: xavier}', 'train.init: must be one of uniform, he, got "xavier"'],
    ['train: 3', 'train: must be a mapping, got 3'],
    ['measure: {permutations: 0}', 'measure.permutations: must be a positive integer, got 0'],
    ['measure: {curve_points: -2}', 'measure.curve_points: must be a positive integer, got -2'],
    ['measure: {lanczos_iters: 0}', 'measure.lanczos_iters: must be a positive integer, got 0'],
    ['measure: {top_k: -1}', 'measure.top_k: must be a non-negative integer, got -1'],
    ['measure: {trace_probes: 0.5}', 'measure.trace_probes: must be a non-negative integer, got 0.5'],
    ['measure: {lanczos_tol: 1}', 'measure.lanczos_tol: must be a number in [0, 1), got 1'],
    ['measure: {lanczos_tol: -0.1}', 'measure.lanczos_tol: must be a number in [0, 1), got -0.1'],
    ['measure: {top_k: 40}', 'measure.top_k: 40 exceeds measure.lanczos_iters (30): Lanczos finds at most that many eigenvalues'],
    ['backend: gpus', 'backend: must be one of auto, tensorflow, wasm, cpu, got "gpus" (did you mean "cpu"?)'],
    ['backend: cuda', 'backend: must be one of auto, tensorflow, wasm, cpu, got "cuda" (did you mean "tensorflow"? it loads tfjs-node-gpu where installed)'],
    ['features: f.csv', 'features: only used by the features dataset, which the grid does not include'],
    ['data_dir: ""', 'data_dir: must be a non-empty string, got ""'],
  ];
  for (const [override, expected] of cases) {
    // Merge the override into the minimal spec (YAML flow mappings merge by hand: the override's grid keys win).
    const base = { name: 'ok', grid: { dataset: ['mnist'], width: [16], depth: [5], sample_size: [1000] } } as Record<string, unknown>;
    const text = override.startsWith('grid:')
      ? `name: ok\ngrid:\n  ${Object.entries({ dataset: '[mnist]', width: '[16]', depth: '[5]', sample_size: '[1000]', ...flowEntries(override.slice(5)) })
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n  ')}\n`
      : `${override.startsWith('name:') ? '' : 'name: ok\n'}${override}\ngrid: ${JSON.stringify(base.grid)}\n`;
    assert.deepEqual(yamlProblems(text), [expected], `for ${override}`);
  }
});

/** `{a: [1, 2], b: x}` → { a: '[1, 2]', b: 'x' } (only flat flow mappings, as the cases above use). */
function flowEntries(flow: string): Record<string, string> {
  const inner = flow.trim().replace(/^\{|\}$/g, '');
  const out: Record<string, string> = {};
  for (const match of inner.matchAll(/(\w+):\s*(\[[^\]]*\]|[^,]+)/g)) out[match[1]] = match[2].trim();
  return out;
}

test('every problem is reported at once, one line each, in one SpecError', () => {
  const text = `
name: my sweep
trian: {epochs: 3}
grid:
  dataset: mnist
  width: [4, 16, -4, 16]
  depth: []
  sample_size: 20000
measure:
  ggn: yes
`;
  let error: unknown;
  try {
    parseSpec(text, 'sweeps/bad.yaml');
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof SpecError);
  assert.equal(error.path, 'sweeps/bad.yaml');
  assert.deepEqual(error.problems.slice().sort(), [
    'grid.depth: must not be empty',
    'grid.sample_size: 20000 exceeds the 10000 samples of mnist',
    'grid.width: 16 appears twice',
    'grid.width[2]: must be a positive integer, got -4',
    'measure.ggn: must be a boolean, got "yes"',
    'name: must match [A-Za-z0-9_-]+ (used in file and subject names), got "my sweep"',
    'trian: unknown key (did you mean "train"?)',
  ]);
  assert.equal(error.message.split('\n')[0], 'sweeps/bad.yaml: 7 problems');
  assert.equal(error.message.split('\n').length, 8);
  for (const problem of error.problems) assert.ok(error.message.includes(`\n  ${problem}`));
});

test('five different problems make five lines', () => {
  const problems = yamlProblems(`
name: "x y"
grid: {dataset: [mnist], width: [0], depth: [2], sample_size: [10]}
train: {lr: 0}
measure: {ggn: "no"}
backend: tpu
`);
  assert.equal(problems.length, 5, problems.join('\n'));
  const error = new SpecError('s.yaml', problems);
  assert.match(error.message, /^s\.yaml: 5 problems\n/);
  // One problem is one line.
  assert.equal(new SpecError('s.yaml', ['a: b']).message, 's.yaml: a: b');
});

test('required fields, features, data_dir, mnist size with data_dir, and other datasets', () => {
  assert.deepEqual(yamlProblems('grid: {dataset: mnist}'), [
    'name: required ([A-Za-z0-9_-]+, used in file and subject names)',
    'grid.width: required (a list of positive integers)',
    'grid.depth: required (a list of non-negative integers)',
    'grid.sample_size: required (a list of integers ≥ 2)',
  ]);
  assert.deepEqual(yamlProblems('name: a'), ['grid: required (or grids: a list of grids whose union is the sweep)']);
  assert.deepEqual(yamlProblems('name: a\ngrid: {dataset: features, width: 4, depth: 1, sample_size: 10}'), [
    'features: required by the features dataset (an Arrow or CSV file of feature vectors and labels)',
  ]);
  assert.deepEqual(yamlProblems('name: a\ngrid: {dataset: [cifar10, cifar100], width: 4, depth: 1, sample_size: [10, 50001]}'), [
    'data_dir: required by cifar10 (the directory with data_batch_1.bin … data_batch_5.bin)',
    'data_dir: required by cifar100 (the directory with train.bin)',
    'grid.sample_size[1]: 50001 exceeds the 50000 samples of cifar10',
    'grid.sample_size[1]: 50001 exceeds the 50000 samples of cifar100',
  ]);
  // With data_dir, MNIST is the 60,000-image IDX set.
  const withDir = parseSpec('name: a\ndata_dir: /data/mnist\ngrid: {dataset: mnist, width: 4, depth: 1, sample_size: 60000}', 's.yaml');
  assert.equal(withDir.data.data_dir, '/data/mnist');
  assert.deepEqual(yamlProblems('name: a\ndata_dir: /d\ngrid: {dataset: [mnist, fashion_mnist], width: 4, depth: 1, sample_size: 60001}'), [
    'grid.sample_size: 60001 exceeds the 60000 samples of mnist',
    'grid.sample_size: 60001 exceeds the 60000 samples of fashion_mnist',
  ]);
  // synthetic and features are not size-checked.
  parseSpec('name: a\ngrid: {dataset: synthetic, width: 4, depth: 1, sample_size: 1000000}', 's.yaml');
  assert.deepEqual(DATASET_SIZES.mnist, { files: 60000, package: 10000 });
  assert.equal(DATASET_SIZES.cifar100.files, 50000);
  assert.deepEqual(yamlProblems('[1, 2]'), ['(top level): must be a mapping with at least name and grid, got [1,2]']);
  assert.deepEqual(yamlProblems(''), ['(top level): must be a mapping with at least name and grid, got null']);
});

test('a YAML syntax error names its line and column; a JSON one too', () => {
  const problems = yamlProblems('name: a\ngrid:\n  width: [4, 8\n  depth: 3\n');
  assert.deepEqual(problems, ['line 4, column 3: Flow sequence in block collection must be sufficiently indented and end with a ]']);
  assert.deepEqual(yamlProblems('name: a\n\tgrid: 3\n'), ['line 2, column 1: Tabs are not allowed as indentation']);
  const duplicate = yamlProblems('name: a\nname: b\n');
  assert.deepEqual(duplicate, ['line 2, column 1: Map keys must be unique']);
  const json = problemsOf(() => parseSpec('{\n  "name": "a",\n  "grid" 3\n}', '/s/spec.json'));
  assert.equal(json.length, 1);
  assert.match(json[0], /^line 3, column 10: invalid JSON: /);
});

test('grids: a union of cartesian grids, each validated under its own path', () => {
  const spec = parseSpec(
    `
name: union
grids:
  - {dataset: mnist, width: [4, 8, 16], depth: 5, sample_size: 1000}
  - {dataset: mnist, width: 16, depth: [1, 5], sample_size: 1000}
`,
    's.yaml',
  );
  assert.equal(spec.grids.length, 2);
  assert.deepEqual(spec.grid, { dataset: ['mnist'], width: [4, 8, 16], depth: [5, 1], seed: [0], sample_size: [1000] });
  const cells = expandGrid(spec);
  assert.equal(cells.length, 4); // 3 + 2, with (16, 5) once
  assert.equal(new Set(cells.map(cellId)).size, 4);

  assert.deepEqual(
    yamlProblems(`
name: union
grids:
  - {dataset: mnist, width: [-1], depth: 5, sample_size: 1000}
  - {dataset: mnist, width: 16, depths: [1, 5], sample_size: 20000}
  - 7
`),
    [
      'grids[0].width[0]: must be a positive integer, got -1',
      'grids[1].depths: unknown key (did you mean "depth"?)',
      'grids[1].depth: required (a list of non-negative integers)',
      'grids[2]: must be a mapping of dataset, width, depth, seed, sample_size, got 7',
      'grids[1].sample_size: 20000 exceeds the 10000 samples of mnist',
    ],
  );
  assert.deepEqual(yamlProblems('name: a\ngrids: []'), ['grids: must not be empty']);
  assert.deepEqual(yamlProblems('name: a\ngrid: {dataset: mnist, width: 4, depth: 1, sample_size: 10}\ngrids: []'), [
    'grids: give either grid (one cartesian grid) or grids (a list of them), not both',
  ]);
  // `grid:` and a one-item `grids:` are the same spec.
  const one = parseSpec('name: a\ngrid: {dataset: mnist, width: 4, depth: 1, sample_size: 10}', 's.yaml');
  const list = parseSpec('name: a\ngrids: [{dataset: mnist, width: 4, depth: 1, sample_size: 10}]', 's.yaml');
  assert.equal(specHash(one), specHash(list));
});

const SMALL = `
name: small
grid:
  dataset: [synthetic]
  width: [16, 4, 8]
  depth: [2, 1]
  seed: [7, 3]
  sample_size: [200, 100]
`;

test('expansion: the product of the axes, seeds round-robin, cheap cells first, deterministic, unique ids', () => {
  const spec = parseSpec(SMALL, 's.yaml');
  const cells = expandGrid(spec);
  assert.equal(cells.length, 3 * 2 * 2 * 2);
  assert.equal(new Set(cells.map(cellId)).size, cells.length);
  // All cells of seed 7 (first in the spec) before any of seed 3.
  assert.deepEqual(cells.map((c) => c.seed), [...Array(12).fill(7), ...Array(12).fill(3)]);
  // Within a seed, cost never decreases; the cheapest cell is the narrowest, shallowest, smallest.
  for (const seed of [7, 3]) {
    const costs = cells.filter((c) => c.seed === seed).map(cellCost);
    for (let i = 1; i < costs.length; i++) assert.ok(costs[i - 1] <= costs[i]);
  }
  assert.deepEqual([cells[0].width, cells[0].depth, cells[0].sample_size], [4, 1, 100]);
  assert.deepEqual([cells[11].width, cells[11].depth, cells[11].sample_size], [16, 2, 200]);
  // synthetic 32→4 by default: cost = m · (32h + d·h² + 4h) · epochs.
  assert.equal(cellCost(cells[0]), 100 * (32 * 4 + 1 * 16 + 4 * 4) * 10);
  // The same order on every call and from a reordered spec file.
  assert.deepEqual(expandGrid(spec), cells);
  const reordered = parseSpec(SMALL.replace('[16, 4, 8]', '[8, 16, 4]').replace('[200, 100]', '[100, 200]'), 's.yaml');
  assert.deepEqual(expandGrid(reordered).map(cellId), cells.map(cellId));
  // Every cell carries the spec's settings.
  for (const cell of cells) {
    assert.deepEqual(cell.train, spec.train);
    assert.deepEqual(cell.measure, spec.measure);
  }
});

test('ties in cost fall back to dataset, width, depth, sample size', () => {
  // mnist and fashion_mnist cost the same: mnist (earlier in DATASETS) first.
  const spec = parseSpec('name: t\ndata_dir: /d\ngrid: {dataset: [fashion_mnist, mnist], width: 4, depth: 1, sample_size: 10}', 's.yaml');
  assert.deepEqual(expandGrid(spec).map((c) => c.dataset), ['mnist', 'fashion_mnist']);
  // cifar100 costs more than cifar10 (100 classes), which costs more than mnist.
  const mixed = parseSpec('name: t\ndata_dir: /d\ngrid: {dataset: [cifar100, cifar10, mnist], width: 4, depth: 1, sample_size: 10}', 's.yaml');
  assert.deepEqual(expandGrid(mixed).map((c) => c.dataset), ['mnist', 'cifar10', 'cifar100']);
});

test('a cell carries only the data-source fields its dataset reads', () => {
  const spec = parseSpec(
    'name: t\ndata_dir: /d\nfeatures: /f.csv\nsynthetic: {dim: 8}\ngrid: {dataset: [mnist, features, synthetic], width: 4, depth: 1, sample_size: 10}',
    's.yaml',
  );
  const byDataset = Object.fromEntries(expandGrid(spec).map((c) => [c.dataset, c.data]));
  assert.deepEqual(byDataset, { mnist: { data_dir: '/d' }, features: { features_path: '/f.csv' }, synthetic: { synthetic_dim: 8 } });
});

test('parseWhere filters cells', () => {
  const cells = expandGrid(parseSpec(SMALL, 's.yaml'));
  const count = (expr: string) => cells.filter(parseWhere(expr)).length;
  assert.equal(count('width=16'), 8);
  assert.equal(count('width=16,depth<=1'), 4);
  assert.equal(count('width!=16'), 16);
  assert.equal(count('width>4, width<16'), 8);
  assert.equal(count('width>=8'), 16);
  assert.equal(count('seed=3,sample_size=100'), 6);
  assert.equal(count('sample-size>100'), 12);
  assert.equal(count('width=4|16'), 16);
  assert.equal(count('width==8'), 8);
  assert.equal(count('dataset=synthetic'), 24);
  assert.equal(count('dataset!=synthetic'), 0);
  assert.equal(count('dataset=mnist|synthetic,depth=2'), 12);
  const mnist: Cell = { ...cells[0], dataset: 'mnist', width: 16, depth: 5 };
  assert.equal(parseWhere('width=16,depth<=5,dataset=mnist')(mnist), true);
  assert.equal(parseWhere('width=16,depth<5,dataset=mnist')(mnist), false);
});

test('parseWhere rejects bad clauses, naming each', () => {
  const problems = (expr: string) => problemsOf(() => parseWhere(expr));
  assert.deepEqual(problems('wdth=16'), ['clause 1 "wdth=16": unknown field "wdth" (did you mean "width"?)']);
  assert.deepEqual(problems('width=16,color=red'), ['clause 2 "color=red": unknown field "color" (expected one of dataset, width, depth, seed, sample_size)']);
  assert.deepEqual(problems('width=abc'), ['clause 1 "width=abc": width needs a number, got "abc"']);
  assert.deepEqual(problems('dataset<mnist'), ['clause 1 "dataset<mnist": dataset can only be compared with = or !=']);
  assert.deepEqual(problems('dataset=mnsit'), ['clause 1 "dataset=mnsit": unknown dataset "mnsit" (did you mean "mnist"?)']);
  assert.deepEqual(problems('width16'), ['clause 1 "width16": expected FIELD OP VALUE with OP one of = != < <= > >= (e.g. width=16)']);
  assert.deepEqual(problems('width='), ['clause 1 "width=": missing value after =']);
  assert.deepEqual(problems('width<4|8'), ['clause 1 "width<4|8": alternatives (a|b) only go with = or !=']);
  assert.deepEqual(problems('width=16,'), ['clause 2: empty (a stray comma?)']);
  assert.deepEqual(problems(' '), ['empty expression (expected e.g. width=16,depth<=5)']);
  // All bad clauses at once.
  const error = (() => {
    try {
      parseWhere('wdth=1,depth<x');
    } catch (e) {
      return e as SpecError;
    }
    return undefined;
  })();
  assert.ok(error instanceof SpecError);
  assert.equal(error.problems.length, 2);
  assert.match(error.message, /^--where: 2 problems\n/);
});

test('specHash is stable under key order and changes with the spec', () => {
  const a = parseSpec(JSON.stringify({ name: 'h', grid: { dataset: 'mnist', width: [4, 8], depth: 1, sample_size: 100 }, train: { lr: 0.01, epochs: 3 } }), 'a.json');
  const b = parseSpec(JSON.stringify({ train: { epochs: 3, lr: 0.01 }, grid: { sample_size: 100, depth: 1, width: [4, 8], dataset: 'mnist' }, name: 'h' }), 'b.json');
  assert.match(specHash(a), /^[0-9a-f]{64}$/);
  assert.equal(specHash(a), specHash(b));
  assert.equal(specSettingsHash(a), specSettingsHash(b));
  const c = parseSpec(JSON.stringify({ name: 'h', grid: { dataset: 'mnist', width: [4, 8], depth: 1, sample_size: 100 }, train: { lr: 0.01, epochs: 4 } }), 'a.json');
  assert.notEqual(specHash(a), specHash(c));
});

test('specSettingsHash: same when only the grid (or name, or data_dir) changes, different when train.lr does', () => {
  const base = 'train: {lr: 0.001}\ngrid: {dataset: mnist, width: [4, 8], depth: 1, sample_size: 100}';
  const spec = parseSpec(`name: s\n${base}`, 's.yaml');
  const extended = parseSpec(`name: s\ntrain: {lr: 0.001}\ngrid: {dataset: mnist, width: [4, 8, 16], depth: [1, 2], seed: [0, 1], sample_size: 100}`, 's.yaml');
  const asGrids = parseSpec(
    `name: s\ntrain: {lr: 0.001}\ngrids:\n  - {dataset: mnist, width: [4, 8], depth: 1, sample_size: 100}\n  - {dataset: mnist, width: 16, depth: 1, sample_size: 100}`,
    's.yaml',
  );
  const renamed = parseSpec(`name: t\n${base}`, 's.yaml');
  const moved = parseSpec(`name: s\ndata_dir: /elsewhere\n${base}`, 's.yaml');
  const lr = parseSpec(`name: s\n${base.replace('0.001', '0.002')}`, 's.yaml');
  assert.notEqual(specHash(extended), specHash(spec));
  assert.equal(specSettingsHash(extended), specSettingsHash(spec));
  assert.equal(specSettingsHash(asGrids), specSettingsHash(spec));
  assert.equal(specSettingsHash(renamed), specSettingsHash(spec));
  assert.equal(specSettingsHash(moved), specSettingsHash(spec));
  assert.notEqual(specSettingsHash(lr), specSettingsHash(spec));
  // An extended grid keeps every cell of the original (same ids): finished cells stay valid.
  const before = new Set(expandGrid(spec).map(cellId));
  const after = new Set(expandGrid(extended).map(cellId));
  for (const id of before) assert.ok(after.has(id));
});

const examples = (name: string) => fileURLToPath(new URL(`../../../../examples/${name}`, import.meta.url));

test('the example specs parse and expand', async () => {
  const quick = await readSpec(examples('quick.yaml'));
  const quickCells = expandGrid(quick);
  assert.ok(quickCells.length >= 12);
  assert.ok(quickCells.every((c) => c.dataset === 'synthetic' && c.data.synthetic_dim === 128 && c.data.synthetic_classes === 10));
  assert.equal(quick.measure.top_k, 5);

  for (const [file, dataset] of [['paper-mnist.yaml', 'mnist'], ['paper-fashion-mnist.yaml', 'fashion_mnist']] as const) {
    const spec = await readSpec(examples(file));
    assert.deepEqual(spec.train, { epochs: 10, batch_size: 64, optimizer: 'adam', lr: 1e-3, bias: false, init: 'uniform' });
    assert.equal(spec.measure.permutations, 100);
    const cells = expandGrid(spec);
    const seeds = spec.grid.seed.length;
    assert.equal(cells.length, 14 * seeds);
    assert.ok(cells.every((c) => c.dataset === dataset && c.sample_size === 10000));
    const key = (c: Cell) => `${c.width}x${c.depth}`;
    const shapes = new Set(cells.map(key));
    for (const w of [4, 8, 16, 32, 64]) assert.ok(shapes.has(`${w}x5`));
    for (let d = 1; d <= 10; d++) assert.ok(shapes.has(`16x${d}`));
    assert.equal(shapes.size, 14);
    // parseSpec on the file's text gives the same spec as readSpec.
    assert.equal(specHash(parseSpec(readFileSync(examples(file), 'utf8'), examples(file))), specHash(spec));
  }
});

test('readSpec reports an unreadable file as a SpecError', async () => {
  await assert.rejects(readSpec('/nonexistent/spec.yaml'), (e: unknown) => e instanceof SpecError && /cannot read the spec file/.test(e.problems[0]));
});
