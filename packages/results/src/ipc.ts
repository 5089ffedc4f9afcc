import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { DataType, makeData, makeVector, Message, Precision, tableFromIPC, type Data, type Float, type Schema, type Table } from 'apache-arrow';
// The IPC file footer (schema and record-batch blocks); apache-arrow exposes its modules by path.
import { Footer, type FileBlock } from 'apache-arrow/ipc/metadata/file';
import type { RecordBatch as RecordBatchHeader } from 'apache-arrow/ipc/metadata/message';
import { PartGoneError, ResultFileError } from './errors.js';
import { absentColumn, addedSince, META_BATCHES_CRC, META_SCHEMA_VERSION, type ColumnName } from './schema.js';

/** Leading and trailing magic of the IPC file format; a file cut short loses the trailing one. */
const MAGIC = Buffer.from('ARROW1');
/** Bytes read at a time when checking a file's checksum. */
const CHUNK = 4 << 20;

/** Some columns of one record batch, as Arrow Data (typed arrays over the bytes read). */
export interface ColumnBatch {
  numRows: number;
  columns: Map<string, Data>;
}

/** Where a file's record batches lie: from the first batch's message to the end of the last batch's body. */
interface Region { start: number; end: number }

const CHECKSUM_MISMATCH = 'checksum mismatch: the rows were changed or damaged on disk';

const damaged = (path: string, detail = 'not a complete Arrow IPC file (truncated or corrupt)') => new ResultFileError(path, detail);

/** A CRC-32 as the 8 hex digits a result file carries. */
export const checksumHex = (crc: number): string => (crc >>> 0).toString(16).padStart(8, '0');

function footerOf(path: string, bytes: Uint8Array): Footer {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 2 * MAGIC.length + 10 || !buf.subarray(0, MAGIC.length).equals(MAGIC) || !buf.subarray(-MAGIC.length).equals(MAGIC)) throw damaged(path);
  const length = buf.readInt32LE(buf.length - 10);
  if (length <= 0 || length > buf.length - 18) throw damaged(path);
  return decodeFooter(path, buf.subarray(buf.length - 10 - length, buf.length - 10));
}

function decodeFooter(path: string, bytes: Buffer): Footer {
  try {
    return Footer.decode(bytes);
  } catch (err) {
    throw damaged(path, `corrupt Arrow IPC file footer: ${(err as Error).message}`);
  }
}

function batchRegion(path: string, footer: Footer, size: number): Region {
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  for (const block of footer.recordBatches()) {
    const [offset, length] = [Number(block.offset), block.metaDataLength + Number(block.bodyLength)];
    if (offset < 0 || length < 0 || offset + length > size) throw damaged(path);
    start = Math.min(start, offset);
    end = Math.max(end, offset + length);
  }
  return start <= end ? { start, end } : { start: 0, end: 0 };
}

/**
 * Decodes a whole result file held in memory after checking that it is complete (a truncated file-format
 * file may otherwise parse as an empty table) and, when it carries one, that its checksum matches.
 */
export function decodeIpcFile(path: string, bytes: Uint8Array): Table {
  const footer = footerOf(path, bytes);
  const expected = footer.schema.metadata.get(META_BATCHES_CRC);
  if (expected !== undefined) {
    const region = batchRegion(path, footer, bytes.length);
    if (checksumHex(crc32(bytes.subarray(region.start, region.end))) !== expected) throw damaged(path, CHECKSUM_MISMATCH);
  }
  try {
    return tableFromIPC(bytes);
  } catch (err) {
    throw damaged(path, `corrupt Arrow IPC file: ${(err as Error).message}`);
  }
}

/**
 * A part file opened for reading: only its footer (schema and record-batch blocks) is read on opening.
 * Then `verify` checks the checksum by streaming the record batches through CRC-32, `columns` reads some
 * columns with positioned reads, and `table` decodes everything.
 */
