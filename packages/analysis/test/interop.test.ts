// The files the analysis reads and writes, opened by independent implementations: Polars (Rust, through
// nodejs-polars) and DuckDB (C++, through @duckdb/node-api). `pl.readIPC` takes a path only when it ends in `.ipc`, so the bytes are handed over.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pl from 'nodejs-polars';
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm';
import { aggregate, type AggregateResult } from '../src/aggregate.js';
import { exportSweep } from '../src/export.js';
import { writeSummary } from '../src/summary-file.js';
import { cellIdOf, expectedRow, finishedAtOf, K, okRow, writeFixtureSweep } from './sweep-fixture.js';

let dir = '';
let cleanup = () => {};
let result: AggregateResult;
before(async () => {
  ({ dir, cleanup } = await writeFixtureSweep());
  result = await aggregate(dir);
  await writeSummary(dir, result);
});
after(() => cleanup());

const readIPC = (path: string) => pl.readIPC(readFileSync(path));

test('polars reads the part files: rows, columns, lists', () => {
  const first = readIPC(join(dir, 'parts', 'part-000.arrow'));
  // (df.width would be the column named "width": DataFrames expose columns as properties.)
  assert.deepEqual(first.shape, { height: 6, width: 64 });
  assert.deepEqual(first.getColumn('cell_id').toArray(), [4, 8].flatMap((w) => [0, 1, 2].map((s) => cellIdOf(w, s))));
  assert.deepEqual(first.getColumn('status').toArray(), ['ok', 'failed', 'ok', 'ok', 'ok', 'failed']);
  assert.deepEqual(first.getColumn('loss_diff').toArray()[0], expectedRow(4, 0).loss_diff);
  assert.equal(first.getColumn('loss_diff').toArray()[1], null);
  assert.deepEqual(first.getColumn('loss_diff_k').toArray()[4], [1, 2, 3, 8]);
  assert.equal(String(first.getColumn('width').dtype), 'DataType(Int32)');
  const second = readIPC(join(dir, 'parts', 'part-001.arrow'));
  assert.equal(second.height, 1);
  assert.equal((second.getColumn('hessian_top').toArray()[0] as unknown as number[])[0], okRow(4, 1).hessian_top![0]);
});

test('polars reads summary.arrow: one row per group, the same numbers, nulls where undefined', () => {
  const summary = readIPC(join(dir, 'summary.arrow'));
  assert.equal(summary.height, result.rows.length);
  assert.deepEqual(summary.columns.slice(0, 6), ['dataset', 'width', 'depth', 'sample_size', 'seeds_ok', 'seeds_failed']);
  assert.deepEqual(summary.getColumn('width').toArray(), [4, 8]);
  assert.deepEqual(summary.getColumn('seeds_failed').toArray(), [0, 1]);
  assert.deepEqual(summary.getColumn('lambda_max_mean').toArray(), result.rows.map((r) => r.lambda_max.mean));
  assert.deepEqual(summary.getColumn('lambda_max_ci95').toArray(), result.rows.map((r) => r.lambda_max.ci95));
  assert.deepEqual(summary.getColumn('ggn_lambda_max_ci95').toArray()[1], null);
  assert.deepEqual(summary.getColumn('curve_k').toArray()[0], K);
  assert.deepEqual(summary.getColumn('curve_mean').toArray()[0], result.rows[0]!.curve_mean);
  assert.equal((summary.getColumn('curve_hi').toArray()[1] as unknown as (number | null)[])[2], null);
});

test('polars reads the parquet export: every cell once, deduped, lists preserved', async () => {
  const out = await exportSweep(dir, 'parquet');
  assert.equal(out.path, join(dir, 'export.parquet'));
  assert.equal(out.rows, 6);
  const df = pl.readParquet(out.path);
  assert.deepEqual(df.shape, { height: 6, width: 64 });
  const ids = df.getColumn('cell_id').toArray() as string[];
  assert.deepEqual([...ids].sort(), [4, 8].flatMap((w) => [0, 1, 2].map((s) => cellIdOf(w, s))));
  const at = (id: string) => ids.indexOf(id);
  const status = df.getColumn('status').toArray();
  assert.equal(status[at(cellIdOf(4, 1))], 'ok', 'failed then ok: the ok row');
  assert.equal(df.getColumn('attempt').toArray()[at(cellIdOf(4, 1))], 2);
  assert.equal(status[at(cellIdOf(4, 0))], 'ok', 'a failure after ok: still the ok row');
  assert.equal(status[at(cellIdOf(8, 2))], 'failed');
  assert.deepEqual(df.getColumn('loss_diff').toArray()[at(cellIdOf(8, 0))], expectedRow(8, 0).loss_diff);
  assert.deepEqual(df.getColumn('hessian_top').toArray()[at(cellIdOf(4, 2))], expectedRow(4, 2).hessian_top);
  assert.equal(df.getColumn('ggn_top').toArray()[at(cellIdOf(8, 1))], null);
  // parquet-wasm reads its own file back with the Arrow schema (types and metadata) intact.
  const table = tableFromIPC(readParquet(readFileSync(out.path)).intoIPCStream());
  assert.equal(table.numRows, 6);
  assert.equal(String(table.schema.fields.find((f) => f.name === 'loss_diff_k')!.type), 'List<Int32>');
  assert.equal(table.schema.metadata.get('hessweep.spec_hash'), 'fixture0000000000');
});

test('times are typed: polars reads finished_at as a UTC datetime, DuckDB reads the Parquet export as TIMESTAMP WITH TIME ZONE', async () => {
  const part = readIPC(join(dir, 'parts', 'part-000.arrow'));
  assert.equal(String(part.getColumn('finished_at').dtype), 'DataType(Datetime(ms,UTC))');

  const out = await exportSweep(dir, 'parquet');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const types = (await connection.runAndReadAll(`DESCRIBE SELECT finished_at, loss_diff, width FROM '${out.path}'`)).getRowObjects();
    assert.deepEqual(types.map((t) => [t.column_name, t.column_type]), [
      ['finished_at', 'TIMESTAMP WITH TIME ZONE'], ['loss_diff', 'DOUBLE[]'], ['width', 'INTEGER'],
    ]);
    // The instants the rows were written with, compared as epoch milliseconds (DuckDB keeps microseconds).
    const rows = (await connection.runAndReadAll(`SELECT cell_id, epoch_ms(finished_at) AS ms FROM '${out.path}'`)).getRowObjects();
    const expected = new Map([4, 8].flatMap((w) => [0, 1, 2].map((s) => [cellIdOf(w, s), finishedAtOf(w, s)] as const)));
    assert.equal(rows.length, expected.size);
    for (const row of rows) assert.equal(Number(row.ms), Date.parse(expected.get(String(row.cell_id))!), String(row.cell_id));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
});
