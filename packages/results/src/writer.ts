import { crc32 } from 'node:zlib';
import { makeData, RecordBatch, RecordBatchFileWriter, Schema, Struct, Table, vectorFromArray } from 'apache-arrow';
import type { ArrayBufferViewInput } from 'apache-arrow/util/buffer';
import type { ResultRow } from '@hessweep/grid';
import { writeFileAtomic } from './atomic.js';
import { ResultRowError } from './errors.js';
import { checksumHex } from './ipc.js';
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
    case 'list_float64_nulls':
      return Array.isArray(value) && value.every((x) => x === null || typeof x === 'number') ? null : 'expected an array of numbers and nulls';
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
 * hash, the versions and the CRC-32 of the record batches (summed as they are encoded, so encoded once).
 */
export function encodeResultFile(rows: readonly ResultRow[], meta: ResultMeta): Uint8Array {
  return Buffer.concat(encodedChunks(toTable(rows, meta)));
}

/** The chunks of an IPC file holding `table`'s batches (one empty batch when it has none), checksummed. */
function encodedChunks(table: Table): Uint8Array[] {
  const writer = new ChecksummedFileWriter(table.schema);
  for (const batch of table.batches) writer.write(batch);
  if (table.batches.length === 0) writer.write(emptyBatch(table.schema));
  writer.close();
  return writer.take();
}

/**
 * Writes `rows` as an Arrow IPC file at `path`, atomically (writeFileAtomic): `path` is either absent or
 * complete; a fault of the file system is a StorageError naming it.
 */
export async function writeResultFile(path: string, rows: readonly ResultRow[], meta: ResultMeta): Promise<void> {
  const bytes = encodeResultFile(rows, meta);
  await writeFileAtomic(path, (write) => write(bytes));
}

/**
 * Writes record batches of the result schema as one result file, streamed: each batch is encoded and handed to
 * the durable write (writeFileAtomic) as it comes, so none is held after it is written. `schema` carries the
 * file's metadata but no checksum: the CRC-32 of the batches is summed as they go out and put in the footer,
 * which is where an IPC file written by apache-arrow keeps its schema (it writes no leading schema message).
 * No batch at all makes a file of one empty batch.
 */
export async function writeResultBatches(path: string, schema: Schema, batches: AsyncIterable<RecordBatch>): Promise<void> {
  await writeFileAtomic(path, async (write) => {
    const writer = new ChecksummedFileWriter(schema);
    let written = false;
    for await (const batch of batches) {
      writer.write(batch);
      written = true;
      for (const chunk of writer.take()) await write(chunk);
    }
    if (!written) writer.write(emptyBatch(schema));
    writer.close();
    for (const chunk of writer.take()) await write(chunk);
  });
}

/** A record batch of no rows with every column of `schema`. */
function emptyBatch(schema: Schema): RecordBatch {
  const children = schema.fields.map((f) => vectorFromArray([], f.type).data[0]!);
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 0, nullCount: 0, children }));
}

/**
 * An IPC file writer that hands out its bytes as they are produced (`take`) instead of queueing them in a
 * stream, sums the CRC-32 of the record-batch bytes (everything after the leading magic, up to the footer),
 * and writes the footer with the checksum added to the schema's metadata.
 */
class ChecksummedFileWriter extends RecordBatchFileWriter {
  private chunks: Uint8Array[] = [];
  private crc = 0;
  private summing = false;

  constructor(private readonly fileSchema: Schema) {
    super();
  }

  /** The bytes written since the last call. */
  take(): Uint8Array[] {
    const chunks = this.chunks;
    this.chunks = [];
    return chunks;
  }

  protected override _writeSchema(schema: Schema): this {
    super._writeSchema(schema);
    this.summing = true;
    return this;
  }

  protected override _write(chunk: ArrayBufferViewInput): this {
    if (!this._started) return this;
    const view = chunk as ArrayBufferView;
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    if (bytes.byteLength === 0) return this;
    this.chunks.push(bytes);
    this._position += bytes.byteLength;
    if (this.summing) this.crc = crc32(bytes, this.crc);
    return this;
  }

  protected override _writeFooter(): this {
    this.summing = false;
    const metadata = new Map([...this.fileSchema.metadata, [META_BATCHES_CRC, checksumHex(this.crc)]]);
    return super._writeFooter(new Schema(this.fileSchema.fields, metadata));
  }
}
