import { Bool, DataType, Field, Float64, Int32, List, Schema, TimestampMillisecond, Utf8, vectorFromArray, type Data } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';

/** Bumped whenever a column is added, removed or changes type. */
export const RESULT_SCHEMA_VERSION = '3';
/**
 * Schema versions this reader still reads. Version 1 (hessweep 0.1) stored `finished_at` as an ISO-8601 string;
 * rows read from it are the same, and exports turn its column into the timestamp of version 2. Versions 1 and 2
 * lack the columns version 3 added (COLUMNS' `since`): they read as nulls.
 */
export const READABLE_SCHEMA_VERSIONS: readonly string[] = ['1', '2', RESULT_SCHEMA_VERSION];

/** Keys of the schema metadata every result file carries. */
export const META_VERSION = 'hessweep.version';
export const META_SPEC_HASH = 'hessweep.spec_hash';
export const META_SCHEMA_VERSION = 'hessweep.schema_version';
/** The sweep the rows belong to: a part copied in from another sweep is refused by it. */
export const META_SWEEP = 'hessweep.sweep';
/** In a part merged by compaction: the names of the parts it replaced (JSON), so leftovers of a crash are known. */
export const META_MERGED_FROM = 'hessweep.merged_from';
/** CRC-32 (8 hex digits) of the file's record-batch bytes: a flipped bit anywhere in the rows is found by it. */
export const META_BATCHES_CRC = 'hessweep.batches_crc32';

/** `list_float64_nulls`: a list of float64 whose items may be null (a threshold not reached). */
export type ColumnKind = 'utf8' | 'int32' | 'bool' | 'float64' | 'list_int32' | 'list_float64' | 'list_float64_nulls' | 'timestamp';

/** The kinds a column of TypeScript type `T` may be stored as. */
type KindFor<T> = T extends string ? 'utf8' | 'timestamp'
  : T extends boolean ? 'bool'
  : T extends number ? 'int32' | 'float64'
  : T extends number[] ? 'list_int32' | 'list_float64'
  : T extends (number | null)[] ? 'list_float64_nulls'
  : never;

/** Nullability is forced to follow ResultRow, so a change there fails to compile here. */
type ColumnSpec<K extends keyof ResultRow> = {
  kind: KindFor<NonNullable<ResultRow[K]>>;
  nullable: null extends ResultRow[K] ? true : false;
  /** The schema version that added the column; files of earlier versions lack it and read as nulls. */
  since?: '3';
};

/**
 * Every ResultRow key, in file order (DESIGN.md: identity, settings, measurements, bookkeeping,
 * per-stage seconds, `finished_at`). The mapped type rejects a missing or unknown key.
 * `finished_at` is an ISO-8601 string in a row and a UTC millisecond timestamp in the file, so that pandas,
 * polars and DuckDB read it as a time, not as text.
 */
