/**
 * The report side of the stabilization criteria (issue 11): per-group statistics from part files whose values are
 * known in closed form (stab-fixture.ts), checked against geometric means, intervals and counts computed here;
 * the figures' Vega-Lite specs and SVGs; the summary files; and sweeps without the columns (version-2 parts,
 * probes off), whose figures are skipped with a note.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';
import { aggregate, type AggregateResult } from '../src/aggregate.js';
import { buildFigures, curveSeries, lossDiffSpec, renderSvg } from '../src/figures.js';
import { writeReport } from '../src/report.js';
import {
  delta2Spec, EXTRAPOLATED, NO_COLUMNS, quadraticModelPoints, quadraticModelSpec, REACHED, sampleSizePoints, sampleSizeSpec, stabilizationFigures,
  subspaceShare, subspaceShareSpec,
} from '../src/stab-figures.js';
import { StabilizationAccumulator, tailLogRatio } from '../src/stabilization.js';
import { META_SUMMARY_SCHEMA_VERSION, writeSummary } from '../src/summary-file.js';
import type { GeoCurve, SummaryRow } from '../src/types.js';
import { gridCells, gridFailedRow, gridRow, partName, sweepDir, writePart, type Grid, type GridCell } from './grid-sweep.js';
import { close, closeGeo } from './reference-stats.js';
import { d1Of, d2Of, gmFactor, isoFactor, SIGMA, STAB_K, stabColumns, subAt, TAIL, THRESHOLDS, writeVersion2Part } from './stab-fixture.js';
import { logDomain } from '../src/plot.js';
import { assertSvg, items, markGroups } from './svg.js';

const SEEDS = [0, 1, 2];
const GRID: Grid = { datasets: ['synthetic'], widths: [4, 8], depths: [1, 2], sampleSizes: [1280], seeds: 3 };
/** Cell (8, 2, seed 2) stores its σ in the other order; cell (4, 2, seed 1) did not measure isotropic Δ2. */
const reversed = (c: GridCell) => c.width === 8 && c.depth === 2 && c.seed === 2;
const isoOff = (c: { width: number; depth: number; seed: number }) => c.width === 4 && c.depth === 2 && c.seed === 1;
const isoSeeds = (width: number, depth: number) => SEEDS.filter((seed) => !isoOff({ width, depth, seed }));

/** The fixture's row of cell c, with the stabilization columns. */
function stabRow(c: GridCell, over: Partial<ResultRow> = {}): ResultRow {
  const columns = stabColumns(c.width, c.depth, c.seed, reversed(c) ? [1, 0] : [0, 1]);
  return gridRow(c, { ...columns, ...(isoOff(c) ? { delta2_iso: null } : {}), ...over });
}

let root = '';
let dir = '';
let result: AggregateResult;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hessweep-stab-'));
  const sweep = await sweepDir(root, 'stab', GRID);
  dir = sweep.dir;
  const failed = gridFailedRow({ dataset: 'synthetic', width: 4, depth: 1, sample_size: 1280, seed: 3 });
  await writePart(dir, 0, [...gridCells(GRID).map((c) => stabRow(c)), failed], sweep.meta);
  result = await aggregate(dir);
});
after(() => rmSync(root, { recursive: true, force: true }));

const groupOf = (rows: readonly SummaryRow[], width: number, depth: number): SummaryRow => {
  const row = rows.find((r) => r.key.width === width && r.key.depth === depth);
  assert.ok(row, `a group for width ${width}, depth ${depth}`);
  return row;
};
const at = (curve: GeoCurve, i: number) => ({ n: curve.n[i]!, gmean: curve.gmean[i]!, lo: curve.lo[i]!, hi: curve.hi[i]! });
/** The geometric mean over the tail of 1/isoFactor: a cell's Δ2^(D)/Δ2, computed from the fixture's formula. */
const shareOf = (seed: number) => Math.exp(TAIL.reduce((sum, i) => sum - Math.log(isoFactor(seed, i)), 0) / TAIL.length);
/** Spec internals, read as plain JSON. */
const json = (spec: unknown) => JSON.parse(JSON.stringify(spec));
const widthFamily = () => result.rows.filter((r) => r.key.depth === 1);
const depthFamily = () => result.rows.filter((r) => r.key.width === 4);

