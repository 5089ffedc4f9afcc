/**
 * The report at scale and its numbers: hundreds of thousands of cells (no call-stack overflow, a page whose size
 * does not grow with the cells), and the figures' group statistics against a brute-force computation over the
 * rows on disk.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultRow } from '@hessweep/grid';
import { readResultFile, scanParts } from '@hessweep/results';
import { aggregate } from '../src/aggregate.js';
import { curveSeries, drawnGroups, metricPoints } from '../src/figures.js';
import { BOUND_SAMPLE, readReportData } from '../src/report-data.js';
import { MAX_FAILED_ROWS, writeReport } from '../src/report.js';
import { formatTable } from '../src/summary-file.js';
import { gridCells, gridFailedRow, gridRow, sweepDir, writeCopies, writePart, type Grid } from './grid-sweep.js';

const root = mkdtempSync(join(tmpdir(), 'hessweep-report-scale-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Points drawn in an SVG of Vega marks. */
const pointsIn = (svg: string) => (svg.match(/aria-roledescription="point"/g) ?? []).length;

// ---------------------------------------------------------------------------------------------------------
// Many cells

const WIDE: Grid = { datasets: ['synthetic'], widths: [4, 8, 16], depths: [1, 2], sampleSizes: [300], seeds: 100 };

/** 600 rows, one per cell of WIDE; every 40th failed. */
const TEMPLATE: ResultRow[] = gridCells(WIDE).map((c, i) => (i % 40 === 7 ? gridFailedRow(c) : gridRow(c)));
const TEMPLATE_FAILED = TEMPLATE.filter((r) => r.status === 'failed').length;
/** Ok template rows with a positive λ_max and bound: what the bound figure can draw. */
const TEMPLATE_BOUND = TEMPLATE.filter((r) => r.status === 'ok' && r.hessian_top![0]! > 0 && r.bound! > 0).length;

/** A sweep of `copies` × 600 distinct cells, 20 copies to a part. */
async function copiesSweep(name: string, copies: number): Promise<string> {
  const { dir, meta } = await sweepDir(root, name, WIDE, copies * TEMPLATE.length);
  writeCopies(dir, TEMPLATE, meta, Array.from({ length: copies }, (_, c) => c), 20);
  return dir;
}

let bigDir = '';
let smallPage = 0;

test('aggregate and report on 210,000 cells: no call-stack overflow, and the terminal table of 210,000 groups', { timeout: 600_000 }, async () => {
  bigDir = await copiesSweep('big', 350);
  const cells = 350 * TEMPLATE.length;
  assert.ok(cells > 200_000);

  const summary = await aggregate(bigDir);
  assert.equal(summary.cells, cells);
  assert.equal(summary.rows.length, 6);
  assert.equal(summary.failed.length, 350 * TEMPLATE_FAILED);
  assert.equal(summary.rows.reduce((n, r) => n + r.seeds_ok, 0), cells - 350 * TEMPLATE_FAILED);

  // Grouped by seed too (every cell its own group), the table for the terminal has a line per group.
  const perCell = await aggregate(bigDir, ['dataset', 'width', 'depth', 'sample_size', 'seed']);
  assert.equal(perCell.rows.length, cells);
  const lines = formatTable(perCell).split('\n');
  assert.equal(lines.length, 3 + cells + 1 + perCell.failed.length + 1);

  const report = await writeReport(bigDir);
  const html = readFileSync(report.html, 'utf8');
  assert.equal(report.bytes, Buffer.byteLength(html));
  assert.ok(report.bytes < 5 * 2 ** 20, `page of ${report.bytes} bytes`);
  assert.match(html, new RegExp(`${cells.toLocaleString('en-US')} cells: <span class="ok">${(cells - summary.failed.length).toLocaleString('en-US')} ok</span>`));
  // The failed cells' table stops, saying how many more there are.
  assert.equal((html.match(/<tr><td class="text"><code>/g) ?? []).length, MAX_FAILED_ROWS);
  assert.match(html, new RegExp(`… and ${(summary.failed.length - MAX_FAILED_ROWS).toLocaleString('en-US')} more failed cells`));
  // The bound figure draws the sample, and says of how many.
  const bound = readFileSync(join(bigDir, 'report', 'bound.svg'), 'utf8');
  assert.equal(pointsIn(bound), BOUND_SAMPLE);
  assert.match(html, new RegExp(`a sample of ${BOUND_SAMPLE.toLocaleString('en-US')} of the ${(350 * TEMPLATE_BOUND).toLocaleString('en-US')} ok cells`));
});

