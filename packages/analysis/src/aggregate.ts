import type { Data } from 'apache-arrow';
import {
  findWinners, openSweepForReading, readConsistently, ROW_FAILED, ROW_LOST, utf8At, utf8Bytes, validity, winningBatches, type ColumnBatch, type ColumnName,
} from '@hessweep/results';
import { STABILIZATION_COLUMNS, StabilizationAccumulator, stabilizationReader } from './stabilization.js';
import { CurveAccumulator, welfordAdd, welfordStat } from './stats.js';
import { DEFAULT_BY, GROUP_FIELDS, type GroupField, type Stat, type SummaryRow } from './types.js';

/** Bad input to the analysis (a grouping it cannot do): the message says what to give instead. */
export class AnalysisError extends Error {
  override readonly name = 'AnalysisError';
}

/** The Stat fields of a SummaryRow, in table and file order. */
export const STAT_FIELDS = [
  'lambda_max', 'ggn_lambda_max', 'trace', 'loss_diff_slope', 'train_loss', 'train_accuracy', 'bound', 'bound_ratio',
] as const satisfies readonly { [K in keyof SummaryRow]: SummaryRow[K] extends Stat ? K : never }[keyof SummaryRow][];
export type StatField = (typeof STAT_FIELDS)[number];

/** Stats of ln λ_max (positive values only) that a SummaryRow carries besides STAT_FIELDS; not written to summary files. */
const LOG_STAT_FIELDS = ['log_lambda_max', 'log_ggn_lambda_max'] as const;
type LogStatField = (typeof LOG_STAT_FIELDS)[number];
/** Every Stat a group accumulates, in the order of its Welford state. */
const ACCUMULATED = [...STAT_FIELDS, ...LOG_STAT_FIELDS] as const;

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
const USED_COLUMNS: ColumnName[] = [...new Set<ColumnName>([
  'cell_id', 'status', 'error', 'dataset', 'width', 'depth', 'seed', 'sample_size', 'train_loss', 'train_accuracy',
  'loss_diff_k', 'loss_diff', 'loss_diff_smooth', 'loss_diff_slope', 'hessian_top', 'ggn_top', 'hessian_trace', 'bound', ...STABILIZATION_COLUMNS,
])];

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

/**
 * Adds row j of a curve (a list<int32> column of k and a list<float64> column of values at those k) to the
 * accumulator `curve` returns, made on the row's own k grid when there is none yet; a null list adds nothing.
 */
function curvePusher(k: Data, values: Data): (j: number, curve: (grid: () => number[]) => CurveAccumulator) => void {
  const [kValid, vValid] = [validity(k), validity(values)];
  const kOffsets = k.valueOffsets as Int32Array;
  const kValues = k.children[0]!.values as Int32Array;
  const vOffsets = values.valueOffsets as Int32Array;
  const vValues = values.children[0]!.values as Float64Array;
  return (j, curve) => {
    if (!kValid(j) || !vValid(j)) return;
    const kStart = kOffsets[j]!;
    const vStart = vOffsets[j]!;
    const len = Math.min(kOffsets[j + 1]! - kStart, vOffsets[j + 1]! - vStart);
    if (len > 0) curve(() => Array.from(kValues.subarray(kStart, kStart + len))).push(kValues, kStart, vValues, vStart, len);
  };
}


/** One group's accumulators: the state a summary row is made from. */
interface Group {
  key: (string | number)[];
  ok: number;
  failed: number;
  /** Welford state (n, mean, M2) of each ACCUMULATED entry, in that order: 3 numbers per Stat. */
  stats: Float64Array;
  curve: CurveAccumulator | null;
  /** The in-cell smoothed D_k (loss_diff_smooth). */
  smooth: CurveAccumulator | null;
  stabilization: StabilizationAccumulator | null;
}

/** Welford update of Stat `slot` of a group; NaN (null comes in as NaN) and ±∞ are left out. */
function addStat(acc: Float64Array, slot: number, x: number): void {
  welfordAdd(acc, 3 * slot, x);
}

const SLOT = Object.fromEntries(ACCUMULATED.map((f, i) => [f, i])) as Record<StatField | LogStatField, number>;

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

/** Group indexes found by their key fields' values (dataset as its id), one Map level per field: no key string per row. */
type Level = Map<number, Level | number>;

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

/** The group of each row of a batch that Aggregation.add took in; NO_GROUP for the rows it left out. */
export const NO_GROUP = -1;

