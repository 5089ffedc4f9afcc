import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  boundFigure, buildFigures, chooseFamilies, curveSeries, densityFigure, drawnGroups, ema, extent, lossDiffFigure, MAX_SERIES, metricFigure,
  metricPoints, metricSpec, type BoundPoint, type DensityCell, type FigureData,
} from '../src/figures.js';
import { formatNumber, formatStat, scopeSvgIds } from '../src/report.js';
import { NO_COLUMNS } from '../src/stab-figures.js';
import { welfordStat } from '../src/stats.js';
import { assertSvg, items, markGroups } from './svg.js';
import type { GroupField, Stat, SummaryRow } from '../src/types.js';

// ---------------------------------------------------------------------------------------------------------
// A small synthetic sweep: widths 4, 8, 16 at depth 3 and depths 1, 2, 3 at width 8, seeds 0 and 1.

const K = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144];

/** What these tests know of a cell: the values the figures are drawn from. */
interface CellData {
  cell_id: string;
  status: 'ok' | 'failed';
  dataset: string;
  width: number;
  depth: number;
  seed: number;
  sample_size: number;
  loss_diff_k: number[] | null;
  loss_diff: number[] | null;
  hessian_top: number[] | null;
  ggn_top: number[] | null;
  bound: number | null;
  density_x: number[] | null;
  density_y: number[] | null;
}

function cell(dataset: string, width: number, depth: number, seed: number, status: 'ok' | 'failed' = 'ok'): CellData {
  const scale = 0.01 * (1 + width / 16 + depth / 4) * (1 + 0.1 * seed);
  const density_x = Array.from({ length: 32 }, (_, i) => -0.1 + (0.3 * i) / 31);
  const ok = status === 'ok';
  return {
    cell_id: `${dataset}-${width}-${depth}-${seed}`,
    status,
    dataset,
    width,
    depth,
    seed,
    sample_size: 300,
    loss_diff_k: ok ? K : null,
    loss_diff: ok ? K.map((k) => scale / k) : null,
    hessian_top: ok ? [0.1 * width * (1 + seed * 0.05), 0.05] : null,
    ggn_top: ok ? [0.08 * width, 0.04] : null,
    bound: ok ? 10 * width * depth : null,
    density_x: ok ? density_x : null,
    density_y: ok ? density_x.map((x) => Math.exp(-((x * 40) ** 2)) * 50 + 1e-3) : null,
  };
}

function paperLikeCells(dataset = 'synthetic'): CellData[] {
  const cells: CellData[] = [];
  const seen = new Set<string>();
  const add = (w: number, d: number) => {
    for (const seed of [0, 1]) {
      const key = `${w}/${d}/${seed}`;
      if (seen.has(key)) continue;
      seen.add(key);
      cells.push(cell(dataset, w, d, seed));
    }
  };
  for (const w of [4, 8, 16]) add(w, 3);
  for (const d of [1, 2, 3]) add(8, d);
  return cells;
}

/**
 * A tiny local aggregation: one summary row per dataset × width × depth × sample size, its curve the plain mean,
 * min and max over the ok cells at each k that every one of them has.
 */