test('aggregate: each group\'s Δ2 curves, tail ratios and sufficient sample sizes against geometric means, intervals and counts computed here', () => {
  for (const width of [4, 8]) {
    for (const depth of [1, 2]) {
      const what = `width ${width}, depth ${depth}`;
      const stab = groupOf(result.rows, width, depth).stabilization;
      assert.ok(stab, what);
      assert.equal(stab.cells, 3);
      assert.deepEqual([stab.sigma, stab.thresholds, stab.k], [SIGMA, THRESHOLDS, STAB_K]);
      SIGMA.forEach((_, s) => {
        STAB_K.forEach((_, i) => {
          const sub = (seed: number) => subAt(width, depth, seed, s, i);
          closeGeo(at(stab.delta2_sub[s]!, i), SEEDS.map(sub), `${what}: Δ2 sub σ ${s} k ${i}`);
          closeGeo(at(stab.delta2_iso[s]!, i), isoSeeds(width, depth).map((seed) => sub(seed) * isoFactor(seed, i)), `${what}: Δ2 iso σ ${s} k ${i}`);
          closeGeo(at(stab.delta2_sub_gm[s]!, i), SEEDS.map((seed) => sub(seed) * gmFactor(seed, s)), `${what}: Δ2 gm σ ${s} k ${i}`);
        });
        closeGeo(stab.ratio_sub_iso[s]!, isoSeeds(width, depth).map(shareOf), `${what}: sub/iso σ ${s}`);
        closeGeo(stab.ratio_gm_sub[s]!, SEEDS.map((seed) => gmFactor(seed, s)), `${what}: gm/sub σ ${s}`);
      });
      // D_k: ε 1e-3 reached by every seed; ε 1e-4 extrapolated by seeds 0 and 1, neither by seed 2.
      const [d1a, d1b] = stab.n_suff_d1;
      closeGeo(d1a!, SEEDS.map((seed) => d1Of(width, seed).reached[0]!), `${what}: n_suff_d1 ε 0`);
      assert.deepEqual([d1a!.reached, d1a!.extrapolated, d1a!.none], [3, 0, 0]);
      closeGeo(d1b!, [0, 1].map((seed) => d1Of(width, seed).fit[1]!), `${what}: n_suff_d1 ε 1`);
      assert.deepEqual([d1b!.reached, d1b!.extrapolated, d1b!.none], [0, 2, 1]);
      // Δ2^(D), σ-major: (σ 0, ε 0) reached, (σ 0, ε 1) extrapolated, (σ 1, ε 0) reached, (σ 1, ε 1) neither.
      const d2 = stab.n_suff_d2;
      assert.equal(d2.length, 4);
      closeGeo(d2[0]!, SEEDS.map((seed) => d2Of(width, depth, seed).reached[0]!), `${what}: n_suff_d2 σ 0 ε 0`);
      closeGeo(d2[1]!, SEEDS.map((seed) => d2Of(width, depth, seed).fit[1]!), `${what}: n_suff_d2 σ 0 ε 1`);
      closeGeo(d2[2]!, SEEDS.map((seed) => d2Of(width, depth, seed).reached[2]!), `${what}: n_suff_d2 σ 1 ε 0`);
      assert.deepEqual(d2.map((d) => [d.reached, d.extrapolated, d.none]), [[3, 0, 0], [0, 3, 0], [3, 0, 0], [0, 0, 3]]);
      assert.equal(d2[3]!.n, 0);
      assert.ok(Number.isNaN(d2[3]!.gmean));
    }
  }
  // The failed cell is counted, never averaged in.
  const failedGroup = groupOf(result.rows, 4, 1);
  assert.deepEqual([failedGroup.seeds_ok, failedGroup.seeds_failed, failedGroup.stabilization!.cells], [3, 1, 3]);
});

