import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tableFromIPC, type Table, type Vector } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';
import { ResultFileError } from './errors.js';
import { arrowType, COLUMN_NAMES, COLUMNS, META_SCHEMA_VERSION, RESULT_SCHEMA_VERSION } from './schema.js';

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
  // A truncated file-format file may parse as an empty table, so check the footer's magic first.
  if (bytes.length < 2 * MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC) || !bytes.subarray(-MAGIC.length).equals(MAGIC)) {
    throw new ResultFileError(path, 'not a complete Arrow IPC file (truncated or corrupt)');
  }
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (err) {
    throw new ResultFileError(path, `corrupt Arrow IPC file: ${(err as Error).message}`, { cause: err });
  }
  checkSchema(path, table);
  return { rows: toRows(table), metadata: new Map(table.schema.metadata) };
}

/** Refuses a file from another schema version or lacking a column, rather than yielding rows with holes. */
function checkSchema(path: string, table: Table): void {
  const version = table.schema.metadata.get(META_SCHEMA_VERSION);
  if (version !== undefined && version !== RESULT_SCHEMA_VERSION) {
    throw new ResultFileError(path, `schema version ${version}, this reader knows ${RESULT_SCHEMA_VERSION}`);
  }
  const types = new Map(table.schema.fields.map((f) => [f.name, String(f.type)]));
  const missing = COLUMN_NAMES.filter((name) => !types.has(name));
  if (missing.length > 0) throw new ResultFileError(path, `missing required columns: ${missing.join(', ')}`);
  for (const name of COLUMN_NAMES) {
    const want = String(arrowType(COLUMNS[name].kind));
    if (types.get(name) !== want) throw new ResultFileError(path, `column ${name} is ${types.get(name)}, expected ${want}`);
  }
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
  for (const name of names.filter((n) => PART_FILE.test(n) && !n.includes('.tmp-')).sort()) {
    yield* readResultFile(join(dir, name)).rows;
  }
}
