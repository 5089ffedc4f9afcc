/**
 * The compact plan (`planGrid`) against a straightforward reference: every cell of every grid built as an
 * object, duplicates dropped by cell id, sorted by the run-order rule written out again here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cellCost, cellId, DATASETS, expandGrid, makeCell, parseSpec, parseWhere, planGrid, type Cell, type DatasetName, type GridPoint,
  type SweepSpec,
} from '../src/index.js';

/** A seeded generator (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The cells of `spec` the obvious way: all of them as objects, first of each id kept, sorted by the rule. */
function referenceCells(spec: SweepSpec): Cell[] {
  const byId = new Map<string, Cell>();
  for (const g of spec.grids) {
    for (const dataset of g.dataset) for (const width of g.width) for (const depth of g.depth) for (const seed of g.seed) {
      for (const sample_size of g.sample_size) {
        const cell = makeCell({ dataset, width, depth, seed, sample_size }, spec);
        if (!byId.has(cellId(cell))) byId.set(cellId(cell), cell);
      }
    }
  }
  const seedRank = [...new Set(spec.grids.flatMap((g) => g.seed))];
  const key = (c: Cell) => [seedRank.indexOf(c.seed), cellCost(c), DATASETS.indexOf(c.dataset), c.width, c.depth, c.sample_size];
  const before = (a: Cell, b: Cell) => {
    const [ka, kb] = [key(a), key(b)];
    const k = ka.findIndex((v, i) => v !== kb[i]);
    return k < 0 ? 0 : ka[k] - kb[k];
  };
  return [...byId.values()].sort(before);
}

/** 1 to `max` distinct items of `pool`, in random order (a partial Fisher–Yates shuffle). */
function pickSome<T>(random: () => number, pool: readonly T[], max: number): T[] {
  const items = [...pool];
  const count = 1 + Math.floor(random() * Math.min(max, items.length));
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (items.length - i));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items.slice(0, count);
}

/** A random spec of 1 to 3 overlapping grids over small axes, so that duplicates and cost ties are common. */
function randomSpec(random: () => number): SweepSpec {
  const datasets: DatasetName[] = ['mnist', 'fashion_mnist', 'cifar10', 'synthetic'];
  const grids = Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
    dataset: pickSome(random, datasets, 3),
    width: pickSome(random, [1, 2, 3, 4, 6, 8, 12], 4),
    depth: pickSome(random, [0, 1, 2, 3, 4], 3),
    seed: pickSome(random, [0, 1, 2, 5, 9], 3),
    sample_size: pickSome(random, [2, 3, 4, 6, 8, 12], 3),
  }));
  const synthetic = random() < 0.5 ? { synthetic: { dim: 2, classes: 3 } } : {};
  return parseSpec(JSON.stringify({ name: 'r', data_dir: '/d', ...synthetic, train: { epochs: 1 + Math.floor(random() * 3) }, grids }), '/specs/r.json');
}

const pointOf = (c: Cell): GridPoint => ({ dataset: c.dataset, width: c.width, depth: c.depth, seed: c.seed, sample_size: c.sample_size });

test('planGrid: the same cells, ids and order as the reference on random specs', () => {
  const random = rng(11);
  let duplicates = 0;
  for (let trial = 0; trial < 200; trial++) {
    const spec = randomSpec(random);
    const expected = referenceCells(spec);
    const plan = planGrid(spec);
    const given = spec.grids.reduce((n, g) => n + g.dataset.length * g.width.length * g.depth.length * g.seed.length * g.sample_size.length, 0);
    duplicates += given - expected.length;
    assert.equal(plan.size, expected.length, `trial ${trial}`);
    for (let i = 0; i < plan.size; i++) {
      assert.deepEqual(plan.pointAt(i), pointOf(expected[i]), `trial ${trial}, cell ${i}`);
      assert.deepEqual(plan.cellAt(i), expected[i], `trial ${trial}, cell ${i}`);
      assert.equal(plan.idAt(i), cellId(expected[i]), `trial ${trial}, cell ${i}`);
    }
    assert.deepEqual([...plan], expected, `trial ${trial}`);
    assert.deepEqual(expandGrid(spec), expected, `trial ${trial}`);
  }
  assert.ok(duplicates > 0, 'the random specs overlap somewhere, so dedup was exercised');
});