/**
 * The running aggregation of a sweep: rows that stand for their cells go in (ok rows into per-group Welford
 * accumulators and per-k curve accumulators, failed rows into the failed list), the summary comes out. Memory
 * is O(groups × curve points + failed cells), whatever the number of rows. A failed cell's entry can be taken
 * out again when a later row stands for the cell (`report --watch` folds parts as they land); an ok row's
 * contribution never is (a watcher that sees one replaced aggregates afresh).
 *
 * Per cell: λ_max = hessian_top[0], GGN λ_max = ggn_top[0], trace = hessian_trace, bound_ratio = bound / λ_max;
 * ln λ_max and ln GGN λ_max where positive.
 * A null or non-finite value (NaN, ±∞) is left out of its Stat, so a Stat's n can be below seeds_ok.
 * Curves: the group's k grid is that of its first ok cell with a curve; a later cell's points at k values
 * off that grid are ignored (cells of one group share the grid when their sample size matches), and each k's
 * band uses the number of cells that gave a value there. The in-cell smoothed D_k (loss_diff_smooth) likewise,
 * on its own grid; the stabilization criteria by StabilizationAccumulator (columns a part's schema version
 * predates read as null, so older sweeps have none).
 * Failed cells are counted (seeds_failed) and listed, never averaged in.
 */
export class Aggregation {
  /** The columns `add` reads. */
  static readonly COLUMNS: readonly ColumnName[] = USED_COLUMNS;
  readonly by: GroupField[];
  private readonly root: Level = new Map();
  private readonly groups: Group[] = [];
  private readonly datasets = new DatasetIds();
  private readonly failed = new Map<string, { cell: FailedCell; group: Group }>();
  private okCells = 0;

  constructor(by: readonly GroupField[] = DEFAULT_BY) {
    this.by = checkBy(by);
  }

  /** Distinct cells taken in: ok and failed. */
  get cells(): number {
    return this.okCells + this.failed.size;
  }

  /** Failed cells taken in (and not taken out again). */
  get failedCells(): number {
    return this.failed.size;
  }

  /** The key values of group `index` (as `add` returned it), in `by` order. */
  keyOf(index: number): readonly (string | number)[] {
    return this.groups[index]!.key;
  }

  /**
   * Takes in the rows of `batch` that `mask` marks ROW_OK or ROW_FAILED, except those `skip` marks non-zero
   * (rows already counted where they stood before). Returns each row's group index, NO_GROUP where not taken.
   */
  add(batch: ColumnBatch, mask: Uint8Array, skip?: Uint8Array): Int32Array {
    const groupOf = new Int32Array(batch.numRows).fill(NO_GROUP);
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
    const pushCurve = curvePusher(col('loss_diff_k'), col('loss_diff'));
    const pushSmooth = curvePusher(col('loss_diff_k'), col('loss_diff_smooth'));
    const stabilizationOf = stabilizationReader(batch);
    const keyOf = (field: GroupField, j: number): number =>
      field === 'dataset' ? this.datasets.idOf(datasetBytes, datasetOffsets[j]!, datasetOffsets[j + 1]!) : ints[field][j]!;

    for (let j = 0; j < batch.numRows; j++) {
      const state = mask[j]!;
      if (state === ROW_LOST || (skip !== undefined && skip[j] !== 0)) continue;
      const index = this.groupIndex(j, keyOf);
      groupOf[j] = index;
      const g = this.groups[index]!;
      if (state === ROW_FAILED) {
        const cellId = utf8At(col('cell_id'), utf8Bytes(col('cell_id')), j)!;
        const cell: FailedCell = {
          cell_id: cellId, dataset: this.datasets.names[keyOf('dataset', j)]!, width: ints.width[j]!, depth: ints.depth[j]!,
          seed: ints.seed[j]!, sample_size: ints.sample_size[j]!, error: utf8At(col('error'), utf8Bytes(col('error')), j),
        };
        this.removeFailed(cellId);
        this.failed.set(cellId, { cell, group: g });
        g.failed++;
        continue;
      }
      g.ok++;
      this.okCells++;
      const acc = g.stats;
      const lambda = hessianTop(j);
      const ggnLambda = ggnTop(j);
      const bound = boundOf(j);
      addStat(acc, SLOT.lambda_max, lambda);
      addStat(acc, SLOT.ggn_lambda_max, ggnLambda);
      if (lambda > 0) addStat(acc, SLOT.log_lambda_max, Math.log(lambda));
      if (ggnLambda > 0) addStat(acc, SLOT.log_ggn_lambda_max, Math.log(ggnLambda));
      addStat(acc, SLOT.trace, trace(j));
      addStat(acc, SLOT.loss_diff_slope, slope(j));
      addStat(acc, SLOT.train_loss, trainLoss(j));
      addStat(acc, SLOT.train_accuracy, trainAccuracy(j));
      addStat(acc, SLOT.bound, bound);
      if (lambda !== 0) addStat(acc, SLOT.bound_ratio, bound / lambda);
      pushCurve(j, (grid) => (g.curve ??= new CurveAccumulator(grid())));
      pushSmooth(j, (grid) => (g.smooth ??= new CurveAccumulator(grid())));
      const cell = stabilizationOf(j);
      if (cell !== null) (g.stabilization ??= new StabilizationAccumulator()).add(cell);
    }
    return groupOf;
  }

