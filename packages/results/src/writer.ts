import { dirname } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { makeData, RecordBatch, Struct, Table, tableToIPC, vectorFromArray } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';
import { ResultFileError, ResultRowError } from './errors.js';
import { arrowType, COLUMN_NAMES, COLUMNS, resultSchema, type ColumnKind, type ResultMeta } from './schema.js';

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
    const vector = vectorFromArray(rows.map((r) => r[name]), arrowType(COLUMNS[name].kind));
    return vector.data[0]!;
  });
  const data = makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children });
  return new Table([new RecordBatch(schema, data)]);
}

/**
 * Writes `rows` as an Arrow IPC file at `path`, atomically: the bytes go to a temp name beside it,
 * are fsynced, renamed into place and the directory fsynced, so `path` is either absent or complete.
 */
export async function writeResultFile(path: string, rows: readonly ResultRow[], meta: ResultMeta): Promise<void> {
  const bytes = tableToIPC(toTable(rows, meta), 'file');
  try {
    await writeFileAtomic(path, (write) => write(bytes));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail = code === 'ENOENT' ? `directory ${dirname(path)} does not exist` : (err as Error).message;
    throw new ResultFileError(path, `cannot write result file: ${detail}`, { cause: err });
  }
}
