import { join } from 'node:path';
import {
  Field, Float64, Int32, List, makeData, RecordBatch, Schema, Struct, Table, tableToIPC, Utf8, vectorFromArray, type Data, type DataType,
} from 'apache-arrow';
import { HESSWEEP_VERSION } from '@hessweep/grid';
import { writeFileAtomic } from '@hessweep/results';
import { STAT_FIELDS, type AggregateResult } from './aggregate.js';
import type { GroupField, StabilizationSummary, SummaryRow } from './types.js';

/** Bumped whenever a summary column is added, removed or changes type. */
export const SUMMARY_SCHEMA_VERSION = '2';
export const META_SUMMARY_BY = 'hessweep.summary_by';
export const META_SUMMARY_SCHEMA_VERSION = 'hessweep.summary_schema_version';

// ---------------------------------------------------------------------------------------------------------
// Columns of the summary.

type Kind = 'utf8' | 'int32' | 'float64' | 'list_int32' | 'list_float64';

interface SummaryColumn {
  name: string;
  kind: Kind;
  nullable: boolean;
  value: (row: SummaryRow) => string | number | number[] | null;
}

const KEY_KIND: Record<GroupField, Kind> = { dataset: 'utf8', width: 'int32', depth: 'int32', sample_size: 'int32', seed: 'int32' };

/** NaN (and ±∞, which a mean of finite values never is) becomes null in files. */
const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/**
 * The summary's columns, in order: the key columns (`by`), seeds_ok, seeds_failed, then for each Stat
 * `<name>_mean`, `_std`, `_ci95` (float64, null where undefined) and `_n` (int32), then the curve:
 * curve_k list<int32>, curve_mean / curve_lo / curve_hi list<float64> (items null where undefined), the in-cell
 * smoothed curve likewise (smooth_*), then the stabilization columns (STABILIZATION_SUMMARY_COLUMNS).
 * Schema version 2 added the smooth_* and stabilization columns.
 */
export function summaryColumns(by: readonly GroupField[]): SummaryColumn[] {
  const columns: SummaryColumn[] = by.map((f) => ({ name: f, kind: KEY_KIND[f], nullable: false, value: (r) => r.key[f] }));
  columns.push({ name: 'seeds_ok', kind: 'int32', nullable: false, value: (r) => r.seeds_ok });
  columns.push({ name: 'seeds_failed', kind: 'int32', nullable: false, value: (r) => r.seeds_failed });
  for (const s of STAT_FIELDS) {
    columns.push({ name: `${s}_mean`, kind: 'float64', nullable: true, value: (r) => finiteOrNull(r[s].mean) });
    columns.push({ name: `${s}_std`, kind: 'float64', nullable: true, value: (r) => finiteOrNull(r[s].std) });
    columns.push({ name: `${s}_ci95`, kind: 'float64', nullable: true, value: (r) => finiteOrNull(r[s].ci95) });
    columns.push({ name: `${s}_n`, kind: 'int32', nullable: false, value: (r) => r[s].n });
  }
  columns.push({ name: 'curve_k', kind: 'list_int32', nullable: false, value: (r) => r.curve_k });
  for (const c of ['curve_mean', 'curve_lo', 'curve_hi'] as const) {
    columns.push({ name: c, kind: 'list_float64', nullable: false, value: (r) => r[c] });
  }
  columns.push({ name: 'smooth_k', kind: 'list_int32', nullable: false, value: (r) => r.smooth_k });
  for (const c of ['smooth_mean', 'smooth_lo', 'smooth_hi'] as const) {
    columns.push({ name: c, kind: 'list_float64', nullable: false, value: (r) => r[c] });
  }
  return [...columns, ...STABILIZATION_SUMMARY_COLUMNS];
}

/** A list of a group's stabilization summary; empty when the group has none. */
const stabilizationList = (pick: (s: StabilizationSummary) => number[]) => (r: SummaryRow) => (r.stabilization ? pick(r.stabilization) : []);

/**
 * The stabilization columns of the summary, all lists (empty for a group without the criteria): stab_cells
 * (int32: the ok cells that had them), stab_sigma, stab_thresholds, stab_k; per Δ2 estimator `<name>_gmean`,
 * `_lo`, `_hi` (σ-major, |σ| × |stab_k|: geometric mean over seeds and its 95% interval, exp(mean ∓ ci95) of
 * ln Δ2); per tail ratio the same per σ and `_n`; per sufficient sample size (n_suff_d1 per threshold, n_suff_d2
 * σ-major per σ × threshold) the same and `_reached`, `_extrapolated`, `_none` (cell counts; the statistic takes
 * reached values, else extrapolated ones).
 */