export class IpcFileReader {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
    private readonly footer: Footer,
  ) {}

  get schema(): Schema {
    return this.footer.schema;
  }

  /** Opens `path` and reads its footer; a file that is not a complete IPC file is a ResultFileError naming it. */
  static async open(path: string): Promise<IpcFileReader> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PartGoneError(path, { cause: err });
      throw new ResultFileError(path, `cannot read result file: ${(err as Error).message}`, { cause: err });
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new ResultFileError(path, stat.isDirectory() ? 'a directory, not a part file' : 'not a regular file');
      const size = stat.size;
      if (size === 0) throw new ResultFileError(path, 'empty file (0 bytes)');
      const reader = (position: number, length: number) => readExactly(path, handle, position, length);
      if (size < 2 * MAGIC.length + 10) throw damaged(path);
      const [head, tail] = await Promise.all([reader(0, 8), reader(size - 10, 10)]);
      if (!head.subarray(0, MAGIC.length).equals(MAGIC) || !tail.subarray(4).equals(MAGIC)) throw damaged(path);
      const footerLength = tail.readInt32LE(0);
      if (footerLength <= 0 || footerLength > size - 18) throw damaged(path);
      const footer = decodeFooter(path, await reader(size - 10 - footerLength, footerLength));
      return new IpcFileReader(path, handle, size, footer);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** Checks the checksum the file carries (files written before checksums pass as they are). */
  async verify(): Promise<void> {
    const expected = this.schema.metadata.get(META_BATCHES_CRC);
    if (expected === undefined) return;
    const region = batchRegion(this.path, this.footer, this.size);
    let crc = 0;
    for (let at = region.start; at < region.end; at += CHUNK) {
      crc = crc32(await this.read(at, Math.min(CHUNK, region.end - at)), crc);
    }
    if (checksumHex(crc) !== expected) throw damaged(this.path, CHECKSUM_MISMATCH);
  }

  /** The whole file, decoded (and its checksum checked). */
  async table(): Promise<Table> {
    return decodeIpcFile(this.path, await this.read(0, this.size));
  }

  /**
   * Reads only `names`: each record batch's metadata, then just those columns' buffers from its body, so
   * the curves, spectra and densities of columns not asked for never leave the disk cache. Files with
   * compression, dictionaries or column types this walker does not know are decoded whole instead (same result).
   * A column the file's schema version predates comes back as its absent value in every row (null, or 0 for
   * stage seconds), as `tableRows` reads it.
   */
  async columns(names: readonly ColumnName[]): Promise<ColumnBatch[]> {
    const absent = this.absentColumns(names);
    const present = names.filter((n) => !absent.includes(n));
    let batches: ColumnBatch[];
    try {
      batches = await this.columnsByBuffers(present);
    } catch (err) {
      if (!(err instanceof NeedsFullRead)) throw err;
      const table = await this.table();
      batches = table.batches.map((b) => ({ numRows: b.numRows, columns: new Map(present.map((n) => [n as string, b.getChild(n)!.data[0]!])) }));
    }
    for (const batch of batches) for (const name of absent) batch.columns.set(name, absentColumn(name, batch.numRows));
    return batches;
  }

  /**
   * Items of some rows of one list<float64> column (`rows`: row numbers in the file, ascending), each a
   * Float64Array, or null for a null or empty list. Reads the column's list offsets and then only those rows'
   * items, so a wide list column (the spectral densities) costs a few kilobytes for a few rows instead of its
   * whole body. Files the column walker does not read are decoded whole instead (same result). A column the
   * file's schema version predates gives null for every row.
   */
  async listRows(name: ColumnName, rows: readonly number[]): Promise<(Float64Array | null)[]> {
    if (this.absentColumns([name]).length > 0) {
      const n = await this.numRows();
      const beyond = rows.find((row) => row >= n);
      if (beyond !== undefined) throw new ResultFileError(this.path, `no row ${beyond} (the file has ${n} rows)`);
      return rows.map(() => null);
    }
    try {
      return await this.listRowsByBuffers(name, rows);
    } catch (err) {
      if (!(err instanceof NeedsFullRead)) throw err;
      const vector = makeVector((await this.columns([name])).map((b) => b.columns.get(name)!));
      return rows.map((row) => {
        const items = vector.get(row) as { toArray(): ArrayLike<number>; length: number } | null;
        return items && items.length > 0 ? Float64Array.from(items.toArray()) : null;
      });
    }
  }

  private read(position: number, length: number): Promise<Buffer> {
    return readExactly(this.path, this.handle, position, length);
  }

  /** Rows in the file: the sum of its record batches' lengths, read from their headers alone. */
  async numRows(): Promise<number> {
    let rows = 0;
    for (const block of this.footer.recordBatches()) rows += (await this.batchHeader(block)).header.length;
    return rows;
  }

  /** The header of one record batch (its message metadata) and where its body starts. */
  private async batchHeader(block: FileBlock): Promise<{ header: RecordBatchHeader; bodyStart: number; bodyLength: number }> {
    const { size, path } = this;
    const offset = Number(block.offset);
    const prefix = await this.read(offset, 8);
    let metaLength = prefix.readInt32LE(0);
    let metaStart = offset + 4;
    if (metaLength === -1) {
      metaLength = prefix.readInt32LE(4);
      metaStart = offset + 8;
    }
    if (metaLength <= 0 || metaStart + metaLength > size) throw damaged(path);
    let message: Message;
    try {
      message = Message.decode(await this.read(metaStart, metaLength));
    } catch (err) {
      throw damaged(path, `corrupt Arrow IPC file: ${(err as Error).message}`);
    }
    if (!message.isRecordBatch()) throw damaged(path);
    const bodyStart = offset + block.metaDataLength;
    if (bodyStart + message.bodyLength > size) throw damaged(path);
    return { header: message.header(), bodyStart, bodyLength: message.bodyLength };
  }

  /**
   * Those of `names` that the file lacks because its schema version predates them (they read as absent values);
   * any other column it lacks is a ResultFileError naming it.
   */
  private absentColumns(names: readonly ColumnName[]): ColumnName[] {
    const fields = new Set(this.schema.fields.map((f) => f.name));
    const version = this.schema.metadata.get(META_SCHEMA_VERSION);
    const absent = names.filter((n) => !fields.has(n));
    const missing = absent.filter((n) => !addedSince(n, version));
    if (missing.length > 0) throw new ResultFileError(this.path, `missing required columns: ${missing.join(', ')}`);
    return absent;
  }

  /** Where the columns `names` are in the schema; the callers have taken out those the file lacks (absentColumns). */
  private locateColumns(names: readonly ColumnName[]): Located[] {
    if (this.footer.numDictionaries > 0) throw new NeedsFullRead(); // result files have none
    return locate(this.schema, names);
  }

  private async columnsByBuffers(names: readonly ColumnName[]): Promise<ColumnBatch[]> {
    const wanted = this.locateColumns(names);
    const batches: ColumnBatch[] = [];
    for (const block of this.footer.recordBatches()) {
      const { header, bodyStart, bodyLength } = await this.batchHeader(block);
      if (header.compression !== null) throw new NeedsFullRead();
      if (header.buffers.some((r) => r.offset < 0 || r.offset + r.length > bodyLength)) throw damaged(this.path);
      const columns = new Map<string, Data>();
      await Promise.all(wanted.map(async (w) => {
        columns.set(w.name, await loadColumn(w.type, header.nodes, header.buffers, w.node, w.buffer, bodyStart, (p, l) => this.read(p, l)));
      }));
      batches.push({ numRows: header.length, columns });
    }
    return batches;
  }

  private async listRowsByBuffers(name: ColumnName, rows: readonly number[]): Promise<(Float64Array | null)[]> {
    const [column] = this.locateColumns([name]);
    const item = column!.type.children?.[0]?.type;
    if (!DataType.isList(column!.type) || !DataType.isFloat(item) || (item as Float).precision !== Precision.DOUBLE) {
      throw new ResultFileError(this.path, `column ${name} is ${String(column!.type)}, not a list of float64`);
    }
    const out: (Float64Array | null)[] = rows.map(() => null);
    let first = 0;
    let next = 0;
    for (const block of this.footer.recordBatches()) {
      if (next >= rows.length) break;
      const { header, bodyStart } = await this.batchHeader(block);
      const n = header.length;
      const mine: number[] = [];
      for (; next < rows.length && rows[next]! < first + n; next++) mine.push(next);
      first += n;
      if (mine.length === 0) continue;
      if (header.nodes[column!.node + 1]!.nullCount > 0) throw new NeedsFullRead(); // null items: the full decode says what they are
      // A list column's buffers: its validity and offsets, then its items' validity and values.
      const [validity, offsets, , values] = header.buffers.slice(column!.buffer, column!.buffer + 4);
      const valid = header.nodes[column!.node]!.nullCount > 0 ? await this.read(bodyStart + validity!.offset, validity!.length) : null;
      const ends = await this.read(bodyStart + offsets!.offset, offsets!.length);
      if (ends.length < 4 * (n + 1)) throw damaged(this.path);
      // Many rows of the batch: one read of all its items is cheaper than a read per row.
      const all = mine.length > n / 16 ? await this.read(bodyStart + values!.offset, values!.length) : null;
      await Promise.all(mine.map(async (k) => {
        const i = rows[k]! - (first - n);
        if (valid && ((valid[i >> 3]! >> (i & 7)) & 1) === 0) return;
        const [start, end] = [ends.readInt32LE(4 * i), ends.readInt32LE(4 * i + 4)];
        if (end <= start) return;
        if (start < 0 || 8 * end > values!.length) throw damaged(this.path);
        // Both are at offset 0 of their own memory (readExactly), so aligned for a Float64Array.
        out[k] = all
          ? new Float64Array(all.buffer.slice(all.byteOffset + 8 * start, all.byteOffset + 8 * end))
          : new Float64Array((await this.read(bodyStart + values!.offset + 8 * start, 8 * (end - start))).buffer, 0, end - start);
      }));
    }
    if (next < rows.length) throw new ResultFileError(this.path, `no row ${rows[next]} (the file has ${first} rows)`);
    return out;
  }
}