test('the page does not grow with the cells: 10,200 and 210,000 cells of one grid make pages within 25% of each other', { timeout: 300_000 }, async () => {
  const small = await copiesSweep('small', 17);
  smallPage = (await writeReport(small)).bytes;
  const bigPage = Buffer.byteLength(readFileSync(join(bigDir, 'report', 'index.html')));
  // One mark (≥ 100 bytes of SVG) per cell would add 20 MB to the bigger page.
  assert.ok(bigPage < 1.25 * smallPage && smallPage < 1.25 * bigPage, `pages of ${smallPage} and ${bigPage} bytes`);
});

test('the bound sample: exactly BOUND_SAMPLE cells, the same ones whichever parts hold the cells and in which order', { timeout: 300_000 }, async () => {
  const { dir: a, meta: metaA } = await sweepDir(root, 'order-a', WIDE);
  const { dir: b, meta: metaB } = await sweepDir(root, 'order-b', WIDE);
  writeCopies(a, TEMPLATE, metaA, [0, 1, 2, 3, 4, 5], 1);
  // The same cells, the last first, two copies to a part.
  writeCopies(b, TEMPLATE, metaB, [5, 4, 3, 2, 1, 0], 2);
  const sampleOf = async (dir: string) => (await readReportData((await scanParts(join(dir, 'parts'))).parts)).data.snapshot(1).figures.bound;
  const [first, second] = [await sampleOf(a), await sampleOf(b)];
  assert.equal(first.points.length, BOUND_SAMPLE);
  assert.equal(first.cells, 6 * TEMPLATE_BOUND);
  const key = (p: { lambda: number; bound: number; depth: number }) => `${p.lambda}|${p.bound}|${p.depth}`;
  assert.deepEqual(first.points.map(key).sort(), second.points.map(key).sort());
  const real = new Set(TEMPLATE.filter((r) => r.status === 'ok').map((r) => key({ lambda: r.hessian_top![0]!, bound: r.bound!, depth: r.depth })));
  assert.ok(first.points.every((p) => real.has(key(p))), 'every point is a cell of the sweep');
});

// ---------------------------------------------------------------------------------------------------------
// The numbers behind the figures, against a brute force over the rows

const SMALL: Grid = { datasets: ['synthetic', 'mnist'], widths: [4, 8, 16], depths: [1, 2, 3], sampleSizes: [200, 400], seeds: 4 };

/** Published two-sided 95% Student t quantiles t(0.975, df), df = 1 … 4. */
const T975 = [12.706, 4.303, 3.182, 2.776];

