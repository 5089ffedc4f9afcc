import { existsSync, statSync } from 'node:fs';
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DataType, makeData, Message, type Data, type Schema, type Table } from 'apache-arrow';
// The IPC file footer (schema and record-batch blocks); apache-arrow exposes its modules by path.
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { checkResultSchema, decodeResultFile, isPartFileName, ResultFileError, type ColumnName } from '@hessweep/results';
import { CurveAccumulator, welfordStat } from './stats.js';
import { GROUP_FIELDS, type GroupField, type Stat, type SummaryRow } from './types.js';

/** Bad input to the analysis (no such directory, no part files): the message says what to give instead. */
export class AnalysisError extends Error {
  override readonly name = 'AnalysisError';
}

/** The grouping of `hessweep aggregate` without --by: all seeds of one configuration together. */
export const DEFAULT_BY: readonly GroupField[] = ['dataset', 'width', 'depth', 'sample_size'];

/** The Stat fields of a SummaryRow, in table and file order. */
export const STAT_FIELDS = [
  'lambda_max', 'ggn_lambda_max', 'trace', 'loss_diff_slope', 'train_loss', 'train_accuracy', 'bound', 'bound_ratio',
] as const satisfies readonly { [K in keyof SummaryRow]: SummaryRow[K] extends Stat ? K : never }[keyof SummaryRow][];
export type StatField = (typeof STAT_FIELDS)[number];

/** A failed cell (no ok row anywhere in the sweep): listed, counted in `seeds_failed`, never averaged in. */
export interface FailedCell {
  cell_id: string;
  dataset: string;
  width: number;
  depth: number;
  seed: number;
  sample_size: number;
  error: string | null;
}

export interface AggregateResult {
  /** The grouping fields, in order: the key columns of the summary. */
  by: GroupField[];
  /** One row per group, sorted by the key (strings lexicographically, numbers numerically). */
  rows: SummaryRow[];
  /** Every failed cell, sorted by dataset, width, depth, sample size, seed. */
  failed: FailedCell[];
  /** Distinct cells in the part files (after dedupe by cell id). */
  cells: number;
  /** Part files read. */
  parts: number;
}

/** Part files of a sweep, as the results reader picks them: `part-*.arrow`, never a write in progress. */
const MAGIC = Buffer.from('ARROW1');

/**
 * The part files of a sweep, in name order (the order "last row wins" refers to). `dir` is the sweep
 * directory (`<out>/<sweep>`, parts under `parts/`), or the parts folder itself.
 */
export async function listPartFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) throw new AnalysisError(`${dir}: no such directory; give a sweep directory, <out>/<sweep>`);
  if (!statSync(dir).isDirectory()) throw new AnalysisError(`${dir}: not a directory; give a sweep directory, <out>/<sweep>`);
  const parts = join(dir, 'parts');
  const where = existsSync(parts) && statSync(parts).isDirectory() ? parts : dir;
  const names = (await readdir(where)).filter(isPartFileName).sort();
  if (names.length === 0) {
    throw new AnalysisError(`${where}: no result part files (part-*.arrow) here; give a sweep directory, <out>/<sweep>, after a run has written results`);
  }
  return names.map((n) => join(where, n));
}

/** The columns the analysis reads, checked for presence and type before use. */
const USED_COLUMNS: ColumnName[] = [
  'cell_id', 'status', 'error', 'dataset', 'width', 'depth', 'seed', 'sample_size', 'train_loss', 'train_accuracy',
  'loss_diff_k', 'loss_diff', 'loss_diff_slope', 'hessian_top', 'ggn_top', 'hessian_trace', 'bound',
];

/** Decodes one part file (zero-copy over its bytes) after checking it is complete and has the columns used here. */
export function decodePart(path: string, bytes: Uint8Array): Table {
  return decodeResultFile(path, bytes, USED_COLUMNS);
}

export async function readPart(path: string): Promise<Table> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new ResultFileError(path, `cannot read result file: ${(err as Error).message}`, { cause: err });
  }
  return decodePart(path, bytes);
}

/** Some columns of one record batch, as Arrow Data (typed arrays over the bytes read). */
export interface ColumnBatch {
  numRows: number;
  columns: Map<string, Data>;
}