async function readExactly(path: string, handle: FileHandle, position: number, length: number): Promise<Buffer> {
  // Not from the shared pool: byteOffset 0, so typed views over 8-byte aligned buffers are aligned.
  const buf = Buffer.allocUnsafeSlow(length);
  let bytesRead: number;
  try {
    ({ bytesRead } = await handle.read(buf, 0, length, position));
  } catch (err) {
    throw new ResultFileError(path, `cannot read result file: ${(err as Error).message}`, { cause: err });
  }
  if (bytesRead !== length) throw damaged(path);
  return buf;
}

/** How many buffers a column of this type has in the IPC body (children not counted), or null if not handled here. */
function bufferCount(type: DataType): number | null {
  if (DataType.isUtf8(type) || DataType.isBinary(type)) return 3;
  if (DataType.isList(type)) return 2;
  if (DataType.isStruct(type)) return 1;
  if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isBool(type) || DataType.isTimestamp(type)) return 2;
  return null;
}

/** Thrown while reading columns when a file uses IPC features the column reader skips; the caller decodes it whole. */
class NeedsFullRead extends Error {}

/** A column's place in a record batch: its first field node and buffer, counted depth-first over the schema. */
interface Located {
  name: string;
  type: DataType;
  node: number;
  buffer: number;
}

