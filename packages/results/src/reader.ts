import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tableFromIPC, type Schema, type Table, type Vector } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';
import { ResultFileError } from './errors.js';
import { arrowType, COLUMN_NAMES, COLUMNS, META_SCHEMA_VERSION, RESULT_SCHEMA_VERSION, type ColumnName } from './schema.js';

/** Leading and trailing magic of the IPC file format; a file cut short loses the trailing one. */
const MAGIC = Buffer.from('ARROW1');

/** Part files of a sweep; a write in progress (`*.tmp-*`) is never read. */
const PART_FILE = /^part-.*\.arrow$/;

export interface ResultFile {
  rows: ResultRow[];
  metadata: Map<string, string>;
}

/** Reads one result file into plain rows: numbers, arrays and nulls, no Arrow vectors or bigints. */
export function readResultFile(path: string): ResultFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ResultFileError(path, `cannot read result file: ${(err as Error).message}`, { cause: err });
  }
  const table = decodeResultFile(path, bytes);
  return { rows: toRows(table), metadata: new Map(table.schema.metadata) };
}

/**
 * Parses a result file's bytes after checking it is complete (a truncated file-format file may parse as an
 * empty table, so the footer's magic is checked first) and that it has `columns` with their types.
 */
export function decodeResultFile(path: string, bytes: Uint8Array, columns: readonly ColumnName[] = COLUMN_NAMES): Table {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 2 * MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC) || !buf.subarray(-MAGIC.length).equals(MAGIC)) {
    throw new ResultFileError(path, 'not a complete Arrow IPC file (truncated or corrupt)');
  }
  let table: Table;
  try {
    table = tableFromIPC(buf);
  } catch (err) {
    throw new ResultFileError(path, `corrupt Arrow IPC file: ${(err as Error).message}`, { cause: err });
  }
  checkResultSchema(path, table.schema, columns);
  return table;
}

/** Refuses a file from another schema version or lacking one of `columns`, rather than yielding rows with holes. */
export function checkResultSchema(path: string, schema: Schema, columns: readonly ColumnName[] = COLUMN_NAMES): void {
  const version = schema.metadata.get(META_SCHEMA_VERSION);
  if (version !== undefined && version !== RESULT_SCHEMA_VERSION) {
    throw new ResultFileError(path, `schema version ${version}, this reader knows ${RESULT_SCHEMA_VERSION}`);
  }
  const types = new Map(schema.fields.map((f) => [f.name, String(f.type)]));
  const missing = columns.filter((name) => !types.has(name));
  if (missing.length > 0) throw new ResultFileError(path, `missing required columns: ${missing.join(', ')}`);
  for (const name of columns) {
    const want = String(arrowType(COLUMNS[name].kind));
    if (types.get(name) !== want) throw new ResultFileError(path, `column ${name} is ${types.get(name)}, expected ${want}`);
  }
}

/** A finished part file's name (`part-*.arrow`); a write in progress (`*.tmp-*`) never is one. */
export function isPartFileName(name: string): boolean {
  return PART_FILE.test(name) && !name.includes('.tmp-');
}

function toRows(table: Table): ResultRow[] {
  const columns = COLUMN_NAMES.map((name) => [name, table.getChild(name)!] as const);
  const rows: ResultRow[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    for (const [name, vector] of columns) row[name] = plain(vector.get(i));
    rows.push(row as unknown as ResultRow);
  }
  return rows;
}

/** A list cell comes back as a Vector; the rest (number, string, boolean, null) are plain already. */
function plain(value: unknown): unknown {
  return value !== null && typeof value === 'object' ? Array.from((value as Vector).toArray() as ArrayLike<number>) : value;
}

/** Yields the rows of every `part-*.arrow` file in `dir`, in name order. */
export async function* readResultDir(dir: string): AsyncGenerator<ResultRow> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new ResultFileError(dir, `cannot list result directory: ${(err as Error).message}`, { cause: err });
  }
  for (const name of names.filter(isPartFileName).sort()) {
    yield* readResultFile(join(dir, name)).rows;
  }
}
