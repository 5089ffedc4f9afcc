/**
 * `report --watch`'s state (LiveReport): after every change to parts/ (new parts, retries, a compaction that
 * writes a merged part and removes the small ones, a recomputed cell, a part deleted or named out of order, a
 * damaged part) what it shows equals what a fresh read of the same directory gives, and it reads every part
 * again only where it must.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultRow } from '@hessweep/grid';
import { readResultFile, scanParts, writeResultFile } from '@hessweep/results';
import { LiveReport } from '../src/live-report.js';
import { readReportData, type ReportSnapshot } from '../src/report-data.js';
import { gridCells, gridFailedRow, gridRow, partName, sweepDir, writePart, type Grid } from './grid-sweep.js';

const GRID: Grid = { datasets: ['synthetic'], widths: [4, 8, 16], depths: [1, 2], sampleSizes: [200], seeds: 5 };
const cells = gridCells(GRID);

let root = '';
let dir = '';
let meta = { sweep: '', specHash: '', version: '' };
let live: LiveReport;
let clock = Date.UTC(2026, 0, 1);
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hessweep-live-'));
  ({ dir, meta } = await sweepDir(root, 'live', GRID));
  live = new LiveReport(dir, { reloadSeconds: 5 }, () => clock);
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Numbers equal to 1e-9 (sums taken in another order differ in the last bits), NaN equal to NaN, the rest deeply. */
function assertClose(actual: unknown, expected: unknown, path = 'snapshot'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    const ok = Object.is(actual, expected) || Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected));
    return assert.ok(ok, `${path}: ${actual} vs ${expected}`);
  }
  if (expected instanceof Map) return assertClose(Object.fromEntries(actual as Map<string, unknown>), Object.fromEntries(expected), path);
  if (ArrayBuffer.isView(expected)) return assertClose(Array.from(actual as ArrayLike<number>), Array.from(expected as unknown as ArrayLike<number>), path);
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${path}: ${String(actual)}`);
    assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected).sort(), `${path}: keys`);
    for (const key of Object.keys(expected)) assertClose((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], `${path}.${key}`);
    return;
  }
  assert.equal(actual, expected, path);
}

/** The snapshot with its lists in a fixed order (densities come in the order groups were first seen). */
const ordered = (s: ReportSnapshot) => ({ ...s, figures: { ...s.figures, densities: [...s.figures.densities].sort((a, b) => a.width - b.width || a.depth - b.depth) } });

/** What a fresh read of the directory shows: the report's one pass over its usable parts. */
async function fresh(): Promise<ReportSnapshot> {
  const { parts } = await scanParts(join(dir, 'parts'), { sweep: meta.sweep, specHashes: [meta.specHash] });
  return (await readReportData(parts)).data.snapshot(parts.length);
}

/** Updates the live report and checks it against a fresh read; returns the update. */
async function step(what: string) {
  clock += 10_000;
  const update = await live.update();
  assertClose(ordered(live.snapshot()!), ordered(await fresh()), what);
  return update;
}

const rowsOf = (n: number) => readResultFile(join(dir, 'parts', partName(n))).rows;

test('new parts are folded in without reading the others again; counts, rate and page follow', async () => {
  await writePart(dir, 0, cells.slice(0, 12).map((c, i) => (i % 5 === 1 ? gridFailedRow(c) : gridRow(c))), meta);
  const first = await step('first update');
  assert.equal(first.rebuilt, true);
  assert.equal(first.written, true);
  assert.deepEqual([first.status.done, first.status.failed, first.status.total, first.status.rate], [12, 3, 30, null]);

  // New cells, a retry that is ok now (1) and one that failed again (6), a failure after ok (0).
  await writePart(dir, 1, [
    ...cells.slice(12, 20).map((c) => gridRow(c)),
    gridRow(cells[1]!, { attempt: 2, total_s: 7 }), gridFailedRow(cells[6]!, 'again'), gridFailedRow(cells[0]!, 'late'),
  ], meta);
  const second = await step('after part 1');
  assert.deepEqual([second.rebuilt, second.written], [false, true]);
  assert.deepEqual([second.status.done, second.status.failed], [20, 2]);
  assert.equal(second.status.rate, 8 / 10, '8 more cells in 10 s');
  assert.equal(second.status.etaSeconds, 10 / 0.8);

  const idle = await step('nothing new');
  assert.deepEqual([idle.rebuilt, idle.written], [false, false]);

  const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
  assert.ok(html.includes('<meta http-equiv="refresh" content="5">'), 'the live page reloads itself');
  assert.ok(html.includes('20 / 30 cells done (66.7%) · 2 failed · 0.8 cells/s · ETA 13 s'), /<section id="progress">[^]*?<\/section>/.exec(html)?.[0]);
});

test('a compaction (a merged part written, then the small ones removed) moves rows without reading everything again', async () => {
  const merged = [...rowsOf(0), ...rowsOf(1)];
  await writeResultFile(join(dir, 'parts', partName(2)), merged, meta);
  const both = await step('merged part beside the small ones');
  assert.equal(both.rebuilt, false);
  unlinkSync(join(dir, 'parts', partName(0)));
  unlinkSync(join(dir, 'parts', partName(1)));
  const after = await step('small parts removed');
  assert.equal(after.rebuilt, false);
  assert.deepEqual([after.status.done, after.status.failed], [20, 2]);
  assert.equal(live.snapshot()!.rows.rows, merged.length);

  // Again, with the merged part written and the small ones removed before the next update sees either.
  const again = [gridRow(cells[3]!), gridRow(cells[4]!)]; // the rows these cells have already, written again
  await writeResultFile(join(dir, 'parts', 'part-000002y1.arrow'), again.slice(0, 1), meta);
  await writeResultFile(join(dir, 'parts', 'part-000002y2.arrow'), again.slice(1), meta);
  assert.equal((await step('small parts')).rebuilt, false);
  await writeResultFile(join(dir, 'parts', 'part-000002z.arrow'), again, meta);
  unlinkSync(join(dir, 'parts', 'part-000002y1.arrow'));
  unlinkSync(join(dir, 'parts', 'part-000002y2.arrow'));
  const swapped = await step('merged in, small out, in one update');
  assert.equal(swapped.rebuilt, false);
  assert.deepEqual([swapped.status.done, live.snapshot()!.rows.rows], [20, merged.length + again.length]);
});

test('a cell computed again with other values, a part out of name order, a part deleted with its rows: read afresh', async () => {
  await writePart(dir, 3, [gridRow(cells[2]!, { hessian_top: [999, 1], total_s: 3 }), ...cells.slice(20, 24).map((c) => gridRow(c))], meta);
  assert.equal((await step('an ok cell replaced')).rebuilt, true);

  await writeResultFile(join(dir, 'parts', 'part-000002a.arrow'), [gridRow(cells[24]!)], meta);
  assert.equal((await step('a name before the last folded')).rebuilt, true);

  unlinkSync(join(dir, 'parts', partName(3)));
  const gone = await step('a part with winning rows deleted');
  assert.equal(gone.rebuilt, true);
  assert.equal(gone.status.done, 21);
});

test('a damaged part is named once and left out until it is gone; a part copied in whole later is folded', async () => {
  writeFileSync(join(dir, 'parts', partName(4)), 'not an arrow file');
  const damaged = await step('damaged part');
  assert.equal(damaged.warnings.length, 1);
  assert.match(damaged.warnings[0]!, /part-000004\.arrow cannot be used .*--quarantine/);
  assert.ok(readFileSync(join(dir, 'report', 'index.html'), 'utf8').includes('part-000004.arrow cannot be used'), 'the page names the damaged part');
  assert.deepEqual((await step('damaged part again')).warnings, []);

  // The same name, now written whole (a copy that was still going on when it was first seen): cells 24 … 29, of
  // which 24 already had a row.
  await writePart(dir, 4, cells.slice(24, 30).map((c) => gridRow(c)), meta);
  const whole = await step('part written whole');
  assert.deepEqual([whole.status.done, whole.status.warnings], [26, []]);
});

test('a live report that starts before any part exists shows nothing done, then the first part', async () => {
  const { dir: empty, meta: emptyMeta } = await sweepDir(root, 'empty', GRID);
  const watcher = new LiveReport(empty, { reloadSeconds: 2 }, () => clock);
  const first = await watcher.update();
  assert.deepEqual([first.status.done, first.status.total, first.written], [0, 30, true]);
  const rows: ResultRow[] = cells.slice(0, 3).map((c) => gridRow(c));
  await writePart(empty, 0, rows, emptyMeta);
  assert.equal((await watcher.update()).status.done, 3);
});
