import { makeData, RecordBatch, Struct, Table, tableToIPC, vectorFromArray } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';
import { writeFileAtomic } from './atomic.js';
import { ResultRowError } from './errors.js';
import { batchesChecksum } from './ipc.js';
import { arrowType, COLUMN_NAMES, COLUMNS, META_BATCHES_CRC, resultSchema, type ColumnKind, type ResultMeta } from './schema.js';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

const isInt32 = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= INT32_MIN && (v as number) <= INT32_MAX;

/** Why `value` does not fit a column of `kind`, or null when it does. NaN and ±Infinity are valid float64. */
function misfit(kind: ColumnKind, value: unknown): string | null {
  switch (kind) {
    case 'utf8': return typeof value === 'string' ? null : 'expected a string';
    case 'bool': return typeof value === 'boolean' ? null : 'expected a boolean';
    case 'float64': return typeof value === 'number' ? null : 'expected a number';
    case 'int32': return isInt32(value) ? null : 'expected an integer in the int32 range';
    case 'list_int32':
      return Array.isArray(value) && value.every(isInt32) ? null : 'expected an array of int32 integers';
    case 'list_float64':
      return Array.isArray(value) && value.every((x) => typeof x === 'number') ? null : 'expected an array of numbers';
    case 'timestamp':
      return typeof value === 'string' && Number.isFinite(Date.parse(value)) ? null : 'expected an ISO-8601 time';
  }
}

/** Checks every cell against its column, so a bad row is an error rather than a silent cast. */
export function validateRow(row: ResultRow): void {
  const cellId = typeof row.cell_id === 'string' ? row.cell_id : String(row.cell_id);
  for (const name of COLUMN_NAMES) {
    const { kind, nullable } = COLUMNS[name];
    const value: unknown = row[name];
    if (value === null && nullable) continue;
    const why = value === undefined ? 'missing' : value === null ? 'null in a non-null column' : misfit(kind, value);
    if (why !== null) throw new ResultRowError(name, cellId, `${why}, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `array of ${value.length}`;
  return String(value);
}

/** One record batch with the fixed schema, each column built with its declared type (never inferred). */
export function toTable(rows: readonly ResultRow[], meta: ResultMeta): Table {
  rows.forEach(validateRow);
  const schema = resultSchema(meta);
  if (rows.length === 0) return new Table(schema);
  const children = COLUMN_NAMES.map((name) => {
    const kind = COLUMNS[name].kind;
    const values = kind === 'timestamp' ? rows.map((r) => Date.parse(r[name] as string)) : rows.map((r) => r[name]);
    return vectorFromArray(values, arrowType(kind)).data[0]!;
  });
  const data = makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children });
  return new Table([new RecordBatch(schema, data)]);
}

/**
 * The bytes of a result file: the rows as one Arrow IPC file whose schema metadata carries the sweep, the spec
 * hash, the versions and the CRC-32 of the record batches (taken from a draft, since the batches' bytes do not
 * depend on the metadata).
 */
export function encodeResultFile(rows: readonly ResultRow[], meta: ResultMeta): Uint8Array {
  const draft = toTable(rows, meta);
  const checksum = batchesChecksum('(result file)', tableToIPC(draft, 'file'));
  const schema = resultSchema(meta, [[META_BATCHES_CRC, checksum]]);
  return tableToIPC(new Table(schema, draft.batches.map((batch) => new RecordBatch(schema, batch.data))), 'file');
}

/**
 * Writes `rows` as an Arrow IPC file at `path`, atomically (writeFileAtomic): `path` is either absent or
 * complete; a fault of the file system is a StorageError naming it.
 */
export async function writeResultFile(path: string, rows: readonly ResultRow[], meta: ResultMeta): Promise<void> {
  const bytes = encodeResultFile(rows, meta);
  await writeFileAtomic(path, (write) => write(bytes));
}
