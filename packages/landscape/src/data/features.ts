import { extname } from 'node:path';
import { DataType, tableFromIPC, type Table } from 'apache-arrow';
import { readData } from './idx.js';
import { beyondFloat32, checkInputDim, checkSampleMatrix, CLASS_LABEL_RANGE, fitsFloat32, isClassLabel } from './limits.js';
import { DataError, type Dataset } from './types.js';

const ARROW_EXTENSIONS = ['.arrow', '.feather', '.ipc'];

/** Feature columns and labels of a whole file, before the sample is cut. */
interface Columns {
  /** One array per feature column, all rows. */
  values: ArrayLike<number>[];
  labels: Int32Array;
  /** Non-numeric Arrow columns, which are not features. */
  ignored: string[];
}

/**
 * The `features` dataset: pre-extracted feature vectors with integer labels, from a CSV file (header row)
 * or an Arrow IPC file or stream (.arrow, .feather v2, .ipc). Every numeric column except `labelColumn`
 * is a feature. Unlike the image datasets the values are used as given, not rescaled to [-1, 1]: the file
 * is expected to hold features already normalised the way the experiment wants. The whole file is
 * validated (values within float32, labels in [0, LIMITS.classes), at most LIMITS.input_dim feature columns),
 * and `classes` is the largest label in the whole file plus one, so that every sample size of a sweep trains
 * the same network.
 */
export async function loadFeatures(path: string, sampleSize: number, labelColumn = 'label'): Promise<Dataset> {
  const extension = extname(path).toLowerCase();
  const isCsv = extension === '.csv';
  if (!isCsv && !ARROW_EXTENSIONS.includes(extension)) {
    throw new DataError(`${path}: unsupported features file extension '${extension}'; expected .csv, .arrow, .feather or .ipc`);
  }
  const bytes = await readData(path, 'features file');
  if (bytes.length === 0) throw new DataError(`${path}: empty file`);
  const columns = isCsv ? parseCsv(path, bytes.toString('utf8'), labelColumn) : readArrow(path, bytes, labelColumn);

  const available = columns.labels.length;
  if (sampleSize > available) {
    throw new DataError(`sample_size ${sampleSize} exceeds the ${available} samples in ${path}`);
  }
  const dim = columns.values.length;
  if (dim === 0) throw new DataError(`${path}: no numeric feature columns besides '${labelColumn}'`);
  checkSampleMatrix(path, sampleSize, dim);
  const x = new Float32Array(sampleSize * dim);
  columns.values.forEach((column, j) => {
    for (let i = 0; i < sampleSize; i++) x[i * dim + j] = column[i];
  });
  const classes = columns.labels.reduce((max, label) => Math.max(max, label), 0) + 1;
  const ignored = columns.ignored.length > 0 ? ` (ignored non-numeric columns: ${columns.ignored.join(', ')})` : '';
  return { x, y: columns.labels.slice(0, sampleSize), n: sampleSize, dim, classes, source: `${path}${ignored}` };
}

function parseCsv(path: string, text: string, labelColumn: string): Columns {
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  const header = splitCsvLine(lines[0]);
  const labelIndex = header.indexOf(labelColumn);
  if (labelIndex < 0) throw missingLabel(path, labelColumn, header);
  const featureIndices = header.map((_, j) => j).filter((j) => j !== labelIndex);
  checkInputDim(path, featureIndices.length, 'feature columns');

  const rows: { fields: string[]; line: number }[] = [];
  for (let l = 1; l < lines.length; l++) {
    if (lines[l].trim() !== '') rows.push({ fields: splitCsvLine(lines[l]), line: l + 1 });
  }
  if (rows.length === 0) throw new DataError(`${path}: header but no data rows`);

  const values = featureIndices.map(() => new Float64Array(rows.length));
  const labels = new Int32Array(rows.length);
  rows.forEach(({ fields, line }, r) => {
    const where = `row ${r + 1} (line ${line})`;
    if (fields.length !== header.length) {
      throw new DataError(`${path}: ${where} has ${fields.length} fields but the header has ${header.length}`);
    }
    featureIndices.forEach((j, k) => {
      values[k][r] = checkValue(path, parseNumber(fields[j]), fields[j], where, header[j]);
    });
    labels[r] = checkLabel(path, parseNumber(fields[labelIndex]), fields[labelIndex], where);
  });
  return { values, labels, ignored: [] };
}

/** A CSV field as a number; empty fields are missing values, not zeros as `Number('')` would have it. */
function parseNumber(field: string): number {
  return field.trim() === '' ? NaN : Number(field);
}

/** Comma-separated fields; header names may be quoted. Quoted fields with embedded commas are not needed for numbers. */
function splitCsvLine(line: string): string[] {
  return line.split(',').map((field) => field.trim().replace(/^"(.*)"$/, '$1'));
}

function readArrow(path: string, bytes: Buffer, labelColumn: string): Columns {
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (err) {
    throw new DataError(`${path}: corrupt or truncated Arrow IPC data (${(err as Error).message})`);
  }
  const fields = table.schema.fields;
  if (fields.length === 0) throw new DataError(`${path}: not an Arrow IPC file or stream (no schema found)`);
  if (table.numRows === 0) throw new DataError(`${path}: no data rows`);
  const names = fields.map((field) => field.name);
  const labelField = fields.find((field) => field.name === labelColumn);
  if (labelField === undefined) throw missingLabel(path, labelColumn, names);
  if (!isNumeric(labelField.type)) {
    throw new DataError(`${path}: label column '${labelColumn}' has type ${String(labelField.type)}; expected integers`);
  }

  const numericColumn = (name: string): Float64Array => {
    const column = table.getChild(name)!;
    const values = Float64Array.from(column.toArray() as ArrayLike<number | bigint>, Number);
    const hasNulls = column.nullCount > 0;
    for (let i = 0; i < values.length; i++) {
      const isNull = hasNulls && !column.isValid(i);
      checkValue(path, isNull ? NaN : values[i], isNull ? 'null' : String(values[i]), `row ${i + 1}`, name);
    }
    return values;
  };

  const labelValues = numericColumn(labelColumn);
  const labels = new Int32Array(labelValues.length);
  labelValues.forEach((value, i) => (labels[i] = checkLabel(path, value, String(value), `row ${i + 1}`)));
  const featureNames = fields.filter((f) => f.name !== labelColumn && isNumeric(f.type)).map((f) => f.name);
  checkInputDim(path, featureNames.length, 'feature columns');
  return {
    values: featureNames.map(numericColumn),
    labels,
    ignored: fields.filter((f) => f.name !== labelColumn && !isNumeric(f.type)).map((f) => f.name),
  };
}

function isNumeric(type: DataType): boolean {
  return DataType.isInt(type) || DataType.isFloat(type);
}

/** A value of a numeric column; missing, non-numeric and beyond float32 (where it would become ±Infinity) are refused. */
function checkValue(path: string, value: number, shown: string, where: string, column: string): number {
  if (!Number.isFinite(value)) throw new DataError(`${path}: non-numeric value '${shown}' at ${where}, column '${column}'`);
  if (!fitsFloat32(value)) throw new DataError(`${path}: ${where}, column '${column}': ${beyondFloat32(shown)}`);
  return value;
}

function checkLabel(path: string, value: number, shown: string, where: string): number {
  if (!isClassLabel(value)) throw new DataError(`${path}: label '${shown}' at ${where} is not ${CLASS_LABEL_RANGE}`);
  return value;
}

function missingLabel(path: string, labelColumn: string, found: string[]): DataError {
  return new DataError(`${path}: no label column '${labelColumn}'; columns found: ${found.join(', ')}`);
}