test('planGrid: a --where slice taken on grid points selects the cells the filter selects', () => {
  const random = rng(12);
  const clauses = ['width<=3', 'width=2|8', 'depth>=2', 'depth!=0', 'seed=1|9', 'sample_size>3', 'dataset=mnist|synthetic', 'dataset!=cifar10'];
  for (let trial = 0; trial < 100; trial++) {
    const spec = randomSpec(random);
    const expr = pickSome(random, clauses, 3).join(',');
    const include = parseWhere(expr);
    const plan = planGrid(spec);
    const selected: string[] = [];
    for (let i = 0; i < plan.size; i++) if (include(plan.pointAt(i))) selected.push(plan.idAt(i));
    assert.deepEqual(selected, referenceCells(spec).filter(include).map(cellId), `trial ${trial}: ${expr}`);
  }
});

test('planGrid: a cell index outside the plan is a RangeError', () => {
  const plan = planGrid(parseSpec('name: t\ngrid: {dataset: synthetic, width: [2, 4], depth: 1, sample_size: 10}', 's.yaml'));
  assert.equal(plan.size, 2);
  for (const bad of [-1, 2, 0.5, Number.NaN]) assert.throws(() => plan.cellAt(bad), RangeError, String(bad));
});

test('planGrid: a 1,000,000-cell spec, checked at sampled indices by counting the points before each', () => {
  const range = (from: number, to: number, step = 1) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);
  // Seeds listed out of numeric order: their rank is their place in the spec.
  const axes = { width: range(1, 100), depth: range(1, 10), seed: [3, 0, 9, 1, 8, 2, 7, 4, 6, 5], sample_size: range(10, 1000, 10) };
  const spec = parseSpec(JSON.stringify({ name: 'big', train: { epochs: 2 }, grid: { dataset: 'synthetic', ...axes } }), '/specs/big.json', { maxCells: 1_000_000 });
  const plan = planGrid(spec);
  assert.equal(plan.size, 1_000_000);

  // synthetic 32→4 by default: cost = m · (32h + d·h² + 4h) · epochs.
  const cost = (w: number, d: number, m: number) => m * (32 * w + d * w * w + 4 * w) * 2;
  /** How many grid points come before (seed rank, cost, width, depth, sample size) under the run order. */
  const rankOf = (p: GridPoint) => {
    const rank = axes.seed.indexOf(p.seed);
    const c = cost(p.width, p.depth, p.sample_size);
    let before = rank * 100_000; // every point of an earlier seed
    for (const w of axes.width) for (const d of axes.depth) for (const m of axes.sample_size) {
      const cq = cost(w, d, m);
      if (cq < c || (cq === c && (w < p.width || (w === p.width && (d < p.depth || (d === p.depth && m < p.sample_size)))))) before++;
    }
    return before;
  };
  const random = rng(13);
  const sample = [0, 1, 99_999, 100_000, 999_999, ...Array.from({ length: 40 }, () => Math.floor(random() * 1_000_000))];
  for (const i of sample) {
    const point = plan.pointAt(i);
    assert.equal(rankOf(point), i, `cell ${i}: ${JSON.stringify(point)}`);
    assert.deepEqual(plan.cellAt(i), makeCell(point, spec));
    assert.equal(plan.idAt(i), cellId(makeCell(point, spec)));
  }
  assert.deepEqual(plan.pointAt(0), { dataset: 'synthetic', width: 1, depth: 1, seed: 3, sample_size: 10 });
  assert.deepEqual(plan.pointAt(999_999), { dataset: 'synthetic', width: 100, depth: 10, seed: 5, sample_size: 1000 });
});
