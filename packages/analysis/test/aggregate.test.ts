import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dictionary, Int32, makeVector, Table, tableFromIPC, tableToIPC, Utf8, vectorFromArray, type Vector } from 'apache-arrow';
import {
  COLUMN_NAMES, findWinners, META_BATCHES_CRC, readColumns, ROW_FAILED, ROW_LOST, ROW_OK, scanParts, SweepStoreError, writeResultFile,
} from '@hessweep/results';
import { aggregate, AnalysisError, type AggregateResult } from '../src/aggregate.js';
import { exportSweep } from '../src/export.js';
import { formatTable, META_SUMMARY_BY, summaryColumns, writeSummary } from '../src/summary-file.js';
import type { SummaryRow } from '../src/types.js';
import { close, closeCi, referenceStat } from './reference-stats.js';
import { cellIdOf, EXPECTED_OK, finishedAtOf, expectedRow, failedRow, K, META, writeFixtureSweep } from './sweep-fixture.js';

let dir = '';
let cleanup = () => {};
let result: AggregateResult;
before(async () => {
  ({ dir, cleanup } = await writeFixtureSweep());
  result = await aggregate(dir);
});
after(() => cleanup());

const rowOf = (width: number): SummaryRow => {
  const row = result.rows.find((r) => r.key.width === width);
  assert.ok(row, `a group for width ${width}`);
  return row;
};

test('groups, counts and dedupe: failed-then-ok counts as ok, a failure after ok does not count', () => {
  assert.deepEqual(result.by, ['dataset', 'width', 'depth', 'sample_size']);
  assert.equal(result.cells, 6);
  assert.equal(result.parts, 3);
  assert.equal(result.rows.length, 2);
  assert.deepEqual(result.rows.map((r) => r.key), [
    { dataset: 'synthetic', width: 4, depth: 2, sample_size: 100, seed: null },
    { dataset: 'synthetic', width: 8, depth: 2, sample_size: 100, seed: null },
  ]);
  assert.deepEqual(result.rows.map((r) => [r.seeds_ok, r.seeds_failed]), [[3, 0], [2, 1]]);
  assert.deepEqual(rowOf(4).failed, []);
  assert.deepEqual(rowOf(8).failed, [{ cell_id: cellIdOf(8, 2), seed: 2, error: 'out of memory' }]);
  assert.deepEqual(result.failed, [
    { cell_id: cellIdOf(8, 2), dataset: 'synthetic', width: 8, depth: 2, seed: 2, sample_size: 100, error: 'out of memory' },
  ]);
});

test('each Stat equals mean, sample std and t-table CI computed here over the ok seeds', () => {
  for (const width of [4, 8]) {
    const rows = EXPECTED_OK[width]!.map((seed) => expectedRow(width, seed));
    const row = rowOf(width);
    const expect = (name: keyof SummaryRow, values: number[]) => {
      const want = referenceStat(values);
      const got = row[name] as SummaryRow['lambda_max'];
      assert.equal(got.n, want.n, `${String(name)} n, width ${width}`);
      close(got.mean, want.mean, `${String(name)} mean, width ${width}`);
      close(got.std, want.std, `${String(name)} std, width ${width}`, 1e-9);
      closeCi(got.ci95, want.ci95, want.ciSlack, `${String(name)} ci95, width ${width}`);
    };
    expect('lambda_max', rows.map((r) => r.hessian_top![0]!));
    expect('ggn_lambda_max', rows.filter((r) => r.ggn_top).map((r) => r.ggn_top![0]!));
    expect('trace', rows.map((r) => r.hessian_trace!));
    expect('loss_diff_slope', rows.map((r) => r.loss_diff_slope!));
    expect('train_loss', rows.map((r) => r.train_loss!));
    expect('train_accuracy', rows.map((r) => r.train_accuracy!));
    expect('bound', rows.map((r) => r.bound!));
    expect('bound_ratio', rows.map((r) => r.bound! / r.hessian_top![0]!));
    // Of ln λ (every λ of the fixture is positive): the λ figures' geometric means and intervals.
    expect('log_lambda_max', rows.map((r) => Math.log(r.hessian_top![0]!)));
    expect('log_ggn_lambda_max', rows.filter((r) => r.ggn_top).map((r) => Math.log(r.ggn_top![0]!)));
  }
  // Width 8: cell (8, 1) has no GGN spectrum, so one value; one value has std 0 and no interval.
  assert.equal(rowOf(8).ggn_lambda_max.n, 1);
  assert.equal(rowOf(8).ggn_lambda_max.std, 0);
  assert.ok(Number.isNaN(rowOf(8).ggn_lambda_max.ci95));
});

