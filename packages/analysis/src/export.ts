import { join } from 'node:path';
import { Bool, RecordBatch, Table, tableToIPC, type Data, type Schema, type Vector } from 'apache-arrow';
import {
  Compression, EnabledStatistics, Table as WasmTable, transformParquetStream, writeParquet, WriterPropertiesBuilder, type RecordBatch as WasmRecordBatch,
} from 'parquet-wasm';
import {
  COLUMN_NAMES, COLUMNS, findWinners, openSweepForReading, readConsistently, readPartTable, ResultFileError, ROW_LOST, utf8At, utf8Bytes, validity, writeFileAtomic,
  type ColumnName,
} from '@hessweep/results';
import { AnalysisError } from './aggregate.js';
import { csvCell } from './summary-file.js';
import { EXPORT_FORMATS, type ExportFormat } from './types.js';

export interface ExportResult {
  path: string;
  /** Rows written: one per distinct cell (its winning row: the last ok one, else its last failure). */
  rows: number;
  parts: number;
}

/** Rows per Parquet row group: bounds the writer's buffer whatever the sweep's size. */
const ROW_GROUP_ROWS = 16 * 1024;
/**
 * Text columns with few distinct values, dictionary-encoded in Parquet. Every other column is written plain: a
 * dictionary of numbers that hardly repeat (curves, spectra, densities) is built and thrown away, which cost
 * two thirds of the writer's time and saved 2% of the file.
 */
const DICTIONARY_COLUMNS: readonly ColumnName[] = ['sweep', 'status', 'dataset', 'optimizer', 'init', 'backend', 'worker'];

/** Snappy, dictionaries for DICTIONARY_COLUMNS only, min/max statistics per column chunk (what readers skip row groups by). */
function parquetProperties() {
  const builder = new WriterPropertiesBuilder()
    .setCompression(Compression.SNAPPY)
    .setMaxRowGroupSize(ROW_GROUP_ROWS)
    .setDictionaryEnabled(false)
    .setStatisticsEnabled(EnabledStatistics.Chunk);
  return DICTIONARY_COLUMNS.reduce((b, name) => b.setColumnDictionaryEnabled(name, true), builder).build();
}

/**
 * Exports every cell of a sweep, deduplicated as the analysis reads them (the last ok row of a cell wins,
 * else its last failed row), into one file: `export.parquet` (all columns, lists kept as lists, the Arrow
 * schema and its metadata embedded; written by parquet-wasm, Snappy) or `export.csv` (one header line,
 * lists as `;`-joined quoted cells, nulls empty). Part files are streamed one at a time. The file is
 * written atomically (temp, fsync, rename). `outPath` defaults to `<sweepDir>/export.<format>`.
 */
export async function exportSweep(sweepDir: string, to: ExportFormat, outPath?: string): Promise<ExportResult> {
  if (!EXPORT_FORMATS.includes(to)) throw new AnalysisError(`unknown export format "${to}"; use ${EXPORT_FORMATS.join(' or ')}`);
  const path = outPath ?? join(sweepDir, `export.${to}`);
  return readConsistently(sweepDir, async () => exportParts((await openSweepForReading(sweepDir)).parts, to, path));
}

