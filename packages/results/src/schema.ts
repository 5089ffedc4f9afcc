import { Bool, DataType, Field, Float64, Int32, List, Schema, Utf8 } from 'apache-arrow';
import type { ResultRow } from '@hessweep/grid';

/** Bumped whenever a column is added, removed or changes type. */
export const RESULT_SCHEMA_VERSION = '1';

/** Keys of the schema metadata every result file carries. */
export const META_VERSION = 'hessweep.version';
export const META_SPEC_HASH = 'hessweep.spec_hash';
export const META_SCHEMA_VERSION = 'hessweep.schema_version';

export type ColumnKind = 'utf8' | 'int32' | 'bool' | 'float64' | 'list_int32' | 'list_float64';

/** The kinds a column of TypeScript type `T` may be stored as. */
type KindFor<T> = T extends string ? 'utf8'
  : T extends boolean ? 'bool'
  : T extends number ? 'int32' | 'float64'
  : T extends number[] ? 'list_int32' | 'list_float64'
  : never;

/** Nullability is forced to follow ResultRow, so a change there fails to compile here. */
type ColumnSpec<K extends keyof ResultRow> = {
  kind: KindFor<NonNullable<ResultRow[K]>>;
  nullable: null extends ResultRow[K] ? true : false;
};

/**
 * Every ResultRow key, in file order (DESIGN.md: identity, settings, measurements, bookkeeping,
 * per-stage seconds, `finished_at`). The mapped type rejects a missing or unknown key.
 * `finished_at` stays an ISO-8601 string: every reader takes Utf8, while Timestamp units and
 * time zones differ between readers and JS would hand it back as a number.
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
  bound_s: { kind: 'float64', nullable: false },
  total_s: { kind: 'float64', nullable: false },
  finished_at: { kind: 'utf8', nullable: false },
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
    case 'list_float64': return new List(new Field('item', new Float64(), true));
  }
}

/** Metadata the caller supplies; the schema version is added here. */
export interface ResultMeta {
  specHash: string;
  version: string;
}

/** The one schema of a result file. */
export function resultSchema(meta: ResultMeta): Schema {
  const fields = COLUMN_NAMES.map((name) => new Field(name, arrowType(COLUMNS[name].kind), COLUMNS[name].nullable));
  return new Schema(fields, new Map([
    [META_VERSION, meta.version],
    [META_SPEC_HASH, meta.specHash],
    [META_SCHEMA_VERSION, RESULT_SCHEMA_VERSION],
  ]));
}