test('aggregate: the in-cell smoothed D_k per k: mean, 95% band and min–max over seeds, beside the raw curve', () => {
  const row = groupOf(result.rows, 8, 2);
  assert.deepEqual(row.smooth_k, STAB_K);
  STAB_K.forEach((k, i) => {
    const values = SEEDS.map((seed) => (1.5 + seed / 10 + i / 100) / k);
    close(row.smooth_mean[i]!, values.reduce((a, b) => a + b, 0) / 3, `smooth mean k ${k}`);
    assert.equal(row.smooth_min[i], Math.min(...values));
    assert.equal(row.smooth_max[i], Math.max(...values));
    close(row.curve_mean[i]!, SEEDS.reduce((sum, seed) => sum + (1 + seed / 10) / k, 0) / 3, `raw mean k ${k}`);
  });
});

test('StabilizationAccumulator: σ and thresholds matched by value, series of the wrong length and values ≤ 0 left out', () => {
  const k = [10, 100];
  const acc = new StabilizationAccumulator();
  const cell = (sigma: number[], sub: number[], over = {}) => ({
    k, sigma, thresholds: [0.1], delta2Sub: sub, delta2Iso: sub.map((v) => 2 * v), delta2Gm: null,
    nSuffD1: [5], nSuffD1Fit: [Number.NaN], nSuffD2: null, nSuffD2Fit: null, ...over,
  });
  acc.add(cell([1, 2], [4, 1, 9, 0]));
  acc.add(cell([2, 1], [25, 16, 1, 4])); // σ 2 first
  acc.add(cell([3], [7, 7])); // a σ the group does not have: nothing of it counts
  acc.add(cell([1, 2], [1, 2, 3])); // wrong length: no Δ2 counted, its sample size still is
  acc.add(cell([1, 2], [8, 8, 8, 8], { thresholds: [0.5], nSuffD1: [7] })); // a threshold the group does not have
  const out = acc.result()!;
  assert.deepEqual([out.cells, out.sigma, out.thresholds, out.k], [5, [1, 2], [0.1], k]);
  const [one, two] = out.delta2_sub;
  // σ 1: cells 1, 2 and 5 at k 10: 4, 1, 8; at k 100: 1, 4, 8.
  close(one!.gmean[0]!, Math.cbrt(4 * 1 * 8), 'σ 1 k 10');
  close(one!.gmean[1]!, Math.cbrt(1 * 4 * 8), 'σ 1 k 100');
  // σ 2 at k 100: 0 is left out, so 16 and 8.
  close(two!.gmean[0]!, Math.cbrt(9 * 25 * 8), 'σ 2 k 10');
  assert.equal(two!.n[1], 2);
  close(two!.gmean[1]!, Math.sqrt(16 * 8), 'σ 2 k 100');
  // Δ2/Δ2 iso is 1/2 wherever both are positive; no Gaussian moment at all.
  close(out.ratio_sub_iso[0]!.gmean, 0.5, 'ratio');
  assert.equal(out.ratio_sub_iso[0]!.n, 3);
  assert.equal(out.ratio_gm_sub[0]!.n, 0);
  assert.deepEqual([out.n_suff_d1[0]!.reached, out.n_suff_d1[0]!.n], [4, 4]);
  close(out.n_suff_d1[0]!.gmean, 5, 'n_suff_d1');
  assert.equal(new StabilizationAccumulator().result(), null);
});

test('tailLogRatio: the mean of ln(num/den) over the stored k of the last decade, skipping non-positive values', () => {
  const k = [1, 5, 10, 50, 100];
  // Tail k ≥ 10: indexes 2, 3, 4; index 3 has a zero numerator.
  assert.ok(Math.abs(tailLogRatio(k, [9, 9, 2, 0, 8], [1, 1, 1, 1, 2]) - (Math.log(2) + Math.log(4)) / 2) < 1e-15);
  // Read at an offset (the second σ of a σ-major list).
  assert.ok(Math.abs(tailLogRatio([1, 10], [0, 0, 3, 6], [0, 0, 1, 2], 2) - Math.log(3)) < 1e-15);
  assert.ok(Number.isNaN(tailLogRatio(k, [1, 1, 0, 0, 0], [1, 1, 1, 1, 1])));
});