function summarize(cells: readonly CellData[]): SummaryRow[] {
  const stat = (values: number[]): Stat => {
    let n = 0;
    let mean = 0;
    let m2 = 0;
    for (const v of values) {
      n++;
      const d = v - mean;
      mean += d / n;
      m2 += d * (v - mean);
    }
    return welfordStat(n, mean, m2);
  };
  const groups = new Map<string, CellData[]>();
  for (const c of cells) {
    const key = `${c.dataset}|${c.width}|${c.depth}|${c.sample_size}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.values()].map((g) => {
    const ok = g.filter((c) => c.status === 'ok');
    const curves = ok.filter((c) => c.loss_diff_k && c.loss_diff);
    const k = curves.length ? curves[0].loss_diff_k!.filter((kk) => curves.every((c) => c.loss_diff_k!.includes(kk))) : [];
    const at = (c: CellData, kk: number) => c.loss_diff![c.loss_diff_k!.indexOf(kk)];
    const values = k.map((kk) => curves.map((c) => at(c, kk)));
    const key: Record<GroupField, string | number | null> = {
      dataset: g[0].dataset, width: g[0].width, depth: g[0].depth, sample_size: g[0].sample_size, seed: null,
    };
    return {
      key,
      seeds_ok: ok.length,
      seeds_failed: g.length - ok.length,
      failed: [],
      lambda_max: stat(ok.map((c) => c.hessian_top![0])),
      ggn_lambda_max: stat(ok.map((c) => c.ggn_top![0])),
      trace: stat(ok.map((c) => c.width * 0.01)),
      loss_diff_slope: stat(ok.map((c) => -1 + 0.01 * c.seed)),
      train_loss: stat(ok.map(() => 0.5)),
      train_accuracy: stat(ok.map(() => 0.9)),
      bound: stat(ok.map((c) => c.bound!)),
      bound_ratio: stat(ok.map((c) => c.bound! / c.hessian_top![0])),
      log_lambda_max: stat(ok.map((c) => c.hessian_top![0]).filter((v) => v > 0).map(Math.log)),
      log_ggn_lambda_max: stat(ok.map((c) => c.ggn_top![0]).filter((v) => v > 0).map(Math.log)),
      curve_k: k,
      curve_mean: values.map((v) => v.reduce((a, b) => a + b, 0) / v.length),
      curve_lo: values.map(() => Number.NaN),
      curve_hi: values.map(() => Number.NaN),
      curve_min: values.map((v) => v.reduce((a, b) => (b < a ? b : a))),
      curve_max: values.map((v) => v.reduce((a, b) => (b > a ? b : a))),
      smooth_k: [], smooth_mean: [], smooth_lo: [], smooth_hi: [], smooth_min: [], smooth_max: [],
      stabilization: null,
    };
  });
}

const densityOf = (c: CellData): DensityCell => ({
  cell_id: c.cell_id, dataset: c.dataset, width: c.width, depth: c.depth, sample_size: c.sample_size, seed: c.seed, x: c.density_x!, y: c.density_y!,
});
const boundOf = (c: CellData): BoundPoint => ({ dataset: c.dataset, depth: c.depth, lambda: c.hessian_top![0], bound: c.bound! });

/** What the report would gather from these cells: the groups, each group's lowest-seed density, every ok cell for the bound. */
function figureData(cells: readonly CellData[]): FigureData {
  const ok = cells.filter((c) => c.status === 'ok');
  const lowest = new Map<string, CellData>();
  for (const c of ok) {
    const key = `${c.dataset}|${c.width}|${c.depth}|${c.sample_size}`;
    if (c.density_x && (!lowest.has(key) || c.seed < lowest.get(key)!.seed)) lowest.set(key, c);
  }
  const points = ok.filter((c) => c.hessian_top && c.bound).map(boundOf);
  return {
    groups: summarize(cells),
    densities: [...lowest.values()].map(densityOf),
    bound: { points, cells: points.length, below: points.filter((p) => p.bound < p.lambda).length },
  };
}

// ---------------------------------------------------------------------------------------------------------

test('ema matches the closed form s_i = β^i x_0 + (1 − β) Σ_{j=1..i} β^(i−j) x_j', () => {
  const x = Array.from({ length: 40 }, (_, i) => Math.sin(i) + 1 / (i + 1));
  for (const beta of [0, 0.5, 0.9, 0.99]) {
    const s = ema(x, beta);
    assert.equal(s.length, x.length);
    for (let i = 0; i < x.length; i++) {
      let direct = beta ** i * x[0];
      for (let j = 1; j <= i; j++) direct += (1 - beta) * beta ** (i - j) * x[j];
      assert.ok(Math.abs(s[i] - direct) <= 1e-12 * Math.max(1, Math.abs(direct)), `β ${beta}, i ${i}: ${s[i]} vs ${direct}`);
    }
  }
  assert.deepEqual(ema(x, 0), x);
  assert.deepEqual(ema([], 0.99), []);
  assert.throws(() => ema(x, 1), RangeError);
  assert.throws(() => ema(x, -0.1), RangeError);
});

test('chooseFamilies picks the most common depth among cells varying width, and width among cells varying depth', () => {
  assert.deepEqual(chooseFamilies(paperLikeCells()), { fixedDepth: 3, fixedWidth: 8 });
  // The paper's MNIST grid: widths 4…64 at depth 5, depths 1…10 at width 16, three seeds.
  const paper: { width: number; depth: number }[] = [];
  for (const seed of [0, 1, 2]) {
    void seed;
    for (const width of [4, 8, 16, 32, 64]) paper.push({ width, depth: 5 });
    for (const depth of [1, 2, 3, 4, 6, 7, 8, 9, 10]) paper.push({ width: 16, depth });
  }
  assert.deepEqual(chooseFamilies(paper), { fixedDepth: 5, fixedWidth: 16 });
  // Only widths: no depth family.
  assert.deepEqual(chooseFamilies([{ width: 4, depth: 2 }, { width: 8, depth: 2 }]), { fixedDepth: 2, fixedWidth: null });
  // A full cartesian grid ties on count and on distinct values: the smaller value wins.
  const full = [4, 8].flatMap((width) => [1, 3].map((depth) => ({ width, depth })));
  assert.deepEqual(chooseFamilies(full), { fixedDepth: 1, fixedWidth: 4 });
});

test('curveSeries: a series per group, its mean and min–max over seeds at each k, EMA applied in k order', () => {
  const cells = paperLikeCells().filter((c) => c.depth === 3);
  const raw = curveSeries(summarize(cells), 'width');
  assert.deepEqual(raw.map((s) => s.label), ['h = 4', 'h = 8', 'h = 16']);
  for (const s of raw) {
    assert.deepEqual(s.k, K);
    assert.equal(s.seeds, 2);
    const group = cells.filter((c) => c.width === s.order[0]);
    s.k.forEach((_, i) => {
      const v = group.map((c) => c.loss_diff![i]);
      assert.ok(Math.abs(s.mean[i] - (v[0] + v[1]) / 2) < 1e-15);
      assert.equal(s.lo[i], v[0] < v[1] ? v[0] : v[1]);
      assert.equal(s.hi[i], v[0] < v[1] ? v[1] : v[0]);
    });
  }
  const smooth = curveSeries(summarize(cells), 'width', 0.9);
  smooth.forEach((s, j) => {
    assert.deepEqual(s.mean, ema(raw[j].mean, 0.9));
    assert.deepEqual(s.lo, ema(raw[j].lo, 0.9));
    assert.deepEqual(s.hi, ema(raw[j].hi, 0.9));
  });
  // A k where no seed gave a value (mean NaN) is left out; a group with no ok cell draws nothing.
  const [first, ...rest] = summarize(cells);
  const holed = { ...first, curve_mean: first.curve_mean.map((m, i) => (i === 2 ? Number.NaN : m)) };
  const failedOnly = { ...rest[0], seeds_ok: 0 };
  const series = curveSeries([holed, failedOnly], 'width');
  assert.equal(series.length, 1);
  assert.deepEqual(series[0].k, K.filter((_, i) => i !== 2));
  // Several sample sizes: the label names m.
  const sized = curveSeries(summarize([...cells, ...cells.map((c) => ({ ...c, sample_size: 600 }))]), 'width');
  assert.deepEqual(sized.map((s) => s.label).slice(0, 2), ['h = 4, m = 300', 'h = 4, m = 600']);
});

test('drawnGroups: every group up to MAX_SERIES series; beyond, the sample size with the most cells, then evenly spaced values', () => {
  const widths = Array.from({ length: 16 }, (_, i) => 4 * (i + 1));
  const sizes = [100, 200, 300];
  // m = 200 has the most cells (three seeds against two).
  const cells = widths.flatMap((w) => sizes.flatMap((m) => (m === 200 ? [0, 1, 2] : [0, 1]).map((seed) => ({ ...cell('synthetic', w, 3, seed), sample_size: m }))));
  const groups = summarize(cells);
  const drawn = drawnGroups(groups, 'width');
  assert.ok(drawn.groups.every((g) => g.key.sample_size === 200));
  const drawnWidths = drawn.groups.map((g) => Number(g.key.width)).sort((a, b) => a - b);
  // Ranks round(i · 15 / 11), i = 0 … 11, of the 16 widths.
  assert.deepEqual(drawnWidths, [0, 1, 3, 4, 5, 7, 8, 10, 11, 12, 14, 15].map((r) => widths[r]));
  assert.equal(drawnWidths.length, MAX_SERIES);
  assert.match(drawn.leftOut, /m = 200 only.*of 3\).*12 of 16 widths/);
  // Twelve series or fewer: all drawn, nothing left out.
  const few = summarize(cells.filter((c) => c.sample_size !== 300 && c.width <= 24));
  assert.equal(new Set(few.map((g) => `${g.key.width}|${g.key.sample_size}`)).size, 12);
  assert.deepEqual(drawnGroups(few, 'width'), { groups: few, leftOut: '' });
});

test('extent: smallest and largest by a loop, also of more values than a call can take as arguments', () => {
  assert.deepEqual(extent([3, -1, 7, 2]), [-1, 7]);
  const many = Float64Array.from({ length: 300_000 }, (_, i) => Math.sin(i) * i);
  let [lo, hi] = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (const v of many) [lo, hi] = [v < lo ? v : lo, v > hi ? v : hi];
  assert.deepEqual(extent(many), [lo, hi]);
  assert.throws(() => Math.max(...many), RangeError, 'the spread this replaces overflows');
});

test('lossDiffFigure: one line and one seed band per width, log–log axes; smoothing changes the lines', async () => {
  const cells = summarize(paperLikeCells().filter((c) => c.depth === 3));
  const svg = await lossDiffFigure(cells, { family: 'width', title: 'D_k' });
  assertSvg(svg);
  assert.equal(markGroups(svg, 'line', 'curve').length, 3);
  assert.equal(items(svg, 'line', 'curve', 'path'), 3);
  assert.equal(markGroups(svg, 'area', 'band').length, 3);
  for (const label of ['h = 4', 'h = 8', 'h = 16']) assert.ok(svg.includes(label), label);
  const depthSvg = await lossDiffFigure(summarize(paperLikeCells().filter((c) => c.width === 8)), { family: 'depth' });
  assertSvg(depthSvg);
  assert.equal(markGroups(depthSvg, 'line', 'curve').length, 3);
  for (const label of ['L = 1', 'L = 2', 'L = 3']) assert.ok(depthSvg.includes(label), label);
  const smoothed = await lossDiffFigure(cells, { family: 'width', title: 'D_k', smoothing: 0.99 });
  assertSvg(smoothed);
  assert.notEqual(smoothed, svg);
  // One seed: no band, still a line.
  const single = await lossDiffFigure(summarize(paperLikeCells().filter((c) => c.depth === 3 && c.seed === 0)), { family: 'width' });
  assert.equal(markGroups(single, 'line', 'curve').length, 3);
  assert.equal(markGroups(single, 'area', 'band').length, 0);
});

test('metricFigure: a line per metric, a point and a CI bar per group, the reference rule', async () => {
  const summary = summarize(paperLikeCells());
  const widthRows = summary.filter((r) => r.key.depth === 3);
  const svg = await metricFigure(widthRows, { family: 'width', metrics: ['lambda_max', 'ggn_lambda_max'], title: 'λ' });
  assertSvg(svg);
  assert.equal(markGroups(svg, 'line', 'line').length, 2);
  assert.equal(items(svg, 'symbol', 'points', 'path'), 6);
  // Hessian λ_max differs between seeds (CI bar per width); the GGN's does not (std 0, no bar).
  assert.equal(items(svg, 'rule', 'errorbars', 'line'), 3);
  assert.ok(svg.includes('Hessian λₘₐₓ') && svg.includes('GGN λₘₐₓ'));

  const slope = await metricFigure(summary.filter((r) => r.key.width === 8), { family: 'depth', metrics: ['loss_diff_slope'], rule: -1 });
  assertSvg(slope);
  assert.equal(markGroups(slope, 'line', 'line').length, 1);
  assert.equal(items(slope, 'symbol', 'points', 'path'), 3);
  assert.equal(items(slope, 'rule', 'reference', 'line'), 1);

  // Two datasets: one series per dataset × metric.
  const two = summarize([...paperLikeCells('mnist'), ...paperLikeCells('cifar10')]).filter((r) => r.key.depth === 3);
  const points = metricPoints(two, 'width', ['lambda_max', 'ggn_lambda_max']);
  assert.deepEqual([...new Set(points.map((p) => p.series))], ['cifar10 · Hessian λₘₐₓ', 'mnist · Hessian λₘₐₓ', 'cifar10 · GGN λₘₐₓ', 'mnist · GGN λₘₐₓ']);
  const twoSvg = await metricFigure(two, { family: 'width', metrics: ['lambda_max', 'ggn_lambda_max'] });
  assert.equal(markGroups(twoSvg, 'line', 'line').length, 4);
});

test('boundFigure: one point per given cell with positive values and the y = x line; densityFigure: one line per cell', async () => {
  const points = paperLikeCells().map(boundOf);
  const svg = await boundFigure([...points, { dataset: 'synthetic', depth: 3, lambda: 0, bound: 1 }], { title: 'bound' });
  assertSvg(svg);
  assert.equal(items(svg, 'symbol', 'cells', 'path'), points.length);
  assert.equal(items(svg, 'line', 'identity', 'path'), 1);

  const chosen = paperLikeCells().filter((c) => c.depth === 3 && c.seed === 0).map(densityOf);
  for (const logY of [false, true]) {
    const density = await densityFigure(chosen, { family: 'width', logY });
    assertSvg(density);
    assert.equal(markGroups(density, 'line', 'density').length, 3);
  }
});

test('buildFigures: every figure of a two-family sweep; a width-only sweep skips the depth figures with notes', async () => {
  const cells = [...paperLikeCells(), cell('synthetic', 16, 3, 5, 'failed')];
  const set = await buildFigures(figureData(cells), { smoothing: 0.99 });
  assert.deepEqual(set.figures.map((f) => f.name), [
    'dk-width-synthetic', 'dk-depth-synthetic', 'lambda-width', 'lambda-depth', 'trace-width', 'trace-depth',
    'slope-width', 'slope-depth', 'bound', 'density-width-synthetic', 'density-depth-synthetic',
  ]);
  // No cell has the stabilization criteria: each of their figures is skipped with a one-line note.
  const stabNames = ['delta2-sub', 'delta2-iso', 'delta2-ratio', 'delta2-gm', 'nsuff-d1', 'nsuff-d2'];
  assert.deepEqual(set.notes, [
    ...stabNames.map((n) => `${n}-width-synthetic: ${NO_COLUMNS} (synthetic, widths at depth 3)`),
    ...stabNames.map((n) => `${n}-depth-synthetic: ${NO_COLUMNS} (synthetic, depths at width 8)`),
  ]);
  assert.deepEqual(set.families.get('synthetic'), { fixedDepth: 3, fixedWidth: 8 });
  for (const f of set.figures) {
    assertSvg(f.svg);
    assert.ok(f.caption.length > 20 && f.title.length > 5, f.name);
  }
  assert.match(set.figures[0].caption, /β = 0\.99/);

  const widthsOnly = paperLikeCells().filter((c) => c.depth === 3);
  const partial = await buildFigures(figureData(widthsOnly));
  assert.deepEqual(partial.figures.map((f) => f.name), ['dk-width-synthetic', 'lambda-width', 'trace-width', 'slope-width', 'bound', 'density-width-synthetic']);
  const [stabilization, others] = [partial.notes.filter((n) => /^(delta2|nsuff)/.test(n)), partial.notes.filter((n) => !/^(delta2|nsuff)/.test(n))];
  assert.equal(others.length, 5);
  assert.ok(others.every((n) => /depth/.test(n)), others.join('\n'));
  // Six for the width family's missing criteria, one for the missing depth family.
  assert.equal(stabilization.length, 7);
  assert.ok(stabilization.includes('delta2-sub/-iso/-ratio/-gm and nsuff-d1/-d2-depth-synthetic: synthetic has no depths family'), stabilization.join('\n'));
  await assert.rejects(buildFigures(figureData(widthsOnly), { smoothing: 1 }), RangeError);

  // Nothing finished: no figures, a note for each.
  const allFailed = paperLikeCells().map((c) => cell(c.dataset, c.width, c.depth, c.seed, 'failed'));
  const none = await buildFigures(figureData(allFailed));
  assert.deepEqual(none.figures, []);
  assert.equal(none.notes.length, 11 + 12);
});

/** Published t(0.975, 2) (three seeds), to the table's three decimals. */
const T975_DF2 = 4.303;

/** The layers of a Vega-Lite spec by name, with what these tests read of them. */
interface Layer {
  name: string;
  data?: { values: Record<string, number | string | null>[] };
  encoding: Record<string, { field?: string; scale?: { type?: string; domain?: unknown[]; range?: unknown[] } }>;
}
const layersOf = (spec: unknown) => new Map(((spec as { layer: Layer[] }).layer).map((l) => [l.name, l]));

test('λ figures: a log y axis, geometric means with intervals from ln λ that stay positive at a large spread, Hessian and GGN apart', async () => {
  // Three seeds per width whose λ spread over three decades: the arithmetic mean ± t·s/√n would go below zero.
  const spreads = [0.01, 3, 0.5];
  const cells = [4, 8, 16].flatMap((w) => spreads.map((f, seed) => ({ ...cell('synthetic', w, 3, seed), hessian_top: [f * w], ggn_top: [0.8 * f * w] })));
  const rows = summarize(cells);
  for (const w of [4, 8, 16]) {
    const values = spreads.map((f) => f * w);
    const mean = values.reduce((a, b) => a + b, 0) / 3;
    const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / 2);
    assert.ok(mean - (T975_DF2 * sd) / Math.sqrt(3) < 0, 'the arithmetic interval of this data crosses zero');
  }
  const spec = metricSpec(rows, { family: 'width', metrics: ['lambda_max', 'ggn_lambda_max'], log: true });
  const layers = layersOf(spec);

  // Log scale on the y encoding of the lines and points.
  assert.equal(layers.get('line')!.encoding.y.scale!.type, 'log');
  assert.equal(layers.get('points')!.encoding.y.scale!.type, 'log');

  // Every interval is positive, and is exp(mean ± t·s/√n) of ln λ around the geometric mean, computed here.
  const bars = layers.get('errorbars')!.data!.values;
  assert.equal(bars.length, 6);
  for (const bar of bars) {
    const lo = bar.lo as number;
    const hi = bar.hi as number;
    assert.ok(lo > 0 && lo < (bar.y as number) && (bar.y as number) < hi, JSON.stringify(bar));
    const scale = bar.operator === 'Hessian' ? 1 : 0.8;
    const logs = spreads.map((f) => Math.log(scale * f * (bar.x as number)));
    const m = logs.reduce((a, b) => a + b, 0) / 3;
    const s = Math.sqrt(logs.reduce((a, v) => a + (v - m) ** 2, 0) / 2);
    const geometric = Math.cbrt(spreads.reduce((p, f) => p * scale * f * (bar.x as number), 1));
    assert.ok(Math.abs((bar.y as number) / geometric - 1) < 1e-12, `geometric mean ${bar.y} vs ${geometric}`);
    // The t of the code against the table's three decimals: |Δt|·s/√n ≤ 0.0005·s/√3 in ln.
    for (const [got, sign] of [[lo, -1], [hi, 1]] as const) {
      const want = Math.log(geometric) + (sign * T975_DF2 * s) / Math.sqrt(3);
      assert.ok(Math.abs(Math.log(got) - want) <= (0.0005 * s) / Math.sqrt(3) + 1e-12, `${sign < 0 ? 'lower' : 'upper'} bound ${got} vs e^${want}`);
    }
  }

  // Hessian and GGN: their own series, each drawn with its own dash and point shape, named in the legend.
  const points = layers.get('line')!;
  const values = (spec as unknown as { data: { values: { series: string; operator: string }[] } }).data.values;
  assert.deepEqual([...new Set(values.map((v) => v.operator))], ['Hessian', 'GGN']);
  for (const series of new Set(values.map((v) => v.series))) assert.equal(new Set(values.filter((v) => v.series === series).map((v) => v.operator)).size, 1);
  const dash = points.encoding.strokeDash;
  const shape = layers.get('points')!.encoding.shape;
  for (const channel of [dash, shape, points.encoding.color]) {
    assert.equal(channel.field, 'operator');
    assert.deepEqual(channel.scale!.domain, ['Hessian', 'GGN']);
  }
  assert.notDeepEqual(dash.scale!.range![0], dash.scale!.range![1]);
  assert.notEqual(shape.scale!.range![0], shape.scale!.range![1]);
  const svg = await metricFigure(rows, { family: 'width', metrics: ['lambda_max', 'ggn_lambda_max'], log: true });
  assertSvg(svg);
  assert.ok(/>Hessian</.test(svg) && />GGN</.test(svg), 'legend entries Hessian and GGN');
  assert.equal(markGroups(svg, 'line', 'line').length, 2);
  assert.equal(items(svg, 'rule', 'errorbars', 'line'), 6);

  // Two datasets: colour names the dataset, dash and shape still the operator; four lines.
  const two = summarize([...paperLikeCells('mnist'), ...paperLikeCells('cifar10')]).filter((r) => r.key.depth === 3);
  const twoLayers = layersOf(metricSpec(two, { family: 'width', metrics: ['lambda_max', 'ggn_lambda_max'], log: true }));
  assert.equal(twoLayers.get('line')!.encoding.color.field, 'context');
  assert.equal(twoLayers.get('line')!.encoding.strokeDash.field, 'operator');
  assert.equal(markGroups(await metricFigure(two, { family: 'width', metrics: ['lambda_max', 'ggn_lambda_max'], log: true }), 'line', 'line').length, 4);

  // A metric without a log statistic is refused, not drawn on a log axis from an arithmetic interval.
  assert.throws(() => metricSpec(rows, { family: 'width', metrics: ['loss_diff_slope'], log: true }), /no log-scale statistic/);
});

test('buildFigures: the λ figures are on a log axis, say how their intervals are made, and count cells left out as λ ≤ 0', async () => {
  const cells = paperLikeCells().map((c) => (c.width === 4 && c.seed === 1 ? { ...c, hessian_top: [-0.2, -0.3] } : c));
  const set = await buildFigures(figureData(cells));
  const lambda = set.figures.find((f) => f.name === 'lambda-width')!;
  assert.match(lambda.caption, /geometric mean over seeds/);
  assert.match(lambda.caption, /ln λₘₐₓ/);
  assert.match(lambda.caption, /Left out as ≤ 0: 1 of Hessian λₘₐₓ\./);
  assert.match(lambda.svg, /log scale/);
  assert.doesNotMatch(set.figures.find((f) => f.name === 'lambda-depth')!.caption, /Left out/);
});

test('report helpers: SVG ids scoped per figure, numbers and stats formatted for the table', () => {
  const svg = '<svg><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"><use href="#clip1"/></g><g id="clip10"/></svg>';
  assert.equal(
    scopeSvgIds(svg, 'fig-a'),
    '<svg><defs><clipPath id="fig-a-clip1"><rect/></clipPath></defs><g clip-path="url(#fig-a-clip1)"><use href="#fig-a-clip1"/></g><g id="fig-a-clip10"/></svg>',
  );
  assert.equal(scopeSvgIds('<svg><g class="x"/></svg>', 'p'), '<svg><g class="x"/></svg>');
  assert.equal(formatNumber(0.123456), '0.123');
  assert.equal(formatNumber(123456), '1.23e5');
  assert.equal(formatNumber(0.00001234), '1.23e-5');
  assert.equal(formatNumber(Number.NaN), '–');
  assert.equal(formatNumber(null), '–');
  assert.equal(formatStat({ n: 3, mean: 1.5, std: 0.1, ci95: 0.25 }), '1.5 ± 0.25');
  assert.equal(formatStat({ n: 1, mean: 2, std: 0, ci95: Number.NaN }), '2');
  assert.equal(formatStat({ n: 0, mean: Number.NaN, std: Number.NaN, ci95: Number.NaN }), '–');
});