const STABILIZATION_SUMMARY_COLUMNS: SummaryColumn[] = [
  { name: 'stab_cells', kind: 'int32', nullable: false, value: (r) => r.stabilization?.cells ?? 0 },
  { name: 'stab_sigma', kind: 'list_float64', nullable: false, value: stabilizationList((s) => s.sigma) },
  { name: 'stab_thresholds', kind: 'list_float64', nullable: false, value: stabilizationList((s) => s.thresholds) },
  { name: 'stab_k', kind: 'list_int32', nullable: false, value: stabilizationList((s) => s.k) },
  ...(['delta2_sub', 'delta2_iso', 'delta2_sub_gm'] as const).flatMap((e) => (['gmean', 'lo', 'hi'] as const).map((f): SummaryColumn => (
    { name: `${e}_${f}`, kind: 'list_float64', nullable: false, value: stabilizationList((s) => s[e].flatMap((c) => c[f])) }
  ))),
  ...(['ratio_sub_iso', 'ratio_gm_sub'] as const).flatMap((ratio) => [
    ...(['gmean', 'lo', 'hi'] as const).map((f): SummaryColumn => (
      { name: `${ratio}_${f}`, kind: 'list_float64', nullable: false, value: stabilizationList((s) => s[ratio].map((g) => g[f])) }
    )),
    { name: `${ratio}_n`, kind: 'list_int32', nullable: false, value: stabilizationList((s) => s[ratio].map((g) => g.n)) } satisfies SummaryColumn,
  ]),
  ...(['n_suff_d1', 'n_suff_d2'] as const).flatMap((size) => [
    ...(['gmean', 'lo', 'hi'] as const).map((f): SummaryColumn => (
      { name: `${size}_${f}`, kind: 'list_float64', nullable: false, value: stabilizationList((s) => s[size].map((g) => g[f])) }
    )),
    ...(['reached', 'extrapolated', 'none'] as const).map((f): SummaryColumn => (
      { name: `${size}_${f}`, kind: 'list_int32', nullable: false, value: stabilizationList((s) => s[size].map((g) => g[f])) }
    )),
  ]),
];

function arrowTypeOf(kind: Kind): DataType {
  switch (kind) {
    case 'utf8': return new Utf8();
    case 'int32': return new Int32();
    case 'float64': return new Float64();
    case 'list_int32': return new List(new Field('item', new Int32(), true));
    case 'list_float64': return new List(new Field('item', new Float64(), true));
  }
}

/** The one Arrow schema of summary.arrow for a grouping. */
export function summarySchema(by: readonly GroupField[]): Schema {
  return new Schema(
    summaryColumns(by).map((c) => new Field(c.name, arrowTypeOf(c.kind), c.nullable)),
    new Map([
      [META_SUMMARY_BY, by.join(',')],
      [META_SUMMARY_SCHEMA_VERSION, SUMMARY_SCHEMA_VERSION],
      ['hessweep.version', HESSWEEP_VERSION],
    ]),
  );
}

/** A validity bitmap for `n` slots, valid where `ok(i)`; null when every slot is valid. */
function bitmap(n: number, ok: (i: number) => boolean): { bits: Uint8Array | undefined; nulls: number } {
  const bits = new Uint8Array(((n + 63) & ~63) >> 3);
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    if (ok(i)) bits[i >> 3]! |= 1 << (i & 7);
    else nulls++;
  }
  return { bits: nulls === 0 ? undefined : bits, nulls };
}

/** One column's Data, built straight into typed arrays (lists of 10,000 groups × 64 points in one go). */
function columnData(kind: Kind, values: unknown[]): Data {
  const n = values.length;
  switch (kind) {
    case 'utf8':
      return vectorFromArray(values as (string | null)[], new Utf8()).data[0]!;
    case 'int32':
      return makeData({ type: new Int32(), length: n, nullCount: 0, data: Int32Array.from(values as number[]) });
    case 'float64': {
      const data = Float64Array.from(values as (number | null)[], (v) => (v === null ? 0 : v));
      const { bits, nulls } = bitmap(n, (i) => values[i] !== null);
      return makeData({ type: new Float64(), length: n, nullCount: nulls, nullBitmap: bits, data });
    }
    case 'list_int32':
    case 'list_float64': {
      const lists = values as number[][];
      const valueOffsets = new Int32Array(n + 1);
      for (let i = 0; i < n; i++) valueOffsets[i + 1] = valueOffsets[i]! + lists[i]!.length;
      const total = valueOffsets[n]!;
      let child: Data;
      if (kind === 'list_int32') {
        const items = new Int32Array(total);
        lists.forEach((l, i) => items.set(l, valueOffsets[i]!));
        child = makeData({ type: new Int32(), length: total, nullCount: 0, data: items });
      } else {
        const items = new Float64Array(total);
        lists.forEach((l, i) => items.set(l, valueOffsets[i]!));
        const { bits, nulls } = bitmap(total, (j) => Number.isFinite(items[j]!));
        for (let j = 0; j < total; j++) if (!Number.isFinite(items[j]!)) items[j] = 0;
        child = makeData({ type: new Float64(), length: total, nullCount: nulls, nullBitmap: bits, data: items });
      }
      const type = new List(new Field('item', child.type, true));
      return makeData({ type, length: n, nullCount: 0, valueOffsets, child });
    }
  }
}