test('Δ2 figures: log–log, one panel per σ, a line and 95% band per width, the reference slope −2 through the series\' geometric mean', async () => {
  const groups = widthFamily();
  const spec = json(delta2Spec(groups, { family: 'width', estimator: 'delta2_sub', title: 'Δ2' }));
  assert.equal(spec.facet.column.field, 'panel');
  assert.deepEqual(spec.facet.column.sort, ['σ = 0.01', 'σ = 0.1']);
  assert.deepEqual(spec.spec.layer.map((l: { name: string }) => l.name), ['band', 'curve', 'reference']);
  for (const layer of spec.spec.layer) {
    assert.equal(layer.encoding.x.scale.type, 'log', layer.name);
    assert.equal(layer.encoding.y.scale.type, 'log', layer.name);
  }
  assert.deepEqual(spec.spec.layer[2].encoding.strokeDash.scale.domain, ['slope −2']);
  const curve = spec.data.values.filter((v: { role: string }) => v.role === 'curve');
  assert.equal(curve.length, 2 * 2 * STAB_K.length);
  for (const v of curve) {
    const s = v.panel === 'σ = 0.01' ? 0 : 1;
    const width = Number(v.series.replace('h = ', ''));
    const i = STAB_K.indexOf(v.k);
    closeGeo({ n: 3, gmean: v.y, lo: v.lo, hi: v.hi }, SEEDS.map((seed) => subAt(width, 1, seed, s, i)), `${v.panel} ${v.series} k ${v.k}`);
  }
  const reference = spec.data.values.filter((v: { role: string }) => v.role === 'reference');
  for (const [s, panel] of ['σ = 0.01', 'σ = 0.1'].entries()) {
    const [from, to] = reference.filter((r: { panel: string }) => r.panel === panel);
    assert.deepEqual([from.k, to.k], [64, 640]);
    // Through the geometric mean over the widths of each width's geometric mean at k = 640.
    const last = [4, 8].map((width) => SEEDS.reduce((sum, seed) => sum + Math.log(subAt(width, 1, seed, s, 6)), 0) / 3);
    close(Math.log(to.y), (last[0]! + last[1]!) / 2, `${panel} anchor`);
    close(Math.log(to.y / from.y) / Math.log(640 / 64), -2, `${panel} slope`);
  }
  const svg = await renderSvg(delta2Spec(groups, { family: 'width', estimator: 'delta2_sub', title: 'Δ2' }));
  assertSvg(svg);
  assert.equal(markGroups(svg, 'line', 'curve').length, 4);
  assert.equal(markGroups(svg, 'area', 'band').length, 4);
  assert.equal(items(svg, 'line', 'reference', 'path'), 2);
  // Isotropic Δ2 of the depth family: the cell without it is left out of its group (two seeds there).
  const iso = json(delta2Spec(depthFamily(), { family: 'depth', estimator: 'delta2_iso' }));
  const point = iso.data.values.find((v: { role: string; series: string; k: number; panel: string }) => v.role === 'curve' && v.series === 'L = 2' && v.k === 640 && v.panel === 'σ = 0.1');
  closeGeo({ n: 2, gmean: point.y, lo: point.lo, hi: point.hi }, isoSeeds(4, 2).map((seed) => subAt(4, 2, seed, 1, 6) * isoFactor(seed, 6)), 'iso L = 2');
});