test('curves: per-k mean and band over the ok seeds, on the first cell\'s k grid', () => {
  const four = rowOf(4);
  assert.deepEqual(four.curve_k, K);
  K.forEach((_, i) => {
    const s = referenceStat([0, 1, 2].map((seed) => expectedRow(4, seed).loss_diff![i]!));
    close(four.curve_mean[i]!, s.mean, `mean at k=${K[i]}`);
    closeCi(four.curve_lo[i]!, s.mean - s.ci95, s.ciSlack, `lo at k=${K[i]}`);
    closeCi(four.curve_hi[i]!, s.mean + s.ci95, s.ciSlack, `hi at k=${K[i]}`);
  });
  // Width 8: (8, 0) has k = 1, 2, 4, 8; (8, 1) has 1, 2, 3, 8: its k=3 value is ignored, k=4 has one value.
  const eight = rowOf(8);
  assert.deepEqual(eight.curve_k, K);
  const [a, b] = [expectedRow(8, 0).loss_diff!, expectedRow(8, 1).loss_diff!];
  close(eight.curve_mean[0]!, (a[0]! + b[0]!) / 2, 'mean k=1');
  close(eight.curve_mean[1]!, (a[1]! + b[1]!) / 2, 'mean k=2');
  assert.equal(eight.curve_mean[2], a[2]);
  assert.ok(Number.isNaN(eight.curve_lo[2]!) && Number.isNaN(eight.curve_hi[2]!));
  close(eight.curve_mean[3]!, (a[3]! + b[3]!) / 2, 'mean k=8');
});

test('other groupings: by dataset pools everything; by seed; unknown fields are refused naming the valid ones', async () => {
  const pooled = await aggregate(dir, ['dataset']);
  assert.equal(pooled.rows.length, 1);
  assert.equal(pooled.rows[0]!.seeds_ok, 5);
  assert.equal(pooled.rows[0]!.seeds_failed, 1);
  assert.deepEqual(pooled.rows[0]!.key, { dataset: 'synthetic', width: null, depth: null, sample_size: null, seed: null });
  const bySeed = await aggregate(dir, ['width', 'seed']);
  assert.deepEqual(bySeed.rows.map((r) => [r.key.width, r.key.seed, r.seeds_ok, r.seeds_failed]), [
    [4, 0, 1, 0], [4, 1, 1, 0], [4, 2, 1, 0], [8, 0, 1, 0], [8, 1, 1, 0], [8, 2, 0, 1],
  ]);
  const onlyFailed = bySeed.rows.at(-1)!;
  assert.equal(onlyFailed.lambda_max.n, 0);
  assert.ok(Number.isNaN(onlyFailed.lambda_max.mean));
  assert.deepEqual(onlyFailed.curve_k, []);
  await assert.rejects(aggregate(dir, ['width', 'lr' as never]), (e: Error) =>
    e instanceof AnalysisError && /unknown grouping field lr/.test(e.message) && /dataset, width, depth, sample_size, seed/.test(e.message));
  await assert.rejects(aggregate(dir, ['width', 'width']), AnalysisError);
});