/** How many buffers a column of this type has in the IPC body (children not counted), or null if not handled here. */
function bufferCount(type: DataType): number | null {
  if (DataType.isUtf8(type) || DataType.isBinary(type)) return 3;
  if (DataType.isList(type)) return 2;
  if (DataType.isStruct(type)) return 1;
  if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isBool(type)) return 2;
  return null;
}

/** Thrown inside readColumns when a file uses IPC features the column reader skips; the caller decodes it whole. */
class NeedsFullRead extends Error {}

/**
 * Reads only `names` from a part file: reads the IPC file's footer (schema, record-batch blocks), each
 * record batch's metadata, and just those columns' buffers from each body with positioned reads, so the curves,
 * spectra and densities of columns not asked for never leave the disk cache. Files with compression,
 * dictionaries or column types this walker does not know are decoded whole instead (same result).
 */
export async function readColumns(path: string, names: readonly ColumnName[]): Promise<ColumnBatch[]> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new ResultFileError(path, `cannot read result file: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await readColumnsFrom(path, handle, names);
  } catch (err) {
    if (!(err instanceof NeedsFullRead)) throw err;
    const table = await readPart(path);
    return table.batches.map((b) => ({ numRows: b.numRows, columns: new Map(names.map((n) => [n as string, b.getChild(n)!.data[0]!])) }));
  } finally {
    await handle.close();
  }
}

async function readColumnsFrom(path: string, handle: FileHandle, names: readonly ColumnName[]): Promise<ColumnBatch[]> {
  const size = (await handle.stat()).size;
  const read = async (position: number, length: number): Promise<Buffer> => {
    // Not from the shared pool: byteOffset 0, so typed views over 8-byte aligned buffers are aligned.
    const buf = Buffer.allocUnsafeSlow(length);
    const { bytesRead } = await handle.read(buf, 0, length, position);
    if (bytesRead !== length) throw new ResultFileError(path, 'not a complete Arrow IPC file (truncated or corrupt)');
    return buf;
  };
  const corrupt = () => new ResultFileError(path, 'not a complete Arrow IPC file (truncated or corrupt)');
  if (size < 2 * MAGIC.length + 10) throw corrupt();
  const [head, tail] = await Promise.all([read(0, 8), read(size - 10, 10)]);
  if (!head.subarray(0, MAGIC.length).equals(MAGIC) || !tail.subarray(4).equals(MAGIC)) throw corrupt();
  const footerLength = tail.readInt32LE(0);
  if (footerLength <= 0 || footerLength > size - 18) throw corrupt();
  let footer: Footer;
  try {
    footer = Footer.decode(await read(size - 10 - footerLength, footerLength));
  } catch (err) {
    throw new ResultFileError(path, `corrupt Arrow IPC file footer: ${(err as Error).message}`, { cause: err });
  }
  if (footer.numDictionaries > 0) throw new NeedsFullRead(); // result files have none
  const schema = footer.schema;
  checkResultSchema(path, schema, USED_COLUMNS);
  const missing = names.filter((n) => !schema.fields.some((f) => f.name === n));
  if (missing.length > 0) throw new ResultFileError(path, `missing required columns: ${missing.join(', ')}`);
  const wanted = locate(schema, names);
  const batches: ColumnBatch[] = [];
  for (const block of footer.recordBatches()) {
    const prefix = await read(block.offset, 8);
    let metaLength = prefix.readInt32LE(0);
    let metaStart = block.offset + 4;
    if (metaLength === -1) {
      metaLength = prefix.readInt32LE(4);
      metaStart = block.offset + 8;
    }
    if (metaLength <= 0 || metaStart + metaLength > size) throw corrupt();
    let message: Message;
    try {
      message = Message.decode(await read(metaStart, metaLength));
    } catch (err) {
      throw new ResultFileError(path, `corrupt Arrow IPC file: ${(err as Error).message}`, { cause: err });
    }
    if (!message.isRecordBatch()) throw corrupt();
    const header = message.header();
    if (header.compression !== null) throw new NeedsFullRead();
    const bodyStart = block.offset + block.metaDataLength;
    if (bodyStart + message.bodyLength > size) throw corrupt();
    if (header.buffers.some((r) => r.offset < 0 || r.offset + r.length > message.bodyLength)) throw corrupt();
    const columns = new Map<string, Data>();
    await Promise.all(wanted.map(async (w) => {
      columns.set(w.name, await loadColumn(w.type, header.nodes, header.buffers, w.node, w.buffer, bodyStart, read));
    }));
    batches.push({ numRows: header.length, columns });
  }
  return batches;
}

/** The first field node and buffer index of each wanted column, counted depth-first over the schema. */
function locate(schema: Schema, names: readonly string[]): { name: string; type: DataType; node: number; buffer: number }[] {
  const out: { name: string; type: DataType; node: number; buffer: number }[] = [];
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

interface Region { offset: number; length: number }

/** Reads one column's buffers (one read covering them) and assembles its Data, children included. */
async function loadColumn(
  type: DataType, nodes: { length: number; nullCount: number }[], buffers: Region[], node: number, buffer: number,
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
  const first = Math.min(...regions.map((r) => r.offset));
  const last = Math.max(...regions.map((r) => r.offset + r.length));
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

/** Reads rows of a float64 column; NaN for null (both are left out of a Stat). */
function floats(data: Data): (i: number) => number {
  const values = data.values as Float64Array;
  if (data.nullCount === 0) return (i) => values[i]!;
  const valid = validity(data);
  return (i) => (valid(i) ? values[i]! : Number.NaN);
}

/** Reads the first item of rows of a list<float64> column; NaN for a null or empty list or a null item. */
function firstItems(data: Data): (i: number) => number {
  const valid = validity(data);
  const offsets = data.valueOffsets as Int32Array;
  const child = data.children[0]!;
  const items = floats(child);
  return (i) => {
    if (!valid(i)) return Number.NaN;
    const start = offsets[i]!;
    return offsets[i + 1]! > start ? items(start) : Number.NaN;
  };
}

/** Which rows count, per part: 0 superseded (or a duplicate), 1 the winning ok row, 2 the winning failed row. */
export const ROW_LOST = 0;
export const ROW_OK = 1;
export const ROW_FAILED = 2;

export interface Winners {
  /** masks[p][i]: ROW_LOST, ROW_OK or ROW_FAILED for row i of part p. */
  masks: Uint8Array[];
  cells: number;
}

/** A 32-bit hash of bytes: FNV-1a, then murmur3's finaliser so the low bits (the probe start) are well mixed. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** The cell ids of one record batch, as read: their bytes and offsets, and where the batch's rows are. */
interface IdSegment {
  bytes: Uint8Array;
  offsets: Int32Array;
  part: number;
  base: number;
}

/**
 * Pass 1: reads only the `cell_id` and `status` columns of every part and decides which row stands for each
 * cell: the last ok row (in part-name, then row order) wins; a cell with no ok row is represented by its last
 * failed row. The ids are deduplicated with an open-addressing hash table over their bytes (typed arrays, no
 * string per row): about 30 bytes per distinct cell while this pass runs, and a 1,000,000-row sweep takes a
 * fraction of a second.
 */
export async function findWinners(paths: readonly string[]): Promise<Winners> {
  const masks: Uint8Array[] = [];
  const segments: IdSegment[] = [];
  let capacity = 1 << 16;
  let slotSegment = new Int32Array(capacity).fill(-1);
  let slotRow = new Int32Array(capacity);
  let slotHash = new Int32Array(capacity);
  let slotOk = new Uint8Array(capacity);
  let size = 0;
  const grow = () => {
    const [oldSegment, oldRow, oldHash, oldOk] = [slotSegment, slotRow, slotHash, slotOk];
    capacity *= 2;
    slotSegment = new Int32Array(capacity).fill(-1);
    slotRow = new Int32Array(capacity);
    slotHash = new Int32Array(capacity);
    slotOk = new Uint8Array(capacity);
    for (let i = 0; i < oldSegment.length; i++) {
      if (oldSegment[i] === -1) continue;
      let at = oldHash[i]! & (capacity - 1);
      while (slotSegment[at] !== -1) at = (at + 1) & (capacity - 1);
      slotSegment[at] = oldSegment[i]!;
      slotRow[at] = oldRow[i]!;
      slotHash[at] = oldHash[i]!;
      slotOk[at] = oldOk[i]!;
    }
  };
  const reads = prefetch(paths.length, (p) => readColumns(paths[p]!, ['cell_id', 'status']));
  for (let p = 0; p < paths.length; p++) {
    const batches = await reads.get(p);
    const mask = new Uint8Array(batches.reduce((sum, b) => sum + b.numRows, 0));
    masks.push(mask);
    let base = 0;
    for (const batch of batches) {
      const ids = batch.columns.get('cell_id')!;
      const idBytes = ids.values as Uint8Array;
      const idOffsets = ids.valueOffsets as Int32Array;
      const status = batch.columns.get('status')!;
      const statusBytes = status.values as Uint8Array;
      const statusOffsets = status.valueOffsets as Int32Array;
      const segment = segments.length;
      segments.push({ bytes: idBytes, offsets: idOffsets, part: p, base });
      for (let j = 0; j < batch.numRows; j++) {
        if (!ids.getValid(j)) throw new ResultFileError(paths[p]!, `row ${base + j} has no cell_id`);
        const so = statusOffsets[j]!;
        const ok = statusOffsets[j + 1]! - so === 2 && statusBytes[so] === 0x6f && statusBytes[so + 1] === 0x6b; // 'ok'
        const start = idOffsets[j]!;
        const end = idOffsets[j + 1]!;
        const hash = hashBytes(idBytes, start, end);
        let at = hash & (capacity - 1);
        let found = false;
        while (slotSegment[at] !== -1) {
          if (slotHash[at] === hash) {
            const other = segments[slotSegment[at]!]!;
            const os = other.offsets[slotRow[at]!]!;
            let same = other.offsets[slotRow[at]! + 1]! - os === end - start;
            for (let i = 0; same && i < end - start; i++) same = other.bytes[os + i] === idBytes[start + i];
            if (same) {
              found = true;
              break;
            }
          }
          at = (at + 1) & (capacity - 1);
        }
        if (found) {
          if (!ok && slotOk[at] === 1) continue; // a failure after success: the ok row stands (mask stays 0)
          const previous = segments[slotSegment[at]!]!;
          masks[previous.part]![previous.base + slotRow[at]!] = ROW_LOST;
        } else {
          size++;
        }
        slotSegment[at] = segment;
        slotRow[at] = j;
        slotHash[at] = hash;
        slotOk[at] = ok ? 1 : 0;
        mask[base + j] = ok ? ROW_OK : ROW_FAILED;
        if (!found && 2 * size > capacity) grow();
      }
      base += batch.numRows;
    }
  }
  return { masks, cells: size };
}

/**
 * Starts up to `ahead` reads before they are needed (the disk and the thread pool work while this thread
 * computes), in order; `get(i)` waits for read i and starts the next ones.
 */
function prefetch<T>(count: number, start: (i: number) => Promise<T>, ahead = 4): { get: (i: number) => Promise<T> } {
  const pending = new Map<number, Promise<T>>();
  let next = 0;
  const fill = (upTo: number) => {
    for (; next < count && next <= upTo; next++) {
      const promise = start(next);
      promise.catch(() => undefined); // reported when awaited
      pending.set(next, promise);
    }
  };
  return {
    get(i: number) {
      fill(i + ahead);
      const promise = pending.get(i)!;
      pending.delete(i);
      return promise;
    },
  };
}

interface Group {
  key: (string | number)[];
  ok: number;
  failed: { cell_id: string; seed: number; error: string | null }[];
  /** Welford state (n, mean, M2) of each STAT_FIELDS entry, in that order: 3 numbers per Stat. */
  stats: Float64Array;
  curve: CurveAccumulator | null;
}

/** Welford update of Stat `slot` of a group; NaN (null comes in as NaN) and ±∞ are left out. */
function addStat(acc: Float64Array, slot: number, x: number): void {
  if (x - x !== 0) return;
  const i = 3 * slot;
  const n = acc[i]! + 1;
  const d = x - acc[i + 1]!;
  const mean = acc[i + 1]! + d / n;
  acc[i] = n;
  acc[i + 1] = mean;
  acc[i + 2]! += d * (x - mean);
}

const SLOT = Object.fromEntries(STAT_FIELDS.map((f, i) => [f, i])) as Record<StatField, number>;

/** Small integer ids for dataset names, matched on their UTF-8 bytes (no string made per row). */
class DatasetIds {
  readonly names: string[] = [];
  private readonly bytes: Uint8Array[] = [];

  idOf(buf: Uint8Array, start: number, end: number): number {
    const len = end - start;
    search: for (let id = 0; id < this.bytes.length; id++) {
      const b = this.bytes[id]!;
      if (b.length !== len) continue;
      for (let i = 0; i < len; i++) if (b[i] !== buf[start + i]) continue search;
      return id;
    }
    const copy = buf.slice(start, end);
    this.bytes.push(copy);
    this.names.push(Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength).toString('utf8'));
    return this.bytes.length - 1;
  }
}

/** Groups found by their key fields' values (dataset as its id), one Map level per field: no key string per row. */
type Level = Map<number, Level | Group>;

function compareKeys(a: readonly (string | number)[], b: readonly (string | number)[]): number {
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i]!, b[i]!];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

/** Checks a --by list: known fields, no repeats. Throws AnalysisError naming the valid fields. */
export function checkBy(by: readonly string[]): GroupField[] {
  const bad = by.filter((f) => !(GROUP_FIELDS as readonly string[]).includes(f));
  if (bad.length > 0) throw new AnalysisError(`unknown grouping field${bad.length > 1 ? 's' : ''} ${bad.join(', ')}; valid fields: ${GROUP_FIELDS.join(', ')}`);
  if (by.length === 0) throw new AnalysisError(`group by at least one field of ${GROUP_FIELDS.join(', ')}`);
  const repeated = by.filter((f, i) => by.indexOf(f) !== i);
  if (repeated.length > 0) throw new AnalysisError(`grouping field ${repeated[0]} given twice`);
  return [...by] as GroupField[];
}

/**
 * Aggregates a sweep's results over the cells of each group (default: the seeds of each dataset × width ×
 * depth × sample size), streaming over the part files one at a time: pass 1 decides which row of each cell
 * counts (findWinners), pass 2 feeds the winning ok rows into per-group Welford accumulators and per-k curve
 * accumulators. Memory is O(groups × curve points + failed cells + one part file), whatever the row count.
 *
 * Per cell: λ_max = hessian_top[0], GGN λ_max = ggn_top[0], trace = hessian_trace, bound_ratio = bound / λ_max.
 * A null or non-finite value (NaN, ±∞) is left out of its Stat, so a Stat's n can be below seeds_ok.
 * Curves: the group's k grid is that of its first ok cell with a curve; a later cell's points at k values
 * off that grid are ignored (cells of one group share the grid when their sample size matches), and each k's
 * band uses the number of cells that gave a value there.
 * Failed cells are counted (seeds_failed) and listed, never averaged in.
 */
export async function aggregate(sweepDir: string, by: readonly GroupField[] = DEFAULT_BY): Promise<AggregateResult> {
  const fields = checkBy(by);
  const paths = await listPartFiles(sweepDir);
  const { masks, cells } = await findWinners(paths);
  const root: Level = new Map();
  const groups: Group[] = [];
  const datasets = new DatasetIds();
  const failed: FailedCell[] = [];

  // Pass 2, reading the next parts while this one is processed.
  const reads = prefetch(paths.length, (p) =>
    masks[p]!.some((m) => m !== ROW_LOST) ? readColumns(paths[p]!, USED_COLUMNS) : Promise.resolve([] as ColumnBatch[]), 2);
  for (let p = 0; p < paths.length; p++) {
    const batches = await reads.get(p);
    const mask = masks[p]!;
    let base = 0;
    for (const batch of batches) {
      const col = (name: ColumnName) => batch.columns.get(name)!;
      const ints: Record<Exclude<GroupField, 'dataset'>, Int32Array> = {
        width: col('width').values as Int32Array, depth: col('depth').values as Int32Array,
        seed: col('seed').values as Int32Array, sample_size: col('sample_size').values as Int32Array,
      };
      const dataset = col('dataset');
      const datasetBytes = dataset.values as Uint8Array;
      const datasetOffsets = dataset.valueOffsets as Int32Array;
      const trainLoss = floats(col('train_loss'));
      const trainAccuracy = floats(col('train_accuracy'));
      const slope = floats(col('loss_diff_slope'));
      const trace = floats(col('hessian_trace'));
      const boundOf = floats(col('bound'));
      const hessianTop = firstItems(col('hessian_top'));
      const ggnTop = firstItems(col('ggn_top'));
      const k = col('loss_diff_k');
      const d = col('loss_diff');
      const kValid = validity(k);
      const dValid = validity(d);
      const kOffsets = k.valueOffsets as Int32Array;
      const kValues = k.children[0]!.values as Int32Array;
      const dOffsets = d.valueOffsets as Int32Array;
      const dValues = d.children[0]!.values as Float64Array;
      const keyOf = (field: GroupField, j: number): number =>
        field === 'dataset' ? datasets.idOf(datasetBytes, datasetOffsets[j]!, datasetOffsets[j + 1]!) : ints[field][j]!;

      for (let j = 0; j < batch.numRows; j++) {
        const state = mask[base + j]!;
        if (state === ROW_LOST) continue;
        let level = root;
        let group: Group | undefined;
        for (let f = 0; f < fields.length; f++) {
          const key = keyOf(fields[f]!, j);
          const found = level.get(key);
          if (f < fields.length - 1) {
            if (found === undefined) level.set(key, (level = new Map()));
            else level = found as Level;
          } else if (found === undefined) {
            group = {
              key: fields.map((field) => (field === 'dataset' ? datasets.names[keyOf(field, j)]! : keyOf(field, j))),
              ok: 0, failed: [], stats: new Float64Array(3 * STAT_FIELDS.length), curve: null,
            };
            level.set(key, group);
            groups.push(group);
          } else {
            group = found as Group;
          }
        }
        const g = group!;
        if (state === ROW_FAILED) {
          const cellId = utf8At(col('cell_id'), utf8Bytes(col('cell_id')), j)!;
          const error = utf8At(col('error'), utf8Bytes(col('error')), j);
          g.failed.push({ cell_id: cellId, seed: ints.seed[j]!, error });
          failed.push({
            cell_id: cellId, dataset: datasets.names[keyOf('dataset', j)]!, width: ints.width[j]!, depth: ints.depth[j]!,
            seed: ints.seed[j]!, sample_size: ints.sample_size[j]!, error,
          });
          continue;
        }
        g.ok++;
        const acc = g.stats;
        const lambda = hessianTop(j);
        const bound = boundOf(j);
        addStat(acc, SLOT.lambda_max, lambda);
        addStat(acc, SLOT.ggn_lambda_max, ggnTop(j));
        addStat(acc, SLOT.trace, trace(j));
        addStat(acc, SLOT.loss_diff_slope, slope(j));
        addStat(acc, SLOT.train_loss, trainLoss(j));
        addStat(acc, SLOT.train_accuracy, trainAccuracy(j));
        addStat(acc, SLOT.bound, bound);
        if (lambda !== 0) addStat(acc, SLOT.bound_ratio, bound / lambda);
        if (kValid(j) && dValid(j)) {
          const kStart = kOffsets[j]!;
          const dStart = dOffsets[j]!;
          const len = Math.min(kOffsets[j + 1]! - kStart, dOffsets[j + 1]! - dStart);
          if (len > 0) {
            g.curve ??= new CurveAccumulator(Array.from(kValues.subarray(kStart, kStart + len)));
            g.curve.push(kValues, kStart, dValues, dStart, len);
          }
        }
      }
      base += batch.numRows;
    }
  }

  const rows = groups.sort((a, b) => compareKeys(a.key, b.key)).map((g) => toSummaryRow(fields, g));
  failed.sort((a, b) => compareKeys(
    [a.dataset, a.width, a.depth, a.sample_size, a.seed, a.cell_id],
    [b.dataset, b.width, b.depth, b.sample_size, b.seed, b.cell_id],
  ));
  return { by: fields, rows, failed, cells, parts: paths.length };
}

function toSummaryRow(by: readonly GroupField[], g: Group): SummaryRow {
  const key = {} as Record<GroupField, string | number | null>;
  by.forEach((f, i) => (key[f] = g.key[i]!));
  for (const f of GROUP_FIELDS) if (!(f in key)) key[f] = null;
  const curve = g.curve?.result() ?? { k: [], mean: [], lo: [], hi: [] };
  const stats = Object.fromEntries(STAT_FIELDS.map((f, i) => [f, welfordStat(g.stats[3 * i]!, g.stats[3 * i + 1]!, g.stats[3 * i + 2]!)])) as Record<StatField, Stat>;
  return {
    key,
    seeds_ok: g.ok,
    seeds_failed: g.failed.length,
    failed: g.failed.sort((a, b) => a.seed - b.seed || (a.cell_id < b.cell_id ? -1 : 1)),
    ...stats,
    curve_k: curve.k,
    curve_mean: curve.mean,
    curve_lo: curve.lo,
    curve_hi: curve.hi,
  };
}