test('Δ2^(D)/Δ2 against width and depth, Gaussian moment / direct Monte Carlo against σ: tail ratios computed here, log axes, the rule at 1', async () => {
  const share = subspaceShare(depthFamily(), 'depth');
  assert.equal(share.leftOut, '');
  assert.deepEqual([...new Set(share.points.map((p) => p.series))], ['σ = 0.01', 'σ = 0.1']);
  for (const p of share.points) closeGeo({ n: isoSeeds(4, p.x).length, gmean: p.y, lo: p.lo ?? Number.NaN, hi: p.hi ?? Number.NaN }, isoSeeds(4, p.x).map(shareOf), `share ${p.series} L ${p.x}`);
  const shareSpec = json(subspaceShareSpec(widthFamily(), { family: 'width' }));
  assert.equal(shareSpec.layer[0].encoding.y.scale.type, 'log');
  assert.equal(shareSpec.layer[0].encoding.x.scale.type, 'log'); // widths on a log₂ axis
  assert.deepEqual(shareSpec.layer.map((l: { name: string }) => l.name), ['line', 'points', 'errorbars', 'reference']);
  assert.deepEqual(shareSpec.layer[3].data.values, [{ y: 1 }]);

  const model = quadraticModelPoints(widthFamily(), 'width');
  assert.deepEqual(model.map((p) => [p.series, p.x]), [['h = 4', 0.01], ['h = 4', 0.1], ['h = 8', 0.01], ['h = 8', 0.1]]);
  for (const p of model) closeGeo({ n: 3, gmean: p.y, lo: p.lo!, hi: p.hi! }, SEEDS.map((seed) => gmFactor(seed, SIGMA.indexOf(p.x))), `gm ${p.series} σ ${p.x}`);
  const modelSpec = json(quadraticModelSpec(widthFamily(), { family: 'width' }));
  assert.equal(modelSpec.layer[0].encoding.x.scale.type, 'log');
  assert.equal(modelSpec.layer[0].encoding.y.scale.type, 'log');
  assert.deepEqual(modelSpec.layer[0].encoding.x.axis.values, SIGMA);
  const svg = await renderSvg(quadraticModelSpec(widthFamily(), { family: 'width' }));
  assertSvg(svg);
  assert.equal(items(svg, 'symbol', 'points', 'path'), 4);
  assert.equal(items(svg, 'rule', 'errorbars', 'line'), 4);
  assert.equal(items(svg, 'rule', 'reference', 'line'), 1);
});

test('sufficient sample sizes against width per threshold: intervals over seeds, extrapolated values marked apart, cells with neither counted', async () => {
  const d1 = sampleSizePoints(widthFamily(), 'width', 'n_suff_d1');
  assert.deepEqual([...new Set(d1.points.map((p) => p.series))], ['ε = 1e-3', 'ε = 1e-4']);
  assert.deepEqual(d1.points.map((p) => [p.series, p.x, p.kind]), [
    ['ε = 1e-3', 4, REACHED], ['ε = 1e-3', 8, REACHED], ['ε = 1e-4', 4, EXTRAPOLATED], ['ε = 1e-4', 8, EXTRAPOLATED],
  ]);
  for (const p of d1.points) {
    const values = p.kind === REACHED ? SEEDS.map((seed) => d1Of(p.x, seed).reached[0]!) : [0, 1].map((seed) => d1Of(p.x, seed).fit[1]!);
    closeGeo({ n: values.length, gmean: p.y, lo: p.lo!, hi: p.hi! }, values, `d1 ${p.series} h ${p.x}`);
  }
  // Two widths × (3 reached at ε 1e-3; 2 extrapolated and 1 neither at ε 1e-4).
  assert.deepEqual(d1.counts, { reached: 6, extrapolated: 4, none: 2 });

  const d2 = sampleSizePoints(depthFamily(), 'depth', 'n_suff_d2');
  assert.deepEqual([...new Set(d2.points.map((p) => p.series))], ['σ = 0.01, ε = 1e-3', 'σ = 0.01, ε = 1e-4', 'σ = 0.1, ε = 1e-3']);
  const sigmaOne = d2.points.filter((p) => p.series === 'σ = 0.1, ε = 1e-3');
  sigmaOne.forEach((p) => closeGeo({ n: 3, gmean: p.y, lo: p.lo!, hi: p.hi! }, SEEDS.map((seed) => d2Of(4, p.x, seed).reached[2]!), `d2 L ${p.x}`));
  assert.deepEqual(d2.counts, { reached: 12, extrapolated: 6, none: 6 });

  const spec = json(sampleSizeSpec(widthFamily(), { family: 'width', criterion: 'n_suff_d1' }));
  const [, points, errorbars] = spec.layer;
  assert.equal(points.encoding.y.scale.type, 'log');
  assert.deepEqual([points.encoding.shape.field, points.encoding.shape.scale.domain, points.encoding.shape.scale.range], ['kind', [REACHED, EXTRAPOLATED], ['circle', 'triangle-up']]);
  assert.deepEqual([errorbars.encoding.strokeDash.field, errorbars.encoding.strokeDash.scale.range], ['kind', [[1, 0], [4, 3]]]);

  const { figures } = await stabilizationFigures({ dataset: 'synthetic', family: 'width', fixed: 1, groups: widthFamily(), leftOut: '' });
  const caption = figures.find((f) => f.name === 'nsuff-d1-width-synthetic')!.caption;
  assert.match(caption, /6 reached within the sample, 4 extrapolated, 2 with neither/);
  const svg = figures.find((f) => f.name === 'nsuff-d2-width-synthetic')!.svg;
  assertSvg(svg);
  assert.equal(markGroups(svg, 'line', 'line').length, 3);
  assert.ok(svg.includes(EXTRAPOLATED) && svg.includes(REACHED));
});