test('clear errors for a missing directory, no part files, and a truncated part', async () => {
  await assert.rejects(aggregate(join(dir, 'nope')), (e: Error) => e instanceof SweepStoreError && /no such directory/.test(e.message));
  const empty = mkdtempSync(join(tmpdir(), 'hessweep-empty-'));
  try {
    await assert.rejects(aggregate(empty), (e: Error) => e instanceof SweepStoreError && /no result part files/.test(e.message));
    await assert.rejects(exportSweep(empty, 'csv'), SweepStoreError);
    mkdirSync(join(empty, 'parts'));
    writeFileSync(join(empty, 'parts', 'part-000.arrow'), readFileSync(join(dir, 'parts', 'part-000.arrow')).subarray(0, 200));
    await assert.rejects(aggregate(empty), (e: Error) => e instanceof SweepStoreError && /part-000\.arrow \(not a complete Arrow IPC file \(truncated or corrupt\)\)/.test(e.message));
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('summary.arrow: the explicit schema, one row per group, NaN as null; summary.csv: same columns', async () => {
  const paths = await writeSummary(dir, result);
  assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.tmp-')), [], 'no temp files left');
  const table = tableFromIPC(readFileSync(paths.arrow));
  assert.equal(table.numRows, 2);
  const names = table.schema.fields.map((f) => f.name);
  assert.deepEqual(names, summaryColumns(result.by).map((c) => c.name));
  assert.deepEqual(names.slice(0, 6), ['dataset', 'width', 'depth', 'sample_size', 'seeds_ok', 'seeds_failed']);
  for (const s of ['lambda_max', 'ggn_lambda_max', 'trace', 'loss_diff_slope', 'train_loss', 'train_accuracy', 'bound', 'bound_ratio']) {
    for (const suffix of ['mean', 'std', 'ci95', 'n']) assert.ok(names.includes(`${s}_${suffix}`), `${s}_${suffix}`);
  }
  assert.ok(!names.some((n) => n.startsWith('log_')), 'the log-λ stats stay out of the summary files');
  const type = (name: string) => String(table.schema.fields.find((f) => f.name === name)!.type);
  assert.equal(type('dataset'), 'Utf8');
  assert.equal(type('width'), 'Int32');
  assert.equal(type('lambda_max_mean'), 'Float64');
  assert.equal(type('lambda_max_n'), 'Int32');
  assert.equal(type('curve_k'), 'List<Int32>');
  assert.equal(type('curve_mean'), 'List<Float64>');
  assert.equal(table.schema.metadata.get(META_SUMMARY_BY), 'dataset,width,depth,sample_size');
  const eight = table.get(1)!.toJSON();
  assert.equal(eight.width, 8);
  assert.equal(eight.seeds_ok, 2);
  assert.equal(eight.seeds_failed, 1);
  assert.equal(eight.lambda_max_mean, rowOf(8).lambda_max.mean);
  assert.equal(eight.ggn_lambda_max_n, 1);
  assert.equal(eight.ggn_lambda_max_ci95, null, 'NaN is written as null');
  assert.deepEqual(Array.from(eight.curve_k.toArray()), K);
  const lo = eight.curve_lo.toArray() as ArrayLike<number | null>;
  assert.equal(eight.curve_lo.get(2), null, 'a NaN list item is written as null');
  assert.equal(lo.length, 4);

  const csv = readFileSync(paths.csv, 'utf8').trimEnd().split('\n');
  assert.equal(csv.length, 3);
  assert.equal(csv[0], summaryColumns(result.by).map((c) => c.name).join(','));
  const cells = csv[2]!.match(/("[^"]*"|[^,]*)(,|$)/g)!.map((c) => c.replace(/,$/, ''));
  const header = csv[0]!.split(',');
  const at = (name: string) => cells[header.indexOf(name)]!;
  assert.equal(at('dataset'), 'synthetic');
  assert.equal(at('width'), '8');
  assert.equal(at('seeds_failed'), '1');
  assert.equal(Number(at('lambda_max_mean')), rowOf(8).lambda_max.mean);
  assert.equal(at('ggn_lambda_max_ci95'), '');
  assert.equal(at('curve_k'), '"1;2;4;8"');
  assert.equal(at('curve_lo').split(';')[2], '');
});

test('formatTable: keys, counts, mean ± ci and the failed cells', () => {
  const text = formatTable(result);
  const lines = text.split('\n');
  assert.match(lines[0]!, /^2 groups by dataset, width, depth, sample_size from 6 cells \(5 ok, 1 failed\) in 3 part files$/);
  assert.match(lines[1]!, /^dataset\s+width\s+depth\s+sample_size\s+ok\s+failed\s+λ_max ± ci95\s+ggn λ_max\s+trace\s+slope\s+train acc\s+bound\/λ_max$/);
  assert.match(lines[3]!, /^synthetic\s+4\s+2\s+100\s+3\s+0\s+41\.58 ± \d/);
  assert.match(text, /failed cells \(1\):\n {2}w8s2000000000000 {2}synthetic width 8 depth 2 seed 2 m 100: out of memory\n$/);
  // A single value (n = 1) has no interval: shown as the mean alone.
  assert.match(lines[4]!, /\s72\s/);
});

test('export csv: one row per distinct cell (winning rows), every column, lists ;-joined and quoted', async () => {
  const out = await exportSweep(dir, 'csv');
  assert.equal(out.path, join(dir, 'export.csv'));
  assert.equal(out.rows, 6);
  const text = readFileSync(out.path, 'utf8');
  const header = text.slice(0, text.indexOf('\n')).split(',');
  assert.equal(header[0], 'cell_id');
  assert.equal(header.length, 64);
  // The time of each row as ISO-8601 UTC, last on its line.
  const line = text.split('\n').find((l) => l.startsWith(`"${cellIdOf(4, 2)}"`) || l.startsWith(cellIdOf(4, 2)))!;
  assert.ok(line.endsWith(`,${finishedAtOf(4, 2)}`), line.slice(-40));
  assert.ok(text.includes(`"${expectedRow(4, 2).loss_diff!.join(';')}"`));
  // The failed-then-ok cell appears once, as its ok row; the failure after ok is not there.
  assert.equal(text.split(cellIdOf(4, 1)).length - 1, 1);
  assert.ok(!text.includes('late duplicate failure'));
  assert.ok(text.includes('"boom') === false, 'the superseded failure of (4, 1) is not exported');
  assert.ok(text.includes(',out of memory,'));
});

/** A list cell comes back as a Vector: make it a plain array to compare. */
const plain = (v: unknown): unknown => (v !== null && typeof v === 'object' ? Array.from((v as Vector).toArray() as ArrayLike<number>) : v);

test('readColumns (footer, metadata and the asked columns\' buffers only) reads what a full decode reads', async () => {
  for (const path of (await scanParts(join(dir, 'parts'))).parts) {
    const table = tableFromIPC(readFileSync(path));
    const batches = await readColumns(path, COLUMN_NAMES);
    assert.equal(batches.reduce((s, b) => s + b.numRows, 0), table.numRows);
    for (const name of COLUMN_NAMES) {
      const full = table.getChild(name)!;
      const mine = makeVector(batches.flatMap((b) => [b.columns.get(name)!]));
      for (let i = 0; i < table.numRows; i++) assert.deepEqual(plain(mine.get(i)), plain(full.get(i)), `${path} ${name} row ${i}`);
    }
  }
});

test('findWinners over 70,000 ids (hash table growth): each cell once, the last row of a repeated id wins', async () => {
  const big = mkdtempSync(join(tmpdir(), 'hessweep-ids-'));
  try {
    const template = failedRow(4, 0, 'x');
    const row = (n: number) => ({ ...template, cell_id: n.toString(16).padStart(16, '0'), seed: n % 1000 });
    await writeResultFile(join(big, 'part-000.arrow'), Array.from({ length: 40_000 }, (_, n) => row(n)), META);
    // 20,000 new ids, then 10,000 ids of part-000 again (every fourth), failed again: the later rows win.
    const second = [...Array.from({ length: 20_000 }, (_, n) => row(40_000 + n)), ...Array.from({ length: 10_000 }, (_, n) => row(4 * n))];
    second[5] = { ...second[5]!, status: 'ok', error: null };
    await writeResultFile(join(big, 'part-001.arrow'), second, META);
    const { masks, cells } = await findWinners((await scanParts(big)).parts);
    assert.equal(cells, 60_000);
    assert.equal(masks[0]!.filter((m) => m === ROW_LOST).length, 10_000);
    assert.ok(masks[0]!.every((m, n) => (n % 4 === 0 && n < 40_000 ? m === ROW_LOST : m === ROW_FAILED)));
    assert.equal(masks[1]!.filter((m) => m === ROW_FAILED).length, 29_999);
    assert.equal(masks[1]![5], ROW_OK);
  } finally {
    rmSync(big, { recursive: true, force: true });
  }
});

test('readColumns falls back to a whole-file decode for IPC features it skips (a dictionary column here)', async () => {
  const other = mkdtempSync(join(tmpdir(), 'hessweep-dict-'));
  try {
    const source = tableFromIPC(readFileSync(join(dir, 'parts', 'part-000.arrow')));
    const notes = vectorFromArray(Array.from({ length: source.numRows }, (_, i) => (i % 2 ? 'a' : 'b')), new Dictionary(new Utf8(), new Int32()));
    const withDictionary = source.assign(new Table({ notes }));
    // Another writer's file: different rows, so not our checksum.
    withDictionary.schema.metadata.delete(META_BATCHES_CRC);
    const path = join(other, 'part-000.arrow');
    writeFileSync(path, tableToIPC(withDictionary, 'file'));
    const batches = await readColumns(path, ['cell_id', 'loss_diff']);
    const ids = makeVector(batches.map((b) => b.columns.get('cell_id')!));
    assert.deepEqual([...ids], [...source.getChild('cell_id')!]);
    const summary = await aggregate(other);
    assert.deepEqual(summary.rows.map((r) => [r.seeds_ok, r.seeds_failed]), [[2, 1], [2, 1]]);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});
