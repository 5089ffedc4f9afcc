import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, Field, Float64, Schema, Table, tableFromIPC, tableToIPC, Type, Utf8, vectorFromArray } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';
import {
  COLUMN_NAMES, COLUMNS, readResultFile, RESULT_SCHEMA_VERSION, resultSchema, ResultFileError,
  ResultRowError, StorageError, toTable, writeResultFile,
} from '../src/index.js';

const meta = { sweep: 'paper', specHash: 'abc123def4567890', version: '0.1.0' };

const stages = {
  load_s: 0.25, train_s: 12.5, losses_s: 0.1, curve_s: 3.75, hessian_s: 8.125, ggn_s: 0,
  trace_s: 1e-9, density_s: 2.5, stabilization_s: 4.25, bound_s: 0.001, total_s: 27.3,
};

const okRow: ResultRow = {
  ...stages,
  cell_id: '0123456789abcdef', sweep: 'paper', status: 'ok', error: null, dataset: 'mnist',
  width: 16, depth: 5, seed: -3, sample_size: 1000, epochs: 100, batch_size: 64, optimizer: 'adam',
  lr: 0.1 + 0.2, bias: false, init: 'uniform', permutations: 100, n_params: 2_147_483_647,
  // Values a float codec is likely to mangle: -0, subnormals, extremes, non-finite.
  train_loss: -0, train_accuracy: 0.9871, loss_diff_k: [1, 10, 100, -2_147_483_648],
  loss_diff: [5e-324, 1.7976931348623157e308, -0, Number.NaN, Infinity, -Infinity, 1 / 3],
  loss_diff_slope: -1.2345678901234567, hessian_top: [123.456, 7.8, 1e-300], hessian_residuals: [1e-12, 2e-12, 3e-9],
  hessian_iters: 40, ggn_top: [], ggn_residuals: [], ggn_iters: 0, hessian_trace: 42.000000000000007,
  ggn_trace: 42, hessian_trace_hutchinson: Number.NaN, hessian_trace_se: Infinity,
  density_x: [-1, 0, 1], density_y: [0.25, 0.5, 0.25], bound: 1e10, m_w: 2.5, m_x: 28.0000001,
  loss_diff_smooth: [0.5, 1e-7], stab_subspace: 2, stab_sigma: [1e-3, 0.1], delta2_iso: [1, 2, 3, 4], delta2_sub: [5e-324, 0, -0, 1],
  delta2_sub_quad: [Number.NaN, 1, 2, 3], delta2_sub_gm: [1 / 3, 2, 3, 4], stab_thresholds: [1e-3, 1e-4],
  // Items a threshold did not reach are null; they must stay null, not turn into their slots' bytes.
  n_suff_d1: [17, null], n_suff_d1_fit: [null, 2.5e6], n_suff_d2: [null, null, 3, 999], n_suff_d2_fit: [1e300, null, 4, 5],
  backend: 'tensorflow', worker: 'host-1/2', attempt: 1, finished_at: '2024-05-01T12:34:56.789Z',
};

const failedRow: ResultRow = {
  ...stages,
  cell_id: 'fedcba9876543210', sweep: 'paper', status: 'failed', error: 'out of memory: "ünïcödé" ✓\nline 2',
  dataset: 'cifar10', width: 1024, depth: 10, seed: 4, sample_size: 50000, epochs: 1, batch_size: 1, optimizer: 'adam',
  lr: 1e-3, bias: true, init: 'he', permutations: 1, n_params: null, train_loss: null, train_accuracy: null,
  loss_diff_k: null, loss_diff: null, loss_diff_slope: null, hessian_top: null, hessian_residuals: null,
  hessian_iters: null, ggn_top: null, ggn_residuals: null, ggn_iters: null, hessian_trace: null, ggn_trace: null,
  hessian_trace_hutchinson: null, hessian_trace_se: null, density_x: null, density_y: null, bound: null, m_w: null,
  m_x: null, loss_diff_smooth: null, stab_subspace: null, stab_sigma: null, delta2_iso: null, delta2_sub: null, delta2_sub_quad: null,
  delta2_sub_gm: null, stab_thresholds: null, n_suff_d1: null, n_suff_d1_fit: null, n_suff_d2: null, n_suff_d2_fit: null, backend: 'wasm', worker: '', attempt: 3, finished_at: '2024-05-01T12:35:00.000Z',
};

const tempDirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'hessweep-results-'));
  tempDirs.push(dir);
  return dir;
};
after(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** The IEEE-754 bits of a number, so NaN, -0 and last-bit differences all count. */
const bits = (x: number): bigint => new BigUint64Array(new Float64Array([x]).buffer)[0]!;

function assertBitExact(actual: ResultRow, expected: ResultRow): void {
  for (const name of COLUMN_NAMES) {
    const kind = COLUMNS[name].kind;
    const [a, e] = [actual[name], expected[name]];
    if (kind === 'float64' && typeof e === 'number') assert.equal(bits(a as number), bits(e), name);
    if ((kind === 'list_float64' || kind === 'list_float64_nulls') && Array.isArray(e)) {
      const listBits = (list: (number | null)[]) => list.map((x) => (x === null ? null : bits(x)));
      assert.deepEqual(listBits(a as (number | null)[]), listBits(e), name);
    }
  }
}

test('rows round-trip exactly: floats bit for bit, lists, nulls, booleans, strings', async () => {
  const path = join(tempDir(), 'part-0.arrow');
  await writeResultFile(path, [okRow, failedRow], meta);
  const { rows } = readResultFile(path);
  assert.deepStrictEqual(rows, [okRow, failedRow]);
  assertBitExact(rows[0]!, okRow);
  assertBitExact(rows[1]!, failedRow);
  for (const row of rows) {
    assert.deepEqual(Object.keys(row), COLUMN_NAMES);
    for (const value of Object.values(row)) assert.ok(Array.isArray(value) || typeof value !== 'object' || value === null);
  }
});

test('the schema has the declared column types and nullability', () => {
  const schema = resultSchema(meta);
  assert.deepEqual(schema.fields.map((f) => f.name), COLUMN_NAMES);
  const field = (name: string) => schema.fields.find((f) => f.name === name)!;
  for (const name of ['cell_id', 'status', 'error', 'dataset']) assert.ok(DataType.isUtf8(field(name).type), name);
  // A time, not text: UTC milliseconds, which pandas, polars and DuckDB read as a timestamp.
  assert.equal(String(field('finished_at').type), 'Timestamp<MILLISECOND, UTC>');
  for (const name of ['width', 'depth', 'seed', 'sample_size', 'epochs', 'batch_size', 'permutations', 'n_params', 'hessian_iters', 'ggn_iters', 'attempt']) {
    const type = field(name).type;
    assert.ok(DataType.isInt(type) && type.bitWidth === 32 && type.isSigned, name);
  }
  assert.equal(field('bias').type.typeId, Type.Bool);
  for (const name of ['lr', 'train_loss', 'bound', 'total_s']) assert.equal(field(name).type.typeId, Type.Float);
  assert.ok(DataType.isList(field('loss_diff_k').type));
  assert.equal(field('loss_diff_k').type.children[0].type.typeId, Type.Int);
  for (const name of ['loss_diff', 'hessian_top', 'hessian_residuals', 'ggn_top', 'ggn_residuals', 'density_x', 'density_y']) {
    assert.ok(DataType.isList(field(name).type), name);
    assert.equal(String(field(name).type), 'List<Float64>', name);
  }
  assert.equal(field('error').nullable, true);
  assert.equal(field('n_params').nullable, true);
  assert.equal(field('cell_id').nullable, false);
  assert.equal(field('width').nullable, false);
  assert.ok(!schema.fields.some((f) => DataType.isDictionary(f.type)));
});

test('metadata round-trips: spec hash, version and schema version', async () => {
  const path = join(tempDir(), 'part-0.arrow');
  await writeResultFile(path, [okRow], meta);
  const { metadata } = readResultFile(path);
  assert.equal(metadata.get('hessweep.spec_hash'), meta.specHash);
  assert.equal(metadata.get('hessweep.version'), meta.version);
  assert.equal(metadata.get('hessweep.schema_version'), RESULT_SCHEMA_VERSION);
});

test('a plain apache-arrow reader opens the file with the same schema', async () => {
  const path = join(tempDir(), 'part-0.arrow');
  await writeResultFile(path, [okRow, failedRow], meta);
  const table = tableFromIPC(readFileSync(path));
  assert.equal(table.numRows, 2);
  assert.deepEqual(table.schema.fields.map((f) => `${f.name}:${f.type}`), resultSchema(meta).fields.map((f) => `${f.name}:${f.type}`));
  assert.equal(table.getChild('width')!.get(1), 1024);
  assert.equal(table.getChild('error')!.get(0), null);
  assert.equal(table.schema.metadata.get('hessweep.spec_hash'), meta.specHash);
});

test('an empty part keeps its schema and metadata', async () => {
  const path = join(tempDir(), 'part-0.arrow');
  await writeResultFile(path, [], meta);
  const { rows, metadata } = readResultFile(path);
  assert.deepEqual(rows, []);
  assert.equal(metadata.get('hessweep.spec_hash'), meta.specHash);
});

test('a truncated or corrupt file is a ResultFileError naming the path', async () => {
  const dir = tempDir();
  const path = join(dir, 'part-0.arrow');
  await writeResultFile(path, [okRow, failedRow], meta);
  const bytes = readFileSync(path);
  const cut = join(dir, 'part-cut.arrow');
  for (const length of [0, 4, 100, Math.floor(bytes.length / 2), bytes.length - 1]) {
    writeFileSync(cut, bytes.subarray(0, length));
    assert.throws(() => readResultFile(cut), (err: unknown) => err instanceof ResultFileError && err.message.includes(cut), `cut at ${length}`);
  }
  const garbage = Buffer.from(bytes);
  garbage.fill(0xff, 8, bytes.length - 8);
  writeFileSync(cut, garbage);
  assert.throws(() => readResultFile(cut), (err: unknown) => err instanceof ResultFileError && err.message.includes(cut));
});

test('a file missing a column or with an inferred type is refused', () => {
  const dir = tempDir();
  const partial = join(dir, 'partial.arrow');
  const utf8 = new Field('cell_id', new Utf8(), false);
  const columns = { cell_id: vectorFromArray(['a'], new Utf8()), lr: vectorFromArray([1], new Float64()) };
  const fields = [utf8, new Field('lr', new Float64(), false)];
  writeFileSync(partial, tableToIPC(new Table(new Schema(fields), columns), 'file'));
  assert.throws(() => readResultFile(partial), (err: unknown) =>
    err instanceof ResultFileError && err.message.includes(partial) && /not a hessweep result file \(no schema version/.test(err.message));
  const versioned = new Schema(fields, new Map([['hessweep.schema_version', RESULT_SCHEMA_VERSION]]));
  writeFileSync(partial, tableToIPC(new Table(versioned, columns), 'file'));
  assert.throws(() => readResultFile(partial), (err: unknown) =>
    err instanceof ResultFileError && err.message.includes(partial) && /missing required columns: sweep, status/.test(err.message));

  // Inference would store integers as Float64; such a file is not ours even with every column present.
  const inferred = join(dir, 'inferred.arrow');
  const ours = toTable([okRow], meta);
  const vectors = Object.fromEntries(COLUMN_NAMES.map((name) => [name, ours.getChild(name)!]));
  const inferredTable = new Table({ ...vectors, width: vectorFromArray([16], new Float64()) });
  inferredTable.schema.metadata.set('hessweep.schema_version', RESULT_SCHEMA_VERSION);
  writeFileSync(inferred, tableToIPC(inferredTable, 'file'));
  assert.throws(() => readResultFile(inferred), (err: unknown) =>
    err instanceof ResultFileError && err.message.includes(inferred) && err.message.includes('column width is Float64, expected Int32'));
});

test('a value that does not fit its column is refused, naming column and cell', async () => {
  const dir = tempDir();
  const path = join(dir, 'part-0.arrow');
  const cases: [Partial<ResultRow>, string, RegExp][] = [
    [{ width: 16.5 }, 'width', /int32/],
    [{ attempt: 2 ** 31 }, 'attempt', /int32/],
    [{ loss_diff_k: [1, 2.5] }, 'loss_diff_k', /int32/],
    [{ loss_diff: [1, '2' as unknown as number] }, 'loss_diff', /numbers/],
    [{ cell_id: null as unknown as string }, 'cell_id', /null in a non-null column/],
    [{ bias: 1 as unknown as boolean }, 'bias', /boolean/],
  ];
  for (const [change, column, why] of cases) {
    const row = { ...failedRow, ...change };
    await assert.rejects(writeResultFile(path, [okRow, row], meta), (err: unknown) =>
      err instanceof ResultRowError && err.column === column && err.message.includes(column) && err.message.includes(String(row.cell_id)) && why.test(err.message),
    column);
  }
  const { train_loss: _dropped, ...missing } = okRow;
  await assert.rejects(writeResultFile(path, [missing as ResultRow], meta), /column train_loss of cell 0123456789abcdef: missing/);
  assert.deepEqual(readdirSync(dir), []);
});

test('a write leaves only the final file, and overwrites in place', async () => {
  const dir = tempDir();
  const path = join(dir, 'part-0.arrow');
  await writeResultFile(path, [okRow], meta);
  await writeResultFile(path, [failedRow], meta);
  assert.deepEqual(readdirSync(dir), ['part-0.arrow']);
  assert.deepStrictEqual(readResultFile(path).rows, [failedRow]);
});

test('writing into a missing directory is a clear error and leaves nothing', async () => {
  const dir = tempDir();
  const path = join(dir, 'missing', 'part-0.arrow');
  await assert.rejects(writeResultFile(path, [okRow], meta), (err: unknown) =>
    err instanceof StorageError && err.message.includes(path) && err.message.includes('no such file or directory (ENOENT)') && !err.fault);
  assert.deepEqual(readdirSync(dir), []);
});