export const COLUMNS: { [K in keyof ResultRow]: ColumnSpec<K> } = {
  cell_id: { kind: 'utf8', nullable: false },
  sweep: { kind: 'utf8', nullable: false },
  status: { kind: 'utf8', nullable: false },
  error: { kind: 'utf8', nullable: true },
  dataset: { kind: 'utf8', nullable: false },
  width: { kind: 'int32', nullable: false },
  depth: { kind: 'int32', nullable: false },
  seed: { kind: 'int32', nullable: false },
  sample_size: { kind: 'int32', nullable: false },
  epochs: { kind: 'int32', nullable: false },
  batch_size: { kind: 'int32', nullable: false },
  optimizer: { kind: 'utf8', nullable: false },
  lr: { kind: 'float64', nullable: false },
  bias: { kind: 'bool', nullable: false },
  init: { kind: 'utf8', nullable: false },
  permutations: { kind: 'int32', nullable: false },
  n_params: { kind: 'int32', nullable: true },
  train_loss: { kind: 'float64', nullable: true },
  train_accuracy: { kind: 'float64', nullable: true },
  loss_diff_k: { kind: 'list_int32', nullable: true },
  loss_diff: { kind: 'list_float64', nullable: true },
  loss_diff_slope: { kind: 'float64', nullable: true },
  hessian_top: { kind: 'list_float64', nullable: true },
  hessian_residuals: { kind: 'list_float64', nullable: true },
  hessian_iters: { kind: 'int32', nullable: true },
  ggn_top: { kind: 'list_float64', nullable: true },
  ggn_residuals: { kind: 'list_float64', nullable: true },
  ggn_iters: { kind: 'int32', nullable: true },
  hessian_trace: { kind: 'float64', nullable: true },
  ggn_trace: { kind: 'float64', nullable: true },
  hessian_trace_hutchinson: { kind: 'float64', nullable: true },
  hessian_trace_se: { kind: 'float64', nullable: true },
  density_x: { kind: 'list_float64', nullable: true },
  density_y: { kind: 'list_float64', nullable: true },
  bound: { kind: 'float64', nullable: true },
  m_w: { kind: 'float64', nullable: true },
  m_x: { kind: 'float64', nullable: true },
  loss_diff_smooth: { kind: 'list_float64', nullable: true, since: '3' },
  stab_subspace: { kind: 'int32', nullable: true, since: '3' },
  stab_sigma: { kind: 'list_float64', nullable: true, since: '3' },
  delta2_iso: { kind: 'list_float64', nullable: true, since: '3' },
  delta2_sub: { kind: 'list_float64', nullable: true, since: '3' },
  delta2_sub_quad: { kind: 'list_float64', nullable: true, since: '3' },
  delta2_sub_gm: { kind: 'list_float64', nullable: true, since: '3' },
  stab_thresholds: { kind: 'list_float64', nullable: true, since: '3' },
  n_suff_d1: { kind: 'list_float64_nulls', nullable: true, since: '3' },
  n_suff_d1_fit: { kind: 'list_float64_nulls', nullable: true, since: '3' },
  n_suff_d2: { kind: 'list_float64_nulls', nullable: true, since: '3' },
  n_suff_d2_fit: { kind: 'list_float64_nulls', nullable: true, since: '3' },
  backend: { kind: 'utf8', nullable: false },
  worker: { kind: 'utf8', nullable: false },
  attempt: { kind: 'int32', nullable: false },
  load_s: { kind: 'float64', nullable: false },
  train_s: { kind: 'float64', nullable: false },
  losses_s: { kind: 'float64', nullable: false },
  curve_s: { kind: 'float64', nullable: false },
  hessian_s: { kind: 'float64', nullable: false },
  ggn_s: { kind: 'float64', nullable: false },
  trace_s: { kind: 'float64', nullable: false },
  density_s: { kind: 'float64', nullable: false },
  stabilization_s: { kind: 'float64', nullable: false, since: '3' },
  bound_s: { kind: 'float64', nullable: false },
  total_s: { kind: 'float64', nullable: false },
  finished_at: { kind: 'timestamp', nullable: false },
};

export type ColumnName = keyof ResultRow;

/** Column names in file order. */
export const COLUMN_NAMES = Object.keys(COLUMNS) as ColumnName[];

/** The Arrow type of a column kind; list items are named and nullable as pyarrow's `list_()` makes them. */
export function arrowType(kind: ColumnKind): DataType {
  switch (kind) {
    case 'utf8': return new Utf8();
    case 'int32': return new Int32();
    case 'bool': return new Bool();
    case 'float64': return new Float64();
    case 'list_int32': return new List(new Field('item', new Int32(), true));
    case 'list_float64':
    case 'list_float64_nulls': return new List(new Field('item', new Float64(), true));
    case 'timestamp': return new TimestampMillisecond('UTC');
  }
}

/**
 * What a column the file's schema version did not have yet reads as: null, or 0 for the seconds of a stage that
 * did not exist then (the one non-null column added since).
 */
export function absentValue(name: ColumnName): null | 0 {
  return COLUMNS[name].nullable ? null : 0;
}

/** Whether a file of schema `version` predates column `name` (it reads as `absentValue`). */
export function addedSince(name: ColumnName, version: string | undefined): boolean {
  const since = COLUMNS[name].since;
  return since !== undefined && version !== undefined && Number(version) < Number(since);
}

/** A column the file predates, `length` rows of `absentValue`, as Arrow Data of the column's current type. */
export function absentColumn(name: ColumnName, length: number): Data {
  return vectorFromArray(new Array(length).fill(absentValue(name)), arrowType(COLUMNS[name].kind)).data[0]!;
}

/** Metadata the caller supplies; the schema version (and the writer's checksum) are added here. */
export interface ResultMeta {
  /** The sweep the rows belong to; empty for a lone cell's file (`hessweep cell --out`). */
  sweep: string;
  specHash: string;
  version: string;
}

/** The one schema of a result file; `extra` metadata entries (the checksum) are added last. */
export function resultSchema(meta: ResultMeta, extra: [string, string][] = []): Schema {
  const fields = COLUMN_NAMES.map((name) => new Field(name, arrowType(COLUMNS[name].kind), COLUMNS[name].nullable));
  return new Schema(fields, new Map([
    [META_VERSION, meta.version],
    [META_SWEEP, meta.sweep],
    [META_SPEC_HASH, meta.specHash],
    [META_SCHEMA_VERSION, RESULT_SCHEMA_VERSION],
    ...extra,
  ]));
}