test('the figures\' group statistics, densities, bound points and provenance equal a brute force over the rows on disk', { timeout: 300_000 }, async () => {
  const { dir, meta } = await sweepDir(root, 'numbers', SMALL);
  const cells = gridCells(SMALL);
  const failing = (i: number) => i % 7 === 3;
  await writePart(dir, 0, cells.map((c, i) => (failing(i) ? gridFailedRow(c) : gridRow(c))), meta);
  // Retries: half the failed cells ok now (other values), the rest failed again; a late failure of an ok cell; an ok
  // cell computed again with other values (the later row stands).
  const retried = cells.filter((_, i) => failing(i));
  await writePart(dir, 1, [
    ...retried.map((c, i) => (i % 2 ? gridFailedRow(c, 'again') : gridRow(c, { attempt: 2, hessian_top: [c.width * 2.5, 1], bound: c.width * 100, total_s: 9 }))),
    gridFailedRow(cells[0]!, 'late failure'),
  ], meta);
  await writePart(dir, 2, [gridRow(cells[1]!, { hessian_top: [123, 1], loss_diff: [9, 8, 7, 6], total_s: 5, backend: 'tensorflow' })], meta);

  // Brute force: every row from disk, then each cell's last ok row, else its last failed row.
  const parts = (await scanParts(join(dir, 'parts'))).parts;
  const all = parts.flatMap((p) => readResultFile(p).rows);
  const standing = new Map<string, ResultRow>();
  for (const row of all) if (row.status === 'ok' || standing.get(row.cell_id)?.status !== 'ok') standing.set(row.cell_id, row);
  const ok = [...standing.values()].filter((r) => r.status === 'ok');
  const groupRows = (dataset: string, width: number, depth: number, m: number) =>
    ok.filter((r) => r.dataset === dataset && r.width === width && r.depth === depth && r.sample_size === m);

  const snapshot = (await readReportData(parts)).data.snapshot(parts.length);
  assert.equal(snapshot.okCells, ok.length);
  assert.equal(snapshot.failedCells, standing.size - ok.length);
  const near = (a: number, b: number, what: string, rel = 1e-12) => assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

  // D_k: widths at depth 1 (the most cells, ties to the smaller depth), every group drawn (6 series ≤ MAX_SERIES).
  for (const dataset of SMALL.datasets) {
    const family = snapshot.figures.groups.filter((g) => g.key.dataset === dataset && g.key.depth === 1 && g.seeds_ok > 0);
    const drawn = drawnGroups(family, 'width');
    assert.equal(drawn.groups.length, 6);
    for (const series of curveSeries(drawn.groups, 'width')) {
      const [width, m] = series.order;
      const rows = groupRows(dataset, width, 1, m);
      assert.equal(series.seeds, rows.length);
      series.k.forEach((k, i) => {
        const values = rows.map((r) => r.loss_diff![r.loss_diff_k!.indexOf(k)]!);
        near(series.mean[i]!, values.reduce((s, v) => s + v, 0) / values.length, `${dataset} h=${width} m=${m} mean D at k=${k}`);
        assert.equal(series.lo[i], values.reduce((a, v) => (v < a ? v : a)), `min at k=${k}`);
        assert.equal(series.hi[i], values.reduce((a, v) => (v > a ? v : a)), `max at k=${k}`);
      });
    }
    // λ_max against width: the mean over seeds and its 95% interval, t from the published table.
    for (const p of metricPoints(family, 'width', ['lambda_max'])) {
      const m = Number(/m = (\d+)/.exec(p.series)![1]);
      const values = groupRows(dataset, p.x, 1, m).map((r) => r.hessian_top![0]!);
      const n = values.length;
      const mean = values.reduce((s, v) => s + v, 0) / n;
      near(p.y, mean, `${dataset} h=${p.x} m=${m} λ mean`);
      if (n < 2) continue;
      const half = (T975[n - 2]! * Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1))) / Math.sqrt(n);
      near(p.hi! - p.y, half, `${dataset} h=${p.x} m=${m} CI half-width`, 2e-4);
    }
  }

  // Densities: per group, the ok cell of the lowest seed.
  for (const d of snapshot.figures.densities) {
    const rows = groupRows(d.dataset, d.width, d.depth, d.sample_size);
    const lowest = rows.reduce((a, r) => (r.seed < a.seed ? r : a));
    assert.equal(d.seed, lowest.seed);
    assert.deepEqual(Array.from(d.y), lowest.density_y);
  }
  assert.equal(snapshot.figures.densities.length, new Set(ok.map((r) => `${r.dataset}|${r.width}|${r.depth}|${r.sample_size}`)).size);

  // Bound: fewer ok cells than the sample holds, so every one, and the count below y = x over all.
  const pairs = (list: { lambda: number; bound: number }[]) => list.map((p) => `${p.lambda}|${p.bound}`).sort();
  assert.deepEqual(pairs(snapshot.figures.bound.points), pairs(ok.map((r) => ({ lambda: r.hessian_top![0]!, bound: r.bound! }))));
  assert.equal(snapshot.figures.bound.below, ok.filter((r) => r.bound! < r.hessian_top![0]!).length);

  // Provenance: tallies over every row read; seconds per stage over the ok cells.
  assert.equal(snapshot.rows.rows, all.length);
  near(snapshot.rows.seconds, all.reduce((s, r) => s + r.total_s, 0), 'compute seconds');
  assert.equal(snapshot.rows.maxAttempt, 2);
  assert.deepEqual(Object.fromEntries(snapshot.rows.backends), all.reduce<Record<string, number>>((c, r) => ({ ...c, [r.backend]: (c[r.backend] ?? 0) + 1 }), {}));
  const total = snapshot.stages.find((s) => s.stage === 'total_s')!;
  near(total.mean, ok.reduce((s, r) => s + r.total_s, 0) / ok.length, 'mean total_s');
  assert.equal(total.max, ok.reduce((a, r) => (r.total_s > a ? r.total_s : a), 0));

  // The page draws one bound point per ok cell here.
  await writeReport(dir);
  assert.equal(pointsIn(readFileSync(join(dir, 'report', 'bound.svg'), 'utf8')), ok.length);
});