  /** Takes a failed cell out (a later row stands for it); returns whether it was in. */
  removeFailed(cellId: string): boolean {
    const entry = this.failed.get(cellId);
    if (!entry) return false;
    entry.group.failed--;
    this.failed.delete(cellId);
    return true;
  }

  /** The index of the group of row j, found by its key fields' values one Map level at a time (made when new). */
  private groupIndex(j: number, keyOf: (field: GroupField, j: number) => number): number {
    const fields = this.by;
    let level = this.root;
    for (let f = 0; f < fields.length - 1; f++) {
      const key = keyOf(fields[f]!, j);
      let next = level.get(key) as Level | undefined;
      if (next === undefined) level.set(key, (next = new Map()));
      level = next;
    }
    const last = keyOf(fields[fields.length - 1]!, j);
    const found = level.get(last) as number | undefined;
    if (found !== undefined) return found;
    this.groups.push({
      key: fields.map((field) => (field === 'dataset' ? this.datasets.names[keyOf(field, j)]! : keyOf(field, j))),
      ok: 0, failed: 0, stats: new Float64Array(3 * ACCUMULATED.length), curve: null, smooth: null, stabilization: null,
    });
    level.set(last, this.groups.length - 1);
    return this.groups.length - 1;
  }

  /** The summary now: one row per group with a cell in it, sorted by key, and the failed cells; `parts` is recorded as read. */
  result(parts: number): AggregateResult {
    const failedOf = new Map<Group, SummaryRow['failed']>();
    const failed: FailedCell[] = [];
    for (const { cell, group } of this.failed.values()) {
      failed.push(cell);
      let list = failedOf.get(group);
      if (!list) failedOf.set(group, (list = []));
      list.push({ cell_id: cell.cell_id, seed: cell.seed, error: cell.error });
    }
    const rows = this.groups
      .filter((g) => g.ok + g.failed > 0)
      .sort((a, b) => compareKeys(a.key, b.key))
      .map((g) => toSummaryRow(this.by, g, failedOf.get(g) ?? []));
    failed.sort((a, b) => compareKeys(
      [a.dataset, a.width, a.depth, a.sample_size, a.seed, a.cell_id],
      [b.dataset, b.width, b.depth, b.sample_size, b.seed, b.cell_id],
    ));
    return { by: this.by, rows, failed, cells: this.cells, parts };
  }
}

/**
 * Aggregates a sweep's results over the cells of each group (default: the seeds of each dataset × width ×
 * depth × sample size; see Aggregation), streaming over the part files: the sweep store decides which row of
 * each cell counts (findWinners, from the `cell_id` and `status` columns), then only the columns aggregated
 * are read from the parts that hold winning rows.
 */
export async function aggregate(sweepDir: string, by: readonly GroupField[] = DEFAULT_BY): Promise<AggregateResult> {
  return readConsistently(sweepDir, async () => {
    // Afresh on each attempt: a read that lost a part to a compaction starts again from a new listing.
    const aggregation = new Aggregation(by);
    const { parts: paths } = await openSweepForReading(sweepDir);
    const winners = await findWinners(paths);
    for await (const { batch, mask } of winningBatches(paths, winners, Aggregation.COLUMNS)) aggregation.add(batch, mask);
    return aggregation.result(paths.length);
  });
}

function toSummaryRow(by: readonly GroupField[], g: Group, failed: SummaryRow['failed']): SummaryRow {
  const key = {} as Record<GroupField, string | number | null>;
  by.forEach((f, i) => (key[f] = g.key[i]!));
  for (const f of GROUP_FIELDS) if (!(f in key)) key[f] = null;
  const empty = { k: [], mean: [], lo: [], hi: [], min: [], max: [] };
  const curve = g.curve?.result() ?? empty;
  const smooth = g.smooth?.result() ?? empty;
  const stats = Object.fromEntries(ACCUMULATED.map((f, i) => [f, welfordStat(g.stats[3 * i]!, g.stats[3 * i + 1]!, g.stats[3 * i + 2]!)])) as Record<StatField | LogStatField, Stat>;
  return {
    key,
    seeds_ok: g.ok,
    seeds_failed: g.failed,
    failed: failed.sort((a, b) => a.seed - b.seed || (a.cell_id < b.cell_id ? -1 : 1)),
    ...stats,
    curve_k: curve.k,
    curve_mean: curve.mean,
    curve_lo: curve.lo,
    curve_hi: curve.hi,
    curve_min: curve.min,
    curve_max: curve.max,
    smooth_k: smooth.k,
    smooth_mean: smooth.mean,
    smooth_lo: smooth.lo,
    smooth_hi: smooth.hi,
    smooth_min: smooth.min,
    smooth_max: smooth.max,
    stabilization: g.stabilization?.result() ?? null,
  };
}