test('the D_k figure draws the D_k smoothed in the cell, with the raw mean faint beside it, and says so', async () => {
  const groups = widthFamily();
  const series = curveSeries(groups, 'width', 0.99); // the re-smoothing of stored points does not apply
  assert.deepEqual(series.map((s) => [s.label, s.source]), [['h = 4', 'cell'], ['h = 8', 'cell']]);
  series.forEach((s) => {
    assert.deepEqual(s.k, STAB_K);
    STAB_K.forEach((k, i) => {
      close(s.mean[i]!, SEEDS.reduce((sum, seed) => sum + (1.5 + seed / 10 + i / 100) / k, 0) / 3, `${s.label} smooth k ${k}`);
      close(s.raw[i]!, SEEDS.reduce((sum, seed) => sum + (1 + seed / 10) / k, 0) / 3, `${s.label} raw k ${k}`);
    });
  });
  const spec = json(lossDiffSpec(groups, { family: 'width' }));
  assert.deepEqual(spec.layer.map((l: { name: string }) => l.name), ['band', 'raw', 'curve']);
  assert.ok(spec.layer.every((l: { encoding: { x: { scale: { type: string } }; y: { scale: { type: string } } } }) => l.encoding.x.scale.type === 'log' && l.encoding.y.scale.type === 'log'));
  const set = await buildFigures({ groups: result.rows, densities: [], bound: { points: [], cells: 0, below: 0 } }, { smoothing: 0.99 });
  const dk = set.figures.find((f) => f.name === 'dk-width-synthetic')!;
  assert.match(dk.caption, /smoothed in each cell by the paper's EMA \(α = 0\.99, e₀ = D₁\) over every k/);
  assert.doesNotMatch(dk.caption, /β = 0\.99/);
  assertSvg(dk.svg);
  assert.equal(markGroups(dk.svg, 'line', 'raw').length, 2);
  // Every stabilization figure of both families is drawn.
  for (const family of ['width', 'depth']) {
    for (const name of ['delta2-sub', 'delta2-iso', 'delta2-ratio', 'delta2-gm', 'nsuff-d1', 'nsuff-d2']) {
      assert.ok(set.figures.some((f) => f.name === `${name}-${family}-synthetic`), `${name}-${family}`);
    }
  }
  assert.deepEqual(set.notes.filter((n) => /delta2|nsuff/.test(n)), []);
});

test('summary files: schema version 2 with the stabilization statistics and the smoothed curve; empty lists where a group has none', async () => {
  const { arrow, csv } = await writeSummary(dir, result);
  const table = tableFromIPC(readFileSync(arrow));
  assert.equal(table.schema.metadata.get(META_SUMMARY_SCHEMA_VERSION), '2');
  const index = result.rows.findIndex((r) => r.key.width === 8 && r.key.depth === 2);
  const stab = result.rows[index]!.stabilization!;
  const list = (name: string) => {
    const v = table.getChild(name)!.get(index);
    return v === null ? null : [...v];
  };
  assert.equal(table.getChild('stab_cells')!.get(index), 3);
  assert.deepEqual(list('stab_sigma'), SIGMA);
  assert.deepEqual(list('stab_k'), STAB_K);
  assert.deepEqual(list('smooth_k'), STAB_K);
  assert.deepEqual(list('delta2_sub_gmean'), [...stab.delta2_sub[0]!.gmean, ...stab.delta2_sub[1]!.gmean]);
  assert.deepEqual(list('n_suff_d1_reached'), [3, 0]);
  assert.deepEqual(list('n_suff_d1_extrapolated'), [0, 2]);
  assert.deepEqual(list('n_suff_d1_none'), [0, 1]);
  assert.deepEqual(list('n_suff_d2_none'), [0, 0, 0, 3]);
  assert.equal(list('n_suff_d2_gmean')![3], null); // no value: null, not NaN
  assert.deepEqual(list('ratio_sub_iso_n'), [3, 3]);
  const [header, ...lines] = readFileSync(csv, 'utf8').trimEnd().split('\n');
  const names = header!.split(',');
  for (const name of ['smooth_mean', 'stab_sigma', 'delta2_iso_lo', 'ratio_gm_sub_gmean', 'n_suff_d2_extrapolated']) assert.ok(names.includes(name), name);
  assert.equal(lines[index]!.split(',')[names.indexOf('n_suff_d1_none')], '"0;1"');
});

test('a sweep of version-2 parts still aggregates and reports: stored D_k, the stabilization figures skipped with one-line notes', async () => {
  const sweep = await sweepDir(root, 'old', GRID);
  const seeds = gridCells(GRID).filter((c) => c.seed < 2);
  writeVersion2Part(join(sweep.dir, 'parts', partName(0)), seeds.map((c) => stabRow(c)), sweep.meta);
  const old = await aggregate(sweep.dir);
  assert.equal(old.rows.length, 4);
  for (const row of old.rows) {
    assert.equal(row.stabilization, null);
    assert.deepEqual(row.smooth_k, []);
    assert.deepEqual(row.curve_k, STAB_K);
  }
  const report = await writeReport(sweep.dir);
  const names = report.figures.map((f) => f.split('/').pop()!.replace('.svg', ''));
  assert.deepEqual(names.filter((n) => /delta2|nsuff/.test(n)), []);
  assert.ok(names.includes('dk-width-synthetic'));
  const stabNotes = report.notes.filter((n) => /^(delta2|nsuff)/.test(n));
  assert.equal(stabNotes.length, 12); // six figures in each family
  for (const note of stabNotes) {
    assert.ok(note.includes(NO_COLUMNS), note);
    assert.doesNotMatch(note, /\n/);
  }
  const html = readFileSync(report.html, 'utf8');
  assert.ok(html.includes('delta2-sub-width-synthetic: no ok cell has the stabilization criteria'));
  assert.ok(html.includes('line: mean over seeds of the stored Dₖ'));

  // A newer part with the third seed: its cells alone carry the criteria (one seed: no intervals), and the figures return.
  await writePart(sweep.dir, 1, gridCells(GRID).filter((c) => c.seed === 2).map((c) => stabRow(c)), sweep.meta);
  const mixed = await aggregate(sweep.dir);
  const row = groupOf(mixed.rows, 4, 1);
  assert.deepEqual([row.seeds_ok, row.stabilization!.cells], [3, 1]);
  close(row.stabilization!.delta2_sub[0]!.gmean[0]!, subAt(4, 1, 2, 0, 0), 'one seed');
  assert.ok(Number.isNaN(row.stabilization!.delta2_sub[0]!.lo[0]!));
  const again = await writeReport(sweep.dir);
  assert.equal(again.notes.filter((n) => /^(delta2|nsuff)/.test(n)).length, 0, again.notes.join('\n'));
  assert.equal(again.figures.filter((f) => /delta2|nsuff/.test(f)).length, 12);
});

test('figures skipped with a note when the probes were off or isotropic Δ2 was not asked for, never a crash', async () => {
  const none = { stab_subspace: null, stab_sigma: null, delta2_sub: null, delta2_iso: null, delta2_sub_quad: null, delta2_sub_gm: null, n_suff_d2: null, n_suff_d2_fit: null };
  const cases: { name: string; over: Partial<ResultRow>; drawn: string[] }[] = [
    { name: 'isotropic-off', over: { delta2_iso: null }, drawn: ['delta2-sub', 'delta2-gm', 'nsuff-d1', 'nsuff-d2'] },
    { name: 'probes-off', over: none, drawn: ['nsuff-d1'] },
    { name: 'nothing', over: { ...none, stab_thresholds: null, n_suff_d1: null, n_suff_d1_fit: null, loss_diff_smooth: null }, drawn: [] },
  ];
  for (const { name, over, drawn } of cases) {
    const sweep = await sweepDir(root, name, GRID);
    await writePart(sweep.dir, 0, gridCells(GRID).map((c) => stabRow(c, over)), sweep.meta);
    const summary = await aggregate(sweep.dir);
    const report = await writeReport(sweep.dir);
    const names = report.figures.map((f) => f.split('/').pop()!.replace('.svg', ''));
    for (const family of ['width', 'depth']) {
      const all = ['delta2-sub', 'delta2-iso', 'delta2-ratio', 'delta2-gm', 'nsuff-d1', 'nsuff-d2'];
      assert.deepEqual(all.filter((n) => names.includes(`${n}-${family}-synthetic`)), drawn, `${name} ${family}`);
      const notes = report.notes.filter((n) => n.includes(`-${family}-synthetic:`) && /^(delta2|nsuff)/.test(n));
      assert.deepEqual(notes.map((n) => n.slice(0, n.indexOf(`-${family}`))), all.filter((n) => !drawn.includes(n)), `${name} ${family} notes`);
    }
    if (name === 'nothing') assert.ok(summary.rows.every((r) => r.stabilization === null && r.smooth_k.length === 0));
    if (name === 'isotropic-off') assert.ok(report.notes.some((n) => /^delta2-iso-width-synthetic: isotropic Δ2 was not measured/.test(n)));
  }
});

test('at most MAX_SIGMA_PANELS σ panels (evenly spaced, ends kept) and MAX_SERIES series per figure, what was left out said', async () => {
  const sigma = [1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1];
  const thresholds = [1e-2, 1e-3, 1e-4];
  const curve = (scale: number): GeoCurve => ({ n: STAB_K.map(() => 1), gmean: STAB_K.map((k) => scale / k ** 2), lo: STAB_K.map(() => Number.NaN), hi: STAB_K.map(() => Number.NaN) });
  const size = { n: 1, gmean: 100, lo: Number.NaN, hi: Number.NaN, reached: 1, extrapolated: 0, none: 0 };
  const groups = widthFamily().map((row) => ({
    ...row,
    stabilization: {
      ...row.stabilization!, sigma, thresholds,
      delta2_sub: sigma.map((_, s) => curve(1 + s)), delta2_iso: [], delta2_sub_gm: [], ratio_sub_iso: [], ratio_gm_sub: [],
      n_suff_d1: thresholds.map(() => size), n_suff_d2: sigma.flatMap(() => thresholds.map(() => size)),
    },
  }));
  const spec = json(delta2Spec(groups, { family: 'width', estimator: 'delta2_sub' }));
  // Ranks round(i · 5 / 3), i = 0 … 3, of the six σ.
  assert.deepEqual(spec.facet.column.sort, ['σ = 1e-4', 'σ = 3e-3', 'σ = 0.01', 'σ = 0.1']);
  const d2 = sampleSizePoints(groups, 'width', 'n_suff_d2');
  assert.equal(new Set(d2.points.map((p) => p.series)).size, 12);
  assert.equal(d2.leftOut, 'the first 12 of 18 series');
  assert.equal(d2.points.at(-1)!.series, 'σ = 0.01, ε = 1e-4'); // σ ascending, ε descending: four σ × three ε
  const { figures } = await stabilizationFigures({ dataset: 'synthetic', family: 'width', fixed: 1, groups, leftOut: '' });
  assert.match(figures.find((f) => f.name === 'delta2-sub-width-synthetic')!.caption, /4 of 6 σ, evenly spaced/);
  assert.match(figures.find((f) => f.name === 'nsuff-d2-width-synthetic')!.caption, /Drawn: the first 12 of 18 series\./);
});

test('logDomain: the values\' range, widened by their intervals at most `reach` times each way', () => {
  assert.deepEqual(logDomain([1, 10], [0.5, 1e-6], [20, 30]), [0.01, 30]);
  assert.deepEqual(logDomain([2, 4], [1], [1e9], 10), [1, 40]);
  assert.deepEqual(logDomain([5, 0, Number.NaN], [], []), [5, 5]);
  assert.equal(logDomain([0, -1], [1], [2]), null);
});