async function exportParts(paths: readonly string[], to: ExportFormat, path: string): Promise<ExportResult> {
  const { masks } = await findWinners(paths);
  let rows = 0;
  /** The winning rows of part p as an Arrow table (runs of kept rows sliced out, no copy), with `schema`. */
  const winningTable = async (p: number, schema?: Schema): Promise<Table> => {
    const table = await readPartTable(paths[p]!);
    const mask = masks[p]!;
    const useSchema = schema ?? table.schema;
    const fieldsOf = (s: Schema) => s.fields.map((f) => `${f.name}: ${String(f.type)}`).join(', ');
    if (schema && fieldsOf(table.schema) !== fieldsOf(schema)) {
      throw new ResultFileError(paths[p]!, `columns differ from those of ${paths[0]}; one export file needs one schema`);
    }
    const batches: RecordBatch[] = [];
    let base = 0;
    for (const batch of table.batches) {
      let start = -1;
      for (let j = 0; j <= batch.numRows; j++) {
        const keep = j < batch.numRows && mask[base + j] !== ROW_LOST;
        if (keep && start < 0) start = j;
        if (!keep && start >= 0) {
          const slice = start === 0 && j === batch.numRows ? batch : batch.slice(start, j);
          batches.push(new RecordBatch(useSchema, slice.data));
          start = -1;
        }
      }
      base += batch.numRows;
    }
    rows += batches.reduce((s, b) => s + b.numRows, 0);
    return new Table(useSchema, batches);
  };

  if (to === 'parquet') {
    // Every batch carries the first part's schema, so parts whose metadata differ still form one file.
    const first = await readPartTable(paths[0]!);
    const schema = first.schema;
    let p = 0;
    const batches = new ReadableStream<WasmRecordBatch>({
      async pull(controller) {
        while (p < paths.length) {
          const table = await winningTable(p++, schema);
          if (table.numRows === 0) continue;
          for (const batch of WasmTable.fromIPCStream(tableToIPC(table, 'stream')).recordBatches()) controller.enqueue(batch);
          return;
        }
        controller.close();
      },
    });
    const properties = parquetProperties();
    const winners = masks.reduce((s, m) => s + m.reduce((n, v) => n + (v === ROW_LOST ? 0 : 1), 0), 0);
    if (winners === 0) {
      // Part files without rows: a Parquet file with the schema alone.
      const empty = writeParquet(WasmTable.fromIPCStream(tableToIPC(new Table(schema), 'stream')), properties);
      await writeFileAtomic(path, async (write) => write(empty));
      return { path, rows: 0, parts: paths.length };
    }
    const bytes: ReadableStream<Uint8Array> = await transformParquetStream(batches, properties);
    await writeFileAtomic(path, async (write) => {
      for await (const chunk of bytes as unknown as AsyncIterable<Uint8Array>) await write(chunk);
    });
    return { path, rows, parts: paths.length };
  }

  await writeFileAtomic(path, async (write) => {
    await write(`${COLUMN_NAMES.map(csvCell).join(',')}\n`);
    for (let p = 0; p < paths.length; p++) {
      const table = await winningTable(p);
      for (const batch of table.batches) await writeCsvLines(batch, write);
    }
  });
  return { path, rows, parts: paths.length };
}

/** Writes the CSV lines of one record batch of result rows, read through the columns' typed arrays, ~1 MiB at a time. */
async function writeCsvLines(batch: RecordBatch, write: (chunk: string) => Promise<void>): Promise<void> {
  const cells = COLUMN_NAMES.map((name) => cellWriter(batch.getChild(name)!, COLUMNS[name].kind));
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; i < batch.numRows; i++) {
    const line = cells.map((cell) => cell(i)).join(',');
    lines.push(line);
    size += line.length;
    if (size > 1 << 20) {
      await write(`${lines.join('\n')}\n`);
      lines.length = 0;
      size = 0;
    }
  }
  if (lines.length > 0) await write(`${lines.join('\n')}\n`);
}

function cellWriter(vector: Vector, kind: string): (i: number) => string {
  const data: Data = vector.data[0]!;
  const valid = validity(data);
  switch (kind) {
    case 'utf8': {
      const bytes = utf8Bytes(data);
      return (i) => csvCell(utf8At(data, bytes, i));
    }
    case 'int32':
    case 'float64': {
      const values = data.values as Int32Array | Float64Array;
      return (i) => (valid(i) ? String(values[i]) : '');
    }
    case 'timestamp': {
      // Epoch milliseconds (64-bit) written as ISO-8601 UTC, which every CSV reader parses as a time.
      const values = data.values as BigInt64Array;
      return (i) => (valid(i) ? new Date(Number(values[i])).toISOString() : '');
    }
    case 'bool':
      if (!(data.type instanceof Bool)) throw new Error(`expected a bool column, got ${String(data.type)}`);
      return (i) => (valid(i) ? String(vector.get(i)) : '');
    default: {
      // list<int32> or list<float64>. Raw data keeps NaN and ±Infinity as String() writes them; a null item is empty.
      const offsets = data.valueOffsets as Int32Array;
      const child = data.children[0]!;
      const childValid = validity(child);
      const values = child.values as Int32Array | Float64Array;
      return (i) => {
        if (!valid(i)) return '';
        const items: string[] = [];
        for (let j = offsets[i]!; j < offsets[i + 1]!; j++) items.push(childValid(j) ? String(values[j]) : '');
        return `"${items.join(';')}"`;
      };
    }
  }
}