/** The summary as one Arrow table with the explicit schema (types never inferred); NaN items become nulls. */
export function summaryTable(result: AggregateResult): Table {
  const schema = summarySchema(result.by);
  if (result.rows.length === 0) return new Table(schema);
  const children = summaryColumns(result.by).map((c) => columnData(c.kind, result.rows.map((r) => c.value(r))));
  const data = makeData({ type: new Struct(schema.fields), length: result.rows.length, nullCount: 0, children });
  return new Table([new RecordBatch(schema, data)]);
}

// ---------------------------------------------------------------------------------------------------------
// CSV.

/** One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break; null is empty. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isNaN(value) ? '' : String(value);
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A list as one quoted CSV cell of `;`-joined items (null items empty). */
export function csvList(values: ArrayLike<number | null> | null): string {
  if (values === null) return '';
  const items: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    items.push(v === null || v === undefined || Number.isNaN(v) ? '' : String(v));
  }
  return `"${items.join(';')}"`;
}

/** summary.csv's text: the same columns as summary.arrow, lists `;`-joined in quoted cells, NaN empty. */
export function summaryCsv(result: AggregateResult): string {
  const columns = summaryColumns(result.by);
  const lines = [columns.map((c) => csvCell(c.name)).join(',')];
  for (const row of result.rows) {
    lines.push(columns.map((c) => {
      const v = c.value(row);
      return c.kind.startsWith('list') ? csvList(v as number[]) : csvCell(v);
    }).join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** Writes `summary.arrow` and `summary.csv` into the sweep directory, each atomically; returns their paths. */
export async function writeSummary(sweepDir: string, result: AggregateResult): Promise<{ arrow: string; csv: string }> {
  const arrow = join(sweepDir, 'summary.arrow');
  const csv = join(sweepDir, 'summary.csv');
  const bytes = tableToIPC(summaryTable(result), 'file');
  // The Arrow file's write and fsync proceed while the CSV text is made.
  const arrowDone = writeFileAtomic(arrow, async (write) => write(bytes));
  arrowDone.catch(() => undefined); // reported below
  const text = summaryCsv(result);
  await Promise.all([arrowDone, writeFileAtomic(csv, async (write) => write(text))]);
  return { arrow, csv };
}

// ---------------------------------------------------------------------------------------------------------
// Terminal table.

/** 4 significant digits; '—' for an undefined value. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? '—' : String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-4) return x.toExponential(3);
  return String(Number(x.toPrecision(4)));
}

const meanCi = (s: { mean: number; ci95: number }) =>
  Number.isNaN(s.ci95) ? formatNumber(s.mean) : `${formatNumber(s.mean)} ± ${formatNumber(s.ci95)}`;

/**
 * A fixed-width table for the terminal: group keys, seeds ok / failed, λ_max mean ± 95% CI, GGN λ_max,
 * trace, D_k slope, train accuracy, bound / λ_max; then the failed cells with their errors.
 */
export function formatTable(result: AggregateResult): string {
  const header = [...result.by, 'ok', 'failed', 'λ_max ± ci95', 'ggn λ_max', 'trace', 'slope', 'train acc', 'bound/λ_max'];
  const numericKey = result.by.map((f) => f !== 'dataset');
  const body = result.rows.map((r) => [
    ...result.by.map((f) => String(r.key[f] ?? '')),
    String(r.seeds_ok), String(r.seeds_failed),
    meanCi(r.lambda_max), meanCi(r.ggn_lambda_max), meanCi(r.trace), meanCi(r.loss_diff_slope),
    meanCi(r.train_accuracy), meanCi(r.bound_ratio),
  ]);
  // A loop, not Math.max(...): a spread of one argument per group overflows the call stack on a big sweep.
  const widths = header.map((h, i) => body.reduce((w, b) => Math.max(w, [...b[i]!].length), [...h].length));
  const pad = (s: string, i: number) => {
    const fill = ' '.repeat(widths[i]! - [...s].length);
    const left = i < result.by.length && !numericKey[i];
    return left ? s + fill : fill + s;
  };
  const line = (cells: string[]) => cells.map(pad).join('  ').trimEnd();
  const ok = result.rows.reduce((s, r) => s + r.seeds_ok, 0);
  const out = [
    `${result.rows.length} groups by ${result.by.join(', ')} from ${result.cells} cells (${ok} ok, ${result.failed.length} failed) in ${result.parts} part files`,
    line(header),
    line(widths.map((w) => '─'.repeat(w))),
    ...body.map(line),
  ];
  if (result.failed.length === 0) {
    out.push('failed cells: none');
  } else {
    out.push(`failed cells (${result.failed.length}):`);
    for (const f of result.failed) {
      const error = (f.error ?? 'no error recorded').split('\n')[0];
      out.push(`  ${f.cell_id}  ${f.dataset} width ${f.width} depth ${f.depth} seed ${f.seed} m ${f.sample_size}: ${error}`);
    }
  }
  return `${out.join('\n')}\n`;
}
