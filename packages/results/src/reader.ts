import { readFileSync } from 'node:fs';
import { DataType, Field, makeData, RecordBatch, Schema, Struct, Table, vectorFromArray, type Vector } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';
import { ResultFileError } from './errors.js';
import { decodeIpcFile } from './ipc.js';
import {
  absentColumn, absentValue, addedSince, arrowType, COLUMN_NAMES, COLUMNS, META_SCHEMA_VERSION, READABLE_SCHEMA_VERSIONS, RESULT_SCHEMA_VERSION, type ColumnName,
} from './schema.js';

export interface ResultFile {
  rows: ResultRow[];
  metadata: Map<string, string>;
}

/** Reads one result file into plain rows: numbers, arrays, strings (times as ISO-8601) and nulls. */
export function readResultFile(path: string): ResultFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ResultFileError(path, `cannot read result file: ${(err as Error).message}`, { cause: err });
  }
  const table = decodeResultFile(path, bytes);
  return { rows: tableRows(table), metadata: new Map(table.schema.metadata) };
}

/**
 * Parses a result file's bytes after checking it is complete, that its checksum holds, and that it has
 * `columns` with their types.
 */
export function decodeResultFile(path: string, bytes: Uint8Array, columns: readonly ColumnName[] = COLUMN_NAMES): Table {
  const table = decodeIpcFile(path, bytes);
  checkResultSchema(path, table.schema, columns);
  return table;
}

/** Refuses a file of an unknown schema version or lacking one of `columns`, rather than yielding rows with holes. */
export function checkResultSchema(path: string, schema: Schema, columns: readonly ColumnName[] = COLUMN_NAMES): void {
  const version = schema.metadata.get(META_SCHEMA_VERSION);
  if (version === undefined) throw new ResultFileError(path, 'not a hessweep result file (no schema version in its metadata)');
  if (!READABLE_SCHEMA_VERSIONS.includes(version)) {
    throw new ResultFileError(path, `schema version ${version}, this reader knows ${READABLE_SCHEMA_VERSIONS.join(' and ')} (written by a newer hessweep?)`);
  }
  const types = new Map(schema.fields.map((f) => [f.name, String(f.type)]));
  const missing = columns.filter((name) => !types.has(name) && !addedSince(name, version));
  if (missing.length > 0) throw new ResultFileError(path, `missing required columns: ${missing.join(', ')}`);
  for (const name of columns) {
    if (!types.has(name)) continue;
    const want = String(arrowType(COLUMNS[name].kind));
    const legacyTime = version !== RESULT_SCHEMA_VERSION && COLUMNS[name].kind === 'timestamp' && types.get(name) === 'Utf8';
    if (types.get(name) !== want && !legacyTime) throw new ResultFileError(path, `column ${name} is ${types.get(name)}, expected ${want}`);
  }
}

/** Rows of a decoded result table as plain objects. */
export function tableRows(table: Table): ResultRow[] {
  const columns = COLUMN_NAMES.map((name) => [name, table.getChild(name), COLUMNS[name].kind === 'timestamp'] as const);
  const rows: ResultRow[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    for (const [name, vector, isTime] of columns) row[name] = vector ? plain(vector.get(i), isTime) : absentValue(name);
    rows.push(row as unknown as ResultRow);
  }
  return rows;
}

/**
 * A list cell comes back as a Vector (its null items as null: `toArray` would give their slots' bytes), a time as
 * epoch milliseconds (or, from a version-1 file, its ISO text).
 */
function plain(value: unknown, isTime: boolean): unknown {
  if (isTime && typeof value === 'number') return new Date(value).toISOString();
  if (value === null || typeof value !== 'object') return value;
  const list = value as Vector;
  return list.nullCount > 0 ? [...list] : Array.from(list.toArray() as ArrayLike<number>);
}

/**
 * A table of an earlier schema version in the current one: columns in the current order, `finished_at` text
 * (version 1) turned into the timestamp, and the columns added since as nulls. A current table is returned as is.
 */
export function withCurrentTypes(table: Table): Table {
  const fields = new Map(table.schema.fields.map((f, i) => [f.name, { field: f, at: i }]));
  const current = COLUMN_NAMES.every((name, i) => fields.get(name)?.at === i) && !DataType.isUtf8(fields.get('finished_at')!.field.type);
  if (current) return table;
  // Built field by field: apache-arrow's Table.setChild keeps the old field's type in the schema.
  const schema = new Schema(
    COLUMN_NAMES.map((name) => new Field(name, arrowType(COLUMNS[name].kind), COLUMNS[name].nullable)),
    table.schema.metadata,
  );
  const batches = table.batches.map((batch) => {
    const children = COLUMN_NAMES.map((name) => {
      const type = arrowType(COLUMNS[name].kind);
      const found = fields.get(name);
      if (!found) return absentColumn(name, batch.numRows);
      const child = batch.getChildAt(found.at)!;
      if (!DataType.isUtf8(child.type) || COLUMNS[name].kind !== 'timestamp') return child.data[0]!;
      return vectorFromArray(Array.from({ length: batch.numRows }, (_, i) => Date.parse(child.get(i) as string)), type).data[0]!;
    });
    return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
  });
  return new Table(schema, batches);
}