/** Where each wanted column is. */
function locate(schema: Schema, names: readonly string[]): Located[] {
  const out: Located[] = [];
  let node = 0;
  let buffer = 0;
  const walk = (type: DataType): void => {
    const count = bufferCount(type);
    if (count === null) throw new NeedsFullRead();
    node += 1;
    buffer += count;
    for (const child of type.children ?? []) walk(child.type);
  };
  for (const field of schema.fields) {
    if (names.includes(field.name)) {
      if (DataType.isStruct(field.type)) throw new NeedsFullRead(); // loadColumn assembles flat and list columns only
      out.push({ name: field.name, type: field.type, node, buffer });
    }
    walk(field.type);
  }
  return out;
}

/** Reads one column's buffers (one read covering them) and assembles its Data, children included. */
async function loadColumn(
  type: DataType, nodes: { length: number; nullCount: number }[], buffers: { offset: number; length: number }[], node: number, buffer: number,
  bodyStart: number, read: (position: number, length: number) => Promise<Buffer>,
): Promise<Data> {
  // Buffers of a column and its children are consecutive: count them to find the byte range.
  let count = 0;
  const countBuffers = (t: DataType): void => {
    count += bufferCount(t)!;
    for (const c of t.children ?? []) countBuffers(c.type);
  };
  countBuffers(type);
  const regions = buffers.slice(buffer, buffer + count);
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const r of regions) {
    first = Math.min(first, r.offset);
    last = Math.max(last, r.offset + r.length);
  }
  const bytes = await read(bodyStart + first, last - first);
  let b = buffer;
  let n = node;
  const view = <T>(make: (buf: ArrayBuffer, offset: number, length: number) => T, width: number): T => {
    const r = buffers[b++]!;
    return make(bytes.buffer as ArrayBuffer, bytes.byteOffset + r.offset - first, Math.floor(r.length / width));
  };
  const u8 = (buf: ArrayBuffer, o: number, l: number) => new Uint8Array(buf, o, l);
  const i32 = (buf: ArrayBuffer, o: number, l: number) => new Int32Array(buf, o, l);
  const build = (t: DataType): Data => {
    const { length, nullCount } = nodes[n++]!;
    const nullBitmap = view(u8, 1);
    const validity = nullCount > 0 ? nullBitmap : undefined;
    if (DataType.isUtf8(t) || DataType.isBinary(t)) {
      const valueOffsets = view(i32, 4);
      return makeData({ type: t, length, nullCount, nullBitmap: validity, valueOffsets, data: view(u8, 1) } as never);
    }
    if (DataType.isList(t)) {
      const valueOffsets = view(i32, 4);
      return makeData({ type: t, length, nullCount, nullBitmap: validity, valueOffsets, child: build(t.children[0]!.type) } as never);
    }
    if (DataType.isBool(t)) return makeData({ type: t, length, nullCount, nullBitmap: validity, data: view(u8, 1) } as never);
    const ArrayType = (t as DataType & { ArrayType: { new (buf: ArrayBuffer, o: number, l: number): ArrayLike<number>; BYTES_PER_ELEMENT: number } }).ArrayType;
    const data = view((buf, o, l) => new ArrayType(buf, o, l), ArrayType.BYTES_PER_ELEMENT);
    return makeData({ type: t, length, nullCount, nullBitmap: validity, data } as never);
  };
  try {
    return build(type);
  } catch (err) {
    // A buffer not aligned for its typed array (the format asks for 8-byte alignment; a lax writer may not).
    if (err instanceof RangeError) throw new NeedsFullRead();
    throw err;
  }
}

/** The string at row i of a Utf8 column, decoded straight from its bytes. */
export function utf8At(data: Data, bytes: Buffer, i: number): string | null {
  if (!data.getValid(i)) return null;
  const offsets = data.valueOffsets as Int32Array;
  return bytes.toString('utf8', offsets[i]!, offsets[i + 1]!);
}

/** A Node Buffer over a Utf8 column's value bytes (for `utf8At`). */
export function utf8Bytes(data: Data): Buffer {
  const v = data.values as Uint8Array;
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Whether row i of `data` is valid, without going through Data.getValid per row. */
export function validity(data: Data): (i: number) => boolean {
  if (data.nullCount === 0) return () => true;
  const bits = data.nullBitmap as Uint8Array;
  const offset = data.offset;
  return (i) => ((bits[(offset + i) >> 3]! >> ((offset + i) & 7)) & 1) === 1;
}
