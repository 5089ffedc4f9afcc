import type { Data } from 'apache-arrow';
import {
  findWinners, openSweepForReading, readConsistently, ROW_FAILED, ROW_LOST, utf8At, utf8Bytes, validity, winningBatches, type ColumnName,
} from '@hessweep/results';
import { CurveAccumulator, welfordStat } from './stats.js';
import { GROUP_FIELDS, type GroupField, type Stat, type SummaryRow } from './types.js';

/** Bad input to the analysis (a grouping it cannot do): the message says what to give instead. */
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

/** The columns the analysis reads. */
const USED_COLUMNS: ColumnName[] = [
  'cell_id', 'status', 'error', 'dataset', 'width', 'depth', 'seed', 'sample_size', 'train_loss', 'train_accuracy',
  'loss_diff_k', 'loss_diff', 'loss_diff_slope', 'hessian_top', 'ggn_top', 'hessian_trace', 'bound',
];

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
 * counts (the sweep store's findWinners), pass 2 feeds the winning ok rows into per-group Welford accumulators and per-k curve
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
  return readConsistently(sweepDir, async () => aggregateParts((await openSweepForReading(sweepDir)).parts, fields));
}

async function aggregateParts(paths: readonly string[], fields: GroupField[]): Promise<AggregateResult> {
  const winners = await findWinners(paths);
  const root: Level = new Map();
  const groups: Group[] = [];
  const datasets = new DatasetIds();
  const failed: FailedCell[] = [];

  // Pass 2 over the winning rows.
  for await (const { batch, mask } of winningBatches(paths, winners, USED_COLUMNS)) {
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
      const state = mask[j]!;
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
  }

  const rows = groups.sort((a, b) => compareKeys(a.key, b.key)).map((g) => toSummaryRow(fields, g));
  failed.sort((a, b) => compareKeys(
    [a.dataset, a.width, a.depth, a.sample_size, a.seed, a.cell_id],
    [b.dataset, b.width, b.depth, b.sample_size, b.seed, b.cell_id],
  ));
  return { by: fields, rows, failed, cells: winners.cells, parts: paths.length };
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
